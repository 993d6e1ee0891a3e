package kql

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestEveryPrefixOfTheSequenceSyntaxFailsCleanly cuts each query of the make-series, window,
// scan, sample and top-nested cases at every byte: what does not compile fails with a typed,
// positioned error, and what compiles runs, without a panic either way. It walks the partial
// forms of their syntax that the fuzzer reaches only by chance.
func TestEveryPrefixOfTheSequenceSyntaxFailsCleanly(t *testing.T) {
	src := fixtureSource(t)
	cat := src.Catalog()
	for _, cases := range [][]kqlCase{makeSeriesCases, windowCases, scanCases, sampleCases} {
		for _, c := range cases {
			for i := 0; i <= len(c.q); i++ {
				q := c.q[:i]
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Errorf("%q panics: %v", q, r)
						}
					}()
					cq, err := Compile(q, cat)
					if err != nil {
						var se *SyntaxError
						var be *BindError
						switch {
						case errors.As(err, &se) && se.Line > 0 && se.Col > 0:
						case errors.As(err, &be) && be.Line > 0 && be.Col > 0:
						default:
							t.Errorf("%q: error without a type or position: %v", q, err)
						}
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					defer cancel()
					cq.Run(ctx, src, Options{Now: fixtureNow, MaxRows: 5000, MaxMemory: 64 << 20})
				}()
			}
		}
	}
}
