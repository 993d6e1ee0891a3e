package cli

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
)

// keysAPIVersion is the Key Vault data-plane version the CLI speaks.
const keysAPIVersion = "7.6"

// keyAttributes are a key version's attributes; times are Unix seconds.
type keyAttributes struct {
	Enabled       *bool  `json:"enabled,omitempty"`
	NotBefore     *int64 `json:"nbf,omitempty"`
	Expires       *int64 `json:"exp,omitempty"`
	Created       *int64 `json:"created,omitempty"`
	Updated       *int64 `json:"updated,omitempty"`
	RecoveryLevel string `json:"recoveryLevel,omitempty"`
}

// keyBundle is a key version as the data plane returns it. A deleted key's
// bundle has the same shape plus the deletion fields.
type keyBundle struct {
	Key struct {
		KID    string   `json:"kid"`
		Kty    string   `json:"kty"`
		KeyOps []string `json:"key_ops"`
	} `json:"key"`
	Attributes keyAttributes     `json:"attributes"`
	Tags       map[string]string `json:"tags"`

	RecoveryID         string `json:"recoveryId"`
	ScheduledPurgeDate *int64 `json:"scheduledPurgeDate"`
}

// keyItem is one entry of a key, version or deleted-key listing.
type keyItem struct {
	KID                string            `json:"kid"`
	Attributes         keyAttributes     `json:"attributes"`
	Tags               map[string]string `json:"tags"`
	DeletedDate        *int64            `json:"deletedDate"`
	ScheduledPurgeDate *int64            `json:"scheduledPurgeDate"`
}

// keyFlags are the flags every key command shares.
type keyFlags struct {
	vault string
	name  string
}

func (f *keyFlags) register(cmd *cobra.Command, withName bool) {
	cmd.Flags().StringVar(&f.vault, "vault-name", "", "vault name")
	_ = cmd.MarkFlagRequired("vault-name")
	if withName {
		cmd.Flags().StringVarP(&f.name, "name", "n", "", "key name")
		_ = cmd.MarkFlagRequired("name")
	}
}

// url is a data-plane URL in the flags' vault: path is under the vault's root.
func (f *keyFlags) url(cl *client.Client, path string) string {
	return cl.VaultURL(f.vault) + path + "?api-version=" + keysAPIVersion
}

// keyPath is /keys/{name} followed by extra segments.
func (f *keyFlags) keyPath(extra ...string) string {
	p := "/keys/" + url.PathEscape(f.name)
	for _, e := range extra {
		p += "/" + url.PathEscape(e)
	}
	return p
}

func (a *app) keyCommand() *cobra.Command {
	return a.group("key", "Manage the keys in a vault",
		a.keyCreateCommand(), a.keyImportCommand(), a.keyShowCommand(), a.keyListCommand(),
		a.keyListVersionsCommand(), a.keySetAttributesCommand(), a.keyRotateCommand(),
		a.keyRotationPolicyCommand(), a.keyDeleteCommand(), a.keyRecoverCommand(),
		a.keyPurgeCommand(), a.keyListDeletedCommand())
}

// keyRequest runs one data-plane request about the flags' key and returns
// the server's answer; what says what it does, for the error: "what key K in
// vault V".
func (a *app) keyRequest(ctx context.Context, f *keyFlags, method, path string, body any, what string) (json.RawMessage, error) {
	cl, err := a.client()
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := cl.Do(ctx, method, f.url(cl, path), client.AudienceVault, body, &raw); err != nil {
		return nil, fmt.Errorf("%s key %s in vault %s: %w", what, f.name, f.vault, err)
	}
	return raw, nil
}

// keyCall runs one data-plane request and prints the key bundle it returns.
func (a *app) keyCall(ctx context.Context, w io.Writer, f *keyFlags, method, path string, body any, what string) error {
	raw, err := a.keyRequest(ctx, f, method, path, body, what)
	if err != nil {
		return err
	}
	return a.printBundle(w, raw)
}

var bundleHeader = []string{"NAME", "VERSION", "KTY", "ENABLED", "CREATED", "EXPIRES"}

func (a *app) printBundle(w io.Writer, raw json.RawMessage) error {
	if a.output == outputJSON {
		return writeJSON(w, raw)
	}
	var b keyBundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("decode the key: %w", err)
	}
	name, version := kidParts(b.Key.KID)
	return writeTable(w, bundleHeader, [][]string{{name, version, b.Key.Kty, yesNo(b.Attributes.Enabled),
		unixTime(b.Attributes.Created), unixTime(b.Attributes.Expires)}})
}

// keyListing is what a data-plane listing lists, which decides its columns.
type keyListing int

const (
	listingKeys     keyListing = iota // kids without versions
	listingVersions                   // kids with versions
	listingDeleted                    // deleted keys and their purge dates
)

// listKeys prints a data-plane listing, following nextLink.
func (a *app) listKeys(ctx context.Context, w io.Writer, f *keyFlags, path, what string, kind keyListing) error {
	cl, err := a.client()
	if err != nil {
		return err
	}
	items, err := cl.ListAll(ctx, f.url(cl, path), client.AudienceVault)
	if err != nil {
		return fmt.Errorf("%s in vault %s: %w", what, f.vault, err)
	}
	if a.output == outputJSON {
		return writeJSONList(w, items)
	}
	header := map[keyListing][]string{
		listingKeys:     {"NAME", "ENABLED", "CREATED", "EXPIRES", "TAGS"},
		listingVersions: {"NAME", "VERSION", "ENABLED", "CREATED", "EXPIRES", "TAGS"},
		listingDeleted:  {"NAME", "DELETED", "PURGE AFTER"},
	}[kind]
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		var k keyItem
		if err := json.Unmarshal(it, &k); err != nil {
			return fmt.Errorf("decode %s: %w", what, err)
		}
		name, version := kidParts(k.KID)
		switch kind {
		case listingKeys:
			rows = append(rows, []string{name, yesNo(k.Attributes.Enabled), unixTime(k.Attributes.Created),
				unixTime(k.Attributes.Expires), formatTags(k.Tags)})
		case listingVersions:
			rows = append(rows, []string{name, version, yesNo(k.Attributes.Enabled), unixTime(k.Attributes.Created),
				unixTime(k.Attributes.Expires), formatTags(k.Tags)})
		case listingDeleted:
			rows = append(rows, []string{name, unixTime(k.DeletedDate), unixTime(k.ScheduledPurgeDate)})
		}
	}
	return writeTable(w, header, rows)
}

// attributeFlags are the settable attributes shared by create, import and set-attributes.
type attributeFlags struct {
	enabled  bool
	nbf, exp string
	ops      []string
	tags     []string
}

func (af *attributeFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&af.enabled, "enabled", true, "whether the key version may be used")
	f.StringVar(&af.nbf, "nbf", "", "not before: RFC 3339 time, or an age from now (24h, 30d)")
	f.StringVar(&af.exp, "expires", "", "expiry: RFC 3339 time, or an age from now (8760h, 365d)")
	f.StringSliceVar(&af.ops, "ops", nil, "permitted operations, such as wrapKey unwrapKey (spaces or commas)")
	f.StringArrayVar(&af.tags, "tags", nil, "tags as key=value (spaces between pairs)")
}

// attributes returns the attributes the flags set, or nil when none was given,
// so that the server's defaults and current values stay untouched.
func (af *attributeFlags) attributes(cmd *cobra.Command, now time.Time) (*keyAttributes, error) {
	var at keyAttributes
	set := false
	if cmd.Flags().Changed("enabled") {
		at.Enabled, set = &af.enabled, true
	}
	for _, t := range []struct {
		flag, value string
		dst         **int64
	}{{"nbf", af.nbf, &at.NotBefore}, {"expires", af.exp, &at.Expires}} {
		if !cmd.Flags().Changed(t.flag) {
			continue
		}
		when, err := parseWhen(t.value, now)
		if err != nil {
			return nil, usageError{fmt.Errorf("--%s: %w", t.flag, err)}
		}
		sec := when.Unix()
		*t.dst, set = &sec, true
	}
	if !set {
		return nil, nil
	}
	return &at, nil
}

func (af *attributeFlags) tagMap() (map[string]string, error) {
	if af.tags == nil {
		return nil, nil
	}
	out := map[string]string{}
	for _, t := range af.tags {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return nil, usagef("--tags %q must be key=value", t)
		}
		out[k] = v
	}
	return out, nil
}

// body adds the attribute flags to a request body.
func (af *attributeFlags) body(cmd *cobra.Command, now time.Time, body map[string]any) error {
	at, err := af.attributes(cmd, now)
	if err != nil {
		return err
	}
	if at != nil {
		body["attributes"] = at
	}
	if cmd.Flags().Changed("ops") {
		body["key_ops"] = af.ops
	}
	tags, err := af.tagMap()
	if err != nil {
		return err
	}
	if tags != nil {
		body["tags"] = tags
	}
	return nil
}

// parseWhen reads an RFC 3339 time, or an age from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := parseAge(strings.TrimPrefix(s, "+")); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2027-01-02T15:04:05Z) nor an age from now (24h, 365d)", s)
}

func (a *app) keyCreateCommand() *cobra.Command {
	var (
		kf   keyFlags
		af   attributeFlags
		kty  string
		size int
	)
	cmd := &cobra.Command{
		Use:   "create --vault-name V --name K [--kty RSA|oct] [--size 2048|3072|4096]",
		Short: "Create a key, or a new version of it",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		switch strings.ToUpper(kty) {
		case "RSA":
			kty = "RSA"
		case "OCT":
			kty = "oct"
		default:
			return usagef("--kty must be RSA or oct, not %q", kty)
		}
		body := map[string]any{"kty": kty}
		if cmd.Flags().Changed("size") {
			body["key_size"] = size
		}
		if err := af.body(cmd, a.env.Now(), body); err != nil {
			return err
		}
		return a.keyCall(ctx, cmd.OutOrStdout(), &kf, http.MethodPost, kf.keyPath("create"), body, "create")
	})
	kf.register(cmd, true)
	af.register(cmd)
	cmd.Flags().StringVar(&kty, "kty", "RSA", "key type: RSA (wrap with RSA-OAEP-256) or oct (AES-256, A256KW)")
	completeValues(cmd, "kty", "RSA", "oct")
	cmd.Flags().IntVar(&size, "size", 0, "RSA: 2048, 3072 or 4096 (default 2048); oct: 256")
	return cmd
}

func (a *app) keyImportCommand() *cobra.Command {
	var (
		kf               keyFlags
		af               attributeFlags
		pemFile, octFile string
	)
	cmd := &cobra.Command{
		Use:   "import --vault-name V --name K (--pem-file F | --oct-file F)",
		Short: "Import an RSA private key (PEM) or a 32-byte AES key as a new key version",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		var jwk map[string]any
		var err error
		switch {
		case (pemFile == "") == (octFile == ""):
			return usagef("import needs exactly one of --pem-file (RSA private key) and --oct-file (32 raw bytes)")
		case pemFile != "":
			jwk, err = rsaJWKFromPEM(pemFile)
		default:
			jwk, err = octJWKFromFile(octFile)
		}
		if err != nil {
			return err
		}
		if cmd.Flags().Changed("ops") {
			jwk["key_ops"] = af.ops
		}
		body := map[string]any{"key": jwk}
		if err := af.body(cmd, a.env.Now(), body); err != nil {
			return err
		}
		delete(body, "key_ops") // on import the operations travel inside the JWK
		return a.keyCall(ctx, cmd.OutOrStdout(), &kf, http.MethodPut, kf.keyPath(), body, "import")
	})
	kf.register(cmd, true)
	af.register(cmd)
	cmd.Flags().StringVar(&pemFile, "pem-file", "", "RSA private key, PEM (PKCS #1 or unencrypted PKCS #8)")
	cmd.Flags().StringVar(&octFile, "oct-file", "", "AES-256 key: a file of exactly 32 raw bytes")
	return cmd
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rsaJWKFromPEM reads an RSA private key into an import JWK. Errors never
// quote the file: it is key material.
func rsaJWKFromPEM(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the key file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block; give an RSA private key in PEM", path)
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		var k any
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		if err == nil {
			var ok bool
			if key, ok = k.(*rsa.PrivateKey); !ok {
				return nil, fmt.Errorf("%s holds a %T, not an RSA key; import an RSA key, or an AES key with --oct-file", path, k)
			}
		}
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("%s is encrypted; decrypt it first (openssl pkey -in %s -out plain.pem)", path, path)
	default:
		return nil, fmt.Errorf("%s holds a %q PEM block, not an RSA private key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid RSA private key", path)
	}
	if len(key.Primes) != 2 {
		return nil, fmt.Errorf("%s is a multi-prime RSA key; only two-prime keys can be imported", path)
	}
	key.Precompute()
	return map[string]any{
		"kty": "RSA",
		"n":   b64(key.N.Bytes()),
		"e":   b64(big.NewInt(int64(key.E)).Bytes()),
		"d":   b64(key.D.Bytes()),
		"p":   b64(key.Primes[0].Bytes()),
		"q":   b64(key.Primes[1].Bytes()),
		"dp":  b64(key.Precomputed.Dp.Bytes()),
		"dq":  b64(key.Precomputed.Dq.Bytes()),
		"qi":  b64(key.Precomputed.Qinv.Bytes()),
	}, nil
}

func octJWKFromFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the key file: %w", err)
	}
	if len(data) != 32 {
		return nil, fmt.Errorf("%s holds %d bytes; an AES-256 key is exactly 32 raw bytes (head -c 32 /dev/urandom > key.bin)", path, len(data))
	}
	return map[string]any{"kty": "oct", "k": b64(data)}, nil
}

func (a *app) keyShowCommand() *cobra.Command {
	var (
		kf      keyFlags
		version string
	)
	cmd := &cobra.Command{Use: "show --vault-name V --name K [--version X]", Short: "Show a key's latest or given version", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		path := kf.keyPath()
		if version != "" {
			path = kf.keyPath(version)
		}
		return a.keyCall(ctx, cmd.OutOrStdout(), &kf, http.MethodGet, path, nil, "show")
	})
	kf.register(cmd, true)
	cmd.Flags().StringVar(&version, "version", "", "key version; default the latest")
	return cmd
}

func (a *app) keyListCommand() *cobra.Command {
	var kf keyFlags
	cmd := &cobra.Command{Use: "list --vault-name V", Short: "List a vault's keys", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		return a.listKeys(ctx, cmd.OutOrStdout(), &kf, "/keys", "list keys", listingKeys)
	})
	kf.register(cmd, false)
	return cmd
}

func (a *app) keyListVersionsCommand() *cobra.Command {
	var kf keyFlags
	cmd := &cobra.Command{Use: "list-versions --vault-name V --name K", Short: "List a key's versions", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		return a.listKeys(ctx, cmd.OutOrStdout(), &kf, kf.keyPath("versions"), "list the versions of key "+kf.name, listingVersions)
	})
	kf.register(cmd, true)
	return cmd
}

func (a *app) keySetAttributesCommand() *cobra.Command {
	var (
		kf      keyFlags
		af      attributeFlags
		version string
	)
	cmd := &cobra.Command{
		Use:   "set-attributes --vault-name V --name K [--version X] [--enabled=false] [--nbf T] [--expires T] [--ops ...] [--tags k=v ...]",
		Short: "Change a key version's attributes; disabling it revokes its use at once",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		body := map[string]any{}
		if err := af.body(cmd, a.env.Now(), body); err != nil {
			return err
		}
		if len(body) == 0 {
			return usagef("nothing to change: give --enabled, --nbf, --expires, --ops or --tags")
		}
		path := kf.keyPath() // the latest version
		if version != "" {
			path = kf.keyPath(version)
		}
		return a.keyCall(ctx, cmd.OutOrStdout(), &kf, http.MethodPatch, path, body, "update")
	})
	kf.register(cmd, true)
	af.register(cmd)
	cmd.Flags().StringVar(&version, "version", "", "key version; default the latest")
	return cmd
}

func (a *app) keyRotateCommand() *cobra.Command {
	var kf keyFlags
	cmd := &cobra.Command{
		Use:   "rotate --vault-name V --name K",
		Short: "Create a new version of a key, with the latest version's type, size and operations",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		return a.keyCall(ctx, cmd.OutOrStdout(), &kf, http.MethodPost, kf.keyPath("rotate"), nil, "rotate")
	})
	kf.register(cmd, true)
	return cmd
}

// rotationPolicy is a key's rotation policy.
type rotationPolicy struct {
	LifetimeActions []struct {
		Trigger struct {
			TimeAfterCreate  string `json:"timeAfterCreate"`
			TimeBeforeExpiry string `json:"timeBeforeExpiry"`
		} `json:"trigger"`
		Action struct {
			Type string `json:"type"`
		} `json:"action"`
	} `json:"lifetimeActions"`
	Attributes *struct {
		ExpiryTime string `json:"expiryTime"`
	} `json:"attributes"`
}

func (a *app) printRotationPolicy(w io.Writer, raw json.RawMessage) error {
	if a.output == outputJSON {
		return writeJSON(w, raw)
	}
	var p rotationPolicy
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("decode the rotation policy: %w", err)
	}
	rows := [][]string{}
	for _, la := range p.LifetimeActions {
		trigger := ""
		switch {
		case la.Trigger.TimeAfterCreate != "":
			trigger = la.Trigger.TimeAfterCreate + " after creation"
		case la.Trigger.TimeBeforeExpiry != "":
			trigger = la.Trigger.TimeBeforeExpiry + " before expiry"
		}
		rows = append(rows, []string{la.Action.Type, trigger})
	}
	if err := writeTable(w, []string{"ACTION", "WHEN"}, rows); err != nil {
		return err
	}
	if p.Attributes != nil && p.Attributes.ExpiryTime != "" {
		fmt.Fprintf(w, "New versions expire %s after creation.\n", clean(p.Attributes.ExpiryTime))
	}
	return nil
}

func (a *app) keyRotationPolicyCommand() *cobra.Command {
	var showFlags, setFlags keyFlags
	show := &cobra.Command{Use: "show --vault-name V --name K", Short: "Show a key's rotation policy", Args: cobra.NoArgs}
	show.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		raw, err := a.keyRequest(ctx, &showFlags, http.MethodGet, showFlags.keyPath("rotationpolicy"), nil, "get the rotation policy of")
		if err != nil {
			return err
		}
		return a.printRotationPolicy(cmd.OutOrStdout(), raw)
	})
	showFlags.register(show, true)

	var rotateAfter, expiresAfter string
	set := &cobra.Command{
		Use:   "set --vault-name V --name K --rotate-after P90D [--expires-after P1Y]",
		Short: "Rotate a key automatically some time after each version is created",
		Args:  cobra.NoArgs,
	}
	set.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		for flag, v := range map[string]string{"rotate-after": rotateAfter, "expires-after": expiresAfter} {
			if v != "" && !strings.HasPrefix(strings.ToUpper(v), "P") {
				return usagef("--%s %q must be an ISO 8601 duration such as P90D or P1Y", flag, v)
			}
		}
		body := map[string]any{"lifetimeActions": []any{map[string]any{
			"trigger": map[string]string{"timeAfterCreate": rotateAfter},
			"action":  map[string]string{"type": "Rotate"},
		}}}
		if expiresAfter != "" {
			body["attributes"] = map[string]string{"expiryTime": expiresAfter}
		}
		raw, err := a.keyRequest(ctx, &setFlags, http.MethodPut, setFlags.keyPath("rotationpolicy"), body, "set the rotation policy of")
		if err != nil {
			return err
		}
		return a.printRotationPolicy(cmd.OutOrStdout(), raw)
	})
	setFlags.register(set, true)
	set.Flags().StringVar(&rotateAfter, "rotate-after", "", "ISO 8601 duration after a version's creation to rotate, such as P90D")
	set.Flags().StringVar(&expiresAfter, "expires-after", "", "ISO 8601 lifetime of the versions the policy creates, such as P1Y")
	_ = set.MarkFlagRequired("rotate-after")
	return a.group("rotation-policy", "Show or set a key's automatic rotation", show, set)
}

func (a *app) keyDeleteCommand() *cobra.Command {
	var kf keyFlags
	cmd := &cobra.Command{
		Use:   "delete --vault-name V --name K",
		Short: "Delete a key (every version); it stays recoverable for the vault's retention period",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		raw, err := a.keyRequest(ctx, &kf, http.MethodDelete, kf.keyPath(), nil, "delete")
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if a.output == outputJSON {
			return writeJSON(w, raw)
		}
		var b keyBundle
		if err := json.Unmarshal(raw, &b); err != nil {
			return fmt.Errorf("decode the deleted key: %w", err)
		}
		fmt.Fprintf(w, "Deleted key %s from vault %s.\n", clean(kf.name), clean(kf.vault))
		if until := unixTime(b.ScheduledPurgeDate); until != "" {
			fmt.Fprintf(w, "It can be recovered until %s: sealwatch keyvault key recover --vault-name %s --name %s\n",
				until, clean(kf.vault), clean(kf.name))
		}
		return nil
	})
	kf.register(cmd, true)
	return cmd
}

func (a *app) keyRecoverCommand() *cobra.Command {
	var kf keyFlags
	cmd := &cobra.Command{Use: "recover --vault-name V --name K", Short: "Recover a deleted key with all its versions", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		return a.keyCall(ctx, cmd.OutOrStdout(), &kf, http.MethodPost, "/deletedkeys/"+url.PathEscape(kf.name)+"/recover", nil, "recover")
	})
	kf.register(cmd, true)
	return cmd
}

func (a *app) keyPurgeCommand() *cobra.Command {
	var kf keyFlags
	cmd := &cobra.Command{
		Use:   "purge --vault-name V --name K",
		Short: "Destroy a deleted key for good (refused while purge protection holds it)",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if _, err := a.keyRequest(ctx, &kf, http.MethodDelete, "/deletedkeys/"+url.PathEscape(kf.name), nil, "purge"); err != nil {
			return err
		}
		if a.output == outputTable {
			fmt.Fprintf(cmd.OutOrStdout(), "Purged key %s from vault %s; it cannot be recovered.\n", clean(kf.name), clean(kf.vault))
		}
		return nil
	})
	kf.register(cmd, true)
	return cmd
}

func (a *app) keyListDeletedCommand() *cobra.Command {
	var kf keyFlags
	cmd := &cobra.Command{Use: "list-deleted --vault-name V", Short: "List a vault's deleted, recoverable keys", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		return a.listKeys(ctx, cmd.OutOrStdout(), &kf, "/deletedkeys", "list deleted keys", listingDeleted)
	})
	kf.register(cmd, false)
	return cmd
}
