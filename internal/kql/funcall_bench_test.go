package kql

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkCompileWithStoredFunctions compiles a call of a unifying parser over two source
// parsers. mode=lazy is what Compile does in a workspace that also stores 300 other parsers of
// about 4 KB (the size of the normalizing parsers): it parses only the three the query calls.
// mode=alone has no other parsers stored; mode=eager parses every stored function first, as
// declaring them all in front of each query would.
func BenchmarkCompileWithStoredFunctions(b *testing.B) {
	src := storedSource(b)
	few := src.Catalog()
	many := src.Catalog()
	for i := range 300 {
		var body strings.Builder
		body.WriteString("DnsA\n| where isnull(starttime) or TimeGenerated >= starttime\n")
		for j := 0; body.Len() < 4000; j++ {
			fmt.Fprintf(&body, "| extend Field%d = iff(Query has 'x%d', strcat(Client, '-%d'), tostring(RCode))\n", j, j, j)
		}
		many.Functions = append(many.Functions, Function{Name: fmt.Sprintf("vimParser%03d", i),
			Parameters: "starttime:datetime=datetime(null), endtime:datetime=datetime(null), disabled:bool=false", Body: body.String()})
	}
	const query = `_Im_Dns(starttime=ago(1d), responsecodename='NXDOMAIN') | summarize n = count() by SrcIpAddr`
	for _, mode := range []string{"alone", "lazy", "eager"} {
		cat := many
		if mode == "alone" {
			cat = few
		}
		b.Run("mode="+mode, func(b *testing.B) {
			for b.Loop() {
				if mode == "eager" {
					for _, f := range cat.Functions {
						if _, err := parseStoredFunction(f); err != nil && !strings.HasPrefix(f.Name, "Broken") {
							b.Fatal(err)
						}
					}
				}
				if _, err := Compile(query, cat); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
