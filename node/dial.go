package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/actoredis/actoredis/resp"
)

// dial connects to the server and runs the handshake: HELLO 3 with AUTH and SETNAME (falling back
// to RESP2's AUTH and CLIENT SETNAME when the server does not know HELLO), then READONLY when
// asked. It returns the connection and the reader positioned after the handshake's replies.
func dial(ctx context.Context, o Options) (net.Conn, *resp.Reader, error) {
	ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	nc, err := dialRaw(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	if o.TLS != nil {
		tc := tls.Client(nc, tlsFor(o.TLS, o.Addr))
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
				// A server that does not speak TLS there waits for the end of a line that never comes.
				return nil, nil, fmt.Errorf("TLS handshake: %w (no answer: a server busy, or not speaking TLS on this port?)", err)
			}
			return nil, nil, fmt.Errorf("TLS handshake: %w", err)
		}
		nc = tc
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	// A cancelled ctx (a client closing) interrupts the handshake's reads, not only its deadline.
	interrupt := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	var src io.Reader = nc
	if o.read != nil {
		src = &meter{r: nc, n: o.read}
	}
	rd := resp.NewReader(bufio.NewReaderSize(src, resp.DefaultBufferSize), o.Limits)
	err = handshake(nc, rd, o)
	if o.TLS == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
		// A server that speaks TLS only there closes a connection that does not.
		err = fmt.Errorf("%w (the server closed the connection in the handshake: restarting, or expecting TLS?)", err)
	}
	if err == nil && !handshakeReads(o) {
		// A handshake that read nothing (RESP2, no AUTH, no name, no READONLY) has not heard the
		// server: one stopped or frozen, or still starting, accepts the connection all the same,
		// and what is written on it then may run when it wakes (a review: BLPOPs written into a
		// stopped server popped their elements after the thaw, for connections already closed).
		// Over TLS too, 1.3 servers send session tickets after the handshake, which only a read
		// takes in: left on the socket, they would show as bytes waiting with no reply due. Any
		// reply will do: a server loading its data or running a script refuses PING (LOADING,
		// BUSY) where it would take HELLO, and is alive all the same.
		err = heard(nc, rd)
	}
	if !interrupt() && err == nil {
		err = ctx.Err() // it fired: the connection may now carry a deadline in the past
	}
	if err != nil {
		_ = closeConn(nc)
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, rd, nil
}

// dialRaw opens the connection dial runs the handshake on: with Options.Dialer when set, else
// over TCP with keepAlive. A panic in the Dialer, the user's code, fails the dial.
func dialRaw(ctx context.Context, o Options) (nc net.Conn, err error) {
	if o.Dialer == nil {
		d := net.Dialer{KeepAliveConfig: keepAlive}
		return d.DialContext(ctx, "tcp", o.Addr)
	}
	defer func() {
		if p := recover(); p != nil {
			if nc != nil {
				_ = nc.Close()
			}
			nc, err = nil, fmt.Errorf("the Dialer panicked: %v", p)
		}
	}()
	nc, err = o.Dialer(ctx, "tcp", o.Addr)
	switch {
	case err != nil && nc != nil:
		_ = nc.Close()
		return nil, err
	case err == nil && nc == nil:
		return nil, errors.New("the Dialer returned no connection and no error")
	}
	return nc, err
}

// meter counts the bytes read through it: one atomic add per read from the socket, not per reply.
type meter struct {
	r io.Reader
	n *atomic.Int64
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.n.Add(int64(n))
	return n, err
}

// keepAlive probes a connection idle for 5 s every 5 s, and gives it up after 3 probes unanswered:
// a dead network or host is found within 20 s, where Go's default (15 s, then 9 probes 15 s apart)
// takes 150 s. It matters for the dedicated connections, which carry no health-check PING: a
// BLPOP k 0 on one waits on its socket alone. A server that is busy but alive is not mistaken for
// dead: its host's TCP stack answers the probes.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 5 * time.Second, Count: 3}

// closeConn closes nc at once. Over TLS it closes the connection underneath: tls.Conn.Close first
// sends a close_notify alert, which waits up to 5 s for room in the socket's buffer when the
// server has stopped reading — often the very reason the connection is being closed — and would
// hold the node actor for that long.
func closeConn(nc net.Conn) error {
	if tc, ok := nc.(*tls.Conn); ok {
		return tc.NetConn().Close()
	}
	return nc.Close()
}

// tlsFor returns conf, or a copy naming the server by addr's host when conf names none: as
// tls.Dial does, so that the certificate of each node of the cluster is verified against its own
// address.
func tlsFor(conf *tls.Config, addr string) *tls.Config {
	if conf.ServerName != "" || conf.InsecureSkipVerify {
		return conf
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return conf
	}
	c := conf.Clone()
	c.ServerName = host
	return c
}

func handshake(nc net.Conn, rd *resp.Reader, o Options) error {
	if o.RESP == 3 {
		args := []string{"HELLO", "3"}
		if o.Username != "" || o.Password != "" { // a user may have no password (ACL nopass)
			args = append(args, "AUTH", userOrDefault(o.Username), o.Password)
		}
		if o.ClientName != "" {
			args = append(args, "SETNAME", o.ClientName)
		}
		err := call(nc, rd, args...)
		var se *resp.Error
		switch {
		case err == nil:
			return readOnly(nc, rd, o)
		case errors.As(err, &se) && (se.Prefix == "NOPROTO" ||
			se.Prefix == "ERR" && strings.Contains(se.Msg, "unknown command")):
			// A server without HELLO (before 6.0), or one (a proxy) that speaks RESP2 only.
		default:
			return err
		}
	}
	if o.Username != "" || o.Password != "" {
		args := []string{"AUTH", o.Password}
		if o.Username != "" {
			args = []string{"AUTH", o.Username, o.Password}
		}
		if err := call(nc, rd, args...); err != nil {
			return err
		}
	}
	if o.ClientName != "" {
		if err := call(nc, rd, "CLIENT", "SETNAME", o.ClientName); err != nil {
			return err
		}
	}
	return readOnly(nc, rd, o)
}

// handshakeReads reports whether the handshake reads a reply: it sends HELLO, AUTH, CLIENT
// SETNAME or READONLY.
func handshakeReads(o Options) bool {
	return o.RESP == 3 || o.Username != "" || o.Password != "" || o.ClientName != "" || o.ReadOnly
}

func readOnly(nc net.Conn, rd *resp.Reader, o Options) error {
	if !o.ReadOnly {
		return nil
	}
	err := call(nc, rd, "READONLY")
	if errors.Is(err, resp.ErrNoPerm) { // an ACL's refusal; anything else may pass (BUSY, a reset)
		return fmt.Errorf("%w: %w", ErrReadOnlyRefused, err)
	}
	return err
}

// heard sends PING and reads its reply, whatever it is: only a write or a read that fails (the
// dial's deadline passing) is an error.
func heard(nc net.Conn, rd *resp.Reader) error {
	_, err := exchange(nc, rd, "PING")
	return err
}

// call runs one command synchronously during the handshake: the server's error reply is a
// HandshakeError. Passwords never reach the error.
func call(nc net.Conn, rd *resp.Reader, args ...string) error {
	v, err := exchange(nc, rd, args...)
	if err == nil {
		if se := v.Err(); se != nil {
			return &HandshakeError{Step: args[0], Err: se}
		}
	}
	return err
}

// exchange writes one command and reads its reply, passing over push frames.
func exchange(nc net.Conn, rd *resp.Reader, args ...string) (resp.Value, error) {
	if _, err := nc.Write(resp.AppendStrings(nil, args...)); err != nil {
		return resp.Value{}, err
	}
	for {
		v, err := rd.Read()
		if err != nil {
			return resp.Value{}, fmt.Errorf("%s: %w", args[0], err)
		}
		if v.Kind() != resp.KindPush {
			return v, nil
		}
	}
}

func userOrDefault(u string) string {
	if u == "" {
		return "default"
	}
	return u
}
