package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyListsDamageAndExitsNonZero(t *testing.T) {
	ds := setUpDataWithCLI(t)
	rows := writeRows(t, "rows.json", false, event("one", 1), event("two", 2))
	ds.must("ingest", "--dcr", "events-dcr", "--stream", "Custom-Events", "--file", rows)
	if out := ds.must("verify", "--workspace", "secops"); !strings.Contains(out, "workspace secops: healthy (1 table, 2 log objects of ") {
		t.Fatalf("verify of a healthy workspace:\n%s", out)
	}
	var wal string
	filepath.WalkDir(ds.dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".wal") {
			wal = p
		}
		return nil
	})
	b, err := os.ReadFile(wal)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1 // the last record's tag
	if err := os.WriteFile(wal, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := ds.run("verify")
	for _, want := range []string{"workspace secops: DAMAGED: 1 object (", filepath.Base(wal), "authentication failed", "Events_CL"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify does not say %q:\n%s", want, r.stdout)
		}
	}
	if r.code != exitError || !strings.Contains(r.stderr, "damaged data found: 1 object;") {
		t.Errorf("verify of a damaged workspace: exit %d\n%s", r.code, r.stderr)
	}
	r = ds.run("verify", "--workspace", "secops", "-o", "json")
	res := decode[[]verifyResult](t, r.stdout)
	if r.code != exitError || len(res) != 1 || res[0].Healthy || len(res[0].Damaged) != 1 || res[0].Damaged[0].Object != filepath.Base(wal) {
		t.Errorf("verify -o json: exit %d %+v", r.code, res)
	}
}
