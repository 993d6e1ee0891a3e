package cli

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sealwatch/sealwatch/internal/node"
	"github.com/sealwatch/sealwatch/internal/nodeseal"
)

// runWith runs the command tree with stdin and the environment variables in vars.
func runWith(t *testing.T, stdin string, vars map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := testEnv(t.TempDir(), &stdout, &stderr)
	env.Stdin = strings.NewReader(stdin)
	base := env.Getenv
	env.Getenv = func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return base(k)
	}
	code := Run(context.Background(), args, env)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// openNode opens and closes a node on dir with root, reporting how it failed.
func openNode(dir string, root nodeseal.Root) error {
	n, err := node.Open(context.Background(), node.Config{DataDir: dir, Addr: "127.0.0.1:0", Root: root})
	if err != nil {
		return err
	}
	return n.Close()
}

// TestOperatorRekeyMovesTheNodeToAnotherRoot rekeys a node from the
// development default to a passphrase read from standard input, then to a
// second passphrase with the first from the environment; each time only the
// new root opens the node. A command line missing a secret, or a running
// node, is refused saying what to do.
func TestOperatorRekeyMovesTheNodeToAnotherRoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := openNode(dir, nil); err != nil {
		t.Fatal(err)
	}

	res := runWith(t, "first passphrase\n", nil, "operator", "rekey", "--data", dir, "--new-root-of-trust", "passphrase", "--new-root-passphrase-fd", "0")
	if res.code != 0 || !strings.Contains(res.stdout, "--root-of-trust passphrase") {
		t.Fatalf("rekey to a passphrase: %d %s %s", res.code, res.stdout, res.stderr)
	}
	if err := openNode(dir, nodeseal.File("")); !errors.Is(err, nodeseal.ErrWrongRoot) {
		t.Fatalf("the development root after the rekey: %v", err)
	}
	if err := openNode(dir, nodeseal.Passphrase([]byte("first passphrase"))); err != nil {
		t.Fatalf("the new passphrase: %v", err)
	}

	res = runWith(t, "", map[string]string{"SEALWATCH_ROOT_PASSPHRASE": "first passphrase", "SEALWATCH_NEW_ROOT_PASSPHRASE": "second passphrase"},
		"operator", "rekey", "--data", dir, "--root-of-trust", "passphrase", "--new-root-of-trust", "passphrase")
	if res.code != 0 {
		t.Fatalf("rekey to another passphrase: %d %s", res.code, res.stderr)
	}
	if err := openNode(dir, nodeseal.Passphrase([]byte("second passphrase"))); err != nil {
		t.Fatalf("the second passphrase: %v", err)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no new passphrase", []string{"--root-of-trust", "passphrase", "--new-root-of-trust", "passphrase"}, "SEALWATCH_NEW_ROOT_PASSPHRASE"},
		{"an unknown source", []string{"--new-root-of-trust", "vault"}, "must be file, passphrase, pkcs11, aws-kms or keyvault"},
		{"aws-kms without its key", []string{"--new-root-of-trust", "aws-kms"}, "--new-root-aws-kms-key"},
		{"pkcs11 without its module", []string{"--new-root-of-trust", "pkcs11"}, "--new-root-pkcs11-module"},
		{"not a data directory", []string{"--data", t.TempDir(), "--new-root-of-trust", "file"}, "not a node's data directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"operator", "rekey", "--data", dir}, tc.args...)
			res := runWith(t, "", map[string]string{"SEALWATCH_ROOT_PASSPHRASE": "second passphrase"}, args...)
			if res.code != 2 || !strings.Contains(res.stderr, tc.want) {
				t.Fatalf("%d %s; want a usage error naming %q", res.code, res.stderr, tc.want)
			}
		})
	}

	t.Run("a running node", func(t *testing.T) {
		n, err := node.Open(context.Background(), node.Config{DataDir: dir, Addr: "127.0.0.1:0", Root: nodeseal.Passphrase([]byte("second passphrase"))})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		res := runWith(t, "", map[string]string{"SEALWATCH_ROOT_PASSPHRASE": "second passphrase"},
			"operator", "rekey", "--data", dir, "--root-of-trust", "passphrase", "--new-root-of-trust", "file")
		if res.code != 2 || !strings.Contains(res.stderr, "stop it first") {
			t.Fatalf("%d %s", res.code, res.stderr)
		}
	})
}

// TestUpTakesItsPassphraseFromTheEnvironmentNeverAFlag: up with
// --root-of-trust passphrase and no passphrase is refused naming where it
// goes; there is no flag for the passphrase itself.
func TestUpTakesItsPassphraseFromTheEnvironmentNeverAFlag(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	res := runWith(t, "", nil, "up", "--data", dir, "--addr", "127.0.0.1:0", "--root-of-trust", "passphrase")
	if res.code != 2 || !strings.Contains(res.stderr, "SEALWATCH_ROOT_PASSPHRASE") || !strings.Contains(res.stderr, "--root-passphrase-fd") {
		t.Fatalf("%d %s", res.code, res.stderr)
	}
	res = runWith(t, "", nil, "up", "--data", dir, "--root-passphrase", "x")
	if res.code != 2 {
		t.Fatalf("a passphrase flag was accepted: %d %s", res.code, res.stderr)
	}
}
