// Package freeport finds TCP ports on 127.0.0.1 for servers that tests start
// and may restart on the same port.
//
// A port taken from the kernel with ":0" lies in its ephemeral range, which
// every outgoing connection on the machine also draws from: between closing
// the probe listener and the server binding the port (or a node restarting
// on the port it had), a client socket of a test running in parallel can
// take it. Ports here come from below that range, which the kernel never
// hands out by itself.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the lowest port handed out: clear of the well-known and most
// registered service ports.
const lowest = 10000

// attempts bounds the random draws for one port.
const attempts = 200

// Get returns one port on 127.0.0.1 that nothing listens on now.
func Get() (int, error) {
	ports, err := GetN(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// GetN returns n distinct ports on 127.0.0.1 that nothing listens on now,
// holding each until all are found.
func GetN(n int) ([]int, error) {
	lo, hi := span()
	var ports []int
	for range n {
		l, err := listen(lo, hi)
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// listen binds a random port in [lo, hi], or any port when the range is
// empty (a kernel whose ephemeral range starts below lowest).
func listen(lo, hi int) (net.Listener, error) {
	if hi < lo {
		return net.Listen("tcp", "127.0.0.1:0")
	}
	for range attempts {
		port := lo + rand.IntN(hi-lo+1)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return l, nil
		}
	}
	return nil, fmt.Errorf("freeport: no free port on 127.0.0.1 in %d-%d after %d tries", lo, hi, attempts)
}

// span is the range below the kernel's ephemeral ports.
func span() (lo, hi int) {
	ephemeralLow, err := ephemeralStart("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		ephemeralLow = 32768 // Linux's default, and the IANA range starts higher
	}
	return lowest, ephemeralLow - 1
}

// ephemeralStart reads the first port of the kernel's ephemeral range.
func ephemeralStart(path string) (int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(raw))
	if len(fields) != 2 {
		return 0, errors.New("freeport: unexpected " + path)
	}
	return strconv.Atoi(fields[0])
}
