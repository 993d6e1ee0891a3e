package awskms_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/awskms"
	"github.com/sealwatch/sealwatch/internal/keyring/awskms/localkms"
)

// wrappedOnKMS starts Local KMS with a key, a driver for it (cluster c1)
// and an account key wrapped by it, where the error tests begin.
func wrappedOnKMS(t *testing.T) (srv *localkms.Server, arn string, k *awskms.KEK, aek []byte, w keyring.Wrapped) {
	t.Helper()
	srv = localkms.Start(t)
	arn = srv.CreateKey(t)
	k = newDriver(t, srv, arn, "c1")
	aek = make([]byte, 32)
	rand.Read(aek)
	w, err := k.Wrap(context.Background(), aek)
	if err != nil {
		t.Fatal(err)
	}
	return srv, arn, k, aek, w
}

func newDriver(t *testing.T, srv *localkms.Server, keyID, cluster string) *awskms.KEK {
	t.Helper()
	k, err := awskms.New(awskms.Config{KeyID: keyID, Region: localkms.Region, Endpoint: srv.Endpoint,
		Credentials: localkms.Credentials("AKIDCLUSTER", "cluster-secret-value"), Cluster: cluster, Resource: "logs", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestServiceAnswersMapToTypedErrors sends KMS's error answers through the
// real SDK: refusals are revoked, throttling and 5xx unreachable, and no
// error repeats the service's message or the secret.
func TestServiceAnswersMapToTypedErrors(t *testing.T) {
	srv, _, k, aek, w := wrappedOnKMS(t)
	ctx := context.Background()
	for _, tc := range []struct {
		status int
		code   string
		want   error
	}{
		{400, "AccessDeniedException", keyring.ErrAccessDenied},
		{400, "DisabledException", keyring.ErrKeyRevoked},
		{400, "KMSInvalidStateException", keyring.ErrKeyRevoked},
		{400, "NotFoundException", keyring.ErrKeyRevoked},
		{400, "UnrecognizedClientException", keyring.ErrSignInRefused},
		{400, "InvalidSignatureException", keyring.ErrSignInRefused},
		{400, "InvalidCiphertextException", keyring.ErrIntegrity},
		{400, "IncorrectKeyException", keyring.ErrIntegrity},
		{400, "ThrottlingException", keyring.ErrKeyUnreachable},
		{429, "TooManyRequests", keyring.ErrKeyUnreachable},
		{500, "KMSInternalException", keyring.ErrKeyUnreachable},
		{500, "KeyUnavailableException", keyring.ErrKeyUnreachable},
		{503, "DependencyTimeoutException", keyring.ErrKeyUnreachable},
		{503, "ServiceUnavailable", keyring.ErrKeyUnreachable},
		{400, "ExpiredTokenException", keyring.ErrSignInRefused},
		{400, "InvalidKeyUsageException", keyring.ErrKeyRevoked},
		{400, "RequestLimitExceeded", keyring.ErrKeyUnreachable},
		{500, "InternalFailure", keyring.ErrKeyUnreachable},
		{502, "BadGateway", keyring.ErrKeyUnreachable},
		{400, "ValidationException", keyring.ErrIntegrity},
		{400, "LimitExceededException", nil},
	} {
		t.Run(tc.code, func(t *testing.T) {
			srv.SetFault(tc.status, tc.code)
			defer srv.SetFault(0, "")
			_, err := k.Unwrap(ctx, w)
			if err == nil {
				t.Fatal("no error")
			}
			for _, kind := range []error{keyring.ErrKeyRevoked, keyring.ErrAccessDenied, keyring.ErrSignInRefused, keyring.ErrKeyUnreachable, keyring.ErrIntegrity, keyring.ErrWrongKEK} {
				want := kind == tc.want || (kind == keyring.ErrKeyRevoked && (tc.want == keyring.ErrAccessDenied || tc.want == keyring.ErrSignInRefused))
				if errors.Is(err, kind) != want {
					t.Fatalf("error %q: is %v = %v, want %v", err, kind, errors.Is(err, kind), want)
				}
			}
			if !strings.Contains(err.Error(), tc.code) {
				t.Fatalf("error does not name the service's code %s: %v", tc.code, err)
			}
			if strings.Contains(err.Error(), "never to be repeated") || strings.Contains(err.Error(), "cluster-secret-value") {
				t.Fatalf("error repeats the service's message or the secret: %v", err)
			}
		})
	}
	if back, err := k.Unwrap(ctx, w); err != nil || string(back) != string(aek) {
		t.Fatalf("unwrap once the faults are cleared: %v", err)
	}
}

// TestEncryptionContextBindsClusterAndKey: a wrapping made for one cluster
// does not unwrap for another over the same key, and a driver configured
// by key ARN refuses another key's wrapping without asking KMS.
func TestEncryptionContextBindsClusterAndKey(t *testing.T) {
	srv := localkms.Start(t)
	arn, other := srv.CreateKey(t), srv.CreateKey(t)
	ctx := context.Background()
	aek := make([]byte, 32)
	rand.Read(aek)
	c1 := newDriver(t, srv, arn, "c1")
	w, err := c1.Wrap(ctx, aek)
	if err != nil {
		t.Fatal(err)
	}
	if w.KeyURI != arn || w.Provider != awskms.Provider || w.Algorithm != awskms.Algorithm {
		t.Fatalf("wrapping: %s %s %s", w.Provider, w.KeyURI, w.Algorithm)
	}
	st, err := c1.Describe(ctx)
	if err != nil || st.Key != arn || st.KeyURI != arn || !st.Enabled || !st.Recoverable {
		t.Fatalf("describe of a key configured by ARN: %+v %v", st, err)
	}
	if _, err := newDriver(t, srv, arn, "c2").Unwrap(ctx, w); !errors.Is(err, keyring.ErrIntegrity) {
		t.Fatalf("another cluster's unwrap: %v, want ErrIntegrity", err)
	}
	srv.SetFault(500, "KMSInternalException") // a request would be unreachable, not refused
	defer srv.SetFault(0, "")
	if _, err := newDriver(t, srv, other, "c1").Unwrap(ctx, w); !errors.Is(err, keyring.ErrWrongKEK) {
		t.Fatalf("another key's unwrap: %v, want ErrWrongKEK without a request", err)
	}
}

func TestConfigIsValidated(t *testing.T) {
	cred := localkms.Credentials("AKID", "secret")
	for name, cfg := range map[string]awskms.Config{
		"no key":         {Region: "eu-west-1", Credentials: cred, Cluster: "c", Resource: "logs"},
		"no region":      {KeyID: "alias/k", Credentials: cred, Cluster: "c", Resource: "logs"},
		"no credentials": {KeyID: "alias/k", Region: "eu-west-1", Cluster: "c", Resource: "logs"},
		"no cluster":     {KeyID: "alias/k", Region: "eu-west-1", Credentials: cred, Resource: "logs"},
		"not a KMS ARN":  {KeyID: "arn:aws:s3:::bucket", Region: "eu-west-1", Credentials: cred, Cluster: "c", Resource: "logs"},
		"ARN in another region": {KeyID: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", Region: "eu-west-1",
			Credentials: cred, Cluster: "c", Resource: "logs"},
	} {
		if _, err := awskms.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestImportedKeyMaterialIsNotRecoverable: a key whose material was
// imported can lose it at any moment (DeleteImportedKeyMaterial), so
// Describe says it is not recoverable and the keyring's check refuses it
// where recoverability is required; a key KMS made is recoverable.
func TestImportedKeyMaterialIsNotRecoverable(t *testing.T) {
	srv := localkms.Start(t)
	ctx := context.Background()
	created, err := srv.Admin.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.KeyMetadata.Arn)
	params, err := srv.Admin.GetParametersForImport(ctx, &kms.GetParametersForImportInput{KeyId: aws.String(arn),
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(params.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	material := make([]byte, 32)
	rand.Read(material)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Admin.ImportKeyMaterial(ctx, &kms.ImportKeyMaterialInput{KeyId: aws.String(arn), ImportToken: params.ImportToken,
		EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire}); err != nil {
		t.Fatal(err)
	}
	imported := newDriver(t, srv, arn, "c1")
	st, err := imported.Describe(ctx)
	if err != nil || !st.Enabled || st.Recoverable || st.RecoveryLevel != "ImportedKeyMaterial" {
		t.Fatalf("describe of a key with imported material: %+v %v", st, err)
	}
	if _, err := keyring.CheckKEK(ctx, imported, true); !errors.Is(err, keyring.ErrNotRecoverable) {
		t.Fatalf("check of a key with imported material: %v, want ErrNotRecoverable", err)
	}
	if _, err := keyring.CheckKEK(ctx, newDriver(t, srv, srv.CreateKey(t), "c1"), true); err != nil {
		t.Fatalf("check of a key KMS made: %v", err)
	}
}

// TestInvalidStateIsSortedByTheKeysState: KMS answers
// KMSInvalidStateException for a disabled key and for one whose key store
// is briefly disconnected alike, so the driver asks DescribeKey: a key
// still Enabled makes the failure unreachable (the keyring keeps its keys
// through the grace), a disabled one revoked.
func TestInvalidStateIsSortedByTheKeysState(t *testing.T) {
	srv, arn, k, _, w := wrappedOnKMS(t)
	ctx := context.Background()
	srv.SetOperationFault("Decrypt", 400, "KMSInvalidStateException")
	defer srv.SetFault(0, "")
	if _, err := k.Unwrap(ctx, w); !errors.Is(err, keyring.ErrKeyUnreachable) || errors.Is(err, keyring.ErrKeyRevoked) {
		t.Fatalf("invalid state while the key is Enabled: %v, want ErrKeyUnreachable", err)
	}
	srv.SetEnabled(t, arn, false)
	if _, err := k.Unwrap(ctx, w); !errors.Is(err, keyring.ErrKeyRevoked) {
		t.Fatalf("invalid state while the key is Disabled: %v, want ErrKeyRevoked", err)
	}
}

// TestTheSecretIsNeverPrinted: the configuration and the KEK, printed with
// any verb, name the key but never the access key's secret.
func TestTheSecretIsNeverPrinted(t *testing.T) {
	const secret = "secret-never-printed-0123"
	cfg := awskms.Config{KeyID: "alias/k", Region: "eu-west-1", Credentials: localkms.Credentials("AKIDPRINT", secret), Cluster: "c", Resource: "logs"}
	k, err := awskms.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{cfg, &cfg, k, struct{ C awskms.Config }{cfg}} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, secret) || !strings.Contains(out, "alias/k") {
				t.Errorf("%s of %T: %s", verb, v, out)
			}
		}
	}
}
