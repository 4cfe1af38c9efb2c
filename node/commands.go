package node

import (
	"math"
	"strconv"
	"strings"
	"time"

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
		if resp.EqualFoldAny(name, "XREAD", "XREADGROUP") && blockAt(args) > 0 {
			return blocking, 0, false
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
		// REPLCONF ACK and GETACK get no reply; READONLY and READWRITE are the client's to set.
		if resp.EqualFoldAny(name, "RESET", "REPLCONF", "READONLY", "READWRITE") {
			return refused, 0, false
		}
	case 'a':
		if strings.EqualFold(name, "AUTH") { // would log every later caller in as another user
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
// (no reply, or none for the next command), REPLCONF (no reply to ACK), RESET and HELLO (protocol,
// user, READONLY), AUTH (user), READONLY and READWRITE (set by the client for a replica), QUIT. Such a
// command would shift every later reply on the connection onto the wrong command. (MULTI, EXEC,
// DISCARD, WATCH and UNWATCH are refused on their own too, by accept: they belong in a unit or on
// a Dedicated, which allows them.)
func unsupported(args []any) bool {
	c, _, _ := classify(args)
	return c == refused
}

// blockingWait reads how long a blocking command may wait on the server, by its own timeout (see
// timeoutArg). forever is true for a timeout of 0. A timeout it cannot read counts as none: the
// server refuses such a command at once.
func blockingWait(args []any) (wait time.Duration, forever bool) {
	wait, forever, _, _ = ownTimeout(args)
	return wait, forever
}

// ownTimeout is blockingWait with where the timeout stands among args and its unit (see
// timeoutArg): i is -1 when there is none.
func ownTimeout(args []any) (wait time.Duration, forever bool, i int, unit time.Duration) {
	i, unit = timeoutArg(args)
	if i < 0 {
		return 0, false, -1, 0
	}
	n, ok := argFloat(args[i])
	if !ok || n < 0 || math.IsNaN(n) {
		return 0, false, i, unit
	}
	wait, forever = serverHold(n, unit)
	return wait, forever, i, unit
}

// timeoutArg is the position of a blocking command's timeout among args, and its unit: the last
// argument in seconds (BLPOP, BRPOP, BZPOPMIN, BZPOPMAX, BRPOPLPUSH, BLMOVE), the first (BLMPOP,
// BZMPOP), or BLOCK's value in milliseconds (XREAD, XREADGROUP); -1 when it has none.
func timeoutArg(args []any) (i int, unit time.Duration) {
	name, _ := resp.ArgText(args[0])
	switch {
	case resp.EqualFoldAny(name, "XREAD", "XREADGROUP"):
		if i := blockAt(args); i > 0 {
			return i, time.Millisecond
		}
		return -1, 0
	case resp.EqualFoldAny(name, "BLMPOP", "BZMPOP"):
		if len(args) > 1 {
			return 1, time.Second
		}
	case len(args) > 1:
		return len(args) - 1, time.Second
	}
	return -1, 0
}

// lessWait returns args, a blocking command the server has already held for held, with its
// timeout cut by that much, for the command sent again (its slot moved, UNBLOCKED): it waits as
// long in all as its timeout says. over is true when nothing is left: the command has timed out.
// A timeout of 0 (forever), or one it cannot read, is left as it is.
func lessWait(args []any, held time.Duration) (cut []any, over bool) {
	if held <= 0 { // its first send
		return args, false
	}
	wait, forever, i, unit := ownTimeout(args)
	if forever || wait <= 0 {
		return args, false
	}
	left := wait - held
	if left <= 0 {
		return nil, true
	}
	cut = append([]any(nil), args...)
	if unit == time.Millisecond {
		cut[i] = strconv.FormatInt(max(left.Milliseconds(), 1), 10)
	} else {
		cut[i] = strconv.FormatFloat(max(left.Seconds(), 0.001), 'f', 3, 64)
	}
	return cut, false
}

// serverHold is how long a command with a timeout of n units may be held by the server: forever
// for 0, and for anything past a century (as good as forever, where a Duration would overflow).
func serverHold(n float64, unit time.Duration) (hold time.Duration, forever bool) {
	if n == 0 || n*float64(unit) >= float64(math.MaxInt64/2) {
		return 0, true
	}
	return time.Duration(n * float64(unit)), false
}

// argFloat reads a number argument: an integer or float64 one, or its text.
func argFloat(a any) (float64, bool) {
	if f, ok := a.(float64); ok {
		return f, true
	}
	if i, ok := resp.ArgInt(a); ok {
		return float64(i), true
	}
	if s, ok := resp.ArgText(a); ok {
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	}
	return 0, false
}

// XReadOptions reads the options of an XREAD or XREADGROUP as the server does, up to STREAMS: it
// returns the position of the value of the BLOCK option (of two, the last counts) and that of the
// STREAMS keyword, -1 for either when there is none. COUNT and BLOCK take a value and GROUP two, so
// a group, consumer or count named "block" or "streams" is no option; an option it does not know
// (a newer server's) is passed over.
func XReadOptions(args []any) (block, streams int) {
	block = -1
	for i := 1; i < len(args); i++ {
		opt, _ := resp.ArgText(args[i])
		switch {
		case strings.EqualFold(opt, "BLOCK"):
			if i+1 < len(args) {
				block = i + 1
			}
			i++
		case strings.EqualFold(opt, "COUNT"):
			i++
		case strings.EqualFold(opt, "GROUP"):
			i += 2
		case strings.EqualFold(opt, "STREAMS"):
			return block, i
		}
	}
	return block, -1
}

// Blocks reports whether args is a blocking command (BLPOP, BLMOVE, XREAD BLOCK...), which a
// node runs on a dedicated connection of its own. It costs an ordinary command a type switch and
// a comparison or two.
func Blocks(args []any) bool {
	c, _, _ := classify(args)
	return c == blocking
}

// blockAt is the position of an XREAD's BLOCK value, or -1.
func blockAt(args []any) int {
	block, _ := XReadOptions(args)
	return block
}

// unit is what accept needs to know of a unit (Request.More), read in one pass over its commands.
type unit struct {
	refused   bool  // a command that breaks the shared connection (see unsupported)
	leftOpen  bool  // a MULTI without the EXEC or DISCARD that ends it, or a WATCH not undone
	blocks    bool  // a blocking command outside MULTI (inside one it is queued, and does not block)
	maxWaitMs int64 // the longest WAIT timeout outside MULTI (WAITs it cannot read are the server's)
	waitZero  bool  // a WAIT outside MULTI with a timeout of 0: forever
}

// scanUnit reads a unit (first, then more) as the server will run it, following MULTI: a unit that
// leaves the connection inside a transaction, or with keys watched, would queue or watch the
// commands of the callers that follow it. (EXEC and DISCARD outside MULTI are errors that end
// nothing; WATCH inside MULTI is refused by the server, UNWATCH there is queued, and EXEC unwatches
// anyway.)
func scanUnit(first []any, more [][]any) (u unit) {
	inMulti, watching := false, false
	step := func(args []any) {
		c, ms, ok := classify(args)
		switch c {
		case refused:
			u.refused = true
		case transaction:
			name, _ := resp.ArgText(args[0])
			switch {
			case strings.EqualFold(name, "MULTI"):
				inMulti = true
			case resp.EqualFoldAny(name, "EXEC", "DISCARD"):
				if inMulti {
					inMulti, watching = false, false
				}
			case strings.EqualFold(name, "WATCH"):
				watching = watching || !inMulti
			case strings.EqualFold(name, "UNWATCH"):
				watching = watching && inMulti
			}
		case waiting:
			if ok && !inMulti {
				u.maxWaitMs, u.waitZero = max(u.maxWaitMs, ms), u.waitZero || ms <= 0
			}
		case blocking:
			u.blocks = u.blocks || !inMulti
		}
	}
	step(first)
	for _, args := range more {
		step(args)
	}
	u.leftOpen = inMulti || watching
	return u
}
