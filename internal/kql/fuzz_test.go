package kql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// FuzzParse: no input makes Compile (or running what compiles) panic or hang; compile errors
// are always typed and carry a position.
func FuzzParse(f *testing.F) {
	for _, cases := range allCases() {
		for _, c := range cases {
			f.Add(c.q)
		}
	}
	for _, q := range detectionQueries {
		f.Add(q.q)
	}
	for _, c := range storedCases {
		f.Add(c.q)
	}
	// search and where * has (mv-apply's and evaluate's cases are in allCases)
	for _, c := range searchCases {
		f.Add(c.q)
	}
	f.Add(strings.Repeat("(", 1000))
	f.Add(strings.Repeat("-", 1000) + "1")
	f.Add("print " + strings.Repeat("f(", 300))
	f.Add("let f = () { let a = f; let b = f; let c = f; a }; f")
	for _, q := range externalDataSeeds {
		f.Add(q)
	}
	for _, c := range append(dynamicLiteralCases, dynamicLiteralErrorCases...) {
		f.Add(c.q)
	}
	// the fixture's tables and stored functions that call each other, by name and with defaults
	src := storedSource(f)
	cat := src.Catalog()
	f.Fuzz(func(t *testing.T, q string) {
		if len(q) > 1<<14 {
			return
		}
		cq, err := Compile(q, cat)
		if err == nil {
			// whatever compiles also runs without panicking (errors are fine)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			cq.Run(ctx, src, Options{Now: fixtureNow, MaxRows: 5000, MaxMemory: 64 << 20})
			return
		}
		var se *SyntaxError
		var be *BindError
		switch {
		case errors.As(err, &se):
			if se.Line < 1 || se.Col < 1 {
				t.Fatalf("syntax error without a position: %v", err)
			}
		case errors.As(err, &be):
			if be.Line < 1 || be.Col < 1 {
				t.Fatalf("bind error without a position: %v", err)
			}
		default:
			t.Fatalf("untyped compile error %T: %v", err, err)
		}
	})
}

// queryGen builds random well-typed queries over the fixture tables from fuzz bytes.
type queryGen struct {
	b []byte
	i int
}

func (g *queryGen) n(k int) int {
	if g.i >= len(g.b) {
		return 0
	}
	v := int(g.b[g.i]) % k
	g.i++
	return v
}

func (g *queryGen) pick(opts ...string) string { return opts[g.n(len(opts))] }

func (g *queryGen) boolExpr(depth int) string {
	if depth > 2 {
		return g.pick("Ok", "true", "isnull(Count)")
	}
	switch g.n(10) {
	case 0:
		return fmt.Sprintf("(%s and %s)", g.boolExpr(depth+1), g.boolExpr(depth+1))
	case 1:
		return fmt.Sprintf("(%s or %s)", g.boolExpr(depth+1), g.boolExpr(depth+1))
	case 2:
		return fmt.Sprintf("%s %s %s", g.numExpr(depth+1), g.pick("==", "!=", "<", "<=", ">", ">="), g.numExpr(depth+1))
	case 3:
		return fmt.Sprintf("%s %s %s", g.strExpr(depth+1), g.pick("==", "=~", "has", "!has", "contains", "startswith", "endswith_cs", "has_cs", "!contains_cs", "matches regex"), g.pick(`"web01"`, `"b"`, `"o"`, `""`, `"10.0"`))
	case 4:
		return fmt.Sprintf("%s %s (%s, %s)", g.strExpr(depth+1), g.pick("in", "!in", "in~", "!in~"), g.pick(`"bob"`, `"x"`, `"ALICE"`), g.pick(`"alice"`, `"db01"`, `dynamic(["Web01"])`))
	case 5:
		return fmt.Sprintf("TimeGenerated %s ago(%s)", g.pick(">", "<", ">="), g.pick("1h", "3h", "1d", "0s"))
	case 6:
		return fmt.Sprintf("%s between (%s .. %s)", g.numExpr(depth+1), g.numExpr(depth+1), g.numExpr(depth+1))
	case 7:
		return fmt.Sprintf("not(%s)", g.boolExpr(depth+1))
	case 8: // a number column against string literals, as published rules write it
		return g.pick(`EventID == "4624"`, `EventID != "4625"`, `EventID in ("4624", "4688")`, `EventID !in ("4625")`, `Count >= "2"`, `Score < "1.5"`)
	}
	return g.pick("Ok", "isnotempty(Account)", "isnull(Score)", `Props.ip has "10"`)
}

func (g *queryGen) numExpr(depth int) string {
	if depth > 2 {
		return g.pick("Count", "EventID", "Score", "1", "2.5", "-3")
	}
	switch g.n(6) {
	case 0:
		return fmt.Sprintf("(%s %s %s)", g.numExpr(depth+1), g.pick("+", "-", "*", "/", "%"), g.numExpr(depth+1))
	case 1:
		return fmt.Sprintf("strlen(%s)", g.strExpr(depth+1))
	case 2:
		return fmt.Sprintf("iff(%s, %s, %s)", g.boolExpr(depth+1), g.numExpr(depth+1), g.numExpr(depth+1))
	case 3:
		return fmt.Sprintf("bin(%s, %s)", g.numExpr(depth+1), g.pick("1", "5", "0", "-2", "0.5"))
	case 4:
		return fmt.Sprintf("toint(%s)", g.strExpr(depth+1))
	}
	return g.pick("Count", "EventID", "Score", "array_length(Props.tags)", "hourofday(TimeGenerated)", "toreal(Props.ip)", `array_length(Props.["tags"])`, "strlen(tostring(Props.tags.[0]))",
		"array_sum(series_add(range(1, Count), Score))", "toreal(series_stats_dynamic(range(0, EventID % 50)).avg)",
		"tolong(series_decompose_anomalies(series_fill_linear(range(1, 30)), 1.5, -1, 'linefit')[0][Count])", "parse_ipv4(tostring(Props.ip))")
}

func (g *queryGen) strExpr(depth int) string {
	if depth > 2 {
		return g.pick("Account", "Computer", `"x"`)
	}
	switch g.n(5) {
	case 0:
		return fmt.Sprintf("strcat(%s, %s)", g.strExpr(depth+1), g.strExpr(depth+1))
	case 1:
		return fmt.Sprintf("tolower(%s)", g.strExpr(depth+1))
	case 2:
		return fmt.Sprintf("substring(%s, %s, %s)", g.strExpr(depth+1), g.numExpr(depth+1), g.numExpr(depth+1))
	case 3:
		return fmt.Sprintf("tostring(%s)", g.numExpr(depth+1))
	}
	return g.pick("Account", "Computer", "tostring(Props.ip)", `extract("(\\d+)", 1, Computer)`, `replace_string(Account, "o", "0")`,
		`tostring(parse_xml(strcat("<e a='", Account, "'>", Computer, "</e>")).e["@a"])`, "tostring(geo_info_from_ip_address(tostring(Props.ip)).country)", "format_ipv4_mask(tostring(Props.ip), 24)")
}

func (g *queryGen) query() string {
	var b strings.Builder
	b.WriteString(g.pick("Events", "Events | where Ok", "union Events, (Events | take 2)", "Events | join kind=leftouter (Users) on Account", "let E = () { Events | where Ok }; E"))
	for k := g.n(5); k >= 0; k-- {
		switch g.n(11) {
		case 0:
			b.WriteString(" | where " + g.boolExpr(0))
		case 1:
			b.WriteString(" | extend x" + fmt.Sprint(g.n(3)) + " = " + g.numExpr(0))
		case 2:
			b.WriteString(" | extend s = " + g.strExpr(0))
		case 3:
			b.WriteString(" | sort by " + g.numExpr(0) + " " + g.pick("asc", "desc", "asc nulls last"))
		case 4:
			b.WriteString(" | top " + g.pick("0", "1", "3") + " by " + g.pick("Count", "Score", "TimeGenerated"))
		case 5:
			b.WriteString(" | take " + g.pick("0", "2", "100"))
		case 6:
			b.WriteString(" | mv-expand t = Props.tags")
		case 7:
			b.WriteString(" | parse Computer with " + g.pick(`c "0" n:long`, `* "b" rest`, `x:int *`))
		case 8:
			b.WriteString(" | distinct Computer, Account")
			return b.String()
		case 9:
			b.WriteString(" | project-rename Host = Computer | project-rename Computer = Host | project-reorder Account")
		}
	}
	switch g.n(5) {
	case 0:
		b.WriteString(" | summarize count(), dcount(Account), make_set(Computer), arg_max(TimeGenerated, *) by " + g.pick("Computer", "bin(TimeGenerated, 1h)", "Ok"))
	case 1:
		b.WriteString(" | summarize sum(Count), avg(Score), percentile(Count, 50), max(" + g.numExpr(0) + ")")
	case 2:
		b.WriteString(" | count")
	case 4:
		b.WriteString(" | summarize Rate = 1.0 * countif(Ok) / count(), sum(Count) - min(" + g.numExpr(0) + ") by " + g.pick("Computer", "tolower(Account)"))
	case 3:
		b.WriteString(" | summarize (Latest, Who) = arg_max(TimeGenerated, Account), Top = arg_min(Count, *) by tostring(" + g.pick("Computer", "Ok", "Count") + ")")
	}
	return b.String()
}

// FuzzEvaluate runs random well-typed queries: they must compile, and running them must not
// panic (run-time errors such as limits are allowed, wrong types are not).
func FuzzEvaluate(f *testing.F) {
	for _, s := range []string{"", "\x01\x02\x03", "\x05\x00\x03\x02\x01\x04", "\xff\xfe\xfd\xfc\xfb\xfa\xf9"} {
		f.Add([]byte(s))
	}
	src := fixtureSource(f)
	cat := src.Catalog()
	f.Fuzz(func(t *testing.T, b []byte) {
		g := &queryGen{b: b}
		q := g.query()
		cq, err := Compile(q, cat)
		if err != nil {
			t.Fatalf("generated query does not compile: %s: %v", q, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := cq.Run(ctx, src, Options{Now: fixtureNow, MaxRows: 10000}); err != nil {
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("%s: %v", q, err)
			}
		}
	})
}
