package testcluster

import (
	"context"
	"fmt"
	"strconv"
)

// Detach takes n out of the cluster and leaves it running on its own, as an operator removing a
// node does (redis-cli --cluster del-node): CLUSTER FORGET n on every other running node, then
// CLUSTER RESET HARD on n, which gives it a new node id and forgets the others. n must serve no
// slots (a master whose slots were migrated away, an empty master, or a replica). Detach returns
// once the cluster is ready without n; from then on the cluster's checks (WaitForReady, the
// migrations, Masters) leave n aside, until Join takes it back.
func (c *Cluster) Detach(ctx context.Context, n *Node) error {
	if err := c.own(n); err != nil {
		return err
	}
	if !n.member() {
		return fmt.Errorf("testcluster: detach %s: not a running node of the cluster", n.Addr())
	}
	if err := n.refreshSelf(ctx); err != nil {
		return err
	}
	if _, err := c.waitReady(ctx, "agreement before detaching "+n.Addr(), nil); err != nil {
		return err
	}
	id := n.ID()
	if r := c.topology().rangesOf(id); len(r) > 0 {
		return fmt.Errorf("testcluster: detach %s: it serves slots %v", n.Addr(), r)
	}
	// Forgotten by each, the id is banned from their gossip for 60 s: a PING n sends before its reset
	// does not bring it back.
	for _, o := range c.nodes {
		if o == n || !o.member() {
			continue
		}
		if _, err := o.Do(ctx, "CLUSTER", "FORGET", id); err != nil {
			return fmt.Errorf("testcluster: detach %s: %s: %w", n.Addr(), o.Addr(), err)
		}
	}
	if _, err := n.Do(ctx, "CLUSTER", "RESET", "HARD"); err != nil {
		return fmt.Errorf("testcluster: detach %s: %w", n.Addr(), err)
	}
	if err := n.refreshSelf(ctx); err != nil {
		return err
	}
	n.mu.Lock()
	n.detached = true
	n.mu.Unlock()
	_, err := c.waitReady(ctx, "cluster without "+n.Addr(), func(t topology) error {
		if t.listed(id) {
			return fmt.Errorf("%s is still listed in CLUSTER SLOTS", n.Addr())
		}
		return nil
	})
	return err
}

// Join brings back a node Detach took out, as an operator adding a node does (redis-cli --cluster
// add-node): CLUSTER MEET from a running node of the cluster. n joins as a master with no slots
// (migrate some to it with MigrateSlot). Join returns once every node of the cluster knows n and
// the cluster is ready.
func (c *Cluster) Join(ctx context.Context, n *Node) error {
	if err := c.own(n); err != nil {
		return err
	}
	var via *Node
	for _, o := range c.nodes {
		if o != n && o.member() {
			via = o
			break
		}
	}
	n.mu.Lock()
	detached := n.detached
	n.mu.Unlock()
	switch {
	case !detached || !n.Running():
		return fmt.Errorf("testcluster: join %s: not a running node that Detach took out", n.Addr())
	case via == nil:
		return fmt.Errorf("testcluster: join %s: no running node of the cluster to meet", n.Addr())
	}
	_, err := via.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(n.Port()), strconv.Itoa(n.BusPort()))
	if err != nil {
		return fmt.Errorf("testcluster: join %s: %w", n.Addr(), err)
	}
	n.mu.Lock()
	n.detached = false
	n.mu.Unlock()
	_, err = c.waitReady(ctx, "join of "+n.Addr(), nil)
	return err
}

// detachedCount is the number of nodes Detach took out and Join did not take back.
func (c *Cluster) detachedCount() int {
	count := 0
	for _, n := range c.nodes {
		n.mu.Lock()
		if n.detached {
			count++
		}
		n.mu.Unlock()
	}
	return count
}
