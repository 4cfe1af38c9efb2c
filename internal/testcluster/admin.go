package testcluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// The harness's own RESP2 client. It is deliberately independent of the repository's resp package: the
// harness is the oracle for the codec's tests, so it must not share its bugs. It favours simplicity over
// speed.

// ServerError is an error reply from a server ("-ERR ...", "-MOVED 3999 127.0.0.1:7001"). Node.Do returns
// it wrapped in an error naming the node and the command; use errors.As to get it. Inside an array reply
// (EXEC) it appears as an element.
type ServerError struct {
	// Msg is the reply without the leading '-', e.g. "WRONGPASS invalid username-password pair".
	Msg string
}

// Error returns the server's message.
func (e *ServerError) Error() string { return e.Msg }

// Prefix returns the first word of the message, e.g. "MOVED", "ERR", "WRONGPASS".
func (e *ServerError) Prefix() string {
	prefix, _, _ := strings.Cut(e.Msg, " ")
	return prefix
}

const (
	// defaultCommandTimeout bounds one command when the context has no deadline.
	defaultCommandTimeout = 10 * time.Second
	// maxBulkLen and maxArrayLen reject absurd lengths before allocating.
	maxBulkLen  = 512 << 20
	maxArrayLen = 1 << 24
	maxDepth    = 64
)

// aLongTimeAgo is a deadline in the past, used to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// adminConn is one connection to a server. It is not safe for concurrent use; a Node pools them.
type adminConn struct {
	conn net.Conn
	r    *bufio.Reader
	gen  uint64 // the Node's process generation when dialled
}

// dialAdmin connects to addr (with TLS when cfg is not nil) and authenticates with password when it is
// not empty. A *ServerError from AUTH is returned as is.
func dialAdmin(ctx context.Context, addr string, cfg *tls.Config, password string) (*adminConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// While a server is starting, the kernel may pick the very port being polled as the local port and
	// connect the socket to itself (TCP simultaneous open).
	if conn.LocalAddr().String() == conn.RemoteAddr().String() {
		_ = conn.Close()
		return nil, fmt.Errorf("dial %s: connected to itself (the server is not listening yet)", addr)
	}
	if cfg != nil {
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	a := &adminConn{conn: conn, r: bufio.NewReaderSize(conn, 16<<10)}
	if password != "" {
		v, err := a.do(ctx, []string{"AUTH", password})
		if err == nil {
			if se, ok := v.(*ServerError); ok {
				err = se
			}
		}
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
	}
	return a, nil
}

// close closes the connection.
func (a *adminConn) close() { _ = a.conn.Close() }

// do sends one command and reads its reply. An error reply is returned as a *ServerError value with a nil
// error; a non-nil error means the connection is unusable and must be closed.
func (a *adminConn) do(ctx context.Context, args []string) (any, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultCommandTimeout)
	}
	if err := a.conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = a.conn.SetDeadline(aLongTimeAgo) })
	v, err := a.roundTrip(args)
	if !stop() && err == nil {
		// The context ended meanwhile: the deadline may be poisoned at any moment, so give the
		// connection up even though this command succeeded.
		err = ctx.Err()
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	}
	return v, err
}

func (a *adminConn) roundTrip(args []string) (any, error) {
	if _, err := a.conn.Write(appendCommand(nil, args)); err != nil {
		return nil, err
	}
	return readReply(a.r)
}

// appendCommand appends args encoded as a RESP array of bulk strings.
func appendCommand(b []byte, args []string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, arg := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(arg)), 10)
		b = append(b, '\r', '\n')
		b = append(b, arg...)
		b = append(b, '\r', '\n')
	}
	return b
}

// errProtocol reports a reply that is not valid RESP2.
var errProtocol = errors.New("testcluster: RESP protocol error")

// readReply reads one RESP2 reply: simple string and bulk string → string, null bulk and null array →
// nil, integer → int64, array → []any (nested), error → *ServerError.
func readReply(r *bufio.Reader) (any, error) {
	return readValue(r, 0)
}

func readValue(r *bufio.Reader, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: arrays nested deeper than %d", errProtocol, maxDepth)
	}
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if len(line) == 0 {
		return nil, fmt.Errorf("%w: empty line", errProtocol)
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return &ServerError{Msg: body}, nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: bad integer %q", errProtocol, body)
		}
		return n, nil
	case '$':
		n, err := readLength(body, maxBulkLen)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, unexpectedEOF(err)
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return nil, fmt.Errorf("%w: bulk string of %d bytes not followed by CRLF", errProtocol, n)
		}
		return string(buf[:n]), nil
	case '*':
		n, err := readLength(body, maxArrayLen)
		if err != nil || n < 0 {
			return nil, err
		}
		elems := make([]any, n)
		for i := range elems {
			if elems[i], err = readValue(r, depth+1); err != nil {
				return nil, unexpectedEOF(err)
			}
		}
		return elems, nil
	default:
		return nil, fmt.Errorf("%w: unexpected type byte %q in %q", errProtocol, line[0], line)
	}
}

// readLength parses the length of a bulk string or array: -1 (null) or 0..limit.
func readLength(s string, limit int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < -1 || n > limit {
		return 0, fmt.Errorf("%w: bad length %q", errProtocol, s)
	}
	return n, nil
}

// readLine reads one CRLF-terminated line and returns it without the CRLF.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		if line != "" {
			return "", unexpectedEOF(err)
		}
		return "", err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", fmt.Errorf("%w: line not terminated by CRLF: %q", errProtocol, line)
	}
	return line[:len(line)-2], nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// commandName names a command in error messages without its arguments (which may hold passwords):
// "GET", or "CLUSTER SETSLOT" for container commands.
func commandName(args []string) string {
	if len(args) == 0 {
		return "(empty command)"
	}
	name := strings.ToUpper(args[0])
	switch name {
	case "CLUSTER", "CONFIG", "ACL", "CLIENT", "DEBUG", "MEMORY", "OBJECT", "SCRIPT", "FUNCTION",
		"COMMAND", "MODULE", "SLOWLOG", "LATENCY", "PUBSUB", "XINFO", "XGROUP":
		if len(args) > 1 {
			name += " " + strings.ToUpper(args[1])
		}
	}
	return name
}

// parseInfo parses an INFO or CLUSTER INFO reply into its "key:value" fields.
func parseInfo(v any) map[string]string {
	s, _ := v.(string)
	fields := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, val, ok := strings.Cut(line, ":"); ok {
			fields[k] = val
		}
	}
	return fields
}
