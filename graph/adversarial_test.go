package graph_test

// The adversarial suite attacks a running server over HTTP and websocket
// and asserts that nothing leaks and nothing breaks. Every answer it gets
// goes through a ledger that fails the test on a 5xx, on a body that is not
// a GraphQL response, on an error without a documented code (or with
// INTERNAL_SERVER_ERROR), and on any sight of the victim tenant's secrets;
// at the end the server's log must hold no panic and no internal error.
//
// This file: the ledger, and the operations of the administration and
// notification features aimed across tenants (the isolation suite,
// isolation_*_test.go, covers the core queries, mutations, node lookups and
// filters). adversarial_tokens_test.go: forged tokens and the live feed;
// adversarial_inputs_test.go: hostile values; adversarial_http_test.go:
// hostile requests.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"tenantgraph/ent/notification"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/role"
)

// advCodes are the codes the contract documents for refusals.
var advCodes = map[string]bool{
	"UNAUTHENTICATED": true, "FORBIDDEN": true, "NOT_FOUND": true, "BAD_USER_INPUT": true,
	"INVALID_TRANSITION": true, "CONFLICT": true, "RATE_LIMITED": true, "QUERY_TOO_DEEP": true,
	"QUERY_TOO_COMPLEX": true, "PERSISTED_QUERY_NOT_FOUND": true, "GRAPHQL_VALIDATION_FAILED": true,
	"GRAPHQL_PARSE_FAILED": true,
}

// adv sends requests and checks every answer.
type adv struct {
	e        *graphtest.Env
	mu       sync.Mutex
	answers  int
	problems int
}

func newAdv(e *graphtest.Env) *adv { return &adv{e: e} }

// do POSTs an operation as c.
func (a *adv) do(t *testing.T, c graphtest.Caller, query string, vars map[string]any) *graphtest.Response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return a.raw(t, c, http.MethodPost, "/graphql", secJSON, body)
}

// raw sends any request, checks the answer and decodes it as far as it goes.
func (a *adv) raw(t *testing.T, c graphtest.Caller, method, path string, header http.Header, body []byte) *graphtest.Response {
	t.Helper()
	got := a.e.Raw(c, method, path, header, body)
	what := method + " " + advShort(path) + " " + advShort(string(body))
	if problem := advProblem(method, got); problem != "" {
		a.note(true)
		t.Errorf("%s: %s", what, problem)
	} else {
		a.note(false)
	}
	r := &graphtest.Response{Status: got.Status}
	_ = json.Unmarshal(got.Body, r)
	return r
}

func (a *adv) note(problem bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.answers++
	if problem {
		a.problems++
	}
}

// advProblem says what is wrong with an answer, or "".
func advProblem(method string, got graphtest.RawResponse) string {
	if got.Status >= 500 {
		return fmt.Sprintf("status %d: %s", got.Status, advShort(string(got.Body)))
	}
	if strings.Contains(string(got.Body), isoSecret) {
		return "the answer holds the victim's data: " + advShort(string(got.Body))
	}
	if method == http.MethodHead || method == http.MethodOptions {
		return ""
	}
	var r struct {
		Data   json.RawMessage
		Errors []graphtest.Error
	}
	if err := json.Unmarshal(got.Body, &r); err != nil {
		return fmt.Sprintf("status %d, the body is not JSON: %s", got.Status, advShort(string(got.Body)))
	}
	if len(r.Errors) == 0 && (len(r.Data) == 0 || string(r.Data) == "null") {
		return fmt.Sprintf("status %d with neither data nor errors: %s", got.Status, advShort(string(got.Body)))
	}
	if len(r.Errors) == 0 && got.Status >= 400 {
		return fmt.Sprintf("status %d without errors", got.Status)
	}
	for _, e := range r.Errors {
		if !advCodes[e.Code()] {
			return fmt.Sprintf("an error with code %q: %+v", e.Code(), e)
		}
	}
	return ""
}

// finish fails t unless answers came and the server logged no panic and no
// internal error.
func (a *adv) finish(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	answers, problems := a.answers, a.problems
	a.mu.Unlock()
	t.Logf("%d answers checked, %d with a problem", answers, problems)
	if answers == 0 {
		t.Error("no answers checked")
	}
	logs := a.e.Logs()
	for _, bad := range []string{"panic", `"level":"ERROR"`} {
		if i := strings.Index(logs, bad); i >= 0 {
			t.Errorf("the server logged %q: …%s", bad, advShort(logs[max(0, i-200):]))
		}
	}
}

func advShort(s string) string {
	if len(s) > 300 {
		return s[:300] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return s
}

// advCross is the isolation suite's world with the victim's notification
// settings, notifications and activity log noted.
type advCross struct {
	*isoWorld
	adv                 *adv
	victimNotifications []string
	victimUnread        int
	victimEntries       []string
	missingNotification string
	missingEntry        string
}

const advVictimHook = "https://127.0.0.1:9/" + isoSecret + "-hook"

func newAdvCross(t *testing.T, e *graphtest.Env) *advCross {
	t.Helper()
	w := newIsoWorld(t, e)
	s := &advCross{isoWorld: w, adv: newAdv(e)}
	isoMust(t, e, w.victimOwner.Caller("victim"), `mutation($h: String) { updateTenantConfig(input: {notificationChannels: [IN_APP, SLACK], slackWebhookURL: $h}) { id } }`,
		map[string]any{"h": advVictimHook}, nil)
	rows, err := e.DB.Client.Notification.Query().Where(notification.TenantID(authDecodeID(t, w.victimID))).All(acctSystemContext())
	if err != nil || len(rows) == 0 {
		t.Fatalf("the victim's notifications: got %d (%v), want some", len(rows), err)
	}
	for _, n := range rows {
		s.victimNotifications = append(s.victimNotifications, advID(n.ID))
		if !n.Read {
			s.victimUnread++
		}
	}
	for _, entry := range actLog(t, e, w.victimOwner.Caller("victim"), nil) {
		s.victimEntries = append(s.victimEntries, entry.ID)
	}
	s.missingNotification = isoBeyond(t, s.victimNotifications[0])
	s.missingEntry = isoBeyond(t, s.victimEntries[0])
	w.baseline = w.snapshot(t)
	return s
}

// TestAdversarialAcrossTenants aims the notification and administration
// operations of the attacker tenant's callers, at every role, at the victim
// tenant.
func TestAdversarialAcrossTenants(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		s := newAdvCross(t, e)
		t.Run("notifications", s.testNotifications)
		t.Run("markNotificationRead", s.testMarkRead)
		t.Run("tenant config", s.testConfig)
		t.Run("activity log", s.testActivity)
		t.Run("tenant stats", s.testStats)
		s.adv.finish(t)
		s.assertUnchanged(t)
		if got := s.unreadVictimNotifications(t); got != s.victimUnread {
			t.Errorf("the victim's unread notifications: got %d, want %d (untouched)", got, s.victimUnread)
		}
	})
}

func (s *advCross) unreadVictimNotifications(t *testing.T) int {
	t.Helper()
	n, err := s.e.DB.Client.Notification.Query().
		Where(notification.TenantID(authDecodeID(t, s.victimID)), notification.Read(false)).Count(acctSystemContext())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *advCross) testNotifications(t *testing.T) {
	const list = `{ notifications(first: 100) { totalCount edges { node { id title body project { id name } task { id title } } } }
		unreadNotificationCount }`
	for _, c := range s.callers {
		t.Run(c.name, func(t *testing.T) {
			r := s.adv.do(t, c.caller, list, nil)
			if want := c.gate(role.Viewer); want != "" {
				if r.Code() != want {
					t.Errorf("notifications: got %q, want %s", r.Code(), want)
				}
			} else {
				ids, _ := isoCollect(t, r.Data)
				for _, id := range ids {
					if slices.Contains(s.victimNotifications, id) {
						t.Errorf("notifications: got the victim's %s", id)
					}
				}
			}
			for _, id := range s.victimNotifications {
				got := s.adv.do(t, c.caller, isoNodeQuery, map[string]any{"id": id})
				isoSameAnswer(t, got, s.adv.do(t, c.caller, isoNodeQuery, map[string]any{"id": s.missingNotification}))
			}
			got := s.adv.do(t, c.caller, `query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Notification { title } } }`, map[string]any{"ids": s.victimNotifications})
			if c.gate(role.Viewer) == "" && strings.Contains(string(got.Data), `"id"`) {
				t.Errorf("nodes(the victim's notifications): got %s, want nulls", got.Data)
			}
		})
	}
}

func (s *advCross) testMarkRead(t *testing.T) {
	const mark = `mutation($id: ID!) { markNotificationRead(id: $id) { id read title } }`
	// Notifications of the attacker tenant that belong to someone else
	// than the caller: the shared member was told they were added.
	others, err := s.e.DB.Client.Notification.Query().
		Where(notification.TenantID(authDecodeID(t, s.attackerID))).All(acctSystemContext())
	if err != nil || len(others) == 0 {
		t.Fatalf("the attacker tenant's notifications: got %d (%v), want some", len(others), err)
	}
	for _, c := range s.callers {
		t.Run(c.name, func(t *testing.T) {
			want := c.gate(role.Viewer)
			if want == "" {
				want = "NOT_FOUND"
			}
			for _, id := range s.victimNotifications {
				got := s.adv.do(t, c.caller, mark, map[string]any{"id": id})
				if got.Code() != want || string(got.Data) != "null" {
					t.Errorf("the victim's notification: got %q %s, want %s", got.Code(), got.Data, want)
				}
				isoSameAnswer(t, got, s.adv.do(t, c.caller, mark, map[string]any{"id": s.missingNotification}))
			}
			me := s.viewerID(t, c)
			for _, n := range others {
				if me != "" && advID(n.RecipientID) == me {
					continue
				}
				got := s.adv.do(t, c.caller, mark, map[string]any{"id": advID(n.ID)})
				if got.Code() != want {
					t.Errorf("another member's notification: got %q %s, want %s", got.Code(), got.Data, want)
				}
			}
			// Marking all one's own read touches no one else's.
			r := s.adv.do(t, c.caller, `mutation { markAllNotificationsRead }`, nil)
			if gate := c.gate(role.Viewer); r.Code() != gate {
				t.Errorf("markAllNotificationsRead: got %q, want %q", r.Code(), gate)
			}
		})
	}
	if got := s.unreadVictimNotifications(t); got != s.victimUnread {
		t.Errorf("the victim's unread notifications: got %d, want %d", got, s.victimUnread)
	}
}

// viewerID returns the caller's user ID ("" when anonymous).
func (s *advCross) viewerID(t *testing.T, c isoCaller) string {
	t.Helper()
	if c.anonymous {
		return ""
	}
	var out struct{ Viewer struct{ ID string } }
	isoMust(t, s.e, c.caller, `{ viewer { id } }`, nil, &out)
	return out.Viewer.ID
}

func (s *advCross) testConfig(t *testing.T) {
	const update = `mutation { updateTenantConfig(input: {notificationChannels: [IN_APP], slackWebhookURL: "https://127.0.0.1:9/attacker"}) { id config { slackWebhookURL } } }`
	const read = `{ currentTenant { id config { notificationChannels slackWebhookURL } } }`
	for _, c := range s.callers {
		t.Run(c.name, func(t *testing.T) {
			for header, in := range map[string]graphtest.Caller{
				"X-Tenant-Slug": {Token: c.caller.Token, TenantSlug: "victim"},
				"X-Tenant-ID":   {Token: c.caller.Token, TenantID: s.victimID},
			} {
				want := "FORBIDDEN" // the shared member is a MANAGER there, below OWNER
				if c.anonymous {
					want = "UNAUTHENTICATED"
				}
				if got := s.adv.do(t, in, update, nil); got.Code() != want || string(got.Data) != "null" {
					t.Errorf("updateTenantConfig naming the victim by %s: got %q %s, want %s", header, got.Code(), got.Data, want)
				}
				if got := s.adv.do(t, in, read, nil); got.Code() != want {
					t.Errorf("the victim's config by %s: got %q %s, want %s", header, got.Code(), got.Data, want)
				}
			}
			got := s.adv.do(t, c.caller, `query($id: ID!) { node(id: $id) { ... on Tenant { slug config { notificationChannels slackWebhookURL } } } }`,
				map[string]any{"id": s.victimID})
			if c.gate(role.Viewer) == "" && string(got.Data) != `{"node":null}` {
				t.Errorf("node(the victim tenant): got %s %+v, want null", got.Data, got.Errors)
			}
			if !c.anonymous {
				// A member of both tenants sees both in their memberships,
				// but the victim's settings only from within it (and the
				// ledger makes sure the webhook never shows).
				got := s.adv.do(t, c.caller, `{ viewer { memberships { tenant { slug config { notificationChannels slackWebhookURL } } } } }`, nil)
				if slices.Contains(c.tenants, "victim") && !slices.ContainsFunc(got.Errors, func(e graphtest.Error) bool { return e.Code() == "FORBIDDEN" }) {
					t.Errorf("the victim's config through memberships: got %s %+v, want FORBIDDEN", got.Data, got.Errors)
				}
			}
			if c.role != role.Owner {
				if got := s.adv.do(t, c.caller, update, nil); got.Code() != c.gate(role.Owner) {
					t.Errorf("updateTenantConfig below OWNER: got %q, want %s", got.Code(), c.gate(role.Owner))
				}
			}
		})
	}
}

func (s *advCross) testActivity(t *testing.T) {
	const log = `query($w: ActivityLogWhereInput) { activityLogs(first: 100, where: $w) { totalCount edges { node { id action entityID summary changes { field old new } actor { id email } } } } }`
	victimIDs := slices.Concat(s.victim["Project"], s.victim["Task"], s.victim["Comment"], s.victim["Membership"], s.victim["Tenant"])
	filters := []map[string]any{
		nil,
		{"entityID": s.victim["Project"][0]},
		{"entityIDIn": victimIDs},
		{"actorID": s.victimOwner.ID},
		{"idIn": s.victimEntries},
		{"summaryContains": isoSecret},
		{"or": []any{map[string]any{"entityIDIn": victimIDs}, map[string]any{"actorIDIn": s.victim["User"]}}},
	}
	for _, c := range s.callers {
		t.Run(c.name, func(t *testing.T) {
			for _, f := range filters {
				r := s.adv.do(t, c.caller, log, map[string]any{"w": f})
				if want := c.gate(role.Owner); r.Code() != want {
					t.Errorf("activityLogs %v: got %q, want %q", f, r.Code(), want)
				}
				ids, _ := isoCollect(t, r.Data)
				for _, id := range ids {
					if slices.Contains(s.victimEntries, id) || slices.Contains(victimIDs, id) {
						t.Errorf("activityLogs %v: got the victim's %s", f, id)
					}
				}
			}
			for _, id := range s.victimEntries {
				got := s.adv.do(t, c.caller, `query($id: ID!) { node(id: $id) { id ... on ActivityLog { summary } } }`, map[string]any{"id": id})
				isoSameAnswer(t, got, s.adv.do(t, c.caller, `query($id: ID!) { node(id: $id) { id ... on ActivityLog { summary } } }`, map[string]any{"id": s.missingEntry}))
			}
			const perProject = `query($id: ID!) { node(id: $id) { ... on Project { activity(first: 100) { totalCount edges { node { id summary } } } } } }`
			for _, p := range s.victim["Project"] {
				isoSameAnswer(t, s.adv.do(t, c.caller, perProject, map[string]any{"id": p}),
					s.adv.do(t, c.caller, perProject, map[string]any{"id": s.missing["Project"]}))
			}
			in := graphtest.Caller{Token: c.caller.Token, TenantSlug: "victim"}
			want := "FORBIDDEN"
			if c.anonymous {
				want = "UNAUTHENTICATED"
			}
			if got := s.adv.do(t, in, log, nil); got.Code() != want {
				t.Errorf("activityLogs naming the victim: got %q, want %s", got.Code(), want)
			}
		})
	}
}

func (s *advCross) testStats(t *testing.T) {
	for _, c := range s.callers {
		t.Run(c.name, func(t *testing.T) {
			r := s.adv.do(t, c.caller, statsQuery, nil)
			if want := c.gate(role.Owner); r.Code() != want {
				t.Errorf("tenantStats: got %q, want %q", r.Code(), want)
			} else if want == "" {
				// The attacker tenant's own numbers: five members, and one
				// project, task and comment (the ghosts were deleted).
				want := "members 5, projects 1, tasks 1, comments 1; projects: DRAFT 1 SUBMITTED 0 APPROVED 0 REJECTED 0 ACTIVE 0 COMPLETED 0 ARCHIVED 0; tasks: TODO 1 IN_PROGRESS 0 DONE 0"
				if got := statsOf(t, s.e, c.caller); got != want {
					t.Errorf("tenantStats:\ngot  %s\nwant %s", got, want)
				}
			}
			for _, in := range []graphtest.Caller{{Token: c.caller.Token, TenantSlug: "victim"}, {Token: c.caller.Token, TenantID: s.victimID}} {
				want := "FORBIDDEN"
				if c.anonymous {
					want = "UNAUTHENTICATED"
				}
				if got := s.adv.do(t, in, statsQuery, nil); got.Code() != want || string(got.Data) != "null" {
					t.Errorf("tenantStats naming the victim: got %q %s, want %s", got.Code(), got.Data, want)
				}
			}
		})
	}
}

// advID is the opaque ID of a row.
func advID(id int) string { return globalid.Encode(id) }
