package node

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/sealwatch/sealwatch/internal/keyring/awskms/localkms"
	"github.com/sealwatch/sealwatch/internal/logtest"
)

const (
	kmsAccessKeyID = "AKIASEALWATCHTEST01"
	kmsSecret      = "kms-secret-canary-7f3c9a1e0b5d"
)

// kmsKeyBody is the PATCH body that moves cluster1 to an AWS KMS key.
func kmsKeyBody(srv *localkms.Server, keyID string, fields map[string]string) map[string]any {
	return keySourceBody(map[string]string{"keySource": "aws-kms", "kmsKeyArn": keyID, "awsRegion": localkms.Region, "kmsEndpoint": srv.Endpoint,
		"awsAccessKeyId": kmsAccessKeyID, "awsSecretAccessKey": kmsSecret}, fields)
}

// TestAWSKMSClusterKeyIngestsQueriesRevokesAndRestores moves a cluster whose
// workspace holds data from its Key Vault key to an AWS KMS key (Local
// KMS, through the SDK), then disables and enables the KMS key: the cluster
// goes Revoked and queries are refused, then everything works again,
// across a restart; retargeting the alias rotates. The access key's secret
// is never returned and never reaches disk in the clear; a missing field
// or grant is named.
func TestAWSKMSClusterKeyIngestsQueriesRevokesAndRestores(t *testing.T) {
	srv := localkms.Start(t)
	arn := srv.CreateKey(t)
	ctx := context.Background()
	if _, err := srv.Admin.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/sealwatch"), TargetKeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	immutableID, tok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "before the move"}}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	clusterURL := cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1")

	t.Run("what is missing is named", func(t *testing.T) {
		body := func(changes map[string]string) map[string]any { return kmsKeyBody(srv, "alias/sealwatch", changes) }
		cs.requireRefusalsName(t, body, "the secret", kmsSecret, []keySourceRefusal{
			{"no region", map[string]string{"awsRegion": ""}, 400, "awsRegion is required"},
			{"no key", map[string]string{"kmsKeyArn": ""}, 400, "kmsKeyArn is required"},
			{"no access key", map[string]string{"awsAccessKeyId": ""}, 400, "awsAccessKeyId is required"},
			{"no secret", map[string]string{"awsSecretAccessKey": ""}, 400, "awsSecretAccessKey is required"},
			{"a Key Vault field too", map[string]string{"keyName": "ws-cmk"}, 400, "keyName belong to another key source"},
			{"an unknown source", map[string]string{"keySource": "floppy"}, 400, "keySource must be one of"},
			{"a key that does not exist", map[string]string{"kmsKeyArn": "alias/missing"}, 400, "NotFoundException"},
		})
		srv.SetAccess(kmsAccessKeyID, false)
		defer srv.SetAccess(kmsAccessKeyID, true)
		var er struct {
			Error struct{ Code, Message string }
		}
		st := cs.call("PATCH", clusterURL, cs.mgmt, kmsKeyBody(srv, "alias/sealwatch", nil), &er)
		if st != 403 || !strings.Contains(er.Error.Message, "kms:DescribeKey") || !strings.Contains(er.Error.Message, kmsAccessKeyID) {
			t.Fatalf("a key the access key may not use: %d %+v", st, er)
		}
	})

	var cluster map[string]any
	if st := cs.call("PATCH", clusterURL, cs.mgmt, kmsKeyBody(srv, "alias/sealwatch", nil), &cluster); st != 200 {
		t.Fatalf("move to the KMS key: %d %v", st, cluster)
	}
	cs.requireMovedTo(t, cluster, map[string]string{"keySource": "aws-kms", "kmsKeyArn": "alias/sealwatch", "awsAccessKeyId": kmsAccessKeyID}, kmsSecret, arn)
	// The Key Vault key can go: nothing depends on it any more.
	cs.revoke(cs.principalID)
	rows[0]["Message"] = "after the move"
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest under the KMS key: %d %s", st, code)
	}
	cs.requireCount(t, 2)

	if _, err := srv.Admin.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	cs.requireKeyState(t, "Revoked", "with the KMS key disabled")
	if st, _, qe := cs.queryStatus("Events_CL | count", "P1D"); st != 403 || qe.Error.Code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("query with the KMS key disabled: %d %+v", st, qe)
	}
	if st, code := cs.ingest(immutableID, tok, rows); st != 403 || code != "CustomerManagedKeyInaccessible" {
		t.Fatalf("ingest with the KMS key disabled: %d %s", st, code)
	}
	if _, err := srv.Admin.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	cs.requireKeyState(t, "Accessible", "with the KMS key enabled again")
	cs.requireCount(t, 2)

	cs.restart(func() { requireNoneUnder(t, cs.dir, leakForms("the access key's secret", []byte(kmsSecret)), 0) })
	cs.requireCount(t, 2)

	// Retargeting the alias to a new key is a rotation: the next check
	// rewraps every account key under it, and the old key wraps nothing.
	rotated := srv.CreateKey(t)
	if _, err := srv.Admin.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/sealwatch"), TargetKeyId: aws.String(rotated)}); err != nil {
		t.Fatal(err)
	}
	cs.probe()
	cs.requireWrappedBy(t, rotated, "after the alias moved to "+rotated)
	idle := false
	for _, u := range cs.keyUsage() {
		idle = idle || (u.KeyURI == arn && !u.InUse)
	}
	if !idle {
		t.Fatalf("key usage does not show the old key %s wrapping nothing: %+v", arn, cs.keyUsage())
	}
	if _, err := srv.Admin.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	cs.requireKeyState(t, "Accessible", "with the old key retired")
	cs.requireCount(t, 2)

	for what, text := range map[string]string{"the node's log": logs.String(), "/metrics": fmt.Sprint(cs.scrape())} {
		for _, form := range holding([]byte(text), leakForms("the access key's secret", []byte(kmsSecret))) {
			t.Errorf("%s holds %s", what, form)
		}
	}
	if !strings.Contains(logs.String(), "aws-kms") {
		t.Fatal("the node logged nothing of the KMS key: the log scan proves nothing")
	}
}

// TestAWSKMSIsNotCalledPerRowIngested ingests 16 MiB into a workspace
// under an AWS KMS key after a warm-up, flushes and queries it: KMS sees no
// call, since the account keys are unwrapped once and held in memory (the
// key check, every --key-check-interval, is the only call in steady state).
func TestAWSKMSIsNotCalledPerRowIngested(t *testing.T) {
	srv := localkms.Start(t)
	arn := srv.CreateKey(t)
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), KeyCheckInterval: time.Hour})
	var out map[string]any
	if st := cs.call("PATCH", cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt, kmsKeyBody(srv, arn, nil), &out); st != 200 {
		t.Fatalf("move to the KMS key: %d %v", st, out)
	}
	in := cs.bulkIngest(t)
	in.ingest(10) // warm-up: the account keys are unwrapped and held
	in.flushAndCount()
	if c := srv.Calls(); c["Decrypt"] == 0 || c["Encrypt"] == 0 {
		t.Fatalf("the gate counted no Encrypt and Decrypt while the key was set: %v", c)
	}
	srv.ResetCalls()
	const mib = 16
	in.ingestMiB(mib)
	in.flushAndCount()
	if calls := srv.Calls(); len(calls) != 0 {
		t.Fatalf("ingesting %d rows (about %d MiB) called KMS: %v; want no call", in.ingested, mib, calls)
	}
}

// TestAWSKMSOutageLocksNeverRevokes: KMS throttling or answering 5xx locks
// a cluster whose grace is over (0 here: fail closed) with 503
// KeyVaultUnreachable — never Revoked — and the next check after KMS
// answers again unlocks it with nothing lost. (A KMS that does not answer
// at all is the conformance suite's cut proxy.)
func TestAWSKMSOutageLocksNeverRevokes(t *testing.T) {
	srv := localkms.Start(t)
	arn := srv.CreateKey(t)
	cs := setUpCMKWith(t, Config{DataDir: t.TempDir(), KeyCheckInterval: time.Hour})
	var out map[string]any
	if st := cs.call("PATCH", cs.mgmtURL("Microsoft.OperationalInsights/clusters/cluster1"), cs.mgmt, kmsKeyBody(srv, arn, nil), &out); st != 200 {
		t.Fatalf("move to the KMS key: %d %v", st, out)
	}
	immutableID, tok := cs.dcr()
	rows := []map[string]any{{"TimeGenerated": time.Now().UTC().Format(time.RFC3339), "Message": "kept"}}
	if st, code := cs.ingest(immutableID, tok, rows); st != 204 {
		t.Fatalf("ingest: %d %s", st, code)
	}
	for _, f := range []struct {
		status int
		code   string
	}{{400, "ThrottlingException"}, {500, "KMSInternalException"}, {503, "ServiceUnavailable"}} {
		t.Run(f.code, func(t *testing.T) {
			srv.SetFault(f.status, f.code)
			cs.probe()
			cs.ingestIsLocked(immutableID, tok)
			srv.SetFault(0, "")
			cs.requireKeyState(t, "Accessible", "once KMS answers again")
			if st, n, qe := cs.queryStatus("Events_CL | count", "P1D"); st != 200 || n != float64(1) {
				t.Fatalf("count once KMS answers again: %d %v %+v", st, n, qe)
			}
		})
	}
}
