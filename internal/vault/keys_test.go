package vault

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/fault"
)

func TestCreateKeyDefaultsAndBundleShape(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-shape", false, 90)
	tests := []struct {
		name    string
		p       CreateKeyParameters
		kty     string
		ops     string
		modulus int // bytes of n; 0 for oct
	}{
		{"RSA defaults to 2048 bits and six operations", CreateKeyParameters{Kty: "rsa"}, "RSA", "encrypt,decrypt,wrapKey,unwrapKey,sign,verify", 256},
		{"RSA-HSM is an alias", CreateKeyParameters{Kty: "RSA-HSM", KeySize: ptr(2048), PublicExponent: ptr(65537)}, "RSA-HSM", "encrypt,decrypt,wrapKey,unwrapKey,sign,verify", 256},
		{"oct defaults to 256 bits and four operations", CreateKeyParameters{Kty: "oct"}, "oct", "wrapKey,unwrapKey,encrypt,decrypt", 0},
		{"oct-HSM is an alias", CreateKeyParameters{Kty: "OCT-hsm", KeySize: ptr(256)}, "oct-HSM", "wrapKey,unwrapKey,encrypt,decrypt", 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "k" + string(rune('a'+i))
			b := e.createKey("kv-shape", name, tc.p)
			if !strings.HasPrefix(b.Key.KID, "https://kv-shape.vault.localhost:8443/keys/"+name+"/") || len(versionOf(b.Key.KID)) != 32 ||
				strings.Trim(versionOf(b.Key.KID), "0123456789abcdef") != "" {
				t.Fatalf("kid = %s", b.Key.KID)
			}
			if b.Key.Kty != tc.kty || strings.Join(b.Key.KeyOps, ",") != tc.ops || len(b.Key.N) != tc.modulus {
				t.Fatalf("kty %s ops %v n %d bytes", b.Key.Kty, b.Key.KeyOps, len(b.Key.N))
			}
			if tc.modulus > 0 && new(big.Int).SetBytes(b.Key.E).Int64() != 65537 {
				t.Fatalf("e = %x", b.Key.E)
			}
			a := b.Attributes
			if !*a.Enabled || *a.Created != e.clock.Now().Unix() || *a.Updated != *a.Created || a.RecoveryLevel != "Recoverable+Purgeable" || *a.RecoverableDays != 90 {
				t.Fatalf("attributes = %+v", a)
			}
			raw, _ := json.Marshal(b)
			for _, field := range []string{`"d"`, `"p"`, `"q"`, `"k"`, `"dp"`, `"dq"`, `"qi"`} {
				if strings.Contains(string(raw), field+":") {
					t.Fatalf("bundle JSON has private field %s: %s", field, raw)
				}
			}
			for _, field := range []string{`"kid"`, `"kty"`, `"key_ops"`, `"attributes"`, `"enabled"`, `"created"`, `"recoveryLevel"`} {
				if !strings.Contains(string(raw), field) {
					t.Fatalf("bundle JSON lacks %s: %s", field, raw)
				}
			}
			if strings.Contains(string(raw), "=") {
				t.Fatalf("base64url must be unpadded: %s", raw)
			}
		})
	}
}

func TestLargerRSAKeySizes(t *testing.T) {
	if testing.Short() {
		t.Skip("generating 3072- and 4096-bit keys is slow")
	}
	e := newEnv(t)
	e.vault("kv-big", false, 90)
	for _, bits := range []int{3072, 4096} {
		b := e.createKey("kv-big", "rsa", CreateKeyParameters{Kty: "RSA", KeySize: ptr(bits)})
		if len(b.Key.N)*8 != bits {
			t.Fatalf("asked for %d bits, got %d", bits, len(b.Key.N)*8)
		}
	}
}

func TestCreateKeyRefusesWhatTheCloudRefuses(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-refuse", false, 90)
	tooMany := map[string]string{}
	for i := range 16 {
		tooMany[string(rune('a'+i))] = "v"
	}
	tests := []struct {
		name, key string
		p         CreateKeyParameters
	}{
		{"RSA 1024 bits", "k", CreateKeyParameters{Kty: "RSA", KeySize: ptr(1024)}},
		{"oct 128 bits", "k", CreateKeyParameters{Kty: "oct", KeySize: ptr(128)}},
		{"exponent 3", "k", CreateKeyParameters{Kty: "RSA", PublicExponent: ptr(3)}},
		{"EC keys", "k", CreateKeyParameters{Kty: "EC", Curve: "P-256"}},
		{"unknown kty", "k", CreateKeyParameters{Kty: "DSA"}},
		{"16 tags", "k", CreateKeyParameters{Kty: "oct", Tags: tooMany}},
		{"tag name over 512", "k", CreateKeyParameters{Kty: "oct", Tags: map[string]string{strings.Repeat("n", 513): "v"}}},
		{"tag value over 256", "k", CreateKeyParameters{Kty: "oct", Tags: map[string]string{"n": strings.Repeat("v", 257)}}},
		{"exp before nbf", "k", CreateKeyParameters{Kty: "oct", Attributes: &KeyAttributes{NotBefore: ptr(int64(100)), Expires: ptr(int64(50))}}},
		{"name with underscore", "my_key", CreateKeyParameters{Kty: "oct"}},
		{"name over 127", strings.Repeat("k", 128), CreateKeyParameters{Kty: "oct"}},
		{"empty name", "", CreateKeyParameters{Kty: "oct"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateKey(e.ctx, "kv-refuse", tc.key, tc.p)
			wantErr(t, err, ErrBadParameter)
		})
	}
	okTags := map[string]string{strings.Repeat("n", 512): strings.Repeat("v", 256)}
	if _, err := e.svc.CreateKey(e.ctx, "kv-refuse", strings.Repeat("k", 127), CreateKeyParameters{Kty: "oct", Tags: okTags}); err != nil {
		t.Fatalf("limits themselves refused: %v", err)
	}
}

func TestImportedKeysWorkAndBadJWKsAreRefused(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-import", false, 90)
	priv := genRSA(t, 2048)
	b, err := e.svc.ImportKey(e.ctx, "kv-import", "byok", ImportKeyParameters{Key: rsaJWK(priv), HSM: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if b.Key.Kty != "RSA-HSM" || new(big.Int).SetBytes(b.Key.N).Cmp(priv.N) != 0 {
		t.Fatalf("imported bundle kty %s", b.Key.Kty)
	}
	// Something wrapped outside the vault with the public key unwraps inside.
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &priv.PublicKey, []byte("account key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.svc.Unwrap(e.ctx, "kv-import", "byok", "", KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: ct})
	if err != nil || string(out.Value) != "account key" {
		t.Fatalf("unwrap = %q, %v", out, err)
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	if _, err := e.svc.ImportKey(e.ctx, "kv-import", "aes", ImportKeyParameters{Key: ImportJSONWebKey{Kty: "oct", K: k, KeyOps: []string{"wrapKey", "unwrapKey"}}}); err != nil {
		t.Fatal(err)
	}

	public := rsaJWK(priv)
	public.D, public.P, public.Q = nil, nil, nil
	badDP := rsaJWK(priv)
	badDP.DP = new(big.Int).Add(priv.Precomputed.Dp, big.NewInt(2)).Bytes()
	badD := rsaJWK(priv)
	badD.D = new(big.Int).Add(priv.D, big.NewInt(2)).Bytes()
	small := rsaJWK(genRSA(t, 1024))
	tests := []struct {
		name string
		jwk  ImportJSONWebKey
	}{
		{"public-only RSA", public},
		{"RSA of 1024 bits", small},
		{"dp inconsistent with the primes", badDP},
		{"d inconsistent with e", badD},
		{"oct of 16 bytes", ImportJSONWebKey{Kty: "oct", K: k[:16]}},
		{"oct without k", ImportJSONWebKey{Kty: "oct"}},
		{"EC", ImportJSONWebKey{Kty: "EC"}},
		{"no kty", ImportJSONWebKey{K: k}},
		{"sign on an oct key", ImportJSONWebKey{Kty: "oct", K: k, KeyOps: []string{"sign"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.ImportKey(e.ctx, "kv-import", "bad", ImportKeyParameters{Key: tc.jwk})
			wantErr(t, err, ErrBadParameter)
		})
	}
}

func TestImportJWKNeverPrintsItsSecret(t *testing.T) {
	k := ImportJSONWebKey{Kty: "oct", K: []byte("0123456789abcdef0123456789abcdef")}
	for _, s := range []string{k.String(), k.GoString(), k.LogValue().String(), fmtAll(k)} {
		if strings.Contains(s, "0123456789") || strings.Contains(s, "MDEyMzQ1Njc4") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

func TestListKeysAndVersionsAreSorted(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-list", false, 90)
	for _, n := range []string{"zeta", "Alpha", "mid"} {
		e.createKey("kv-list", n, CreateKeyParameters{Kty: "oct"})
	}
	e.clock.Advance(time.Second)
	second := e.createKey("kv-list", "mid", CreateKeyParameters{Kty: "oct"})
	e.clock.Advance(time.Second)
	third, err := e.svc.RotateKey(e.ctx, "kv-list", "mid")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DeleteKey(e.ctx, "kv-list", "zeta"); err != nil {
		t.Fatal(err)
	}
	keys, err := e.svc.ListKeys(e.ctx, "kv-list")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range keys {
		names = append(names, k.KID[strings.LastIndexByte(k.KID, '/')+1:])
	}
	if strings.Join(names, ",") != "Alpha,mid" {
		t.Fatalf("keys = %v (want live keys by name, versionless kids)", names)
	}
	if *keys[1].Attributes.Created != *third.Attributes.Created {
		t.Fatal("list does not show the latest version")
	}
	versions, err := e.svc.ListKeyVersions(e.ctx, "kv-list", "MID")
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != 3 || versions[1].KID != second.Key.KID || versions[2].KID != third.Key.KID {
		t.Fatalf("versions not oldest first: %+v", versions)
	}
	latest, _ := e.svc.GetKey(e.ctx, "kv-list", "mid", "")
	if latest.Key.KID != third.Key.KID {
		t.Fatalf("latest = %s, want %s", latest.Key.KID, third.Key.KID)
	}
}

func TestUpdateKeyLeavesAbsentFieldsAlone(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-upd", false, 90)
	exp := e.clock.Now().Add(48 * time.Hour).Unix()
	b := e.createKey("kv-upd", "k", CreateKeyParameters{Kty: "oct", Tags: map[string]string{"team": "soc"}, Attributes: &KeyAttributes{Expires: &exp}})
	e.clock.Advance(time.Minute)
	u, err := e.svc.UpdateKey(e.ctx, "kv-upd", "k", versionOf(b.Key.KID), UpdateKeyParameters{Attributes: &KeyAttributes{Enabled: ptr(false)}})
	if err != nil {
		t.Fatal(err)
	}
	if *u.Attributes.Enabled || *u.Attributes.Expires != exp || u.Tags["team"] != "soc" || len(u.Key.KeyOps) != 4 {
		t.Fatalf("absent fields changed: %+v", u)
	}
	if *u.Attributes.Updated != e.clock.Now().Unix() || *u.Attributes.Created == *u.Attributes.Updated {
		t.Fatal("updated time not advanced")
	}
	u, err = e.svc.UpdateKey(e.ctx, "kv-upd", "k", "", UpdateKeyParameters{Tags: map[string]string{}})
	if err != nil || len(u.Tags) != 0 || *u.Attributes.Enabled {
		t.Fatalf("empty tags should clear tags only: %+v %v", u, err)
	}
}

func TestRotateKeepsTypeSizeOpsAndTags(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-rot", false, 90)
	first := e.createKey("kv-rot", "k", CreateKeyParameters{Kty: "RSA-HSM", KeyOps: []string{"wrapKey", "unwrapKey"}, Tags: map[string]string{"a": "b"}})
	e.clock.Advance(time.Second)
	next, err := e.svc.RotateKey(e.ctx, "kv-rot", "k")
	if err != nil {
		t.Fatal(err)
	}
	if next.Key.KID == first.Key.KID || next.Key.Kty != "RSA-HSM" || len(next.Key.N) != 256 ||
		strings.Join(next.Key.KeyOps, ",") != "wrapKey,unwrapKey" || next.Tags["a"] != "b" {
		t.Fatalf("rotated bundle = %+v", next)
	}
	if string(next.Key.N) == string(first.Key.N) {
		t.Fatal("rotation reused the key material")
	}
	// The old version still unwraps what it wrapped.
	w, err := e.svc.Wrap(e.ctx, "kv-rot", "k", versionOf(first.Key.KID), KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Unwrap(e.ctx, "kv-rot", "k", versionOf(first.Key.KID), KeyOperationParameters{Algorithm: AlgRSAOAEP256, Value: w.Value}); err != nil {
		t.Fatal(err)
	}
}

func TestSoftDeleteRecoverAndPurgeOfKeys(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-sd", false, 30)
	v1 := e.createKey("kv-sd", "k", CreateKeyParameters{Kty: "oct"})
	v2 := e.createKey("kv-sd", "k", CreateKeyParameters{Kty: "oct"})
	wrapped, err := e.svc.Wrap(e.ctx, "kv-sd", "k", versionOf(v1.Key.KID), KeyOperationParameters{Algorithm: AlgA256KW, Value: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := e.svc.DeleteKey(e.ctx, "kv-sd", "k")
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if deleted.RecoveryID != "https://kv-sd.vault.localhost:8443/deletedkeys/k" || deleted.DeletedDate != now.Unix() ||
		deleted.ScheduledPurgeDate != now.AddDate(0, 0, 30).Unix() || deleted.Key.KID != v2.Key.KID ||
		deleted.Attributes.RecoveryLevel != "CustomizedRecoverable+Purgeable" || *deleted.Attributes.RecoverableDays != 30 {
		t.Fatalf("deleted bundle = %+v", deleted)
	}
	raw, _ := json.Marshal(deleted)
	for _, f := range []string{`"recoveryId"`, `"deletedDate"`, `"scheduledPurgeDate"`, `"key"`, `"attributes"`} {
		if !strings.Contains(string(raw), f) {
			t.Fatalf("deleted bundle JSON lacks %s: %s", f, raw)
		}
	}
	_, err = e.svc.GetKey(e.ctx, "kv-sd", "k", "")
	wantErr(t, err, ErrKeyNotFound)
	_, err = e.svc.Unwrap(e.ctx, "kv-sd", "k", versionOf(v1.Key.KID), KeyOperationParameters{Algorithm: AlgA256KW, Value: wrapped.Value})
	wantErr(t, err, ErrKeyNotFound)
	if keys, _ := e.svc.ListKeys(e.ctx, "kv-sd"); len(keys) != 0 {
		t.Fatalf("deleted key listed: %v", keys)
	}
	list, err := e.svc.ListDeletedKeys(e.ctx, "kv-sd")
	if err != nil || len(list) != 1 || list[0].RecoveryID != deleted.RecoveryID {
		t.Fatalf("deleted list = %+v, %v", list, err)
	}
	if _, err := e.svc.GetDeletedKey(e.ctx, "kv-sd", "k"); err != nil {
		t.Fatal(err)
	}

	recovered, err := e.svc.RecoverDeletedKey(e.ctx, "kv-sd", "k")
	if err != nil || recovered.Key.KID != v2.Key.KID {
		t.Fatalf("recover = %+v, %v", recovered, err)
	}
	if versions, _ := e.svc.ListKeyVersions(e.ctx, "kv-sd", "k"); len(versions) != 2 {
		t.Fatalf("recovered key has %d versions, want 2", len(versions))
	}
	if _, err := e.svc.Unwrap(e.ctx, "kv-sd", "k", versionOf(v1.Key.KID), KeyOperationParameters{Algorithm: AlgA256KW, Value: wrapped.Value}); err != nil {
		t.Fatalf("recovered key does not unwrap: %v", err)
	}
	_, err = e.svc.RecoverDeletedKey(e.ctx, "kv-sd", "k")
	wantErr(t, err, ErrKeyNotFound)
	err = e.svc.PurgeDeletedKey(e.ctx, "kv-sd", "k")
	wantErr(t, err, ErrKeyNotFound) // only deleted keys can be purged

	if _, err := e.svc.DeleteKey(e.ctx, "kv-sd", "k"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PurgeDeletedKey(e.ctx, "kv-sd", "k"); err != nil {
		t.Fatalf("purge without purge protection refused: %v", err)
	}
	_, err = e.svc.GetDeletedKey(e.ctx, "kv-sd", "k")
	wantErr(t, err, ErrKeyNotFound)
	// After a purge the name is free again.
	e.createKey("kv-sd", "k", CreateKeyParameters{Kty: "oct"})
}

func TestDeletedKeyNameCannotBeReusedUntilRecoveredOrPurged(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-reuse", false, 90)
	e.createKey("kv-reuse", "k", CreateKeyParameters{Kty: "oct"})
	if _, err := e.svc.DeleteKey(e.ctx, "kv-reuse", "k"); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.CreateKey(e.ctx, "kv-reuse", "K", CreateKeyParameters{Kty: "oct"})
	wantErr(t, err, ErrConflict, ErrDeletedButRecoverable)
	var ve *fault.Error
	if errors.As(err, &ve); ve.Kind != fault.Conflict || !strings.Contains(ve.Message, "recover") {
		t.Fatalf("error = %+v", ve)
	}
	_, err = e.svc.ImportKey(e.ctx, "kv-reuse", "k", ImportKeyParameters{Key: ImportJSONWebKey{Kty: "oct", K: make([]byte, 32)}})
	wantErr(t, err, ErrConflict, ErrDeletedButRecoverable)
	_, err = e.svc.RotateKey(e.ctx, "kv-reuse", "k")
	wantErr(t, err, ErrKeyNotFound)
}

func TestPurgeProtectionBlocksKeyPurgeUntilScheduledDate(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-pp", true, 7)
	e.createKey("kv-pp", "k", CreateKeyParameters{Kty: "oct"})
	d, err := e.svc.DeleteKey(e.ctx, "kv-pp", "k")
	if err != nil {
		t.Fatal(err)
	}
	if d.Attributes.RecoveryLevel != "CustomizedRecoverable" {
		t.Fatalf("recoveryLevel = %s", d.Attributes.RecoveryLevel)
	}
	err = e.svc.PurgeDeletedKey(e.ctx, "kv-pp", "k")
	wantErr(t, err, ErrForbidden, ErrPurgeProtected)
	e.clock.Advance(7*24*time.Hour - time.Second)
	wantErr(t, e.svc.PurgeDeletedKey(e.ctx, "kv-pp", "k"), ErrPurgeProtected)
	e.clock.Advance(time.Second)
	if err := e.svc.PurgeDeletedKey(e.ctx, "kv-pp", "k"); err != nil {
		t.Fatalf("purge at the scheduled date refused: %v", err)
	}
}

func TestPurgeSchedulerPurgesAtScheduledDateDespitePurgeProtection(t *testing.T) {
	e := newEnv(t)
	e.vault("kv-sched", true, 90)
	e.vault("kv-gone", true, 10)
	e.createKey("kv-sched", "old", CreateKeyParameters{Kty: "oct"})
	e.createKey("kv-sched", "keep", CreateKeyParameters{Kty: "oct"})
	e.createKey("kv-gone", "inside", CreateKeyParameters{Kty: "oct"})
	if _, err := e.svc.DeleteKey(e.ctx, "kv-sched", "old"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteVault(e.ctx, "kv-gone"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.PurgeExpired(e.ctx); err != nil || n != 0 {
		t.Fatalf("purged %d, %v before any date", n, err)
	}
	e.clock.Advance(10 * 24 * time.Hour)
	if n, err := e.svc.PurgeExpired(e.ctx); err != nil || n != 1 {
		t.Fatalf("purged %d, %v at the vault's date; want the vault", n, err)
	}
	if _, err := e.svc.GetDeletedVault(e.ctx, "kv-gone"); !errors.Is(err, ErrVaultNotFound) {
		t.Fatalf("vault still there: %v", err)
	}
	e.clock.Advance(80 * 24 * time.Hour)
	if n, err := e.svc.PurgeExpired(e.ctx); err != nil || n != 1 {
		t.Fatalf("purged %d, %v at the key's date; want the key", n, err)
	}
	if _, err := e.svc.GetDeletedKey(e.ctx, "kv-sched", "old"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("deleted key still there: %v", err)
	}
	if _, err := e.svc.GetKey(e.ctx, "kv-sched", "keep", ""); err != nil {
		t.Fatalf("live key purged: %v", err)
	}
	// The vault's keys went with it: a new vault of that name starts empty.
	e.vault("kv-gone", false, 90)
	if keys, _ := e.svc.ListKeys(e.ctx, "kv-gone"); len(keys) != 0 {
		t.Fatalf("purged vault's keys survived: %v", keys)
	}
}

func fmtAll(k ImportJSONWebKey) string {
	b, _ := json.Marshal(struct{ S string }{S: k.String()})
	params := ImportKeyParameters{Key: k}
	return string(b) + " " + fmt.Sprintf("%v %+v %#v %s %+v %v", k, k, k, k, params, &params)
}
