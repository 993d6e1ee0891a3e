package freeport

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestPortsLieBelowTheEphemeralRangeAndAreFree(t *testing.T) {
	ports, err := GetN(5)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := span()
	seen := map[int]bool{}
	for _, p := range ports {
		if p < lo || p > hi {
			t.Errorf("port %d outside %d-%d", p, lo, hi)
		}
		if seen[p] {
			t.Errorf("port %d handed out twice", p)
		}
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		l.Close()
	}
}

func TestEphemeralStart(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		want          int
		ok            bool
	}{
		{"linux default", "32768\t60999\n", 32768, true},
		{"one field", "32768\n", 0, false},
		{"not a number", "low high\n", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ephemeralStart(path)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ephemeralStart(%q) = %d, %v", tc.content, got, err)
			}
		})
	}
}
