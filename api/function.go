package api

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// Library is a Redis 7 function library (FUNCTION LOAD, FCALL) that the client keeps loaded on
// the masters its functions are called on. A cluster does not share libraries between shards:
// each master must load it (its replicas then get it from it). Load loads it on every master; a
// Call that a server answers "Function not found" (a master added since, or flushed) loads it on
// every master again, then calls once more. A Library is immutable and safe for concurrent use;
// make it once, with NewLibrary, and keep it.
//
// As with FCALL, the keys go to the function as its keys and the rest as its arguments: a
// function must touch only the keys it is given, and in a cluster they must share one slot (use a
// {hash tag}); keys in several slots fail with an error matching ErrCrossSlot before anything is
// sent. A call with no keys runs on a random master.
type Library struct {
	code string
	name string // from the shebang line; "" when it has none
}

// NewLibrary returns the Library of the source code, which starts with its shebang line
// ("#!lua name=mylib").
func NewLibrary(code string) *Library {
	l := &Library{code: code}
	first, _, _ := strings.Cut(code, "\n")
	if strings.HasPrefix(first, "#!") {
		for _, f := range strings.Fields(first) {
			if name, ok := strings.CutPrefix(f, "name="); ok {
				l.name = name
			}
		}
	}
	return l
}

// Load loads the library on every master (FUNCTION LOAD REPLACE), replacing an older version of
// it, all at once. It returns the first failure, naming the node (a syntax error is the
// server's ERR).
func (l *Library) Load(ctx context.Context, c *Cluster) error {
	masters := c.Masters()
	if len(masters) == 0 {
		return fmt.Errorf("actoredis: FUNCTION LOAD: no master known: %w", ErrNoRoute)
	}
	errs := make(chan error, len(masters))
	for _, m := range masters {
		go func() {
			_, err := m.Do(ctx, Cmd("FUNCTION", "LOAD", "REPLACE", l.code))
			if err != nil && !node.NamesNode(err) { // a server's error: name the node
				err = fmt.Errorf("actoredis: node %s: FUNCTION LOAD: %w", m.Addr(), err)
			}
			errs <- err
		}()
	}
	var first error
	for range masters {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Call calls function of the library with FCALL on the master of its keys' slot, loading the
// library first where the server does not have it (see Library). Like any command that is not
// idempotent, it is retried after a lost connection only if it was never written.
func (l *Library) Call(ctx context.Context, c *Cluster, function string, keys []string, args ...any) (resp.Value, error) {
	return l.call(ctx, c, "FCALL", function, keys, args)
}

// CallRO calls a read-only function (one declared with the no-writes flag) with FCALL_RO. With
// ClusterOptions.UseReplicas it may run on a replica, as other reads do; a replica that lacks the
// library gets it from its master once Call has loaded it there, so a CallRO right after may
// still fail there.
func (l *Library) CallRO(ctx context.Context, c *Cluster, function string, keys []string, args ...any) (resp.Value, error) {
	return l.call(ctx, c, "FCALL_RO", function, keys, args)
}

func (l *Library) call(ctx context.Context, c *Cluster, name, function string, keys []string, args []any) (resp.Value, error) {
	cmd := withKeys(name, function, keys, args)
	v, err := c.Do(ctx, Cmd(cmd...))
	if !notFound(err) || !l.lacking(ctx, c, function, keys) {
		return v, err
	}
	// The server ran nothing: load the library, and call again.
	if lerr := l.Load(ctx, c); lerr != nil {
		return resp.Value{}, fmt.Errorf("%w (loading the library: %w)", err, lerr)
	}
	return c.Do(ctx, Cmd(cmd...))
}

// notFound reports whether err reads as the server saying it has no such function. A function
// may return that error itself (having run): see lacking.
func notFound(err error) bool {
	var se *resp.Error
	return errors.As(err, &se) && se.Prefix == "ERR" && se.Msg == "Function not found"
}

// lacking reports whether a master the call may have run on (that of its keys' slot, or any for
// a call with no key) lists no function of that name in the library: then "Function not found"
// was the server's, and nothing ran. Asking fails on the side of loading.
func (l *Library) lacking(ctx context.Context, c *Cluster, function string, keys []string) bool {
	nodes := c.Masters()
	if len(keys) > 0 {
		if n := c.NodeForKey(keys[0]); n != nil {
			nodes = []*Node{n}
		}
	}
	if l.name == "" || len(nodes) == 0 {
		return true
	}
	for _, n := range nodes {
		v, err := n.Do(ctx, Cmd("FUNCTION", "LIST", "LIBRARYNAME", l.name))
		if err != nil || !lists(v, l.name, function) {
			return true
		}
	}
	return false
}

// lists reports whether a FUNCTION LIST reply holds function in library.
func lists(v resp.Value, library, function string) bool {
	for _, lib := range v.Array() {
		fields, err := lib.Map()
		if err != nil || fields["library_name"].String() != library {
			continue
		}
		for _, fn := range fields["functions"].Array() {
			if f, err := fn.Map(); err == nil && f["name"].String() == function {
				return true
			}
		}
	}
	return false
}
