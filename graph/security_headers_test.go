package graph_test

// Security headers on every response, and CORS from the allow-list only.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/server"
)

// secHeaders are the headers every response carries, with their values.
var secHeaders = map[string]string{
	"X-Content-Type-Options":     "nosniff",
	"X-Frame-Options":            "DENY",
	"Referrer-Policy":            "no-referrer",
	"Cross-Origin-Opener-Policy": "same-origin",
	"Permissions-Policy":         "camera=(), microphone=(), geolocation=()",
}

var secJSON = http.Header{"Content-Type": {"application/json"}}

func TestSecurityHeaders(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		query, _ := json.Marshal(map[string]any{"query": "{ projects { totalCount } }"})
		requests := []struct {
			name, method, path string
			header             http.Header
			body               string
			status             int
			csp                string // the policy's start
		}{
			{"GraphiQL", http.MethodGet, "/", nil, "", http.StatusOK, "default-src 'none'; script-src"},
			{"POST /graphql", http.MethodPost, "/graphql", secJSON, string(query), http.StatusOK, "default-src 'none'; frame-ancestors 'none'"},
			{"GET /graphql", http.MethodGet, "/graphql?query=" + url.QueryEscape("{ currentTenant { id } }"), nil, "", http.StatusOK, "default-src 'none'; frame-ancestors 'none'"},
			{"a GraphQL error", http.MethodPost, "/graphql", secJSON, `{"query": "{ nope }"}`, http.StatusUnprocessableEntity, "default-src 'none'; frame-ancestors 'none'"},
			{"malformed JSON", http.MethodPost, "/graphql", secJSON, `{"query": `, http.StatusBadRequest, "default-src 'none'; frame-ancestors 'none'"},
			{"wrong content type", http.MethodPost, "/graphql", http.Header{"Content-Type": {"text/plain"}}, `{}`, http.StatusUnsupportedMediaType, "default-src 'none'; frame-ancestors 'none'"},
			{"oversized body", http.MethodPost, "/graphql", secJSON, strings.Repeat(" ", 2<<20), http.StatusRequestEntityTooLarge, "default-src 'none'; frame-ancestors 'none'"},
			{"healthz", http.MethodGet, "/healthz", nil, "", http.StatusOK, "default-src 'none'; frame-ancestors 'none'"},
			{"readyz", http.MethodGet, "/readyz", nil, "", http.StatusOK, "default-src 'none'; frame-ancestors 'none'"},
			{"not found", http.MethodGet, "/nope", nil, "", http.StatusNotFound, "default-src 'none'; frame-ancestors 'none'"},
		}
		for _, r := range requests {
			t.Run(r.name, func(t *testing.T) {
				got := e.Raw(owner.Caller("acme"), r.method, r.path, r.header, []byte(r.body))
				if got.Status != r.status {
					t.Errorf("status: got %d, want %d", got.Status, r.status)
				}
				for h, want := range secHeaders {
					if v := got.Header.Get(h); v != want {
						t.Errorf("%s: got %q, want %q", h, v, want)
					}
				}
				if csp := got.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, r.csp) {
					t.Errorf("Content-Security-Policy: got %q, want it to start %q", csp, r.csp)
				}
				if hsts := got.Header.Get("Strict-Transport-Security"); hsts != "" {
					t.Errorf("Strict-Transport-Security over plain HTTP: got %q, want none", hsts)
				}
				// A GraphQL answer is the caller's own: no cache keeps it,
				// nor serves it to a request with other credentials.
				if strings.HasPrefix(r.path, "/graphql") {
					if cc := got.Header.Get("Cache-Control"); cc != "no-store" {
						t.Errorf("Cache-Control: got %q, want no-store", cc)
					}
					if vary := strings.Join(got.Header.Values("Vary"), ", "); !strings.Contains(vary, "Authorization, X-Tenant-ID, X-Tenant-Slug") {
						t.Errorf("Vary: got %q, want the credentials' headers", vary)
					}
				}
				for h := range got.Header {
					if strings.HasPrefix(h, "Access-Control-") {
						t.Errorf("without CORS_ALLOWED_ORIGINS: got %s, want no CORS headers", h)
					}
				}
			})
		}
		t.Run("HSTS from an untrusted proxy header", func(t *testing.T) {
			got := e.Raw(graphtest.Caller{}, http.MethodGet, "/healthz", http.Header{"X-Forwarded-Proto": {"https"}}, nil)
			if hsts := got.Header.Get("Strict-Transport-Security"); hsts != "" {
				t.Errorf("got %q, want none: the proxy is not trusted", hsts)
			}
		})
	})
}

func TestSecurityHeadersBehindATrustedProxy(t *testing.T) {
	graphtest.RunWith(t, graphtest.Options{Server: func(c *server.Config) { c.TrustProxy = true }}, func(t *testing.T, e *graphtest.Env) {
		// A proxy that appends its own entry: the rightmost is the one it saw.
		for proto, want := range map[string]string{"https": "max-age=63072000; includeSubDomains", "http": "",
			"http, https": "max-age=63072000; includeSubDomains", "https, http": ""} {
			got := e.Raw(graphtest.Caller{}, http.MethodGet, "/healthz", http.Header{"X-Forwarded-Proto": {proto}}, nil)
			if hsts := got.Header.Get("Strict-Transport-Security"); hsts != want {
				t.Errorf("X-Forwarded-Proto %s: got %q, want %q", proto, hsts, want)
			}
		}
	})
}

func TestCORS(t *testing.T) {
	const allowed, other = "https://app.example.com", "https://evil.example"
	allow := graphtest.Options{Server: func(c *server.Config) { c.CORSOrigins = []string{allowed} }}
	graphtest.RunWith(t, allow, func(t *testing.T, e *graphtest.Env) {
		preflight := func(origin string) graphtest.RawResponse {
			return e.Raw(graphtest.Caller{}, http.MethodOptions, "/graphql", http.Header{
				"Origin":                         {origin},
				"Access-Control-Request-Method":  {"POST"},
				"Access-Control-Request-Headers": {"authorization, content-type, x-tenant-slug"},
			}, nil)
		}
		post := func(origin string) graphtest.RawResponse {
			return e.Raw(graphtest.Caller{}, http.MethodPost, "/graphql", http.Header{"Origin": {origin}, "Content-Type": {"application/json"}},
				[]byte(`{"query": "{ currentTenant { slug } }"}`))
		}

		got := preflight(allowed)
		if got.Status >= 300 || got.Header.Get("Access-Control-Allow-Origin") != allowed {
			t.Errorf("preflight from %s: got %d %v, want it allowed", allowed, got.Status, got.Header)
		}
		if m := got.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
			t.Errorf("Access-Control-Allow-Methods: got %q, want POST", m)
		}
		if h := strings.ToLower(got.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "authorization") || !strings.Contains(h, "x-tenant-slug") {
			t.Errorf("Access-Control-Allow-Headers: got %q, want Authorization and X-Tenant-Slug", h)
		}
		if got := post(allowed); got.Header.Get("Access-Control-Allow-Origin") != allowed || !strings.Contains(string(got.Body), `"default"`) {
			t.Errorf("POST from %s: got %v %s, want Access-Control-Allow-Origin and the answer", allowed, got.Header, got.Body)
		}
		for name, got := range map[string]graphtest.RawResponse{"preflight": preflight(other), "POST": post(other)} {
			if v := got.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("%s from %s: got Access-Control-Allow-Origin %q, want none", name, other, v)
			}
			if got.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s from %s: got %v, want the security headers", name, other, got.Header)
			}
		}
		if got := preflight("https://app.example.com.evil.example"); got.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("an origin that only starts like the allowed one: got %q, want none", got.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	graphtest.RunWith(t, graphtest.Options{}, func(t *testing.T, e *graphtest.Env) {
		got := e.Raw(graphtest.Caller{}, http.MethodOptions, "/graphql", http.Header{"Origin": {allowed}, "Access-Control-Request-Method": {"POST"}}, nil)
		for h := range got.Header {
			if strings.HasPrefix(h, "Access-Control-") {
				t.Errorf("preflight without an allow-list: got %s: %s, want no CORS headers", h, got.Header.Get(h))
			}
		}
	})
}
