package testcluster

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// own checks that n is a node of c and that c was not stopped.
func (c *Cluster) own(n *Node) error {
	if err := c.checkStopped(); err != nil {
		return err
	}
	if n == nil || n.index >= len(c.nodes) || c.nodes[n.index] != n {
		return errors.New("testcluster: the node does not belong to this cluster")
	}
	return nil
}

// Kill SIGKILLs the node's process (only that process, through the handle the harness holds) and reaps it.
// The other nodes notice after NodeTimeout; a killed master's replica takes over (see WaitForFailover).
// Killing a node that is not running does nothing.
func (c *Cluster) Kill(n *Node) error {
	if err := c.own(n); err != nil {
		return err
	}
	c.snapshot(n)
	n.kill()
	return nil
}

// snapshot records the slot map as a running node other than except sees it, if it covers every slot, so
// that WaitForFailover knows which slots a killed master owned.
func (c *Cluster) snapshot(except *Node) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, n := range c.nodes {
		if n == except || !n.member() {
			continue
		}
		v, err := n.Do(ctx, "CLUSTER", "SLOTS")
		if err != nil {
			continue
		}
		if t, err := parseSlots(v); err == nil && t.covered() == NumSlots {
			c.setTopology(t)
		}
		return
	}
}

// Restart starts a node that was killed (or exited) again, on the same ports and directory with the same
// nodes.conf, so it keeps its node id and rejoins the cluster: a master that was replaced meanwhile comes
// back as a replica of its successor. It comes back empty: there is no persistence, and the RDB file a
// replica writes as it loads a full sync is removed first (loaded, a node restarted as a master before
// its failover came back with the data of its last sync as a replica: keys deleted since, written
// again). It returns once the node answers and the cluster is ready again (see WaitForReady) with the
// node listed in the slot map (an empty master that served no slots: known to every node).
func (c *Cluster) Restart(ctx context.Context, n *Node) error {
	if err := c.own(n); err != nil {
		return err
	}
	if n.Running() {
		return fmt.Errorf("testcluster: restart %s: the node is running", n.Addr())
	}
	// An empty master (Options.EmptyMasters) that served no slots is in no slot map.
	listed := n.index < c.opts.shardNodes() || c.topology().listed(n.ID())
	if err := n.dropData(); err != nil {
		return err
	}
	if err := n.start(ctx, false); err != nil {
		return err
	}
	_, err := c.waitReady(ctx, "rejoin of "+n.Addr(), func(t topology) error {
		if listed && !t.listed(n.ID()) {
			return fmt.Errorf("%s is not yet listed in CLUSTER SLOTS: %v", n.Addr(), t)
		}
		return nil
	})
	return err
}

// WaitForFailover waits until none of the slots of old, a master that was killed (or is unreachable),
// belongs to it any more, and the cluster is ready again (see WaitForReady; old itself is not asked). It
// returns the new master: the running node that owns the most of those slots, typically old's former
// replica (a slot migrated to another master meanwhile stays that master's). With the default
// NodeTimeout of 1 s this takes about two seconds.
func (c *Cluster) WaitForFailover(ctx context.Context, old *Node) (*Node, error) {
	if err := c.own(old); err != nil {
		return nil, err
	}
	slots := c.topology().rangesOf(old.ID())
	if len(slots) == 0 {
		return nil, fmt.Errorf("testcluster: wait for failover of %s: it owned no slots in the last agreed map",
			old.Addr())
	}
	var newMaster *Node
	_, err := c.waitReady(ctx, "failover of "+old.Addr(), func(t topology) error {
		id, err := t.takenOver(old.ID(), slots)
		if err != nil {
			return err
		}
		n := c.NodeByID(id)
		if n == nil || !n.Running() {
			return fmt.Errorf("the slots of %s belong to %q, not a running node", old.Addr(), id)
		}
		newMaster = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return newMaster, nil
}

// Failover makes replica take over from its master with a manual CLUSTER FAILOVER (the master must be
// running), and waits until replica is a master that owns the old master's slots (all but those migrated
// to another master meanwhile, which stay that master's) and the cluster is ready again. The old master
// becomes a replica of the new one.
func (c *Cluster) Failover(ctx context.Context, replica *Node) error {
	if err := c.own(replica); err != nil {
		return err
	}
	if err := replica.refreshSelf(ctx); err != nil {
		return err
	}
	if replica.IsMaster() || replica.masterIDSeen() == "" {
		return fmt.Errorf("testcluster: failover to %s: it is not a replica", replica.Addr())
	}
	master := c.NodeByID(replica.masterIDSeen())
	if master == nil {
		return fmt.Errorf("testcluster: failover to %s: unknown master %s", replica.Addr(), replica.masterIDSeen())
	}
	t, err := c.waitReady(ctx, "cluster ready before failover", nil)
	if err != nil {
		return err
	}
	slots := t.rangesOf(master.ID())
	if _, err := replica.Do(ctx, "CLUSTER", "FAILOVER"); err != nil {
		return err
	}
	_, err = c.waitReady(ctx, "failover to "+replica.Addr(), func(t topology) error {
		if _, err := t.takenOver(master.ID(), slots); err != nil || !replica.IsMaster() {
			return fmt.Errorf("%s has not taken over the slots of %s yet", replica.Addr(), master.Addr())
		}
		return nil
	})
	return err
}
