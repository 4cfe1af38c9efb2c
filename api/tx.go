package api

import (
	"context"
	"fmt"
	"time"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// Tx runs cmds as one transaction: MULTI, the commands and EXEC are written back to back on the
// shared connection of the master of their keys' slot, with no other caller's command between
// them, and the server runs the commands with nothing else between them either. Every key of
// every command must be in one slot (use a {hash tag}); keys in several fail with an error
// matching ErrCrossSlot before anything is sent. A transaction with no keys goes to a random
// master. One that holds a command acting only on the node it reaches (FLUSHALL, WAIT, SCRIPT
// LOAD...: see ErrNodeCommand) fails with ErrNodeCommand before anything is sent.
//
// It returns each command's reply, in order. MULTI, EXEC, DISCARD and WATCH among cmds are
// refused with ErrUnsupportedCommand (use Watch for WATCH). A command that fails as it runs
// (WRONGTYPE, say) has an error value in its place (resp.Value.Err); Redis runs the others and does
// not roll back. When the server refuses the transaction whole (a command it could not queue: a
// wrong number of arguments, an unknown command), nothing ran and the error matches ErrExecAbort
// and the refused command's own error, which it names, with the node. When the server refuses the
// MULTI itself (an ACL without it), nothing was queued: the commands ran, each on its own, where
// allowed, and Tx returns their replies with an error matching ErrMultiRefused (WasWritten is
// true). An EXEC that answers null (the transaction aborted) fails it with an error matching Nil.
//
// A transaction that meets a slot moving (MOVED, ASK, TRYAGAIN while queuing) or a transient
// cluster state ran nothing, and is sent again, whole, where the slot is served, within
// CommandTimeout, as a lone command is. One whose connection failed after it was written may
// have run and is not sent again, unless every command was marked Idempotent. Commands that
// block (BLPOP...) do not block inside a transaction; but if the server refuses the MULTI (the
// ACL case above), they run on their own and hold the node's shared connection for their own
// timeout, at most CommandTimeout (then the connection is dropped, failing what was pipelined
// behind them): keep them out of transactions for such a user. For WATCH, which needs a
// connection of its own between reads and the transaction, see Watch.
func (c *Cluster) Tx(ctx context.Context, cmds ...Command) ([]resp.Value, error) {
	if err := ended(ctx); err != nil {
		c.commandDone(ctx, []any{"MULTI"}, "", time.Now(), err)
		return nil, err
	}
	if len(cmds) == 0 {
		return []resp.Value{}, nil
	}
	more := make([][]any, len(cmds)+1)
	idempotent := true
	multi := Cmd("MULTI") // the unit's: its commands' Timeouts added up are its
	for i, cmd := range cmds {
		args, err := bindTx(i, cmd)
		if err != nil {
			c.commandDone(ctx, []any{"MULTI"}, "", time.Now(), err)
			return nil, err
		}
		more[i] = args
		idempotent = idempotent && cmd.idempotent
		multi.timeout += cmd.timeout // EXEC runs them one after another
	}
	more[len(cmds)] = []any{"EXEC"}
	c.inDo.Add(1) // a caller waiting, as in Do: others are not alone
	defer c.inDo.Add(-1)
	f := &Future{}
	multi.idempotent = idempotent
	start := time.Now()
	c.send(ctx, f, multi, more, false)
	v, err := f.AwaitContext(ctx)
	replies, err := txOutcome(f, v, err, cmds)
	c.commandDone(ctx, multi.args, f.r.At(), start, err) // the unit's own report: its outcome
	return replies, err
}

// txOutcome makes Tx's result of its unit's reply v (or err).
func txOutcome(f *Future, v resp.Value, err error, cmds []Command) ([]resp.Value, error) {
	if err != nil {
		return nil, err
	}
	replies := v.Array() // MULTI's OK, a QUEUED per command, EXEC's reply
	exec := replies[len(replies)-1]
	from := f.r.AnsweredBy()
	switch {
	case replies[0].IsError():
		return replies[1 : len(replies)-1], fmt.Errorf("actoredis: node %s: transaction: %w: %w", from, ErrMultiRefused, replies[0].Err())
	case exec.IsError():
		return nil, refused(from, exec.Err(), replies[1:len(replies)-1], cmds)
	case exec.IsNull():
		return nil, fmt.Errorf("actoredis: node %s: transaction: EXEC answered null (aborted): %w", from, Nil)
	}
	return exec.Array(), nil
}

// bindTx binds the i-th command of a transaction, refusing those that would end it, or open
// another, halfway: what follows would run outside it.
func bindTx(i int, cmd Command) ([]any, error) {
	name := node.CommandName(cmd.args)
	switch name {
	case "MULTI", "EXEC", "DISCARD", "WATCH":
		return nil, fmt.Errorf("actoredis: transaction: command %d: %s: %w", i+1, name, ErrUnsupportedCommand)
	}
	args, err := bindOwn(cmd.args)
	if err != nil {
		return nil, fmt.Errorf("actoredis: transaction: command %d: %w", i+1, err)
	}
	return args, nil
}

// refused explains an EXEC that node addr failed: with EXECABORT, by the first command the server
// refused to queue.
func refused(addr string, execErr error, queued []resp.Value, cmds []Command) error {
	for i, q := range queued {
		if q.IsError() {
			return fmt.Errorf("actoredis: node %s: transaction: %w (command %d, %s: %w)",
				addr, execErr, i+1, node.CommandName(cmds[i].args), q.Err())
		}
	}
	return fmt.Errorf("actoredis: node %s: transaction: %w", addr, execErr)
}
