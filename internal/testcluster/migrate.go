package testcluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// migrateBatch is how many keys one MIGRATE moves.
const migrateBatch = 100

// migrateTimeoutMs is MIGRATE's timeout argument.
const migrateTimeoutMs = "5000"

// MigrateSlot moves slot, keys included, from its current master to the master to, the way redis-cli
// --cluster reshard does, and waits until every running node agrees that to owns it. It is
// BeginMigration followed by FinishMigration, and does nothing when to owns the slot already.
func (c *Cluster) MigrateSlot(ctx context.Context, slot int, to *Node) error {
	src, err := c.slotOwner(ctx, slot, to)
	if err != nil || src == to {
		return err
	}
	if err := c.BeginMigration(ctx, slot, to); err != nil {
		return err
	}
	return c.FinishMigration(ctx, slot, to)
}

// BeginMigration leaves slot mid-migration towards the master to: CLUSTER SETSLOT slot IMPORTING on to,
// then CLUSTER SETSLOT slot MIGRATING on the current owner. No key moves: the owner answers -ASK for keys
// it does not hold, and to accepts them after ASKING. Move keys with MigrateKeys; end with FinishMigration.
func (c *Cluster) BeginMigration(ctx context.Context, slot int, to *Node) error {
	src, err := c.slotOwner(ctx, slot, to)
	if err != nil {
		return err
	}
	if src == to {
		return fmt.Errorf("testcluster: migrate slot %d: %s owns it already", slot, to.Addr())
	}
	s := strconv.Itoa(slot)
	if _, err := to.Do(ctx, "CLUSTER", "SETSLOT", s, "IMPORTING", src.ID()); err != nil {
		return err
	}
	_, err = src.Do(ctx, "CLUSTER", "SETSLOT", s, "MIGRATING", to.ID())
	return err
}

// FinishMigration completes a migration started by BeginMigration: it moves the keys left in slot on the
// owner to the master to (CLUSTER GETKEYSINSLOT, MIGRATE ... KEYS, with AUTH when a password is set),
// assigns the slot with CLUSTER SETSLOT slot NODE on to, then on the old owner, then on every other
// running master, and waits until every running node agrees that to owns it.
func (c *Cluster) FinishMigration(ctx context.Context, slot int, to *Node) error {
	src, err := c.slotOwner(ctx, slot, to)
	if err != nil {
		return err
	}
	s := strconv.Itoa(slot)
	if src != to {
		for {
			v, err := src.Do(ctx, "CLUSTER", "GETKEYSINSLOT", s, strconv.Itoa(migrateBatch))
			if err != nil {
				return err
			}
			keys := toStrings(v)
			if len(keys) == 0 {
				break
			}
			if err := c.MigrateKeys(ctx, src, to, keys...); err != nil {
				return err
			}
		}
		order := []*Node{to, src}
		for _, n := range c.refreshRoles() {
			if n != to && n != src && n.IsMaster() {
				order = append(order, n)
			}
		}
		for _, n := range order {
			if _, err := n.Do(ctx, "CLUSTER", "SETSLOT", s, "NODE", to.ID()); err != nil {
				return err
			}
		}
	}
	_, err = c.waitReady(ctx, fmt.Sprintf("slot %d moving to %s", slot, to.Addr()), func(t topology) error {
		if owner := t.owner(slot); owner != to.ID() {
			return fmt.Errorf("slot %d still belongs to %s", slot, c.describe(owner))
		}
		return nil
	})
	return err
}

// MigrateKeys moves keys (which must share a slot) from the master from to the master to with one MIGRATE
// (AUTH included when a password is set). During a migration it moves part of a slot; keys from does
// not hold are skipped.
func (c *Cluster) MigrateKeys(ctx context.Context, from, to *Node, keys ...string) error {
	if err := c.own(from); err != nil {
		return err
	}
	if err := c.own(to); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	args := []string{"MIGRATE", "127.0.0.1", strconv.Itoa(to.Port()), "", "0", migrateTimeoutMs}
	if c.opts.Password != "" {
		args = append(args, "AUTH", c.opts.Password)
	}
	args = append(append(args, "KEYS"), keys...)
	_, err := from.Do(ctx, args...)
	return err
}

// slotOwner returns the master owning slot once every running node agrees on the owners of all slots;
// to must be a running master of the cluster.
func (c *Cluster) slotOwner(ctx context.Context, slot int, to *Node) (*Node, error) {
	if err := c.own(to); err != nil {
		return nil, err
	}
	if slot < 0 || slot >= NumSlots {
		return nil, fmt.Errorf("testcluster: slot %d out of range 0..%d", slot, NumSlots-1)
	}
	if err := to.refreshSelf(ctx); err != nil {
		return nil, err
	}
	if !to.IsMaster() {
		return nil, fmt.Errorf("testcluster: migrate slot %d: %s is not a master", slot, to.Addr())
	}
	var owner *Node
	err := poll(ctx, fmt.Sprintf("agreement on the owner of slot %d", slot), func(ctx context.Context) error {
		var ref string
		var refNode *Node
		for _, n := range c.nodes {
			if !n.member() {
				continue
			}
			v, err := n.Do(ctx, "CLUSTER", "SLOTS")
			if err != nil {
				return err
			}
			t, err := parseSlots(v)
			if err != nil {
				return err
			}
			k := ownersKey(t)
			if refNode == nil {
				ref, refNode = k, n
				owner = c.NodeByID(t.owner(slot))
			} else if k != ref {
				return fmt.Errorf("%s and %s disagree on the slot owners", refNode.Addr(), n.Addr())
			}
		}
		if owner == nil || !owner.Running() {
			return fmt.Errorf("slot %d has no running owner", slot)
		}
		return nil
	})
	return owner, err
}

// ownersKey is a canonical text of the slot ranges and their masters, replicas left out.
func ownersKey(t topology) string {
	var b strings.Builder
	for _, r := range t {
		fmt.Fprintf(&b, "%d-%d:%s ", r.start, r.end, r.master)
	}
	return b.String()
}

// describe names a node by id for messages: its address when it is one of ours.
func (c *Cluster) describe(id string) string {
	if n := c.NodeByID(id); n != nil {
		return n.Addr()
	}
	if id == "" {
		return "nobody"
	}
	return id
}

// toStrings returns the string elements of an array reply.
func toStrings(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
