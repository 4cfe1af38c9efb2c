package api

import (
	"context"
	"fmt"
	"time"

	"github.com/actoredis/actoredis/resp"
)

// Helpers for commands of many keys whose keys may live in any slots: MGet, MSet, Del, Unlink and
// Exists, built on perSlot. MGet's doc states the rules they share, where godoc shows them;
// PartialError is their error when more than one command was sent.

// MGet returns the values of the keys that exist, by key: a missing key, or one holding no
// string, is not in the map. The keys may be in any slots (one MGET per slot); with an error, the
// map holds what the commands that did not fail read.
//
// Redis refuses a command whose keys are in several slots (CROSSSLOT), even on one node, so MGet,
// MSet, Del, Unlink and Exists send one command per slot, all at once (pipelined on each node's
// connection), and merge the replies. Keys that share a {hash tag} share a slot. What one command
// does stays atomic within its slot, but not across slots. When the keys span several slots and
// some or all of the commands fail, the error is a *PartialError naming each failed command's
// slot, keys and error (a server's error reply wrapped in one naming the node), and what the
// others returned comes with it (MGet the values of their
// keys; Del, Unlink and Exists the sum of their counts). When the keys are all in one slot, only
// one command is sent, and its error is returned as it is, not as a *PartialError. A failed
// command may have run (see WasWritten). With no key they send nothing: MGet returns an empty
// map, MSet nothing, Del, Unlink and Exists 0. With ctx ended already, nothing is sent; when it
// ends meanwhile, the commands not yet written are not written, and each command still waiting
// fails with ctx.Err() (it may have run).
func (c *Cluster) MGet(ctx context.Context, keys ...string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	err := c.perSlot(ctx, "MGET", keys, nil, func(group []string, v resp.Value) error {
		if !v.Kind().IsAggregate() || v.Len() != len(group) {
			return fmt.Errorf("%w: MGET of %d keys answered %s of %d", resp.ErrUnexpectedType, len(group), v.Kind(), v.Len())
		}
		for i, k := range group {
			if e := v.Index(i); !e.IsNull() {
				out[k] = e.String()
			}
		}
		return nil
	})
	return out, err
}

// MSet sets each key of values to its value (any type Cmd takes: checked before anything is
// sent). The keys may be in any slots (one MSET per slot): each slot's keys are set at once, but
// another client may see some slots' keys set before others'. With keys in several slots, a
// failure is a *PartialError (the slots not in it were set); with one slot, the one command's
// error. See MGet for the rules.
func (c *Cluster) MSet(ctx context.Context, values map[string]any) error {
	keys := make([]string, 0, len(values))
	for k, v := range values {
		if err := checkArg(v); err != nil {
			return fmt.Errorf("actoredis: MSET: the value of %q: %w", k, err)
		}
		keys = append(keys, k)
	}
	return c.perSlot(ctx, "MSET", keys, func(k string) []any { return []any{k, values[k]} }, nil)
}

// Del deletes keys and returns how many existed. The keys may be in any slots (one DEL per slot).
// With keys in several slots, a failure is a *PartialError, and the count is that of the commands
// that did not fail; with one slot, the one command's error. See MGet for the rules.
func (c *Cluster) Del(ctx context.Context, keys ...string) (int64, error) {
	return c.countPerSlot(ctx, "DEL", keys)
}

// Unlink deletes keys as Del does, freeing their memory in the background (UNLINK), one UNLINK per
// slot, with Del's errors and counts.
func (c *Cluster) Unlink(ctx context.Context, keys ...string) (int64, error) {
	return c.countPerSlot(ctx, "UNLINK", keys)
}

// Exists returns how many of keys exist, a key named twice counting twice. The keys may be in any
// slots (one EXISTS per slot). With keys in several slots, a failure is a *PartialError, and the
// count is that of the commands that did not fail; with one slot, the one command's error. See
// MGet for the rules.
func (c *Cluster) Exists(ctx context.Context, keys ...string) (int64, error) {
	return c.countPerSlot(ctx, "EXISTS", keys)
}

// countPerSlot sends name for keys, one command per slot, and adds up the integer replies.
func (c *Cluster) countPerSlot(ctx context.Context, name string, keys []string) (int64, error) {
	var total int64
	err := c.perSlot(ctx, name, keys, nil, func(_ []string, v resp.Value) error {
		n, err := v.Int64()
		total += n
		return err
	})
	return total, err
}

// perSlot sends the command name for keys, one per slot, with each key's arguments (args, or the
// key alone when args is nil), and hands each reply to merge, with the keys it was for, in the
// order the keys first appear. Once every command has answered (or ctx has ended), it returns
// nil, the error of the only command sent, or a *PartialError. With no key it sends nothing.
func (c *Cluster) perSlot(ctx context.Context, name string, keys []string, args func(string) []any,
	merge func(group []string, v resp.Value) error) error {
	if len(keys) == 0 {
		return nil
	}
	if err := ended(ctx); err != nil {
		c.commandDone(ctx, []any{name}, "", time.Now(), err) // one report, as a Do's
		return err
	}
	c.inDo.Add(1) // a caller waiting, as in Do: others are not alone
	defer c.inDo.Add(-1)
	if args == nil {
		args = func(k string) []any { return []any{k} }
	}
	var slots []int
	groups := map[int][]string{}
	for _, k := range keys {
		s := GetSlot(k)
		if _, ok := groups[s]; !ok {
			slots = append(slots, s)
		}
		groups[s] = append(groups[s], k)
	}
	futures := make([]*Future, len(slots))
	for i, s := range slots {
		cmd := []any{name}
		for _, k := range groups[s] {
			cmd = append(cmd, args(k)...)
		}
		futures[i] = &Future{}
		// In a PartialError, a server's error names its node; a lone command's comes as Do's.
		futures[i].r.NameNode = len(slots) > 1
		c.send(ctx, futures[i], Cmd(cmd...), nil, false)
	}
	var failed []SlotFailure
	for i, f := range futures {
		v, err := f.AwaitContext(ctx)
		if err == nil && merge != nil {
			err = merge(groups[slots[i]], v)
		}
		if err != nil {
			failed = append(failed, SlotFailure{Slot: slots[i], Keys: groups[slots[i]], Err: err})
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case len(futures) == 1:
		return failed[0].Err
	}
	return &PartialError{Command: name, Sent: len(futures), Failed: failed}
}
