package kql

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// geoFuncCases run without a GeoIP database, as TestQueriesGiveDocumentedResults runs every
// case; the tests below give the runs one.
var geoFuncCases = []kqlCase{
	{name: "geo_info_from_ip_address is null without a database", q: `print g = geo_info_from_ip_address('81.2.69.142')`, want: `[[null]]`, cols: "g:dynamic"},
	{name: "geo_info_from_ip_address refuses a number", q: `print geo_info_from_ip_address(1)`, err: "geo_info_from_ip_address(): argument 1 must be string, not long"},
}

// The tests build their GeoIP database with the small MMDB encoder below, which writes the
// MaxMind DB format (a binary search tree over IPv6 address bits with IPv4 under ::/96, a data
// section, and the metadata map) for the few networks a test names.

type mmdbNetwork struct {
	prefix string
	record map[string]any
}

func cityRecord(country, state, city string, lat, lon float64) map[string]any {
	names := func(n string) map[string]any {
		return map[string]any{"names": map[string]any{"en": n, "de": n + "-de"}}
	}
	rec := map[string]any{"country": names(country), "location": map[string]any{"latitude": lat, "longitude": lon, "accuracy_radius": uint16(20)}}
	if state != "" {
		rec["subdivisions"] = []any{names(state)}
	}
	if city != "" {
		rec["city"] = names(city)
	}
	return rec
}

// mmdbFile is an IPv6 database with 24-bit records holding nets.
func mmdbFile(nets []mmdbNetwork) []byte {
	type node struct{ child [2]int } // >0: node index+1; <0: -(data index+1); 0: empty
	nodes := []node{{}}
	var data bytes.Buffer
	var offsets []int
	for _, n := range nets {
		p := netip.MustParsePrefix(n.prefix)
		addr, bits := p.Addr().As16(), p.Bits()
		if p.Addr().Is4() {
			// IPv4 lives under ::/96 in an IPv6 tree, not under the mapped ::ffff:0:0/96
			v4 := p.Addr().As4()
			addr, bits = [16]byte{}, bits+96
			copy(addr[12:], v4[:])
		}
		offsets = append(offsets, data.Len())
		mmdbEncode(&data, n.record)
		cur := 0
		for i := range bits {
			bit := addr[i/8] >> (7 - i%8) & 1
			if i == bits-1 {
				nodes[cur].child[bit] = -len(offsets)
				break
			}
			if nodes[cur].child[bit] <= 0 {
				nodes = append(nodes, node{})
				nodes[cur].child[bit] = len(nodes)
			}
			cur = nodes[cur].child[bit] - 1
		}
	}
	count := len(nodes)
	var out bytes.Buffer
	for _, n := range nodes {
		for _, c := range n.child {
			v := count // empty
			switch {
			case c > 0:
				v = c - 1
			case c < 0:
				v = count + 16 + offsets[-c-1]
			}
			out.Write([]byte{byte(v >> 16), byte(v >> 8), byte(v)})
		}
	}
	out.Write(make([]byte, 16))
	out.Write(data.Bytes())
	out.WriteString("\xAB\xCD\xEFMaxMind.com")
	mmdbEncode(&out, map[string]any{
		"node_count": uint32(count), "record_size": uint16(24), "ip_version": uint16(6),
		"database_type": "Test-City", "languages": []any{"en", "de"},
		"binary_format_major_version": uint16(2), "binary_format_minor_version": uint16(0),
		"build_epoch": uint64(1764547200), "description": map[string]any{"en": "test database"},
	})
	return out.Bytes()
}

// mmdbEncode writes v in the MMDB data section encoding: a control byte with the type in
// its top three bits (extended types in a second byte) and the size in its low five.
func mmdbEncode(b *bytes.Buffer, v any) {
	ctrl := func(typ, size int) {
		sizeBits, ext := size, []byte(nil)
		switch {
		case size >= 285:
			sizeBits, ext = 30, []byte{byte((size - 285) >> 8), byte(size - 285)}
		case size >= 29:
			sizeBits, ext = 29, []byte{byte(size - 29)}
		}
		if typ > 7 {
			b.Write([]byte{byte(sizeBits), byte(typ - 7)})
		} else {
			b.WriteByte(byte(typ<<5 | sizeBits))
		}
		b.Write(ext)
	}
	uint := func(typ int, x uint64, width int) {
		buf := binary.BigEndian.AppendUint64(nil, x)[8-width:]
		for len(buf) > 0 && buf[0] == 0 {
			buf = buf[1:]
		}
		ctrl(typ, len(buf))
		b.Write(buf)
	}
	switch x := v.(type) {
	case string:
		ctrl(2, len(x))
		b.WriteString(x)
	case float64:
		ctrl(3, 8)
		b.Write(binary.BigEndian.AppendUint64(nil, math.Float64bits(x)))
	case uint16:
		uint(5, uint64(x), 2)
	case uint32:
		uint(6, uint64(x), 4)
	case uint64:
		uint(9, x, 8)
	case map[string]any:
		ctrl(7, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			mmdbEncode(b, k)
			mmdbEncode(b, x[k])
		}
	case []any:
		ctrl(11, len(x))
		for _, e := range x {
			mmdbEncode(b, e)
		}
	default:
		panic("mmdbEncode: unsupported type")
	}
}

// testGeoIPNetworks are the networks of the tests' database, testdata/geoip-test.mmdb.
func testGeoIPNetworks() []mmdbNetwork {
	return []mmdbNetwork{
		{"81.2.69.0/24", cityRecord("United Kingdom", "England", "London", 51.5142, -0.0931)},
		{"20.53.203.0/24", cityRecord("Australia", "New South Wales", "Sydney", -33.8715, 151.2006)},
		{"2a03:2880:f12c::/48", cityRecord("United States", "Florida", "Boca Raton", 26.3594, -80.0771)},
		{"2001:db8::/32", cityRecord("Nowhere", "", "", 1.5, 2.5)},
		{"8.8.8.0/24", cityRecord("United States", "", "", 37.751, -97.822)},
	}
}

var updateGeoIPTestdata = flag.Bool("update-geoip-testdata", false, "rewrite testdata/geoip-test.mmdb")

// testdata/geoip-test.mmdb holds testGeoIPNetworks for the tests of the packages that run
// queries through a node. Rewrite it after changing them with
//
//	go test ./internal/kql -run TestGeoIPTestdataIsCurrent -update-geoip-testdata
func TestGeoIPTestdataIsCurrent(t *testing.T) {
	const path = "testdata/geoip-test.mmdb"
	want := mmdbFile(testGeoIPNetworks())
	if *updateGeoIPTestdata {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what testGeoIPNetworks describe: rewrite it with -update-geoip-testdata", path)
	}
}

func openTestGeoIP(t *testing.T) *GeoIPDB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test-city.mmdb")
	if err := os.WriteFile(path, mmdbFile(testGeoIPNetworks()), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := OpenGeoIP(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestGeoInfoFromIPAddressReadsTheOperatorsDatabase(t *testing.T) {
	db := openTestGeoIP(t)
	src := fixtureSource(t)
	cases := []struct{ name, q, want string }{
		{"an IPv4 address", `print ip_location = geo_info_from_ip_address('20.53.203.50')`,
			`[[{"country":"Australia","state":"New South Wales","city":"Sydney","latitude":-33.8715,"longitude":151.2006}]]`},
		{"an IPv6 address", `print geo_info_from_ip_address('2a03:2880:f12c:83:face:b00c::25de')`,
			`[[{"country":"United States","state":"Florida","city":"Boca Raton","latitude":26.3594,"longitude":-80.0771}]]`},
		{"an IPv4-mapped IPv6 address", `print geo_info_from_ip_address('::ffff:81.2.69.142').city`, `[["London"]]`},
		{"a record without state or city", `print geo_info_from_ip_address('2001:db8::1')`, `[[{"country":"Nowhere","latitude":1.5,"longitude":2.5}]]`},
		{"an address the database does not hold", `print geo_info_from_ip_address('10.0.0.1'), geo_info_from_ip_address('8.8.9.8')`, `[[null,null]]`},
		{"what is not an address", `print geo_info_from_ip_address('not an ip'), geo_info_from_ip_address(''), geo_info_from_ip_address('81.2.69.0/24')`, `[[null,null,null]]`},
		{"a column, with its accessors", `Events | extend g = geo_info_from_ip_address(tostring(Props.ip)) | project Account, country = tostring(g.country), lat = toreal(g.latitude)`,
			`[["alice","",null],["bob","",null],["Alice","",null],["carol","",null],["bob","United States",37.751],["","",null]]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := Compile(c.q, src.Catalog())
			if err != nil {
				t.Fatal(err)
			}
			res, err := q.Run(context.Background(), src, Options{Now: fixtureNow, GeoIP: db})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(res.Tables[0].Rows)
			if g, w := normJSON(t, string(got)), normJSON(t, c.want); g != w {
				t.Errorf("got %s\nwant %s", g, w)
			}
			if typ := res.Tables[0].Columns[0].Type; c.name != "a column, with its accessors" && typ != TypeDynamic {
				t.Errorf("result type %s, want dynamic", typ)
			}
		})
	}
}

func TestGeoInfoFromIPAddressIsNullWithoutADatabase(t *testing.T) {
	src := fixtureSource(t)
	q, err := Compile(`print g = geo_info_from_ip_address('81.2.69.142')`, src.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Run(context.Background(), src, Options{Now: fixtureNow})
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Tables[0].Rows[0][0]; v != nil {
		t.Errorf("without a GeoIP database: got %v, want null", v)
	}
	if typ := res.Tables[0].Columns[0].Type; typ != TypeDynamic {
		t.Errorf("result type %s, want dynamic", typ)
	}
}

// A compiled query runs again with another run's database: nothing of one run's lookup
// stays in the compiled query.
func TestGeoInfoFromIPAddressUsesEachRunsDatabase(t *testing.T) {
	db := openTestGeoIP(t)
	src := fixtureSource(t)
	q, err := Compile(`print geo_info_from_ip_address('81.2.69.142').country`, src.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []struct {
		db   *GeoIPDB
		want any
	}{{nil, nil}, {db, "United Kingdom"}, {nil, nil}} {
		res, err := q.Run(context.Background(), src, Options{Now: fixtureNow, GeoIP: run.db})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Tables[0].Rows[0][0]; got != run.want {
			t.Errorf("with database %v: got %v, want %v", run.db != nil, got, run.want)
		}
	}
}

func TestOpenGeoIPRefusesWhatIsNotAnMMDBFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"empty": "", "text": "country,city\nUK,London\n"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if db, err := OpenGeoIP(path); err == nil {
			db.Close()
			t.Errorf("%s file: opened, want an error", name)
		}
	}
	if _, err := OpenGeoIP(filepath.Join(dir, "missing.mmdb")); err == nil {
		t.Error("missing file: opened, want an error")
	}
}
