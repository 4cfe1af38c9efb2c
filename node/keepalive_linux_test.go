package node

import (
	"context"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// Every connection, the dedicated ones included, has TCP keepalive tuned to find a dead network
// within 20 s (5 s idle, then 3 probes 5 s apart): a BLPOP k 0 on a dedicated connection has
// nothing else to find it. (Go's default took 150 s.)
func TestConnectionsProbeADeadNetworkWithin20s(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr()})
	d, err := n.Dedicated(context.Background())
	require.NoError(t, err)
	defer d.Release()
	tcp, ok := d.nc.(*net.TCPConn)
	require.True(t, ok)
	raw, err := tcp.SyscallConn()
	require.NoError(t, err)
	got := map[string]int{}
	require.NoError(t, raw.Control(func(fd uintptr) {
		for name, opt := range map[string]int{"idle": syscall.TCP_KEEPIDLE, "interval": syscall.TCP_KEEPINTVL, "count": syscall.TCP_KEEPCNT} {
			v, err := syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, opt)
			require.NoError(t, err)
			got[name] = v
		}
		on, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		require.NoError(t, err)
		got["on"] = on
	}))
	assert.Equal(t, map[string]int{"on": 1, "idle": 5, "interval": 5, "count": 3}, got)
}
