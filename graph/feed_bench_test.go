package graph_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"tenantgraph/ent"
	"tenantgraph/ent/membership"
	"tenantgraph/ent/notification"
	"tenantgraph/ent/privacy"
	"tenantgraph/graph"
	"tenantgraph/graph/graphtest"
	"tenantgraph/internal/globalid"
	"tenantgraph/internal/pubsub"
	"tenantgraph/internal/role"
	"tenantgraph/internal/server"
)

// One broadcast to many live subscribers: a project moved to SUBMITTED
// notifies every MANAGER of the tenant, each connected with its own
// websocket. TestFanOutThousandSubscribers asserts that all receive it;
// BenchmarkFanOut reports the delivery latency percentiles and the memory
// per connection.

// fanOutSubscribers is how many subscribers the fan-out test connects. The
// race detector allows 8,128 live goroutines, each connection takes about
// six (client and server in one process) and everything runs several times
// slower, so under -race it connects fewer.
// FANOUT_SUBSCRIBERS overrides it for the benchmark (e.g. 10000).
func fanOutSubscribers() int {
	if n, err := strconv.Atoi(os.Getenv("FANOUT_SUBSCRIBERS")); err == nil && n > 0 {
		return n
	}
	if raceEnabled() {
		return 250
	}
	return 1000
}

func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// fanOut is a tenant with n MANAGERs, each subscribed on its own
// connection, and an OWNER who broadcasts.
type fanOut struct {
	e        *graphtest.Env
	owner    graphtest.User
	tenant   int
	n        int
	conns    []*websocket.Conn // when the clients live in this process
	receipts chan receipt
	// heapPerConn and stackPerConn are what the idle connections hold: the
	// server's end only when the clients are in a child process, both ends
	// otherwise. heapPerConn counts the heap's pages in use (HeapInuse),
	// liveHeapPerConn only the live objects on them (the collector's
	// /gc/heap/live:bytes): the difference is pages partly filled, by the
	// connections' objects among the garbage made beside them while they
	// were set up, which later allocations fill.
	heapPerConn, liveHeapPerConn, stackPerConn float64
	// clientCPU is the child process's CPU time, in ns, as it last
	// reported it: after each broadcast it has wholly received.
	clientCPU atomic.Int64
}

// liveHeap is the heap's live bytes as the last collection marked them.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// clientPlacement says where a fan-out's websocket clients run.
type clientPlacement int

const (
	clientsHere         clientPlacement = iota // in this process, beside the server
	clientsInAnotherOne                        // in a child process (TestFanOutClientProcess)
)

// receipt is one subscriber's notification, or why its connection ended.
type receipt struct {
	at   time.Time
	kind string
	err  error
}

func newFanOut(tb testing.TB, e *graphtest.Env, n int, where clientPlacement) *fanOut {
	tb.Helper()
	if where == clientsHere {
		raiseFileLimit(tb, 2*n+256) // both ends of every connection, and some
	} else {
		raiseFileLimit(tb, n+256) // the child inherits the limit for its ends
	}
	if dir := os.Getenv("FANOUT_PROFILES"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		runtime.MemProfileRate = 1 // every allocation, for the heap profile
	}
	f := &fanOut{e: e, owner: e.Register("Owner"), n: n, receipts: make(chan receipt, n)}
	tenant, err := globalid.Decode(e.CreateTenant(f.owner, "crowd"))
	if err != nil {
		tb.Fatal(err)
	}
	f.tenant = tenant
	tokens := managers(tb, e, tenant, n)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	liveBefore := liveHeap()
	if where == clientsInAnotherOne {
		f.startClientProcess(tb, tokens)
	} else {
		f.dialHere(tb, tokens)
	}
	waitBroker(tb, e, n, 3*time.Minute) // FANOUT_PROFILES samples every allocation: slow
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	f.heapPerConn = float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / float64(n)
	f.liveHeapPerConn = float64(int64(liveHeap())-int64(liveBefore)) / float64(n)
	f.stackPerConn = float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n)
	if dir := os.Getenv("FANOUT_PROFILES"); dir != "" {
		for _, name := range []string{"heap", "goroutine"} {
			out, err := os.Create(filepath.Join(dir, "fanout-"+e.Dialect+"-"+name+".pprof"))
			if err != nil {
				tb.Fatal(err)
			}
			_ = pprof.Lookup(name).WriteTo(out, 0)
			_ = out.Close()
		}
		runtime.MemProfileRate = 512 << 10 // Go's default again, for what follows
	}
	for _, c := range f.conns {
		go f.read(c)
	}
	return f
}

// dialHere connects every subscriber from this process.
func (f *fanOut) dialHere(tb testing.TB, tokens []string) {
	tb.Helper()
	e, n := f.e, f.n
	f.conns = make([]*websocket.Conn, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, token := range tokens {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			conn, err := dialSubscriber(wsURL(e.URL), token)
			if err != nil {
				errs <- fmt.Errorf("subscriber %d: %w", i, err)
				return
			}
			f.conns[i] = conn
		})
	}
	wg.Wait()
	tb.Cleanup(func() {
		for _, c := range f.conns {
			if c != nil {
				c.CloseNow()
			}
		}
	})
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

// startClientProcess runs the subscribers in a child process (this test
// binary, running TestFanOutClientProcess), so that this process holds only
// the server's ends: its memory is the server's, and each process needs
// only one file per connection. The child reports each notification as a
// line "fanout next <unix ns> <kind>".
func (f *fanOut) startClientProcess(tb testing.TB, tokens []string) {
	tb.Helper()
	file := filepath.Join(tb.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte(strings.Join(tokens, "\n")), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFanOutClientProcess$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), "FANOUT_CLIENT_URL="+wsURL(f.e.URL), "FANOUT_CLIENT_TOKENS="+file)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan error, 1)
	go func() {
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			fields := strings.Fields(lines.Text())
			switch {
			case len(fields) == 2 && fields[0] == "fanout" && fields[1] == "ready":
				ready <- nil
			case len(fields) >= 3 && fields[0] == "fanout" && fields[1] == "error":
				err := errors.New(strings.Join(fields[2:], " "))
				select {
				case ready <- err:
				default:
					f.receipts <- receipt{err: err}
				}
			case len(fields) == 3 && fields[0] == "fanout" && fields[1] == "cpu":
				ns, err := strconv.ParseInt(fields[2], 10, 64)
				if err == nil {
					f.clientCPU.Store(ns)
				}
			case len(fields) == 4 && fields[0] == "fanout" && fields[1] == "next":
				ns, err := strconv.ParseInt(fields[2], 10, 64)
				f.receipts <- receipt{at: time.Unix(0, ns), kind: fields[3], err: err}
			}
		}
		select {
		case ready <- fmt.Errorf("the client process ended (%v)", lines.Err()):
		default:
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			tb.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		tb.Fatal("the client process did not connect its subscribers within 2 minutes")
	}
}

// TestFanOutClientProcess is the child process of startClientProcess; run
// by itself it does nothing.
func TestFanOutClientProcess(t *testing.T) {
	url, file := os.Getenv("FANOUT_CLIENT_URL"), os.Getenv("FANOUT_CLIENT_TOKENS")
	if url == "" || file == "" {
		t.Skip("the child process of BenchmarkFanOut; not a test by itself")
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf("fanout "+format+"\n", args...)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		say("error %v", err)
		return
	}
	tokens := strings.Split(string(raw), "\n")
	if os.Getenv("FANOUT_CLIENT") != "websocket" && epollClientsAvailable {
		if err := runEpollClients(url, tokens, os.Stdout); err != nil {
			say("error %v", err)
		}
		return
	}
	conns := make([]*websocket.Conn, len(tokens))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	var failed sync.Once
	for i, token := range tokens {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			conn, err := dialSubscriber(url, token)
			if err != nil {
				failed.Do(func() { say("error subscriber %d: %v", i, err) })
				return
			}
			conns[i] = conn
		})
	}
	wg.Wait()
	say("cpu %d", processCPU()) // the baseline for the first broadcast's
	say("ready")
	f := &fanOut{receipts: make(chan receipt, len(conns))}
	for _, c := range conns {
		if c != nil {
			go f.read(c)
		}
	}
	// From here on the lines go through a buffer, written out whenever no
	// receipt is waiting: a write per line would cost this process, which
	// shares the machine with the server, a system call per message. The
	// times are taken as each message is read, not as its line is written.
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	received := 0
	for r := range f.receipts { // until the parent kills this process
		if r.err != nil {
			fmt.Fprintf(out, "fanout error %v\n", r.err)
		} else {
			fmt.Fprintf(out, "fanout next %d %s\n", r.at.UnixNano(), r.kind)
			if received++; received%len(conns) == 0 { // a whole broadcast: its CPU so far
				fmt.Fprintf(out, "fanout cpu %d\n", processCPU())
			}
		}
		if len(f.receipts) == 0 {
			if err := out.Flush(); err != nil {
				return
			}
		}
	}
}

// managers creates n users who are MANAGERs of the tenant, directly in the
// database (a thousand addMember calls would dominate the test), and returns
// their tokens.
func managers(tb testing.TB, e *graphtest.Env, tenant, n int) []string {
	tb.Helper()
	c := e.DB.Client
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	var tokens []string
	for start := 0; start < n; start += 250 {
		users := make([]*ent.UserCreate, min(250, n-start))
		for i := range users {
			users[i] = c.User.Create().SetEmail(fmt.Sprintf("manager%04d@example.test", start+i)).
				SetName(fmt.Sprint("Manager ", start+i)).SetPasswordHash("not a login")
		}
		created, err := c.User.CreateBulk(users...).Save(ctx)
		if err != nil {
			tb.Fatalf("creating users: %v", err)
		}
		members := make([]*ent.MembershipCreate, len(created))
		for i, u := range created {
			members[i] = c.Membership.Create().SetTenantID(tenant).SetUserID(u.ID).SetRole(role.Manager)
		}
		if err := c.Membership.CreateBulk(members...).Exec(ctx); err != nil {
			tb.Fatalf("creating memberships: %v", err)
		}
		for _, u := range created {
			token, _, err := e.Tokens.Issue(u.ID)
			if err != nil {
				tb.Fatal(err)
			}
			tokens = append(tokens, token)
		}
	}
	return tokens
}

// dialSubscriber connects and subscribes to the feed in the tenant "crowd".
func dialSubscriber(url, token string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, err
	}
	var ack wsMessage
	err = wsjson.Write(ctx, conn, map[string]any{"type": "connection_init", "payload": initPayload(token, "crowd")})
	if err == nil {
		err = wsjson.Read(ctx, conn, &ack)
	}
	if err == nil && ack.Type != "connection_ack" {
		err = fmt.Errorf("got %q, want connection_ack", ack.Type)
	}
	if err == nil {
		err = wsjson.Write(ctx, conn, map[string]any{"id": "feed", "type": "subscribe", "payload": map[string]any{"query": feedQuery}})
	}
	if err != nil {
		conn.CloseNow()
		return nil, err
	}
	return conn, nil
}

// read reports every notification on conn until the connection ends.
func (f *fanOut) read(conn *websocket.Conn) {
	for {
		var m struct {
			Type    string
			Payload struct {
				Data struct{ NotificationAdded struct{ Kind string } }
			}
		}
		_, data, err := conn.Read(context.Background())
		if err != nil {
			return // closed at the end of the test
		}
		if err := json.Unmarshal(data, &m); err != nil {
			f.receipts <- receipt{err: fmt.Errorf("decoding %s: %w", data, err)}
			continue
		}
		switch m.Type {
		case "ping":
			_ = wsjson.Write(context.Background(), conn, map[string]any{"type": "pong"})
		case "next":
			f.receipts <- receipt{at: time.Now(), kind: m.Payload.Data.NotificationAdded.Kind}
		default:
			f.receipts <- receipt{err: fmt.Errorf("got a %q message: %s", m.Type, data)}
		}
	}
}

// broadcast submits a new project, which notifies every subscriber, and
// returns each one's latency from the start of the mutation, and how long
// the mutation took to answer, failing unless all receive exactly one
// PROJECT_SUBMITTED within the deadline.
func (f *fanOut) broadcast(tb testing.TB, name string, within time.Duration) (latencies []time.Duration, mutation time.Duration) {
	tb.Helper()
	project := f.e.CreateProject(f.owner.Caller("crowd"), name)
	start := time.Now()
	f.e.Transition(f.owner.Caller("crowd"), project, "SUBMITTED")
	mutation = time.Since(start)
	return f.collect(tb, start, within), mutation
}

// collect waits for every subscriber's receipt of one broadcast started at
// start and returns their latencies, failing unless all receive exactly one
// PROJECT_SUBMITTED within the deadline.
func (f *fanOut) collect(tb testing.TB, start time.Time, within time.Duration) []time.Duration {
	tb.Helper()
	latencies := make([]time.Duration, 0, f.n)
	deadline := time.After(within)
	for len(latencies) < f.n {
		select {
		case r := <-f.receipts:
			if r.err != nil {
				tb.Fatal(r.err)
			}
			if r.kind != "PROJECT_SUBMITTED" {
				tb.Fatalf("got a %s notification, want PROJECT_SUBMITTED", r.kind)
			}
			latencies = append(latencies, r.at.Sub(start))
		case <-deadline:
			tb.Fatalf("%d of %d subscribers received the broadcast within %s", len(latencies), f.n, within)
		}
	}
	return latencies
}

// clientCPUAfter waits for the client process to report its CPU time
// after a broadcast (the line follows its last receipt) and returns it.
func (f *fanOut) clientCPUAfter(tb testing.TB, was int64) int64 {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if now := f.clientCPU.Load(); now != was {
			return now
		}
	}
	tb.Fatal("the client process did not report its CPU time after the broadcast")
	return 0
}

// percentile returns the p-th percentile of sorted durations, in ms.
func percentile(sorted []time.Duration, p float64) float64 {
	i := min(len(sorted)-1, int(float64(len(sorted))*p/100))
	return float64(sorted[i]) / float64(time.Millisecond)
}

// waitBroker is waitSubscribers for a testing.TB.
func waitBroker(tb testing.TB, e *graphtest.Env, want int, within time.Duration) {
	tb.Helper()
	b, ok := e.Broker.(interface{ Subscribers() int })
	if !ok {
		tb.Fatalf("broker %T cannot count its subscribers", e.Broker)
	}
	deadline := time.Now().Add(within)
	for got := b.Subscribers(); got != want; got = b.Subscribers() {
		if time.Now().After(deadline) {
			tb.Fatalf("broker subscribers: got %d, want %d within %s", got, want, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFanOutThousandSubscribers(t *testing.T) {
	graphtest.Run(t, func(t *testing.T, e *graphtest.Env) {
		n := fanOutSubscribers()
		setup := time.Now()
		f := newFanOut(t, e, n, clientsHere)
		t.Logf("%d subscribers connected in %s; idle, each holds %.1f KiB of heap and %.1f KiB of stack (client and server ends)",
			n, time.Since(setup).Round(time.Millisecond), f.heapPerConn/1024, f.stackPerConn/1024)

		latencies, _ := f.broadcast(t, "Broadcast", 20*time.Second)
		slices.Sort(latencies)
		t.Logf("delivery latency over %d subscribers: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms",
			n, percentile(latencies, 50), percentile(latencies, 95), percentile(latencies, 99), percentile(latencies, 100))
		// Each one exactly once: nothing more arrives.
		select {
		case r := <-f.receipts:
			t.Errorf("after everyone had theirs: got %+v, want nothing", r)
		case <-time.After(300 * time.Millisecond):
		}
		if f.heapPerConn+f.stackPerConn > 512<<10 {
			t.Errorf("memory per idle connection: got %.0f KiB, want well under 512 KiB", (f.heapPerConn+f.stackPerConn)/1024)
		}
	})
}

// profileCPU writes a CPU profile of the server process to name in
// $FANOUT_PROFILES until stop is called; without FANOUT_PROFILES it does
// nothing. Unlike -cpuprofile, it leaves out connecting the subscribers.
func profileCPU(tb testing.TB, name string) (stop func()) {
	dir := os.Getenv("FANOUT_PROFILES")
	if dir == "" {
		return func() {}
	}
	out, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		tb.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = out.Close()
	}
}

// BenchmarkFanOut measures one broadcast to fanOutSubscribers() live
// subscribers per op: latency percentiles from the start of the mutation to
// each receipt, how long the mutation took to answer, the CPU time one
// broadcast costs the server process and the client process, and the
// memory each idle connection holds in the server. The clients run in a
// child process, so this process holds only the server's ends. On Linux
// they are the epoll client (fanout_epoll_linux_test.go): a receipt is
// timed by the kernel as the message reaches the subscriber's socket, and
// the clients cost a few µs per message; FANOUT_CLIENT=websocket runs
// coder/websocket clients instead, timed as each reads and decodes its
// message (about 46 µs of CPU per message, which competes with the server
// for this machine's cores), as the rounds before the ninth measured.
// (The server process's CPU includes the test's reading of the child's
// report lines, one per receipt.) SQLite always; PostgreSQL too
// when TEST_DATABASE_URL is set. FANOUT_SUBSCRIBERS=10000 for the large run;
// FANOUT_PROFILES=<dir> writes profiles there: the heap and goroutines of
// the idle connections (every allocation sampled, which slows the run) and
// the CPU during the broadcasts.
//
//	go test ./graph/ -run '^$' -bench BenchmarkFanOut -benchtime 5x
func BenchmarkFanOut(b *testing.B) {
	server.TuneGC(os.Getenv, nil) // as cmd/server runs
	for _, d := range graphtest.Dialects(b) {
		b.Run(d, func(b *testing.B) {
			n := fanOutSubscribers()
			// No spans, as cmd/server runs without an OTLP endpoint; the log
			// lines written and dropped, as a server's standard output
			// keeps none of them.
			e := graphtest.NewWithOptions(b, d, graphtest.Options{Untraced: true, LogOutput: io.Discard})
			f := newFanOut(b, e, n, clientsInAnotherOne)
			var all []time.Duration
			var mutations, serverCPU, clientCPU time.Duration
			stop := profileCPU(b, "fanout-"+d+"-cpu.pprof")
			for i := 0; b.Loop(); i++ { // b.Loop: the setup above runs once
				cpu, clientWas := processCPU(), f.clientCPU.Load()
				latencies, mutation := f.broadcast(b, fmt.Sprint("Broadcast ", i), time.Minute)
				if testing.Verbose() {
					slices.Sort(latencies)
					b.Logf("broadcast %d: mutation %s; delivered first %.1f ms, p50 %.1f ms, p99 %.1f ms, last %.1f ms", i,
						mutation.Round(time.Millisecond), percentile(latencies, 0), percentile(latencies, 50), percentile(latencies, 99), percentile(latencies, 100))
				}
				serverCPU += time.Duration(processCPU() - cpu)
				clientCPU += time.Duration(f.clientCPUAfter(b, clientWas) - clientWas)
				all = append(all, latencies...)
				mutations += mutation
			}
			stop()
			reportDeliveries(b, n, all, serverCPU, clientCPU)
			b.ReportMetric(float64(mutations)/float64(time.Millisecond)/float64(b.N), "mutation-ms")
			b.ReportMetric(f.heapPerConn, "heap-B/conn")
			b.ReportMetric(f.heapPerConn+f.stackPerConn, "mem-B/conn")
			b.ReportMetric(f.liveHeapPerConn+f.stackPerConn, "live-B/conn")
		})
	}
}

// BenchmarkFanOutDelivery is BenchmarkFanOut without the database's part:
// each op first writes a PROJECT_SUBMITTED notification for every
// subscriber (not timed), then, timed from there, hands the rows to the
// live feed and publishes their events through the broker, as a committed
// share does, and times each receipt. The hub pushes the rows as it got
// them, loading nothing (the rows have no project or task);
// FANOUT_READ_BACK=1 leaves them out, so that the hub reads them back in
// batches, as it does for rows another instance wrote. It is the floor of
// delivery on the machine it runs on: what a broadcast costs once its rows
// are written, which BenchmarkFanOut's p99 cannot go below however cheaply
// the rows are written (docs/BENCHMARKS.md, twenty-fourth round).
//
//	FANOUT_SUBSCRIBERS=10000 go test ./graph/ -run '^$' -bench BenchmarkFanOutDelivery -benchtime 3x
func BenchmarkFanOutDelivery(b *testing.B) {
	server.TuneGC(os.Getenv, nil)
	for _, d := range graphtest.Dialects(b) {
		b.Run(d, func(b *testing.B) {
			n := fanOutSubscribers()
			e := graphtest.NewWithOptions(b, d, graphtest.Options{Untraced: true, LogOutput: io.Discard})
			f := newFanOut(b, e, n, clientsInAnotherOne)
			ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
			c := e.DB.Client
			recipients, err := c.Membership.Query().
				Where(membership.TenantID(f.tenant), membership.RoleEQ(role.Manager)).
				Select(membership.FieldUserID).Ints(ctx)
			if err != nil || len(recipients) != n {
				b.Fatalf("the subscribers' user IDs: got %d (%v), want %d", len(recipients), err, n)
			}
			var all []time.Duration
			var serverCPU, clientCPU time.Duration
			readBack := os.Getenv("FANOUT_READ_BACK") == "1"
			stop := profileCPU(b, "fanout-delivery-"+d+"-cpu.pprof") // includes writing the rows
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				events := make([]pubsub.Event, 0, n)
				var remembered []*ent.Notification
				for ids := range slices.Chunk(recipients, 1000) {
					rows := make([]*ent.NotificationCreate, len(ids))
					for j, id := range ids {
						rows[j] = c.Notification.Create().SetTenantID(f.tenant).SetRecipientID(id).
							SetKind(notification.KindPROJECT_SUBMITTED).SetTitle(fmt.Sprint("Broadcast ", i)).SetBody("")
					}
					written, err := c.Notification.CreateBulk(rows...).Save(ctx)
					if err != nil {
						b.Fatalf("writing the notifications: %v", err)
					}
					for _, row := range written {
						events = append(events, pubsub.Event{TenantID: f.tenant, UserID: row.RecipientID, NotificationID: row.ID})
					}
					if !readBack {
						remembered = append(remembered, written...)
					}
				}
				b.StartTimer()
				cpu, clientWas := processCPU(), f.clientCPU.Load()
				start := time.Now()
				graph.RememberNotifications(e.GraphQL, remembered)
				if err := e.Broker.Publish(ctx, events...); err != nil {
					b.Fatalf("publishing: %v", err)
				}
				all = append(all, f.collect(b, start, time.Minute)...)
				serverCPU += time.Duration(processCPU() - cpu)
				clientCPU += time.Duration(f.clientCPUAfter(b, clientWas) - clientWas)
			}
			stop()
			reportDeliveries(b, n, all, serverCPU, clientCPU)
		})
	}
}

// reportDeliveries reports what both fan-out benchmarks measure of b.N
// broadcasts to n subscribers: the latency percentiles over every receipt
// (all, sorted here), and the server's and the clients' CPU per broadcast.
func reportDeliveries(b *testing.B, n int, all []time.Duration, serverCPU, clientCPU time.Duration) {
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(b.N) }
	b.ReportMetric(ms(serverCPU), "server-cpu-ms")
	b.ReportMetric(ms(clientCPU), "client-cpu-ms")
	b.ReportMetric(float64(n), "subscribers")
	b.ReportMetric(percentile(all, 0), "first-ms")
	b.ReportMetric(percentile(all, 50), "p50-ms")
	b.ReportMetric(percentile(all, 95), "p95-ms")
	b.ReportMetric(percentile(all, 99), "p99-ms")
}
