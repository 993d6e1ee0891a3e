package cli

import (
	"strings"
	"testing"
)

// columnLines are the COLUMN rows of `table show`, as "Name type".
func columnLines(out string) []string {
	var cols []string
	in := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "COLUMN":
			in = true
		case in && len(f) == 0:
			return cols
		case in:
			cols = append(cols, f[0]+" "+f[1])
		}
	}
	return cols
}

func TestATableIsDeclaredShownUpdatedAndDeleted(t *testing.T) {
	n := startNode(t)
	n.login()
	n.must("workspace", "create", "--name", "secops", "-g", "rg1")
	out := n.must("table", "create", "Firewall_CL", "-w", "secops", "--column", "Zone:string", "--column", "Port:int",
		"--column", "Bytes:long", "--description", "edge firewall", "--retention-days", "60")
	want := []string{"TimeGenerated datetime", "Zone string", "Port int", "Bytes long"}
	if got := columnLines(out); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("table create shows columns %v, want %v (TimeGenerated added first, then in order):\n%s", got, want, out)
	}
	for _, s := range []string{"Firewall_CL", "custom", "60d", "description:  edge firewall", "plan:         Analytics", "etag:"} {
		if !strings.Contains(out, s) {
			t.Errorf("table create does not show %q:\n%s", s, out)
		}
	}
	if r := n.run("table", "create", "Firewall_CL", "-w", "secops", "--column", "Zone:string"); r.code != exitError || !strings.Contains(r.stderr, "already has a table Firewall_CL; add columns or set its retention with `sealwatch table update Firewall_CL`") {
		t.Errorf("create over an existing table: exit %d\n%s", r.code, r.stderr)
	}
	// The query API binds it in declared order before any row arrives.
	if q := n.must("query", "-w", "secops", "Firewall_CL | getschema | project ColumnName, ColumnType"); !regexpInOrder(q, "TimeGenerated", "Zone", "Port", "int", "Bytes", "long") {
		t.Errorf("getschema of the declared table:\n%s", q)
	}

	out = n.must("table", "update", "Firewall_CL", "-w", "secops", "--add-column", "Action:string", "--total-retention-days", "365")
	want = append(want, "Action string")
	if got := columnLines(out); strings.Join(got, ",") != strings.Join(want, ",") || !strings.Contains(out, "365d") {
		t.Errorf("table update shows columns %v, want %v, and 365d:\n%s", got, want, out)
	}
	if r := n.run("table", "update", "Firewall_CL", "-w", "secops", "--add-column", "Port:string"); r.code != exitError || !strings.Contains(r.stderr, "repeats columns[2] 'Port'") {
		t.Errorf("adding a column that is there: exit %d\n%s", r.code, r.stderr)
	}
	if r := n.run("table", "update", "Firewall_CL", "-w", "secops"); r.code != exitUsage || !strings.Contains(r.stderr, "update needs --add-column, --retention-days or --total-retention-days") {
		t.Errorf("an update that changes nothing: exit %d\n%s", r.code, r.stderr)
	}

	std := n.must("table", "show", "SecurityEvent", "-w", "secops")
	if !strings.Contains(std, "standard") || !strings.Contains(std, "EventID   ") || len(columnLines(std)) < 50 {
		t.Errorf("table show SecurityEvent:\n%s", std)
	}
	if out := n.must("table", "update", "SecurityEvent", "-w", "secops", "--retention-days", "180"); !strings.Contains(out, "180d") {
		t.Errorf("setting a standard table's retention:\n%s", out)
	}
	if r := n.run("table", "update", "SecurityEvent", "-w", "secops", "--add-column", "Extra:string"); r.code != exitError || !strings.Contains(r.stderr, "SecurityEvent is a standard table: its columns are built in") {
		t.Errorf("adding a column to a standard table: exit %d\n%s", r.code, r.stderr)
	}
	list := n.must("table", "list", "-w", "secops", "--custom")
	if lines := strings.Split(strings.TrimSpace(list), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "Firewall_CL") {
		t.Errorf("table list --custom:\n%s", list)
	}
	if all := decode[[]tableResource](t, n.must("table", "list", "-w", "secops", "-o", "json")); len(all) < 50 {
		t.Errorf("table list shows %d tables; the standard ones are missing", len(all))
	}

	if r := n.run("table", "delete", "SecurityEvent", "-w", "secops"); r.code != exitError || !strings.Contains(r.stderr, "cannot be deleted") {
		t.Errorf("delete a standard table: exit %d\n%s", r.code, r.stderr)
	}
	n.must("table", "delete", "Firewall_CL", "-w", "secops")
	if r := n.run("table", "show", "Firewall_CL", "-w", "secops"); r.code != exitError || !strings.Contains(r.stderr, "workspace secops has no table Firewall_CL") {
		t.Errorf("show a deleted table: exit %d\n%s", r.code, r.stderr)
	}
}

// regexpInOrder reports whether the words appear in s in this order.
func regexpInOrder(s string, words ...string) bool {
	for _, w := range words {
		i := strings.Index(s, w)
		if i < 0 {
			return false
		}
		s = s[i+len(w):]
	}
	return true
}

func TestTableCommandsRefuseBadInputBeforeSending(t *testing.T) {
	config := t.TempDir() // no node: none of these may get as far as a request
	schema := writeFile(t, t.TempDir(), "schema.json", `{"columns":[{"name":"A","type":"string","size":4}]}`)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"a custom table without _CL", []string{"table", "create", "Firewall", "-w", "w", "--column", "A:string"}, exitUsage, "a custom table's name ends in _CL, such as Firewall_CL"},
		{"creating a standard table", []string{"table", "create", "SecurityEvent", "-w", "w", "--column", "A:string"}, exitUsage, "SecurityEvent is a standard table, built in; set its retention with `sealwatch table update SecurityEvent --retention-days N`"},
		{"a column without a type", []string{"table", "create", "Fw_CL", "-w", "w", "--column", "Zone"}, exitUsage, `--column "Zone" must be Name:type`},
		{"columns twice over", []string{"table", "create", "Fw_CL", "-w", "w", "--column", "A:string", "--file", schema}, exitUsage, "not both"},
		{"a schema file with an unknown field", []string{"table", "create", "Fw_CL", "-w", "w", "--file", schema}, exitError, `not a table schema`},
		{"dcr create into a table that is neither custom nor standard", []string{"dcr", "create", "--name", "d", "-g", "rg", "--workspace", "w", "--stream", "Custom-E", "--table", "Firewall"}, exitUsage,
			"--table Firewall is neither a standard table nor a custom one: a custom table's name ends in _CL, such as Firewall_CL"},
		{"dcr create into a table with a bad name", []string{"dcr", "create", "--name", "d", "-g", "rg", "--workspace", "w", "--stream", "Custom-E", "--table", "9lives_CL"}, exitUsage,
			"--table: table names are 1-63 letters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, config, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d; stderr does not say %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
		})
	}
}

// TestDcrCreateSaysWhichTableItWrites: the rule's table is named in what
// dcr create prints, whether chosen with --table or taken from the stream,
// and a standard table is written through its Microsoft- stream.
func TestDcrCreateSaysWhichTableItWrites(t *testing.T) {
	n := startNode(t)
	n.login()
	n.must("workspace", "create", "--name", "secops", "-g", "rg1")
	out := n.must("dcr", "create", "--name", "events", "-g", "rg1", "--workspace", "secops", "--stream", "Custom-Events", "--column", "Message:string")
	if !strings.Contains(out, "Rows of Custom-Events go to table Events_CL of workspace secops") {
		t.Errorf("dcr create without --table does not name the table:\n%s", out)
	}
	n.must("table", "create", "Audit_CL", "-w", "secops", "--column", "Message:string")
	out = n.must("dcr", "create", "--name", "audit", "-g", "rg1", "--workspace", "secops", "--stream", "Custom-Events", "--table", "Audit_CL", "--column", "Message:string")
	if !strings.Contains(out, "Rows of Custom-Events go to table Audit_CL of workspace secops, converted to its declared columns") {
		t.Errorf("dcr create into a declared table:\n%s", out)
	}
	out = n.must("dcr", "create", "--name", "winsec", "-g", "rg1", "--workspace", "secops", "--stream", "Custom-WinSec", "--table", "SecurityEvent",
		"--column", "Computer:string", "--column", "EventID:int")
	if !strings.Contains(out, "Rows of Custom-WinSec go to table SecurityEvent of workspace secops, converted to its declared columns") {
		t.Errorf("dcr create into a standard table:\n%s", out)
	}
	d := decode[dcrResource](t, n.must("dcr", "show", "--name", "winsec", "-o", "json"))
	if got := d.Properties.DataFlows[0].OutputStream; got != "Microsoft-SecurityEvent" {
		t.Errorf("the rule writes SecurityEvent through %q, want Microsoft-SecurityEvent", got)
	}
}
