package dispatcher

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// dispatcherActor routes commands by slot. It holds its own copy of the topology (immutable
// snapshots from the slot map) and owns nothing else.
type dispatcherActor struct {
	opts Options
	h    *Handle
	snap *slotmap.Snapshot
	rr   uint64 // round-robin counter for replica reads
	// waiting holds the queues of requests in a retry backoff: a new map routes them at once
	// (after a failover, the new master is known: no reason to wait out the backoff). held holds
	// those of slots, by slot: the slot's other requests wait behind them (see retryQueue).
	waiting map[*retryQueue]struct{}
	held    map[int]*retryQueue
	// gates holds the gates closed by a new map on the slots it gave another master, gated their
	// slots (see gate).
	gates map[*gate]struct{}
	gated map[int]*gate
	// stopping: the actor is stopping (Close). A request that would wait in a backoff gives up at
	// once instead: a timer started now would fire after Close returned, at a stopped actor.
	stopping bool
	// migrating holds the slots an ASK said are being migrated: their reads keep off replicas
	// (see readsOffReplicas) until the slot has moved.
	migrating map[int]migration
	// resting holds the replicas that answered LOADING or MASTERDOWN, with when they may have
	// reads again (see fromReplica).
	resting map[string]time.Time
	// probes holds the probes out, by master (see nodeProbe). probeDenied: the server denied one
	// (NOPERM: the user's ACL keeps it from the probes' keys or from SETRANGE), and rounds go
	// unprobed (see probeFirst).
	probes      map[string]*nodeProbe
	probeDenied bool
	// routing is the member of a queue routeAll is routing: a panic there leaves it here, and the
	// actor's Restarting or Stopping fails it (see restartWaiting).
	routing *Request
}

// restFor is how long a replica that answered LOADING or MASTERDOWN gets no reads. After it, one
// read tries it again; a replica still loading or cut off from its master answers the same at
// once, and rests again.
const restFor = time.Second

// forgetRested drops the replicas whose rest is over, at a new map: one that left the cluster is
// never looked up again.
func (a *dispatcherActor) forgetRested() {
	now := time.Now()
	for addr, until := range a.resting {
		if now.After(until) {
			delete(a.resting, addr)
		}
	}
}

// readable reports whether the replica ref may take a read: connected, and not resting.
func (a *dispatcherActor) readable(ref *slotmap.Ref) bool {
	return ref.Node.Connected() && (len(a.resting) == 0 || !a.rests(ref.Addr))
}

// rests reports whether the replica at addr is resting.
func (a *dispatcherActor) rests(addr string) bool {
	until, ok := a.resting[addr]
	if ok && time.Now().After(until) {
		delete(a.resting, addr)
		return false
	}
	return ok
}

// migration is a slot an ASK showed being migrated away from from (its master then), at last.
type migration struct {
	from string
	last time.Time
}

// migratingAtMost bounds how long after its last ASK a slot's reads keep off replicas, for a
// migration that never ends (abandoned, say). One that ends is found sooner: a MOVED for the slot,
// or a map in which another master serves it.
const migratingAtMost = 10 * time.Minute

// forgetMigrated drops, at a new map, the slots it shows served by another master than the one an
// ASK came from, and those whose last ASK is older than migratingAtMost.
func (a *dispatcherActor) forgetMigrated() {
	if len(a.migrating) == 0 {
		return
	}
	now := time.Now()
	for slot, m := range a.migrating {
		master := a.snap.Master(slot)
		if now.Sub(m.last) > migratingAtMost || master != nil && master.Addr != m.from {
			delete(a.migrating, slot)
		}
	}
}

// readsOffReplicas reports whether slot's reads must go to its master: an ASK said it is being
// migrated. Redis 7.0 does not replicate a slot's MIGRATING state, so a replica answers a read of a
// key already moved away with Nil, where its master answers ASK.
func (a *dispatcherActor) readsOffReplicas(slot int) bool {
	m, ok := a.migrating[slot]
	if ok && time.Since(m.last) > migratingAtMost {
		delete(a.migrating, slot)
		return false
	}
	return ok
}

func (a *dispatcherActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Request:
		if target := a.pick(m, sentNew); target != nil {
			ctx.Send(target.Node.PID(), &m.Request)
		}
	case lent:
		if target := a.pick(m.r, sentNew); target != nil {
			m.r.handOff = target.Node // its sender sends it (Handle.SendAlone)
		}
	case *slotmap.Snapshot:
		if a.snap == nil || m.Version >= a.snap.Version {
			old := a.snap
			a.snap = m
			a.retryWaiting(ctx, true)
			a.gateMoves(ctx, old, m)
			a.forgetMigrated()
			a.forgetRested()
		}
	case *returned:
		a.onReturned(ctx, m.req, m.err)
	case *gateOpen:
		a.openGate(ctx, m.g)
	case *probeDone:
		a.onProbeDone(ctx, m)
	case *retryNow:
		// Its timer fired, so nothing else routes its requests: routed even when this actor was
		// restarted since and its waiting map is new.
		a.onRetryNow(ctx, m.q)
	case *slotmap.Reroute:
		if r, ok := ownerOf(m.Req); ok {
			a.send(ctx, r, m.Node)
		}
	case *actor.Restarting:
		a.restartWaiting(ctx)
	case *actor.Stopping:
		// Requests waiting in a backoff that a map may end are routed now, and nodes fail them if
		// they are closing too; gates open. The rest fail, those whose timer fired already too:
		// their retryNow may come too late for anyone to fail it (a message to a stopped actor is
		// failed only while the system still handles dead letters).
		a.stopping = true
		a.failRouting(nil)
		a.openGates(ctx)
		a.retryWaiting(ctx, false)
		a.giveUpWaiting()
	case *actor.Started, *actor.Stopped:
	default:
		a.opts.Logger.Error("dispatcher: unknown message", "error", &actors.UnknownMessageError{Actor: "dispatcher", Message: m})
	}
}

// ownerOf recovers the dispatcher request a node request belongs to.
func ownerOf(r *node.Request) (*Request, bool) {
	d, ok := r.Owner.(*Request)
	return d, ok
}

// route picks the node for r, a request routed before, by its keys' slot and sends it there.
func (a *dispatcherActor) route(ctx actor.Context, r *Request) {
	if target := a.pick(r, comeBack); target != nil {
		ctx.Send(target.Node.PID(), &r.Request)
	}
}

// pick finds the node for r by its keys' slot and readies r to be sent there. It returns nil when
// r is not to be sent now: abandoned, failed, or waiting in a backoff or behind its slot's
// retries. kind says whether r is new from its sender (sentNew) or routed before (comeBack).
func (a *dispatcherActor) pick(r *Request, kind holdKind) *slotmap.Ref {
	if kind == sentNew {
		r.seq = seqs.Add(1)
	}
	if r.over() {
		return nil
	}
	if a.snap == nil {
		r.giveUp(ErrNoRoute, r.lastErr)
		return nil
	}
	name := r.Name()
	var slot, keys int
	var cross bool
	if r.More == nil {
		slot, keys, cross, r.readOnly = a.commandSlot(name, r.Args)
	} else { // a unit (MULTI ... EXEC): routed by the keys of all its commands, never a read
		var local string
		slot, keys, cross, local = a.unitSlot(r)
		r.readOnly = false
		if local != "" {
			r.fail(fmt.Errorf("actoredis: %s in a unit: %w", local, ErrNodeCommand))
			return nil
		}
	}
	if cross {
		r.fail(fmt.Errorf("actoredis: %s: %w", name, ErrCrossSlotChecked))
		return nil
	}
	hasKey := keys > 0
	r.slot, r.keyed, r.multi = int16(slot), hasKey, keys > 1
	if q := a.heldFor(r, kind); q != nil {
		a.hold(q, r, kind)
		return nil
	}
	var target *slotmap.Ref
	var replica *slotmap.Ref // target, when it is a replica
	var master *node.Node    // then the slot's master
	elsewhere := !hasKey     // another node takes it too (see node.Request.Anywhere)
	switch {
	case hasKey:
		shard := a.snap.Shard(slot)
		if shard == nil {
			a.noRoute(r, noNodeFor(a.snap, slot))
			return nil
		}
		target = shard.Master
		if a.opts.UseReplicas && r.readOnly && !r.toMaster && len(shard.Replicas) > 0 &&
			(len(a.migrating) == 0 || !a.readsOffReplicas(slot)) {
			a.rr++
			elsewhere = true
			// A replica the client cannot reach (down, or not yet connected) is passed over: the
			// read would wait in its offline queue until a new map sent it elsewhere. So is one
			// resting. A master it cannot reach (a failover, until the new map) is passed over
			// for a replica.
			i := int(a.rr % uint64(len(shard.Replicas)+1))
			if i > 0 && a.readable(shard.Replicas[i-1]) {
				replica = shard.Replicas[i-1]
			} else if !shard.Master.Node.Connected() {
				for j := range shard.Replicas { // any other, from the next
					if ref := shard.Replicas[(i+j)%len(shard.Replicas)]; a.readable(ref) {
						replica = ref
						break
					}
				}
			}
			if replica != nil {
				target, master = replica, shard.Master.Node
			}
		}
	default:
		if perNode(name, r.Args) {
			r.fail(fmt.Errorf("actoredis: %s: %w", name, ErrNodeCommand))
			return nil
		}
		target = a.keyless(name, r.Args)
	}
	if target == nil {
		a.noRoute(r, ErrNoRoute)
		return nil
	}
	r.Reset()
	r.Asking, r.Anywhere = false, elsewhere
	r.sentTo(replica, master)
	return target
}

// unitSlot computes the slot of the keys of every command in r's unit, and counts them; cross is
// true when they span slots. local names a command of the unit that acts only on the node it
// reaches (see perNode), if there is one.
func (a *dispatcherActor) unitSlot(r *Request) (slot, keys int, cross bool, local string) {
	slot = -1
	for i := -1; i < len(r.More) && !cross; i++ {
		args := r.Args
		if i >= 0 {
			args = r.More[i]
		}
		name := node.CommandName(args)
		if perNode(name, args) {
			return 0, 0, false, name
		}
		s, n, c, _ := a.commandSlot(name, args)
		keys += n
		switch {
		case c || n > 0 && slot >= 0 && s != slot:
			cross = true
		case n > 0:
			slot = s
		}
	}
	return slot, keys, cross, ""
}

// commandSlot computes the slot of one command's keys, or of the slot it is about (CLUSTER
// COUNTKEYSINSLOT...), how many keys it has (1 for a slot it is about), and whether the command
// only reads.
func (a *dispatcherActor) commandSlot(name string, args []any) (slot, keys int, cross, readOnly bool) {
	spec, known := a.opts.Commands.lookupArgs(name, args)
	slot, keys, cross = countKeys(spec, known, args)
	if keys == 0 {
		if s, ok := slotArgument(name, args); ok {
			slot, keys = s, 1
		}
	}
	return slot, keys, cross, spec.readOnly
}

// countKeys computes the slot of the command's keys and counts them (up to the first in another
// slot); cross is true when they span slots.
func countKeys(spec keySpec, known bool, args []any) (slot, keys int, cross bool) {
	if !known {
		if len(args) < 2 {
			return 0, 0, false
		}
		spec = keySpec{first: 1, last: 1, step: 1} // unknown command: assume the first argument is its key
	}
	slot = -1
	spec.keys(args, func(k any) bool {
		s := keySlot(k)
		if slot >= 0 && s != slot {
			cross = true
			return false
		}
		slot = s
		keys++
		return true
	})
	return slot, keys, cross
}

func keySlot(k any) int {
	switch v := k.(type) {
	case string:
		return slotmap.Slot(v)
	case *string:
		if v != nil { // a nil one fails when the node writes the command
			return slotmap.Slot(*v)
		}
		return 0
	case []byte:
		return slotmap.SlotBytes(v)
	case *[]byte:
		if v != nil {
			return slotmap.SlotBytes(*v)
		}
		return 0
	}
	if b, ok := resp.ArgBytes(k); ok {
		return slotmap.SlotBytes(b)
	}
	return 0
}

// noNodeFor is the error for a slot the map gives no node: ErrNoRoute, with the reason when the map
// knows it (a master that announces no endpoint).
func noNodeFor(snap *slotmap.Snapshot, slot int) error {
	if u, ok := snap.Unreached(slot); ok {
		return fmt.Errorf("slot %d: %s: %w", slot, u.Why(), ErrNoRoute)
	}
	return fmt.Errorf("slot %d: %w", slot, ErrNoRoute)
}

// noRoute handles a request for a slot the map gives to no node: a map read while the cluster was
// being changed, say. Like a CLUSTERDOWN it is retried by a newer map until its deadline; without
// a deadline it fails at once.
func (a *dispatcherActor) noRoute(r *Request, err error) {
	if r.Deadline.IsZero() {
		r.giveUp(err, r.lastErr)
		return
	}
	r.lastErr = err
	a.backOff(r, err)
}

// onReturned handles a request a node gave back.
func (a *dispatcherActor) onReturned(ctx actor.Context, r *Request, err error) {
	r.written = r.written || node.WasWritten(err) // a retry unwritten does not undo it
	if r.replica != "" && a.fromReplica(r, err) {
		a.route(ctx, r)
		return
	}
	r.lastErr = err
	if r.Until.After(r.Deadline) && !r.Deadline.IsZero() {
		// A blocking command waited on its server as asked, and its node moved Until on by that
		// long (node.Request.Until): that wait is not its budget's. A BLPOP 0 let go by a
		// CLUSTERDOWN or a failover after minutes is retried, not timed out.
		r.Deadline = r.Until
	}
	var se *resp.Error
	if errors.As(err, &se) && (se.Prefix == "MOVED" || se.Prefix == "ASK") {
		a.redirect(ctx, r, se)
		return
	}
	// The redirections counted are those in a row: a multi-key command in a slot being migrated
	// meets ASK at the source and TRYAGAIN at the target until its keys are together, and each
	// round is no loop.
	r.hops = r.hops[:0]
	if from, ok := stranded(err); ok {
		r.tries++
		if target := a.pick(r, comeBack); target != nil && target.Addr != from {
			ctx.Send(target.Node.PID(), &r.Request)
		} else if target != nil {
			a.backOff(r, err) // this map still sends it there: a newer one routes it (retryWaiting)
		}
		return
	}
	a.backOff(r, err)
}

// stranded says a node gave the request back, unwritten, because a new map no longer makes it a
// master (slotmap's releaseStranded) or dropped it (its close): the map sends either after the
// map itself, which this dispatcher has then. Such requests are routed by it at once, in the
// order the node had queued them; each in a backoff of its own, one caller's pipeline to a key
// came out reordered (a review: 1555 of 3000 RPUSHes across a failover).
// It returns the node's address.
func stranded(err error) (from string, ok bool) {
	var ce *node.ConnError
	if errors.As(err, &ce) && !ce.Written && (errors.Is(err, node.ErrReleased) || errors.Is(err, node.ErrClosed)) {
		return ce.Addr, true
	}
	return "", false
}

// fromReplica reports whether r, a read a replica gave back with err, is to be sent to its
// master at once, with no backoff: a reply that may say a key is missing, say a Nil (the
// master's answer is the truth: Redis 7.0 does not tell replicas of a slot being migrated, and a
// replica answers Nil for a key already moved to the target, where its master answers ASK; a key
// just written may not have reached the replica either), or LOADING or MASTERDOWN, after which
// the replica rests (restFor): each read would wait a backoff, and the next might land on it
// again.
func (a *dispatcherActor) fromReplica(r *Request, err error) bool {
	if !errors.Is(err, node.ErrMissingReply) {
		if !errors.Is(err, resp.ErrLoading) && !errors.Is(err, resp.ErrMasterDown) {
			return false
		}
		if a.resting == nil {
			a.resting = map[string]time.Time{}
		}
		a.resting[r.replica] = time.Now().Add(restFor)
		r.lastErr = err
	}
	r.toMaster = true
	return true
}

func (a *dispatcherActor) redirect(ctx actor.Context, r *Request, se *resp.Error) {
	script := node.RunsScript(r.Args)
	rd, _, err := resp.ParseRedirect(se)
	if err != nil {
		if script {
			err = se // a script's own reply, which no server sends malformed
		}
		r.fail(err)
		return
	}
	looped := script && followed(r, rd)
	r.hops = append(r.hops, rd.String())
	if len(r.hops) > a.opts.MaxRedirections || looped {
		r.fail(&MaxRedirectionsError{Command: r.Name(), Hops: r.hops, Last: se, Written: r.written,
			Script: script, Looped: looped})
		return
	}
	announced := rd.Addr()
	addr := a.opts.mapAddr(announced)
	if rd.Host == slotmap.UnknownHost && addr == announced {
		// The target announces no endpoint: it cannot be dialled. A newer map says so for the
		// slot (see noNodeFor), or names a node that can be; until the deadline, wait for one.
		a.noRoute(r, fmt.Errorf("%s: the node %s: %w", rd, slotmap.NoEndpoint, ErrNoRoute))
		return
	}
	known := a.snap.ByAddr(addr)
	mapPID := a.opts.Map.PID()
	// Followed once its deadline has come, it would be written past it, and might run after its
	// caller was told it failed: what the redirect says is learnt, and the request gives up.
	late := r.pastDeadline()
	r.Reset()
	r.sentTo(nil, nil) // a redirect names a master
	if rd.Ask {
		if a.opts.UseReplicas {
			if a.migrating == nil {
				a.migrating = map[int]migration{}
			}
			m := migration{last: time.Now()}
			if master := a.snap.Master(rd.Slot); master != nil {
				m.from = master.Addr
			}
			a.migrating[rd.Slot] = m
		}
		if late {
			r.giveUp(ErrTimeout, se)
			return
		}
		if a.holdRedirected(r) {
			return
		}
		r.Asking = true
		if known == nil {
			ctx.Send(mapPID, &slotmap.Resolve{Addr: announced, Req: &r.Request, Back: ctx.Self()})
			return
		}
		if a.snap.Outside(known.Addr) {
			ctx.Send(mapPID, &slotmap.Asked{Addr: known.Addr}) // renews its hold
		}
		ctx.Send(known.Node.PID(), &r.Request)
		return
	}
	r.Asking = false
	delete(a.migrating, rd.Slot) // it has moved: its new master's replicas have its keys
	if known == nil && !late {
		ctx.Send(mapPID, &slotmap.Moved{Slot: rd.Slot, Addr: announced, Req: &r.Request, Back: ctx.Self()})
		return
	}
	ctx.Send(mapPID, &slotmap.Moved{Slot: rd.Slot, Addr: announced})
	if late {
		r.giveUp(ErrTimeout, se)
		return
	}
	if a.holdRedirected(r) {
		return
	}
	ctx.Send(known.Node.PID(), &r.Request)
}

// holdRedirected puts a redirected request behind the requests of its slot waiting to be routed
// again, if there are any and they hold it (see heldFor): followed at once, it would overtake
// them. When they are routed it goes by the map again, and meets the redirect again if it still
// holds; then it is followed.
func (a *dispatcherActor) holdRedirected(r *Request) bool {
	q := a.heldFor(r, redirected)
	if q == nil {
		return false
	}
	a.hold(q, r, redirected)
	return true
}

// followed reports whether r has followed rd already. For a script or a function (EVAL, FCALL...)
// the redirects then go round, and one of them may be its own error reply (redis.error_reply in
// Lua), which node.Refused takes for the server's when it names the slot of its keys and another
// node. Followed, the script would run again at each turn, up to MaxRedirections. Which of them is
// the script's, if any, no reply tells (with a stale map the server's MOVED comes round too): the
// request fails, may-have-run.
func followed(r *Request, rd resp.Redirect) bool {
	return slices.Contains(r.hops, rd.String())
}

// send forwards r after a Reroute from the slot map: to the node an ASK named (asked), or by its
// slot in the newest map after a MOVED.
func (a *dispatcherActor) send(ctx actor.Context, r *Request, asked *node.Node) {
	if asked == nil {
		a.route(ctx, r)
		return
	}
	if r.over() {
		return
	}
	ctx.Send(asked.PID(), &r.Request)
}
