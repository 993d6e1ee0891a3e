package cli

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/keyring/pkcs11kek"
)

// pkcs11PINEnv holds a token's user PIN for the commands that need it.
const pkcs11PINEnv = "SEALWATCH_PKCS11_PIN"

// pkcs11Flags name a key on a PKCS#11 token: the flags of `pkcs11 key …`
// and of `cluster update --key-source pkcs11`.
type pkcs11Flags struct {
	module, token, label string
	pinStdin             bool
}

func (p *pkcs11Flags) register(cmd *cobra.Command, prefix string) {
	f := cmd.Flags()
	f.StringVar(&p.module, prefix+"module", "", "the PKCS#11 library, an absolute path such as /usr/lib/softhsm/libsofthsm2.so")
	f.StringVar(&p.token, prefix+"token", "", "the token's label")
	f.StringVar(&p.label, prefix+"key-label", "", "the key objects' label (CKA_LABEL)")
	f.BoolVar(&p.pinStdin, prefix+"pin-stdin", false, "read the token's user PIN from standard input instead of "+pkcs11PINEnv)
}

func (p *pkcs11Flags) set() bool {
	return p.module != "" || p.token != "" || p.label != "" || p.pinStdin
}

// missing names the flags a key needs that were not given.
func (p *pkcs11Flags) missing(prefix string) error {
	switch {
	case p.module == "":
		return usagef("--%smodule is required: the PKCS#11 library on the node, such as /usr/lib/softhsm/libsofthsm2.so", prefix)
	case !filepath.IsAbs(p.module):
		return usagef("--%smodule must be an absolute path, such as /usr/lib/softhsm/libsofthsm2.so, not %q", prefix, p.module)
	case p.token == "":
		return usagef("--%stoken is required: the token's label, as `softhsm2-util --show-slots` or `pkcs11-tool -L` lists it", prefix)
	case p.label == "":
		return usagef("--%skey-label is required: the label (CKA_LABEL) of the key's objects on the token", prefix)
	}
	return nil
}

// pin reads the token's user PIN from standard input when asked, else from
// SEALWATCH_PKCS11_PIN; "" when neither has one. A PIN never comes from a
// flag: command lines are seen by every user of the machine and kept in
// shell histories.
func (a *app) pin(cmd *cobra.Command, p *pkcs11Flags, prefix string) (string, error) {
	if !p.pinStdin {
		return a.env.Getenv(pkcs11PINEnv), nil
	}
	line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the token's PIN from standard input: %w", err)
	}
	pin := strings.TrimRight(line, "\r\n")
	if pin == "" {
		return "", usagef("--%spin-stdin read no PIN from standard input", prefix)
	}
	return pin, nil
}

func (a *app) pkcs11Command() *cobra.Command {
	return a.group("pkcs11", "Make and retire the versions of a key on a PKCS#11 token (an HSM), on this machine",
		a.group("key", "Versions of a key on a PKCS#11 token", a.pkcs11KeyCreateCommand(), a.pkcs11KeyListCommand(), a.pkcs11KeyDisableCommand()))
}

// openPKCS11 is the driver over the flags' key, with the PIN read.
func (a *app) openPKCS11(cmd *cobra.Command, p *pkcs11Flags) (*pkcs11kek.KEK, error) {
	if err := p.missing(""); err != nil {
		return nil, err
	}
	pin, err := a.pin(cmd, p, "")
	if err != nil {
		return nil, err
	}
	if pin == "" {
		return nil, usagef("the token's user PIN is needed: set %s, or pipe it in with --pin-stdin", pkcs11PINEnv)
	}
	return pkcs11kek.New(pkcs11kek.Config{ModulePath: p.module, TokenLabel: p.token, KeyLabel: p.label, PIN: []byte(pin)})
}

func (a *app) pkcs11KeyCreateCommand() *cobra.Command {
	var p pkcs11Flags
	cmd := &cobra.Command{
		Use:   "create --module PATH --token T --key-label L",
		Short: "Generate a new version of a key on a token: an AES-256 key that never leaves it",
		Long: "create generates, inside the module, a 256-bit AES key object labelled --key-label, allowed\n" +
			"to wrap and unwrap, not extractable and not destroyable through PKCS#11 (CKA_DESTROYABLE\n" +
			"false, as a cluster's key must be), with a CKA_ID one above the label's highest (01 for the\n" +
			"first). A cluster whose key has that label wraps with the new version from its next key\n" +
			"check on: this is how such a key is rotated. It talks to the module on this machine, not\n" +
			"to a node; the token's user PIN comes from " + pkcs11PINEnv + " or, with --pin-stdin, standard input.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		kek, err := a.openPKCS11(cmd, &p)
		if err != nil {
			return err
		}
		st, err := kek.CreateVersion(ctx)
		if err != nil {
			return fmt.Errorf("create a version of %s: %w", kek.Key(), err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Created version %s of key %q on token %q: %s\n", st.Version, p.label, p.token, clean(st.KeyURI))
		return nil
	})
	p.register(cmd, "")
	return cmd
}

func (a *app) pkcs11KeyListCommand() *cobra.Command {
	var p pkcs11Flags
	cmd := &cobra.Command{
		Use:   "list --module PATH --token T --key-label L",
		Short: "List the versions of a key on a token, the one in force last",
		Long: "list shows each key object labelled --key-label on the token: its CKA_ID, whether it may\n" +
			"wrap and unwrap, and whether PKCS#11 could destroy it. The highest ID is the version a\n" +
			"cluster's key wraps with.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		kek, err := a.openPKCS11(cmd, &p)
		if err != nil {
			return err
		}
		vs, err := kek.Versions(ctx)
		if err != nil {
			return fmt.Errorf("list the versions of %s: %w", kek.Key(), err)
		}
		w := cmd.OutOrStdout()
		if a.output == outputJSON {
			items := make([]json.RawMessage, len(vs))
			for i, v := range vs {
				items[i], _ = json.Marshal(map[string]any{"id": hex.EncodeToString(v.ID), "keyUri": v.KeyURI, "usable": v.Usable, "destroyable": v.Destroyable})
			}
			return writeJSONList(w, items)
		}
		rows := make([][]string, len(vs))
		for i, v := range vs {
			inForce := ""
			if i == len(vs)-1 {
				inForce = "yes"
			}
			rows[i] = []string{hex.EncodeToString(v.ID), yesNo(&v.Usable), yesNo(&v.Destroyable), inForce, clean(v.KeyURI)}
		}
		return writeTable(w, []string{"ID", "WRAP AND UNWRAP", "DESTROYABLE", "NEWEST", "URI"}, rows)
	})
	p.register(cmd, "")
	return cmd
}

func (a *app) pkcs11KeyDisableCommand() *cobra.Command {
	var (
		p  pkcs11Flags
		id string
	)
	cmd := &cobra.Command{
		Use:   "disable --module PATH --token T --key-label L --id HEX",
		Short: "Forbid a version of a key to wrap and unwrap, once it wraps nothing",
		Long: "disable sets CKA_WRAP and CKA_UNWRAP false on the version of the key with CKA_ID --id (hex,\n" +
			"as `cluster key-usage` shows it). Disable only a version that wraps nothing any more:\n" +
			"account keys it still wraps could not be opened.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		raw, err := hex.DecodeString(id)
		if err != nil || len(raw) == 0 {
			return usagef("--id must be the version's CKA_ID in hex, such as 01, not %q", id)
		}
		kek, err := a.openPKCS11(cmd, &p)
		if err != nil {
			return err
		}
		if err := kek.SetVersionUsable(ctx, raw, false); err != nil {
			return fmt.Errorf("disable version %s of %s: %w", id, kek.Key(), err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Version %s of key %q on token %q may no longer wrap or unwrap.\n", id, p.label, p.token)
		return nil
	})
	p.register(cmd, "")
	cmd.Flags().StringVar(&id, "id", "", "the version's CKA_ID, in hex")
	return cmd
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// letters, digits and -_./: so that a printed command runs as printed.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
