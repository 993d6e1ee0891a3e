package workspace

import (
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
)

// keySource is what the control plane knows of one key service: how to
// check a key's properties before anything is asked of the service, and
// which property, if any, is a secret — held sealed, never returned.
type keySource struct {
	valid func(kv *KeyVaultProperties) error
	// fields are the source's own properties by their JSON names; those of
	// other sources are refused on a key of this one.
	fields func(kv *KeyVaultProperties) map[string]string
	secret func(kv *KeyVaultProperties) *string // nil: the source has none
	// holder names what the secret opens (an access key, a token) and
	// where it is sent: a key change that keeps both may leave the secret
	// out and keep the stored one. A change of where (another endpoint,
	// region, module) needs the secret again: otherwise a caller who never
	// had it could point the node's signed calls at a server of its own.
	holder func(kv *KeyVaultProperties) string
}

// keySources are the key services a cluster's key can live in, by KeySource.
var keySources = map[string]keySource{
	KeySourceKeyVault: {
		valid: validKeyVaultProperties,
		fields: func(kv *KeyVaultProperties) map[string]string {
			return map[string]string{"keyVaultUri": kv.KeyVaultURI, "keyName": kv.KeyName, "keyVersion": kv.KeyVersion}
		},
	},
	KeySourceAWSKMS: {
		valid: validAWSKMSProperties,
		fields: func(kv *KeyVaultProperties) map[string]string {
			return map[string]string{"kmsKeyArn": kv.KMSKeyARN, "awsRegion": kv.AWSRegion, "kmsEndpoint": kv.KMSEndpoint,
				"awsAccessKeyId": kv.AWSAccessKeyID, "awsSecretAccessKey": kv.AWSSecretAccessKey}
		},
		secret: func(kv *KeyVaultProperties) *string { return &kv.AWSSecretAccessKey },
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
		secret: func(kv *KeyVaultProperties) *string { return &kv.PKCS11PIN },
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

// secretOf points at kv's secret property, or is nil when its source has none.
func secretOf(kv *KeyVaultProperties) *string {
	if src, ok := keySources[kv.Source()]; ok && src.secret != nil {
		return src.secret(kv)
	}
	return nil
}

// sameSecretHolder says a and b are keys of one source whose secret opens
// the same thing (access key, token).
func sameSecretHolder(a, b *KeyVaultProperties) bool {
	src, ok := keySources[a.Source()]
	return ok && a.Source() == b.Source() && src.holder != nil && src.holder(a) == src.holder(b)
}

// withoutSecret is kv with its secret property emptied, as it is stored
// and shown.
func withoutSecret(kv KeyVaultProperties) KeyVaultProperties {
	if p := secretOf(&kv); p != nil {
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
