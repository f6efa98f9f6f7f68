// Package server is the HTTP side of the API: routes, request middleware,
// health endpoints and graceful shutdown. It is the only internal package
// that speaks HTTP.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"

	"tenantgraph/internal/jsonenc"
	"tenantgraph/internal/tenancy"
)

// DefaultMaxBodyBytes bounds a request body (gqlgen reads POST bodies whole).
const DefaultMaxBodyBytes = 1 << 20

// DefaultRequestTimeout bounds an HTTP request.
const DefaultRequestTimeout = 10 * time.Second

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config is what the HTTP server needs.
type Config struct {
	Addr    string
	GraphQL http.Handler // the GraphQL endpoint, mounted at /graphql
	DB      Pinger
	Logger  *slog.Logger
	// GraphiQL serves the GraphiQL IDE at /.
	GraphiQL bool
	// TrustProxy takes the client address from X-Forwarded-For's rightmost
	// entry, which the proxy in front of the server appended (set it only
	// behind such a proxy).
	TrustProxy bool
	// CORSOrigins may call the API from a browser on another origin.
	CORSOrigins []string
	// MaxBodyBytes bounds request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// RequestTimeout bounds HTTP requests (default DefaultRequestTimeout).
	RequestTimeout time.Duration
	// Metrics, when set, is served at /metrics (Prometheus text format).
	Metrics http.Handler
	// Refused, when set, is told of each /graphql request refused here,
	// before the GraphQL layer: a body over MaxBodyBytes, or one that could
	// not be read (graph.RecordRefusal logs and counts it).
	Refused func(r *http.Request, code, message string)
}

// Handler returns the routes: /graphql, / (GraphiQL), /healthz, /readyz,
// behind security headers and CORS.
func Handler(c Config) http.Handler {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", withTimeout(c.RequestTimeout,
		withCredentials(c.TrustProxy, limitBody(c.MaxBodyBytes, c.Refused, codedErrors(c.GraphQL)))))
	if c.GraphiQL {
		ide := playground.Handler("TenantGraph", "/graphql")
		mux.HandleFunc("GET /{$}", ide.ServeHTTP)
	}
	if c.Metrics != nil {
		mux.Handle("GET /metrics", c.Metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := c.DB.Ping(ctx); err != nil {
			c.Logger.WarnContext(ctx, "readiness check failed", "error", err.Error())
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unreachable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	return securityHeaders(c.TrustProxy, withCORS(c.CORSOrigins, mux))
}

// withCredentials puts the Authorization and tenant headers and the client's
// address on the context, where the GraphQL layer resolves them once per
// operation.
func withCredentials(trustProxy bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := tenancy.WithCredentials(r.Context(), tenancy.Credentials{
			Authorization: r.Header.Get("Authorization"),
			TenantID:      r.Header.Get("X-Tenant-ID"),
			TenantSlug:    r.Header.Get("X-Tenant-Slug"),
			ClientAddr:    clientAddr(r, trustProxy),
		})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// clientAddr is the client's IP: the connection's peer, or with trustProxy
// the address the proxy in front of the server saw, which it appended to
// X-Forwarded-For: the header's rightmost entry. (nginx's
// $proxy_add_x_forwarded_for, AWS's and Google's load balancers append to
// what the client sent, so every entry left of it is the client's to
// choose.) A port on that entry (1.2.3.4:5678, [2001:db8::1]:443, as Azure
// Application Gateway writes them) is dropped; an entry that is no address
// falls back to the peer. Only one trusted hop is supported: behind two
// proxies, the address is the inner proxy's view, the outer proxy's own.
func clientAddr(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if last := lastForwarded(r.Header, "X-Forwarded-For"); last != "" {
			if ip, ok := forwardedAddr(last); ok {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// lastForwarded is the rightmost entry of a header that proxies append to
// (X-Forwarded-For, X-Forwarded-Proto), in its last line: the entry the
// proxy in front of the server wrote. "" when there is none.
func lastForwarded(h http.Header, key string) string {
	lines := h.Values(key)
	if len(lines) == 0 {
		return ""
	}
	last := lines[len(lines)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.TrimSpace(last)
}

// forwardedAddr reads an X-Forwarded-For entry: an IP address, with or
// without a port (an IPv6 address with one in brackets).
func forwardedAddr(entry string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(entry)
	if err != nil {
		ap, err := netip.ParseAddrPort(entry)
		if err != nil {
			return netip.Addr{}, false
		}
		ip = ap.Addr()
	}
	return ip.Unmap().WithZone(""), true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body, _ := jsonenc.Marshal(v) // a status map always encodes
	_, _ = w.Write(append(body, '\n'))
}

// Drainer is a handler whose connections outlive their requests
// (websockets, which http.Server.Shutdown neither waits for nor ends):
// Drain ends them gracefully, returning when they have ended or when ctx
// has (graph.Handler).
type Drainer interface {
	Drain(ctx context.Context)
}

// Serve listens on c.Addr and serves until ctx ends, then shuts down
// gracefully: no new connections, in-flight requests get up to grace to
// finish, and so do the websockets' queries and mutations when c.GraphQL
// is a Drainer (its Drain runs beside the requests' drain, with the same
// grace, and may take a second more: graph.Handler.Drain). ready, when
// set, receives the bound address.
func Serve(ctx context.Context, c Config, grace time.Duration, ready func(addr string)) error {
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("server: listening on %s: %w", c.Addr, err)
	}
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           Handler(c),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(c.Logger.Handler(), slog.LevelWarn),
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	c.Logger.Info("shutting down", "grace", grace.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		if d, ok := c.GraphQL.(Drainer); ok {
			d.Drain(shutdownCtx)
		}
	}()
	err = srv.Shutdown(shutdownCtx)
	<-drained
	cancelBase() // whatever else still runs on a request's context
	if err != nil {
		return fmt.Errorf("server: shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}
