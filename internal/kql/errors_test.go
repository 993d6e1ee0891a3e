package kql

import "testing"

func TestFormatBytesNamesTheLargestUnitThatDividesTheCount(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int64
		want string
	}{
		{"a gibibyte", 1 << 30, "1 GiB"},
		{"several gibibytes", 3 << 30, "3 GiB"},
		{"mebibytes that are not whole gibibytes", 1536 << 20, "1536 MiB"},
		{"kibibytes", 10 << 10, "10 KiB"},
		{"bytes that are not whole kibibytes", 1000, "1000 bytes"},
		{"one byte", 1, "1 bytes"},
		{"zero", 0, "0 bytes"},
		{"negative", -1 << 20, "-1048576 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := FormatBytes(c.n); got != c.want {
				t.Errorf("FormatBytes(%d) = %q, want %q", c.n, got, c.want)
			}
		})
	}
}
