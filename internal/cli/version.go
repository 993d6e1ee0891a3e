package cli

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// buildVersion is what the binary knows of its own build, from the module
// and version control information the Go toolchain stamps into it.
type buildVersion struct {
	Version   string `json:"version"`            // the module version, "(devel)" for a build from a checkout
	Revision  string `json:"revision,omitempty"` // the VCS commit
	Time      string `json:"time,omitempty"`     // the commit's time
	Modified  bool   `json:"modified"`           // the work tree had uncommitted changes
	GoVersion string `json:"goVersion"`          // the toolchain that built it
	Path      string `json:"path,omitempty"`     // the main package
	Platform  string `json:"platform,omitempty"` // GOOS/GOARCH
}

// versionOf reads a build's version from its build information; ok is
// false when the binary carries none (built without module support).
func versionOf(bi *debug.BuildInfo, ok bool) buildVersion {
	if !ok || bi == nil {
		return buildVersion{Version: "unknown"}
	}
	v := buildVersion{Version: bi.Main.Version, GoVersion: bi.GoVersion, Path: bi.Path}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		v.Platform = goos + "/" + goarch
	}
	return v
}

// short is the version on one line, as --version prints it:
// "v1.2.0 (commit 0123abcd4567, 2026-12-01T10:00:00Z, modified) go1.26.0".
func (v buildVersion) short() string {
	var parts []string
	if v.Revision != "" {
		parts = append(parts, "commit "+v.Revision[:min(12, len(v.Revision))])
	}
	if v.Time != "" {
		parts = append(parts, v.Time)
	}
	if v.Modified {
		parts = append(parts, "modified")
	}
	s := v.Version
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	if v.GoVersion != "" {
		s += " " + v.GoVersion
	}
	return s
}

// version is this binary's build version. Env.BuildInfo lets tests give one.
func (a *app) version() buildVersion {
	return versionOf(a.env.BuildInfo())
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the version, commit and Go toolchain this binary was built from",
		Long: "version prints the module version, the commit it was built from with its time and whether the\n" +
			"work tree had uncommitted changes, and the Go version, as the Go toolchain recorded them in\n" +
			"the binary. `sealwatch --version` prints the same on one line.",
		Args: cobra.NoArgs,
		RunE: a.action(func(_ context.Context, cmd *cobra.Command, _ []string) error {
			v := a.version()
			w := cmd.OutOrStdout()
			if a.output == outputJSON {
				return writeJSONOf(w, v)
			}
			line := func(k, val string) {
				if val != "" {
					fmt.Fprintf(w, "%-10s %s\n", k+":", val)
				}
			}
			line("version", v.Version)
			line("commit", v.Revision)
			line("time", v.Time)
			if v.Revision != "" {
				line("modified", yesNo(&v.Modified))
			}
			line("go", v.GoVersion)
			line("platform", v.Platform)
			return nil
		}),
	}
}
