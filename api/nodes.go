package api

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// Node is one server of the cluster as the client knows it now, for server commands (INFO, MEMORY
// STATS, FLUSHALL...). It is safe for concurrent use. A Node may leave the cluster; its Do then
// fails.
type Node struct {
	ref *slotmap.Ref
	c   *Cluster
}

// Addr returns "host:port" as the client reaches it (after NodeAddressMap).
func (n *Node) Addr() string { return n.ref.Addr }

// ID returns the node's cluster id ("" when unknown).
func (n *Node) ID() string { return n.ref.Info.ID }

// IsMaster reports whether the node was a master in the topology it was taken from.
func (n *Node) IsMaster() bool { return n.ref.Info.Role == "master" }

// NodeStats are a node's counters, kept from when the client first met it in a topology (a node
// that leaves the map and comes back starts again from zero), and its connections now.
type NodeStats struct {
	// Commands written on the node's shared, pipelined connection (a Tx counts once, with its
	// MULTI and EXEC; the client's own PINGs and READONLY/READWRITE count too), and the writes
	// (system calls) that carried them: Commands/Writes is the mean batch.
	Commands, Writes uint64
	// Connects counts the shared connections made ready, the first included; Disconnects those
	// that ended: lost or dropped (the server's close, a reply overdue past CommandTimeout...: an
	// EventNodeDisconnect each), or closed with the node (Close, a topology without it), so that
	// Connects−Disconnects is 1 while one is up; DialErrors the dials and handshakes that failed
	// (EventNodeError).
	Connects, Disconnects, DialErrors uint64
	// Connected says whether the shared connection is ready now.
	Connected bool
	// BlockingInUse and BlockingIdle count the node's connections for blocking commands and Watch
	// (at most MaxBlockingConns): in use, and idle in the pool.
	BlockingInUse, BlockingIdle int
}

// Stats returns the node's counters, read one by one (not as one snapshot): counters the client
// keeps anyway, at no cost to a command.
func (n *Node) Stats() NodeStats {
	s := n.ref.Node.Stats()
	return NodeStats{Commands: s.Commands, Writes: s.Writes, Connects: s.Connects, Disconnects: s.Disconnects,
		DialErrors: s.DialErrors, Connected: s.Connected, BlockingInUse: s.DedicatedInUse, BlockingIdle: s.DedicatedIdle}
}

// Do runs cmd on this node, with no routing and no redirect following. After the cluster's Close it
// fails with an error matching ErrClientClosed; once the node has left the cluster (a later
// topology dropped it), with one matching ErrNodeGone.
//
// Every error names the node and the command. A server's error reply is a *CommandError
// wrapping the *resp.Error (errors.As finds it; errors.Is matches resp's sentinels). A MOVED that
// names another master than the client's map has for the slot, or a READONLY or CLUSTERDOWN from a
// node the map calls a master, also tells the map, which refreshes (after a failover or a slot
// move it had not seen: Masters then lists the new master). A Do whose ctx has ended returns its error at
// once and sends nothing; a ctx that ends while the command is in flight returns an error
// matching ctx's, and the command may have run.
func (n *Node) Do(ctx context.Context, cmd Command) (resp.Value, error) {
	return n.c.reported(ctx, cmd.args, n.Addr(), func() (resp.Value, error) { return n.do(ctx, cmd) })
}

// do is Do, unreported.
func (n *Node) do(ctx context.Context, cmd Command) (resp.Value, error) {
	if n.c.state.Load() != stateConnected {
		return resp.Value{}, n.failed(cmd, n.c.notRunning())
	}
	if err := ended(ctx); err != nil {
		return resp.Value{}, n.failed(cmd, err) // sent, it could run before the Future noticed
	}
	args, err := bindOwn(cmd.args) // the argument types Cmd takes, as Cluster.Do's
	if err != nil {
		return resp.Value{}, n.failed(cmd, err)
	}
	r := node.NewRequest(args...)
	r.Ctx = ctx
	if r.Slower = cmd.slower(n.c.opts.CommandTimeout); r.Slower > 0 {
		r.Until = time.Now().Add(r.Slower) // see Command.Timeout
	}
	n.ref.Node.Send(r)
	v, err := r.AwaitContext(ctx)
	if err == nil {
		return v, nil
	}
	var se *resp.Error
	switch why := n.c.closedBy(err); {
	case why != nil && node.NamesNode(err):
		err = fmt.Errorf("%w: %w", why, err) // it names the node and the command
	case why != nil:
		err = n.failed(cmd, fmt.Errorf("%w: %w", why, err))
	case errors.As(err, &se) && !node.NamesNode(err): // the server's reply
		n.tellMap(se)
		err = n.failed(cmd, err)
	case !node.NamesNode(err):
		err = n.failed(cmd, err) // ctx's error, as AwaitContext returns it
	}
	return v, err
}

// tellMap tells the map what a server's error reply to Do says of it when the map may be wrong:
//   - a MOVED from the master the map has for the slot, naming another node: the slot moved (the
//     map serves it from there at once, and refreshes, as for a dispatcher's MOVED);
//   - a MOVED from another node, naming another node than the map's: that node may know better,
//     or be stale (a replica or a master that has not heard yet), so the map asks the cluster;
//   - READONLY or CLUSTERDOWN from a node the map calls a master (demoted, or taken out of the
//     cluster): the map asks the cluster.
//
// A MOVED naming the node the map has (a key of another slot sent here), a replica's READONLY (a
// write sent to it), and a malformed MOVED say nothing new.
func (n *Node) tellMap(se *resp.Error) {
	rt := n.c.run.Load()
	if rt == nil {
		return
	}
	snap := rt.smap.Snapshot()
	if snap == nil {
		return
	}
	rd, redirect, err := resp.ParseRedirect(se)
	switch {
	case err != nil || redirect && rd.Ask:
	case redirect:
		cur := snap.Master(rd.Slot)
		announced := rd.Addr()
		target := slotmap.MapAddress(n.c.addressMap(), announced, n.c.opts.Logger)
		switch {
		case cur != nil && cur.Addr == target: // the map agrees
		case cur != nil && cur.Addr == n.Addr(): // one with nothing to dial has the map look again (onMoved)
			rt.smap.Moved(rd.Slot, announced)
		default:
			rt.smap.Refresh()
		}
	case errors.Is(se, resp.ErrReadOnly) || errors.Is(se, resp.ErrClusterDown):
		if listedAsMaster(snap, n.Addr()) {
			rt.smap.Refresh()
		}
	}
}

// listedAsMaster reports whether snap (nil: none yet) lists the node at addr among its masters,
// those serving no slot included.
func listedAsMaster(snap *slotmap.Snapshot, addr string) bool {
	return snap != nil && slices.ContainsFunc(snap.Masters(), func(m *slotmap.Ref) bool { return m.Addr == addr })
}

// closedBy says why err is a closed node's, if it is: ErrClientClosed after Close, else
// ErrNodeGone (the node left the cluster).
func (c *Cluster) closedBy(err error) error {
	if err == nil || !errors.Is(err, actors.ErrActorStopped) && !errors.Is(err, node.ErrClosed) {
		return nil
	}
	if c.state.Load() != stateConnected {
		return ErrClientClosed
	}
	return ErrNodeGone
}

// failed names the node and the command in err, as the node's own errors do (node.NamesNode).
func (n *Node) failed(cmd Command, err error) error {
	return &node.CommandError{Addr: n.Addr(), Command: node.CommandName(cmd.args), Err: err}
}

func (c *Cluster) wrap(refs []*slotmap.Ref) []*Node {
	out := make([]*Node, len(refs))
	for i, r := range refs {
		out[i] = &Node{ref: r, c: c}
	}
	return out
}

func (c *Cluster) snapshot() *slotmap.Snapshot {
	if rt := c.run.Load(); rt != nil {
		return rt.smap.Snapshot()
	}
	return nil
}

// Masters returns the master of every shard: those serving slots, then the masters serving none
// (just added to the cluster, or emptied before their removal), so that a command run on each
// master (FLUSHALL, FUNCTION LOAD, DBSIZE) reaches every key. Nil before Connect or after Close.
// Right after a failover, graceful ones too, the cluster lists the demoted master as a master
// serving no slot for a moment (up to about half a second), and a map made then lists it so until
// it looks again a second later: a write sent to it in between is refused with READONLY
// (Library.Load passes over such a node once the map says it is no master).
func (c *Cluster) Masters() []*Node {
	if s := c.snapshot(); s != nil {
		return c.wrap(s.Masters())
	}
	return nil
}

// Replicas returns every healthy replica (online and reachable; nil before Connect or after
// Close).
func (c *Cluster) Replicas() []*Node {
	if s := c.snapshot(); s != nil {
		return c.wrap(s.Replicas())
	}
	return nil
}

// Nodes returns Masters, then Replicas: every master the client can reach, and every healthy
// replica. A master announced with no address the client can use, and a replica failed or
// loading, are not listed. Nil before Connect or after Close.
func (c *Cluster) Nodes() []*Node {
	if s := c.snapshot(); s != nil {
		return c.wrap(s.Nodes())
	}
	return nil
}

// NodeForKey returns the master that owns key's slot now, or nil.
func (c *Cluster) NodeForKey(key string) *Node {
	if s := c.snapshot(); s != nil {
		if m := s.Master(GetSlot(key)); m != nil {
			return &Node{ref: m, c: c}
		}
	}
	return nil
}

// RandomNode returns a random master, or nil.
func (c *Cluster) RandomNode() *Node {
	m := c.Masters()
	if len(m) == 0 {
		return nil
	}
	return m[rand.IntN(len(m))]
}
