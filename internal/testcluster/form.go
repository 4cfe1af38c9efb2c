package testcluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// form turns the started nodes into a cluster, without redis-cli:
//
//  1. read every node's id (CLUSTER NODES), and CLUSTER SET-CONFIG-EPOCH i+1 so that no two nodes share
//     an epoch (otherwise the collision is resolved slowly, one bump per gossip round);
//  2. CLUSTER ADDSLOTSRANGE on the masters, 16384 slots split evenly;
//  3. CLUSTER MEET (with the explicit bus port) from node 0 to the other masters and from each master to
//     its replicas; gossip does the rest;
//  4. CLUSTER REPLICATE on each replica as soon as it knows its master;
//  5. FLUSHALL on the masters once the replicas have synced (see primeOffsets);
//  6. wait until ready (see WaitForReady). Redis does not let a master report cluster_state:ok until 2 s
//     after it started (CLUSTER_WRITABLE_DELAY), which bounds the whole.
func (c *Cluster) form(ctx context.Context) error {
	for i, n := range c.nodes {
		if err := n.refreshSelf(ctx); err != nil {
			return err
		}
		if _, err := n.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1)); err != nil {
			return err
		}
	}
	m := c.opts.Masters
	for i, n := range c.nodes[:m] {
		lo, hi := i*NumSlots/m, (i+1)*NumSlots/m-1
		if _, err := n.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)); err != nil {
			return err
		}
	}
	// Each master meets its own replicas, so that a replica learns its master's id after one handshake
	// instead of through gossip.
	for i, n := range c.nodes[1:] {
		meets := c.nodes[0] // the other masters, the empty ones included
		if i+1 >= m && i+1 < c.opts.shardNodes() {
			meets = c.nodes[(i+1-m)/c.opts.Replicas]
		}
		_, err := meets.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(n.Port()), strconv.Itoa(n.BusPort()))
		if err != nil {
			return err
		}
	}
	if err := c.replicate(ctx); err != nil {
		return err
	}
	if err := c.primeOffsets(ctx); err != nil {
		return err
	}
	_, err := c.waitReady(ctx, "cluster formation", nil)
	return err
}

// replicate sends CLUSTER REPLICATE to every replica, each as soon as its CLUSTER NODES lists its master.
func (c *Cluster) replicate(ctx context.Context) error {
	m, r := c.opts.Masters, c.opts.Replicas
	pending := map[*Node]*Node{} // replica → master
	for i := 0; i < m; i++ {
		for j := 0; j < r; j++ {
			pending[c.nodes[m+i*r+j]] = c.nodes[i]
		}
	}
	if len(pending) == 0 {
		return nil
	}
	return poll(ctx, "replicas knowing their masters", func(ctx context.Context) error {
		for replica, master := range pending {
			v, err := replica.Do(ctx, "CLUSTER", "NODES")
			if err != nil {
				return err
			}
			if !knowsNode(v, master.ID()) {
				continue
			}
			_, err = replica.Do(ctx, "CLUSTER", "REPLICATE", master.ID())
			var se *ServerError
			if errors.As(err, &se) && strings.Contains(se.Msg, "Unknown node") {
				continue // known through gossip a moment ago, but not yet as a full node
			}
			if err != nil {
				return permanent(err)
			}
			replica.setRole(RoleReplica)
			delete(pending, replica)
		}
		if len(pending) > 0 {
			return fmt.Errorf("%d replicas do not know their master yet", len(pending))
		}
		return nil
	})
}

// knowsNode reports whether a CLUSTER NODES reply lists node id past the handshake.
func knowsNode(v any, id string) bool {
	s, _ := v.(string)
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == id && !hasFlag(f[2], "handshake") && !hasFlag(f[2], "noaddr") {
			return true
		}
	}
	return false
}

// primeOffsets waits until every replica has finished its first sync, then sends FLUSHALL (the databases
// are still empty) to every master. Redis 7 lists a replica in CLUSTER SLOTS and CLUSTER SHARDS only once
// its replication offset is not zero, which otherwise happens at the master's first replication PING, up
// to repl-ping-replica-period (10 s) later.
func (c *Cluster) primeOffsets(ctx context.Context) error {
	if c.opts.Replicas == 0 {
		return nil
	}
	err := poll(ctx, "first sync of the replicas", func(ctx context.Context) error {
		for _, n := range c.nodes[c.opts.Masters:c.opts.shardNodes()] {
			v, err := n.Do(ctx, "INFO", "replication")
			if err != nil {
				return err
			}
			if parseInfo(v)["master_link_status"] != "up" {
				return fmt.Errorf("replica %s: master_link_status is not up", n.Addr())
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range c.nodes[:c.opts.Masters] {
		if _, err := n.Do(ctx, "FLUSHALL"); err != nil {
			return err
		}
	}
	return nil
}
