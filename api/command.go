package api

import (
	"time"

	"github.com/actoredis/actoredis/slotmap"
)

// Command is one Redis command and its arguments. Build it with Cmd. A Command is a value: it may
// be reused and shared, but its arguments must not be changed while a command built from them runs.
type Command struct {
	args       []any
	idempotent bool
	timeout    time.Duration // Timeout's
}

// Cmd builds a command from its name and arguments. Arguments may be string, []byte, any integer
// type (int, int8 ... int64, uint, uint8 ... uint64), float64, float32 or bool (sent as 1 or 0);
// anything else (a named type, time.Duration, a slice of strings, nil) fails the command when it
// is sent, with an error naming the argument and its type.
func Cmd(args ...any) Command { return Command{args: args} }

// Idempotent marks the command safe to run twice: when its connection fails after it was written,
// it is retried on the node that serves its slot instead of failing. Read-only commands are
// retried anyway.
func (c Command) Idempotent() Command {
	c.idempotent = true
	return c
}

// Timeout gives the server up to d to run the command, in place of ClusterOptions.CommandTimeout
// when d is longer: for a command the server takes long to run (a slow script or function, a DEL of
// a huge key), or whose value takes long to send or receive (a 64 MiB SET or GET took 0.35–0.65 s
// on loopback in BenchmarkLargeValue, 1 MiB about 1 ms). Without it, a reply due for longer than CommandTimeout makes the client drop the
// connection, and every command waiting on it fails, may-have-run (WasWritten). The server runs one
// command at a time, and sends the replies of the commands it read together once it has run them
// all: the commands sent to the same node while it runs wait for it, on the client too, and so does
// a command given a Timeout behind another slow one. A caller may then wait for the Timeouts of the
// slow commands ahead of it added up, and a server that stops answering is found out that much
// later: from the client, a server stuck before a slow command looks the same as one running it. In
// a Tx, the Timeouts of its commands add up. A blocking command (BLPOP...) waits as its own timeout
// says, and Watch's commands as WatchTx.Do says; Timeout does not change them. A server busy with
// one command for longer than the cluster's cluster-node-timeout may be marked failing by the
// others, which answer CLUSTERDOWN, or fail it over, meanwhile.
func (c Command) Timeout(d time.Duration) Command {
	c.timeout = d
	return c
}

// slower is the command's node.Request.Slower: its Timeout when longer than commandTimeout, else 0.
func (c Command) slower(commandTimeout time.Duration) time.Duration {
	if c.timeout > commandTimeout {
		return c.timeout
	}
	return 0
}

// Args returns the command's name and arguments.
func (c Command) Args() []any { return c.args }

// GetSlot returns the hash slot of key: CRC16 of the key, or of its {hash tag}, modulo 16384.
func GetSlot(key string) int { return slotmap.Slot(key) }
