package cli

import (
	"bytes"
	"context"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionComesFromTheBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Path:      "github.com/sealwatch/sealwatch/cmd/sealwatch",
		Main:      debug.Module{Path: "github.com/sealwatch/sealwatch", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
			{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
		},
	}
	checkout := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/sealwatch/sealwatch"}}
	tests := []struct {
		name     string
		bi       *debug.BuildInfo
		ok       bool
		args     []string
		want     []string
		dontWant []string
	}{
		{"--version is one line with version, commit, time, modified flag and Go", stamped, true, []string{"--version"},
			[]string{"sealwatch v1.4.0 (commit 0123456789ab, 2026-12-01T10:00:00Z, modified) go1.26.8\n"}, nil},
		{"version lists each field", stamped, true, []string{"version"},
			[]string{"version:   v1.4.0\n", "commit:    0123456789abcdef0123456789abcdef01234567\n", "time:      2026-12-01T10:00:00Z\n",
				"modified:  yes\n", "go:        go1.26.8\n", "platform:  linux/amd64\n"}, nil},
		{"-o json version is the fields as JSON", stamped, true, []string{"-o", "json", "version"},
			[]string{`"version": "v1.4.0"`, `"revision": "0123456789abcdef0123456789abcdef01234567"`, `"modified": true`, `"goVersion": "go1.26.8"`}, nil},
		{"a build from a checkout without VCS stamping is (devel)", checkout, true, []string{"--version"},
			[]string{"sealwatch (devel) go1.26.8\n"}, []string{"commit", "modified"}},
		{"a binary without build information says unknown", nil, false, []string{"version"},
			[]string{"version:   unknown\n"}, []string{"commit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := testEnv(t.TempDir(), &stdout, &stderr)
			env.BuildInfo = func() (*debug.BuildInfo, bool) { return tt.bi, tt.ok }
			if code := Run(context.Background(), tt.args, env); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tt.dontWant {
				if strings.Contains(stdout.String(), w) {
					t.Errorf("output has %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}

func TestVersionReadsTheRealBuildInfoByDefault(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := testEnv(t.TempDir(), &stdout, &stderr)
	if code := Run(context.Background(), []string{"version"}, env); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("the test binary carries no build information")
	}
	if want := "go:        " + bi.GoVersion + "\n"; !strings.Contains(stdout.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, stdout.String())
	}
}
