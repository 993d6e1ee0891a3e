package localkms

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
	"github.com/sealwatch/sealwatch/internal/keyring/kekconformance"
)

// Target is the AWS KMS driver over this server as a kekconformance
// target. Each key is named by an alias of its own — rotation retargets the
// alias to a new key, KMS's manual rotation — and used with an access key
// of its own, through a proxy the test can cut.
func (s *Server) Target(t testing.TB) kekconformance.Target {
	secret := make([]byte, 20)
	rand.Read(secret)
	kt := &kmsTarget{srv: s, proxy: kekconformance.NewProxy(t, strings.TrimPrefix(s.Endpoint, "http://")), secret: hex.EncodeToString(secret)}
	return kekconformance.Target{NewKey: kt.newKey, Recoverable: true, AccessDenied: true, Secrets: []string{kt.secret}}
}

type kmsTarget struct {
	srv    *Server
	proxy  *kekconformance.Proxy
	secret string
	n      atomic.Int64
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
	d, err := awskms.New(awskms.Config{KeyID: k.alias, Region: Region, Endpoint: "http://" + k.kt.proxy.Addr(),
		Credentials: Credentials(k.accessKeyID, k.kt.secret), Cluster: "c1", Resource: "logs", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (k *kmsKey) SetEnabled(t *testing.T, enabled bool) {
	for _, arn := range k.keys {
		k.kt.srv.SetEnabled(t, arn, enabled)
	}
}

// Rotate retargets the alias to a new key.
func (k *kmsKey) Rotate(t *testing.T) {
	arn := k.kt.srv.CreateKey(t)
	if _, err := k.kt.srv.Admin.UpdateAlias(context.Background(), &kms.UpdateAliasInput{AliasName: aws.String(k.alias), TargetKeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	k.keys = append(k.keys, arn)
}

func (k *kmsKey) Retire(t *testing.T, keyURI string) { k.kt.srv.SetEnabled(t, keyURI, false) }

// Destroy schedules every key the alias named for deletion, as soon as KMS
// allows (7 days).
func (k *kmsKey) Destroy(t *testing.T) {
	for _, arn := range k.keys {
		if _, err := k.kt.srv.Admin.ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)}); err != nil {
			t.Fatal(err)
		}
	}
}

func (k *kmsKey) SetAccess(_ *testing.T, allowed bool)      { k.kt.srv.SetAccess(k.accessKeyID, allowed) }
func (k *kmsKey) SetAvailable(t *testing.T, available bool) { k.kt.proxy.SetUp(t, available) }
