package vault

import (
	"slices"
	"strings"

	"github.com/sealwatch/sealwatch/internal/fault"
)

// validateVaultName applies the cloud's rules for vault names. They are host
// labels ({name}.{dnsSuffix}), hence the letters-digits-hyphens alphabet and
// case-insensitive uniqueness. Each rule has its own inner code so a caller
// (and a test) can tell which one failed.
func validateVaultName(name string) error {
	bad := func(inner, why string) error {
		return newError(fault.Invalid, CodeVaultNameNotValid, inner,
			"vault name '%s' is not valid: %s. A vault name is 3-24 letters, digits and hyphens, "+
				"starts with a letter, ends with a letter or digit, and has no consecutive hyphens",
			printable(name), why)
	}
	switch {
	case len(name) < 3:
		return bad("NameTooShort", "it is shorter than 3 characters")
	case len(name) > 24:
		return bad("NameTooLong", "it is longer than 24 characters")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isLetter(c) && !isDigit(c) && c != '-' {
			return bad("NameInvalidCharacter", "it contains a character other than a letter, digit or hyphen")
		}
	}
	switch {
	case !isLetter(name[0]):
		return bad("NameMustStartWithLetter", "it does not start with a letter")
	case !isLetter(name[len(name)-1]) && !isDigit(name[len(name)-1]):
		return bad("NameMustEndWithLetterOrDigit", "it does not end with a letter or digit")
	case strings.Contains(name, "--"):
		return bad("NameConsecutiveHyphens", "it contains consecutive hyphens")
	}
	return nil
}

// validateKeyName applies the Key Vault object name rules: 1-127 letters,
// digits and dashes.
func validateKeyName(name string) error {
	if name == "" || len(name) > 127 {
		return badParam(InnerInvalidName, "key name '%s' is not valid: a key name is 1-127 letters, digits and dashes", printable(name))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isLetter(c) && !isDigit(c) && c != '-' {
			return badParam(InnerInvalidName, "key name '%s' is not valid: only letters, digits and dashes are allowed", printable(name))
		}
	}
	return nil
}

// validateVersion accepts "" (latest) or the 32 lowercase hex digits we
// generate; anything else cannot name a version and is refused early.
func validateVersion(name, version string) error {
	if version == "" {
		return nil
	}
	if len(version) != 32 || strings.Trim(version, "0123456789abcdef") != "" {
		return keyNotFound(name, printable(version))
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// printable bounds and sanitises a caller-supplied string before it goes into
// a message, so an error never echoes megabytes or control characters.
func printable(s string) string {
	const limit = 64
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// Key permissions of an access policy, in their canonical spelling.
var keyPermissions = []string{
	"get", "list", "create", "import", "update", "delete", "recover", "purge",
	"backup", "restore", "wrapKey", "unwrapKey", "encrypt", "decrypt", "sign",
	"verify", "rotate", "getrotationpolicy", "setrotationpolicy", "all",
}

// Permission names the Authorize checks the HTTP layer performs.
const (
	PermGet               = "get"
	PermList              = "list"
	PermCreate            = "create"
	PermImport            = "import"
	PermUpdate            = "update"
	PermDelete            = "delete"
	PermRecover           = "recover"
	PermPurge             = "purge"
	PermBackup            = "backup"
	PermRestore           = "restore"
	PermWrapKey           = "wrapKey"
	PermUnwrapKey         = "unwrapKey"
	PermEncrypt           = "encrypt"
	PermDecrypt           = "decrypt"
	PermSign              = "sign"
	PermVerify            = "verify"
	PermRotate            = "rotate"
	PermGetRotationPolicy = "getrotationpolicy"
	PermSetRotationPolicy = "setrotationpolicy"
	PermAll               = "all"
)

// canonicalPermission returns p's canonical spelling, or "" when p is not a
// key permission.
func canonicalPermission(p string) string {
	for _, k := range keyPermissions {
		if strings.EqualFold(k, p) {
			return k
		}
	}
	return ""
}

// canonicalPermissions validates and de-duplicates a permission list, keeping
// the canonical order so stored policies compare equal however they were typed.
func canonicalPermissions(in []string) ([]string, error) {
	seen := map[string]bool{}
	for _, p := range in {
		c := canonicalPermission(p)
		if c == "" {
			return nil, badParam(InnerInvalidPermission, "'%s' is not a key permission; valid permissions are %s",
				printable(p), strings.Join(keyPermissions, ", "))
		}
		seen[c] = true
	}
	out := []string{}
	for _, k := range keyPermissions {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

// Key operations (JWK key_ops) in their canonical spelling.
const (
	OpEncrypt   = "encrypt"
	OpDecrypt   = "decrypt"
	OpSign      = "sign"
	OpVerify    = "verify"
	OpWrapKey   = "wrapKey"
	OpUnwrapKey = "unwrapKey"
)

var (
	rsaKeyOps = []string{OpEncrypt, OpDecrypt, OpWrapKey, OpUnwrapKey, OpSign, OpVerify}
	octKeyOps = []string{OpWrapKey, OpUnwrapKey, OpEncrypt, OpDecrypt}
)

// canonicalKeyOps validates key_ops for a key type. nil means "the default
// for the type"; an empty, non-nil list is kept empty (a key nobody can use).
func canonicalKeyOps(kty string, in []string) ([]string, error) {
	allowed := rsaKeyOps
	if isOct(kty) {
		allowed = octKeyOps
	}
	if in == nil {
		return slices.Clone(allowed), nil
	}
	out := []string{}
	for _, op := range in {
		i := slices.IndexFunc(allowed, func(a string) bool { return strings.EqualFold(a, op) })
		if i < 0 {
			return nil, badParam(InnerInvalidValue, "key operation '%s' is not valid for a %s key; valid operations are %s",
				printable(op), kty, strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, allowed[i]) {
			out = append(out, allowed[i])
		}
	}
	return out, nil
}

// validateTags applies the cloud's limits: at most 15 tags, names up to 512
// characters, values up to 256.
func validateTags(tags map[string]string) error {
	if len(tags) > 15 {
		return badParam(InnerInvalidValue, "%d tags given; an object may have at most 15", len(tags))
	}
	for k, v := range tags {
		if k == "" || len(k) > 512 {
			return badParam(InnerInvalidValue, "tag name '%s' is not valid: tag names are 1-512 characters", printable(k))
		}
		if len(v) > 256 {
			return badParam(InnerInvalidValue, "the value of tag '%s' is longer than 256 characters", printable(k))
		}
	}
	return nil
}
