package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"
)

// target is one endpoint driven by the load loop.
type target struct {
	name   string
	url    string
	body   []byte
	header http.Header
	// statements, when set, returns the SQL statements sent so far.
	statements func() int64
}

// result is one measured point.
type result struct {
	clients      int
	requests     int
	failures     int
	elapsed      time.Duration
	p50, p99     time.Duration
	mean         time.Duration
	bytes        int     // response size of the last good response
	mallocs      float64 // per request, the whole process (client side included)
	statements   float64 // per request; -1 when not counted
	firstFailure string
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        conns + 8,
		MaxIdleConnsPerHost: conns + 8,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}}
}

// do sends one request and reads the whole response into buf.
func do(client *http.Client, t target, buf *bytes.Buffer) (int, error) {
	req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(t.body))
	if err != nil {
		return 0, err
	}
	req.Header = t.header
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := io.Copy(buf, resp.Body); err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d: %.200s", resp.StatusCode, buf.Bytes())
	}
	return buf.Len(), nil
}

// drive runs clients concurrent request loops against t: warm-up unmeasured,
// then duration measured. wantSize, when positive, is the size every good
// response has (the data does not change during the run); a different size
// counts as a failure (such as an error response).
func drive(ctx context.Context, t target, clients int, warmup, duration time.Duration, wantSize int) result {
	client := newClient(clients)
	defer client.CloseIdleConnections()
	loop := func(d time.Duration, record bool) ([][]time.Duration, []int, []string) {
		deadline := time.Now().Add(d)
		lat := make([][]time.Duration, clients)
		fails := make([]int, clients)
		firstErr := make([]string, clients)
		var wg sync.WaitGroup
		for w := 0; w < clients; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				buf := bytes.NewBuffer(make([]byte, 0, 1<<20))
				if record {
					lat[w] = make([]time.Duration, 0, 4096)
				}
				for ctx.Err() == nil && time.Now().Before(deadline) {
					start := time.Now()
					n, err := do(client, t, buf)
					took := time.Since(start)
					if err == nil && wantSize > 0 && n != wantSize {
						err = fmt.Errorf("response of %d bytes, want %d: %.200s", n, wantSize, buf.Bytes())
					}
					if err != nil {
						fails[w]++
						if firstErr[w] == "" {
							firstErr[w] = err.Error()
						}
						continue
					}
					if record {
						lat[w] = append(lat[w], took)
					}
				}
			}(w)
		}
		wg.Wait()
		return lat, fails, firstErr
	}
	loop(warmup, false)

	r := result{clients: clients, statements: -1, bytes: wantSize}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var stmts0 int64
	if t.statements != nil {
		stmts0 = t.statements()
	}
	start := time.Now()
	lat, fails, firstErr := loop(duration, true)
	r.elapsed = time.Since(start)
	var stmts1 int64
	if t.statements != nil {
		stmts1 = t.statements()
	}
	runtime.ReadMemStats(&after)

	var all []time.Duration
	for w := range lat {
		all = append(all, lat[w]...)
		r.failures += fails[w]
		if r.firstFailure == "" {
			r.firstFailure = firstErr[w]
		}
	}
	r.requests = len(all)
	if r.requests == 0 {
		return r
	}
	slices.Sort(all)
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	r.mean = sum / time.Duration(len(all))
	r.p50 = percentile(all, 50)
	r.p99 = percentile(all, 99)
	total := float64(r.requests + r.failures)
	r.mallocs = float64(after.Mallocs-before.Mallocs) / total
	if t.statements != nil {
		r.statements = float64(stmts1-stmts0) / total
	}
	return r
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}
