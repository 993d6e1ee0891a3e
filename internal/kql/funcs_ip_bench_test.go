package kql

import "testing"

// BenchmarkIPv4InAnyRange is a detection rule's test of each row's address against a constant
// list of ranges.
func BenchmarkIPv4InAnyRange(b *testing.B) {
	const q = `range j from 0 to 19999 step 1
| project ip = strcat(tostring(j % 256), ".", tostring(j / 256 % 256), ".1.2")
| where ipv4_is_in_any_range(ip, dynamic(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.1"]))
| count`
	src := NewMemSource()
	cq, err := Compile(q, src.Catalog())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := cq.Run(b.Context(), src, Options{MaxRows: 1 << 30}); err != nil {
			b.Fatal(err)
		}
	}
}
