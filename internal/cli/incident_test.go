package cli

import (
	"strings"
	"testing"
)

// incidentWorkspace is a node with workspace secops in rg1, onboarded to the
// security features without a customer-managed key.
func incidentWorkspace(t *testing.T) *testNode {
	t.Helper()
	return incidentWorkspaceOn(t, startNode(t))
}

// incidentWorkspaceOn logs in to n and makes an onboarded workspace secops.
func incidentWorkspaceOn(t *testing.T, n *testNode) *testNode {
	t.Helper()
	n.login()
	n.must("workspace", "create", "--name", "secops", "-g", "rg1")
	n.must("sentinel", "onboard", "--workspace", "secops")
	return n
}

func TestAnIncidentIsCreatedTriagedCommentedAndClosed(t *testing.T) {
	n := incidentWorkspace(t)
	out := n.must("incident", "create", "--workspace", "secops", "--title", "Brute force on web01", "--severity", "High",
		"--description", "40 failed sign-ins", "--id", "inc-1")
	for _, want := range []string{"inc-1", "Brute force on web01", "High", "New", "40 failed sign-ins", "etag:"} {
		if !strings.Contains(out, want) {
			t.Errorf("incident create does not show %q:\n%s", want, out)
		}
	}
	generated := decode[incidentResource](t, n.must("incident", "create", "-w", "secops", "--title", "Port scan", "--severity", "Low", "-o", "json"))
	if len(generated.Name) != 36 || generated.Properties.IncidentNumber != 2 {
		t.Errorf("an incident without --id: ID %q, number %d", generated.Name, generated.Properties.IncidentNumber)
	}
	if r := n.run("incident", "create", "-w", "secops", "--title", "again", "--severity", "Low", "--id", "inc-1"); r.code != exitError || !strings.Contains(r.stderr, "already has an incident inc-1") {
		t.Errorf("create over an existing incident: exit %d\n%s", r.code, r.stderr)
	}

	lines := strings.Split(strings.TrimSpace(n.must("incident", "list", "--workspace", "secops")), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NUMBER") || !strings.HasPrefix(lines[1], "2 ") || !strings.Contains(lines[2], "inc-1") {
		t.Errorf("incident list, newest first:\n%s", strings.Join(lines, "\n"))
	}
	if list := decode[[]incidentResource](t, n.must("incident", "list", "-w", "secops", "-g", "rg1", "-o", "json")); len(list) != 2 {
		t.Errorf("incident list json: %d incidents", len(list))
	}

	owner := "0b5e3a4c-1111-4d6e-9f00-2a1b3c4d5e6f"
	out = n.must("incident", "update", "-w", "secops", "--id", "inc-1", "--status", "Active", "--owner", owner, "--severity", "Medium")
	for _, want := range []string{"Active", "Medium", owner, "40 failed sign-ins"} {
		if !strings.Contains(out, want) {
			t.Errorf("incident update does not show %q:\n%s", want, out)
		}
	}
	comment := n.must("incident", "comment", "-w", "secops", "--id", "inc-1", "--message", "blocked the source address")
	if !strings.Contains(comment, "blocked the source address") {
		t.Errorf("incident comment:\n%s", comment)
	}
	out = n.must("incident", "show", "-w", "secops", "--id", "inc-1")
	if !strings.Contains(out, "Comments:") || !strings.Contains(out, "blocked the source address") {
		t.Errorf("incident show does not list the comment:\n%s", out)
	}

	if r := n.run("incident", "update", "-w", "secops", "--id", "inc-1", "--status", "Closed", "--classification", "TruePositive"); r.code != exitError || !strings.Contains(r.stderr, "needs classificationReason SuspiciousActivity") {
		t.Errorf("closing without the reason: exit %d\n%s", r.code, r.stderr)
	}
	out = n.must("incident", "update", "-w", "secops", "--id", "inc-1", "--status", "Closed", "--classification", "TruePositive", "--reason", "SuspiciousActivity")
	if !strings.Contains(out, "Closed") || !strings.Contains(out, "TruePositive (SuspiciousActivity)") {
		t.Errorf("closing:\n%s", out)
	}
	// Reopening clears the classification, which only a closed incident has.
	reopened := decode[incidentResource](t, n.must("incident", "update", "-w", "secops", "--id", "inc-1", "--status", "Active", "-o", "json"))
	if p := reopened.Properties; p.Status != "Active" || p.Classification != "" || p.ClassificationReason != "" || p.Owner.ObjectID != owner || p.IncidentNumber != 1 {
		t.Errorf("reopened: %+v", p)
	}
}

func TestAStaleIncidentUpdateIsRefusedWith412(t *testing.T) {
	n := incidentWorkspace(t)
	n.must("incident", "create", "-w", "secops", "--title", "Suspicious download", "--severity", "Medium", "--id", "inc-1")
	read := decode[incidentResource](t, n.must("incident", "show", "-w", "secops", "--id", "inc-1", "-o", "json"))
	if read.Etag == "" {
		t.Fatal("incident show gives no etag")
	}
	// Someone else changes it after we read it.
	n.must("incident", "update", "-w", "secops", "--id", "inc-1", "--severity", "High")

	r := n.run("incident", "update", "-w", "secops", "--id", "inc-1", "--status", "Active", "--etag", read.Etag)
	if r.code != exitError {
		t.Fatalf("a stale update: exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	for _, want := range []string{"update incident inc-1", "PreconditionFailed (HTTP 412)", "changed since you read it"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, r.stderr)
		}
	}
	now := decode[incidentResource](t, n.must("incident", "show", "-w", "secops", "--id", "inc-1", "-o", "json"))
	if now.Properties.Status != "New" || now.Properties.Severity != "High" {
		t.Errorf("the stale update changed the incident: %+v", now.Properties)
	}
	// With the current etag it goes through.
	n.must("incident", "update", "-w", "secops", "--id", "inc-1", "--status", "Active", "--etag", now.Etag)
}

func TestIncidentsNeedAnOnboardedWorkspace(t *testing.T) {
	n := startNode(t)
	n.login()
	n.must("workspace", "create", "--name", "plain", "-g", "rg1")
	r := n.run("incident", "create", "-w", "plain", "--title", "t", "--severity", "Low")
	if r.code != exitError || !strings.Contains(r.stderr, "WorkspaceNotOnboarded") || !strings.Contains(r.stderr, "sealwatch sentinel onboard") {
		t.Errorf("an incident in a workspace not onboarded: exit %d\n%s", r.code, r.stderr)
	}
}

func TestIncidentCommandLinesAreUsageErrors(t *testing.T) {
	config := t.TempDir() // no node: none of these may get as far as a request
	requireUsageErrors(t, config, []usageCase{
		{"create without a severity", []string{"incident", "create", "-w", "w", "--title", "t"}, `required flag(s) "severity" not set`},
		{"update with nothing to change", []string{"incident", "update", "-w", "w", "--id", "i"}, "nothing to change"},
		{"an etag alone changes nothing", []string{"incident", "update", "-w", "w", "--id", "i", "--etag", `"1"`}, "nothing to change"},
		{"a classification without closing", []string{"incident", "update", "-w", "w", "--id", "i", "--classification", "FalsePositive"}, "add --status Closed"},
		{"comment without a message", []string{"incident", "comment", "-w", "w", "--id", "i"}, `required flag(s) "message" not set`},
	})
}
