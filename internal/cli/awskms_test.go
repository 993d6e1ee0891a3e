package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/sealwatch/sealwatch/internal/keyring/awskms/localkms"
	"github.com/sealwatch/sealwatch/internal/node"
)

// runWithAWSEnv runs the CLI with AWS credentials in its environment, as a
// shell with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY exported would,
// and stdin as standard input.
func (n *testNode) runWithAWSEnv(env map[string]string, stdin string, args ...string) result {
	n.t.Helper()
	var stdout, stderr bytes.Buffer
	e := testEnv(n.configDir, &stdout, &stderr)
	e.Stdin = strings.NewReader(stdin)
	e.Getenv = func(k string) string {
		if k == "SEALWATCH_CONFIG_DIR" {
			return n.configDir
		}
		return env[k]
	}
	code := Run(context.Background(), args, e)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// TestClusterKeyInAWSKMSThroughTheCLI runs the guide's AWS KMS example
// against Local KMS: the access key from the environment, then a new
// access key's secret on standard input; the secret is never printed, a
// new access key without its secret is refused naming how to give it, and
// key-usage names the KMS key.
func TestClusterKeyInAWSKMSThroughTheCLI(t *testing.T) {
	srv := localkms.Start(t)
	arn := srv.CreateKey(t)
	if _, err := srv.Admin.CreateAlias(context.Background(), &kms.CreateAliasInput{AliasName: aws.String("alias/sealwatch-cl01"), TargetKeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	n := startNode(t)
	n.login()
	n.must("cluster", "create", "--name", "cl01", "-g", "rg1", "--capacity", "100")
	update := []string{"cluster", "update", "--name", "cl01", "--key-source", "aws-kms", "--kms-key-arn", "alias/sealwatch-cl01",
		"--aws-region", localkms.Region, "--kms-endpoint", srv.Endpoint}
	const secret = "cli-secret-canary-5e1f"
	r := n.runWithAWSEnv(map[string]string{"AWS_ACCESS_KEY_ID": "AKIASEALWATCHCLI01", "AWS_SECRET_ACCESS_KEY": secret}, "", update...)
	if r.code != 0 {
		t.Fatalf("cluster update --key-source aws-kms: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"aws-kms " + localkms.Region, "alias/sealwatch-cl01", "Accessible"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("cluster update does not show %q:\n%s", want, r.stdout)
		}
	}
	r = n.runWithAWSEnv(nil, "", "cluster", "update", "--name", "cl01", "--key-source", "aws-kms", "--kms-key-arn", arn,
		"--aws-region", localkms.Region, "--kms-endpoint", srv.Endpoint, "--aws-access-key-id", "AKIASEALWATCHCLI02")
	if r.code != exitUsage || !strings.Contains(r.stderr, "access key AKIASEALWATCHCLI02 is new to cluster cl01") || !strings.Contains(r.stderr, "AWS_SECRET_ACCESS_KEY") {
		t.Fatalf("a new access key without its secret: exit %d\n%s", r.code, r.stderr)
	}
	r = n.runWithAWSEnv(nil, secret+"-2\n", "cluster", "update", "--name", "cl01", "--key-source", "aws-kms", "--kms-key-arn", arn,
		"--aws-region", localkms.Region, "--kms-endpoint", srv.Endpoint, "--aws-access-key-id", "AKIASEALWATCHCLI02", "--aws-secret-access-key-stdin", "-o", "json")
	if r.code != 0 {
		t.Fatalf("replace the key, with a new access key's secret on standard input: exit %d\n%s", r.code, r.stderr)
	}
	c := decode[clusterResource](t, r.stdout)
	if kv := c.Properties.KeyVaultProperties; kv == nil || kv.KMSKeyARN != arn || kv.AWSAccessKeyID != "AKIASEALWATCHCLI02" || kv.AWSSecretAccessKey != "" {
		t.Fatalf("cluster after the replacement: %+v", c.Properties.KeyVaultProperties)
	}
	out := n.must("cluster", "show", "--name", "cl01", "-o", "json") + n.must("cluster", "key-usage", "--name", "cl01")
	if strings.Contains(out, secret) {
		t.Fatalf("the CLI prints the access key's secret:\n%s", out)
	}
	if !strings.Contains(out, arn) || !strings.Contains(out, "aws-kms "+localkms.Region) {
		t.Fatalf("key-usage does not name the KMS key:\n%s", out)
	}
}

// TestClusterWaitRewrappedFollowsAKMSAlias retargets a cluster's KMS alias
// to a new key: `cluster wait --rewrapped`, with the caller's AWS
// credentials, returns once the node has rewrapped every account key under
// the new key, and key-usage then prints the command that retires the old.
func TestClusterWaitRewrappedFollowsAKMSAlias(t *testing.T) {
	srv := localkms.Start(t)
	ctx := context.Background()
	oldARN, newARN := srv.CreateKey(t), srv.CreateKey(t)
	if _, err := srv.Admin.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/sealwatch-cl01"), TargetKeyId: aws.String(oldARN)}); err != nil {
		t.Fatal(err)
	}
	n := startNodeWith(t, node.Config{KeyCheckInterval: 200 * time.Millisecond})
	n.login()
	n.must("cluster", "create", "--name", "cl01", "-g", "rg1", "--capacity", "100")
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKIASEALWATCHCLI01", "AWS_SECRET_ACCESS_KEY": "cli-secret-canary-5e1f"}
	if r := n.runWithAWSEnv(env, "", "cluster", "update", "--name", "cl01", "--key-source", "aws-kms", "--kms-key-arn", "alias/sealwatch-cl01",
		"--aws-region", localkms.Region, "--kms-endpoint", srv.Endpoint); r.code != 0 {
		t.Fatalf("set the key: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := srv.Admin.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/sealwatch-cl01"), TargetKeyId: aws.String(newARN)}); err != nil {
		t.Fatal(err)
	}
	if r := n.runWithAWSEnv(nil, "", "cluster", "wait", "--name", "cl01", "--rewrapped"); r.code != exitError || !strings.Contains(r.stderr, "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") {
		t.Fatalf("wait without AWS credentials: exit %d\n%s", r.code, r.stderr)
	}
	r := n.runWithAWSEnv(env, "", "cluster", "wait", "--name", "cl01", "--rewrapped", "--timeout", "60s")
	if r.code != 0 || !strings.Contains(r.stdout, "every account key is wrapped by "+newARN) {
		t.Fatalf("wait --rewrapped: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	out := n.must("cluster", "key-usage", "--name", "cl01")
	if !strings.Contains(out, "aws kms disable-key --key-id "+oldARN+" --region "+localkms.Region) {
		t.Fatalf("key-usage does not print how to retire the old key:\n%s", out)
	}
}
