package graph_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"

	"tenantgraph/graph/graphtest"
)

// notificationOps are the contract's notification operations, exercised by
// TestContractNotifications rather than TestContractWalkthrough.
var notificationOps = map[string]bool{
	"Notifications": true, "MarkNotificationRead": true, "MarkAllNotificationsRead": true,
	"NotificationAdded": true, "UpdateTenantConfig": true,
}

// TestContractNotifications sends the contract's notification operations as
// written, the subscription over graphql-transport-ws, and checks them
// against their comments.
func TestContractNotifications(t *testing.T) {
	ops := contractOperations(t)
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		used := map[string]bool{}
		run := func(c graphtest.Caller, name string, vars map[string]any) *graphtest.Response {
			t.Helper()
			used[name] = true
			return e.Do(c, ops[name], vars)
		}
		owner, manager, member := e.Register("Olivia"), e.Register("Manny"), e.Register("Mel")
		e.CreateTenant(owner, "notes")
		e.AddMember(owner, "notes", manager, "MANAGER")
		e.AddMember(owner, "notes", member, "MEMBER")
		o, m, b := owner.Caller("notes"), manager.Caller("notes"), member.Caller("notes")

		// The member subscribes, exactly as the contract writes it.
		conn := wsDial(t, e, map[string]any{"Authorization": "Bearer " + member.Token, "X-Tenant-Slug": "notes"})
		if msg, err := wsRead(t, conn); err != nil || msg.Type != "connection_ack" {
			t.Fatalf("got %+v %v, want connection_ack", msg, err)
		}
		used["NotificationAdded"] = true
		if err := wsjson.Write(context.Background(), conn, map[string]any{"id": "feed", "type": "subscribe",
			"payload": map[string]any{"query": ops["NotificationAdded"], "operationName": "NotificationAdded"}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // let the subscription register before the event

		// Submitted by the member: the approvers are told; approved by the
		// manager: the creator is told, live.
		p := e.CreateProject(b, "Rocket")
		e.Transition(b, p, "SUBMITTED")
		e.Transition(m, p, "APPROVED")
		var pushed struct {
			Data struct {
				NotificationAdded struct {
					ID, Kind, Title string
					Read            bool
					Project         struct{ ID string }
				}
			}
		}
		// On PostgreSQL the member's own MEMBER_ADDED, committed before the
		// subscription, may reach the broker through LISTEN after it
		// registered (under the race detector, it has): the feed then
		// pushes it first, as it would any notification arriving live.
		for {
			msg, err := wsRead(t, conn)
			if err != nil || msg.Type != "next" {
				t.Fatalf("got %+v %v, want a pushed notification", msg, err)
			}
			if err := json.Unmarshal(msg.Payload, &pushed); err != nil {
				t.Fatal(err)
			}
			if pushed.Data.NotificationAdded.Kind != "MEMBER_ADDED" {
				break
			}
		}
		if got := pushed.Data.NotificationAdded; got.Kind != "PROJECT_TRANSITIONED" || got.Project.ID != p || got.Read {
			t.Errorf("pushed: got %+v, want an unread PROJECT_TRANSITIONED about the project", got)
		}

		type list struct {
			Notifications struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						ID, Kind string
						Read     bool
					}
				}
			}
			UnreadNotificationCount int
		}
		var mine list
		run(b, "Notifications", map[string]any{"first": 10}).Decode(t, &mine)
		if mine.Notifications.TotalCount != 2 || mine.UnreadNotificationCount != 2 ||
			mine.Notifications.Edges[0].Node.Kind != "PROJECT_TRANSITIONED" || mine.Notifications.Edges[1].Node.Kind != "MEMBER_ADDED" {
			t.Errorf("member's notifications: got %+v, want PROJECT_TRANSITIONED then MEMBER_ADDED, both unread", mine)
		}
		var approvers list
		run(o, "Notifications", map[string]any{"first": 10, "unreadOnly": true}).Decode(t, &approvers)
		if approvers.Notifications.TotalCount != 1 || approvers.Notifications.Edges[0].Node.Kind != "PROJECT_SUBMITTED" {
			t.Errorf("owner's notifications: got %+v, want one PROJECT_SUBMITTED", approvers)
		}

		var read struct {
			MarkNotificationRead struct {
				ID   string
				Read bool
			}
		}
		run(b, "MarkNotificationRead", map[string]any{"id": pushed.Data.NotificationAdded.ID}).Decode(t, &read)
		if !read.MarkNotificationRead.Read {
			t.Errorf("markNotificationRead: got %+v, want read", read)
		}
		if got := run(m, "MarkNotificationRead", map[string]any{"id": pushed.Data.NotificationAdded.ID}).Code(); got != "NOT_FOUND" {
			t.Errorf("marking someone else's notification: got %q, want NOT_FOUND", got)
		}
		var all struct{ MarkAllNotificationsRead int }
		run(b, "MarkAllNotificationsRead", nil).Decode(t, &all)
		if all.MarkAllNotificationsRead != 1 {
			t.Errorf("markAllNotificationsRead: got %d, want 1 (the MEMBER_ADDED one)", all.MarkAllNotificationsRead)
		}

		// Configuration: OWNER only; the webhook URL is an OWNER's secret.
		var cfg struct {
			UpdateTenantConfig struct {
				ID     string
				Config struct {
					NotificationChannels []string
					SlackWebhookURL      *string
				}
			}
		}
		run(o, "UpdateTenantConfig", map[string]any{"input": map[string]any{"notificationChannels": []string{"IN_APP", "EMAIL"}}}).Decode(t, &cfg)
		if got := cfg.UpdateTenantConfig.Config.NotificationChannels; len(got) != 2 || got[1] != "EMAIL" {
			t.Errorf("channels: got %v, want [IN_APP EMAIL]", got)
		}
		if got := run(m, "UpdateTenantConfig", map[string]any{"input": map[string]any{"notificationChannels": []string{"IN_APP"}}}).Code(); got != "FORBIDDEN" {
			t.Errorf("a MANAGER updating the configuration: got %q, want FORBIDDEN", got)
		}
		for _, bad := range []string{"http://hooks.slack.test/x", "https://10.1.2.3/hook", "https://169.254.169.254/latest", "https://[::1]:1/x", "not a url"} {
			r := run(o, "UpdateTenantConfig", map[string]any{"input": map[string]any{"notificationChannels": []string{"SLACK"}, "slackWebhookURL": bad}})
			// The test server allows loopback (tests post to local servers): [::1] passes there.
			if bad == "https://[::1]:1/x" {
				continue
			}
			if r.Code() != "BAD_USER_INPUT" {
				t.Errorf("webhook %q: got %q, want BAD_USER_INPUT", bad, r.Code())
			}
		}
		r := e.Do(m, `{ currentTenant { config { notificationChannels slackWebhookURL } } }`, nil)
		if r.Code() != "FORBIDDEN" {
			t.Errorf("a MANAGER reading the webhook URL: got %q, want FORBIDDEN", r.Code())
		}
		if r := e.Do(m, `{ currentTenant { config { notificationChannels } } }`, nil); r.Code() != "" {
			t.Errorf("a MANAGER reading the channels: got %+v, want them", r.Errors)
		}

		for name := range notificationOps {
			if !used[name] {
				t.Errorf("contract operation %s is not exercised", name)
			}
		}
	})
}
