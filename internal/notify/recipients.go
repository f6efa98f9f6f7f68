package notify

import "tenantgraph/internal/workflow"

// Kinds of notification.
const (
	KindProjectSubmitted    = "PROJECT_SUBMITTED"
	KindProjectTransitioned = "PROJECT_TRANSITIONED"
	KindTaskAssigned        = "TASK_ASSIGNED"
	KindCommentAdded        = "COMMENT_ADDED"
	KindMemberAdded         = "MEMBER_ADDED"
)

// Who hears about what. Every rule leaves out the actor: nobody is notified
// of their own change.

// TransitionRecipients: a project moved to SUBMITTED goes to every MANAGER
// and OWNER (approvers); any other move goes to the project's creator.
func TransitionRecipients(to workflow.Status, creatorID int, approverIDs []int, actorID int) (kind string, recipients []int) {
	if to == workflow.Submitted {
		return KindProjectSubmitted, without(actorID, approverIDs...)
	}
	return KindProjectTransitioned, without(actorID, creatorID)
}

// AssignmentRecipients: a task created with, or changed to, an assignee goes
// to the assignee.
func AssignmentRecipients(assigneeID, actorID int) []int { return without(actorID, assigneeID) }

// CommentRecipients: a comment goes to the task's creator and its assignee
// (0 when none), once each.
func CommentRecipients(taskCreatorID, assigneeID, actorID int) []int {
	return without(actorID, taskCreatorID, assigneeID)
}

// MemberRecipients: a new membership goes to the added user.
func MemberRecipients(addedUserID, actorID int) []int { return without(actorID, addedUserID) }

// without returns ids in order, once each, leaving out 0 and the actor.
func without(actorID int, ids ...int) []int {
	out := make([]int, 0, len(ids))
	seen := map[int]bool{}
	for _, id := range ids {
		if id == 0 || id == actorID || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}
