package workspace

import (
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// keySource is what the control plane knows of one key service: how to
// check a key's properties before anything is asked of the service, and
// which properties, if any, are secrets — held sealed, never returned.
type keySource struct {
	valid func(kv *KeyVaultProperties) error
	// fields are the source's own properties by their JSON names; those of
	// other sources are refused on a key of this one.
	fields func(kv *KeyVaultProperties) map[string]string
	// secrets are the source's secret properties by their JSON names (nil:
	// the source has none); a key sets at most one of them.
	secrets func(kv *KeyVaultProperties) map[string]*string
	// holder names what the secret opens (an access key, a token, an
	// application) and where it is sent, "" when the key takes no secret: a
	// key change that keeps both may leave the secret out and keep the
	// stored one. A change of where (another endpoint, region, module,
	// authority or vault) needs the secret again: otherwise a caller who
	// never had it could point the node's signed calls at a server of its own.
	holder func(kv *KeyVaultProperties) string
}

// keySources are the key services a cluster's key can live in, by KeySource.
var keySources = map[string]keySource{
	KeySourceKeyVault: {
		valid: validKeyVaultProperties,
		fields: func(kv *KeyVaultProperties) map[string]string {
			return map[string]string{"keyVaultUri": kv.KeyVaultURI, "keyName": kv.KeyName, "keyVersion": kv.KeyVersion,
				"keyVaultTenantId": kv.KeyVaultTenantID, "keyVaultClientId": kv.KeyVaultClientID,
				"keyVaultClientSecret": kv.KeyVaultClientSecret, "keyVaultClientCertificate": kv.KeyVaultClientCertificate,
				"keyVaultFederatedTokenFile": kv.KeyVaultFederatedTokenFile, "keyVaultAuthorityHost": kv.KeyVaultAuthorityHost}
		},
		secrets: func(kv *KeyVaultProperties) map[string]*string {
			return map[string]*string{"keyVaultClientSecret": &kv.KeyVaultClientSecret, "keyVaultClientCertificate": &kv.KeyVaultClientCertificate}
		},
		// A federated token is read from its file at each sign-in: nothing is
		// kept. The client secret goes to the authority, and the tokens it
		// buys to the vault.
		holder: func(kv *KeyVaultProperties) string {
			if kv.KeyVaultClientID == "" || kv.KeyVaultFederatedTokenFile != "" {
				return ""
			}
			return kv.KeyVaultTenantID + "\x00" + kv.KeyVaultClientID + "\x00" + kv.KeyVaultAuthorityHost + "\x00" + vaultHost(kv.KeyVaultURI)
		},
	},
	KeySourceAWSKMS: {
		valid: validAWSKMSProperties,
		fields: func(kv *KeyVaultProperties) map[string]string {
			return map[string]string{"kmsKeyArn": kv.KMSKeyARN, "awsRegion": kv.AWSRegion, "kmsEndpoint": kv.KMSEndpoint,
				"awsAccessKeyId": kv.AWSAccessKeyID, "awsSecretAccessKey": kv.AWSSecretAccessKey}
		},
		secrets: func(kv *KeyVaultProperties) map[string]*string {
			return map[string]*string{"awsSecretAccessKey": &kv.AWSSecretAccessKey}
		},
		holder: func(kv *KeyVaultProperties) string {
			return kv.AWSAccessKeyID + "\x00" + kv.AWSRegion + "\x00" + kv.KMSEndpoint
		},
	},
	KeySourcePKCS11: {
		valid: validPKCS11Properties,
		fields: func(kv *KeyVaultProperties) map[string]string {
			return map[string]string{"pkcs11ModulePath": kv.PKCS11ModulePath, "pkcs11TokenLabel": kv.PKCS11TokenLabel,
				"pkcs11KeyLabel": kv.PKCS11KeyLabel, "pkcs11Pin": kv.PKCS11PIN}
		},
		secrets: func(kv *KeyVaultProperties) map[string]*string {
			return map[string]*string{"pkcs11Pin": &kv.PKCS11PIN}
		},
		holder: func(kv *KeyVaultProperties) string { return kv.PKCS11ModulePath + "\x00" + kv.PKCS11TokenLabel },
	},
}

func setFields(fields map[string]string) []string {
	var set []string
	for name, v := range fields {
		if v != "" {
			set = append(set, name)
		}
	}
	slices.Sort(set)
	return set
}

// validKey checks a key's properties for its source.
func validKey(kv *KeyVaultProperties) error {
	src, ok := keySources[kv.Source()]
	if !ok {
		names := make([]string, 0, len(keySources))
		for name := range keySources {
			names = append(names, name)
		}
		slices.Sort(names)
		return badRequest("keySource must be one of %s, not '%s'", strings.Join(names, ", "), printable(kv.KeySource))
	}
	var others []string
	for name, other := range keySources {
		if name != kv.Source() {
			others = append(others, setFields(other.fields(kv))...)
		}
	}
	slices.Sort(others)
	if len(others) > 0 {
		return badRequest("%s belong to another key source than keySource %s; give only the fields of %s (see docs/api.md)",
			strings.Join(others, ", "), kv.Source(), kv.Source())
	}
	return src.valid(kv)
}

func secretProps(kv *KeyVaultProperties) map[string]*string {
	if src, ok := keySources[kv.Source()]; ok && src.secrets != nil {
		return src.secrets(kv)
	}
	return nil
}

// secretOf is the name and value of kv's secret property that is set; the
// name is "" when none is.
func secretOf(kv *KeyVaultProperties) (name, value string) {
	for n, p := range secretProps(kv) {
		if *p != "" {
			return n, *p
		}
	}
	return "", ""
}

// takesSecret says kv is opened with a secret its properties may leave out
// when the stored key has it.
func takesSecret(kv *KeyVaultProperties) bool {
	src, ok := keySources[kv.Source()]
	return ok && src.holder != nil && src.holder(kv) != ""
}

// sameSecretHolder says a and b are keys of one source whose secret opens
// the same thing (access key, token, application).
func sameSecretHolder(a, b *KeyVaultProperties) bool {
	return a.Source() == b.Source() && takesSecret(a) && keySources[a.Source()].holder(a) == keySources[b.Source()].holder(b)
}

// secretPlaintext is what is sealed of kv's secret: the property's name and
// its value, so that a source with several secret properties gets back the
// one it was given. It is nil when kv holds no secret.
func secretPlaintext(kv *KeyVaultProperties) []byte {
	name, value := secretOf(kv)
	if name == "" {
		return nil
	}
	return []byte(name + "\x00" + value)
}

// putSecret sets the secret property that plain (from secretPlaintext)
// names. A secret sealed before secrets named their property is the value
// alone, of a source's only secret property.
func putSecret(kv *KeyVaultProperties, plain []byte) error {
	props := secretProps(kv)
	name, value, named := strings.Cut(string(plain), "\x00")
	if !named && len(props) == 1 {
		for n := range props {
			name = n
		}
		value = string(plain)
	}
	p, ok := props[name]
	if !ok {
		return fmt.Errorf("the stored secret is not one of key source %s's properties", kv.Source())
	}
	*p = value
	return nil
}

// WithoutSecrets is kv with its secret properties emptied, as it is stored
// and shown: what the key layer may hash into a record of the key in force.
func (kv KeyVaultProperties) WithoutSecrets() KeyVaultProperties { return withoutSecret(kv) }

// withoutSecret is kv with its secret properties emptied, as it is stored
// and shown.
func withoutSecret(kv KeyVaultProperties) KeyVaultProperties {
	for _, p := range secretProps(&kv) {
		*p = ""
	}
	return kv
}

var (
	kmsKeyARN   = regexp.MustCompile(`^arn:aws[a-z-]*:kms:([a-z0-9-]+):[0-9]{12}:(key/[A-Za-z0-9-]+|alias/[A-Za-z0-9/_-]+)$`)
	kmsAlias    = regexp.MustCompile(`^alias/[A-Za-z0-9/_-]{1,250}$`)
	kmsKeyID    = regexp.MustCompile(`^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
	awsRegion   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	awsAccessID = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
)

func validAWSKMSProperties(kv *KeyVaultProperties) error {
	if !awsRegion.MatchString(kv.AWSRegion) {
		if kv.AWSRegion == "" {
			return badRequest("awsRegion is required for keySource aws-kms: the key's region, such as eu-west-1")
		}
		return badRequest("awsRegion must be a region such as eu-west-1, not '%s'", printable(kv.AWSRegion))
	}
	switch m := kmsKeyARN.FindStringSubmatch(kv.KMSKeyARN); {
	case kv.KMSKeyARN == "":
		return badRequest("kmsKeyArn is required for keySource aws-kms: the key's ARN, its key ID, alias/NAME or an alias ARN")
	case m != nil && m[1] != kv.AWSRegion:
		return badRequest("kmsKeyArn names region %s but awsRegion is %s; a key is used in its own region", m[1], kv.AWSRegion)
	case m == nil && !kmsAlias.MatchString(kv.KMSKeyARN) && !kmsKeyID.MatchString(kv.KMSKeyARN):
		return badRequest("kmsKeyArn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), a key ID, alias/NAME or an alias ARN, not '%s'",
			printable(kv.KMSKeyARN))
	}
	if !awsAccessID.MatchString(kv.AWSAccessKeyID) {
		if kv.AWSAccessKeyID == "" {
			return badRequest("awsAccessKeyId is required for keySource aws-kms: the access key the cluster signs its KMS calls with, granted kms:Encrypt, kms:Decrypt and kms:DescribeKey on the key")
		}
		return badRequest("awsAccessKeyId must be an access key ID (16-128 capital letters and digits, such as AKIAIOSFODNN7EXAMPLE), not '%s'", printable(kv.AWSAccessKeyID))
	}
	if kv.AWSSecretAccessKey == "" {
		return badRequest("awsSecretAccessKey is required with awsAccessKeyId %s: it is stored sealed and never returned, so give it whenever the access key changes", kv.AWSAccessKeyID)
	}
	if len(kv.AWSSecretAccessKey) > 128 || strings.IndexFunc(kv.AWSSecretAccessKey, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
		// The value is a secret: never repeat it.
		return badRequest("awsSecretAccessKey must be the access key's secret: up to 128 printable characters without spaces")
	}
	if kv.KMSEndpoint != "" {
		u, err := url.Parse(kv.KMSEndpoint)
		ok := err == nil && u.Host != "" && (u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.User == nil &&
			(u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname())))
		if !ok {
			return badRequest("kmsEndpoint must be an https URL such as https://kms.eu-west-1.amazonaws.com (http only on this machine's loopback, for a local KMS), not '%s'",
				printable(kv.KMSEndpoint))
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// PKCS#11 labels are at most 32 bytes (CK_TOKEN_INFO's label); key labels
// have no bound in the standard, so one is set for sanity.
const (
	maxTokenLabel = 32
	maxKeyLabel   = 255
	maxPIN        = 255
	maxModulePath = 4096
)

func validPKCS11Properties(kv *KeyVaultProperties) error {
	switch p := kv.PKCS11ModulePath; {
	case p == "":
		return badRequest("pkcs11ModulePath is required for keySource pkcs11: the PKCS#11 library on the node, such as /usr/lib/softhsm/libsofthsm2.so")
	case !strings.HasPrefix(p, "/") || path.Clean(p) != p || len(p) > maxModulePath || hasControl(p):
		return badRequest("pkcs11ModulePath must be an absolute, clean file path such as /usr/lib/softhsm/libsofthsm2.so, not '%s'", printable(p))
	}
	switch l := kv.PKCS11TokenLabel; {
	case l == "":
		return badRequest("pkcs11TokenLabel is required for keySource pkcs11: the token's label, as `softhsm2-util --show-slots` or `pkcs11-tool -L` lists it")
	case len(l) > maxTokenLabel || hasControl(l) || strings.TrimRight(l, " ") != l:
		return badRequest("pkcs11TokenLabel must be a token label of up to %d bytes without trailing spaces, not '%s'", maxTokenLabel, printable(l))
	}
	switch l := kv.PKCS11KeyLabel; {
	case l == "":
		return badRequest("pkcs11KeyLabel is required for keySource pkcs11: the CKA_LABEL of the AES key objects on the token")
	case len(l) > maxKeyLabel || hasControl(l):
		return badRequest("pkcs11KeyLabel must be a key label of up to %d bytes, not '%s'", maxKeyLabel, printable(l))
	}
	if kv.PKCS11PIN == "" {
		return badRequest("pkcs11Pin is required for a new token: the token's user PIN; it is stored sealed and never returned, so give it whenever the module or token changes")
	}
	if len(kv.PKCS11PIN) > maxPIN || hasControl(kv.PKCS11PIN) {
		// The value is a secret: never repeat it.
		return badRequest("pkcs11Pin must be the token's user PIN: up to %d bytes, no control characters", maxPIN)
	}
	return nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0
}

// logFields are kv's source and the properties set, for a log line; never
// its secret.
func logFields(kv KeyVaultProperties) []any {
	kv = withoutSecret(kv)
	args := []any{"keySource", kv.Source()}
	src, ok := keySources[kv.Source()]
	if !ok {
		return args
	}
	fields := src.fields(&kv)
	for _, name := range setFields(fields) {
		args = append(args, name, fields[name])
	}
	return args
}

// Bounds of a Key Vault application's credential properties.
const (
	maxDirectoryID  = 128
	maxClientSecret = 1024
	maxCertificate  = 64 << 10
)

var directoryID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*$`)

// validKeyVaultApp checks the application a Key Vault key may be used as,
// in the vault's own tenant: its tenant, its client ID, exactly one
// credential and the authority it signs in at. Without a client ID the
// cluster's own identity is used and none of these may be set.
func validKeyVaultApp(kv *KeyVaultProperties) error {
	creds := map[string]string{"keyVaultClientSecret": kv.KeyVaultClientSecret, "keyVaultClientCertificate": kv.KeyVaultClientCertificate,
		"keyVaultFederatedTokenFile": kv.KeyVaultFederatedTokenFile}
	given := setFields(creds)
	if kv.KeyVaultClientID == "" && kv.KeyVaultTenantID == "" {
		if kv.KeyVaultAuthorityHost != "" {
			given = append(given, "keyVaultAuthorityHost")
		}
		if len(given) > 0 {
			return badRequest("%s need keyVaultTenantId and keyVaultClientId: the application in the vault's tenant that the key is used as",
				strings.Join(given, ", "))
		}
		return nil
	}
	switch t := kv.KeyVaultTenantID; {
	case t == "":
		return badRequest("keyVaultTenantId is required with keyVaultClientId: the ID of the vault's tenant, where the application is registered")
	case len(t) > maxDirectoryID || !directoryID.MatchString(t):
		return badRequest("keyVaultTenantId must be a tenant ID or domain such as 72f988bf-86f1-41af-91ab-2d7cd011db47, not '%s'", printable(t))
	}
	switch c := kv.KeyVaultClientID; {
	case c == "":
		return badRequest("keyVaultClientId is required with keyVaultTenantId: the application (client) ID registered in tenant %s", kv.KeyVaultTenantID)
	case len(c) > maxDirectoryID || !directoryID.MatchString(c):
		return badRequest("keyVaultClientId must be an application (client) ID such as 00001111-aaaa-2222-bbbb-3333cccc4444, not '%s'", printable(c))
	}
	switch len(given) {
	case 0:
		return badRequest("application %s needs its credential: one of keyVaultClientSecret, keyVaultClientCertificate (PEM with its private key) "+
			"or keyVaultFederatedTokenFile; secrets are stored sealed and never returned, so give them again whenever the application changes", kv.KeyVaultClientID)
	case 1:
	default:
		return badRequest("give one credential for application %s, not %s", kv.KeyVaultClientID, strings.Join(given, " and "))
	}
	// The values below are secrets: never repeat them.
	switch {
	case kv.KeyVaultClientSecret != "" && (len(kv.KeyVaultClientSecret) > maxClientSecret || hasControl(kv.KeyVaultClientSecret)):
		return badRequest("keyVaultClientSecret must be the application's client secret: up to %d bytes, no control characters", maxClientSecret)
	case kv.KeyVaultClientCertificate != "" && !validClientCertificate(kv.KeyVaultClientCertificate):
		return badRequest("keyVaultClientCertificate must be PEM holding the application's certificate and its unencrypted RSA private key, up to %d KiB", maxCertificate>>10)
	}
	if f := kv.KeyVaultFederatedTokenFile; f != "" && (!strings.HasPrefix(f, "/") || path.Clean(f) != f || len(f) > maxModulePath || hasControl(f)) {
		return badRequest("keyVaultFederatedTokenFile must be an absolute, clean file path on the node, such as /var/run/secrets/azure/tokens/azure-identity-token, not '%s'", printable(f))
	}
	if a := kv.KeyVaultAuthorityHost; a != "" {
		u, err := url.Parse(a)
		if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return badRequest("keyVaultAuthorityHost must be the https URL of the tenant's sign-in service, such as https://login.microsoftonline.com/ "+
				"(or a Sealwatch node's endpoint), not '%s'", printable(a))
		}
	}
	return nil
}

func validClientCertificate(pemText string) bool {
	if len(pemText) > maxCertificate {
		return false
	}
	// The SDK signs client assertions with RSA keys only.
	certs, key, err := azidentity.ParseCertificates([]byte(pemText), nil)
	_, isRSA := key.(*rsa.PrivateKey)
	return err == nil && len(certs) > 0 && isRSA
}

// vaultHost is the host of a vault URL, lower case, "" when it has none.
func vaultHost(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// String is kv without its secret, so that a %v, %+v or %s of the
// properties (or of a struct holding them) never prints the secret.
func (k KeyVaultProperties) String() string {
	args := logFields(k)
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i+1 < len(args); i += 2 {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%v", args[i], args[i+1])
	}
	if name, _ := secretOf(&k); name != "" {
		fmt.Fprintf(&b, " %s:[redacted]", name)
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String, for %#v.
func (k KeyVaultProperties) GoString() string { return "workspace.KeyVaultProperties" + k.String() }

// LogValue is String, so that a log handler that would marshal the
// struct's fields (slog's JSON handler) never sees the secret.
func (k KeyVaultProperties) LogValue() slog.Value { return slog.StringValue(k.String()) }
