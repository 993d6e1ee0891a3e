// Package cli is the sealwatch command: it runs a node (`up`) and manages
// principals, vaults, keys, clusters, workspaces and onboarding through the
// node's HTTP API, with verbs modelled on the familiar cloud CLI.
package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // the command line was wrong; nothing was done
)

// Env is what a run of the command may touch of the outside world, so that
// tests can run it in-process without sharing the real environment.
type Env struct {
	Stdout, Stderr io.Writer
	// Stdin is standard input; default os.Stdin.
	Stdin io.Reader
	// Getenv reads an environment variable; default os.Getenv.
	Getenv func(string) string
	// UserConfigDir is where credentials are stored without
	// SEALWATCH_CONFIG_DIR; default os.UserConfigDir.
	UserConfigDir func() (string, error)
	// Now is the clock for relative times such as --since 1h; default time.Now.
	Now func() time.Time
	// BuildInfo reads the binary's build information for `version`;
	// default debug.ReadBuildInfo.
	BuildInfo func() (*debug.BuildInfo, bool)
	// IsTerminal reports whether a writer is a terminal, on which long work
	// draws a progress bar; default: an *os.File that is a terminal.
	IsTerminal func(io.Writer) bool
}

// Main runs the command line args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Run(ctx, args, Env{Stdout: stdout, Stderr: stderr})
}

// Run is Main with every outside dependency given.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.UserConfigDir == nil {
		env.UserConfigDir = os.UserConfigDir
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.IsTerminal == nil {
		env.IsTerminal = isTerminal
	}
	if env.BuildInfo == nil {
		env.BuildInfo = debug.ReadBuildInfo
	}
	a := &app{env: env}
	root := a.rootCommand()
	root.SetArgs(expandListFlags(args))
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	if env.Stdin != nil {
		root.SetIn(env.Stdin)
	}
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	return a.report(cmd, err)
}

// app is one run of the command: its environment and global flags.
type app struct {
	env Env

	endpoint        string // --endpoint
	output          string // --output
	credentialsPath string // --credentials
	profileFlag     string // --profile

	// started is set when a command's own code begins; an error before that
	// came from parsing the command line, and is a usage error.
	started bool
}

// usageError is a command line that cannot be run as given.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errNotLoggedIn is returned when no credentials are stored or given.
var errNotLoggedIn = errors.New("not logged in")

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "sealwatch",
		Short: "A self-hosted security workspace whose data is sealed under keys you hold",
		Long: "Sealwatch is a self-hosted security workspace in which every byte at rest is sealed\n" +
			"under a customer-managed key held in a key vault of your own.\n\n" +
			"Start a node with `sealwatch up`, then `sealwatch login --credentials DIR/admin.json`.",
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE:          a.groupRunE,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("profile") && a.profileFlag == "" {
				return fmt.Errorf("--profile needs a NAME; leave it out to use $%s, else %q", profileEnv, defaultProfile)
			}
			switch a.output {
			case outputTable, outputJSON:
				return nil
			}
			return fmt.Errorf("--output must be json or table, not %q", a.output)
		},
	}
	root.Version = a.version().short()
	root.SetVersionTemplate("sealwatch {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&a.endpoint, "endpoint", "", "node URL, overriding the one in the credentials (such as https://127.0.0.1:8443)")
	pf.StringVarP(&a.output, "output", "o", outputTable, "output format: json or table")
	pf.StringVar(&a.credentialsPath, "credentials", "", "credentials file to use instead of the stored one")
	pf.StringVar(&a.profileFlag, "profile", "", "`NAME` of the stored login to use (see sealwatch login); default $"+profileEnv+", else \"default\"")
	_ = root.RegisterFlagCompletionFunc("profile", a.completeProfiles)
	completeValues(root, "output", outputTable, outputJSON)
	root.AddCommand(a.upCommand(), a.serveCommand(), a.vaultCommand(), a.loginCommand(), a.identityCommand(), a.keyvaultCommand(),
		a.clusterCommand(), a.workspaceCommand(), a.sentinelCommand(),
		a.dcrCommand(), a.roleCommand(), a.ingestCommand(), a.queryCommand(), a.incidentCommand(), a.verifyCommand(),
		a.ruleCommand(), a.watchlistCommand(), a.functionCommand(), a.tableCommand())
	root.AddCommand(a.automationCommand(), a.versionCommand(), a.whoamiCommand(), a.docsCommand(), a.pkcs11Command(),
		a.operatorCommand())
	return root
}

// group makes a command that only holds subcommands.
func (a *app) group(use, short string, children ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: cobra.ArbitraryArgs, RunE: a.groupRunE}
	c.AddCommand(children...)
	return c
}

// groupRunE shows help for a bare group and refuses an unknown subcommand,
// which cobra would otherwise accept silently below the root.
func (a *app) groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default, which it sets only on its own path
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{errors.New(msg)}
}

// action wraps a command's code: it marks the command as started (see
// app.started) and hands it the command's context.
func (a *app) action(fn func(ctx context.Context, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.started = true
		return fn(cmd.Context(), cmd, args)
	}
}

// report prints err for a person and picks the exit code.
func (a *app) report(cmd *cobra.Command, err error) int {
	w := a.env.Stderr
	var ue usageError
	if !a.started || errors.As(err, &ue) {
		fmt.Fprintf(w, "error: %v\n", err)
		if cmd != nil {
			fmt.Fprintf(w, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return exitUsage
	}
	fmt.Fprintf(w, "error: %v\n", err)
	if hint := hintFor(err); hint != "" {
		fmt.Fprintf(w, "hint: %s\n", hint)
	}
	return exitError
}

// hintFor names the usual fix for an error a person can do something about.
func hintFor(err error) string {
	var apiErr *client.APIError
	var unknownCA x509.UnknownAuthorityError
	var noLogin *notLoggedInError
	switch {
	case errors.As(err, &noLogin):
		return noLogin.loginHint()
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized,
		errors.As(err, &apiErr) && apiErr.Code == "invalid_client":
		return "the node does not accept these credentials (deleted principal, reset secret, or a new data directory): run `sealwatch login --credentials DIR/admin.json` again"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing answers at the node's address: is `sealwatch up` running, and is --endpoint right?"
	case errors.As(err, &unknownCA):
		return "the node's certificate is not signed by the CA in the credentials (was the data directory recreated?): run `sealwatch login` again"
	case errors.As(err, &apiErr) && isUnservedOperation(apiErr):
		return "the node at this endpoint does not serve this command: `sealwatch vault serve` serves only key vaults, " +
			"`sealwatch serve` only workspaces. `sealwatch whoami` shows the login in use; --profile NAME picks another"
	}
	var waitErr *waitTimeoutError
	if errors.As(err, &waitErr) {
		return waitErr.hint
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("the host name %s does not resolve from this machine: check --endpoint; if it is a vault host "+
			"({vault}.{suffix}) of another node, give it a DNS record or a hosts entry (`sealwatch keyvault hosts | sudo tee -a /etc/hosts`, logged in to that node, adds them)", dnsErr.Name)
	}
	return ""
}

// completeValues has shell completion offer values for cmd's flag, the
// only ones it takes.
func completeValues(cmd *cobra.Command, flag string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// isUnservedOperation reports whether the node answered that it has no
// such operation at all (the API's answer to a path no route serves), as a
// vault-only node answers a workspace command: the command was sent to the
// wrong kind of node, typically under the wrong login profile.
func isUnservedOperation(e *client.APIError) bool {
	return e.Status == http.StatusNotFound && e.Code == "NotFound" && strings.Contains(e.Message, "is not an operation of this API")
}

// listFlags take several values separated by spaces, as the cloud CLI's do
// (--key-permissions get wrapKey unwrapKey). pflag gives a flag one value, so
// Run rewrites "--ops a b" into "--ops a --ops b" before parsing. Commands with
// these flags take no positional arguments, so nothing else can be swallowed.
var listFlags = map[string]bool{"--ops": true, "--key-permissions": true, "--tags": true}

func expandListFlags(args []string) []string {
	out := make([]string, 0, len(args))
	current := "" // the list flag whose values are being read
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			return append(out, args[i:]...)
		case strings.HasPrefix(arg, "-") && len(arg) > 1:
			name, _, hasValue := strings.Cut(arg, "=")
			current = ""
			if !listFlags[name] {
				out = append(out, arg)
				continue
			}
			current = name
			if !hasValue && i+1 < len(args) {
				// The next token is this flag's first value, whatever it looks like.
				i++
				arg = name + "=" + args[i]
			}
			out = append(out, arg)
		case current != "":
			out = append(out, current+"="+arg)
		default:
			out = append(out, arg)
		}
	}
	return out
}
