package node

import (
	"strings"

	"github.com/actoredis/actoredis/resp"
)

// CommandName returns the upper-case name of the command args (its first argument), for errors,
// logs and routing.
func CommandName(args []any) string {
	if len(args) == 0 {
		return "(empty command)"
	}
	if s, ok := resp.ArgText(args[0]); ok {
		return strings.ToUpper(s)
	}
	return "(command)"
}

// class is how the node treats a command on its shared connection.
type class uint8

const (
	ordinary    class = iota
	refused           // breaks or resets the shared connection: see unsupported
	transaction       // MULTI, EXEC, DISCARD, WATCH, UNWATCH: only as a unit, or on a Dedicated
	waiting           // WAIT, WAITAOF: on the shared connection, bounded by their timeout
	blocking          // runs on a dedicated connection
)

// classify tells how args is to be run: blocking commands on a dedicated connection; WAIT and
// WAITAOF on the shared one, since they wait for the writes of the connection they are sent on.
// For those two it also returns their timeout in milliseconds (ok false when it cannot be read:
// the server will answer that). It takes the name once and compares it only when its first letter
// is that of a name of interest, so an ordinary command costs a type switch and a comparison or two.
func classify(args []any) (c class, waitMs int64, waitOK bool) {
	if len(args) == 0 {
		return ordinary, 0, false
	}
	name, ok := resp.ArgText(args[0])
	if !ok || len(name) < 4 {
		return ordinary, 0, false
	}
	switch name[0] | 0x20 {
	case 'b':
		if resp.EqualFoldAny(name, "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP") {
			return blocking, 0, false
		}
	case 'x':
		if resp.EqualFoldAny(name, "XREAD", "XREADGROUP") {
			for _, a := range args[1:] {
				if s, ok := resp.ArgText(a); ok && strings.EqualFold(s, "BLOCK") {
					return blocking, 0, false
				}
			}
		}
	case 'w':
		switch {
		case strings.EqualFold(name, "WATCH"):
			return transaction, 0, false
		case strings.EqualFold(name, "WAIT") && len(args) == 3, strings.EqualFold(name, "WAITAOF") && len(args) == 4:
			ms, ok := resp.ArgInt(args[len(args)-1])
			return waiting, ms, ok
		}
	case 'm':
		if strings.EqualFold(name, "MULTI") {
			return transaction, 0, false
		}
		if strings.EqualFold(name, "MONITOR") {
			return refused, 0, false
		}
	case 'e':
		if strings.EqualFold(name, "EXEC") {
			return transaction, 0, false
		}
	case 'd':
		if strings.EqualFold(name, "DISCARD") {
			return transaction, 0, false
		}
	case 'u':
		if strings.EqualFold(name, "UNWATCH") {
			return transaction, 0, false
		}
		if strings.EqualFold(name, "UNSUBSCRIBE") {
			return refused, 0, false
		}
	case 's':
		if resp.EqualFoldAny(name, "SUBSCRIBE", "SSUBSCRIBE", "SUNSUBSCRIBE", "SYNC") {
			return refused, 0, false
		}
	case 'p':
		if resp.EqualFoldAny(name, "PSUBSCRIBE", "PUNSUBSCRIBE", "PSYNC") {
			return refused, 0, false
		}
	case 'r':
		if strings.EqualFold(name, "RESET") {
			return refused, 0, false
		}
	case 'h':
		if strings.EqualFold(name, "HELLO") {
			return refused, 0, false
		}
	case 'q':
		if strings.EqualFold(name, "QUIT") {
			return refused, 0, false
		}
	case 'c':
		if len(args) > 1 && strings.EqualFold(name, "CLIENT") {
			if sub, ok := resp.ArgText(args[1]); ok && strings.EqualFold(sub, "REPLY") {
				return refused, 0, false
			}
		}
	}
	return ordinary, 0, false
}

// unsupported reports whether a command breaks the rule a shared, pipelined connection lives by,
// one reply per command, or resets what the client set up on it: the subscribe family (answered
// by push frames, then a stream of messages), MONITOR, SYNC and PSYNC (a stream), CLIENT REPLY
// (no reply, or none for the next command), RESET and HELLO (protocol, user, READONLY), QUIT. Such a
// command would shift every later reply on the connection onto the wrong command. (MULTI, EXEC,
// DISCARD, WATCH and UNWATCH are refused on their own too, by accept: they belong in a unit or on
// a Dedicated, which allows them.)
func unsupported(args []any) bool {
	c, _, _ := classify(args)
	return c == refused
}

// anyUnsupported is unsupported for the commands of a unit (Request.More).
func anyUnsupported(cmds [][]any) bool {
	for _, args := range cmds {
		if unsupported(args) {
			return true
		}
	}
	return false
}
