package resp

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Redirect is a parsed MOVED or ASK reply: "-MOVED 3999 127.0.0.1:6381". It is a plain value,
// safe to copy and share.
type Redirect struct {
	Ask  bool   // true for ASK (one-off, send ASKING first), false for MOVED (the slot moved for good)
	Slot int    // the hash slot, 0..16383
	Host string // as the server announced it; "" when it announced none (then use the replying node's host)
	Port int
}

// Addr returns "host:port" (IPv6 hosts in brackets); with an empty Host it is ":port".
func (r Redirect) Addr() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }

func (r Redirect) String() string {
	kind := "MOVED"
	if r.Ask {
		kind = "ASK"
	}
	return fmt.Sprintf("%s %d %s", kind, r.Slot, r.Addr())
}

// ParseRedirect reads the slot and address of a MOVED or ASK error once. ok is false when err is
// not an *Error with one of those prefixes; a malformed one is reported as an error.
func ParseRedirect(e *Error) (r Redirect, ok bool, err error) {
	switch e.Prefix {
	case "MOVED":
	case "ASK":
		r.Ask = true
	default:
		return Redirect{}, false, nil
	}
	slotText, addr, found := strings.Cut(e.Msg, " ")
	slot, perr := strconv.Atoi(slotText)
	if !found || perr != nil || slot < 0 || slot > 16383 {
		return Redirect{}, true, fmt.Errorf("%w: malformed redirect %q", ErrProtocol, e.Error())
	}
	i := strings.LastIndexByte(addr, ':')
	port, perr := strconv.Atoi(addr[i+1:])
	if i < 0 || perr != nil || port <= 0 || port > 65535 {
		return Redirect{}, true, fmt.Errorf("%w: malformed redirect address %q", ErrProtocol, e.Error())
	}
	r.Slot, r.Port = slot, port
	r.Host = strings.TrimSuffix(strings.TrimPrefix(addr[:i], "["), "]")
	return r, true, nil
}
