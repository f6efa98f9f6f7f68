package graph

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"tenantgraph/ent"
	"tenantgraph/ent/notification"
	"tenantgraph/ent/privacy"
	"tenantgraph/ent/project"
	"tenantgraph/ent/task"
)

// feedHub reads the notifications that live subscriptions are about to
// push, many at a time. One broadcast to a thousand subscribers (a project
// submitted in a large tenant) then costs a few queries instead of a
// thousand: the broker's deliveries queue here, and one goroutine, started
// when the queue fills from empty, reads them in batches of up to
// feedBatch IDs and pushes each row to its subscriber.
//
// A batch mixes recipients, so it cannot run as any one subscriber. It is
// system work: the query runs under privacy.Allow, and deliver then applies
// the Notification policy itself, handing a row over only to a subscriber
// who is its recipient in its tenant (graph/feed_loader_test.go forges
// events to prove it).
//
// The notifications this process has just written need no reading: the
// transaction extension hands them over on commit (remember), and the hub
// takes them from there, loading only their projects and tasks (one query
// each per batch). Rows written elsewhere (another instance, through
// PostgreSQL's NOTIFY) and rows remembered longer ago than feedWrittenFor
// are read.
type feedHub struct {
	client  *ent.Client
	log     *slog.Logger
	retries []time.Duration // waits before reading a failed batch again

	mu       sync.Mutex
	queue    []feedItem
	draining bool

	wmu     sync.Mutex
	written map[int]*ent.Notification // remembered rows, by ID
	order   []writtenAt               // the same, oldest first
}

type writtenAt struct {
	id int
	at time.Time
}

type feedItem struct {
	to *feedSubscriber
	id int
}

const (
	feedBatch   = 1000    // IDs per query: within every database's bind limit
	feedQueue   = 1 << 16 // deliveries waiting at most; past it, subscribers are dropped
	feedTimeout = 10 * time.Second
	// Remembered rows: at most feedWritten, none older than feedWrittenFor
	// (their read flag may have changed since; they are read instead). A
	// row with no subscriber here is never taken and waits out its time.
	feedWritten    = 1 << 16
	feedWrittenFor = 5 * time.Second
)

// feedRetries are the waits before a failed batch read is tried again:
// long enough to ride out a dropped connection or a failover's first
// seconds, short enough that the queue behind it stays small.
var feedRetries = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second}

func newFeedHub(c *ent.Client, log *slog.Logger) *feedHub {
	return &feedHub{client: c, log: log, retries: feedRetries, written: map[int]*ent.Notification{}}
}

// remember keeps rows this process has just committed, for the deliveries
// their events are about to queue. Call it before publishing them.
func (h *feedHub) remember(rows []*ent.Notification) {
	if len(rows) == 0 {
		return
	}
	now := time.Now()
	h.wmu.Lock()
	defer h.wmu.Unlock()
	h.forget(now)
	for _, n := range rows[max(0, len(rows)-feedWritten):] {
		if len(h.order) >= feedWritten {
			delete(h.written, h.order[0].id)
			h.order = h.order[1:]
		}
		h.written[n.ID] = n
		h.order = append(h.order, writtenAt{id: n.ID, at: now})
	}
}

// forget drops what was remembered longer than feedWrittenFor ago, and
// what has been taken. h.wmu is held.
func (h *feedHub) forget(now time.Time) {
	i := 0
	for ; i < len(h.order); i++ {
		w := h.order[i]
		if _, kept := h.written[w.id]; kept && now.Sub(w.at) < feedWrittenFor {
			break
		}
		delete(h.written, w.id)
	}
	h.order = h.order[i:]
	if len(h.order) == 0 {
		h.order = nil // let a large backing array go
	}
}

// takeWritten returns the remembered rows among ids, forgetting them, and
// the IDs that are to be read.
func (h *feedHub) takeWritten(ids []int) (found []*ent.Notification, missing []int) {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	if len(h.written) == 0 {
		return nil, ids
	}
	h.forget(time.Now())
	for _, id := range ids {
		if n, ok := h.written[id]; ok {
			found = append(found, n)
			delete(h.written, id)
		} else {
			missing = append(missing, id)
		}
	}
	return found, missing
}

// enqueue queues notification id for s. It is called from the broker's
// Publish and must not block; false (the queue is full: the database
// cannot keep up) drops s as a subscriber that fell behind.
func (h *feedHub) enqueue(s *feedSubscriber, id int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.queue) >= feedQueue {
		return false
	}
	h.queue = append(h.queue, feedItem{to: s, id: id})
	if !h.draining {
		h.draining = true
		go h.drain()
	}
	return true
}

// drain delivers the queue until it is empty. Only one drain runs at a
// time, so each subscriber gets its notifications in the order published.
func (h *feedHub) drain() {
	for {
		h.mu.Lock()
		items := h.queue
		h.queue = nil
		if len(items) == 0 {
			h.draining = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		for len(items) > 0 {
			n, ids := batchOf(items)
			h.deliverRecovering(items[:n], ids)
			items = items[n:]
		}
	}
}

// deliverRecovering is deliver, with a panic (a bug) logged and the
// items' subscriptions dropped, as after a failed read, rather than the
// process ended or, were it only recovered, the queue left draining for
// ever with nobody to drain it.
func (h *feedHub) deliverRecovering(items []feedItem, ids []int) {
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("delivering notifications to the live feed panicked; dropping their subscriptions",
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()), "notifications", len(ids))
			for _, it := range items {
				it.to.drop()
			}
		}
	}()
	h.deliver(items, ids)
}

// batchOf returns how many items from the start of items name at most
// feedBatch distinct notifications, and those notifications' IDs.
func batchOf(items []feedItem) (int, []int) {
	ids := make([]int, 0, min(len(items), feedBatch))
	seen := make(map[int]struct{}, cap(ids))
	for i, it := range items {
		if _, ok := seen[it.id]; !ok {
			if len(ids) == feedBatch {
				return i, ids
			}
			seen[it.id] = struct{}{}
			ids = append(ids, it.id)
		}
	}
	return len(items), ids
}

// deliver takes the items' notifications (ids) from those remembered and
// reads the others, in one query, then their projects and tasks (one
// query each), and pushes each to its subscriber if the subscriber is its
// recipient in its tenant.
//
// A failed read is tried again after feedRetries' waits. If it still fails,
// the items' subscriptions are dropped rather than left open without the
// notifications: the rows are committed and stay readable through the
// notifications query, and a client whose connection is closed with 1013
// reconnects, subscribes again and reads them.
func (h *feedHub) deliver(items []feedItem, ids []int) {
	count := len(ids)
	written, ids := h.takeWritten(ids)
	load := func() ([]*ent.Notification, error) {
		if err := h.loadEdges(written); err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return written, nil
		}
		read, err := h.read(ids)
		return append(slices.Clip(written), read...), err
	}
	ns, err := load()
	for _, wait := range h.retries {
		if err == nil {
			break
		}
		time.Sleep(wait)
		ns, err = load()
	}
	if err != nil {
		h.log.Error("loading notifications for the live feed; dropping their subscriptions", "error", err.Error(), "notifications", count)
		for _, it := range items {
			it.to.drop()
		}
		return
	}
	byID := make(map[int]*ent.Notification, len(ns))
	for _, n := range ns {
		byID[n.ID] = n
	}
	for _, it := range items {
		n := byID[it.id] // nil: gone since
		if n == nil || n.TenantID != it.to.tenantID || n.RecipientID != it.to.userID {
			continue
		}
		it.to.push(n)
	}
}

// loadEdges loads the projects and tasks of rows that were written here
// (their edges not loaded), as read's eager loading does for rows read.
func (h *feedHub) loadEdges(rows []*ent.Notification) error {
	if len(rows) == 0 {
		return nil
	}
	var projectIDs, taskIDs []int
	for _, n := range rows {
		if n.ProjectID != nil {
			projectIDs = append(projectIDs, *n.ProjectID)
		}
		if n.TaskID != nil {
			taskIDs = append(taskIDs, *n.TaskID)
		}
	}
	ctx, cancel := context.WithTimeout(privacy.DecisionContext(context.Background(), privacy.Allow), feedTimeout)
	defer cancel()
	projects, err := byID(projectIDs, func(ids []int) ([]*ent.Project, error) {
		return h.client.Project.Query().Where(project.IDIn(ids...)).All(ctx)
	}, func(p *ent.Project) int { return p.ID })
	if err != nil {
		return err
	}
	tasks, err := byID(taskIDs, func(ids []int) ([]*ent.Task, error) {
		return h.client.Task.Query().Where(task.IDIn(ids...)).All(ctx)
	}, func(t *ent.Task) int { return t.ID })
	if err != nil {
		return err
	}
	for _, n := range rows {
		var p *ent.Project
		if n.ProjectID != nil {
			p = projects[*n.ProjectID] // nil: deleted since
		}
		n.Edges.SetProject(p)
		var t *ent.Task
		if n.TaskID != nil {
			t = tasks[*n.TaskID]
		}
		n.Edges.SetTask(t)
	}
	return nil
}

// byID loads the distinct ids through load (none: no query) and returns
// what it found by ID.
func byID[T any](ids []int, load func([]int) ([]T, error), id func(T) int) (map[int]T, error) {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	found := make(map[int]T, len(ids))
	if len(ids) == 0 {
		return found, nil
	}
	all, err := load(ids)
	for _, v := range all {
		found[id(v)] = v
	}
	return found, err
}

func (h *feedHub) read(ids []int) ([]*ent.Notification, error) {
	ctx, cancel := context.WithTimeout(privacy.DecisionContext(context.Background(), privacy.Allow), feedTimeout)
	defer cancel()
	return h.client.Notification.Query().
		Where(notification.IDIn(ids...)).
		WithProject().WithTask().
		All(ctx)
}
