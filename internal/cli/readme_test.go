package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/freeport"
	"github.com/sealwatch/sealwatch/internal/logtest"
)

// readmeStep is one `$ sealwatch ...` line of the README's console blocks,
// with whether the README shows it failing (its output starts with "error:"),
// or a `^C` line: the key owner stopping the vault they started last.
type readmeStep struct {
	line     int
	args     []string
	stop     bool
	wantFail bool
	output   []string // the lines the README shows after the command
}

func readmeSteps(t *testing.T) []readmeStep {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []readmeStep
	inConsole := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```console"):
			inConsole = true
		case strings.HasPrefix(line, "```"):
			inConsole = false
		case inConsole && strings.HasPrefix(line, "$ sealwatch "):
			args, err := splitArgs(strings.TrimPrefix(line, "$ sealwatch "))
			if err != nil {
				t.Fatalf("README.md:%d: %v", n, err)
			}
			steps = append(steps, readmeStep{line: n, args: args})
		case inConsole && line == "^C":
			steps = append(steps, readmeStep{line: n, stop: true})
		case inConsole && strings.HasPrefix(line, "error:") && len(steps) > 0:
			steps[len(steps)-1].wantFail = true
		case inConsole && len(steps) > 0 && !strings.HasPrefix(line, "$ "):
			steps[len(steps)-1].output = append(steps[len(steps)-1].output, line)
		}
	}
	return steps
}

// splitArgs splits a command line as a shell would for the README's simple
// commands: words, and single- or double-quoted strings.
func splitArgs(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	quote, inWord := rune(0), false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errString("unclosed quote")
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// TestReadmeWalkthroughRunsAsWritten runs every `$ sealwatch` command of the
// README, in order, in a scratch directory laid out as the repository's root,
// so that the README cannot rot: a command that the README shows succeeding
// must succeed, and one it shows failing must fail. `up` and `vault serve`
// run in the background as they would in their own terminals; `up` stops
// the node that runs first, as the README asks, and `^C` stops the vault.
// Only the ports and the key-check timings differ from the README's.
func TestReadmeWalkthroughRunsAsWritten(t *testing.T) {
	steps := readmeSteps(t)
	if len(steps) < 20 {
		t.Fatalf("found only %d commands in README.md", len(steps))
	}
	examples, err := filepath.Abs(filepath.Join("..", "..", "docs", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(examples, filepath.Join(dir, "docs", "examples")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	configDir := filepath.Join(dir, "config")
	nodePort, vaultPort := freePort(t), freePort(t)
	ports := strings.NewReplacer(":8443", ":"+nodePort, ":9443", ":"+vaultPort)
	// A 1-second key check, so that waiting for a key change takes a second,
	// and a grace long enough to show work going on while the vault is away.
	nodeFlags := []string{"--addr", "127.0.0.1:" + nodePort, "--key-check-interval", "1s", "--key-unreachable-grace", "10s"}

	var node, vault *background
	// The README's first command, `go run ./cmd/sealwatch up`, in its own terminal.
	node = startBackground(t, configDir, append([]string{"up"}, nodeFlags...))
	for _, st := range steps {
		if st.stop {
			if vault == nil {
				t.Fatalf("README.md:%d: ^C with no vault running", st.line)
			}
			vault.stop()
			vault = nil
			continue
		}
		args := make([]string, len(st.args))
		for i, a := range st.args {
			args[i] = ports.Replace(a)
		}
		switch {
		case args[0] == "up":
			node.stop()
			node = startBackground(t, configDir, append(args, nodeFlags...))
			continue
		case args[0] == "vault" && len(args) > 1 && args[1] == "serve":
			if vault != nil {
				t.Fatalf("README.md:%d: a second vault serve while one runs", st.line)
			}
			vault = startBackground(t, configDir, append(args, "--addr", "127.0.0.1:"+vaultPort))
			continue
		}
		res := runCLI(t, configDir, args...)
		if failed := res.code != 0; failed != st.wantFail {
			t.Fatalf("README.md:%d: sealwatch %s\nexit %d (README shows it %s)\nstdout:\n%s\nstderr:\n%s",
				st.line, strings.Join(st.args, " "), res.code, map[bool]string{true: "failing", false: "succeeding"}[st.wantFail], res.stdout, res.stderr)
		}
		if st.wantFail {
			// The README shows the error's code; it must be the one given.
			want := strings.Join(st.output, "\n")
			if code := errorCodeIn(want); code != "" && !strings.Contains(res.stderr, code) {
				t.Fatalf("README.md:%d: sealwatch %s failed with\n%s\nbut the README shows %s", st.line, strings.Join(st.args, " "), res.stderr, code)
			}
		}
		// Query results are deterministic: they must read exactly as shown.
		if args[0] == "query" && !st.wantFail {
			want := strings.TrimSpace(strings.Join(st.output, "\n"))
			if got := strings.TrimSpace(res.stdout); got != want {
				t.Fatalf("README.md:%d: sealwatch %s printed\n%s\nbut the README shows\n%s", st.line, strings.Join(st.args, " "), got, want)
			}
		}
	}
}

// errorCodeIn finds the API error code an "error: ... Code (HTTP nnn)" line names.
func errorCodeIn(s string) string {
	before, _, ok := strings.Cut(s, " (HTTP ")
	if !ok {
		return ""
	}
	fields := strings.Fields(before)
	return fields[len(fields)-1]
}

// background is a long-running command (up, vault serve) run in-process.
type background struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan int
	out    *logtest.Buffer
}

// startBackground runs args until stopped and returns once the command says
// it is running; the test fails if the command ends first.
func startBackground(t *testing.T, configDir string, args []string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{t: t, cancel: cancel, done: make(chan int, 1), out: &logtest.Buffer{}}
	pr, pw := io.Pipe()
	go func() {
		b.done <- Run(ctx, args, testEnv(configDir, pw, b.out))
		pw.Close()
	}()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(b.out, sc.Text())
			if strings.HasSuffix(sc.Text(), " is running.") { // serve prints it once the node is open
				close(ready)
				break
			}
		}
		io.Copy(b.out, pr)
	}()
	t.Cleanup(b.stop)
	select {
	case <-ready:
		return b
	case code := <-b.done:
		b.done <- code
		t.Fatalf("sealwatch %s ended with exit %d before serving:\n%s", strings.Join(args, " "), code, b.out.String())
	case <-time.After(time.Minute):
		t.Fatalf("sealwatch %s is not running after a minute:\n%s", strings.Join(args, " "), b.out.String())
	}
	return nil
}

// stop interrupts the command, as Ctrl-C does, and waits for a clean exit.
func (b *background) stop() {
	if b.cancel == nil {
		return
	}
	b.cancel()
	b.cancel = nil
	if code := <-b.done; code != 0 {
		b.t.Errorf("a background sealwatch exited %d:\n%s", code, b.out.String())
	}
}

// freePort is a port nothing listens on now, below the kernel's ephemeral
// range so that no client socket takes it before the node binds it.
func freePort(t *testing.T) string {
	t.Helper()
	port, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(port)
}
