package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAutomationRulesAreCreatedListedShownUpdatedAndDeleted(t *testing.T) {
	n := incidentWorkspace(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const secret = "cli-webhook-secret-0123456789"
	triage := write("triage.json", `{"properties":{"displayName":"Triage brute force","order":10,
		"triggeringLogic":{"isEnabled":true,"triggersOn":"Incidents","triggersWhen":"Created",
			"conditions":[{"conditionType":"Property","conditionProperties":{"propertyName":"IncidentTitle","operator":"Contains","propertyValues":["brute"]}}]},
		"actions":[{"order":1,"actionType":"ModifyProperties","actionConfiguration":{"severity":"High"}},
			{"order":2,"actionType":"Webhook","actionConfiguration":{"url":"https://hooks.example.com/sealwatch","secret":"`+secret+`"}}]}}`)
	// The properties alone are accepted too.
	tasks := write("tasks.json", `{"displayName":"Add a task","order":5,
		"triggeringLogic":{"isEnabled":false,"triggersOn":"Incidents","triggersWhen":"Created"},
		"actions":[{"order":1,"actionType":"AddIncidentTask","actionConfiguration":{"title":"Reset the password"}}]}`)

	out := n.must("automation", "create", "triage", "-w", "secops", "--file", triage)
	for _, want := range []string{"triage", "Triage brute force", "Incidents Created", "ModifyProperties, Webhook", "etag:"} {
		if !strings.Contains(out, want) {
			t.Errorf("automation create does not show %q:\n%s", want, out)
		}
	}
	n.must("automation", "create", "tasks", "-w", "secops", "-f", tasks)
	if r := n.run("automation", "create", "triage", "-w", "secops", "--file", triage); r.code != exitError || !strings.Contains(r.stderr, "already has an automation rule triage") {
		t.Errorf("create over an existing rule: exit %d\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(n.must("automation", "list", "-w", "secops")), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ORDER") || !strings.Contains(lines[1], "tasks") || !strings.Contains(lines[1], "no") || !strings.Contains(lines[2], "triage") {
		t.Errorf("automation list, in the order rules run:\n%s", strings.Join(lines, "\n"))
	}
	shown := n.must("automation", "show", "triage", "-w", "secops", "-o", "json")
	if !strings.Contains(shown, "hooks.example.com") || strings.Contains(shown, secret) {
		t.Errorf("automation show -o json:\n%s", shown)
	}

	bad := write("bad.json", `{"displayName":"x","order":0,"triggeringLogic":{"isEnabled":true,"triggersOn":"Incidents","triggersWhen":"Created"},"actions":[]}`)
	if r := n.run("automation", "update", "triage", "-w", "secops", "--file", bad); r.code != exitError || !strings.Contains(r.stderr, "properties.order") {
		t.Errorf("a bad rule: exit %d\n%s", r.code, r.stderr)
	}
	if r := n.run("automation", "update", "nosuch", "-w", "secops", "--file", tasks); r.code != exitError || !strings.Contains(r.stderr, "has no automation rule nosuch") {
		t.Errorf("update of a missing rule: exit %d\n%s", r.code, r.stderr)
	}
	out = n.must("automation", "update", "tasks", "-w", "secops", "--file", tasks)
	if !strings.Contains(out, "Add a task") {
		t.Errorf("automation update:\n%s", out)
	}

	// The rule runs: a new brute-force incident is raised to High.
	inc := decode[incidentResource](t, n.must("incident", "create", "-w", "secops", "--title", "brute force on web01", "--severity", "Low", "-o", "json"))
	if inc.Properties.Severity != "High" {
		t.Errorf("the rule did not run on the new incident: %+v", inc.Properties)
	}

	n.must("automation", "delete", "triage", "-w", "secops")
	if r := n.run("automation", "show", "triage", "-w", "secops"); r.code != exitError || !strings.Contains(r.stderr, "was not found") {
		t.Errorf("show a deleted rule: exit %d\n%s", r.code, r.stderr)
	}
}
