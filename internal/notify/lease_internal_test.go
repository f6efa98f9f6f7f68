package notify

import (
	"testing"
	"time"
)

// The lease, configured or not, outlasts a batch's worst case: the claim,
// every worker's share of the batch, each entry taking its whole send and
// record bounds, and the slack for clocks. Otherwise the last entries of a
// slow batch would be handed back at every claim, or all of a batch.
func TestDefaultLeaseOutlastsABatch(t *testing.T) {
	for _, cfg := range []DispatcherConfig{
		{},
		{BatchSize: 5, SendTimeout: 30 * time.Second},
		{BatchSize: 1},
		{BatchSize: 100, SendTimeout: time.Second},
		{Lease: time.Second},
		{Lease: time.Minute, BatchSize: 5},
	} {
		cfg.defaults()
		waves := (cfg.BatchSize + workers - 1) / workers
		worst := time.Duration(waves) * (cfg.SendTimeout + recordTimeout)
		if cfg.Lease < leaseSlack+worst+leaseSlack {
			t.Errorf("batch %d, send timeout %v: lease %v, want at least %v", cfg.BatchSize, cfg.SendTimeout, cfg.Lease, leaseSlack+worst+leaseSlack)
		}
	}
	var cfg DispatcherConfig
	cfg.defaults()
	if cfg.Lease != 85*time.Second {
		t.Errorf("the default lease: got %v, want 85s (the README says so)", cfg.Lease)
	}
}
