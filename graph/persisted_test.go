package graph_test

// Persisted queries: Automatic Persisted Queries as Apollo Client sends
// them, and the mode that serves only the operations of a manifest.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coder/websocket/wsjson"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
)

func pqHash(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:])
}

// pqRequest is a request body with the APQ extension (query "" leaves it
// out, as Apollo does on its first, optimistic try).
func pqRequest(query, hash string, vars map[string]any) map[string]any {
	body := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
	if query != "" {
		body["query"] = query
	}
	if vars != nil {
		body["variables"] = vars
	}
	return body
}

func TestAutomaticPersistedQueries(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		o := owner.Caller("acme")
		e.CreateProject(o, "Rocket")
		const q = `query Projects($first: Int) { projects(first: $first) { totalCount edges { node { name } } } }`
		h := pqHash(q)
		vars := map[string]any{"first": 10}
		served := func(t *testing.T, r *graphtest.Response) {
			t.Helper()
			if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"Rocket"`) {
				t.Errorf("got %s %+v, want the projects", r.Data, r.Errors)
			}
		}

		// 1. The hash alone, before the server knows it.
		e.Counter.Reset()
		r := e.Post(o, pqRequest("", h, vars))
		if r.Code() != "PERSISTED_QUERY_NOT_FOUND" || e.Counter.Count() != 0 {
			t.Fatalf("unknown hash: got %q with %d statements, want PERSISTED_QUERY_NOT_FOUND with none", r.Code(), e.Counter.Count())
		}
		// 2. A wrong hash for the query is refused and registers nothing.
		if r := e.Post(o, pqRequest(q, pqHash(q+" "), vars)); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("wrong hash: got %q %+v, want BAD_USER_INPUT", r.Code(), r.Errors)
		}
		if r := e.Post(o, pqRequest("", pqHash(q+" "), vars)); r.Code() != "PERSISTED_QUERY_NOT_FOUND" {
			t.Errorf("the wrong hash after: got %q, want PERSISTED_QUERY_NOT_FOUND", r.Code())
		}
		// 3. The query with its hash: served, and registered.
		served(t, e.Post(o, pqRequest(q, h, vars)))
		// 4. From now on the hash alone, by POST and by GET.
		served(t, e.Post(o, pqRequest("", h, vars)))
		ext, _ := json.Marshal(map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": h}})
		v, _ := json.Marshal(vars)
		got := e.Raw(o, http.MethodGet, "/graphql?extensions="+url.QueryEscape(string(ext))+"&variables="+url.QueryEscape(string(v)), nil, nil)
		if got.Status != http.StatusOK || !strings.Contains(string(got.Body), `"Rocket"`) {
			t.Errorf("GET with the hash: got %d %s, want the projects", got.Status, got.Body)
		}
		// The registered query runs as whoever sends the hash.
		if r := e.Post(graphtest.Caller{TenantSlug: "acme"}, pqRequest("", h, vars)); r.Code() != "UNAUTHENTICATED" {
			t.Errorf("the hash anonymously: got %q, want UNAUTHENTICATED", r.Code())
		}
		// 5. Malformed extensions.
		for name, ext := range map[string]any{
			"version 2":     map[string]any{"version": 2, "sha256Hash": h},
			"not an object": "x",
			"hash a number": map[string]any{"version": 1, "sha256Hash": 5},
		} {
			r := e.Post(o, map[string]any{"query": q, "extensions": map[string]any{"persistedQuery": ext}})
			if r.Code() != "BAD_USER_INPUT" && r.Code() != "PERSISTED_QUERY_NOT_FOUND" {
				t.Errorf("%s: got %q %+v, want BAD_USER_INPUT", name, r.Code(), r.Errors)
			}
		}
	})
}

// TestAutomaticPersistedQueryCacheIsBounded: past APQCacheSize queries the
// least recently used is forgotten; the client then sends it again.
func TestAutomaticPersistedQueryCacheIsBounded(t *testing.T) {
	graphtest.RunWith(t, graphtest.Options{Deps: func(d *graph.Deps) { d.APQCacheSize = 2 }}, func(t *testing.T, e *graphtest.Env) {
		queries := []string{`{ currentTenant { id } }`, `{ currentTenant { slug } }`, `{ currentTenant { name } }`}
		for _, q := range queries {
			if r := e.Post(graphtest.Caller{}, pqRequest(q, pqHash(q), nil)); len(r.Errors) > 0 {
				t.Fatalf("registering %s: %+v", q, r.Errors)
			}
		}
		for i, want := range []string{"PERSISTED_QUERY_NOT_FOUND", "", ""} {
			if r := e.Post(graphtest.Caller{}, pqRequest("", pqHash(queries[i]), nil)); r.Code() != want {
				t.Errorf("query %d by hash: got %q, want %q", i+1, r.Code(), want)
			}
		}
	})
}

// pqManifest writes an Apollo persisted-query manifest of the named
// contract operations and returns its path.
func pqManifest(t *testing.T, ops map[string]string, names ...string) string {
	t.Helper()
	var operations []map[string]string
	for _, n := range names {
		operations = append(operations, map[string]string{"id": pqHash(ops[n]), "name": n, "type": "query", "body": ops[n]})
	}
	raw, _ := json.Marshal(map[string]any{"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations})
	path := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPersistedOnlyMode(t *testing.T) {
	ops := contractOperations(t)
	manifest, err := graph.LoadPersistedManifest(pqManifest(t, ops, "CurrentTenant", "Projects"))
	if err != nil {
		t.Fatalf("loading the manifest: %v", err)
	}
	if len(manifest) != 2 {
		t.Fatalf("manifest: got %d operations, want 2", len(manifest))
	}
	graphtest.RunWith(t, graphtest.Options{Deps: func(d *graph.Deps) { d.PersistedOnly = manifest }}, func(t *testing.T, e *graphtest.Env) {
		anon := graphtest.Caller{}
		listed := pqHash(ops["CurrentTenant"])
		if r := e.Post(anon, pqRequest("", listed, nil)); len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"default"`) {
			t.Errorf("a listed hash: got %s %+v, want the current tenant", r.Data, r.Errors)
		}
		if r := e.Post(anon, pqRequest(ops["CurrentTenant"], listed, nil)); len(r.Errors) > 0 {
			t.Errorf("a listed hash with its own text: got %+v, want it served", r.Errors)
		}
		refused := []struct {
			name string
			body map[string]any
		}{
			{"an arbitrary query", map[string]any{"query": `{ currentTenant { id } }`}},
			{"a contract operation not in the manifest", map[string]any{"query": ops["ProjectWorkflow"]}},
			{"a listed hash with another text", pqRequest(`{ projects(first: 100) { edges { node { id name } } } }`, listed, nil)},
			{"a listed hash with a mutation", pqRequest(`mutation { markAllNotificationsRead }`, listed, nil)},
			{"an unknown hash", pqRequest("", pqHash("{ __typename }"), nil)},
			{"the hash of a listed operation's variant", pqRequest("", pqHash(ops["CurrentTenant"]+"\n"), nil)},
			{"no query at all", map[string]any{}},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				e.Counter.Reset()
				r := e.Post(anon, tt.body)
				if r.Code() != "PERSISTED_QUERY_NOT_FOUND" || string(r.Data) != "null" && len(r.Data) > 0 {
					t.Errorf("got %q %s, want PERSISTED_QUERY_NOT_FOUND and no data", r.Code(), r.Data)
				}
				if n := e.Counter.Count(); n != 0 {
					t.Errorf("statements: got %d, want 0", n)
				}
			})
		}
		t.Run("GET with a query", func(t *testing.T) {
			got := e.Raw(anon, http.MethodGet, "/graphql?query="+url.QueryEscape(`{ currentTenant { id } }`), nil, nil)
			if !strings.Contains(string(got.Body), "PERSISTED_QUERY_NOT_FOUND") || got.Status >= 500 {
				t.Errorf("got %d %s, want PERSISTED_QUERY_NOT_FOUND", got.Status, got.Body)
			}
		})
		t.Run("websocket with a query", func(t *testing.T) {
			// Accounts come from a normal instance on the same database: this
			// one serves only the manifest.
			setup := graphtest.NewOn(t, e.Dialect, e.DatabaseURL)
			u := setup.Register("Owner")
			setup.CreateTenant(u, "acme")
			conn := wsDial(t, e, initPayload(u.Token, "acme"))
			if m, err := wsRead(t, conn); err != nil || m.Type != "connection_ack" {
				t.Fatalf("got %+v %v, want connection_ack", m, err)
			}
			if err := wsjson.Write(context.Background(), conn, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": feedQuery}}); err != nil {
				t.Fatal(err)
			}
			m, err := wsRead(t, conn)
			if err != nil || m.ID != "1" || !strings.Contains(string(m.Payload), "PERSISTED_QUERY_NOT_FOUND") {
				t.Errorf("got %+v %v, want PERSISTED_QUERY_NOT_FOUND", m, err)
			}
		})
	})
}

func TestLoadPersistedManifestRejects(t *testing.T) {
	body := `query A { currentTenant { id } }`
	write := func(t *testing.T, content string) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "m.json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	op := func(id, body string) string {
		raw, _ := json.Marshal(map[string]any{"operations": []map[string]string{{"id": id, "body": body}}})
		return string(raw)
	}
	tests := []struct {
		name, content, want string
	}{
		{"an id that is not the body's SHA-256", op(pqHash(body+" "), body), "SHA-256"},
		{"an empty id", op("", body), "SHA-256"},
		{"no operations", `{"operations": []}`, "no operations"},
		{"not JSON", `operations: []`, "parsing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, err := graph.LoadPersistedManifest(write(t, tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, %v; want an error mentioning %q", ops, err, tt.want)
			}
		})
	}
	t.Run("a missing file", func(t *testing.T) {
		if _, err := graph.LoadPersistedManifest(filepath.Join(t.TempDir(), "nope.json")); err == nil {
			t.Error("got nil, want an error")
		}
	})
	t.Run("a good manifest", func(t *testing.T) {
		ops, err := graph.LoadPersistedManifest(write(t, op(pqHash(body), body)))
		if err != nil || ops[pqHash(body)] != body {
			t.Errorf("got %v, %v; want the operation by its hash", ops, err)
		}
	})
}
