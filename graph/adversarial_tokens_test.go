package graph_test

// The adversarial suite: forged tokens on the administration and
// notification operations, and the live feed aimed across tenants.

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/golang-jwt/jwt/v5"

	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/auth"
)

// advForged are tokens for user uid that the server must refuse.
func advForged(t *testing.T, uid int) map[string]string {
	t.Helper()
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{
		"sub": strconv.Itoa(uid), "iss": graphtest.Issuer, "aud": graphtest.Audience,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(graphtest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	valid := authForgeToken(t, uid, nil)
	return map[string]string{
		"alg none":       authNoneToken(t, uid),
		"HS512":          hs512,
		"expired":        authForgeToken(t, uid, func(c *auth.TokenConfig) { c.Now = func() time.Time { return time.Now().Add(-3 * time.Hour) } }),
		"not yet valid":  authForgeToken(t, uid, func(c *auth.TokenConfig) { c.Now = func() time.Time { return time.Now().Add(time.Hour) } }),
		"wrong key":      authForgeToken(t, uid, func(c *auth.TokenConfig) { c.Secret = []byte("an-attacker-secret-an-attacker-secret-0000") }),
		"wrong audience": authForgeToken(t, uid, func(c *auth.TokenConfig) { c.Audience = "another-api" }),
		"wrong issuer":   authForgeToken(t, uid, func(c *auth.TokenConfig) { c.Issuer = "evil" }),
		"flipped":        authFlipLast(valid),
		"no signature":   valid[:len(valid)-43],
		"garbage":        "eyJ.eyJ.eyJ",
		// Not forged: signed by the server for a user who does not exist
		// (such as one deleted). Such a caller is no member of anything.
		"signed for no user": authForgeToken(t, uid+1<<20, nil),
	}
}

func TestAdversarialForgedTokens(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		s := newAdvCross(t, e)
		owner := s.victimOwner
		ops := []struct{ name, query string }{
			{"activityLogs", `{ activityLogs(first: 10) { totalCount edges { node { summary } } } }`},
			{"tenantStats", statsQuery},
			{"notifications", `{ notifications(first: 10) { totalCount edges { node { title } } } unreadNotificationCount }`},
			{"markNotificationRead", `mutation($n: ID!) { markNotificationRead(id: $n) { id } }`},
			{"markAllNotificationsRead", `mutation { markAllNotificationsRead }`},
			{"updateTenantConfig", `mutation { updateTenantConfig(input: {notificationChannels: [IN_APP], slackWebhookURL: null}) { id } }`},
			{"Tenant.config", `{ currentTenant { config { notificationChannels slackWebhookURL } } }`},
			{"Project.activity", `query($p: ID!) { node(id: $p) { ... on Project { activity(first: 10) { totalCount } } } }`},
		}
		vars := map[string]any{"n": s.victimNotifications[0], "p": s.victim["Project"][0]}
		for kind, token := range advForged(t, authDecodeID(t, owner.ID)) {
			t.Run(kind, func(t *testing.T) {
				in := graphtest.Caller{Token: token, TenantSlug: "victim"}
				for _, op := range ops {
					got := s.adv.do(t, in, op.query, vars)
					refused := got.Code() == "UNAUTHENTICATED" || kind == "signed for no user" && got.Code() == "FORBIDDEN"
					if !refused || (string(got.Data) != "null" && string(got.Data) != `{"node":null}`) {
						t.Errorf("%s: got %q %s, want UNAUTHENTICATED and no data", op.name, got.Code(), got.Data)
					}
				}
				advRefusedSocket(t, e, map[string]any{"Authorization": "Bearer " + token, "X-Tenant-Slug": "victim"})
			})
		}
		s.adv.finish(t)
		s.assertUnchanged(t)
		if got := s.unreadVictimNotifications(t); got != s.victimUnread {
			t.Errorf("the victim's unread notifications: got %d, want %d", got, s.victimUnread)
		}
	})
}

// advRefusedSocket opens a websocket with the connection_init payload and
// fails unless the server closes it with 4403 before acknowledging.
func advRefusedSocket(t *testing.T, e *graphtest.Env, payload map[string]any) {
	t.Helper()
	conn := wsDial(t, e, payload)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		var m wsMessage
		err := wsjson.Read(ctx, conn, &m)
		if err == nil {
			if m.Type == "connection_ack" {
				t.Errorf("connection_init %v: got connection_ack, want 4403", payload)
				return
			}
			continue
		}
		if status := websocket.CloseStatus(err); status != 4403 {
			t.Errorf("connection_init %v: got close status %d (%v), want 4403", payload, status, err)
		}
		return
	}
}

// TestAdversarialFeedAcrossTenants: callers of the attacker tenant at every
// role, subscribed to their own tenant's feed, hear nothing of the victim
// tenant's events; no one who is not a member of the victim tenant can
// subscribe there.
func TestAdversarialFeedAcrossTenants(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		w := newIsoWorld(t, e)
		a := newAdv(e)
		listening := map[string]*feedClient{}
		for _, c := range w.callers {
			if c.anonymous || c.role == "" {
				advRefusedSocket(t, e, map[string]any{"Authorization": "Bearer " + c.caller.Token, "X-Tenant-Slug": "attacker"})
				continue
			}
			n := subscribers(t, e)
			listening[c.name] = read(dialFeed(t, wsURL(e.URL), initPayload(c.caller.Token, "attacker"), feedQuery, nil), 64)
			waitSubscribers(t, e, n+1, 5*time.Second)
		}
		for _, c := range w.callers {
			for _, in := range []map[string]any{
				{"Authorization": "Bearer " + c.caller.Token, "X-Tenant-Slug": "victim"},
				{"Authorization": "Bearer " + c.caller.Token, "X-Tenant-ID": w.victimID},
			} {
				if c.name == "member of both tenants" {
					continue // a member there may listen there
				}
				advRefusedSocket(t, e, in)
			}
		}

		// The victim tenant notifies each of its members, the one shared
		// with the attacker tenant included.
		vc := w.victimOwner.Caller("victim")
		for _, u := range w.victim["User"] {
			createAssignedTask(t, e, vc, w.victim["Project"][0], isoSecret+" assigned", u)
		}
		shared := w.own["User"][1] // a member of both tenants
		createAssignedTask(t, e, vc, w.victim["Project"][0], isoSecret+" for the shared member", shared)
		e.CreateComment(vc, w.victim["Task"][0], isoSecret+" comment")
		e.Transition(vc, w.victim["Project"][0], "SUBMITTED")
		silence(t, 300*time.Millisecond, listening)

		// The feeds are live: the attacker tenant's own event arrives.
		a.do(t, w.callers[0].caller, `mutation($p: ID!, $u: ID) { createTask(input: {projectID: $p, title: "own", assigneeID: $u}) { id } }`,
			map[string]any{"p": w.own["Project"][0], "u": shared})
		if got := listening["member of both tenants"].next(t, 2*time.Second); got.Title == "" {
			t.Errorf("the attacker tenant's own notification: got %+v", got)
		}
		silence(t, 100*time.Millisecond, listening)
		a.finish(t)
	})
}
