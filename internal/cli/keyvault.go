package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
)

// mgmtAPIVersion is the management API version the CLI speaks.
const mgmtAPIVersion = "2023-07-01"

// allKeyPermissions is what `keyvault create` grants its caller, as the cloud
// CLI does: every key permission, spelled out rather than "all", so that the
// policy reads the same in `show` and removing one of them is plain.
var allKeyPermissions = []string{
	"get", "list", "create", "import", "update", "delete", "recover", "purge",
	"backup", "restore", "wrapKey", "unwrapKey", "encrypt", "decrypt", "sign",
	"verify", "rotate", "getrotationpolicy", "setrotationpolicy",
}

// vaultResource is the management API's view of a vault.
type vaultResource struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Location   string `json:"location"`
	Properties struct {
		TenantID string `json:"tenantId"`
		SKU      struct {
			Name string `json:"name"`
		} `json:"sku"`
		AccessPolicies            []accessPolicy `json:"accessPolicies"`
		VaultURI                  string         `json:"vaultUri"`
		EnableSoftDelete          bool           `json:"enableSoftDelete"`
		SoftDeleteRetentionInDays int            `json:"softDeleteRetentionInDays"`
		EnablePurgeProtection     bool           `json:"enablePurgeProtection"`
	} `json:"properties"`
}

type accessPolicy struct {
	TenantID    string `json:"tenantId"`
	ObjectID    string `json:"objectId"`
	Permissions struct {
		Keys []string `json:"keys"`
	} `json:"permissions"`
}

func (a *app) keyvaultCommand() *cobra.Command {
	var subscription string
	kv := a.group("keyvault", "Manage key vaults, their access policies, keys and audit log",
		a.vaultCreateCommand(&subscription), a.vaultShowCommand(&subscription), a.vaultDeleteCommand(&subscription),
		a.vaultListCommand(&subscription), a.vaultSetPolicyCommand(&subscription), a.vaultDeletePolicyCommand(&subscription),
		a.vaultAuditCommand(&subscription), a.vaultHostsCommand(&subscription), a.keyCommand())
	kv.PersistentFlags().StringVar(&subscription, "subscription", "", "subscription ID; default the tenant ID")
	return kv
}

// mgmt is a management-plane session: a client and the subscription in use.
type mgmt struct {
	cl  *client.Client
	sub string
}

func (a *app) mgmt(subscription string) (*mgmt, error) {
	cl, err := a.client()
	if err != nil {
		return nil, err
	}
	if subscription == "" {
		subscription = cl.TenantID()
	}
	return &mgmt{cl: cl, sub: subscription}, nil
}

// vaultPath is a vault's resource path, with extra path segments appended,
// and the API version and query.
func (m *mgmt) vaultPath(rg, name, extra string, query url.Values) string {
	if query == nil {
		query = url.Values{}
	}
	query.Set("api-version", mgmtAPIVersion)
	return "/subscriptions/" + url.PathEscape(m.sub) + "/resourceGroups/" + url.PathEscape(rg) +
		"/providers/Microsoft.KeyVault/vaults/" + url.PathEscape(name) + extra + "?" + query.Encode()
}

func (m *mgmt) listPath(rg string) string {
	p := "/subscriptions/" + url.PathEscape(m.sub)
	if rg != "" {
		p += "/resourceGroups/" + url.PathEscape(rg)
	}
	return p + "/providers/Microsoft.KeyVault/vaults?api-version=" + mgmtAPIVersion
}

// find returns a vault and its resource group. Without a resource group it
// lists the subscription's vaults, as the cloud CLI does, so people need not
// remember where a vault lives.
func (m *mgmt) find(ctx context.Context, name, rg string) (*vaultResource, json.RawMessage, string, error) {
	if rg != "" {
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodGet, m.vaultPath(rg, name, "", nil), client.AudienceManagement, nil, &raw); err != nil {
			return nil, nil, "", fmt.Errorf("get vault %s: %w", name, err)
		}
		var v vaultResource
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, nil, "", fmt.Errorf("decode vault %s: %w", name, err)
		}
		return &v, raw, rg, nil
	}
	items, err := m.cl.ListAll(ctx, m.listPath(""), client.AudienceManagement)
	if err != nil {
		return nil, nil, "", fmt.Errorf("list vaults to find %s: %w", name, err)
	}
	for _, it := range items {
		var v vaultResource
		if err := json.Unmarshal(it, &v); err != nil {
			return nil, nil, "", fmt.Errorf("decode vault list: %w", err)
		}
		if strings.EqualFold(v.Name, name) {
			return &v, it, resourceGroupOf(v.ID), nil
		}
	}
	return nil, nil, "", fmt.Errorf("%w: no vault named %q in subscription %s (see `sealwatch keyvault list`, or pass -g and --subscription)", errVaultNotFound, name, m.sub)
}

var errVaultNotFound = errors.New("vault not found")

// resourceGroupOf reads the resource group out of a resource ID,
// /subscriptions/{sub}/resourceGroups/{rg}/providers/..., case-insensitively as ARM does.
func resourceGroupOf(id string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "resourceGroups") {
			return parts[i+1]
		}
	}
	return ""
}

var vaultHeader = []string{"NAME", "RESOURCE GROUP", "LOCATION", "URI", "PURGE PROTECTION", "RETENTION DAYS"}

func vaultRow(v *vaultResource) []string {
	pp := v.Properties.EnablePurgeProtection
	return []string{v.Name, resourceGroupOf(v.ID), v.Location, v.Properties.VaultURI, yesNo(&pp),
		strconv.Itoa(v.Properties.SoftDeleteRetentionInDays)}
}

func writePolicies(w io.Writer, policies []accessPolicy) error {
	rows := make([][]string, 0, len(policies))
	for _, p := range policies {
		rows = append(rows, []string{p.ObjectID, p.TenantID, strings.Join(p.Permissions.Keys, " ")})
	}
	return writeTable(w, []string{"OBJECT ID", "TENANT", "KEY PERMISSIONS"}, rows)
}

// printVault prints one vault: the server's JSON, or its row and policies.
func (a *app) printVault(w io.Writer, v *vaultResource, raw json.RawMessage) error {
	if a.output == outputJSON {
		return writeJSON(w, raw)
	}
	if err := writeTable(w, vaultHeader, [][]string{vaultRow(v)}); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nAccess policies:")
	return writePolicies(w, v.Properties.AccessPolicies)
}

func (a *app) vaultCreateCommand(subscription *string) *cobra.Command {
	var (
		vf            resourceFlags
		location, sku string
		retention     int
		purgeProt     bool
		noSelfPerms   bool
	)
	cmd := &cobra.Command{
		Use:   "create --name V -g RG [--enable-purge-protection]",
		Short: "Create a vault and grant yourself every key permission",
		Long: "create makes a vault with soft delete on and grants the signed-in principal every key\n" +
			"permission (unless --no-self-perms). A vault that protects a workspace's data must have\n" +
			"purge protection, which cannot be turned off once on.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if vf.resourceGroup == "" {
			return usagef("create needs a resource group: -g RG")
		}
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		policies := []accessPolicy{}
		if !noSelfPerms {
			who, err := m.cl.WhoAmI(ctx)
			if err != nil {
				return err
			}
			p := accessPolicy{TenantID: m.cl.TenantID(), ObjectID: who.ObjectID}
			p.Permissions.Keys = slices.Clone(allKeyPermissions)
			policies = append(policies, p)
		}
		props := map[string]any{
			"tenantId":                  m.cl.TenantID(),
			"sku":                       map[string]string{"family": "A", "name": sku},
			"accessPolicies":            policies,
			"enableSoftDelete":          true,
			"softDeleteRetentionInDays": retention,
		}
		// Purge protection is sent only to turn it on: the cloud refuses an
		// explicit false, and leaving it out keeps the vault's current setting.
		if purgeProt {
			props["enablePurgeProtection"] = true
		}
		body := map[string]any{"location": location, "properties": props}
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodPut, m.vaultPath(vf.resourceGroup, vf.name, "", nil), client.AudienceManagement, body, &raw); err != nil {
			return fmt.Errorf("create vault %s: %w", vf.name, err)
		}
		var v vaultResource
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("decode vault %s: %w", vf.name, err)
		}
		return a.printVault(cmd.OutOrStdout(), &v, raw)
	})
	vf.register(cmd, "vault")
	f := cmd.Flags()
	f.StringVarP(&location, "location", "l", "local", "location recorded on the vault")
	f.StringVar(&sku, "sku", "standard", "pricing tier recorded on the vault: standard or premium")
	f.IntVar(&retention, "retention-days", 90, "days a deleted vault or key stays recoverable (7 to 90; fixed at creation)")
	f.BoolVar(&purgeProt, "enable-purge-protection", false, "refuse to purge deleted keys before their retention ends (required for customer-managed keys; cannot be turned off)")
	f.BoolVar(&noSelfPerms, "no-self-perms", false, "do not grant the signed-in principal key permissions")
	return cmd
}

func (a *app) vaultShowCommand(subscription *string) *cobra.Command {
	var vf resourceFlags
	cmd := &cobra.Command{Use: "show --name V", Short: "Show a vault and its access policies", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		v, raw, _, err := m.find(ctx, vf.name, vf.resourceGroup)
		if err != nil {
			return err
		}
		return a.printVault(cmd.OutOrStdout(), v, raw)
	})
	vf.register(cmd, "vault")
	return cmd
}

func (a *app) vaultDeleteCommand(subscription *string) *cobra.Command {
	var vf resourceFlags
	cmd := &cobra.Command{
		Use:   "delete --name V",
		Short: "Delete a vault; it stays recoverable for its retention period",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		v, _, rg, err := m.find(ctx, vf.name, vf.resourceGroup)
		if err != nil {
			return err
		}
		if err := m.cl.Do(ctx, http.MethodDelete, m.vaultPath(rg, v.Name, "", nil), client.AudienceManagement, nil, nil); err != nil {
			return fmt.Errorf("delete vault %s: %w", v.Name, err)
		}
		if a.output == outputTable {
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted vault %s. It and its keys stay recoverable for %d days.\n",
				clean(v.Name), v.Properties.SoftDeleteRetentionInDays)
		}
		return nil
	})
	vf.register(cmd, "vault")
	return cmd
}

func (a *app) vaultListCommand(subscription *string) *cobra.Command {
	var rg string
	cmd := &cobra.Command{Use: "list [-g RG]", Short: "List vaults", Args: cobra.NoArgs}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		items, err := m.cl.ListAll(ctx, m.listPath(rg), client.AudienceManagement)
		if err != nil {
			return fmt.Errorf("list vaults: %w", err)
		}
		decode := func(raw json.RawMessage) (*vaultResource, error) {
			var v vaultResource
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("decode vault list: %w", err)
			}
			return &v, nil
		}
		return writeList(cmd.OutOrStdout(), a.output, items, decode, vaultHeader, vaultRow)
	})
	cmd.Flags().StringVarP(&rg, "resource-group", "g", "", "list only this resource group's vaults")
	return cmd
}

// updatePolicies sends one access policy change and prints the vault's resulting policies.
func (a *app) updatePolicies(ctx context.Context, w io.Writer, m *mgmt, rg, vaultName, kind string, ps ...accessPolicy) error {
	body := map[string]any{"properties": map[string]any{"accessPolicies": ps}}
	var raw json.RawMessage
	if err := m.cl.Do(ctx, http.MethodPut, m.vaultPath(rg, vaultName, "/accessPolicies/"+kind, nil), client.AudienceManagement, body, &raw); err != nil {
		return fmt.Errorf("update the access policies of vault %s: %w", vaultName, err)
	}
	if a.output == outputJSON {
		return writeJSON(w, raw)
	}
	var out struct {
		Properties struct {
			AccessPolicies []accessPolicy `json:"accessPolicies"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fmt.Errorf("decode access policies: %w", err)
	}
	return writePolicies(w, out.Properties.AccessPolicies)
}

func (a *app) vaultSetPolicyCommand(subscription *string) *cobra.Command {
	var (
		vf           resourceFlags
		objectID     string
		cluster      string
		identityFile string
		perms        []string
	)
	cmd := &cobra.Command{
		Use:   "set-policy --name V (--object-id OID | --cluster C | --identity-file F) --key-permissions get wrapKey unwrapKey",
		Short: "Grant a principal key permissions on a vault (added to what it has)",
		Long: "set-policy adds key permissions to a principal's access policy on the vault, creating the\n" +
			"policy if needed. Permissions may be separated by spaces or commas. A cluster's key must\n" +
			"serve two principals, the cluster's identity and the document-store principal, each with\n" +
			"get, wrapKey and unwrapKey: --cluster C grants both. When the cluster runs on another node,\n" +
			"--identity-file F grants both as that file (from `sealwatch cluster export-identity`) names\n" +
			"them, in that node's tenant, which `sealwatch vault serve --trust F` must trust.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if len(perms) == 0 {
			return usagef("set-policy needs --key-permissions, such as --key-permissions get wrapKey unwrapKey")
		}
		if given := btoi(objectID != "") + btoi(cluster != "") + btoi(identityFile != ""); given != 1 {
			return usagef("set-policy needs exactly one of --object-id, --cluster and --identity-file")
		}
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		tenant, oids := m.cl.TenantID(), []string{objectID}
		switch {
		case cluster != "":
			c, _, _, err := m.findCluster(ctx, cluster, "", "-g")
			if err != nil {
				return err
			}
			oids = []string{c.Identity.PrincipalID, c.Properties.DocumentStorePrincipalID}
		case identityFile != "":
			ci, err := loadClusterIdentity(identityFile)
			if err != nil {
				return err
			}
			tenant, oids = ci.TenantID, nil
			for _, p := range ci.Principals {
				oids = append(oids, p.ObjectID)
			}
		}
		v, _, rg, err := m.find(ctx, vf.name, vf.resourceGroup)
		if err != nil {
			return err
		}
		var ps []accessPolicy
		for _, oid := range oids {
			p := accessPolicy{TenantID: tenant, ObjectID: oid}
			p.Permissions.Keys = perms
			ps = append(ps, p)
		}
		return a.updatePolicies(ctx, cmd.OutOrStdout(), m, rg, v.Name, "add", ps...)
	})
	vf.register(cmd, "vault")
	cmd.Flags().StringVar(&objectID, "object-id", "", "object ID of the principal (shown by: sealwatch identity app list)")
	cmd.Flags().StringVar(&cluster, "cluster", "", "grant the cluster's identity and the document-store principal")
	cmd.Flags().StringVar(&identityFile, "identity-file", "", "grant the principals a cluster identity file names (from another node)")
	cmd.Flags().StringSliceVar(&perms, "key-permissions", nil, "key permissions to grant")
	return cmd
}

func (a *app) vaultDeletePolicyCommand(subscription *string) *cobra.Command {
	var (
		vf       resourceFlags
		objectID string
	)
	cmd := &cobra.Command{
		Use:   "delete-policy --name V --object-id OID",
		Short: "Remove a principal's access policy from a vault; its next key operation is refused",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		v, _, rg, err := m.find(ctx, vf.name, vf.resourceGroup)
		if err != nil {
			return err
		}
		// Remove takes away the permissions listed, so send the entry's whole
		// current list: that empties it on any server, whether or not it also
		// treats an empty list as "remove the entry".
		i := slices.IndexFunc(v.Properties.AccessPolicies, func(p accessPolicy) bool {
			return strings.EqualFold(p.ObjectID, objectID)
		})
		if i < 0 {
			return fmt.Errorf("object %s has no access policy on vault %s; `sealwatch keyvault show --name %s` lists them", objectID, v.Name, v.Name)
		}
		return a.updatePolicies(ctx, cmd.OutOrStdout(), m, rg, v.Name, "remove", v.Properties.AccessPolicies[i])
	})
	vf.register(cmd, "vault")
	cmd.Flags().StringVar(&objectID, "object-id", "", "object ID of the principal")
	_ = cmd.MarkFlagRequired("object-id")
	return cmd
}

// auditRecord is one record of a vault's audit log.
type auditRecord struct {
	Seq            uint64    `json:"seq"`
	Time           time.Time `json:"time"`
	CallerObjectID string    `json:"callerObjectId"`
	CallerTenantID string    `json:"callerTenantId"`
	ClientIP       string    `json:"clientIp"`
	Operation      string    `json:"operation"`
	KeyName        string    `json:"keyName"`
	KeyVersion     string    `json:"keyVersion"`
	Status         int       `json:"httpStatus"`
	ErrorCode      string    `json:"errorCode"`
}

// errAuditChainBroken is returned, after the records are printed, when the
// node reports that its audit chain does not verify.
var errAuditChainBroken = errors.New("the audit chain does not verify")

func (a *app) vaultAuditCommand(subscription *string) *cobra.Command {
	var (
		vf         resourceFlags
		key, since string
		top        int
	)
	cmd := &cobra.Command{
		Use:   "audit --name V [--key K] [--since 1h|RFC3339] [--top N]",
		Short: "Read a vault's audit log and check that its chain is intact",
		Long: "audit prints the vault's audit records (time, caller, operation, key and version, result,\n" +
			"client IP) and fails when the node reports that the log's MAC chain does not verify, which\n" +
			"means records were altered, removed or reordered.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		q := url.Values{}
		if key != "" {
			q.Set("key", key)
		}
		if since != "" {
			t, err := parseSince(since, a.env.Now())
			if err != nil {
				return usageError{err}
			}
			q.Set("since", t.UTC().Format(time.RFC3339))
		}
		if cmd.Flags().Changed("top") {
			q.Set("top", strconv.Itoa(top))
		}
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		rg := vf.resourceGroup
		name := vf.name
		if rg == "" {
			v, _, found, err := m.find(ctx, vf.name, "")
			if errors.Is(err, errVaultNotFound) {
				return fmt.Errorf("%w; the audit log of a deleted vault is still readable with -g RG", err)
			}
			if err != nil {
				return err
			}
			rg, name = found, v.Name
		}
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodGet, m.vaultPath(rg, name, "/auditRecords", q), client.AudienceManagement, nil, &raw); err != nil {
			return fmt.Errorf("read the audit log of vault %s: %w", name, err)
		}
		var body struct {
			Value         []auditRecord `json:"value"`
			ChainVerified *bool         `json:"chainVerified"`
			ChainError    string        `json:"chainError"`
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			return fmt.Errorf("decode the audit log: %w", err)
		}
		w := cmd.OutOrStdout()
		if a.output == outputJSON {
			if err := writeJSON(w, raw); err != nil {
				return err
			}
		} else {
			rows := make([][]string, 0, len(body.Value))
			for _, r := range body.Value {
				rows = append(rows, []string{r.Time.UTC().Format(time.RFC3339), r.Operation, r.KeyName, r.KeyVersion,
					r.CallerObjectID, r.CallerTenantID, r.ClientIP, strconv.Itoa(r.Status), r.ErrorCode})
			}
			if err := writeTable(w, []string{"TIME", "OPERATION", "KEY", "VERSION", "CALLER", "CALLER TENANT", "CLIENT IP", "STATUS", "ERROR"}, rows); err != nil {
				return err
			}
		}
		// A missing chainVerified is not taken as good news.
		if body.ChainVerified == nil || !*body.ChainVerified {
			reason := body.ChainError
			if reason == "" {
				reason = "the node did not say the chain verifies"
			}
			fmt.Fprintf(a.env.Stderr, "\n!!! AUDIT CHAIN OF VAULT %s DOES NOT VERIFY !!!\n%s\n"+
				"Records may have been altered, removed or reordered. Keep a copy of the data directory and investigate.\n\n",
				strings.ToUpper(clean(name)), clean(reason))
			return fmt.Errorf("vault %s: %w: %s", name, errAuditChainBroken, reason)
		}
		if a.output == outputTable {
			fmt.Fprintf(w, "%d records; audit chain verified.\n", len(body.Value))
		}
		return nil
	})
	vf.register(cmd, "vault")
	f := cmd.Flags()
	f.StringVar(&key, "key", "", "only records about this key")
	f.StringVar(&since, "since", "", "only records at or after this time: RFC 3339 (2026-01-02T15:04:05Z) or an age (90m, 1h, 7d)")
	f.IntVar(&top, "top", 1000, "at most this many records, the newest")
	return cmd
}

// parseSince reads an RFC 3339 time or an age before now (Go durations, plus
// a whole number of days such as 7d).
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := parseAge(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor an age (90m, 1h, 7d)", s)
}

// parseAge is time.ParseDuration plus whole days ("7d"), refusing negatives.
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100000 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
