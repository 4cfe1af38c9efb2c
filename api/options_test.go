package api

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/resp"
)

func TestCreateClusterValidates(t *testing.T) {
	cases := []struct {
		opts  ClusterOptions
		field string
	}{
		{ClusterOptions{}, "RootNodes"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "http://h:1"}}}, "RootNodes[0].URL"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}, {URL: "redis://nohost"}}}, "RootNodes[1].URL"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:99999"}}}, "RootNodes[0].URL"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://127.0.0.1:7000:7001"}}}, "RootNodes[0].URL"}, // was [127.0.0.1:7000]:7001
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://::1:7000"}}}, "RootNodes[0].URL"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, RESP: 4}, "RESP"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, MaxCommandRedirections: -1}, "MaxCommandRedirections"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, MaxBlockingConns: -1}, "MaxBlockingConns"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, CommandTimeout: -1}, "CommandTimeout"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, NodeAddressMap: map[string]string{"a": "b:1"}}, "NodeAddressMap"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, NodeAddressMap: map[string]string{"a:1": "b:"}}, "NodeAddressMap"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, NodeAddressMap: map[string]string{"a:1": "b:port"}}, "NodeAddressMap"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, NodeAddressMap: map[string]string{"a:1": "b:65536"}}, "NodeAddressMap"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, NodeAddressMap: map[string]string{"a:1": "b:0"}}, "NodeAddressMap"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, NodeAddressMap: map[string]string{"a:1": ":7000"}}, "NodeAddressMap"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, NodeAddressMap: map[string]string{"a:x": "b:1"}}, "NodeAddressMap"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, Limits: resp.Limits{MaxDepth: -1}}, "Limits"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, Limits: resp.Limits{MaxBulkLen: -1}}, "Limits"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1/3"}}}, "RootNodes[0].URL"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1?protocol=2"}}}, "RootNodes[0].URL"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, Defaults: NodeOptions{URL: "redis://h:2"}}, "Defaults.URL"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://a:pw1@h:1"}, {URL: "redis://h:2"}, {URL: "redis://b:pw2@h:3"}}}, "RootNodes[2]"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}, {URL: "redis://b:y@h:2"}}, Defaults: NodeOptions{Username: "a", Password: "x"}}, "RootNodes[1]"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "rediss://h:1"}, {URL: "redis://h:2"}}}, "RootNodes[1]"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1", TLS: &tls.Config{}}, {URL: "redis://h:2", TLS: &tls.Config{}}}}, "RootNodes[1].TLS"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1", TLS: &tls.Config{}}}, Defaults: NodeOptions{TLS: &tls.Config{}}}, "RootNodes[0].TLS"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "rediss://h:1"}, {URL: "redis://h:2", TLS: &tls.Config{}}, {URL: "redis://h:3", TLS: &tls.Config{}}}}, "RootNodes[2].TLS"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, ClientName: "my app"}, "ClientName"},
		{ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, ClientName: "app\n"}, "ClientName"},
	}
	for _, tc := range cases {
		_, err := CreateCluster(tc.opts)
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%+v: %v", tc.opts, err)
		assert.Equal(t, tc.field, ce.Field)
	}
	addrs := map[string]string{"a:1": "b:1"}
	c, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, ClientName: "my-app",
		NodeAddressMap: addrs})
	require.NoError(t, err)
	addrs["a:1"] = "c:1"
	assert.Equal(t, "b:1", c.addressMap()("a:1"), "the map is the one given, not the caller's to change")
	_, err = CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}}, NodeAddressMap: map[string]string{"?:7000": "b:1"}})
	assert.NoError(t, err, "a node announced with no endpoint may be mapped")
	mine := &tls.Config{ServerName: "validated"}
	roots := []NodeOptions{{URL: "redis://h:1", TLS: mine}}
	c2, err := CreateCluster(ClusterOptions{RootNodes: roots})
	require.NoError(t, err)
	roots[0].TLS = nil
	assert.Same(t, mine, c2.nodeOptions().TLS, "the roots are the ones given, not the caller's to change")
	assert.Equal(t, 16, c.opts.MaxCommandRedirections)
	assert.Equal(t, 3, c.opts.RESP)
	assert.Positive(t, c.opts.CommandTimeout)
	for _, path := range []string{"", "/", "/0"} {
		_, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1" + path}}})
		assert.NoError(t, err, path)
	}

	// Credentials on any root are used for every node: the first root that has them.
	c, err = CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://h:1"}, {URL: "redis://h:2", Username: "app", Password: "pw"}}})
	require.NoError(t, err)
	assert.Equal(t, "app", c.nodeOptions().Username)
	assert.Equal(t, "pw", c.nodeOptions().Password)
}

// Credentials given outside a root's URL override the URL's field by field: a username there keeps
// the URL's password.
func TestRootCredentialsMergeByField(t *testing.T) {
	c, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://:pw@h:1", Username: "app"}}})
	require.NoError(t, err)
	assert.Equal(t, "app", c.nodeOptions().Username)
	assert.Equal(t, "pw", c.nodeOptions().Password)
	c, err = CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://app:pw@h:1"}}, Defaults: NodeOptions{Username: "app", Password: "pw"}})
	require.NoError(t, err, "a root may repeat Defaults' credentials")
	assert.Equal(t, "pw", c.nodeOptions().Password)
}

func TestURLCredentials(t *testing.T) {
	r, err := parseURL("redis://app:s3cret@10.0.0.1:7000")
	require.NoError(t, err)
	assert.Equal(t, rootNode{addr: "10.0.0.1:7000", username: "app", password: "s3cret"}, r)
	r, err = parseURL("rediss://onlypass@[::1]:7000")
	require.NoError(t, err)
	assert.Equal(t, rootNode{addr: "[::1]:7000", password: "onlypass", tls: true}, r)
}

func TestPasswordsNeverShow(t *testing.T) {
	// The last: a password with a '/' not percent-encoded, which url.Parse cuts into a host and a path.
	for _, raw := range []string{"redis://app:s3cret@h:notaport", "ftp://app:s3cret@h:1", "redis://s3cret@:1", "redis://default:1234/s3cret@10.0.0.5:6379"} {
		_, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: raw}}})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "s3cret")
	}
	o := NodeOptions{URL: "redis://app:s3cret@h:1", Password: "s3cret"}
	assert.NotContains(t, o.String(), "s3cret")
	assert.NotContains(t, fmt.Sprint(o), "s3cret")
	// %#v and slog's JSON handler printed the fields.
	assert.NotContains(t, fmt.Sprintf("%#v", o), "s3cret")
	assert.NotContains(t, fmt.Sprintf("%#v", ClusterOptions{RootNodes: []NodeOptions{o}, Defaults: o}), "s3cret")
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("options", "root", o)
	assert.NotContains(t, logged.String(), "s3cret")
	assert.Contains(t, logged.String(), "password=***")
	assert.NotContains(t, NodeOptions{URL: "redis://s3cret@h:1"}.String(), "s3cret")
	assert.NotContains(t, NodeOptions{URL: "redis://default:1234/s3cret@10.0.0.5:6379"}.String(), "s3cret")
}

func TestGetSlot(t *testing.T) {
	assert.Equal(t, 12739, GetSlot("123456789"))
	assert.Equal(t, GetSlot("user1000"), GetSlot("{user1000}.following"))
}

func TestArgumentTypes(t *testing.T) {
	f := &Future{}
	args, err := f.bind([]any{"SET", []byte("k"), 1, int64(2), int32(3), uint64(4), 1.5, true, "a", "b"})
	require.NoError(t, err)
	require.Len(t, args, 10, "more than the inline slots")
	var texts []string
	for _, a := range args {
		switch v := a.(type) {
		case *string:
			texts = append(texts, *v)
		case *[]byte:
			texts = append(texts, string(*v))
		case *int64:
			texts = append(texts, fmt.Sprint(*v))
		}
	}
	assert.Equal(t, []string{"SET", "k", "1", "2", "3", "4", "1.5", "1", "a", "b"}, texts)
	args, err = f.bind([]any{int8(-8), int16(-16), uint(1 << 63), uint32(32)})
	require.NoError(t, err)
	assert.Equal(t, []any{int64(-8), int64(-16), "9223372036854775808", int64(32)}, deref(args))
	args, err = f.bind([]any{uint16(16), uint8(8), float32(0.1), float32(-2)})
	require.NoError(t, err)
	assert.Equal(t, []any{int64(16), int64(8), "0.1", "-2"}, deref(args))
	_, err = (&Future{}).bind([]any{"SET", struct{}{}})
	assert.ErrorContains(t, err, "SET: argument 1: unsupported type struct {}")
}

// deref returns the values bound arguments point at.
func deref(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = reflect.ValueOf(a).Elem().Interface()
	}
	return out
}

func TestErrorHelpers(t *testing.T) {
	written := fmt.Errorf("wrapped: %w", &ConnError{Addr: "a:1", Command: "SET", Written: true, Err: errors.New("EOF")})
	assert.True(t, WasWritten(written))
	assert.ErrorIs(t, written, ErrConnection)
	assert.False(t, WasWritten(&ConnError{Addr: "a:1", Command: "SET", Err: errors.New("refused")}))
	assert.False(t, WasWritten(Nil))
	var mre *MaxRedirectionsError
	assert.True(t, errors.As(fmt.Errorf("x: %w", &MaxRedirectionsError{Command: "GET", Hops: []string{"MOVED 1 a:1"}}), &mre))
	assert.Equal(t, []string{"MOVED 1 a:1"}, mre.Hops)
}
