package workspace

import "time"

// Resource type names, as the management API spells them.
const (
	TypeCluster    = "Microsoft.OperationalInsights/clusters"
	TypeWorkspace  = "Microsoft.OperationalInsights/workspaces"
	TypeLink       = "Microsoft.OperationalInsights/workspaces/linkedServices"
	TypeOnboarding = "Microsoft.SecurityInsights/onboardingStates"
)

// Capacity tiers of a cluster's commitment, in GB per day.
var CapacityTiers = []int{100, 200, 300, 400, 500, 1000, 2000, 5000, 10000, 25000, 50000}

// MaxWorkspacesPerCluster bounds how many workspaces share one cluster's key.
const MaxWorkspacesPerCluster = 1000

// ManagedIdentity is a resource's identity block.
type ManagedIdentity struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId,omitempty"`
	TenantID    string `json:"tenantId,omitempty"`
}

// ClusterSKU is a cluster's capacity commitment.
type ClusterSKU struct {
	Name     string `json:"name"` // CapacityReservation
	Capacity int    `json:"capacity"`
}

// Key sources: the key services a cluster's key can live in.
const (
	KeySourceKeyVault = "keyvault" // a Key Vault: Sealwatch's own, or the cloud's
	KeySourceAWSKMS   = "aws-kms"
	KeySourcePKCS11   = "pkcs11" // a hardware security module, or any PKCS#11 token
)

// KeyVaultProperties name the customer's key. KeySource says which key
// service holds it ("" is a Key Vault); each source reads its own fields.
//
// Key Vault: an empty KeyVersion follows the key's latest version
// (automatic rotation); a set one pins it. The key is used as the cluster's
// identity (and the document-store principal) in this node's tenant, or,
// with KeyVaultClientID, as an application registered in the vault's own
// tenant KeyVaultTenantID, signing in at KeyVaultAuthorityHost (default
// the cloud's) with one of a client secret, a client certificate (PEM with
// its private key) — both write-only like the access key's secret below —
// or a federated token file on the node (workload identity), read at each
// sign-in.
//
// AWS KMS: KMSKeyARN is a key ARN, key ID, alias name or alias ARN, in
// AWSRegion; KMSEndpoint overrides the regional endpoint. The access key
// signs the calls; its secret is write-only: accepted on PUT and PATCH,
// stored sealed, never returned.
//
// PKCS#11: the AES key objects labelled PKCS11KeyLabel on the token
// labelled PKCS11TokenLabel, through the module library at
// PKCS11ModulePath (one the node was started to allow); each object is a
// version, the highest CKA_ID the current one. The user PIN is write-only
// like the access key's secret.
type KeyVaultProperties struct {
	KeySource   string `json:"keySource,omitempty"`
	KeyVaultURI string `json:"keyVaultUri"`
	KeyName     string `json:"keyName"`
	KeyVersion  string `json:"keyVersion"`

	KeyVaultTenantID           string `json:"keyVaultTenantId,omitempty"`
	KeyVaultClientID           string `json:"keyVaultClientId,omitempty"`
	KeyVaultClientSecret       string `json:"keyVaultClientSecret,omitempty"`
	KeyVaultClientCertificate  string `json:"keyVaultClientCertificate,omitempty"`
	KeyVaultFederatedTokenFile string `json:"keyVaultFederatedTokenFile,omitempty"`
	KeyVaultAuthorityHost      string `json:"keyVaultAuthorityHost,omitempty"`

	KMSKeyARN          string `json:"kmsKeyArn,omitempty"`
	AWSRegion          string `json:"awsRegion,omitempty"`
	KMSEndpoint        string `json:"kmsEndpoint,omitempty"`
	AWSAccessKeyID     string `json:"awsAccessKeyId,omitempty"`
	AWSSecretAccessKey string `json:"awsSecretAccessKey,omitempty"`

	PKCS11ModulePath string `json:"pkcs11ModulePath,omitempty"`
	PKCS11TokenLabel string `json:"pkcs11TokenLabel,omitempty"`
	PKCS11KeyLabel   string `json:"pkcs11KeyLabel,omitempty"`
	PKCS11PIN        string `json:"pkcs11Pin,omitempty"`
}

// IsSet reports whether a key is named at all.
func (k *KeyVaultProperties) IsSet() bool {
	return k != nil && (k.KeySource != "" || k.KeyVaultURI != "" || k.KeyName != "" || k.KMSKeyARN != "" || k.PKCS11KeyLabel != "")
}

// Source is the key service, KeySourceKeyVault when KeySource is empty.
func (k *KeyVaultProperties) Source() string {
	if k.KeySource == "" {
		return KeySourceKeyVault
	}
	return k.KeySource
}

// AssociatedWorkspace is a workspace linked to a cluster.
type AssociatedWorkspace struct {
	WorkspaceID   string    `json:"workspaceId"` // the workspace's customerId
	WorkspaceName string    `json:"workspaceName"`
	ResourceID    string    `json:"resourceId"`
	AssociateDate time.Time `json:"associateDate"`
}

// ClusterProperties are a cluster's properties.
type ClusterProperties struct {
	ClusterID            string                `json:"clusterId"`
	ProvisioningState    string                `json:"provisioningState"`
	KeyVaultProperties   *KeyVaultProperties   `json:"keyVaultProperties,omitempty"`
	AssociatedWorkspaces []AssociatedWorkspace `json:"associatedWorkspaces"`
	BillingType          string                `json:"billingType"`
	CreatedDate          time.Time             `json:"createdDate"`
	LastModifiedDate     time.Time             `json:"lastModifiedDate"`
	// KeyState is Sealwatch's addition: whether the key is in force now
	// (Accessible, Unreachable, Locked, Revoked), and the document-store
	// principal the customer must also grant.
	KeyState                 string `json:"keyState,omitempty"`
	DocumentStorePrincipalID string `json:"documentStorePrincipalId,omitempty"`
	// LastKeyCheckDate and KeyCheckError, Sealwatch's too, say when the key
	// was last proven usable or not, and what the key service answered
	// when it was not.
	LastKeyCheckDate *time.Time `json:"lastKeyCheckDate,omitempty"`
	KeyCheckError    string     `json:"keyCheckError,omitempty"`
}

// Cluster is a Microsoft.OperationalInsights/clusters resource.
type Cluster struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	Identity   ManagedIdentity   `json:"identity"`
	SKU        ClusterSKU        `json:"sku"`
	Properties ClusterProperties `json:"properties"`
}

// ClusterParameters is the body of a cluster PUT or PATCH. Nil fields are
// absent: on PATCH they keep their value.
type ClusterParameters struct {
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	Identity   *ManagedIdentity  `json:"identity,omitempty"`
	SKU        *ClusterSKU       `json:"sku,omitempty"`
	Properties *struct {
		KeyVaultProperties *KeyVaultProperties `json:"keyVaultProperties,omitempty"`
	} `json:"properties,omitempty"`
}

// WorkspaceSKU is a workspace's pricing tier.
type WorkspaceSKU struct {
	Name string `json:"name"` // PerGB2018, or LACluster once linked
}

// Feature is a preview feature of a workspace and whether it may run on data
// sealed under a customer-managed key.
type Feature struct {
	Name         string `json:"name"`
	Enabled      bool   `json:"enabled"`
	CMKSupported bool   `json:"cmkSupported"`
	Description  string `json:"description"`
}

// WorkspaceProperties are a workspace's properties.
type WorkspaceProperties struct {
	CustomerID        string       `json:"customerId"`
	ProvisioningState string       `json:"provisioningState"`
	RetentionInDays   int          `json:"retentionInDays"`
	SKU               WorkspaceSKU `json:"sku"`
	CreatedDate       time.Time    `json:"createdDate"`
	ModifiedDate      time.Time    `json:"modifiedDate"`
	// ClusterResourceID is the linked cluster, empty when none.
	ClusterResourceID string    `json:"clusterResourceId,omitempty"`
	Features          []Feature `json:"features"`
	// DataIntegrity is Sealwatch's addition: whether damaged sealed data
	// has been found (set by the API from the data plane).
	DataIntegrity *DataIntegrity `json:"dataIntegrity,omitempty"`
	// KeyState, Sealwatch's too, is the keyState of the cluster whose
	// customer-managed key seals the workspace's data; empty under the
	// platform key.
	KeyState string `json:"keyState,omitempty"`
}

// DataIntegrity is what is known of a workspace's sealed data: Healthy, or
// Damaged with how many objects, and when it was last verified whole.
type DataIntegrity struct {
	State          string     `json:"state"`
	DamagedObjects int        `json:"damagedObjects"`
	LastVerified   *time.Time `json:"lastVerified,omitempty"`
}

// Workspace is a Microsoft.OperationalInsights/workspaces resource.
type Workspace struct {
	ID         string              `json:"id"`
	Name       string              `json:"name"`
	Type       string              `json:"type"`
	Location   string              `json:"location"`
	Tags       map[string]string   `json:"tags,omitempty"`
	Properties WorkspaceProperties `json:"properties"`
}

// WorkspaceParameters is the body of a workspace PUT.
type WorkspaceParameters struct {
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties *struct {
		RetentionInDays *int          `json:"retentionInDays,omitempty"`
		SKU             *WorkspaceSKU `json:"sku,omitempty"`
		Features        []Feature     `json:"features,omitempty"`
	} `json:"properties,omitempty"`
}

// SharedKeys sign HTTP Data Collector API requests for a workspace.
type SharedKeys struct {
	PrimarySharedKey   string `json:"primarySharedKey"`
	SecondarySharedKey string `json:"secondarySharedKey"`
}

// LinkedService links a workspace to a cluster.
type LinkedService struct {
	ID         string `json:"id"`
	Name       string `json:"name"` // always "cluster"
	Type       string `json:"type"`
	Properties struct {
		WriteAccessResourceID string `json:"writeAccessResourceId"`
		ProvisioningState     string `json:"provisioningState"`
	} `json:"properties"`
}

// OnboardingState says a workspace is onboarded to the security workspace
// features, and whether under the customer-managed key.
type OnboardingState struct {
	ID         string `json:"id"`
	Name       string `json:"name"` // always "default"
	Type       string `json:"type"`
	Etag       string `json:"etag,omitempty"`
	Properties struct {
		CustomerManagedKey bool `json:"customerManagedKey"`
	} `json:"properties"`
}
