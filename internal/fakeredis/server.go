package fakeredis

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is a fake Redis server. It is safe for concurrent use.
type Server struct {
	ln      net.Listener
	handler func(*Conn)
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
	accepts int
}

// Start listens on a free loopback port and serves each connection with handler.
func Start(handler func(*Conn)) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, handler: handler, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// New is Start for tests: it fails t on error and closes the server when the test ends.
func New(t testing.TB, handler func(*Conn)) *Server {
	t.Helper()
	s, err := Start(handler)
	if err != nil {
		t.Fatalf("fakeredis: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.conns[nc] = struct{}{}
		s.accepts++
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.forget(nc)
			s.handler(&Conn{nc: nc, br: bufio.NewReader(nc)})
		}()
	}
}

func (s *Server) forget(nc net.Conn) {
	_ = nc.Close()
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
}

// Accepts returns how many connections the server has accepted.
func (s *Server) Accepts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepts
}

// CloseConns closes every open connection but keeps listening.
func (s *Server) CloseConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for nc := range s.conns {
		_ = nc.Close()
	}
}

// Close stops listening, closes every connection and waits for the handlers to return.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	_ = s.ln.Close()
	s.CloseConns()
	s.wg.Wait()
}

// Conn is one client connection seen by the fake server.
type Conn struct {
	nc net.Conn
	br *bufio.Reader
}

// ReadCommand reads one command: a RESP array of bulk strings.
func (c *Conn) ReadCommand() ([]string, error) {
	line, err := c.line()
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return nil, fmt.Errorf("fakeredis: expected an array, got %q", line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("fakeredis: bad array header %q", line)
	}
	args := make([]string, n)
	for i := range args {
		h, err := c.line()
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimPrefix(h, "$"))
		if err != nil || !strings.HasPrefix(h, "$") || size < 0 || size > 1<<26 {
			return nil, fmt.Errorf("fakeredis: bad bulk header %q", h)
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(c.br, buf); err != nil {
			return nil, err
		}
		args[i] = string(buf[:size])
	}
	return args, nil
}

func (c *Conn) line() (string, error) {
	s, err := c.br.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r"), nil
}

// Write sends raw bytes.
func (c *Conn) Write(raw string) error {
	_, err := io.WriteString(c.nc, raw)
	return err
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Handshake answers the commands a client sends first (HELLO, AUTH, CLIENT, READONLY)
// like a real server speaking RESP2 would — HELLO is refused as unknown, so the client falls back
// — and returns the first other command. It fails on a read error.
func (c *Conn) Handshake() ([]string, error) {
	for {
		cmd, err := c.ReadCommand()
		if err != nil {
			return nil, err
		}
		switch strings.ToUpper(cmd[0]) {
		case "HELLO":
			err = c.Write("-ERR unknown command 'HELLO', with args beginning with: '3'\r\n")
		case "AUTH", "CLIENT", "READONLY":
			err = c.Write("+OK\r\n")
		default:
			return cmd, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// ErrClosed matches the errors a handler sees when the server or the client closed the connection.
var ErrClosed = net.ErrClosed

// IsClosed reports whether err means the connection is gone.
func IsClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}
