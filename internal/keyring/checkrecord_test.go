package keyring

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

var checkT0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func testCheckKey(t testing.TB, secret string) []byte {
	t.Helper()
	k, err := checkMACKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func goodCheck() *checkRecord {
	return &checkRecord{Cluster: "c1", Resource: "logs", Seq: 7, Node: "node-a", State: checkAccessible,
		Since: checkT0.Add(-time.Hour), CheckedAt: checkT0, Registry: 3, KeyURI: "https://v.vault.localhost/keys/k/v1"}
}

func TestCheckRecordRoundTrips(t *testing.T) {
	key := testCheckKey(t, "cluster secret")
	for _, st := range []checkState{checkAccessible, checkRevoked, checkUnreachable} {
		r := goodCheck()
		r.State = st
		raw, err := encodeCheck(key, r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCheck(key, "c1", "logs", raw)
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		if !sameCheck(got, r) {
			t.Fatalf("%s: decoded %+v, want %+v", st, got, r)
		}
	}
}

// TestCheckRecordsNotWrittenWithTheKeyAreRefused: what a database
// operator without the cluster's secret can write — a flipped byte, a
// record rewritten to say accessible, one copied from another ring or
// made under another key, garbage — fails, never decodes to a record.
func TestCheckRecordsNotWrittenWithTheKeyAreRefused(t *testing.T) {
	key := testCheckKey(t, "cluster secret")
	good, err := encodeCheck(key, goodCheck())
	if err != nil {
		t.Fatal(err)
	}
	revoked := goodCheck()
	revoked.State = checkRevoked
	revokedRaw, err := encodeCheck(key, revoked)
	if err != nil {
		t.Fatal(err)
	}
	otherRing := goodCheck()
	otherRing.Cluster = "c2"
	otherRingRaw, err := encodeCheck(key, otherRing)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := encodeCheck(testCheckKey(t, "another cluster"), goodCheck())
	if err != nil {
		t.Fatal(err)
	}
	flip := func(raw []byte, i int) []byte {
		out := bytes.Clone(raw)
		out[i] ^= 1
		return out
	}
	// revoked rewritten to accessible in place, its MAC kept
	rewritten := bytes.Replace(bytes.Clone(revokedRaw), []byte(`"revoked"`), []byte(`"accessible"`), 1)

	for _, tc := range []struct {
		name string
		raw  []byte
		want error
	}{
		{"empty", nil, errCheckForged},
		{"only a MAC's length", good[:sha256.Size], errCheckForged},
		{"a byte of the MAC flipped", flip(good, 0), errCheckForged},
		{"a byte of the body flipped", flip(good, len(good)-3), errCheckForged},
		{"a revoked record rewritten to accessible", rewritten, errCheckForged},
		{"truncated", good[:len(good)-1], errCheckForged},
		{"another ring's record", otherRingRaw, errCheckForged},
		{"made under another cluster's key", otherKey, errCheckForged},
		{"too long", append(bytes.Clone(good), make([]byte, maxCheckRecord)...), errCheckForged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := decodeCheck(key, "c1", "logs", tc.raw); !errors.Is(err, tc.want) {
				t.Fatalf("decoded %+v, err = %v; want %v", r, err, tc.want)
			}
		})
	}
}

// TestCheckRecordsWithAValidMACButBadContentAreRefused: a record whose MAC
// holds but which this build would never write (a bug elsewhere, a future
// format) is refused rather than read in part.
func TestCheckRecordsWithAValidMACButBadContentAreRefused(t *testing.T) {
	key := testCheckKey(t, "cluster secret")
	sign := func(body string) []byte { return append(checkMAC(key, "c1", "logs", []byte(body)), body...) }
	body := func(mutate func(m map[string]any)) string {
		js, _ := json.Marshal(goodCheck())
		var m map[string]any
		_ = json.Unmarshal(js, &m)
		mutate(m)
		out, _ := json.Marshal(m)
		return string(out)
	}
	for _, tc := range []struct{ name, body string }{
		{"not JSON", "not json"},
		{"two records", body(func(map[string]any) {}) + body(func(map[string]any) {})},
		{"an unknown field", body(func(m map[string]any) { m["trustMe"] = true })},
		{"an unknown state", body(func(m map[string]any) { m["state"] = "fine" })},
		{"sequence 0", body(func(m map[string]any) { m["seq"] = 0 })},
		{"a negative sequence", body(func(m map[string]any) { m["seq"] = -1 })},
		{"no node", body(func(m map[string]any) { m["node"] = "" })},
		{"no check time", body(func(m map[string]any) { delete(m, "checkedAt") })},
		{"in its state after it was checked", body(func(m map[string]any) { m["since"] = checkT0.Add(time.Minute) })},
		{"naming another ring", body(func(m map[string]any) { m["resource"] = "documents" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := decodeCheck(key, "c1", "logs", sign(tc.body)); !errors.Is(err, errCheckInvalid) {
				t.Fatalf("decoded %+v, err = %v; want errCheckInvalid", r, err)
			}
		})
	}
}

// FuzzDecodeCheck feeds arbitrary bytes, signed and unsigned, to the
// decoder: it never panics, what it accepts is a valid record of the ring
// asked for, and encoding that record again decodes to the same.
func FuzzDecodeCheck(f *testing.F) {
	key := testCheckKey(f, "cluster secret")
	good, err := encodeCheck(key, goodCheck())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, false)
	f.Add(good[sha256.Size:], true)
	f.Add([]byte(`{"cluster":"c1","resource":"logs","seq":1,"node":"n","state":"revoked","since":"2026-01-01T00:00:00Z","checkedAt":"2026-01-01T00:00:00Z","registry":1}`), true)
	f.Fuzz(func(t *testing.T, data []byte, sign bool) {
		raw := data
		if sign {
			raw = append(checkMAC(key, "c1", "logs", data), data...)
		}
		r, err := decodeCheck(key, "c1", "logs", raw)
		if err != nil {
			if !errors.Is(err, errCheckForged) && !errors.Is(err, errCheckInvalid) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if r.Cluster != "c1" || r.Resource != "logs" || r.validate() != nil {
			t.Fatalf("accepted %+v", r)
		}
		again, err := encodeCheck(key, r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeCheck(key, "c1", "logs", again)
		if err != nil || !sameCheck(back, r) {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", r, back, err)
		}
	})
}

// sameCheck compares records, their times as instants.
func sameCheck(a, b *checkRecord) bool {
	x, y := *a, *b
	if !x.Since.Equal(y.Since) || !x.CheckedAt.Equal(y.CheckedAt) {
		return false
	}
	x.Since, x.CheckedAt, y.Since, y.CheckedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return x == y
}
