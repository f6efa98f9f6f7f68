package graph

import (
	"slices"
	"testing"
)

// The feed hub's queue is bounded: while the database is too slow to drain
// it, a delivery past feedQueue is refused (the broker then drops that
// subscriber, as one that fell behind) instead of growing without end.
func TestFeedHubQueueIsBounded(t *testing.T) {
	h := newFeedHub(nil, nil)
	h.draining = true // a drain is running and stuck: nothing leaves the queue
	s := &feedSubscriber{}
	for i := range feedQueue {
		if !h.enqueue(s, i) {
			t.Fatalf("delivery %d refused, want queued (the bound is %d)", i, feedQueue)
		}
	}
	if h.enqueue(s, feedQueue) {
		t.Fatalf("delivery %d queued, want refused past the bound", feedQueue)
	}
	if len(h.queue) != feedQueue {
		t.Fatalf("queue length %d, want %d", len(h.queue), feedQueue)
	}
}

// batchOf cuts a run of deliveries so that one query names at most
// feedBatch notifications, however many subscribers share them.
func TestFeedHubBatches(t *testing.T) {
	var items []feedItem
	for i := range feedBatch + 5 { // each notification twice, to two subscribers
		items = append(items, feedItem{id: i}, feedItem{id: i})
	}
	var sizes []int
	for len(items) > 0 {
		n := batchOf(items)
		distinct := map[int]bool{}
		for _, it := range items[:n] {
			distinct[it.id] = true
		}
		if len(distinct) > feedBatch {
			t.Fatalf("a batch names %d notifications, want at most %d", len(distinct), feedBatch)
		}
		sizes = append(sizes, len(distinct))
		items = items[n:]
	}
	if want := []int{feedBatch, 5}; !slices.Equal(sizes, want) {
		t.Fatalf("batches of %v notifications, want %v", sizes, want)
	}
}
