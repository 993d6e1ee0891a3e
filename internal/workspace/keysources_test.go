package workspace

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// keyPropertiesCase is a good key's properties changed: the change is
// refused naming want, or accepted when want is "".
type keyPropertiesCase struct {
	name   string
	change func(kv *KeyVaultProperties)
	want   string // "" accepts
}

// requireKeyRefusals validates good() changed by each case: a refusal is a
// bad request naming tc.want and repeats no secret, neither good's nor the
// changed key's.
func requireKeyRefusals(t *testing.T, good func() KeyVaultProperties, cases []keyPropertiesCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := good()
			kv := good()
			tc.change(&kv)
			err := validKey(&kv)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantCode(t, err, CodeBadRequest)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			for _, k := range []*KeyVaultProperties{&base, &kv} {
				for name, secret := range secretProps(k) {
					if *secret != "" && strings.Contains(err.Error(), *secret) {
						t.Fatalf("error repeats %s: %v", name, err)
					}
				}
			}
		})
	}
}

// patchKey sets kv on the cluster named cluster.
func (f *fixture) patchKey(cluster string, kv KeyVaultProperties) (*Cluster, error) {
	return f.svc.PatchCluster(context.Background(), f.g, cluster, clusterKeyParams(kv))
}

// reopenedKey is the key the stored cluster (the fixture's only one with a
// key) is reopened with.
func (f *fixture) reopenedKey(t *testing.T) KeyVaultProperties {
	t.Helper()
	var restored KeyVaultProperties
	if err := f.svc.ClustersWithKeys(context.Background(), func(_ string, _ Principal, k KeyVaultProperties) error { restored = k; return nil }); err != nil {
		t.Fatal(err)
	}
	return restored
}

// requireSentAgain patches cluster with from changed by each of elsewhere,
// without its secret: each is refused naming want, since the stored secret
// is never used for another place than it was given for.
func (f *fixture) requireSentAgain(t *testing.T, cluster string, from KeyVaultProperties, elsewhere map[string]func(kv *KeyVaultProperties), want string) {
	t.Helper()
	for name, change := range elsewhere {
		kv := from
		change(&kv)
		_, err := f.patchKey(cluster, kv)
		wantCode(t, err, CodeBadRequest)
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%s without %s: %v", name, want, err)
		}
	}
}

func awsKMSKey() KeyVaultProperties {
	return KeyVaultProperties{KeySource: KeySourceAWSKMS, KMSKeyARN: "alias/sealwatch", AWSRegion: "eu-west-1",
		AWSAccessKeyID: "AKIAIOSFODNN7EXAMPLE", AWSSecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
}

// TestKeyPropertiesAreRefusedNamingWhatIsWrong: each bad or missing field of
// a key source is refused with a message naming it, another source's field
// is refused, and the secret is never repeated.
func TestKeyPropertiesAreRefusedNamingWhatIsWrong(t *testing.T) {
	const arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	requireKeyRefusals(t, awsKMSKey, []keyPropertiesCase{
		{"an alias", func(*KeyVaultProperties) {}, ""},
		{"a key ARN", func(kv *KeyVaultProperties) { kv.KMSKeyARN = arn }, ""},
		{"an alias ARN", func(kv *KeyVaultProperties) { kv.KMSKeyARN = "arn:aws:kms:eu-west-1:111122223333:alias/sealwatch" }, ""},
		{"a key ID", func(kv *KeyVaultProperties) { kv.KMSKeyARN = "1234abcd-12ab-34cd-56ef-1234567890ab" }, ""},
		{"a multi-Region key ID", func(kv *KeyVaultProperties) { kv.KMSKeyARN = "mrk-1234abcd12ab34cd56ef1234567890ab" }, ""},
		{"a local KMS on loopback", func(kv *KeyVaultProperties) { kv.KMSEndpoint = "http://127.0.0.1:4599" }, ""},
		{"a VPC endpoint", func(kv *KeyVaultProperties) { kv.KMSEndpoint = "https://vpce-1a2b.kms.eu-west-1.vpce.amazonaws.com" }, ""},
		{"no key", func(kv *KeyVaultProperties) { kv.KMSKeyARN = "" }, "kmsKeyArn is required"},
		{"an S3 ARN", func(kv *KeyVaultProperties) { kv.KMSKeyARN = "arn:aws:s3:::bucket" }, "kmsKeyArn must be a KMS key ARN"},
		{"an ARN in another region", func(kv *KeyVaultProperties) { kv.KMSKeyARN = strings.Replace(arn, "eu-west-1", "us-east-1", 1) }, "names region us-east-1 but awsRegion is eu-west-1"},
		{"no region", func(kv *KeyVaultProperties) { kv.AWSRegion = "" }, "awsRegion is required"},
		{"a region with a space", func(kv *KeyVaultProperties) { kv.AWSRegion = "eu west 1" }, "awsRegion must be a region"},
		{"no access key", func(kv *KeyVaultProperties) { kv.AWSAccessKeyID = "" }, "awsAccessKeyId is required"},
		{"a lower-case access key", func(kv *KeyVaultProperties) { kv.AWSAccessKeyID = "akiaiosfodnn7example" }, "awsAccessKeyId must be an access key ID"},
		{"no secret", func(kv *KeyVaultProperties) { kv.AWSSecretAccessKey = "" }, "awsSecretAccessKey is required"},
		{"a secret with a space", func(kv *KeyVaultProperties) { kv.AWSSecretAccessKey = "wJalrXUtnFEMI K7MDENG" }, "awsSecretAccessKey must be"},
		{"plain http elsewhere", func(kv *KeyVaultProperties) { kv.KMSEndpoint = "http://kms.example.com" }, "kmsEndpoint must be an https URL"},
		{"an endpoint with a path", func(kv *KeyVaultProperties) { kv.KMSEndpoint = "https://kms.example.com/x" }, "kmsEndpoint must be an https URL"},
		{"a local KMS on IPv6 loopback", func(kv *KeyVaultProperties) { kv.KMSEndpoint = "http://[::1]:4599" }, ""},
		{"plain http to a host named like loopback", func(kv *KeyVaultProperties) { kv.KMSEndpoint = "http://localhost.example.com" }, "kmsEndpoint must be an https URL"},
		{"plain http to a private address", func(kv *KeyVaultProperties) { kv.KMSEndpoint = "http://10.0.0.1" }, "kmsEndpoint must be an https URL"},
		{"an endpoint with a user", func(kv *KeyVaultProperties) { kv.KMSEndpoint = "https://user:pw@kms.example.com" }, "kmsEndpoint must be an https URL"},
		{"an endpoint with a query", func(kv *KeyVaultProperties) { kv.KMSEndpoint = "https://kms.example.com/?x=1" }, "kmsEndpoint must be an https URL"},
		{"an endpoint without a host", func(kv *KeyVaultProperties) { kv.KMSEndpoint = "https:///" }, "kmsEndpoint must be an https URL"},
		{"another scheme", func(kv *KeyVaultProperties) { kv.KMSEndpoint = "file:///etc/passwd" }, "kmsEndpoint must be an https URL"},
		{"a secret too long", func(kv *KeyVaultProperties) { kv.AWSSecretAccessKey = strings.Repeat("s", 129) }, "awsSecretAccessKey must be"},
		{"a vault's key name too", func(kv *KeyVaultProperties) { kv.KeyName = "k1" }, "keyName belong to another key source"},
		{"an unknown source", func(kv *KeyVaultProperties) { kv.KeySource = "floppy" }, "keySource must be one of aws-kms, keyvault"},
		{"a KMS field on a vault key", func(kv *KeyVaultProperties) {
			*kv = KeyVaultProperties{KeyVaultURI: "https://v.vault.localhost/", KeyName: "k1", AWSRegion: "eu-west-1"}
		}, "awsRegion belong to another key source than keySource keyvault"},
	})
}

// TestTheSecretIsStoredSealedAndNeverShown sets an AWS KMS key on a
// cluster: the stored record and the answers hold no secret, the key layer
// is given it and gets it back after a restart, and a PATCH keeping the
// access key keeps the secret while a new access key, endpoint or region
// needs it sent again.
func TestTheSecretIsStoredSealedAndNeverShown(t *testing.T) {
	f := newFixture(t)
	c := f.cluster(t, "kmscluster")
	id := c.Properties.ClusterID
	patch := func(kv KeyVaultProperties) (*Cluster, error) { return f.patchKey("kmscluster", kv) }
	kv := awsKMSKey()
	kv.KMSKeyARN = "alias/good-kms"
	c, err := patch(kv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.GetCluster(context.Background(), f.g, "kmscluster")
	if err != nil {
		t.Fatal(err)
	}
	for _, shown := range []*Cluster{c, got} {
		if p := shown.Properties.KeyVaultProperties; p.AWSSecretAccessKey != "" || p.AWSAccessKeyID != kv.AWSAccessKeyID || p.KMSKeyARN != kv.KMSKeyARN {
			t.Fatalf("the cluster shows %+v", p)
		}
	}
	if f.keys.set[id].AWSSecretAccessKey != kv.AWSSecretAccessKey {
		t.Fatal("the key layer was not given the secret")
	}
	for _, v := range f.clusterRecords(t) {
		if bytes.Contains(v, []byte(kv.AWSSecretAccessKey)) {
			t.Error("the cluster record holds the secret in the clear")
		}
	}
	if restored := f.reopenedKey(t); restored.AWSSecretAccessKey != kv.AWSSecretAccessKey {
		t.Fatal("the stored key reopens without its secret")
	}

	// Another key through the same access key: the secret need not be sent.
	other := kv
	other.KMSKeyARN, other.AWSSecretAccessKey = "alias/good-other", ""
	if _, err := patch(other); err != nil {
		t.Fatal(err)
	}
	if k := f.keys.set[id]; k.AWSSecretAccessKey != kv.AWSSecretAccessKey || k.KMSKeyARN != "alias/good-other" {
		t.Fatalf("the key layer got key %s, with the secret: %v", k.KMSKeyARN, k.AWSSecretAccessKey == kv.AWSSecretAccessKey)
	}
	// A GET body sent back unchanged changes nothing.
	got, _ = f.svc.GetCluster(context.Background(), f.g, "kmscluster")
	f.keys.set[id] = KeyVaultProperties{}
	if _, err := patch(*got.Properties.KeyVaultProperties); err != nil || f.keys.set[id] != (KeyVaultProperties{}) {
		t.Fatalf("the unchanged key was set again: %v", err)
	}
	// The same access key sent elsewhere needs its secret again: the
	// stored one is never signed with for another endpoint or region.
	f.requireSentAgain(t, "kmscluster", other, map[string]func(kv *KeyVaultProperties){
		"another endpoint": func(kv *KeyVaultProperties) { kv.KMSEndpoint = "https://kms.attacker.example" },
		"another region": func(kv *KeyVaultProperties) {
			kv.AWSRegion, kv.KMSKeyARN = "us-east-1", "alias/good-other"
		},
	}, "awsSecretAccessKey is required")
	// A new access key without its secret is refused.
	other.AWSAccessKeyID = "AKIAOTHERACCESSKEY01"
	_, err = patch(other)
	wantCode(t, err, CodeBadRequest)
	if !strings.Contains(err.Error(), "awsSecretAccessKey is required") {
		t.Fatalf("a new access key without its secret: %v", err)
	}
}

// TestAKeyIsLoggedByItsOwnFieldsWithoutTheSecret: the "cluster key set"
// line names the source and the fields it set, never the secret.
func TestAKeyIsLoggedByItsOwnFieldsWithoutTheSecret(t *testing.T) {
	kv := awsKMSKey()
	line := fmt.Sprint(logFields(kv))
	for _, want := range []string{"keySource aws-kms", "kmsKeyArn alias/sealwatch", "awsRegion eu-west-1", "awsAccessKeyId " + kv.AWSAccessKeyID} {
		if !strings.Contains(line, want) {
			t.Errorf("log fields %s do not name %q", line, want)
		}
	}
	if strings.Contains(line, kv.AWSSecretAccessKey) || strings.Contains(line, "keyVaultUri") || strings.Contains(line, "awsSecretAccessKey") {
		t.Errorf("log fields %s hold the secret or another source's fields", line)
	}
	vault := fmt.Sprint(logFields(KeyVaultProperties{KeyVaultURI: "https://v.vault.localhost/", KeyName: "k1"}))
	if !strings.Contains(vault, "keySource keyvault") || !strings.Contains(vault, "keyName k1") || strings.Contains(vault, "kmsKeyArn") {
		t.Errorf("log fields of a vault key: %s", vault)
	}
}

// TestTheSecretIsNeverPrinted: the key's properties printed with every
// verb, inside a struct, or logged as text or JSON name the fields but
// never the secret.
func TestTheSecretIsNeverPrinted(t *testing.T) {
	pkcs11 := KeyVaultProperties{KeySource: KeySourcePKCS11, PKCS11ModulePath: "/usr/lib/softhsm/libsofthsm2.so",
		PKCS11TokenLabel: "t1", PKCS11KeyLabel: "cmk", PKCS11PIN: "pin-never-printed-1234"}
	app := KeyVaultProperties{KeyVaultURI: "https://v.vault.azure.net/", KeyName: "k1", KeyVaultTenantID: "contoso.example",
		KeyVaultClientID: "00001111-aaaa-2222-bbbb-3333cccc4444", KeyVaultClientSecret: "client-secret-never-printed"}
	for _, kv := range []KeyVaultProperties{awsKMSKey(), pkcs11, app} {
		_, secret := secretOf(&kv)
		var text, js bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("key", "kv", kv, "ptr", &kv)
		slog.New(slog.NewJSONHandler(&js, nil)).Info("key", "kv", kv, "ptr", &kv)
		for name, out := range map[string]string{
			"%v": fmt.Sprintf("%v", kv), "%+v": fmt.Sprintf("%+v", kv), "%#v": fmt.Sprintf("%#v", kv), "%s": fmt.Sprintf("%s", kv),
			"%v of a pointer":            fmt.Sprintf("%v", &kv),
			"%+v of a struct holding it": fmt.Sprintf("%+v", struct{ Key KeyVaultProperties }{kv}),
			"slog text":                  text.String(), "slog JSON": js.String(),
		} {
			if strings.Contains(out, secret) {
				t.Errorf("%s %s prints the secret: %s", kv.Source(), name, out)
			}
			if !strings.Contains(out, kv.Source()) || !strings.Contains(out, "[redacted]") {
				t.Errorf("%s %s does not name the source and a redacted secret: %s", kv.Source(), name, out)
			}
		}
	}
}

// TestPKCS11PropertiesAreRefusedNamingWhatIsWrong: each bad or missing
// PKCS#11 field is refused (400) naming it, and the PIN is never repeated.
func TestPKCS11PropertiesAreRefusedNamingWhatIsWrong(t *testing.T) {
	const pin = "1234-pin-never-repeated"
	good := func() KeyVaultProperties {
		return KeyVaultProperties{KeySource: KeySourcePKCS11, PKCS11ModulePath: "/usr/lib/softhsm/libsofthsm2.so",
			PKCS11TokenLabel: "t1", PKCS11KeyLabel: "cmk", PKCS11PIN: pin}
	}
	requireKeyRefusals(t, good, []keyPropertiesCase{
		{"a good key", func(*KeyVaultProperties) {}, ""},
		{"a token label of 32 bytes", func(kv *KeyVaultProperties) { kv.PKCS11TokenLabel = strings.Repeat("t", 32) }, ""},
		{"no module", func(kv *KeyVaultProperties) { kv.PKCS11ModulePath = "" }, "pkcs11ModulePath is required"},
		{"a relative module path", func(kv *KeyVaultProperties) { kv.PKCS11ModulePath = "libsofthsm2.so" }, "pkcs11ModulePath must be an absolute, clean file path"},
		{"a module path climbing out", func(kv *KeyVaultProperties) { kv.PKCS11ModulePath = "/usr/lib/softhsm/../../../tmp/evil.so" }, "pkcs11ModulePath must be an absolute, clean file path"},
		{"a module path with a newline", func(kv *KeyVaultProperties) { kv.PKCS11ModulePath = "/usr/lib/x.so\n" }, "pkcs11ModulePath must be an absolute, clean file path"},
		{"no token", func(kv *KeyVaultProperties) { kv.PKCS11TokenLabel = "" }, "pkcs11TokenLabel is required"},
		{"a token label of 33 bytes", func(kv *KeyVaultProperties) { kv.PKCS11TokenLabel = strings.Repeat("t", 33) }, "pkcs11TokenLabel must be a token label of up to 32 bytes"},
		{"a token label padded with spaces", func(kv *KeyVaultProperties) { kv.PKCS11TokenLabel = "t1 " }, "without trailing spaces"},
		{"no key label", func(kv *KeyVaultProperties) { kv.PKCS11KeyLabel = "" }, "pkcs11KeyLabel is required"},
		{"a key label with a control character", func(kv *KeyVaultProperties) { kv.PKCS11KeyLabel = "cmk\x00" }, "pkcs11KeyLabel must be a key label"},
		{"no PIN", func(kv *KeyVaultProperties) { kv.PKCS11PIN = "" }, "pkcs11Pin is required"},
		{"a PIN with a control character", func(kv *KeyVaultProperties) { kv.PKCS11PIN = pin + "\r" }, "pkcs11Pin must be the token's user PIN"},
		{"a PIN too long", func(kv *KeyVaultProperties) { kv.PKCS11PIN = pin + strings.Repeat("9", 255) }, "pkcs11Pin must be the token's user PIN"},
		{"an AWS field too", func(kv *KeyVaultProperties) { kv.AWSRegion = "eu-west-1" }, "awsRegion belong to another key source than keySource pkcs11"},
	})
}

// TestAPrincipalsSecretIsNeverPrinted: a principal (the cluster identity a
// key request carries) prints and logs without its secret.
func TestAPrincipalsSecretIsNeverPrinted(t *testing.T) {
	const secret = "principal-secret-never-printed"
	p := Principal{ObjectID: "oid-1", AppID: "app-1", Secret: secret}
	var js bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("p", "p", p)
	for _, out := range []string{fmt.Sprintf("%v", p), fmt.Sprintf("%+v", struct{ P Principal }{p}), fmt.Sprintf("%#v", &p), js.String()} {
		if strings.Contains(out, secret) || !strings.Contains(out, "oid-1") {
			t.Errorf("printed %s", out)
		}
	}
}
