package pgtest

import (
	"os"
	"testing"
)

func TestTheServersFilesAreNotReadableByOthers(t *testing.T) {
	New(t)
	s := get(t)
	for _, p := range []string{s.dir, s.dataDir(), s.logPath()} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		// Others may pass through the directory to the data directory
		// (the server runs as nobody under root), never read or list.
		if perm := fi.Mode().Perm(); perm&0o066 != 0 || fi.Mode().IsRegular() && perm&0o077 != 0 {
			t.Errorf("%s has mode %v: others may read it", p, perm)
		}
	}
}
