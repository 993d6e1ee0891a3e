package awskms_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/keyring/awskms"
	"github.com/sealwatch/sealwatch/internal/keyring/awskms/localkms"
	"github.com/sealwatch/sealwatch/internal/keyring/kekconformance"
	"github.com/sealwatch/sealwatch/internal/keyring/kektest"
)

// kmsTarget makes conformance keys in Local KMS, each named by an alias of
// its own (rotation retargets the alias to a new key) and used with an
// access key of its own, through a proxy the test can cut.
type kmsTarget struct {
	srv    *localkms.Server
	proxy  *kekconformance.Proxy
	secret string
	n      atomic.Int64
}

func newKMSTarget(t *testing.T) *kmsTarget {
	srv := localkms.Start(t)
	secret := make([]byte, 20)
	rand.Read(secret)
	return &kmsTarget{srv: srv, proxy: kekconformance.NewProxy(t, strings.TrimPrefix(srv.Endpoint, "http://")),
		secret: hex.EncodeToString(secret)}
}

func (kt *kmsTarget) target() kekconformance.Target {
	return kekconformance.Target{NewKey: kt.newKey, Recoverable: true, AccessDenied: true, Secrets: []string{kt.secret}}
}

type kmsKey struct {
	kt          *kmsTarget
	alias       string
	accessKeyID string
	keys        []string // ARNs the alias has named, oldest first
}

func (kt *kmsTarget) newKey(t *testing.T) kekconformance.Key {
	n := kt.n.Add(1)
	k := &kmsKey{kt: kt, alias: fmt.Sprintf("alias/conformance-%d", n), accessKeyID: fmt.Sprintf("AKIDCONFORMANCE%04d", n)}
	k.keys = append(k.keys, kt.srv.CreateKey(t))
	if _, err := kt.srv.Admin.CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: aws.String(k.alias), TargetKeyId: aws.String(k.keys[0])}); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k *kmsKey) KEK(t *testing.T) keyring.KEK {
	t.Helper()
	d, err := awskms.New(awskms.Config{KeyID: k.alias, Region: localkms.Region, Endpoint: "http://" + k.kt.proxy.Addr(),
		Credentials: localkms.Credentials(k.accessKeyID, k.kt.secret), Cluster: "c1", Resource: "logs", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (k *kmsKey) SetEnabled(t *testing.T, enabled bool) {
	for _, arn := range k.keys {
		setEnabled(t, k.kt.srv, arn, enabled)
	}
}

func setEnabled(t *testing.T, srv *localkms.Server, arn string, enabled bool) {
	t.Helper()
	var err error
	if enabled {
		_, err = srv.Admin.EnableKey(context.Background(), &kms.EnableKeyInput{KeyId: aws.String(arn)})
	} else {
		_, err = srv.Admin.DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(arn)})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Rotate retargets the alias to a new key: KMS's manual rotation.
func (k *kmsKey) Rotate(t *testing.T) {
	arn := k.kt.srv.CreateKey(t)
	if _, err := k.kt.srv.Admin.UpdateAlias(context.Background(), &kms.UpdateAliasInput{AliasName: aws.String(k.alias), TargetKeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	k.keys = append(k.keys, arn)
}

func (k *kmsKey) Retire(t *testing.T, keyURI string) { setEnabled(t, k.kt.srv, keyURI, false) }

func (k *kmsKey) Destroy(t *testing.T) {
	for _, arn := range k.keys {
		if _, err := k.kt.srv.Admin.ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)}); err != nil {
			t.Fatal(err)
		}
	}
}

func (k *kmsKey) SetAccess(_ *testing.T, allowed bool)      { k.kt.srv.SetAccess(k.accessKeyID, allowed) }
func (k *kmsKey) SetAvailable(t *testing.T, available bool) { k.kt.proxy.SetUp(t, available) }

// TestAWSKMSDriverKeepsTheKEKContract runs the conformance suite against
// the driver and Local KMS, through the official SDK.
func TestAWSKMSDriverKeepsTheKEKContract(t *testing.T) {
	kekconformance.Run(t, newKMSTarget(t).target())
}

// TestAWSKMSReplacementAcrossDrivers moves a keyring from a KMS key to a
// key of another driver and back.
func TestAWSKMSReplacementAcrossDrivers(t *testing.T) {
	kms := newKMSTarget(t).target()
	t.Run("KMS to KMS", func(t *testing.T) { kekconformance.RunReplacement(t, kms, kms) })
	t.Run("KMS to another driver", func(t *testing.T) { kekconformance.RunReplacement(t, kms, kektest.Target()) })
	t.Run("another driver to KMS", func(t *testing.T) { kekconformance.RunReplacement(t, kektest.Target(), kms) })
}
