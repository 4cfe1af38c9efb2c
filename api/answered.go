package api

import (
	"context"
	"fmt"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// doAt is Do for the scripting helpers, which act on the node that said it lacks a script or a
// function: it returns, with a server's error reply, the address of the node that answered it
// (after any redirect), or "". The error is the server's, as Do returns it.
func (c *Cluster) doAt(ctx context.Context, cmd Command) (resp.Value, string, error) {
	v, err := c.do(ctx, cmd, true)
	// Only the node's own wrapping of the reply (NameNode) as the error itself: a GaveUpError's
	// last error is a CommandError too (a TRYAGAIN met before the deadline), and its ErrTimeout
	// or ErrClientClosed must stay.
	if ce, ok := err.(*node.CommandError); ok { //nolint:errorlint // see above
		if se, ok := ce.Err.(*resp.Error); ok { //nolint:errorlint // the reply, as NameNode wraps it
			return v, ce.Addr, se
		}
	}
	return v, "", err
}

// onNode runs fn on the node at addr (as the map names it): one of the map's, or, for a master
// with no slots yet that an ASK reached, one the map holds for the time of fn.
func (c *Cluster) onNode(ctx context.Context, addr string, fn func(n *Node) error) error {
	rt := c.run.Load()
	if rt == nil {
		return ErrClientClosed
	}
	if snap := rt.smap.Snapshot(); snap != nil {
		if ref := snap.ByAddr(addr); ref != nil {
			return fn(&Node{ref: ref, c: c})
		}
	}
	ref, release, err := rt.smap.Learn(ctx, addr)
	if err != nil {
		return fmt.Errorf("actoredis: node %s: %w", addr, err)
	}
	defer release()
	return fn(&Node{ref: ref, c: c})
}
