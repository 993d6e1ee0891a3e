// Command sealwatch runs a Sealwatch node and manages it; the commands live
// in internal/cli so that tests can run them in-process.
package main

// The man pages, for packaging: `go generate ./cmd/sealwatch` writes them to man/man1.
//go:generate go run . docs man --dir ../../man/man1

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sealwatch/sealwatch/internal/cli"
)

func main() {
	// The first SIGINT or SIGTERM cancels the context, which lets `up` shut
	// down cleanly. Then stop() restores the default handling, so that a
	// second signal kills a shutdown that hangs.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
