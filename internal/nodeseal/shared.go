package nodeseal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/sealwatch/sealwatch/internal/kv"
)

// Several nodes that share their databases share their secrets too: a token
// one signs must verify on the others, and what one seals they must open.
// Their master key is then the cluster's, kept in the shared database
// wrapped by a root of trust every node is given (the same key in a key
// service, the same passphrase, or the same root key file copied to each),
// and each secret is a record there sealed under it, named rather than
// placed: its name and the master key's generation are its associated data.
var (
	bucketSeal    = []byte("node.seal")
	bucketSecrets = []byte("node.secrets")
	keyMaster     = []byte("master")
)

// OpenShared unwraps the cluster's master key kept in db with root,
// creating it when db holds none. Of several nodes opening an empty db at
// once, one's master key is stored and every node uses it. The Box then
// keeps secrets in db (LoadOrCreate); files under dataDir (ReadFile,
// WriteFile: what is the node's own, such as its TLS key) are sealed under
// the same master key.
func OpenShared(ctx context.Context, dataDir string, db kv.DB, root Root) (*Box, error) {
	b, err := newBox(dataDir)
	if err != nil {
		return nil, err
	}
	b.db = db
	m, found, err := b.readSharedMaster(ctx)
	if err == nil && !found {
		m, found, err = b.createShared(ctx, root)
	}
	if err == nil && found {
		err = b.openShared(ctx, root, m)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Box) place(gen uint32) place {
	return place{sealDir: b.sealDir, gen: gen, shared: b.db != nil}
}

func (b *Box) readSharedMaster(ctx context.Context) (master, bool, error) {
	var (
		m     master
		found bool
	)
	err := b.db.View(ctx, func(tx kv.Tx) error {
		var err error
		m, found, err = sharedMaster(tx)
		return err
	})
	if err != nil {
		return m, false, fmt.Errorf("nodeseal: read the cluster's master key: %w", err)
	}
	return m, found, nil
}

func sharedMaster(tx kv.Tx) (master, bool, error) {
	var m master
	bk := tx.Bucket(bucketSeal)
	if bk == nil {
		return m, false, nil
	}
	raw := bk.Get(keyMaster)
	if raw == nil {
		return m, false, nil
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.Generation == 0 || m.Root.Source == "" {
		return m, false, fmt.Errorf("nodeseal: the cluster's master key record is damaged; restore the database from a backup: %w", ErrIntegrity)
	}
	return m, true, nil
}

// createShared makes a master key and stores it wrapped by root unless
// another node stored one first; either way it returns what is stored,
// not yet unwrapped.
func (b *Box) createShared(ctx context.Context, root Root) (master, bool, error) {
	raw := make([]byte, masterSize)
	defer clear(raw)
	if _, err := rand.Read(raw); err != nil {
		return master{}, false, fmt.Errorf("nodeseal: generate master key: %w", err)
	}
	w, err := root.wrap(ctx, raw, b.place(1))
	if err != nil {
		return master{}, false, err
	}
	ours := master{Generation: 1, Root: w}
	enc, err := json.Marshal(ours)
	if err != nil {
		return master{}, false, fmt.Errorf("nodeseal: encode the cluster's master key: %w", err)
	}
	stored := ours
	err = b.db.Update(ctx, func(tx kv.Tx) error {
		theirs, found, err := sharedMaster(tx)
		if err != nil || found {
			stored = theirs
			return err
		}
		bk, err := tx.CreateBucketIfNotExists(bucketSeal)
		if err != nil {
			return err
		}
		return bk.Put(keyMaster, enc)
	})
	if err != nil {
		return master{}, false, fmt.Errorf("nodeseal: store the cluster's master key: %w", err)
	}
	return stored, true, nil
}

func (b *Box) openShared(ctx context.Context, root Root, m master) error {
	if root.Source() != m.Root.Source {
		return fmt.Errorf("the cluster's secrets in the shared database are sealed under the %s root of trust, not %s: start every node with --root-of-trust %s and the same key: %w",
			m.Root.Source, root.Source(), m.Root.Source, ErrWrongRoot)
	}
	raw, err := root.unwrap(ctx, m.Root, b.place(m.Generation))
	if err != nil {
		return fmt.Errorf("this node cannot open the cluster's master key in the shared database (every node must be started with the same root of trust): %w", err)
	}
	defer clear(raw)
	b.gen = m.Generation
	return b.addKey(m.Generation, raw)
}

// LoadOrCreate returns the secret called name (a slash-separated name such
// as "workspace/secrets.key"), storing the one create makes when there is
// none. A node on its own keeps it in the file of that name under its data
// directory, as ReadFile and WriteFile do; nodes sharing a database keep
// it there, created inside one transaction so that of two nodes starting
// at once, one's secret is stored and both use it.
func (b *Box) LoadOrCreate(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	if !filepath.IsLocal(filepath.FromSlash(name)) {
		return nil, fmt.Errorf("nodeseal: %q is not a secret's name", name)
	}
	if b.db == nil {
		return b.loadOrCreateFile(filepath.Join(b.dataDir, filepath.FromSlash(name)), create)
	}
	plain, err := b.loadShared(ctx, name)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return plain, err
	}
	// The secret is made outside the transaction, which other nodes' writes
	// wait for; a node that loses the race throws its own away.
	ours, err := create()
	if err != nil {
		return nil, err
	}
	sealed, err := b.seal(sharedName(name), b.gen, ours)
	if err != nil {
		return nil, err
	}
	var theirs []byte
	err = b.db.Update(ctx, func(tx kv.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketSecrets)
		if err != nil {
			return err
		}
		if v := bk.Get([]byte(name)); v != nil {
			theirs = append([]byte(nil), v...)
			return nil
		}
		return bk.Put([]byte(name), sealed)
	})
	if err != nil {
		return nil, fmt.Errorf("nodeseal: store the cluster's %s: %w", name, err)
	}
	if theirs == nil {
		return ours, nil
	}
	clear(ours)
	return b.openSealed(sharedName(name), theirs)
}

func (b *Box) loadOrCreateFile(path string, create func() ([]byte, error)) ([]byte, error) {
	plain, err := b.ReadFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return plain, err
	}
	if plain, err = create(); err != nil {
		return nil, err
	}
	return plain, b.WriteFile(path, plain)
}

// loadShared opens the secret called name in the shared database; an
// error wrapping fs.ErrNotExist when there is none.
func (b *Box) loadShared(ctx context.Context, name string) ([]byte, error) {
	var sealed []byte
	err := b.db.View(ctx, func(tx kv.Tx) error {
		if bk := tx.Bucket(bucketSecrets); bk != nil {
			if v := bk.Get([]byte(name)); v != nil {
				sealed = append([]byte(nil), v...)
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("nodeseal: read the cluster's %s: %w", name, err)
	case sealed == nil:
		return nil, fmt.Errorf("nodeseal: the cluster's %s: %w", name, fs.ErrNotExist)
	}
	return b.openSealed(sharedName(name), sealed)
}

// sharedName is what binds a shared secret to its name: a prefix no file
// under a data directory has, so that a sealed file copied into the
// database, or a record copied out to a file, fails to open.
func sharedName(name string) string { return sharedPrefix + name }

const sharedPrefix = "cluster:"

// label names a sealed secret in messages: its file, or its record.
func label(name string) string {
	if n, ok := strings.CutPrefix(name, sharedPrefix); ok {
		return "the shared database's record of " + n
	}
	return name + sealedSuffix
}

// LoadOrCreateKey returns the 32-byte key called name (see LoadOrCreate),
// generating one on first use.
func (b *Box) LoadOrCreateKey(ctx context.Context, name string) ([]byte, error) {
	raw, err := b.LoadOrCreate(ctx, name, func() ([]byte, error) {
		raw := make([]byte, masterSize)
		if _, err := rand.Read(raw); err != nil {
			return nil, fmt.Errorf("nodeseal: generate %s: %w", name, err)
		}
		return raw, nil
	})
	if err != nil {
		return nil, err
	}
	if len(raw) != masterSize {
		clear(raw)
		return nil, fmt.Errorf("nodeseal: %s holds %d bytes, not a 32-byte key (is it the right secret?)", name, len(raw))
	}
	return raw, nil
}

// Shared reports whether the Box keeps its secrets in a database several
// nodes share (OpenShared).
func (b *Box) Shared() bool { return b.db != nil }

// RekeyShared wraps the cluster's master key kept in db, which from
// unwraps, under to instead: the root of trust every node must be started
// with from then on. The master key stays, and with it every secret sealed
// under it, so the change is one Update; it is made only if the record is
// still the one read, so that two changes at once cannot leave the key
// wrapped under a root nobody was told of. Nodes that are running keep
// running; a node started with from afterwards is refused.
func RekeyShared(ctx context.Context, dataDir string, db kv.DB, from, to Root) error {
	// A database given by mistake must not get a master key made for it.
	if _, found, err := (&Box{db: db}).readSharedMaster(ctx); err != nil || !found {
		return errors.Join(err, errors.New("nodeseal: the database holds no cluster master key to rekey: is it the one the nodes share?"))
	}
	b, err := OpenShared(ctx, dataDir, db, from)
	if err != nil {
		return err
	}
	defer b.Close()
	var read []byte
	err = db.View(ctx, func(tx kv.Tx) error {
		read = bytes.Clone(tx.Bucket(bucketSeal).Get(keyMaster))
		return nil
	})
	if err != nil {
		return fmt.Errorf("nodeseal: read the cluster's master key: %w", err)
	}
	w, err := to.wrap(ctx, b.raw[b.gen], b.place(b.gen))
	if err != nil {
		return err
	}
	enc, err := json.Marshal(master{Generation: b.gen, Root: w})
	if err != nil {
		return fmt.Errorf("nodeseal: encode the cluster's master key: %w", err)
	}
	err = db.Update(ctx, func(tx kv.Tx) error {
		bk := tx.Bucket(bucketSeal)
		if !bytes.Equal(bk.Get(keyMaster), read) {
			return errors.New("nodeseal: the cluster's master key record changed meanwhile (another rekey?); run the rekey again")
		}
		return bk.Put(keyMaster, enc)
	})
	if err != nil {
		return fmt.Errorf("nodeseal: store the cluster's master key under the new root: %w", err)
	}
	return nil
}
