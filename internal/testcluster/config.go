package testcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// serverConfig is what a node's redis.conf is built from.
type serverConfig struct {
	dir     string
	port    int
	busPort int // used only when cluster is set
	cluster bool
	tls     *tlsFiles // nil for plain text
	opts    Options
	// hostname is the announced hostname ("" for none); preferHostname sets
	// cluster-preferred-endpoint-type hostname.
	hostname       string
	preferHostname bool
}

// lines returns the redis.conf lines, ExtraConfig last.
func (sc serverConfig) lines() []string {
	q := quoteConfig
	var l []string
	if sc.tls != nil {
		l = append(l,
			"port 0",
			"tls-port "+strconv.Itoa(sc.port),
			"tls-cert-file "+q(sc.tls.certFile),
			"tls-key-file "+q(sc.tls.keyFile),
			"tls-ca-cert-file "+q(sc.tls.caFile),
			"tls-auth-clients no",
			"tls-replication yes",
		)
		if sc.cluster {
			l = append(l, "tls-cluster yes")
		}
	} else {
		l = append(l, "port "+strconv.Itoa(sc.port))
	}
	l = append(l,
		"bind 127.0.0.1",
		"protected-mode no",
		"daemonize no",
		"dir "+q(sc.dir),
		"logfile "+q(filepath.Join(sc.dir, logFileName)),
		`save ""`,
		"appendonly no",
		"repl-diskless-sync yes",
		"repl-diskless-sync-delay 0",
	)
	if sc.cluster {
		l = append(l,
			"cluster-enabled yes",
			"cluster-config-file nodes.conf",
			"cluster-port "+strconv.Itoa(sc.busPort),
			fmt.Sprintf("cluster-node-timeout %d", sc.opts.NodeTimeout.Milliseconds()),
			"cluster-replica-validity-factor 0",
			"cluster-allow-replica-migration no",
		)
		if sc.hostname != "" {
			l = append(l, "cluster-announce-hostname "+q(sc.hostname))
		}
		if sc.preferHostname {
			l = append(l, "cluster-preferred-endpoint-type hostname")
		}
	}
	if sc.opts.Password != "" {
		l = append(l, "requirepass "+q(sc.opts.Password), "masterauth "+q(sc.opts.Password))
	}
	return append(l, sc.opts.ExtraConfig...)
}

// write writes redis.conf in sc.dir and returns its path.
func (sc serverConfig) write() (string, error) {
	path := filepath.Join(sc.dir, configFileName)
	data := "# written by internal/testcluster\n" + strings.Join(sc.lines(), "\n") + "\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		return "", fmt.Errorf("testcluster: write %s: %w", path, err)
	}
	return path, nil
}

// quoteConfig quotes s as one redis.conf argument: double quotes, with backslash, quote and
// non-printable bytes escaped the way redis-server's sdssplitargs reads them.
func quoteConfig(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// File names inside a node's directory.
const (
	configFileName = "redis.conf"
	logFileName    = "redis.log"
	outFileName    = "stdout.log" // the server's stdout and stderr (fatal config errors land here)
	nodesFileName  = "nodes.conf"
)
