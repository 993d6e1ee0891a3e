package cli

import (
	"strings"
	"testing"
)

func TestAWatchlistIsCreatedFromCSVListedChangedAndDeleted(t *testing.T) {
	n := incidentWorkspace(t)
	csv := writeFile(t, t.TempDir(), "vips.csv", "# exported by HR\nUser,Department\nalice@contoso.com,Finance\n\"bob@contoso.com\",\"HR, Payroll\"\n")
	out := n.must("watchlist", "create", "vips", "--workspace", "secops", "--file", csv, "--search-key", "User", "--skip-lines", "1",
		"--display-name", "VIP users", "--label", "identity")
	for _, want := range []string{"vips", "VIP users", "User", "vips.csv", "columns:      User, Department", "labels:       identity", "_GetWatchlist('vips')", "etag:"} {
		if !strings.Contains(out, want) {
			t.Errorf("watchlist create does not show %q:\n%s", want, out)
		}
	}
	if r := n.run("watchlist", "create", "vips", "-w", "secops", "--file", csv, "--search-key", "User", "--skip-lines", "1"); r.code != exitError || !strings.Contains(r.stderr, "already has a watchlist vips; add --replace") {
		t.Errorf("create over an existing watchlist: exit %d\n%s", r.code, r.stderr)
	}
	list := decode[[]watchlistResource](t, n.must("watchlist", "list", "-w", "secops", "-o", "json"))
	if len(list) != 1 || list[0].Properties.ItemsCount != 2 || list[0].Properties.ItemsSearchKey != "User" {
		t.Errorf("watchlist list: %+v", list)
	}
	items := n.must("watchlist", "items", "vips", "-w", "secops")
	lines := strings.Split(strings.TrimSpace(items), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "User") || !strings.Contains(lines[0], "Department") || !strings.Contains(items, "HR, Payroll") {
		t.Errorf("watchlist items:\n%s", items)
	}

	put := n.must("watchlist", "item", "put", "vips", "-w", "secops", "--id", "carol", "--value", "User=carol@contoso.com", "--value", "Department=Legal")
	if !strings.Contains(put, "Department=Legal User=carol@contoso.com") {
		t.Errorf("item put:\n%s", put)
	}
	// The query API sees the item at once.
	q := n.must("query", "-w", "secops", "_GetWatchlist('vips') | where Department == 'Legal' | project SearchKey")
	if !strings.Contains(q, "carol@contoso.com") {
		t.Errorf("query of the watchlist:\n%s", q)
	}
	if r := n.run("watchlist", "item", "put", "vips", "-w", "secops", "--value", "Email=x"); r.code != exitError || !strings.Contains(r.stderr, "names column 'Email', which the watchlist does not have") {
		t.Errorf("an item with an unknown column: exit %d\n%s", r.code, r.stderr)
	}
	n.must("watchlist", "item", "delete", "vips", "-w", "secops", "--id", "carol")
	if show := decode[watchlistResource](t, n.must("watchlist", "show", "vips", "-w", "secops", "-o", "json")); show.Properties.ItemsCount != 2 {
		t.Errorf("after deleting the item: %+v", show.Properties)
	}

	replaced := writeFile(t, t.TempDir(), "vips2.csv", "User,Department\ndave@contoso.com,IT\n")
	out = n.must("watchlist", "create", "vips", "-w", "secops", "--file", replaced, "--search-key", "User", "--replace")
	if !strings.Contains(out, " 1 ") {
		t.Errorf("replaced watchlist does not show 1 item:\n%s", out)
	}
	n.must("watchlist", "delete", "vips", "-w", "secops")
	if r := n.run("watchlist", "show", "vips", "-w", "secops"); r.code != exitError || !strings.Contains(r.stderr, "NotFound") {
		t.Errorf("show a deleted watchlist: exit %d\n%s", r.code, r.stderr)
	}
}

func TestWatchlistFilesAreCheckedBeforeTheyAreSent(t *testing.T) {
	config := t.TempDir() // no node: none of these may get as far as a request
	for _, tc := range []struct {
		name    string
		content string
		args    []string
		code    int
		want    string
	}{
		{"a row short of a field", "User,Department\nalice\n", nil, exitError, "vips.csv: the file line 2 has 1 field(s); the header has 2 (User, Department)"},
		{"bytes that are not UTF-8", "User,Department\nalice,Fin\xe9ance\n", nil, exitError, "the file line 2 is not valid UTF-8"},
		{"a search key not in the header", "Email,Department\n", nil, exitError, "--search-key 'User' is not a column"},
		{"a repeated column", "User,User\n", nil, exitError, "names column 'User' twice"},
		{"more lines to skip than the file has", "User\n", []string{"--skip-lines", "3"}, exitError, "--skip-lines is 3 but"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "vips.csv", tc.content)
			args := append([]string{"watchlist", "create", "vips", "-w", "w", "--file", path, "--search-key", "User"}, tc.args...)
			r := runCLI(t, config, args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d; stderr does not say %q:\n%s", r.code, tc.code, tc.want, r.stderr)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"create without a file", []string{"watchlist", "create", "vips", "-w", "w", "--search-key", "User"}, `required flag(s) "file" not set`},
		{"create without an alias", []string{"watchlist", "create", "-w", "w", "--file", "x.csv", "--search-key", "User"}, "accepts 1 arg(s)"},
		{"an alias with a slash", []string{"watchlist", "create", "a/b", "-w", "w", "--file", "x.csv", "--search-key", "User"}, "aliases are 1-128 letters"},
		{"a value without =", []string{"watchlist", "item", "put", "vips", "-w", "w", "--value", "User"}, `--value "User" is not COLUMN=VALUE`},
		{"a column given twice", []string{"watchlist", "item", "put", "vips", "-w", "w", "--value", "User=a", "--value", "User=b"}, `gives column "User" twice`},
		{"item delete without an ID", []string{"watchlist", "item", "delete", "vips", "-w", "w"}, `required flag(s) "id" not set`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, config, tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d; stderr does not say %q:\n%s", r.code, exitUsage, tc.want, r.stderr)
			}
		})
	}
}
