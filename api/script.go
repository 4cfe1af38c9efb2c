package api

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// Script is a Lua script run by its SHA1 digest (EVALSHA), so that its text crosses the network
// only to a server that does not have it yet: the node that answers NOSCRIPT (it never ran it,
// restarted, was promoted, or had SCRIPT FLUSH) is sent it with SCRIPT LOAD, and the script runs
// by its digest again; that try may meet another node that lacks it (a script with no keys goes
// to any master, RunRO to a replica or the master), which is loaded the same way. After three
// such loads in one run, or one that fails (an ACL without SCRIPT LOAD), the script is sent with
// EVAL, which loads it where it runs. A Script is immutable and safe for concurrent use; make it
// once, with NewScript, and keep it.
//
// As with EVAL, the keys go to the server as KEYS and the rest as ARGV: a script must touch only
// the keys it is given, and in a cluster they must share one slot (use a {hash tag}); keys in
// several slots fail with an error matching ErrCrossSlot before anything is sent. A script with no
// keys runs on a random master.
type Script struct {
	src  string
	hash string
}

// NewScript returns the Script of the Lua source src.
func NewScript(src string) *Script {
	sum := sha1.Sum([]byte(src))
	return &Script{src: src, hash: hex.EncodeToString(sum[:])}
}

// Hash returns the script's SHA1 digest, in hex, as EVALSHA and SCRIPT EXISTS take it.
func (s *Script) Hash() string { return s.hash }

// Run runs the script on the master of its keys' slot with EVALSHA, loading it first where it is
// missing (see Script). Like any command that is not idempotent, it is retried after a lost
// connection only if it was never written. An error the script replies with is the reply, and the
// script is not run again for it, whatever its prefix (see the package doc), but for two: the
// first NOSCRIPT in the server's own words of a Run is taken for a miss, so the script is loaded
// there and run once more, and a second NOSCRIPT from a node that has it is its reply; and a
// MOVED or ASK of its own naming its keys' slot and another node is followed, as the server's
// would be, until the redirects go round (ErrMaxRedirections, may have run: see the package doc).
func (s *Script) Run(ctx context.Context, c *Cluster, keys []string, args ...any) (resp.Value, error) {
	return s.run(ctx, c, "EVALSHA", "EVAL", keys, args)
}

// RunRO runs a read-only script with EVALSHA_RO, loading it first where it is missing as Run does
// (SCRIPT LOAD on the node that answers NOSCRIPT, then EVALSHA_RO again; EVAL_RO only after three
// loads or a failed one: see Script). With ClusterOptions.UseReplicas it may run on a replica, as
// other reads do; a script that writes fails there and on masters alike. A Nil from a replica is
// checked with the master, as a GET's is (it may be a key the replica has not got yet): a script
// that answers Nil runs on the master too then.
func (s *Script) RunRO(ctx context.Context, c *Cluster, keys []string, args ...any) (resp.Value, error) {
	return s.run(ctx, c, "EVALSHA_RO", "EVAL_RO", keys, args)
}

// scriptLoads is how many nodes one run of a script loads it on (SCRIPT LOAD) before it sends it
// with EVAL.
const scriptLoads = 3

func (s *Script) run(ctx context.Context, c *Cluster, bySHA, bySource string, keys []string, args []any) (resp.Value, error) {
	cmd := Cmd(withKeys(bySHA, s.hash, keys, args)...)
	v, at, err := c.doAt(ctx, cmd)
	loadedAt := "" // the node this Run last loaded the script on, and ran it on again
	for loads := 0; ; loads++ {
		if !missing(err) || at == "" {
			return v, err
		}
		// NOSCRIPT: EVALSHA did not run, unless the script replied so itself, in the server's
		// words. From the node this Run has just loaded the script on and run it on again, one
		// that has it still (SCRIPT EXISTS) ran it, and the reply stands. Any other is a miss
		// (there SCRIPT EXISTS would not tell: a caller that had just loaded the script, another
		// Run or another client, would make it say 1 before a real miss), and the node gets the
		// script, up to scriptLoads in a Run, then EVAL.
		if loads == scriptLoads {
			break
		}
		own, ran := false, false
		var pv resp.Value
		var perr error
		lerr := c.onNode(ctx, at, func(n *Node) error {
			if own = at == loadedAt && s.loadedOn(ctx, n); own {
				return nil
			}
			if _, err := n.Do(ctx, Cmd("SCRIPT", "LOAD", s.src)); err != nil {
				return err
			}
			// Again on that node, not wherever routing goes (a script with no keys goes to any
			// master, RunRO to a replica or the master): a second NOSCRIPT then comes from a node
			// that has the script, unless a SCRIPT FLUSH came between.
			pv, perr = n.Do(ctx, cmd)
			ran = true
			return nil
		})
		if own {
			return v, err
		}
		if lerr != nil || !ran {
			break // EVAL
		}
		loadedAt = at
		if v, ran, err = ranOn(ctx, at, c.mapTarget, cmd, pv, perr); !ran || bySHA == "EVALSHA_RO" && err == nil && v.IsNull() && !c.isMaster(at) {
			// Refused there (the slot moved...), or a RunRO's Nil from a replica, which a routed try
			// checks with the master (it may be a key the replica has not got yet): routed again.
			v, at, err = c.doAt(ctx, cmd)
		}
	}
	return c.Do(ctx, Cmd(withKeys(bySource, s.src, keys, args)...))
}

// ranOn takes the outcome of cmd run by Node.Do on the node at addr: the reply, and the error as
// Do gives it (a server's reply bare); or ran false when the server refused it without running it
// (a redirect, a transient state: see node.Refused), or its connection failed before it was
// written, for the caller to route it again.
func ranOn(ctx context.Context, addr string, mapAddr func(string) string, cmd Command, v resp.Value, err error) (resp.Value, bool, error) {
	var se *resp.Error
	switch {
	case err == nil:
		return v, true, nil
	case errors.As(err, &se):
		if node.Refused(cmd.args, se, addr, mapAddr, slotmap.Slot) {
			return v, false, err
		}
		return v, true, se
	case (errors.Is(err, ErrConnection) || errors.Is(err, ErrNodeGone)) && !WasWritten(err) && ctx.Err() == nil &&
		!errors.Is(err, ErrClientClosed):
		return v, false, err // not sent: its connection failed first, or the node left the map
	}
	return v, true, err
}

// isMaster reports whether the map has the node at addr as a master.
func (c *Cluster) isMaster(addr string) bool {
	rt := c.run.Load()
	return rt != nil && listedAsMaster(rt.smap.Snapshot(), addr)
}

// loadedOn reports whether n has the script (SCRIPT EXISTS). When asking fails it says no: the
// script is loaded again, or sent with EVAL.
func (s *Script) loadedOn(ctx context.Context, n *Node) bool {
	v, err := n.Do(ctx, Cmd("SCRIPT", "EXISTS", s.hash))
	if err != nil || v.Len() != 1 {
		return false
	}
	has, err := v.Index(0).Int64()
	return err == nil && has == 1
}

// missing reports whether err is the server saying it does not have the script: NOSCRIPT with
// the server's own message, not an error the script returned with that prefix (which ran it; one
// in the server's words too, see loadedOn).
func missing(err error) bool {
	var se *resp.Error
	return errors.As(err, &se) && se.Prefix == "NOSCRIPT" && strings.HasPrefix(se.Msg, "No matching script")
}

// withKeys is the command name target numkeys keys... args... (EVAL, FCALL and their kin).
func withKeys(name, target string, keys []string, args []any) []any {
	cmd := make([]any, 0, 3+len(keys)+len(args))
	cmd = append(cmd, name, target, len(keys))
	for _, k := range keys {
		cmd = append(cmd, k)
	}
	return append(cmd, args...)
}
