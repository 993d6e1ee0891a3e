package logstore

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/objstore/localfs"
)

// noopAEAD is the "sealing off" arm of the benchmarks: the same pipeline,
// nonces and framing, but no encryption. It exists only in tests.
type noopAEAD struct{}

func (noopAEAD) NonceSize() int { return 12 }
func (noopAEAD) Overhead() int  { return 0 }
func (noopAEAD) Seal(dst, _, plaintext, _ []byte) []byte {
	return append(dst, plaintext...)
}
func (noopAEAD) Open(dst, _, ciphertext, _ []byte) ([]byte, error) {
	return append(dst, ciphertext...), nil
}

// testNow is the fixed clock of the tests.
var testNow = time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)

func newTestStore(t testing.TB, dir string, keys envelope.Keys, mod ...func(*Config)) *Store {
	t.Helper()
	cfg := Config{Dir: dir, Keys: keys, Now: func() time.Time { return testNow }}
	for _, m := range mod {
		m(&cfg)
	}
	st, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// securityEvent is a row shaped like a Windows SecurityEvent, about 700
// bytes of JSON, with the entropy of real events (GUIDs, addresses, command
// lines), drawn from a generator seeded by i.
func securityEvent(i int, at time.Time) map[string]any {
	r := mrand.New(mrand.NewPCG(uint64(i), 0x5ea1))
	processes := []string{`C:\Windows\System32\svchost.exe`, `C:\Windows\System32\lsass.exe`, `C:\Windows\explorer.exe`,
		`C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE`, `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`,
		`C:\Windows\System32\cmd.exe`, `C:\Program Files\Google\Chrome\Application\chrome.exe`, `C:\Windows\System32\wbem\WmiPrvSE.exe`}
	ids := []int{4624, 4625, 4688, 4672, 4634, 4648, 4776, 5140}
	user := r.IntN(20000)
	host := r.IntN(2000)
	return map[string]any{
		"TimeGenerated":             at.Format(time.RFC3339Nano),
		"Computer":                  fmt.Sprintf("WKS-%04d.corp.contoso.com", host),
		"EventID":                   ids[r.IntN(len(ids))],
		"Account":                   fmt.Sprintf(`CONTOSO\user%05d`, user),
		"AccountType":               []string{"User", "Machine"}[r.IntN(2)],
		"LogonType":                 []int{2, 3, 5, 7, 10}[r.IntN(5)],
		"IpAddress":                 fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256)),
		"IpPort":                    r.IntN(65536),
		"ProcessName":               processes[r.IntN(len(processes))],
		"CommandLine":               fmt.Sprintf(`%s -s %x`, processes[r.IntN(len(processes))], r.Uint32()),
		"SubjectUserName":           fmt.Sprintf("WKS-%04d$", host),
		"SubjectLogonId":            fmt.Sprintf("0x%x", r.Uint32()),
		"TargetUserName":            fmt.Sprintf("user%05d", user),
		"TargetLogonGuid":           fmt.Sprintf("{%08x-%04x-%04x-%04x-%012x}", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff),
		"LogonProcessName":          []string{"NtLmSsp", "Kerberos", "User32", "Advapi"}[r.IntN(4)],
		"AuthenticationPackageName": []string{"NTLM", "Kerberos", "Negotiate"}[r.IntN(3)],
		"WorkstationName":           fmt.Sprintf("WKS-%04d", r.IntN(2000)),
		"Channel":                   "Security",
		"SourceComputerId":          fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff),
		"ElevatedToken":             r.IntN(7) == 0,
		"Latency":                   r.Float64() * 1000,
	}
}

// eventsBody is a JSON array of n security events from index first, spread
// over the hour before at.
func eventsBody(t testing.TB, first, n int, at time.Time) []byte {
	t.Helper()
	rows := make([]map[string]any, n)
	for i := range rows {
		rows[i] = securityEvent(first+i, at.Add(-time.Duration((first+i)%3600)*time.Second))
	}
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustIngest(t testing.TB, st *Store, ws, table string, body []byte) int {
	t.Helper()
	n, err := st.Ingest(context.Background(), ws, table, body)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return n
}

// scanAll returns every batch of a scan, or its error.
func scanAll(st *Store, req ScanRequest) ([]*Batch, error) {
	sc, err := st.Scan(context.Background(), req)
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	var out []*Batch
	for sc.Next() {
		out = append(out, sc.Batch())
	}
	return out, sc.Err()
}

// rowsOf turns batches into rows (column → value as JSON-able text), sorted,
// so that results compare whatever the batching.
func rowsOf(batches []*Batch) []string {
	var rows []string
	for _, b := range batches {
		for i := range b.Len {
			var sb strings.Builder
			for _, c := range b.Columns {
				if !c.Valid[i] {
					continue
				}
				fmt.Fprintf(&sb, "%s:%s=", c.Name, c.Type)
				switch c.Type {
				case TypeLong:
					fmt.Fprint(&sb, c.Ints[i])
				case TypeDatetime:
					sb.WriteString(time.Unix(0, c.Ints[i]).UTC().Format(time.RFC3339Nano))
				case TypeReal:
					fmt.Fprint(&sb, c.Reals[i])
				case TypeBool:
					fmt.Fprint(&sb, c.Bools[i])
				default:
					sb.WriteString(c.Str(i))
				}
				sb.WriteString(";")
			}
			rows = append(rows, sb.String())
		}
	}
	slices.Sort(rows)
	return rows
}

func countRows(batches []*Batch) int {
	n := 0
	for _, b := range batches {
		n += b.Len
	}
	return n
}

// files lists the files under dir with the given extension.
func files(t testing.TB, dir, ext string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ext) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// sealedFiles lists the segments, WALs and manifests under dir.
func sealedFiles(t testing.TB, dir string) []string {
	t.Helper()
	return slices.Concat(files(t, dir, segExt), files(t, dir, walExt), files(t, dir, "/"+manifestFile))
}

// fileHeader decodes the header of a segment, a WAL or a manifest, told
// apart by name.
func fileHeader(p string) (header, error) {
	b, _ := os.ReadFile(p) // a missing file is a header that does not decode
	magic := magicSegment
	switch {
	case strings.HasSuffix(p, walExt):
		magic = magicWAL
	case strings.HasSuffix(p, "/"+manifestFile):
		magic = magicManifest
	}
	h, _, err := decodeHeader(b, magic)
	return h, err
}

func equalRows(t *testing.T, got, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rows differ: got %d rows, want %d\nfirst got:  %.300v\nfirst want: %.300v", len(got), len(want), first(got), first(want))
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// parseRows is parseShapedRows without the shapes.
func parseRows(body []byte, lim ingestLimits) ([]byte, []rowRef, error) {
	rec, refs, _, err := parseShapedRows(body, lim)
	return rec, refs, err
}

// openSegmentAt opens the segment file at path, wherever it is, as st opens
// the segments it lists.
func openSegmentAt(st *Store, path, ws, table string, want segFile) (*segReader, error) {
	return st.openSegmentIn(context.Background(), func(ctx context.Context, _ string) (objstore.Object, error) {
		dir, err := localfs.New(filepath.Dir(path))
		if err != nil {
			return nil, err
		}
		return dir.Open(ctx, filepath.Base(path))
	}, ws, table, want)
}
