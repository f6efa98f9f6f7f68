package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rs/cors"
	"golang.org/x/net/http/httpguts"

	"tenantgraph/internal/jsonenc"
)

// apiCSP forbids everything: API responses are JSON, never rendered.
const apiCSP = "default-src 'none'; frame-ancestors 'none'"

// graphiqlCSP lets the GraphiQL page load its scripts and styles from the
// CDN it uses, run its inline bootstrap, and talk to this server.
const graphiqlCSP = "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; " +
	"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https://cdn.jsdelivr.net; " +
	"font-src https://cdn.jsdelivr.net; connect-src 'self' ws: wss:; frame-ancestors 'none'"

// securityHeaders sets the headers every response carries (OWASP secure
// headers): no MIME sniffing, no framing, no referrer, a strict CSP, and
// HSTS when the request came over TLS (directly or, with trustProxy, through
// a proxy that says so); on /graphql, no caching.
func securityHeaders(trustProxy bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if r.URL.Path == "/" {
			h.Set("Content-Security-Policy", graphiqlCSP)
		} else {
			h.Set("Content-Security-Policy", apiCSP)
		}
		if r.URL.Path == "/graphql" {
			// An answer is the caller's, in the tenant its headers name: a
			// cache between client and server (one set to keep GETs, say)
			// must neither keep it nor hand it to another request.
			h.Set("Cache-Control", "no-store")
			h.Add("Vary", "Authorization, X-Tenant-ID, X-Tenant-Slug")
		}
		// The proxy's own entry, as for the client address: one that
		// appends to the header sends "http, https" for a client's "http".
		if r.TLS != nil || (trustProxy && strings.EqualFold(lastForwarded(r.Header, "X-Forwarded-Proto"), "https")) {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// withCORS answers cross-origin requests from the allowed origins only
// (none: same-origin only, no CORS headers at all).
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowedHeaders: []string{"Authorization", "Content-Type", "X-Tenant-ID", "X-Tenant-Slug",
			"Apollo-Require-Preflight", "X-Apollo-Operation-Name", "Apollographql-Client-Name", "Apollographql-Client-Version"},
		MaxAge: 600,
	}).Handler(next)
}

// writeMargin is how long past its timeout a request's response may still
// be written: enough for the answer to a request that ran out of time.
const writeMargin = 5 * time.Second

// withTimeout bounds each HTTP request (not websocket handshakes, whose
// connections live long): when it runs out, the request's context is
// cancelled, and with it every database query the request is running.
// The context does not bound the writing of the response, so the
// connection also gets a write deadline writeMargin later: a client that
// asks for a large answer and never reads it would otherwise hold the
// handler, blocked in Write, and the response's buffers for ever. (net/http
// clears the deadline once the response is done, and on hijack.)
func withTimeout(d time.Duration, next http.Handler) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsWebsocketHandshake(r) {
			next.ServeHTTP(w, r)
			return
		}
		// ErrNotSupported (a writer without deadlines) leaves the response
		// unbounded, as before.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d + writeMargin))
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// IsWebsocketHandshake reports whether r is a websocket opening handshake
// (RFC 6455, section 4.1): a GET without a body whose Connection header
// lists the upgrade token and whose Upgrade header lists websocket. Only
// these are exempt from the request timeout: an Upgrade header alone on a
// POST would otherwise let its body be trickled, or stalled, for ever. The
// GraphQL handler's transports use it too: another upgrade (curl --http2's
// "Upgrade: h2c") is an ordinary request.
func IsWebsocketHandshake(r *http.Request) bool {
	return r.Method == http.MethodGet && (r.Body == nil || r.Body == http.NoBody) &&
		httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade") &&
		httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "websocket")
}

// limitBody reads a request body up to max bytes; a larger one is answered
// 413 with a GraphQL error (BAD_USER_INPUT) before the GraphQL layer sees it.
// Reading does not watch the request's context, so its deadline
// (REQUEST_TIMEOUT) is set on the connection while the body is read: a
// client that trickles its body a byte at a time cannot hold the request
// open past it.
func limitBody(max int64, refused func(r *http.Request, code, message string), next http.Handler) http.Handler {
	refuse := func(w http.ResponseWriter, r *http.Request, status int, message string) {
		writeGraphQLError(w, status, "BAD_USER_INPUT", message)
		if refused != nil {
			refused(r, "BAD_USER_INPUT", message)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if deadline, ok := r.Context().Deadline(); ok {
			_ = rc.SetReadDeadline(deadline)
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if err != nil {
			// The deadline stays: net/http reads what is left of the body
			// before it answers, and must not wait for the trickle either.
			w.Header().Set("Connection", "close")
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than %d bytes", max))
				return
			}
			refuse(w, r, http.StatusBadRequest, "the request body could not be read")
			return
		}
		// Cleared, so that net/http's read that watches for the client
		// leaving does not take the deadline for the client's going.
		_ = rc.SetReadDeadline(time.Time{})
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// writeGraphQLError answers with a GraphQL-shaped error outside the GraphQL
// layer.
func writeGraphQLError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{
		"errors": []map[string]any{{"message": message, "extensions": map[string]any{"code": code}}},
	})
}

// codedErrors gives a code to every error of a refused GraphQL request.
// gqlgen's transports answer some malformed requests themselves, past the
// error presenter and with a bare message: a method or content type no
// transport takes (400), a mutation over GET (405), GET variables that are
// not JSON (400). Such a 4xx response is held back and each error without
// an extensions.code gets BAD_USER_INPUT; every other response passes
// through untouched. Websocket upgrades are not wrapped (they hijack the
// connection).
func codedErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsWebsocketHandshake(r) {
			next.ServeHTTP(w, r)
			return
		}
		cw := &codingWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		cw.finish()
	})
}

// codingWriter buffers the body of a 4xx response to add codes to it.
type codingWriter struct {
	http.ResponseWriter
	status int
	held   *bytes.Buffer // the body of a 4xx response; nil otherwise
}

func (c *codingWriter) WriteHeader(status int) {
	if c.status != 0 {
		return
	}
	c.status = status
	if status >= 400 && status < 500 {
		c.held = &bytes.Buffer{}
		return
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *codingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.held != nil {
		return c.held.Write(p)
	}
	return c.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the real writer.
func (c *codingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *codingWriter) finish() {
	if c.held == nil {
		return
	}
	body := c.held.Bytes()
	if coded, ok := withCodes(body); ok {
		body = coded
		c.Header().Del("Content-Length")
		c.Header().Set("Content-Type", "application/json")
	}
	c.ResponseWriter.WriteHeader(c.status)
	_, _ = c.ResponseWriter.Write(body)
}

// withCodes returns body with BAD_USER_INPUT on each error that has no
// code, and whether it changed anything.
func withCodes(body []byte) ([]byte, bool) {
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, false
	}
	var errs []map[string]any
	if err := json.Unmarshal(resp["errors"], &errs); err != nil || len(errs) == 0 {
		return nil, false
	}
	changed := false
	for _, e := range errs {
		ext, _ := e["extensions"].(map[string]any)
		if _, coded := ext["code"]; coded {
			continue
		}
		if ext == nil {
			ext = map[string]any{}
		}
		ext["code"] = "BAD_USER_INPUT"
		e["extensions"] = ext
		changed = true
	}
	if !changed {
		return nil, false
	}
	raw, err := jsonenc.Marshal(errs)
	if err != nil {
		return nil, false
	}
	resp["errors"] = raw
	out, err := jsonenc.Marshal(resp)
	if err != nil {
		return nil, false
	}
	return append(out, '\n'), true
}
