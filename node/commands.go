package node

import (
	"strconv"
	"strings"

	"github.com/actoredis/actoredis/resp"
)

// argText returns a command name or keyword given as a string, *string, []byte or *[]byte. Only the
// byte forms allocate.
func argText(a any) (string, bool) {
	switch v := a.(type) {
	case []byte:
		return string(v), true
	case *[]byte:
		if v != nil {
			return string(*v), true
		}
		return "", false
	}
	return resp.ArgString(a)
}

// CommandName returns the upper-case name of the command args (its first argument), for errors,
// logs and routing.
func CommandName(args []any) string {
	if len(args) == 0 {
		return "(empty command)"
	}
	if s, ok := argText(args[0]); ok {
		return strings.ToUpper(s)
	}
	return "(command)"
}

// isBlocking reports whether a command blocks its connection: it then runs on a dedicated one.
// WAIT and WAITAOF are not: they wait for the writes of the connection they are sent on, so they
// go on the shared one, bounded by their own timeout (see waitTimeout).
func isBlocking(args []any) bool {
	if len(args) == 0 {
		return false
	}
	if s, ok := args[0].(string); ok && (s == "" || !blockingInitial(s[0])) {
		return false // the hot path: one switch for a plain string name
	}
	name, ok := argText(args[0])
	if !ok || name == "" || !blockingInitial(name[0]) {
		return false
	}
	if oneOf(name, "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP") {
		return true
	}
	if oneOf(name, "XREAD", "XREADGROUP") {
		for _, a := range args[1:] {
			if s, ok := argText(a); ok && strings.EqualFold(s, "BLOCK") {
				return true
			}
		}
	}
	return false
}

func blockingInitial(c byte) bool {
	switch c | 0x20 {
	case 'b', 'w', 'x':
		return true
	}
	return false
}

// unsupported reports whether a command breaks the rule a shared, pipelined connection lives by,
// one reply per command, or resets what the client set up on it: the subscribe family (answered
// by push frames, then a stream of messages), MONITOR, SYNC and PSYNC (a stream), CLIENT REPLY
// (no reply, or none for the next command), RESET and HELLO (protocol, user, READONLY), QUIT. Such a
// command would shift every later reply on the connection onto the wrong command.
func unsupported(args []any) bool {
	if len(args) == 0 {
		return false
	}
	name, ok := argText(args[0])
	if !ok {
		return false
	}
	switch len(name) { // by length, so that GET, SET and most names take one comparison
	case 4:
		return oneOf(name, "QUIT", "SYNC")
	case 5:
		return oneOf(name, "RESET", "HELLO", "PSYNC")
	case 6:
		if len(args) > 1 && strings.EqualFold(name, "CLIENT") {
			sub, ok := argText(args[1])
			return ok && strings.EqualFold(sub, "REPLY")
		}
	case 7:
		return oneOf(name, "MONITOR")
	case 9:
		return oneOf(name, "SUBSCRIBE")
	case 10:
		return oneOf(name, "PSUBSCRIBE", "SSUBSCRIBE")
	case 11:
		return oneOf(name, "UNSUBSCRIBE")
	case 12:
		return oneOf(name, "PUNSUBSCRIBE", "SUNSUBSCRIBE")
	}
	return false
}

// oneOf reports whether name is one of names, ignoring case, without allocating.
func oneOf(name string, names ...string) bool {
	for _, n := range names {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false

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

// waitTimeout returns the timeout argument of WAIT (numreplicas timeout) or WAITAOF (numlocal
// numreplicas timeout), in milliseconds; ok is false for any other command (and for a wrong
// number of arguments). A timeout it cannot read is returned as 0.
func waitTimeout(args []any) (ms int64, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	if s, isString := args[0].(string); isString && (s == "" || s[0]|0x20 != 'w') {
		return 0, false // the hot path
	}
	name, _ := argText(args[0])
	if !(strings.EqualFold(name, "WAIT") && len(args) == 3) && !(strings.EqualFold(name, "WAITAOF") && len(args) == 4) {
		return 0, false // another command, or a wrong arity the server will answer
	}
	switch v := args[len(args)-1].(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case int32:
		return int64(v), true
	}
	text, _ := argText(args[len(args)-1])
	n, _ := strconv.ParseInt(text, 10, 64)
	return n, true
}
