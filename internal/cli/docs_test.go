package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestManPagesAreWrittenForEveryCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	out := runCLI(t, t.TempDir(), "docs", "man", "--dir", dir)
	if out.code != 0 {
		t.Fatalf("exit %d: %s", out.code, out.stderr)
	}
	pages, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil || len(pages) < 50 {
		t.Fatalf("%d man pages written (%v)", len(pages), err)
	}
	if want := "Wrote " + count(len(pages), "man page") + " to " + dir; !strings.Contains(out.stdout, want) {
		t.Errorf("docs man says %q", out.stdout)
	}
	tests := []struct {
		page string
		want []string
	}{
		{"sealwatch.1", []string{`.TH "SEALWATCH" "1"`, "Sealwatch Manual", "self-hosted security workspace"}},
		{"sealwatch-login.1", []string{"sealwatch login --credentials FILE [--profile NAME]", "SEALWATCH_PROFILE"}},
		{"sealwatch-query.1", []string{"--max-rows"}},
		{"sealwatch-cluster-wait.1", []string{"--timeout"}},
		{"sealwatch-completion-bash.1", []string{"bash"}},
	}
	for _, tt := range tests {
		t.Run(tt.page, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, tt.page))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %q", tt.page, w)
				}
			}
			if strings.Contains(string(b), "Auto generated") {
				t.Errorf("%s carries a generation date, so builds differ", tt.page)
			}
		})
	}
	if r := runCLI(t, t.TempDir(), "docs", "man"); r.code != exitUsage {
		t.Errorf("docs man without --dir: exit %d, want %d", r.code, exitUsage)
	}
}

func TestShellCompletionScriptsAndCandidates(t *testing.T) {
	for shell, want := range map[string]string{
		"bash": "__start_sealwatch", "zsh": "#compdef sealwatch", "fish": "complete -c sealwatch", "powershell": "Register-ArgumentCompleter",
	} {
		t.Run(shell, func(t *testing.T) {
			r := runCLI(t, t.TempDir(), "completion", shell)
			if r.code != 0 || !strings.Contains(r.stdout, want) {
				t.Errorf("completion %s: exit %d, no %q in:\n%.300s", shell, r.code, want, r.stdout)
			}
		})
	}
	// What the scripts ask the binary for as a word is typed.
	r := runCLI(t, t.TempDir(), "__complete", "clu")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "cluster\t") {
		t.Errorf("candidates for \"clu\": exit %d\n%s", r.code, r.stdout)
	}
	r = runCLI(t, t.TempDir(), "__complete", "cluster", "wait", "--key-")
	if !strings.Contains(r.stdout, "--key-state") {
		t.Errorf("candidates for \"cluster wait --key-\":\n%s", r.stdout)
	}
	// A flag that takes a few values completes to them.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster", "wait", "--key-state", ""}, "Accessible\nRevoked\nUnreachable\nLocked\n"},
		{[]string{"role", "assign", "--role", ""}, "Ingestor\nReader\nResponder\nContributor\n"},
		{[]string{"keyvault", "key", "create", "--kty", ""}, "RSA\noct\n"},
		{[]string{"query", "-o", ""}, "table\njson\n"},
	} {
		r := runCLI(t, t.TempDir(), append([]string{"__complete"}, tc.args...)...)
		if !strings.HasPrefix(r.stdout, tc.want) || !strings.Contains(r.stdout, ":4\n") {
			t.Errorf("candidates for %q: %q, want %q and no file names (:4)", strings.Join(tc.args, " "), r.stdout, tc.want)
		}
	}
}
