package testcluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Ports are picked at random below the kernel's ephemeral range (ip_local_port_range) and checked free
// by binding them. The kernel never hands such a port to a listener on port 0 or to an outgoing
// connection, so a port stays ours while a killed server is restarted on it, even with other test
// binaries running at once (their fake servers and proxies listen on port 0). Another process may
// still take such a port before redis-server binds it, so the caller retries with new ports when the
// server reports "Address already in use". Ports handed out and not yet released are never handed
// out twice, within this process (a set) or across the test binaries of the machine (a lock per port
// on a shared file, machinePorts): clusters started at once cannot collide, and a port stays reserved
// while its server is killed and restarted, even with another binary picking ports meanwhile. Where
// the range cannot be read, ports come from the kernel (port 0).

var (
	portsMu sync.Mutex
	// reservedPorts holds the ports handed out by reservePorts and not yet released. Guarded by portsMu.
	reservedPorts = map[int]bool{}
	// machine holds the same ports for the other test binaries of the machine (nil: it could not be
	// opened). Opened by the first reservation; guarded by portsMu.
	machine     *machinePorts
	machineOpen bool
)

// reservePortsFunc is reservePorts, replaced by a test that hands out a taken port.
var reservePortsFunc = reservePorts

// portRange is where reservePorts picks: from 10000 to the start of the kernel's ephemeral range
// (at most 32768), or ok false where that range cannot be read.
func portRange() (lo, hi int, ok bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 0, 0, false
	}
	start, err := strconv.Atoi(f[0])
	if err != nil || start <= 11000 {
		return 0, 0, false
	}
	return 10000, min(start, 32768), true
}

// reservePorts returns n distinct free loopback ports, marked as reserved until releasePorts.
func reservePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	lo, hi, ranged := portRange()
	ports := make([]int, 0, n)
	portsMu.Lock()
	defer portsMu.Unlock()
	if !machineOpen {
		machine, machineOpen = openMachinePorts(portLockFile), true
	}
	fail := func(err error) ([]int, error) {
		for _, p := range ports {
			machine.unlock(p)
		}
		return nil, err
	}
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return fail(fmt.Errorf("testcluster: no free loopback port after %d tries", tries))
		}
		addr := "127.0.0.1:0"
		if ranged {
			addr = "127.0.0.1:" + strconv.Itoa(lo+rand.IntN(hi-lo))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if ranged {
				continue // taken: pick another
			}
			return fail(fmt.Errorf("testcluster: find a free port: %w", err))
		}
		listeners = append(listeners, l) // held open until every port is chosen: no duplicates
		port := l.Addr().(*net.TCPAddr).Port
		if reservedPorts[port] || !machine.lock(port) {
			continue // ours already, or another test binary's (its server may be down for a restart)
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
		if reservedPorts[p] {
			delete(reservedPorts, p)
			machine.unlock(p)
		}
	}
}
