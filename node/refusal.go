package node

import (
	"strconv"
	"strings"

	"github.com/actoredis/actoredis/resp"
)

// scriptCommands run code of the caller's that may reply with any error it likes, after it ran.
var scriptCommands = []string{"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"}

// RunsScript reports whether args is a command that runs a script or a function (EVAL, EVALSHA,
// FCALL and their _RO forms), whose own error replies may look like the server's.
func RunsScript(args []any) bool {
	if len(args) == 0 {
		return false
	}
	name, ok := resp.ArgText(args[0])
	return ok && containsFold(scriptCommands, name)
}

// Refused reports whether e, the reply of the node at addr to the command args, is the server
// refusing the command without running it: a redirect or a transient state (Returnable), in the
// server's own words from a script or a function (see refusedUnrun). mapAddr (nil: none) maps a
// redirect's announced target to the address dialled, as the client's address map does, to
// compare it with addr; keySlot (nil: not known) gives a key's slot, to compare with a redirect's.
func Refused(args []any, e *resp.Error, addr string, mapAddr func(string) string, keySlot func(string) int) bool {
	return Returnable(e) && refusedUnrun(args, e, addr, mapAddr, keySlot)
}

// refusedUnrun reports whether e, which Returnable accepts, is the server refusing the command
// args without running it, as the error's prefix says, rather than a script's or a function's own
// error reply with that prefix: Lua's redis.error_reply("TRYAGAIN later") ran the script, and
// taken for the server's refusal it would run again, up to the command's deadline. From EVAL,
// EVALSHA, FCALL and their _RO forms, then, only an error in the server's own words counts, and a
// redirect only for the slot of the command's keys (a server redirects a script for nothing else,
// and one without keys never) and not naming addr, the node that answered (which no server
// sends). An error of the script's in the server's exact words is taken for the server's: that is
// the limit of what the reply tells. (The dispatcher, which knows the redirects it followed, looks
// at a script's redirect again: see its redirect.)
func refusedUnrun(args []any, e *resp.Error, addr string, mapAddr func(string) string, keySlot func(string) int) bool {
	if !RunsScript(args) {
		return true
	}
	switch e.Prefix {
	case "MOVED", "ASK":
		slot, target, _ := strings.Cut(e.Msg, " ")
		return target != addr && (mapAddr == nil || mapAddr(target) != addr) &&
			(keySlot == nil || ofKeys(args, slot, keySlot))
	case "TRYAGAIN":
		return strings.HasPrefix(e.Msg, "Multiple keys request during rehashing")
	case "CLUSTERDOWN":
		return strings.HasPrefix(e.Msg, "The cluster is down") || strings.HasPrefix(e.Msg, "Hash slot not served")
	case "LOADING":
		return strings.Contains(e.Msg, " is loading the dataset in memory") // "Redis is", "Valkey is"
	case "MASTERDOWN":
		return strings.HasPrefix(e.Msg, "Link with MASTER is down")
	case "READONLY":
		// A write of the script's refused by a replica: the server's words, then where in the script.
		return strings.HasPrefix(e.Msg, "You can't write against a read only")
	}
	return false // UNBLOCKED: a script never blocks
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// keysSlot is the slot of the keys of args, a script's or a function's command (name, script or
// function, numkeys, keys...), in decimal as a redirect names it, or "" when it has none; ok is
// false when its arguments do not tell (a key of a type the encoder refuses).
func keysSlot(args []any, keySlot func(string) int) (slot string, ok bool) {
	if len(args) < 3 {
		return "", false
	}
	n, ok := resp.ArgInt(args[2])
	switch {
	case !ok:
		return "", false
	case n <= 0 || len(args) < 4:
		return "", true
	}
	key, ok := resp.ArgBytes(args[3]) // as written: a number's digits
	if !ok {
		return "", false
	}
	return strconv.Itoa(keySlot(string(key))), true
}

// ofKeys reports whether slot, a redirect's, may be the slot of the keys of args (see keysSlot).
func ofKeys(args []any, slot string, keySlot func(string) int) bool {
	keys, ok := keysSlot(args, keySlot)
	return !ok || keys == slot
}
