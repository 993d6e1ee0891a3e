// Command sdkexample is the Go half of docs/sdk.md: the official Azure SDKs
// for Go pointed at a Sealwatch node, one file per task. The one setting each
// needs is in node.go; everything else is written as against the cloud.
//
// Usage (the environment variables are in docs/sdk.md, "Go"):
//
//	go run ./docs/examples/sdk/go token SCOPE
//	go run ./docs/examples/sdk/go keys KEY_NAME                    # VAULT_URL names the vault
//	go run ./docs/examples/sdk/go ingest IMMUTABLE_ID STREAM FILE.json
//	go run ./docs/examples/sdk/go query WORKSPACE_ID KQL
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err := run(ctx, os.Args[1:])
	cancel()
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v%s\n", err, hint(err))
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: sdkexample token|keys|ingest|query ARGS...")
	}
	n, err := fromEnv()
	if err != nil {
		return err
	}
	switch cmd, rest := args[0], args[1:]; {
	case cmd == "token" && len(rest) == 1:
		return token(ctx, n, rest[0])
	case cmd == "keys" && len(rest) == 1:
		return keys(ctx, n, rest[0])
	case cmd == "ingest" && len(rest) == 3:
		return ingest(ctx, n, rest[0], rest[1], rest[2])
	case cmd == "query" && len(rest) == 2:
		return query(ctx, n, rest[0], rest[1])
	}
	return fmt.Errorf("usage: sdkexample token SCOPE | keys KEY_NAME | ingest IMMUTABLE_ID STREAM FILE | query WORKSPACE_ID KQL")
}
