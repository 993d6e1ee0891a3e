package kql

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

const ipRanges = `let Nets = datatable(Net:string, Site:string, Zone:string)["10.0.0.0/24", "lan", "a", "10.0.0.0/8", "corp", "a", "10.1.0.0/16", "lab", "b", "8.8.8.8", "dns", "a", "not an ip", "bad", "a"];`

var ipv4LookupCases = []kqlCase{
	{name: "every range holding the address, in the lookup table's order", q: ipRanges + ` Events | evaluate ipv4_lookup(Nets, tostring(Props.ip), Net) | project Account, Net, Site`,
		err: "must be a column of its input"},
	{name: "rows joined to their ranges", q: ipRanges + ` Events | extend ip = tostring(Props.ip) | evaluate ipv4_lookup(Nets, ip, Net) | project ip, Net, Site`,
		want: `[["10.0.0.1","10.0.0.0/24","lan"],["10.0.0.1","10.0.0.0/8","corp"],["10.0.0.2","10.0.0.0/24","lan"],["10.0.0.2","10.0.0.0/8","corp"],["8.8.8.8","8.8.8.8","dns"],["10.1.2.3","10.0.0.0/8","corp"],["10.1.2.3","10.1.0.0/16","lab"]]`},
	{name: "output columns: the input's, then the lookup table's", q: ipRanges + ` Users | take 1 | extend ip = "10.0.0.9" | evaluate ipv4_lookup(Nets, ip, Net)`,
		want: `[["alice","eng",3,"10.0.0.9","10.0.0.0/24","lan","a"],["alice","eng",3,"10.0.0.9","10.0.0.0/8","corp","a"]]`, cols: "Account:string,Dept:string,Level:long,ip:string,Net:string,Site:string,Zone:string"},
	{name: "return_unmatched keeps rows with null lookup columns", q: ipRanges + ` Events | extend ip = tostring(Props.ip) | evaluate ipv4_lookup(Nets, ip, Net, return_unmatched = true) | where isempty(Net) | project Account, ip`,
		want: `[["Alice","192.168.1.5"],["carol",""]]`},
	{name: "return_unmatched as a positional flag", q: ipRanges + ` Events | extend ip = tostring(Props.ip) | evaluate ipv4_lookup(Nets, ip, Net, true) | count`, want: `[[9]]`},
	{name: "extra keys must also be equal and appear once", q: ipRanges + ` datatable(ip:string, Zone:string)["10.1.2.3", "b", "10.0.0.1", "b"] | evaluate ipv4_lookup(Nets, ip, Net, Zone)`,
		want: `[["10.1.2.3","b","10.1.0.0/16","lab"]]`, cols: "ip:string,Zone:string,Net:string,Site:string"},
	{name: "a source range matches the ranges holding it", q: ipRanges + ` print ip = "10.0.0.128/25" | evaluate ipv4_lookup(Nets, ip, Net) | project Site`, want: `[["lan"],["corp"]]`},
	{name: "a clashing column name is suffixed", q: `let L = datatable(Net:string, ip:string)["10.0.0.0/8", "x"]; print ip = "10.2.3.4" | evaluate ipv4_lookup(L, ip, Net)`,
		want: `[["10.2.3.4","10.0.0.0/8","x"]]`, cols: "ip:string,Net:string,ip1:string"},
	{name: "empty lookup table", q: `let L = datatable(Net:string)[]; print ip = "10.2.3.4" | evaluate ipv4_lookup(L, ip, Net, return_unmatched = true)`, want: `[["10.2.3.4",""]]`},
	{name: "the lookup table must be tabular", q: `print ip = "1.2.3.4" | evaluate ipv4_lookup("x", ip, Net)`, err: "first argument is the lookup table"},
	{name: "the lookup key must be a lookup column", q: ipRanges + ` print ip = "1.2.3.4" | evaluate ipv4_lookup(Nets, ip, Nope)`, err: `lookup IPv4 column "Nope" is not a column`},
	{name: "too few arguments", q: ipRanges + ` print ip = "1.2.3.4" | evaluate ipv4_lookup(Nets, ip)`, err: "ipv4_lookup expects a lookup table"},
	{name: "return_unmatched must be a constant bool", q: ipRanges + ` print ip = "1.2.3.4" | evaluate ipv4_lookup(Nets, ip, Net, return_unmatched = "yes")`, err: "return_unmatched must be a constant bool"},
}

// TestIPv4TrieAgreesWithPrefixContains checks the trie against netip's own containment over
// a grid of ranges and addresses.
func TestIPv4TrieAgreesWithPrefixContains(t *testing.T) {
	var prefixes []netip.Prefix
	for _, s := range []string{"0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/9", "10.128.0.0/9", "10.1.2.0/24", "10.1.2.3/32", "192.168.0.0/16", "192.168.1.0/24", "192.168.1.0/24"} {
		prefixes = append(prefixes, netip.MustParsePrefix(s))
	}
	trie := newIPv4Trie()
	for i, pf := range prefixes {
		trie.insert(pf, i)
	}
	for _, a := range []string{"10.1.2.3", "10.1.2.4", "10.200.0.1", "192.168.1.77", "192.168.2.1", "11.0.0.1", "0.0.0.0", "255.255.255.255"} {
		addr := netip.MustParseAddr(a)
		var want []int
		for i, pf := range prefixes {
			if pf.Contains(addr) {
				want = append(want, i)
			}
		}
		got := trie.lookup(netip.PrefixFrom(addr, 32), nil)
		if fmt.Sprint(sortedInts(got)) != fmt.Sprint(want) {
			t.Errorf("%s: got %v, want %v", a, got, want)
		}
	}
}

func sortedInts(s []int) []int {
	out := append([]int(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func BenchmarkIPv4Lookup(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("let L = range i from 0 to 9999 step 1 | project Net = strcat(tostring(i / 256 % 256), \".\", tostring(i % 256), \".0.0/16\"), Site = tostring(i);\n")
	sb.WriteString("range j from 0 to 99999 step 1 | project ip = strcat(tostring(j % 256), \".\", tostring(j / 256 % 256), \".1.2\") | evaluate ipv4_lookup(L, ip, Net) | count")
	src := NewMemSource()
	q, err := Compile(sb.String(), src.Catalog())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := q.Run(b.Context(), src, Options{MaxRows: 1 << 30}); err != nil {
			b.Fatal(err)
		}
	}
}
