package cli

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/client"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// clusterResource is the management API's view of a cluster.
type clusterResource struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Location string `json:"location"`
	Identity struct {
		PrincipalID string `json:"principalId"`
	} `json:"identity"`
	SKU struct {
		Capacity int `json:"capacity"`
	} `json:"sku"`
	Properties struct {
		ClusterID          string                        `json:"clusterId"`
		KeyVaultProperties *workspace.KeyVaultProperties `json:"keyVaultProperties"`
		// KeyState is whether the key is in force now: Accessible,
		// Unreachable, Locked or Revoked; empty while no key is set.
		KeyState                 string `json:"keyState"`
		DocumentStorePrincipalID string `json:"documentStorePrincipalId"`
		// LastKeyCheckDate is when the key was last checked; KeyCheckError
		// what the key service answered when that check failed.
		LastKeyCheckDate     *time.Time `json:"lastKeyCheckDate"`
		KeyCheckError        string     `json:"keyCheckError"`
		AssociatedWorkspaces []struct {
			WorkspaceID   string    `json:"workspaceId"`
			WorkspaceName string    `json:"workspaceName"`
			ResourceID    string    `json:"resourceId"`
			AssociateDate time.Time `json:"associateDate"`
		} `json:"associatedWorkspaces"`
	} `json:"properties"`
}

func (c *clusterResource) hasKey() bool { return c.Properties.KeyVaultProperties.IsSet() }

func decodeCluster(raw json.RawMessage) (*clusterResource, error) {
	var c clusterResource
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("decode cluster: %w", err)
	}
	return &c, nil
}

// findCluster is findOps for a cluster, decoded.
func (m *mgmt) findCluster(ctx context.Context, name, rg, rgFlag string) (*clusterResource, json.RawMessage, string, error) {
	raw, rg, err := m.findOps(ctx, kindCluster, name, rg, rgFlag)
	if err != nil {
		return nil, nil, "", err
	}
	c, err := decodeCluster(raw)
	return c, raw, rg, err
}

var clusterHeader = []string{"NAME", "RESOURCE GROUP", "CAPACITY", "KEY VAULT URI", "KEY NAME", "KEY VERSION", "KEY STATE", "WORKSPACES"}

func clusterRow(c *clusterResource) []string {
	uri, name, version := "", "", ""
	switch kv := c.Properties.KeyVaultProperties; {
	case c.hasKey() && kv.KeySource == workspace.KeySourceAWSKMS:
		// KMS rotates inside the key: the ARN stays, so there is no version to show.
		uri, name, version = "aws-kms "+kv.AWSRegion, kv.KMSKeyARN, "-"
	case c.hasKey() && kv.KeySource == workspace.KeySourcePKCS11:
		// The highest CKA_ID with the label is the version in force.
		uri, name, version = "pkcs11 "+kv.PKCS11TokenLabel, kv.PKCS11KeyLabel, "highest ID"
	case c.hasKey():
		uri, name, version = kv.KeyVaultURI, kv.KeyName, kv.KeyVersion
		if version == "" {
			version = "latest"
		}
	}
	return []string{c.Name, resourceGroupOf(c.ID), strconv.Itoa(c.SKU.Capacity) + " GB/day", uri, name, version,
		c.Properties.KeyState, strconv.Itoa(len(c.Properties.AssociatedWorkspaces))}
}

// printCluster prints one cluster: the server's JSON, or its row, the two
// principals that must be granted its key, and its workspaces.
func (a *app) printCluster(w io.Writer, c *clusterResource, raw json.RawMessage) error {
	if a.output == outputJSON {
		return writeJSON(w, raw)
	}
	if err := writeTable(w, clusterHeader, [][]string{clusterRow(c)}); err != nil {
		return err
	}
	fmt.Fprintf(w, "\ncluster principal ID:         %s\ndocument-store principal ID:  %s\n",
		clean(c.Identity.PrincipalID), clean(c.Properties.DocumentStorePrincipalID))
	if at := c.Properties.LastKeyCheckDate; at != nil {
		fmt.Fprintf(w, "key last checked:             %s\n", at.UTC().Format(time.RFC3339))
	}
	if why := c.Properties.KeyCheckError; why != "" {
		fmt.Fprintf(w, "last key check failed:        %s\n", clean(why))
	}
	if len(c.Properties.AssociatedWorkspaces) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nLinked workspaces:")
	rows := make([][]string, 0, len(c.Properties.AssociatedWorkspaces))
	for _, ws := range c.Properties.AssociatedWorkspaces {
		rows = append(rows, []string{ws.WorkspaceName, resourceGroupOf(ws.ResourceID), ws.WorkspaceID, rfc3339(ws.AssociateDate)})
	}
	return writeTable(w, []string{"NAME", "RESOURCE GROUP", "WORKSPACE ID", "LINKED"}, rows)
}

func (a *app) clusterCommand() *cobra.Command {
	var subscription string
	c := a.group("cluster", "Manage clusters: the customer-managed key that seals their workspaces' data",
		a.clusterCreateCommand(&subscription), a.clusterUpdateCommand(&subscription), a.clusterShowCommand(&subscription),
		a.clusterDeleteCommand(&subscription), a.clusterListCommand(&subscription), a.clusterKeyUsageCommand(&subscription),
		a.clusterWaitCommand(&subscription), a.clusterExportIdentityCommand(&subscription))
	c.PersistentFlags().StringVar(&subscription, "subscription", "", "subscription ID; default the tenant ID")
	return c
}

func (a *app) clusterCreateCommand(subscription *string) *cobra.Command {
	var (
		rf       resourceFlags
		capacity int
		location string
	)
	cmd := &cobra.Command{
		Use:   "create --name C -g RG [--capacity 100]",
		Short: "Create a cluster with its own identity, to be granted your key",
		Long: "create makes a cluster and its system-assigned identity. Its key is set afterwards: grant\n" +
			"the cluster's identity and the document-store principal get, wrapKey and unwrapKey on your\n" +
			"key, then set the key with `sealwatch cluster update`.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if rf.resourceGroup == "" {
			return usagef("create needs a resource group: -g RG")
		}
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		body := map[string]any{
			"location": location,
			"identity": map[string]string{"type": "SystemAssigned"},
			"sku":      map[string]any{"name": "CapacityReservation", "capacity": capacity},
		}
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodPut, m.opsPath(kindCluster, rf.resourceGroup, rf.name, ""), client.AudienceManagement, body, &raw); err != nil {
			return fmt.Errorf("create cluster %s: %w", rf.name, err)
		}
		c, err := decodeCluster(raw)
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if err := a.printCluster(w, c, raw); err != nil {
			return err
		}
		if a.output == outputJSON || c.hasKey() {
			return nil
		}
		fmt.Fprintf(w, "\nNext, grant both principals get, wrapKey and unwrapKey on your key, then set the key:\n")
		fmt.Fprintf(w, "  sealwatch keyvault set-policy --name VAULT --cluster %s --key-permissions get wrapKey unwrapKey\n", clean(c.Name))
		fmt.Fprintf(w, "  sealwatch cluster update --name %s --key-vault VAULT --key-name KEY\n", clean(c.Name))
		fmt.Fprintf(w, "(a vault of another service: --key-vault-uri URI; without --key-version the cluster follows the key's latest version.)\n")
		return nil
	})
	rf.register(cmd, kindCluster.noun)
	cmd.Flags().IntVar(&capacity, "capacity", 100, "commitment tier in GB/day: 100, 200, 300, 400, 500, 1000, 2000, 5000, 10000, 25000 or 50000")
	cmd.Flags().StringVarP(&location, "location", "l", "local", "location recorded on the cluster")
	return cmd
}

func (a *app) clusterUpdateCommand(subscription *string) *cobra.Command {
	var (
		rf                  resourceFlags
		capacity            int
		vaultURI, vaultName string
		keyName, keyVersion string
		keySource           string
		kms                 workspace.KeyVaultProperties
		secretStdin         bool
		p11                 pkcs11Flags
		app                 vaultAppFlags
	)
	cmd := &cobra.Command{
		Use: "update --name C [--capacity N] [--key-vault-uri URI --key-name K [--key-version V]]\n" +
			"         [--vault-tenant T --vault-client-id ID [--vault-client-secret-stdin | --vault-client-cert FILE | --vault-federated-token-file FILE] [--vault-authority URL]]\n" +
			"         [--key-source aws-kms --kms-key-arn ARN --aws-region R [--aws-access-key-id ID] [--aws-secret-access-key-stdin]]\n" +
			"         [--key-source pkcs11 --pkcs11-module PATH --pkcs11-token T --pkcs11-key-label L [--pkcs11-pin-stdin]]",
		Short: "Change a cluster's capacity, or set, rotate or replace its key",
		Long: "update sets the cluster's customer-managed key, or replaces it with another key or version.\n" +
			"The node checks that the cluster's identity and the document-store principal can use the key\n" +
			"and rewraps the cluster's account keys under it before it answers; no data is rewritten.\n" +
			"Without --key-version the cluster follows the key's latest version, so rotating the key in\n" +
			"the vault is enough. A key can be replaced but never removed.\n\n" +
			"A Key Vault key is used as the cluster's identity in this node's tenant, or, with --vault-tenant\n" +
			"and --vault-client-id, as an application registered in the vault's own tenant (the cloud's Key\n" +
			"Vault, or a Sealwatch vault elsewhere, with no trust between the tenants). The application signs\n" +
			"in with a client secret read from standard input (--vault-client-secret-stdin), a certificate\n" +
			"(--vault-client-cert, PEM with its RSA private key) or a federated token file on the node\n" +
			"(--vault-federated-token-file, which the node must be started to allow), at --vault-authority\n" +
			"(default the cloud's). The node keeps the secret or certificate sealed and never shows it; it can\n" +
			"be left out while tenant and application stay.\n\n" +
			"--key-source aws-kms keeps the key in AWS KMS: --kms-key-arn is the key's ARN, key ID,\n" +
			"alias/NAME or alias ARN (through an alias, retargeting it is a rotation). The cluster signs its\n" +
			"KMS calls with an access key granted kms:Encrypt, kms:Decrypt and kms:DescribeKey on the key:\n" +
			"its ID comes from --aws-access-key-id or AWS_ACCESS_KEY_ID, its secret from AWS_SECRET_ACCESS_KEY\n" +
			"or standard input with --aws-secret-access-key-stdin, never from the command line. The node\n" +
			"keeps the secret sealed and never shows it; it can be left out while the access key stays.\n\n" +
			"--key-source pkcs11 keeps the key on a PKCS#11 token (an HSM): the AES key objects labelled\n" +
			"--pkcs11-key-label on the token labelled --pkcs11-token, through the library --pkcs11-module\n" +
			"(which the node must be started to allow: --pkcs11-module on up or serve). The highest CKA_ID\n" +
			"is the version in force: `sealwatch pkcs11 key create` makes the first and each rotation. The\n" +
			"token's user PIN comes from " + pkcs11PINEnv + " or standard input with --pkcs11-pin-stdin, never from\n" +
			"the command line; the node keeps it sealed, and it can be left out while module and token stay.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		f := cmd.Flags()
		vaultKey := vaultURI != "" || vaultName != "" || keyName != ""
		kmsKey := keySource == workspace.KeySourceAWSKMS
		p11Key := keySource == workspace.KeySourcePKCS11
		setsKey := vaultKey || kmsKey || p11Key
		switch {
		case keySource != "" && keySource != workspace.KeySourceKeyVault && keySource != workspace.KeySourceAWSKMS && keySource != workspace.KeySourcePKCS11:
			return usagef("--key-source must be keyvault, aws-kms or pkcs11, not %q", keySource)
		case app.set() && (kmsKey || p11Key || !vaultKey):
			return usagef("--vault-tenant, --vault-client-id and their credential are for a Key Vault key: give it with --key-vault-uri (or --key-vault) and --key-name")
		case p11Key && (vaultKey || f.Changed("key-version")):
			return usagef("--key-source pkcs11 names its key with --pkcs11-module, --pkcs11-token and --pkcs11-key-label; --key-vault-uri, --key-vault, --key-name and --key-version are for keyvault")
		case !p11Key && p11.set():
			return usagef("--pkcs11-module, --pkcs11-token, --pkcs11-key-label and --pkcs11-pin-stdin need --key-source pkcs11")
		case kmsKey && (vaultKey || f.Changed("key-version")):
			return usagef("--key-source aws-kms names its key with --kms-key-arn and --aws-region; --key-vault-uri, --key-vault, --key-name and --key-version are for keyvault")
		case p11Key:
			if err := p11.missing("pkcs11-"); err != nil {
				return err
			}
		case !kmsKey && (kms.KMSKeyARN != "" || kms.AWSRegion != "" || kms.KMSEndpoint != "" || kms.AWSAccessKeyID != "" || secretStdin):
			return usagef("--kms-key-arn, --aws-region, --kms-endpoint, --aws-access-key-id and --aws-secret-access-key-stdin need --key-source aws-kms")
		case kmsKey && kms.KMSKeyARN == "":
			return usagef("--key-source aws-kms needs --kms-key-arn: the key's ARN, key ID, alias/NAME or alias ARN")
		case kmsKey && kms.AWSRegion == "":
			return usagef("--key-source aws-kms needs --aws-region, the key's region, such as eu-west-1")
		case vaultURI != "" && vaultName != "":
			return usagef("give the vault once: --key-vault-uri or --key-vault, not both")
		case vaultKey && keyName == "":
			return usagef("setting the key needs --key-name")
		case vaultKey && vaultURI == "" && vaultName == "":
			return usagef("setting the key needs its vault: --key-vault-uri URI or --key-vault NAME")
		case f.Changed("key-version") && !setsKey:
			return usagef("--key-version needs the key: --key-vault-uri (or --key-vault) and --key-name")
		case !setsKey && !f.Changed("capacity"):
			return usagef("nothing to change: give --capacity, or the key with --key-vault-uri (or --key-vault) and --key-name, or --key-source aws-kms or pkcs11")
		}
		if kmsKey {
			if err := a.awsCredentials(cmd, &kms, secretStdin); err != nil {
				return err
			}
		}
		var appKey workspace.KeyVaultProperties
		if app.set() {
			if err := a.fillVaultApp(cmd, &app, &appKey); err != nil {
				return err
			}
		}
		var pin string
		if p11Key {
			var err error
			if pin, err = a.pin(cmd, &p11, "pkcs11-"); err != nil {
				return err
			}
		}
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		current, _, rg, err := m.findCluster(ctx, rf.name, rf.resourceGroup, "-g")
		if err == nil && p11Key && pin == "" {
			if cur := current.Properties.KeyVaultProperties; cur == nil || cur.KeySource != workspace.KeySourcePKCS11 || cur.PKCS11ModulePath != p11.module || cur.PKCS11TokenLabel != p11.token {
				return usagef("token %q is new to cluster %s, so its user PIN is needed: set %s, or pipe it in with --pkcs11-pin-stdin",
					p11.token, current.Name, pkcs11PINEnv)
			}
		}
		if err != nil {
			return err
		}
		if kmsKey && kms.AWSSecretAccessKey == "" {
			if cur := current.Properties.KeyVaultProperties; cur == nil || cur.KeySource != workspace.KeySourceAWSKMS || cur.AWSAccessKeyID != kms.AWSAccessKeyID {
				return usagef("access key %s is new to cluster %s, so its secret is needed: set AWS_SECRET_ACCESS_KEY, or pipe it in with --aws-secret-access-key-stdin",
					kms.AWSAccessKeyID, current.Name)
			}
		}
		if vaultName != "" {
			v, _, _, err := m.find(ctx, vaultName, "")
			if err != nil {
				return err
			}
			vaultURI = v.Properties.VaultURI
		}
		body := map[string]any{}
		if f.Changed("capacity") {
			body["sku"] = map[string]any{"name": "CapacityReservation", "capacity": capacity}
		}
		switch {
		case kmsKey:
			kms.KeySource = workspace.KeySourceAWSKMS
			body["properties"] = map[string]any{"keyVaultProperties": kms}
		case p11Key:
			body["properties"] = map[string]any{"keyVaultProperties": workspace.KeyVaultProperties{KeySource: workspace.KeySourcePKCS11,
				PKCS11ModulePath: p11.module, PKCS11TokenLabel: p11.token, PKCS11KeyLabel: p11.label, PKCS11PIN: pin}}
		case vaultKey:
			appKey.KeySource, appKey.KeyVaultURI, appKey.KeyName, appKey.KeyVersion = keySource, vaultURI, keyName, keyVersion
			body["properties"] = map[string]any{"keyVaultProperties": appKey}
		}
		var raw json.RawMessage
		if err := m.cl.Do(ctx, http.MethodPatch, m.opsPath(kindCluster, rg, current.Name, ""), client.AudienceManagement, body, &raw); err != nil {
			return fmt.Errorf("update cluster %s: %w", current.Name, err)
		}
		c, err := decodeCluster(raw)
		if err != nil {
			return err
		}
		return a.printCluster(cmd.OutOrStdout(), c, raw)
	})
	rf.register(cmd, kindCluster.noun)
	f := cmd.Flags()
	f.IntVar(&capacity, "capacity", 0, "new commitment tier in GB/day")
	f.StringVar(&keySource, "key-source", "", "where the key lives: keyvault (the default), aws-kms or pkcs11")
	completeValues(cmd, "key-source", workspace.KeySourceKeyVault, workspace.KeySourceAWSKMS, workspace.KeySourcePKCS11)
	p11.register(cmd, "pkcs11-")
	app.register(cmd)
	f.StringVar(&vaultURI, "key-vault-uri", "", "the key's vault, such as https://myvault.vault.localhost:8443/")
	f.StringVar(&vaultName, "key-vault", "", "the key's vault by name, instead of --key-vault-uri")
	f.StringVar(&keyName, "key-name", "", "the key's name")
	f.StringVar(&keyVersion, "key-version", "", "pin this key version; empty follows the key's latest version")
	f.StringVar(&kms.KMSKeyARN, "kms-key-arn", "", "aws-kms: the key's ARN, key ID, alias/NAME or alias ARN")
	f.StringVar(&kms.AWSRegion, "aws-region", "", "aws-kms: the key's region, such as eu-west-1")
	f.StringVar(&kms.KMSEndpoint, "kms-endpoint", "", "aws-kms: an endpoint other than the region's, such as a VPC endpoint")
	f.StringVar(&kms.AWSAccessKeyID, "aws-access-key-id", "", "aws-kms: the access key the cluster signs with; default AWS_ACCESS_KEY_ID")
	f.BoolVar(&secretStdin, "aws-secret-access-key-stdin", false, "aws-kms: read the access key's secret from standard input instead of AWS_SECRET_ACCESS_KEY")
	return cmd
}

// awsCredentials completes kms's access key from the environment, and its
// secret from standard input when fromStdin. A secret never comes from a
// flag: command lines are seen by every user of the machine and kept in
// shell histories.
func (a *app) awsCredentials(cmd *cobra.Command, kms *workspace.KeyVaultProperties, fromStdin bool) error {
	if kms.AWSAccessKeyID == "" {
		kms.AWSAccessKeyID = a.env.Getenv("AWS_ACCESS_KEY_ID")
	}
	if kms.AWSAccessKeyID == "" {
		return usagef("--key-source aws-kms needs the access key the cluster signs its KMS calls with: --aws-access-key-id or AWS_ACCESS_KEY_ID")
	}
	if !fromStdin {
		kms.AWSSecretAccessKey = a.env.Getenv("AWS_SECRET_ACCESS_KEY")
		return nil
	}
	line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the access key's secret from standard input: %w", err)
	}
	kms.AWSSecretAccessKey = strings.TrimRight(line, "\r\n")
	if kms.AWSSecretAccessKey == "" {
		return usagef("--aws-secret-access-key-stdin read no secret from standard input")
	}
	return nil
}

func (a *app) clusterShowCommand(subscription *string) *cobra.Command {
	return showCommand(a, subscription, kindCluster, "show --name C", "Show a cluster, the state of its key, its principals and workspaces", decodeCluster, a.printCluster)
}

func (a *app) clusterDeleteCommand(subscription *string) *cobra.Command {
	return deleteCommand(a, subscription, kindCluster, "delete --name C",
		"Delete a cluster with no linked workspaces, its identity and its account keys", "Deleted cluster %s.\n")
}

func (a *app) clusterListCommand(subscription *string) *cobra.Command {
	return listCommand(a, subscription, kindCluster, "List clusters and the state of their keys", "clusters", decodeCluster, clusterHeader, clusterRow)
}

// keyVersionUsage is one row of a cluster's key usage report: a key version
// and the account keys of one resource (logs or documents) it wraps now.
type keyVersionUsage struct {
	Resource    string    `json:"resource"`
	KeyURI      string    `json:"keyUri"`
	AccountKeys []string  `json:"accountKeys"`
	InUse       bool      `json:"inUse"`
	LastWrap    time.Time `json:"lastWrap"`
	LastUnwrap  time.Time `json:"lastUnwrap"`
}

// idleVersions are the key versions that wrap no account key of any
// resource, in the report's order: they can be disabled. A version counts as
// used while either resource still depends on it.
func idleVersions(rows []keyVersionUsage) []string {
	used := map[string]bool{}
	for _, r := range rows {
		used[r.KeyURI] = used[r.KeyURI] || r.InUse
	}
	var idle []string
	seen := map[string]bool{}
	for _, r := range rows {
		if !used[r.KeyURI] && !seen[r.KeyURI] {
			seen[r.KeyURI] = true
			idle = append(idle, r.KeyURI)
		}
	}
	return idle
}

// keyColumns are the VAULT, KEY and VERSION of a key version's URI: a Key
// Vault key ID, or an AWS KMS key ARN (the key is its version there).
func keyColumns(uri string) (vault, key, version string) {
	if region, ok := kmsKeyRegion(uri); ok {
		return "aws-kms " + region, uri, "-"
	}
	if token, label, id, ok := pkcs11Parts(uri); ok {
		return "pkcs11 " + token, label, id
	}
	key, version = kidParts(uri)
	return vaultNameOf(uri), key, version
}

// pkcs11Parts reads the token, key label and CKA_ID (hex) of a PKCS#11
// key object's URI, pkcs11:token=T;object=L;type=secret-key;id=%01.
func pkcs11Parts(uri string) (token, label, id string, ok bool) {
	rest, ok := strings.CutPrefix(uri, "pkcs11:")
	if !ok {
		return "", "", "", false
	}
	for _, attr := range strings.Split(rest, ";") {
		name, value, _ := strings.Cut(attr, "=")
		v, err := url.PathUnescape(value)
		if err != nil {
			return "", "", "", false
		}
		switch name {
		case "token":
			token = v
		case "object":
			label = v
		case "id":
			id = hex.EncodeToString([]byte(v))
		}
	}
	return token, label, id, token != "" && label != "" && id != ""
}

// kmsKeyRegion is the region of an AWS KMS key ARN,
// arn:PARTITION:kms:REGION:ACCOUNT:key/ID.
func kmsKeyRegion(uri string) (string, bool) {
	parts := strings.SplitN(uri, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kms" || !strings.HasPrefix(parts[5], "key/") {
		return "", false
	}
	return parts[3], true
}

// vaultNameOf is the vault a key URI's host names: https://{vault}.{suffix}/keys/...
func vaultNameOf(keyURI string) string {
	u, err := url.Parse(keyURI)
	if err != nil {
		return ""
	}
	name, _, _ := strings.Cut(u.Hostname(), ".")
	return name
}

func (a *app) clusterKeyUsageCommand(subscription *string) *cobra.Command {
	var rf resourceFlags
	cmd := &cobra.Command{
		Use:   "key-usage --name C",
		Short: "Show which key versions wrap the cluster's account keys, and which can be disabled",
		Long: "key-usage lists every version of the cluster's key that has wrapped its account keys, and\n" +
			"which of them each wraps now. After a rotation the account keys are rewrapped under the new\n" +
			"version at the next key check; a version that wraps nothing can then be disabled.",
		Args: cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		c, _, rg, err := m.findCluster(ctx, rf.name, rf.resourceGroup, "-g")
		if err != nil {
			return err
		}
		var body struct {
			Value []json.RawMessage `json:"value"`
		}
		if err := m.cl.Do(ctx, http.MethodGet, m.opsPath(kindCluster, rg, c.Name, "/keyUsage"), client.AudienceManagement, nil, &body); err != nil {
			return fmt.Errorf("get the key usage of cluster %s: %w", c.Name, err)
		}
		w := cmd.OutOrStdout()
		if a.output == outputJSON {
			return writeJSONList(w, body.Value)
		}
		usage := make([]keyVersionUsage, 0, len(body.Value))
		rows := make([][]string, 0, len(body.Value))
		for _, it := range body.Value {
			var u keyVersionUsage
			if err := json.Unmarshal(it, &u); err != nil {
				return fmt.Errorf("decode the key usage: %w", err)
			}
			usage = append(usage, u)
			vault, name, version := keyColumns(u.KeyURI)
			rows = append(rows, []string{u.Resource, vault, name, version, yesNo(&u.InUse),
				strconv.Itoa(len(u.AccountKeys)), rfc3339(u.LastWrap), rfc3339(u.LastUnwrap)})
		}
		if err := writeTable(w, []string{"RESOURCE", "VAULT", "KEY", "VERSION", "IN USE", "ACCOUNT KEYS", "LAST WRAP", "LAST UNWRAP"}, rows); err != nil {
			return err
		}
		idle := idleVersions(usage)
		switch {
		case len(usage) == 0:
			fmt.Fprintf(w, "\nCluster %s has no customer-managed key yet; nothing is wrapped.\n", clean(c.Name))
		case len(idle) == 0:
			fmt.Fprintf(w, "\nEvery version listed still wraps account keys; none can be disabled yet.\n")
		default:
			names := make([]string, len(idle))
			for i, uri := range idle {
				_, name, version := keyColumns(uri)
				names[i] = name + "/" + version
				if region, ok := kmsKeyRegion(uri); ok {
					names[i] = uri + " (" + region + ")"
				}
			}
			fmt.Fprintf(w, "\nThese versions wrap nothing and can be disabled: %s\n", clean(strings.Join(names, ", ")))
			for _, uri := range idle {
				if region, ok := kmsKeyRegion(uri); ok {
					fmt.Fprintf(w, "  aws kms disable-key --key-id %s --region %s\n", clean(uri), clean(region))
					continue
				}
				if token, label, id, ok := pkcs11Parts(uri); ok {
					mod := "MODULE"
					if kv := c.Properties.KeyVaultProperties; kv != nil && kv.PKCS11TokenLabel == token {
						mod = kv.PKCS11ModulePath
					}
					fmt.Fprintf(w, "  sealwatch pkcs11 key disable --module %s --token %s --key-label %s --id %s\n",
						shellQuote(clean(mod)), shellQuote(clean(token)), shellQuote(clean(label)), clean(id))
					continue
				}
				name, version := kidParts(uri)
				fmt.Fprintf(w, "  sealwatch keyvault key set-attributes --vault-name %s --name %s --version %s --enabled=false\n",
					clean(vaultNameOf(uri)), clean(name), clean(version))
			}
		}
		return nil
	})
	rf.register(cmd, kindCluster.noun)
	return cmd
}

// clusterWaitCommand waits for a cluster's key to reach a state, or for its
// account keys to be rewrapped by the key's latest version, as the cloud
// CLI's wait commands do: both change at the next key check, so scripts (and
// the README's walkthrough) wait for them rather than sleep.
func (a *app) clusterWaitCommand(subscription *string) *cobra.Command {
	var (
		rf        resourceFlags
		state     string
		rewrapped bool
		timeout   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "wait --name C (--key-state Accessible|Revoked|Unreachable|Locked | --rewrapped) [--timeout 2m]",
		Short: "Wait until a cluster's key is in a state, or its data keys are wrapped by the key's latest version",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = a.action(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		switch {
		case timeout <= 0:
			return usagef("--timeout must be more than 0, such as 2m, not %s", timeout)
		case rewrapped && state != "":
			return usagef("give --key-state or --rewrapped, not both")
		case rewrapped:
		case state == "Accessible", state == "Revoked", state == "Unreachable", state == "Locked":
		default:
			return usagef("--key-state must be Accessible, Revoked, Unreachable or Locked (or use --rewrapped), not %q", state)
		}
		m, err := a.mgmt(*subscription)
		if err != nil {
			return err
		}
		var reached string
		err = waitUntil(ctx, timeout, 500*time.Millisecond, fmt.Sprintf("the node had not yet said where cluster %s is", rf.name),
			"the key state and the account keys' wrapping change at the node's next key check (sealwatch up --key-check-interval)",
			func(ctx context.Context) (bool, string, error) {
				c, _, rg, err := m.findCluster(ctx, rf.name, rf.resourceGroup, "-g")
				if err != nil {
					return false, "", err
				}
				done, now, err := a.clusterReached(ctx, m, c, rg, state, rewrapped)
				switch {
				case err != nil:
					return false, "", err
				case done:
					reached = fmt.Sprintf("cluster %s: %s", c.Name, now)
				case rewrapped:
					return false, fmt.Sprintf("cluster %s still has %s", c.Name, now), nil
				}
				return done, fmt.Sprintf("cluster %s is still in state %s (waiting for %s)", c.Name, c.Properties.KeyState, state), nil
			})
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), clean(reached))
		return nil
	})
	rf.register(cmd, kindCluster.noun)
	cmd.Flags().StringVar(&state, "key-state", "", "key state to wait for")
	completeValues(cmd, "key-state", "Accessible", "Revoked", "Unreachable", "Locked")
	cmd.Flags().BoolVar(&rewrapped, "rewrapped", false, "wait until every account key is wrapped by the key's latest version")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait")
	return cmd
}

// clusterReached reports whether the cluster is where wait wants it, and
// says where it is.
func (a *app) clusterReached(ctx context.Context, m *mgmt, c *clusterResource, rg, state string, rewrapped bool) (bool, string, error) {
	if !rewrapped {
		return c.Properties.KeyState == state, "key " + c.Properties.KeyState, nil
	}
	kv := c.Properties.KeyVaultProperties
	if kv != nil && kv.KeySource == workspace.KeySourcePKCS11 {
		return false, "", fmt.Errorf("cluster %s's key is on PKCS#11 token %s, which the node reads and the CLI does not: `sealwatch cluster key-usage` shows which versions wrap the account keys "+
			"(`sealwatch cluster update` with the key again rewraps them under the newest at once)", c.Name, kv.PKCS11TokenLabel)
	}
	if !c.hasKey() {
		return false, "", fmt.Errorf("cluster %s has no key; set one with `sealwatch cluster update`", c.Name)
	}
	var latest string
	var err error
	if kv.KeySource == workspace.KeySourceAWSKMS {
		latest, err = a.kmsKeyInForce(ctx, kv)
	} else {
		latest, err = vaultKeyInForce(ctx, m, kv)
	}
	if err != nil {
		return false, "", err
	}
	var usage struct {
		Value []keyVersionUsage `json:"value"`
	}
	if err := m.cl.Do(ctx, http.MethodGet, m.opsPath(kindCluster, rg, c.Name, "/keyUsage"), client.AudienceManagement, nil, &usage); err != nil {
		return false, "", fmt.Errorf("get the key usage of cluster %s: %w", c.Name, err)
	}
	for _, u := range usage.Value {
		if u.InUse && u.KeyURI != latest {
			return false, "account keys wrapped by the older key version " + u.KeyURI, nil
		}
	}
	return true, "every account key is wrapped by " + latest, nil
}

// vaultKeyInForce is the key version a Key Vault key's cluster wraps with
// now: the pinned one, or the latest, as the vault names it.
func vaultKeyInForce(ctx context.Context, m *mgmt, kv *workspace.KeyVaultProperties) (string, error) {
	var key struct {
		Key struct {
			KID string `json:"kid"`
		} `json:"key"`
	}
	keyURL := strings.TrimRight(kv.KeyVaultURI, "/") + "/keys/" + kv.KeyName
	if kv.KeyVersion != "" {
		keyURL += "/" + kv.KeyVersion
	}
	if err := m.cl.Do(ctx, http.MethodGet, keyURL+"?api-version="+keysAPIVersion, client.AudienceVault, nil, &key); err != nil {
		return "", fmt.Errorf("read key %s: %w", kv.KeyName, err)
	}
	return key.Key.KID, nil
}

// kmsKeyInForce is the key ARN an AWS KMS key's cluster wraps with now —
// an alias's target — as DescribeKey names it, asked with the caller's
// own AWS credentials from the environment (the node's are not shown).
func (a *app) kmsKeyInForce(ctx context.Context, kv *workspace.KeyVaultProperties) (string, error) {
	id, secret := a.env.Getenv("AWS_ACCESS_KEY_ID"), a.env.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return "", fmt.Errorf("waiting for the rewrap under AWS KMS key %s reads the key with kms:DescribeKey: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to an access key that may, "+
			"or read `sealwatch cluster key-usage`", kv.KMSKeyARN)
	}
	opts := kms.Options{Region: kv.AWSRegion, Credentials: credentials.NewStaticCredentialsProvider(id, secret, a.env.Getenv("AWS_SESSION_TOKEN"))}
	if kv.KMSEndpoint != "" {
		opts.BaseEndpoint = aws.String(kv.KMSEndpoint)
	}
	out, err := kms.New(opts).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(kv.KMSKeyARN)})
	if err != nil {
		return "", fmt.Errorf("describe AWS KMS key %s: %w", kv.KMSKeyARN, err)
	}
	if out.KeyMetadata == nil || aws.ToString(out.KeyMetadata.Arn) == "" {
		return "", fmt.Errorf("describe AWS KMS key %s: the answer names no key ARN", kv.KMSKeyARN)
	}
	return aws.ToString(out.KeyMetadata.Arn), nil
}
