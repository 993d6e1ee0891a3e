package vault

import (
	"crypto/rsa"
	"crypto/x509"
	"math/big"
	"strings"
)

// parsedKey is an imported JWK, checked and reduced to what the vault stores.
type parsedKey struct {
	kty      string // canonical, -HSM kept when the JWK said so
	bits     int
	rsa      *rsa.PrivateKey // nil for oct
	material []byte          // PKCS#1 DER or the AES key; sealed before storage
}

// parseImportJWK validates an imported JWK. Every refusal is a *fault.Error whose
// message names the field at fault but never echoes its value.
func parseImportJWK(k ImportJSONWebKey) (parsedKey, error) {
	if k.Kty == "" {
		return parsedKey{}, badParam(InnerInvalidValue, "the key's kty is required: RSA or oct")
	}
	if strings.HasPrefix(strings.ToUpper(k.Kty), "EC") {
		return parsedKey{}, badParam(InnerInvalidValue, "elliptic-curve keys cannot be imported; import an RSA or oct key")
	}
	kty, err := canonicalKty(k.Kty)
	if err != nil {
		return parsedKey{}, err
	}
	if isOct(kty) {
		if len(k.K) != 32 {
			return parsedKey{}, badParam(InnerInvalidValue, "an oct key's k must be 32 bytes (AES-256); %d bytes were given", len(k.K))
		}
		return parsedKey{kty: kty, bits: 256, material: append([]byte(nil), k.K...)}, nil
	}
	return parseRSAJWK(kty, k)
}

func parseRSAJWK(kty string, k ImportJSONWebKey) (parsedKey, error) {
	if len(k.N) == 0 || len(k.E) == 0 {
		return parsedKey{}, badParam(InnerInvalidValue, "an RSA key needs n and e")
	}
	if len(k.D) == 0 || len(k.P) == 0 || len(k.Q) == 0 {
		return parsedKey{}, badParam(InnerInvalidValue,
			"public-only RSA keys cannot be imported: the vault needs the private key (d, p and q) to unwrap and decrypt")
	}
	n := new(big.Int).SetBytes(k.N)
	bits := n.BitLen()
	if bits != 2048 && bits != 3072 && bits != 4096 {
		return parsedKey{}, badParam(InnerInvalidValue, "RSA keys of %d bits cannot be imported; use 2048, 3072 or 4096 bits", bits)
	}
	// Bound every private field by the modulus before any arithmetic, so
	// oversized input costs nothing.
	size := (bits + 7) / 8
	for _, f := range []struct {
		name string
		v    []byte
	}{{"d", k.D}, {"p", k.P}, {"q", k.Q}, {"dp", k.DP}, {"dq", k.DQ}, {"qi", k.QI}} {
		if len(trimZeros(f.v)) > size {
			return parsedKey{}, badParam(InnerInvalidValue, "the RSA key's %s is longer than its modulus", f.name)
		}
	}
	e := trimZeros(k.E)
	if len(e) > 4 {
		return parsedKey{}, badParam(InnerInvalidValue, "the RSA key's public exponent e is too large")
	}
	eInt := int(new(big.Int).SetBytes(e).Int64())
	if eInt < 3 || eInt%2 == 0 || eInt >= 1<<31 {
		return parsedKey{}, badParam(InnerInvalidValue, "the RSA key's public exponent e must be an odd number from 3 to 2^31-1")
	}
	priv := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: n, E: eInt},
		D:         new(big.Int).SetBytes(k.D),
		Primes:    []*big.Int{new(big.Int).SetBytes(k.P), new(big.Int).SetBytes(k.Q)},
	}
	// Validate checks that p·q = n and that d inverts e; its error text
	// holds no key values, but we keep our own message regardless.
	if err := priv.Validate(); err != nil {
		return parsedKey{}, badParam(InnerInvalidValue, "the RSA key is not consistent: n, e, d, p and q do not form a valid key")
	}
	priv.Precompute()
	for _, c := range []struct {
		name  string
		given []byte
		want  *big.Int
	}{{"dp", k.DP, priv.Precomputed.Dp}, {"dq", k.DQ, priv.Precomputed.Dq}, {"qi", k.QI, priv.Precomputed.Qinv}} {
		if len(c.given) > 0 && new(big.Int).SetBytes(c.given).Cmp(c.want) != 0 {
			return parsedKey{}, badParam(InnerInvalidValue, "the RSA key's %s does not match its primes", c.name)
		}
	}
	return parsedKey{kty: kty, bits: bits, rsa: priv, material: x509.MarshalPKCS1PrivateKey(priv)}, nil
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}
