package kql

import (
	"encoding/json"
	"testing"
	"time"
)

var fixtureNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func dyn(s string) any {
	if s == "" {
		return nil
	}
	v, ok := parseDynamic(s)
	if !ok {
		panic("bad dynamic " + s)
	}
	return v
}

// fixtureSource holds the small tables the table-driven cases run over.
func fixtureSource(t testing.TB) *MemSource {
	ev := NewMemTable("Events",
		Column{"TimeGenerated", TypeDatetime}, Column{"Computer", TypeString}, Column{"EventID", TypeInt},
		Column{"Account", TypeString}, Column{"Count", TypeLong}, Column{"Score", TypeReal},
		Column{"Props", TypeDynamic}, Column{"Ok", TypeBool})
	rows := [][]any{
		{ts("2026-11-26T08:00:00Z"), "web01", 4624, "alice", 1, 1.5, dyn(`{"ip":"10.0.0.1","tags":["a","b"]}`), true},
		{ts("2026-11-26T08:30:00Z"), "web01", 4625, "bob", 2, 2.5, dyn(`{"ip":"10.0.0.2","tags":["b"]}`), false},
		{ts("2026-11-26T09:00:00Z"), "db01", 4624, "Alice", 3, nil, dyn(`{"ip":"192.168.1.5"}`), true},
		{ts("2026-11-26T09:15:00Z"), "db01", 4625, "carol", nil, 4.0, nil, false},
		{ts("2026-11-26T10:00:00Z"), "WEB01", 4688, "bob", 5, 0.5, dyn(`{"ip":"8.8.8.8","tags":[]}`), true},
		{ts("2026-11-26T11:45:00Z"), "dc01", 4625, "", 6, -1.0, dyn(`{"ip":"10.1.2.3","tags":["c","a"]}`), false},
	}
	for _, r := range rows {
		if err := ev.Append(r...); err != nil {
			t.Fatal(err)
		}
	}
	users := NewMemTable("Users", Column{"Account", TypeString}, Column{"Dept", TypeString}, Column{"Level", TypeLong})
	for _, r := range [][]any{{"alice", "eng", 3}, {"bob", "ops", 2}, {"dave", "eng", 1}, {"bob", "sec", 5}} {
		if err := users.Append(r...); err != nil {
			t.Fatal(err)
		}
	}
	logs := NewMemTable("Logs", Column{"TimeGenerated", TypeDatetime}, Column{"Host", TypeString}, Column{"Msg", TypeString})
	for _, r := range [][]any{
		{ts("2026-11-26T07:00:00Z"), "web01", "Failed password for root from 10.0.0.5 port 22 ssh2"},
		{ts("2026-11-26T07:05:00Z"), "web01", "Accepted password for alice from 10.0.0.1 port 5100 ssh2"},
		{ts("2026-11-26T09:10:00Z"), "db01", "pam_unix(sshd:session): session opened for user bob"},
		{ts("2026-11-26T11:00:00Z"), "db01", "error: disk /dev/sda1 full; user=carol id=42"},
	} {
		if err := logs.Append(r...); err != nil {
			t.Fatal(err)
		}
	}
	return NewMemSource(ev, users, logs)
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
