package notify_test

import (
	"slices"
	"testing"

	"tenantgraph/internal/notify"
	"tenantgraph/internal/workflow"
)

// The users of these tables: 1 created the project or task, 2 and 3 approve
// (MANAGER, OWNER), 4 is assigned, 9 is a bystander.
const (
	creator  = 1
	manager  = 2
	owner    = 3
	assignee = 4
	outsider = 9
)

type transitionCase struct {
	name      string
	to        workflow.Status
	approvers []int
	actor     int
	wantKind  string
	want      []int
}

func TestTransitionRecipients(t *testing.T) {
	approvers := []int{manager, owner}
	tests := []transitionCase{
		{"submitted by the creator goes to every approver", workflow.Submitted, approvers, creator, notify.KindProjectSubmitted, []int{manager, owner}},
		{"submitted by a manager leaves that manager out", workflow.Submitted, approvers, manager, notify.KindProjectSubmitted, []int{owner}},
		{"submitted by an owner leaves that owner out", workflow.Submitted, approvers, owner, notify.KindProjectSubmitted, []int{manager}},
		{"submitted by a creator who approves too", workflow.Submitted, []int{creator, owner}, creator, notify.KindProjectSubmitted, []int{owner}},
		{"submitted with the creator among the approvers notifies them once", workflow.Submitted, []int{manager, creator, manager}, outsider, notify.KindProjectSubmitted, []int{manager, creator}},
		{"submitted by the only approver notifies no one", workflow.Submitted, []int{owner}, owner, notify.KindProjectSubmitted, []int{}},
		{"submitted with no approvers notifies no one", workflow.Submitted, nil, creator, notify.KindProjectSubmitted, []int{}},
		// The creator hears of a submission only as an approver.
		{"submitted does not go to a creator who is no approver", workflow.Submitted, approvers, outsider, notify.KindProjectSubmitted, []int{manager, owner}},
	}
	for _, to := range []workflow.Status{workflow.Draft, workflow.Approved, workflow.Rejected, workflow.Active, workflow.Completed, workflow.Archived} {
		tests = append(tests,
			transitionCase{"moved to " + string(to) + " by another goes to the creator", to, approvers, manager, notify.KindProjectTransitioned, []int{creator}},
			transitionCase{"moved to " + string(to) + " by the creator notifies no one", to, approvers, creator, notify.KindProjectTransitioned, []int{}},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, got := notify.TransitionRecipients(tt.to, creator, tt.approvers, tt.actor)
			if kind != tt.wantKind {
				t.Errorf("kind: got %s, want %s", kind, tt.wantKind)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("recipients: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTransitionRecipientsIgnoreApproversUnlessSubmitted(t *testing.T) {
	_, got := notify.TransitionRecipients(workflow.Approved, creator, []int{manager, owner}, outsider)
	if !slices.Equal(got, []int{creator}) {
		t.Errorf("got %v, want only the creator %v", got, []int{creator})
	}
}

func TestAssignmentRecipients(t *testing.T) {
	tests := []struct {
		name            string
		assignee, actor int
		want            []int
	}{
		{"assigned by someone else", assignee, creator, []int{assignee}},
		{"assigning yourself", assignee, assignee, []int{}},
		{"no assignee", 0, creator, []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := notify.AssignmentRecipients(tt.assignee, tt.actor); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCommentRecipients(t *testing.T) {
	tests := []struct {
		name                     string
		taskCreator, assignee, a int
		want                     []int
	}{
		{"a third person comments", creator, assignee, outsider, []int{creator, assignee}},
		{"the creator comments", creator, assignee, creator, []int{assignee}},
		{"the assignee comments", creator, assignee, assignee, []int{creator}},
		{"creator and assignee are one person: notified once", creator, creator, outsider, []int{creator}},
		{"creator and assignee are the author: no one", creator, creator, creator, []int{}},
		{"no assignee", creator, 0, outsider, []int{creator}},
		{"no assignee, the creator comments", creator, 0, creator, []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := notify.CommentRecipients(tt.taskCreator, tt.assignee, tt.a)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if slices.Contains(got, tt.a) {
				t.Errorf("the author %d is among the recipients %v", tt.a, got)
			}
		})
	}
}

func TestMemberRecipients(t *testing.T) {
	tests := []struct {
		name         string
		added, actor int
		want         []int
	}{
		{"added by an owner", assignee, owner, []int{assignee}},
		// Creating a tenant makes its creator a member: no notification.
		{"adding yourself", owner, owner, []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := notify.MemberRecipients(tt.added, tt.actor); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
