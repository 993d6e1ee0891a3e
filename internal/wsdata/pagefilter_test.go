package wsdata_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// TestPageFiltersAnswerAsTheEngine asks queries whose predicates the store
// serves with the page filters of a column of long text (a term in few of
// its parts) twice: handed to the store, and filtered by the engine after
// take, which pushes nothing down. Counts and rows must be equal, also
// where the term is in another column than the text.
func TestPageFiltersAnswerAsTheEngine(t *testing.T) {
	st, err := logstore.New(logstore.Config{Dir: t.TempDir(), Keys: envelopetest.New("aek")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	rng := rand.New(rand.NewPCG(4, 4))
	words := []string{"Failed", "password", "for", "from", "port", "ssh2", "Accepted", "publickey", "user0042", "x-y", "jörg"}
	rows := make([]map[string]any, 6000)
	for i := range rows {
		var msg strings.Builder
		for msg.Len() < 70 {
			w := words[rng.IntN(len(words))]
			if rng.IntN(3000) == 0 {
				w = []string{"u", "U"}[rng.IntN(2)]
			}
			fmt.Fprintf(&msg, "%s %d ", w, rng.IntN(1000))
		}
		tag := "t"
		if i%97 == 0 {
			tag = "u"
		}
		rows[i] = map[string]any{"TimeGenerated": now.Add(-time.Duration(i) * time.Second).Format(time.RFC3339), "msg": msg.String(), "tag": tag}
	}
	body, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ingest(context.Background(), "ws", "T", body); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	src := wsdata.NewSource(st, "ws")
	run := func(t *testing.T, q string) []string {
		t.Helper()
		var out []string
		for _, r := range runAt(t, src, now, q).Tables[0].Rows {
			out = append(out, fmt.Sprint(r))
		}
		slices.Sort(out)
		return out
	}
	for _, p := range []string{`msg has "u"`, `msg has "U"`, `msg has "port 7"`, `msg has_any ("u", "mimikatz")`,
		`msg has "u" and tag == "t"`, `* has "u"`, `* has "u" and msg has "for"`, fmt.Sprintf(`msg == %q`, rows[4321]["msg"])} {
		t.Run(p, func(t *testing.T) {
			for _, tail := range []string{" | count", " | project msg, tag"} {
				want := run(t, `T | take 100000000 | where `+p+tail)
				if got := run(t, `T | where `+p+tail); !slices.Equal(got, want) {
					t.Fatalf("%s: %d rows %.200v, the engine's %d %.200v", tail, len(got), got, len(want), want)
				}
				if tail == " | count" && want[0] == "[0]" {
					t.Fatalf("no row matches %s: the question proves nothing", p)
				}
			}
		})
	}
	if got, want := run(t, `search "u" | project msg, tag`), run(t, `T | take 100000000 | where * has "u" | project msg, tag`); !slices.Equal(got, want) {
		t.Fatalf(`search "u": %d rows, the engine's %d`, len(got), len(want))
	}
}
