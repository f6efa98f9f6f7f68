package metrics_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"tenantgraph/internal/metrics"
)

// TestOutboxGauges: the backlog is reported by channel, and a scrape whose
// backlog could not be read (a nil answer) leaves the outbox gauges out
// rather than reporting a false zero.
func TestOutboxGauges(t *testing.T) {
	var answer map[string]metrics.Outbox
	m := metrics.New(nil, func() map[string]metrics.Outbox { return answer })

	answer = map[string]metrics.Outbox{"SLACK": {Pending: 2, Failed: 1}, "EMAIL": {}}
	want := `
# HELP tenantgraph_outbox_failed Outbox entries that failed for good, by channel.
# TYPE tenantgraph_outbox_failed gauge
tenantgraph_outbox_failed{channel="EMAIL"} 0
tenantgraph_outbox_failed{channel="SLACK"} 1
# HELP tenantgraph_outbox_pending Outbox entries waiting for delivery, by channel (IN_APP: a large broadcast's shares).
# TYPE tenantgraph_outbox_pending gauge
tenantgraph_outbox_pending{channel="EMAIL"} 0
tenantgraph_outbox_pending{channel="SLACK"} 2
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "tenantgraph_outbox_pending", "tenantgraph_outbox_failed"); err != nil {
		t.Error(err)
	}

	answer = nil
	if n, err := testutil.GatherAndCount(m.Registry, "tenantgraph_outbox_pending", "tenantgraph_outbox_failed"); err != nil || n != 0 {
		t.Errorf("an unread backlog: got %d outbox series (%v), want none", n, err)
	}
}
