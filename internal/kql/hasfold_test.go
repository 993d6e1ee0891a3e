package kql

import "testing"

// TestHasOfTextOutsideASCIIFindsTermsWhereLoweringChangesLengths checks has
// ignoring case with a needle outside ASCII over text whose lower case is
// longer than itself (İ, a byte that is not UTF-8), where offsets into the
// lowered text once indexed the original one out of range.
func TestHasOfTextOutsideASCIIFindsTermsWhereLoweringChangesLengths(t *testing.T) {
	cases := []struct {
		h, n string
		want bool
	}{
		{"éé", "é", false},
		{"éé é", "é", true},
		{"x É", "é", true},
		{"İİİ é", "é", true},
		{"İİİé", "é", false},
		{"\xff\xff é", "É", true},
		{"\xffé", "é", false},
		{"jörg:x", "JÖRG", true},
	}
	for _, c := range cases {
		t.Run(c.h+" has "+c.n, func(t *testing.T) {
			if got := hasTerm(c.h, c.n, false); got != c.want {
				t.Fatalf("has: %v, want %v", got, c.want)
			}
		})
	}
}
