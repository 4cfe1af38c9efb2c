package testcluster

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// NoReplicas, as Options.Replicas, asks for masters without replicas (the zero value means one replica
// per master).
const NoReplicas = -1

// Defaults applied to the zero fields of Options.
const (
	DefaultMasters     = 3
	DefaultReplicas    = 1
	DefaultNodeTimeout = time.Second

	// defaultStartTimeout bounds Start, StartStandalone, New and NewStandalone when the context has no
	// earlier deadline.
	defaultStartTimeout = 60 * time.Second
)

// Options configures a cluster or a standalone server. The zero value is a plain-text 3×1 cluster without
// a password. Fields that only make sense for a cluster (Masters, Replicas, AnnounceHostname,
// NodeTimeout) are ignored by StartStandalone.
type Options struct {
	// Masters is the number of masters; 0 means DefaultMasters (3). The 16384 slots are split evenly
	// over them.
	Masters int

	// Replicas is the number of replicas per master; 0 means DefaultReplicas (1) and NoReplicas (-1)
	// means none.
	Replicas int

	// EmptyMasters is the number of masters started with no slots and no replicas, as a node just
	// added to the cluster is, to migrate slots to (0..10). They come last in Nodes().
	EmptyMasters int

	// TLS makes every server speak TLS only (port 0, tls-port P), including the cluster bus and
	// replication. A CA and a server certificate for 127.0.0.1 and localhost are generated in the
	// temporary directory; use TLSConfig or CAFile to connect.
	TLS bool

	// Password, when set, protects the default user (requirepass) and is used for replication
	// (masterauth), by the harness's own connections and by MIGRATE.
	Password string

	// Users are created on every node with ACL SETUSER Name Rules... >Password (the password rule is
	// added only when the user's Password is set), again after every Restart. Example: {Name: "app",
	// Password: "secret", Rules: []string{"on", "~*", "&*", "+@all"}}.
	Users []User

	// AnnounceHostname, when set, gives node i the line "cluster-announce-hostname <name>" (skipped when
	// it returns "") and every node "cluster-preferred-endpoint-type hostname", so that CLUSTER SLOTS,
	// CLUSTER SHARDS and redirections name hosts instead of 127.0.0.1. Names such as "n1.invalid" that
	// nobody can resolve test a client's address map. Node i is Nodes()[i]: masters first
	// (0..Masters-1), then the replicas of master m at Masters + m*Replicas + r, then the empty
	// masters.
	AnnounceHostname func(i int) string

	// ExtraConfig holds extra redis.conf lines ("key value"), written after the harness's own lines so
	// that they override them.
	ExtraConfig []string

	// NodeTimeout is cluster-node-timeout; 0 means DefaultNodeTimeout (1 s), which makes a killed master's
	// replica take over in about two seconds. It is rounded down to whole milliseconds.
	NodeTimeout time.Duration
}

// User is an ACL user created on every node; see Options.Users.
type User struct {
	Name     string
	Password string
	Rules    []string
}

// withDefaults returns o with its zero fields set to the defaults, or an error for invalid values.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Masters == 0:
		o.Masters = DefaultMasters
	case o.Masters < 0 || o.Masters > 100:
		return o, fmt.Errorf("testcluster: Options.Masters is %d; want 1..100 (0 for %d)", o.Masters, DefaultMasters)
	}
	switch {
	case o.Replicas == 0:
		o.Replicas = DefaultReplicas
	case o.Replicas == NoReplicas:
		o.Replicas = 0
	case o.Replicas < 0 || o.Replicas > 10:
		return o, fmt.Errorf("testcluster: Options.Replicas is %d; want 1..10, 0 for %d or NoReplicas",
			o.Replicas, DefaultReplicas)
	}
	if o.EmptyMasters < 0 || o.EmptyMasters > 10 {
		return o, fmt.Errorf("testcluster: Options.EmptyMasters is %d; want 0..10", o.EmptyMasters)
	}
	switch {
	case o.NodeTimeout == 0:
		o.NodeTimeout = DefaultNodeTimeout
	case o.NodeTimeout < time.Millisecond:
		return o, fmt.Errorf("testcluster: Options.NodeTimeout is %v; want at least 1ms", o.NodeTimeout)
	}
	if strings.ContainsAny(o.Password, "\x00") {
		return o, errors.New("testcluster: Options.Password contains a NUL byte")
	}
	for i, u := range o.Users {
		if u.Name == "" || strings.ContainsAny(u.Name, " \t\r\n\x00") {
			return o, fmt.Errorf("testcluster: Options.Users[%d].Name %q is empty or contains white space", i, u.Name)
		}
	}
	for i, line := range o.ExtraConfig {
		if strings.TrimSpace(line) == "" || strings.ContainsAny(line, "\r\n") {
			return o, fmt.Errorf("testcluster: Options.ExtraConfig[%d] %q is not a single config line", i, line)
		}
	}
	return o, nil
}

// nodeCount is the number of servers in the cluster.
func (o Options) nodeCount() int { return o.shardNodes() + o.EmptyMasters }

// shardNodes is the number of servers of the shards that serve slots: masters and replicas.
func (o Options) shardNodes() int { return o.Masters * (1 + o.Replicas) }
