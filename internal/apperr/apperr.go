// Package apperr holds the small set of domain error kinds the application
// speaks in. The GraphQL layer maps each kind to an extensions.code in exactly
// one place; any error that carries no kind is reported as an internal error.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for the client.
type Kind string

// The kinds. Their values are the extensions.code clients see.
const (
	Unauthenticated   Kind = "UNAUTHENTICATED"
	Forbidden         Kind = "FORBIDDEN"
	NotFound          Kind = "NOT_FOUND"
	Invalid           Kind = "BAD_USER_INPUT"
	InvalidTransition Kind = "INVALID_TRANSITION"
	Conflict          Kind = "CONFLICT"
	RateLimited       Kind = "RATE_LIMITED"
	// Cancelled: the request ended before its answer was ready, because the
	// client went away (closed the connection, or sent complete for its
	// subscription) or the server is shutting down. Nobody reads the
	// answer; the code is for logs and metrics, where it is not an error of
	// the server's. A request that ran out of time is Internal.
	Cancelled Kind = "CANCELLED"
	Internal  Kind = "INTERNAL_SERVER_ERROR"
)

// Error is a domain error safe to show to a client: Message never contains
// SQL, driver text or other internals. Field names the offending input field
// for Invalid errors.
type Error struct {
	Kind    Kind
	Message string
	Field   string
	// RetryAfter, for RateLimited errors, is when the client may try again.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// New returns an error of kind k.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// InvalidField returns an Invalid error naming the input field at fault.
func InvalidField(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// TooMany returns a RateLimited error telling the client when to retry; the
// message ends with "; retry in Ns".
func TooMany(retryAfter time.Duration, format string, args ...any) *Error {
	e := &Error{Kind: RateLimited, RetryAfter: retryAfter}
	e.Message = fmt.Sprintf(format, args...) + fmt.Sprintf("; retry in %ds", e.RetryAfterSeconds())
	return e
}

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, as the HTTP
// Retry-After header counts it.
func (e *Error) RetryAfterSeconds() int {
	return int((e.RetryAfter + time.Second - 1) / time.Second)
}

// KindOf returns the kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err carries kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }
