package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// docsCommand writes the command's reference from its own help: man pages
// that packaging installs (`go generate ./cmd/sealwatch` runs it), so that
// they can never say something the command does not.
func (a *app) docsCommand() *cobra.Command {
	var dir string
	man := &cobra.Command{
		Use:   "man --dir DIR",
		Short: "Write a man page for each command into DIR (section 1)",
		Long: "man writes sealwatch.1 and one page for each command (sealwatch-login.1,\n" +
			"sealwatch-cluster-wait.1, ...) into DIR, creating it, from the same text as --help. Install\n" +
			"them under a man1 directory of your MANPATH, such as /usr/local/share/man/man1.\n" +
			"The date on the pages is SOURCE_DATE_EPOCH's when set, for reproducible builds.",
		Args: cobra.NoArgs,
		RunE: a.action(func(_ context.Context, cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usagef("man needs --dir DIR, the directory to write the pages into")
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("create the man page directory: %w", err)
			}
			n, err := writeManPages(cmd.Root(), dir, a.version().Version)
			if err != nil {
				return err
			}
			if a.output == outputTable {
				fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s to %s.\n", count(n, "man page"), dir)
			}
			return nil
		}),
	}
	man.Flags().StringVar(&dir, "dir", "", "directory to write the pages into")
	return a.group("docs", "Write the command's reference as man pages", man)
}

// writeManPages writes a page for root and each command below it into dir
// and returns how many it wrote.
func writeManPages(root *cobra.Command, dir, version string) (int, error) {
	// The completion command is added when the command line runs; pages
	// written before that (from go generate) must have it too.
	root.InitDefaultCompletionCmd()
	root.DisableAutoGenTag = true // no generation date in the text: the pages are reproducible
	header := &doc.GenManHeader{Title: "SEALWATCH", Section: "1", Source: "Sealwatch " + version, Manual: "Sealwatch Manual"}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return 0, fmt.Errorf("write the man pages: %w", err)
	}
	n := 0
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c != root {
			return
		}
		n++
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return n, nil
}
