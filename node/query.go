package node

import (
	"context"
	"fmt"

	"github.com/actoredis/actoredis/resp"
)

// Query runs one command on a connection of its own — dialed, handshaken, used once, closed — and
// returns an owned copy of the reply. It is meant for rare commands that must not queue behind a
// node's pipeline or its offline queue, such as topology discovery, where the real reason a server
// cannot be reached matters. A server error reply is returned as the error. The reply is read with
// resp's default limits, whatever opts.Limits says: a query is the client's own (the topology, the
// command table), and Limits bound the replies to a caller's commands.
func Query(ctx context.Context, opts Options, args ...any) (resp.Value, error) {
	opts.Limits = resp.Limits{}
	opts = opts.withDefaults()
	nc, rd, err := dial(ctx, opts)
	if err != nil {
		return resp.Value{}, err
	}
	defer closeConn(nc) //nolint:errcheck // a one-off connection: nothing to do about a failed close
	if d, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = closeConn(nc) })
	defer stop()
	buf, err := resp.AppendCommand(nil, args...)
	if err != nil {
		return resp.Value{}, err
	}
	if _, err := nc.Write(buf); err != nil {
		return resp.Value{}, err
	}
	for {
		v, err := rd.Read()
		if err != nil {
			return resp.Value{}, fmt.Errorf("reading the reply: %w", err)
		}
		if v.Kind() == resp.KindPush {
			continue
		}
		if e := v.Err(); e != nil {
			return resp.Value{}, e
		}
		return v.Clone(), nil
	}
}
