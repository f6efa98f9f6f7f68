package notify

import (
	"context"
	"fmt"

	"tenantgraph/ent"
	"tenantgraph/ent/outboxentry"
	"tenantgraph/ent/privacy"
	"tenantgraph/internal/metrics"
)

// Backlogs counts the outbox by channel across tenants (system work, for
// the metrics' gauges), in one statement; every channel is present, empty
// ones with zeros. IN_APP entries are large broadcasts' shares of in-app
// rows, written after their change commits (shares.go).
func Backlogs(ctx context.Context, c *ent.Client) (map[string]metrics.Outbox, error) {
	var rows []struct {
		Channel string             `json:"channel"`
		Status  outboxentry.Status `json:"status"`
		Count   int                `json:"count"`
	}
	err := c.OutboxEntry.Query().
		Where(outboxentry.StatusIn(outboxentry.StatusPENDING, outboxentry.StatusFAILED)).
		GroupBy(outboxentry.FieldChannel, outboxentry.FieldStatus).
		Aggregate(ent.Count()).
		Scan(privacy.DecisionContext(ctx, privacy.Allow), &rows)
	if err != nil {
		return nil, fmt.Errorf("outbox: counting the backlog: %w", err)
	}
	out := make(map[string]metrics.Outbox, len(Channels))
	for _, ch := range Channels {
		out[ch] = metrics.Outbox{}
	}
	for _, r := range rows {
		b := out[r.Channel]
		if r.Status == outboxentry.StatusPENDING {
			b.Pending = r.Count
		} else {
			b.Failed = r.Count
		}
		out[r.Channel] = b
	}
	return out, nil
}
