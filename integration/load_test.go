package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// load is a set of workers, each owning keysPerWorker keys, each looping SET (a new value) then
// GET (checking it reads that value back). It records every error by kind and, per key, the last
// acknowledged value and the values whose write failed after it may have run.
type load struct {
	cl      *api.Cluster
	workers []*worker
	stop    chan struct{}
	wg      sync.WaitGroup
	ops     atomic.Int64
	sent    atomic.Int64 // commands the workers sent, after the keys were set up
	setUp   int          // SETs made before the workers started, one per key
}

type worker struct {
	id    int
	names []string   // the worker's keys; never changed after start, so anyone may read them
	keys  []keyState // owned by the worker goroutine; read by the test only after halt
	rng   *rand.Rand

	mu       sync.Mutex // guards what the test reads while the worker runs
	errs     map[string]int
	lastErr  time.Time
	wrong    int           // GETs that returned a value other than the last one acknowledged
	maxWait  time.Duration // the slowest command
	lastSlow time.Time     // when the last command slower than slowOp completed
	timeline []event       // failed operations, with when they completed
}

type keyState struct {
	name  string
	acked string // last value a SET was acknowledged for
	// maybe holds the values whose SET failed: they may have landed, and at any time, even after
	// a later SET was acknowledged. Bytes written on a connection the client has given up on can
	// still reach the server late: a proxy that stopped reading (the slow-reader fault) forwards
	// what its socket buffered once the fault ends, on its own server connection, concurrently
	// with the commands of the client's new connection.
	maybe map[string]bool
}

type event struct {
	at   time.Time
	kind string
}

const keysPerWorker = 16

// slowOp is how long a command may take before it counts as held up by a fault.
const slowOp = 200 * time.Millisecond

func startLoad(t *testing.T, cl *api.Cluster, workers int) *load {
	t.Helper()
	l := &load{cl: cl, stop: make(chan struct{})}
	ctx := context.Background()
	for w := 0; w < workers; w++ {
		wk := &worker{id: w, errs: map[string]int{}, rng: rand.New(rand.NewPCG(uint64(w), 7))}
		for k := 0; k < keysPerWorker; k++ {
			name := fmt.Sprintf("load:%d:%d", w, k)
			value := "init-" + name
			require.NoError(t, cl.Set(ctx, name, value))
			wk.keys = append(wk.keys, keyState{name: name, acked: value})
			wk.names = append(wk.names, name)
		}
		l.workers = append(l.workers, wk)
	}
	l.setUp = workers * keysPerWorker
	for _, wk := range l.workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			wk.run(l)
		}()
	}
	return l
}

func (w *worker) run(l *load) {
	for seq := 0; ; seq++ {
		select {
		case <-l.stop:
			return
		default:
		}
		k := &w.keys[w.rng.IntN(len(w.keys))]
		value := strconv.Itoa(w.id) + "-" + strconv.Itoa(seq)
		start := time.Now()
		l.sent.Add(1)
		_, err := l.cl.Send(api.Cmd("SET", k.name, value)).Await()
		w.observe(start, "SET", err)
		if errors.Is(err, api.ErrClientClosed) {
			return // the client was closed under the load: this worker is done
		}
		if err != nil {
			if k.maybe == nil {
				k.maybe = map[string]bool{}
			}
			k.maybe[value] = true
			continue
		}
		k.acked = value
		start = time.Now()
		l.sent.Add(1)
		v, err := l.cl.Send(api.Cmd("GET", k.name)).Await()
		w.observe(start, "GET", err)
		if errors.Is(err, api.ErrClientClosed) {
			return
		}
		if err == nil && v.String() != value {
			w.mu.Lock()
			w.wrong++
			w.mu.Unlock()
		}
		l.ops.Add(2)
	}
}

func (w *worker) observe(start time.Time, op string, err error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.maxWait = max(w.maxWait, now.Sub(start))
	if now.Sub(start) > slowOp {
		w.lastSlow = now
	}
	if err == nil {
		return
	}
	kind := op + " " + kindOf(err)
	w.errs[kind]++
	w.lastErr = now
	w.timeline = append(w.timeline, event{at: now, kind: kind})
}

// kindOf names an error for the report.
func kindOf(err error) string {
	var se *resp.Error
	var ce *node.ConnError
	switch {
	case errors.As(err, &ce) && ce.Written:
		return "connection lost after write (may have run)"
	case errors.As(err, &ce):
		return "connection lost before write"
	case errors.Is(err, api.ErrTimeout):
		return "timeout"
	case errors.Is(err, api.ErrMaxRedirections):
		return "too many redirections"
	case errors.Is(err, api.ErrClientClosed):
		return "client closed"
	case errors.As(err, &se):
		return "server " + se.Prefix
	}
	return "other: " + err.Error()
}

// halt stops the workers and waits for them: every command they sent has completed.
func (l *load) halt() {
	close(l.stop)
	l.wg.Wait()
}

// report is what a scenario measured.
type report struct {
	ops        int64
	errs       map[string]int
	wrong      int
	maxWait    time.Duration
	lastErr    time.Time
	lastSlow   time.Time
	checked    int // keys read back after the load
	lost       int // keys whose acknowledged value was not there, nor any value that may have landed
	unsettled  int // keys holding a value whose write had failed (it ran after all)
	firstError time.Time
}

func (l *load) report() report {
	r := report{ops: l.ops.Load(), errs: map[string]int{}}
	for _, w := range l.workers {
		w.mu.Lock()
		for k, n := range w.errs {
			r.errs[k] += n
		}
		r.wrong += w.wrong
		r.maxWait = max(r.maxWait, w.maxWait)
		if w.lastErr.After(r.lastErr) {
			r.lastErr = w.lastErr
		}
		if w.lastSlow.After(r.lastSlow) {
			r.lastSlow = w.lastSlow
		}
		for _, e := range w.timeline {
			if r.firstError.IsZero() || e.at.Before(r.firstError) {
				r.firstError = e.at
			}
		}
		w.mu.Unlock()
	}
	return r
}

// verify reads every key back and compares it with what was acknowledged.
func (l *load) verify(t *testing.T, r *report) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, w := range l.workers {
		for _, k := range w.keys {
			got, err := l.cl.Get(ctx, k.name)
			require.NoError(t, err, "reading %s back", k.name)
			r.checked++
			switch {
			case got == k.acked:
			case k.maybe[got]:
				r.unsettled++
			default:
				r.lost++
			}
		}
	}
}

func (r report) String() string {
	kinds := make([]string, 0, len(r.errs))
	for k, n := range r.errs {
		kinds = append(kinds, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(kinds)
	if len(kinds) == 0 {
		kinds = []string{"none"}
	}
	return fmt.Sprintf("ops %d; errors {%s}; wrong reads %d; slowest command %s; keys checked %d, lost %d, unsettled %d",
		r.ops, strings.Join(kinds, ", "), r.wrong, r.maxWait.Round(time.Millisecond), r.checked, r.lost, r.unsettled)
}

func (r report) total() int {
	n := 0
	for _, c := range r.errs {
		n += c
	}
	return n
}
