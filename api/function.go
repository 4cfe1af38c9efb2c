package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/actoredis/actoredis/dispatcher"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// Library is a Redis 7 function library (FUNCTION LOAD, FCALL) that the client keeps loaded on
// the masters its functions are called on. A cluster does not share libraries between shards:
// each master must load it (its replicas then get it from it). Load loads it on every master; a
// Call that a server answers "Function not found" (a master added since, even one with no slots
// yet that a migration's ASK reached, or flushed) loads it on that server, then calls once more:
// only after asking that server (FUNCTION LIST) whether it lacks the function, since a function
// may return that error itself, having run. The call again may meet another server that lacks it
// (a call with no keys goes to any master), loaded the same way, up to three in one call. A
// replica that lacks it (CallRO) is loaded through its master; a call with no keys that reached a
// replica the map listed among the masters (a failover it had not seen) goes to a master again.
// Calls made at once that each meet "Function not found" each look: one that finds the function
// loaded there, by another call of this Library that overlapped it, calls once more, once per
// server. (A load by another client at that moment is not known: the call that finds its function
// fails with "Function not found", as the server said. And a function that replies so itself runs
// once more on each server where a load of its library overlapped the call, up to four times in
// all.)
// A Library is safe for concurrent use; make it once, with NewLibrary, and keep it.
//
// As with FCALL, the keys go to the function as its keys and the rest as its arguments: a
// function must touch only the keys it is given, and in a cluster they must share one slot (use a
// {hash tag}); keys in several slots fail with an error matching ErrCrossSlot before anything is
// sent. A call with no keys runs on a random master.
type Library struct {
	code string
	// loads records this Library's loads by server address (see call).
	mu    sync.Mutex
	loads map[string]*loadRecord
}

// loadRecord is what a Library knows of its loads on one server: how many are under way, and when
// the last one ended.
type loadRecord struct {
	running int
	ended   time.Time
}

// NewLibrary returns the Library of the source code, which starts with its shebang line
// ("#!lua name=mylib").
func NewLibrary(code string) *Library { return &Library{code: code} }

// Load loads the library on every master (FUNCTION LOAD REPLACE), replacing an older version of
// it, all at once. It returns the first failure, naming the node (a syntax error is the
// server's ERR). A master that cannot take it keeps what it had: a replica of it promoted later
// keeps that too, until a Call meets a function it lacks or Load runs again. A master that
// answers as a replica (READONLY: demoted by a failover the map had not yet shown) is passed over
// once the map no longer lists it among the masters, and the masters the map lists then that Load
// had not loaded are loaded too.
func (l *Library) Load(ctx context.Context, c *Cluster) error {
	if c.state.Load() != stateConnected {
		return fmt.Errorf("actoredis: FUNCTION LOAD: %w", c.notRunning())
	}
	masters := c.Masters()
	if len(masters) == 0 {
		return fmt.Errorf("actoredis: FUNCTION LOAD: no master known: %w", ErrNoRoute)
	}
	tried := map[string]bool{}
	for range loadRounds {
		type result struct {
			err    error
			passed bool // demoted: passed over
		}
		results := make(chan result, len(masters))
		for _, m := range masters {
			tried[m.Addr()] = true
			go func() {
				passed, err := l.loadOnMaster(ctx, c, m)
				results <- result{err, passed}
			}()
		}
		var first error
		again := false
		for range masters {
			r := <-results
			if r.err != nil && first == nil {
				first = r.err
			}
			again = again || r.passed
		}
		if first != nil || !again {
			return first
		}
		if c.state.Load() != stateConnected {
			return fmt.Errorf("actoredis: FUNCTION LOAD: %w", c.notRunning())
		}
		masters = slices.DeleteFunc(c.Masters(), func(m *Node) bool { return tried[m.Addr()] })
	}
	return fmt.Errorf("actoredis: FUNCTION LOAD: masters demoted in each of %d rounds: a new master may lack the library; run Load again", loadRounds)
}

// loadRounds bounds how many times Load looks again at the masters, after one passed over.
const loadRounds = 3

// loadOn loads the library on n (FUNCTION LOAD REPLACE).
func (l *Library) loadOn(ctx context.Context, n *Node) error {
	_, err := n.Do(ctx, Cmd("FUNCTION", "LOAD", "REPLACE", l.code))
	if err != nil && !node.NamesNode(err) { // a server's error: name the node
		err = fmt.Errorf("actoredis: node %s: FUNCTION LOAD: %w", n.Addr(), err)
	}
	return err
}

// loadOnMaster is loadOn for a node the map lists among the masters. One that refuses it as a
// replica (READONLY) is passed over once the map no longer lists it so, within CommandTimeout: a
// master just demoted by a failover, listed among the masters for a moment (Masters).
func (l *Library) loadOnMaster(ctx context.Context, c *Cluster, n *Node) (passed bool, err error) {
	err = l.loadOn(ctx, n)
	if !errors.Is(err, ErrReadOnly) {
		return false, err
	}
	return c.passOver(ctx, n.Addr(), err)
}

// passOver waits, up to CommandTimeout or ctx, for the map to stop listing the node at addr among
// the masters, after it refused a write with err as a replica, and reports whether it did (nil
// then); if not, it returns err, or after Close an error matching ErrClientClosed that keeps it.
func (c *Cluster) passOver(ctx context.Context, addr string, err error) (bool, error) {
	if c.demoted(ctx, addr) {
		return true, nil
	}
	if c.snapshot() == nil {
		return false, fmt.Errorf("%w (%w)", c.notRunning(), err)
	}
	return false, err
}

// demoted waits, up to CommandTimeout or ctx, for the map to stop listing the node at addr among
// the masters, after it refused a write as a replica (its READONLY had the map look again), and
// reports whether it did.
func (c *Cluster) demoted(ctx context.Context, addr string) bool {
	deadline := time.Now().Add(c.opts.CommandTimeout)
	for tries := 1; ; tries++ {
		snap := c.snapshot()
		if snap == nil {
			return false // closed
		}
		if !listedAsMaster(snap, addr) {
			return true
		}
		// Up to the deadline, then one last look: a backoff longer than what is left gave up at
		// once (CI run 117: after 0.24 s of a 0.5 s CommandTimeout, the new map due at 0.2 s).
		left := time.Until(deadline)
		if left <= 0 || c.pause(ctx, min(dispatcher.Backoff(tries), left)) != nil {
			return false
		}
	}
}

// Call calls function of the library with FCALL on the master of its keys' slot, loading the
// library first where the server does not have it (see Library). Like any command that is not
// idempotent, it is retried after a lost connection only if it was never written.
func (l *Library) Call(ctx context.Context, c *Cluster, function string, keys []string, args ...any) (resp.Value, error) {
	return l.call(ctx, c, "FCALL", function, keys, args)
}

// CallRO calls a read-only function (one declared with the no-writes flag) with FCALL_RO. With
// ClusterOptions.UseReplicas it may run on a replica, as other reads do (a call with no keys runs
// on a master); a replica that lacks the library gets it from its master once loaded there, so a
// CallRO right after may still fail there. A Nil from a replica is checked with the master, as a
// GET's is: a function that answers Nil runs on the master too then.
func (l *Library) CallRO(ctx context.Context, c *Cluster, function string, keys []string, args ...any) (resp.Value, error) {
	return l.call(ctx, c, "FCALL_RO", function, keys, args)
}

// loadsPerCall is how many servers one call loads the library on before it gives up.
const loadsPerCall = 3

func (l *Library) call(ctx context.Context, c *Cluster, name, function string, keys []string, args []any) (resp.Value, error) {
	cmd := Cmd(withKeys(name, function, keys, args)...)
	var overlapped []string // the servers a call was made again at for another call's load (see Library)
	for loads := 0; ; loads++ {
		sent := time.Now()
		v, at, err := c.doAt(ctx, cmd)
		if !notFound(err) || at == "" || loads == loadsPerCall {
			return v, err
		}
		loaded, lerr := l.loadIfMissing(ctx, c, at, function, keys)
		if lerr != nil {
			return resp.Value{}, fmt.Errorf("%w (loading the library: %w)", err, lerr)
		}
		if !loaded {
			if slices.Contains(overlapped, at) || !l.loadedSince(at, sent) {
				return v, err // the function ran, and said so itself; or asking failed
			}
			// Another call's load of it there may have come after this call: once more, once per
			// server (a call with no keys goes to any master each time).
			overlapped = append(overlapped, at)
		}
	}
}

// loadIfMissing loads the library on the server at addr if it lacks function (see missing): a
// replica through its master (the master of keys' slot), as a replica refuses FUNCTION LOAD. A
// replica that a call with no keys reached is one the map listed among the masters (a failover it
// had not seen yet): once the map no longer does, within CommandTimeout, it reports loaded, and
// the call goes to a master again. (Its READONLY reached the caller: a helper's chaos test saw 12
// keyless CallROs fail so, "Function not found (loading the library: ... READONLY ...)".)
func (l *Library) loadIfMissing(ctx context.Context, c *Cluster, addr, function string, keys []string) (loaded bool, err error) {
	err = c.onNode(ctx, addr, func(n *Node) error {
		missing, err := l.missing(ctx, n, function)
		if err != nil && ctx.Err() != nil {
			return err // asking ended with ctx: the server's "not found" is no answer
		}
		if !missing {
			return nil
		}
		loaded = true
		defer l.loading(addr)()
		err = l.loadOn(ctx, n)
		switch {
		case !errors.Is(err, resp.ErrReadOnly):
		case len(keys) > 0:
			if m := c.NodeForKey(keys[0]); m != nil && m.Addr() != n.Addr() {
				defer l.loading(m.Addr())() // the master's own calls may overlap it too
				err = l.loadOn(ctx, m)
			}
		default: // its READONLY had the map look again (Node.Do): passed once it lists it no more
			_, err = c.passOver(ctx, n.Addr(), err)
		}
		return err
	})
	return loaded, err
}

// loading records a load for the server at addr, under way until the function it returns is
// called.
func (l *Library) loading(addr string) (done func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.loads == nil {
		l.loads = map[string]*loadRecord{}
	}
	now := time.Now()
	for a, r := range l.loads { // servers that came and went: what no call sent now can have met
		if r.running == 0 && now.Sub(r.ended) > forgetLoadsAfter {
			delete(l.loads, a)
		}
	}
	r := l.loads[addr]
	if r == nil {
		r = &loadRecord{}
		l.loads[addr] = r
	}
	r.running++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		r.running--
		r.ended = time.Now()
	}
}

// forgetLoadsAfter is how long a Library keeps the record of a load that ended: longer than a call
// can wait for its reply.
const forgetLoadsAfter = 10 * time.Minute

// loadedSince reports whether a load of this Library for the server at addr is under way, or
// ended after t: a call sent at t that the server answered "Function not found" may have met the
// server before that load did.
func (l *Library) loadedSince(addr string, t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.loads[addr]
	return r != nil && (r.running > 0 || r.ended.After(t))
}

// notFound reports whether err reads as the server saying it has no such function. A function
// may return that error itself (having run): see lacking.
func notFound(err error) bool {
	var se *resp.Error
	return errors.As(err, &se) && se.Prefix == "ERR" && se.Msg == "Function not found"
}

// missing reports whether n lacks function and a Load would bring it: n lists no function of
// that name (in any library: the server's names are case-insensitive, and a library's name is not
// needed to tell), nor this library's code as it is (loaded, it would not bring a function it does
// not define: a misspelt name is not worth a Load per call). When asking fails it says no, and
// why: the error the call met is returned rather than risk running the function twice (or ctx's,
// when it ended meanwhile: see loadIfMissing).
func (l *Library) missing(ctx context.Context, n *Node, function string) (bool, error) {
	v, err := n.Do(ctx, Cmd("FUNCTION", "LIST", "WITHCODE"))
	if err != nil {
		return false, err
	}
	for _, lib := range v.Array() {
		fields, err := lib.Map()
		if err != nil || fields["library_code"].String() == l.code {
			return false, nil
		}
		for _, fn := range fields["functions"].Array() {
			if f, err := fn.Map(); err != nil || strings.EqualFold(f["name"].String(), function) {
				return false, nil
			}
		}
	}
	return true, nil
}
