package testcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Server is a single non-cluster redis-server started by StartStandalone or NewStandalone. It is safe for
// concurrent use.
type Server struct {
	node *Node
	dir  string
	tls  *tlsFiles

	stopOnce sync.Once
	stopErr  error
}

// StartStandalone starts one non-cluster server and returns once it answers. Of opts it uses TLS,
// Password, Users and ExtraConfig. ctx bounds the start (60 s when it has no earlier deadline). The caller
// must call Stop.
func StartStandalone(ctx context.Context, opts Options) (*Server, error) {
	opts, bin, dir, err := prepare(opts, "testcluster-standalone-")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, defaultStartTimeout)
	defer cancel()
	s := &Server{dir: dir}
	if err := s.start(ctx, bin, opts); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// NewStandalone is StartStandalone for tests and benchmarks: it fails t with t.Fatalf on error (also when
// redis-server is missing: it never skips) and registers Stop with t.Cleanup.
func NewStandalone(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := StartStandalone(t.Context(), opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return s
}

func (s *Server) start(ctx context.Context, bin string, opts Options) error {
	if opts.TLS {
		var err error
		if s.tls, err = writeTLSFiles(s.dir); err != nil {
			return err
		}
	}
	n := &Node{
		dir:      filepath.Join(s.dir, "node0"),
		bin:      bin,
		tlsCfg:   s.tls.clientConfig(),
		password: opts.Password,
		users:    opts.Users,
		role:     RoleMaster,
	}
	n.conf = serverConfig{dir: n.dir, tls: s.tls, opts: opts}
	if err := os.Mkdir(n.dir, 0o755); err != nil {
		return fmt.Errorf("testcluster: %w", err)
	}
	s.node = n
	return n.start(ctx, true)
}

// Addr returns the server's address, "127.0.0.1:port".
func (s *Server) Addr() string { return s.node.Addr() }

// Port returns the server's port (the TLS port when TLS is on).
func (s *Server) Port() int { return s.node.Port() }

// PID returns the process id of the current (or last) run.
func (s *Server) PID() int { return s.node.PID() }

// Running reports whether the server's process is running.
func (s *Server) Running() bool { return s.node.Running() }

// Dir returns the server's temporary directory; Stop removes it.
func (s *Server) Dir() string { return s.node.Dir() }

// LogTail returns the last lines of the server's redis.log.
func (s *Server) LogTail(lines int) string { return s.node.LogTail(lines) }

// Do sends one command; see Node.Do.
func (s *Server) Do(ctx context.Context, args ...string) (any, error) { return s.node.Do(ctx, args...) }

// BlockedClients is Node.BlockedClients.
func (s *Server) BlockedClients(ctx context.Context) (int, error) { return s.node.BlockedClients(ctx) }

// InfoCount is Node.InfoCount.
func (s *Server) InfoCount(ctx context.Context, section, key, name string) (int, error) {
	return s.node.InfoCount(ctx, section, key, name)
}

// Kill SIGKILLs the server's process and reaps it.
func (s *Server) Kill() { s.node.kill() }

// Restart starts the server again on the same port after Kill, and returns once it answers (empty: there
// is no persistence).
func (s *Server) Restart(ctx context.Context) error {
	if s.node.Running() {
		return fmt.Errorf("testcluster: restart %s: the server is running", s.Addr())
	}
	return s.node.start(ctx, false)
}

// TLSConfig returns a new client configuration trusting the server's CA, or nil when TLS is off.
func (s *Server) TLSConfig() *tls.Config { return s.tls.clientConfig() }

// CAFile returns the path of the CA certificate (PEM), or "" when TLS is off.
func (s *Server) CAFile() string {
	if s.tls == nil {
		return ""
	}
	return s.tls.caFile
}

// Stop shuts the server down (SHUTDOWN NOSAVE NOW, SIGKILL as fallback), reaps it and removes its
// directory. It is idempotent and safe after Kill.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.node != nil {
			s.node.stop()
		}
		if err := os.RemoveAll(s.dir); err != nil {
			s.stopErr = fmt.Errorf("testcluster: remove %s: %w", s.dir, err)
		}
	})
	return s.stopErr
}
