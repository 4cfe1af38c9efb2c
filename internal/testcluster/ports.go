package testcluster

import (
	"fmt"
	"net"
	"sync"
)

// Free ports come from the kernel (listen on 127.0.0.1:0, then close). Another process may take such a
// port before redis-server binds it, so the caller retries with new ports when the server reports
// "Address already in use". Within this process, ports handed out and not yet released are never handed
// out twice, so clusters started concurrently by one test binary cannot collide with each other.

var (
	portsMu sync.Mutex
	// reservedPorts holds the ports handed out by reservePorts and not yet released. Guarded by portsMu.
	reservedPorts = map[int]bool{}
)

// reservePortsFunc is reservePorts, replaced by a test that hands out a taken port.
var reservePortsFunc = reservePorts

// reservePorts returns n distinct free loopback ports, marked as reserved until releasePorts.
func reservePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	portsMu.Lock()
	defer portsMu.Unlock()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return nil, fmt.Errorf("testcluster: no free loopback port after %d tries", tries)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testcluster: find a free port: %w", err)
		}
		listeners = append(listeners, l) // held open until every port is chosen: no duplicates
		port := l.Addr().(*net.TCPAddr).Port
		if reservedPorts[port] {
			continue
		}
		ports = append(ports, port)
	}
	for _, p := range ports {
		reservedPorts[p] = true
	}
	return ports, nil
}

// releasePorts makes ports available to reservePorts again; zero ports are ignored.
func releasePorts(ports ...int) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for _, p := range ports {
		delete(reservedPorts, p)
	}
}
