package testcluster

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// A port taken between the reservation and the server's bind makes the harness retry with new ports.
func TestStartRetriesTakenPort(t *testing.T) {
	usePool(t) // no start in the background calls reservePortsFunc
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port

	calls := 0
	reservePortsFunc = func(n int) ([]int, error) {
		calls++
		ports, err := reservePorts(n)
		if calls == 1 && err == nil {
			releasePorts(ports[0]) // reserved, and held machine-wide, until the binary ends otherwise
			ports[0] = takenPort
		}
		return ports, err
	}
	defer func() { reservePortsFunc = reservePorts }()

	s := NewStandalone(t, Options{})
	require.Equal(t, 2, calls)
	require.NotEqual(t, takenPort, s.Port())
	require.True(t, s.Running())
}

func TestReservePortsDistinct(t *testing.T) {
	ports, err := reservePorts(50)
	require.NoError(t, err)
	defer releasePorts(ports...)
	seen := map[int]bool{}
	for _, p := range ports {
		require.False(t, seen[p])
		seen[p] = true
	}
	more, err := reservePorts(10)
	require.NoError(t, err)
	defer releasePorts(more...)
	for _, p := range more {
		require.False(t, seen[p], "a reserved port is not handed out again")
	}
}
