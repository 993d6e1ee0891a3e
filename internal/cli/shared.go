package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/kv/pgkv"
	"github.com/sealwatch/sealwatch/internal/logstore/pgwal"
	"github.com/sealwatch/sealwatch/internal/node"
	"github.com/sealwatch/sealwatch/internal/storeurl"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// sharedFlags are serve's flags for running as one of several nodes: the
// PostgreSQL database and the object store they share.
type sharedFlags struct {
	postgres, objectStore string
	selfCheckEvery        int
	lineageLease          time.Duration
	sharedWAL             bool
}

func (sf *sharedFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&sf.postgres, "postgres", "", "PostgreSQL database that keeps the identity, vault, control plane and document databases, shared by every node given it, "+
		"such as "+storeurl.PostgresExample+". Give the password in PGPASSWORD or a passfile (~/.pgpass, PGPASSFILE), not in the URL, which the process list shows; "+
		"pool_max_conns=N sizes each node's pool. Every node needs the same root of trust. Without it, the databases are files under --data")
	f.StringVar(&sf.objectStore, "object-store", "", "object store for the sealed log segments and manifests, shared by the nodes: s3://BUCKET?endpoint=URL&region=REGION "+
		"(credentials from SEALWATCH_S3_ACCESS_KEY_ID and SEALWATCH_S3_SECRET_ACCESS_KEY, or when unset AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) or file:///DIR (a directory every node mounts); needs --postgres. "+
		"Each node writes in a lineage of its own and reads every node's; write-ahead logs stay under --data. Without it, log data stays under --data, where no other node reads it")
	f.IntVar(&sf.selfCheckEvery, "key-self-check-every", keyring.DefaultSelfCheckEvery, "with --postgres, one node probes each customer key and the others read what it found: "+
		"how many --key-check-interval apart each of the others still probes the key itself, so that a node cut off from the key service alone finds out")
	f.DurationVar(&sf.lineageLease, "lineage-lease", wsdata.DefaultLineageLease, "with --object-store, how long a node's lease on its lineage lasts unrenewed (it renews it five times a lease): "+
		"past it, another node adopts the lineage, merging its segments into its own, and the node, if it comes back, goes on under a new lineage. The same on every node")
	f.BoolVar(&sf.sharedWAL, "shared-wal", false, "keep a copy of every write-ahead log record, sealed, in the --postgres database (needs --object-store): "+
		"every node reads the rows the others have not flushed yet, and a row is acknowledged only once PostgreSQL committed it, so it outlives the loss of the node's disk. "+
		"Without it, a node's rows not yet flushed are on its disk only, and other nodes see them once flushed")
}

// open parses the flags and, when --postgres is given, connects and
// points cfg at the shared storage. The returned function closes what it
// opened, once the node is closed.
func (sf *sharedFlags) open(ctx context.Context, a *app, cmd *cobra.Command, cfg *node.Config) (func(), error) {
	if sf.selfCheckEvery < 1 {
		return nil, usagef("--key-self-check-every must be at least 1, not %d", sf.selfCheckEvery)
	}
	cfg.KeySelfCheckEvery = sf.selfCheckEvery
	if sf.lineageLease < time.Second {
		return nil, usagef("--lineage-lease must be at least 1s, not %s", sf.lineageLease)
	}
	cfg.LineageLease = sf.lineageLease
	if sf.sharedWAL && (sf.postgres == "" || sf.objectStore == "") {
		return nil, usagef("--shared-wal needs --postgres, which keeps it, and --object-store, where its rows are flushed")
	}
	if sf.postgres == "" {
		if sf.objectStore != "" {
			return nil, usagef("--object-store needs --postgres: the nodes that share objects share their databases too")
		}
		return func() {}, nil
	}
	pg, err := storeurl.ParsePostgres(sf.postgres)
	if err != nil {
		return nil, usagef("--postgres: %v", err)
	}
	var objects storeurl.ObjectStore
	if sf.objectStore != "" {
		if objects, err = storeurl.ParseObjectStore(sf.objectStore, a.env.Getenv); err != nil {
			return nil, usagef("--object-store: %v", err)
		}
	}
	for _, w := range pg.Warnings() {
		cfg.Logger.Warn(w)
	}
	pool, err := pg.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("--postgres: %w", err)
	}
	storage, closeDBs, err := openDatabases(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("--postgres: %w", err)
	}
	closeAll := func() {
		if err := closeDBs(); err != nil {
			cfg.Logger.Error("close the databases", "err", err)
		}
		pool.Close()
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Databases: the %s.\n", pg)
	if sf.objectStore != "" {
		if storage.Objects, err = objects.Open(ctx); err != nil {
			closeAll()
			return nil, fmt.Errorf("--object-store: %w", err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Object store: %s.\n", objects)
	}
	if sf.sharedWAL {
		wal, err := pgwal.Open(ctx, pool)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("--shared-wal: %w", err)
		}
		storage.WAL = wal
		closeRest := closeAll
		closeAll = func() {
			wal.Close() // its appends end before the pool closes
			closeRest()
		}
		fmt.Fprintln(cmd.OutOrStdout(), "Write-ahead log: shared, in the PostgreSQL database.")
	}
	cfg.Storage = storage
	return closeAll, nil
}

// openDatabases opens the node's four databases as namespaces of the
// PostgreSQL database pool reaches; the function returned closes them.
func openDatabases(ctx context.Context, pool *pgxpool.Pool) (*node.Storage, func() error, error) {
	s := new(node.Storage)
	var opened []kv.DB
	closeAll := func() error {
		var errs []error
		for _, db := range opened {
			errs = append(errs, db.Close())
		}
		return errors.Join(errs...)
	}
	for _, d := range []struct {
		name string
		into *kv.DB
	}{{"identity", &s.Identity}, {"vault", &s.Vault}, {"control", &s.Control}, {"documents", &s.Documents}} {
		db, err := pgkv.Open(ctx, pool, d.name)
		if err != nil {
			return nil, nil, errors.Join(err, closeAll())
		}
		*d.into = db
		opened = append(opened, db)
	}
	return s, closeAll, nil
}
