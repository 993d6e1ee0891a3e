package watchlist

import (
	"slices"
	"strings"
	"testing"
)

func TestParseCSVReadsHeaderAndRows(t *testing.T) {
	raw := "\ufeffexported 2026-12-01\nby the SOC\nIPAddress,Owner,Note\n203.0.113.7,alice,\"scanner, internal\"\r\n198.51.100.1,bob,\"two\nlines\"\n"
	p, err := ParseCSV(raw, ContentTypeCSV, 2, "IPAddress")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Columns, []string{"IPAddress", "Owner", "Note"}) {
		t.Fatalf("columns %q", p.Columns)
	}
	want := [][]string{{"203.0.113.7", "alice", "scanner, internal"}, {"198.51.100.1", "bob", "two\nlines"}}
	if len(p.Rows) != 2 || !slices.Equal(p.Rows[0], want[0]) || !slices.Equal(p.Rows[1], want[1]) {
		t.Fatalf("rows %q", p.Rows)
	}
	tsv, err := ParseCSV("Host\tTier\nweb01\t1\n", ContentTypeTSV, 0, "Host")
	if err != nil || len(tsv.Rows) != 1 || tsv.Rows[0][1] != "1" {
		t.Fatalf("tsv: %+v %v", tsv, err)
	}
	empty, err := ParseCSV("Host,Tier\n", ContentTypeCSV, 0, "Host")
	if err != nil || len(empty.Rows) != 0 {
		t.Fatalf("a header alone: %+v %v", empty, err)
	}
}

func TestParseCSVRefusesBadContent(t *testing.T) {
	manyRows := "IP\n" + strings.Repeat("x\n", MaxItemsPerUpload+1)
	manyCols := make([]string, MaxColumns+1)
	for i := range manyCols {
		manyCols[i] = "c" + strings.Repeat("x", i)
	}
	for _, tc := range []struct {
		name, raw, contentType string
		skip                   int
		key, want              string
	}{
		{"an unknown content type", "IP\n1\n", "application/json", 0, "IP", "contentType must be text/csv or text/tsv"},
		{"nothing at all", "", ContentTypeCSV, 0, "IP", "no header line"},
		{"only skipped lines", "a\nb\n", ContentTypeCSV, 2, "IP", "no header line after the 2 skipped"},
		{"more lines to skip than there are", "a\nb", ContentTypeCSV, 5, "IP", "has only 2 line(s)"},
		{"a negative skip", "IP\n", ContentTypeCSV, -1, "IP", "numberOfLinesToSkip must be from 0"},
		{"a search key not in the header", "IP,Owner\n1,a\n", ContentTypeCSV, 0, "Address", "itemsSearchKey 'Address' is not a column of rawContent's header (line 1); its columns are IP, Owner"},
		{"a search key in another case", "IP,Owner\n1,a\n", ContentTypeCSV, 0, "ip", "itemsSearchKey 'ip' is not a column"},
		{"an empty column name", "IP,,Owner\n", ContentTypeCSV, 0, "IP", "column 2: the name is empty"},
		{"a repeated column name", "IP,Owner,IP\n", ContentTypeCSV, 0, "IP", "names column 'IP' twice"},
		{"a column name with a space around it", "IP, Owner\n", ContentTypeCSV, 0, "IP", "begins or ends with a space"},
		{"a reserved column name", "IP,SearchKey\n", ContentTypeCSV, 0, "IP", "'SearchKey' is a column _GetWatchlist adds itself"},
		{"a column name with a control character", "IP,Own\x01er\n", ContentTypeCSV, 0, "IP", "control character"},
		{"too many columns", strings.Join(manyCols, ",") + "\n", ContentTypeCSV, 0, "c", "a watchlist has at most 100"},
		{"a row with too few fields", "skip me\nIP,Owner\n1,a\n2\n", ContentTypeCSV, 1, "IP", "line 4 has 1 field(s); the header has 2 (IP, Owner)"},
		{"a row with too many fields", "IP,Owner\n1,a,extra\n", ContentTypeCSV, 0, "IP", "line 2 has 3 field(s)"},
		{"a bare quote", "IP,Owner\n1,a\"b\n", ContentTypeCSV, 0, "IP", "line 2: bare \" in non-quoted-field"},
		{"an unterminated quote", "IP,Owner\n1,\"ab\n", ContentTypeCSV, 0, "IP", "extraneous or missing \" in quoted-field"},
		{"invalid UTF-8", "IP,Owner\n1,a\n2,\xff\n", ContentTypeCSV, 0, "IP", "line 3 is not valid UTF-8"},
		{"a value too large", "IP,Owner\n1," + strings.Repeat("v", MaxValueBytes+1) + "\n", ContentTypeCSV, 0, "IP", "the value of column 'Owner' is 32769 bytes"},
		{"too many rows", manyRows, ContentTypeCSV, 0, "IP", "more than 10000 rows"},
		{"too many bytes", "IP\n" + strings.Repeat("x", MaxRawContentBytes), ContentTypeCSV, 0, "IP", "a watchlist upload is at most 3800000 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCSV(tc.raw, tc.contentType, tc.skip, tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// FuzzParseCSV: whatever the content, the parser refuses it or returns a
// header holding the search key once, and rows as wide as the header,
// within the limits.
func FuzzParseCSV(f *testing.F) {
	f.Add("IP,Owner\n1,a\n", 0, "IP")
	f.Add("x\nIP\t\"q\"\"\"\n1\t\"a\nb\"\n", 1, "IP")
	f.Add("\ufeffIP,Owner\r\n\"1\",\"\"\r\n", 0, "IP")
	f.Add("IP,IP\n", 0, "IP")
	f.Fuzz(func(t *testing.T, raw string, skip int, key string) {
		for _, ct := range []string{ContentTypeCSV, ContentTypeTSV} {
			p, err := ParseCSV(raw, ct, skip, key)
			if err != nil {
				continue
			}
			if len(p.Columns) == 0 || len(p.Columns) > MaxColumns || slices.Index(p.Columns, key) < 0 {
				t.Fatalf("columns %q with search key %q", p.Columns, key)
			}
			seen := map[string]bool{}
			for _, c := range p.Columns {
				if seen[c] || checkColumnName(c) != nil {
					t.Fatalf("column %q accepted", c)
				}
				seen[c] = true
			}
			if len(p.Rows) > MaxItemsPerUpload {
				t.Fatalf("%d rows", len(p.Rows))
			}
			for _, r := range p.Rows {
				if len(r) != len(p.Columns) {
					t.Fatalf("row %q under header %q", r, p.Columns)
				}
				if err := checkRow(r, p.Columns, "row"); err != nil {
					t.Fatalf("accepted a row over the limits: %v", err)
				}
			}
		}
	})
}
