package node

import (
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// The alerting rules and the dashboard shipped in docs/.
const (
	alertRulesFile = "../../docs/prometheus/alerts.yml"
	apiDocFile     = "../../docs/api.md"
	dashboardFile  = "../../docs/grafana/sealwatch.json"
)

// alertExprs parses the alerting rules as Prometheus does (rulefmt, which
// checks every expression, label and annotation template) and returns
// their expressions by alert name.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertRulesFile, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%s does not load in Prometheus: %v", alertRulesFile, errs)
	}
	out := map[string]string{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("%s: group %s has a rule that is not an alert", alertRulesFile, g.Name)
				continue
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: alert %s lacks a severity, a summary or a description", alertRulesFile, r.Alert)
			}
			out[r.Alert] = r.Expr
		}
	}
	return out
}

// dashboardExprs returns the dashboard's queries by panel title, with
// Grafana's variables put as Prometheus would see them.
func dashboardExprs(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string
		Panels []struct {
			Type, Title string
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardFile, err)
	}
	if dash.UID == "" {
		t.Errorf("%s has no uid: importing it twice would make two dashboards", dashboardFile)
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	out := map[string][]string{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
		}
		for _, tg := range p.Targets {
			out[p.Title] = append(out[p.Title], vars.Replace(tg.Expr))
		}
	}
	return out
}

// TestAlertRulesAndDashboardParse: every alerting rule loads as Prometheus
// loads a rules file, and every dashboard query is PromQL.
func TestAlertRulesAndDashboardParse(t *testing.T) {
	for _, want := range []string{"SealwatchKeyRevoked", "SealwatchKeyVaultUnreachable", "SealwatchKeyLocked",
		"SealwatchIngestionRefusals", "SealwatchIngestionRefusedForTheKey", "SealwatchDataDamaged"} {
		if _, ok := alertExprs(t)[want]; !ok {
			t.Errorf("%s has no alert %s", alertRulesFile, want)
		}
	}
	p := parser.NewParser(parser.Options{})
	for title, exprs := range dashboardExprs(t) {
		for _, e := range exprs {
			if _, err := p.ParseExpr(e); err != nil {
				t.Errorf("%s: panel %q: %s: %v", dashboardFile, title, e, err)
			}
		}
	}
}

// checkDocsUseExportedMetrics fails t for each metric the alerting rules or
// the dashboard read that fams, a scrape of /metrics, does not have: a
// renamed metric would leave a panel empty and an alert that never fires.
// And for each Sealwatch metric of fams that docs/api.md does not list.
func checkDocsUseExportedMetrics(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	check := func(where, expr string) {
		e, err := p.ParseExpr(expr)
		if err != nil {
			t.Errorf("%s: %s: %v", where, expr, err)
			return
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			if !exported(fams, vs.Name) {
				t.Errorf("%s reads %s, which /metrics does not export", where, vs.Name)
			}
			return nil
		})
	}
	for alert, expr := range alertExprs(t) {
		check(alertRulesFile+": "+alert, expr)
	}
	for title, exprs := range dashboardExprs(t) {
		for _, expr := range exprs {
			check(dashboardFile+": "+title, expr)
		}
	}
	doc, err := os.ReadFile(apiDocFile)
	if err != nil {
		t.Fatal(err)
	}
	for name := range fams {
		if strings.HasPrefix(name, "sealwatch_") && !strings.Contains(string(doc), "`"+name) {
			t.Errorf("%s does not describe %s, which /metrics exports", apiDocFile, name)
		}
	}
}

// exported reports whether name is a family of fams or a histogram's
// series (_bucket, _sum, _count) of one.
func exported(fams map[string]*dto.MetricFamily, name string) bool {
	if fams[name] != nil {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && fams[base] != nil &&
			slices.Contains([]dto.MetricType{dto.MetricType_HISTOGRAM, dto.MetricType_SUMMARY}, fams[base].GetType()) {
			return true
		}
	}
	return false
}
