package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
)

// Setting a webhook looks its host up in DNS before the mutation's
// transaction opens: a lookup that takes long holds no lock meanwhile (on
// SQLite it held the database's one write lock, and every other writer
// waited for it). The host that does not resolve is refused.
func TestWebhookLookupHoldsNoLock(t *testing.T) {
	release, asked := make(chan struct{}), make(chan struct{})
	var once sync.Once
	answer := sync.OnceFunc(func() { close(release) }) // let the lookups fail
	slowDNS := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		once.Do(func() { close(asked) })
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, errors.New("test DNS: no answer")
	}}
	graphtest.RunWith(t, graphtest.Options{Deps: func(d *graph.Deps) { d.WebhookGuard.Resolver = slowDNS }}, func(t *testing.T, e *graphtest.Env) {
		owner := e.Register("Owner")
		e.CreateTenant(owner, "acme")
		o := owner.Caller("acme")
		set := make(chan *graphtest.Response, 1)
		go func() {
			set <- postFrom(t, e, o, `mutation { updateTenantConfig(input: {slackWebhookURL: "https://slow.example/hook"}) { id } }`)
		}()
		select {
		case <-asked:
		case <-time.After(10 * time.Second):
			t.Fatal("the webhook's host was not looked up")
		}
		done := make(chan *graphtest.Response, 1)
		go func() { done <- postFrom(t, e, o, `mutation { createProject(input: {name: "meanwhile"}) { id } }`) }()
		select {
		case r := <-done:
			if r == nil || r.Code() != "" {
				t.Errorf("a mutation during the lookup: got %+v", r.Errors)
			}
		case <-time.After(5 * time.Second):
			t.Error("a mutation during the lookup waited for it")
			answer()
			<-done
		}
		answer()
		if r := <-set; r == nil || r.Code() != "BAD_USER_INPUT" {
			t.Errorf("a webhook whose host does not resolve: got %+v, want BAD_USER_INPUT", r)
		}
	})
}

// postFrom sends query as c from a goroutine other than the test's: a
// failure is reported with t.Error and answered nil (t.Fatal must not be
// called there).
func postFrom(t *testing.T, e *graphtest.Env, c graphtest.Caller, query string) *graphtest.Response {
	body, _ := json.Marshal(map[string]any{"query": query})
	req, err := http.NewRequest(http.MethodPost, e.URL, bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("X-Tenant-Slug", c.TenantSlug)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("request: %v", err)
		return nil
	}
	defer resp.Body.Close()
	out := &graphtest.Response{Status: resp.StatusCode}
	if raw, err := io.ReadAll(resp.Body); err != nil || json.Unmarshal(raw, out) != nil {
		t.Errorf("response (status %d): %s (%v)", resp.StatusCode, raw, err)
		return nil
	}
	return out
}
