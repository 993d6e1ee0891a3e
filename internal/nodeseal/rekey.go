package nodeseal

import (
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Rekey replaces the node's master key with a new one wrapped under to (the
// same root of trust, or another source), resealing every node secret. The
// node must be stopped. It is crash-safe: until master.next.json is renamed
// over master.json, a node started with from undoes the rekey, and one
// started with to finishes it.
func Rekey(ctx context.Context, dataDir string, from, to Root) error {
	return rekey(ctx, dataDir, from, to, nil)
}

// rekey is Rekey with a hook called after each secret is resealed: a test
// returns an error from it to stop as a crash would.
func rekey(ctx context.Context, dataDir string, from, to Root, afterReseal func() error) error {
	b, err := Open(ctx, dataDir, from)
	if err != nil {
		return err
	}
	defer b.Close()
	cur, err := readMaster(filepath.Join(b.sealDir, masterFile))
	if err != nil {
		return err
	}
	oldGen, newGen := b.gen, b.gen+1
	raw := make([]byte, masterSize)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("nodeseal: generate master key: %w", err)
	}
	defer clear(raw)
	w, err := to.wrap(ctx, raw, b.place(newGen))
	if err != nil {
		return err
	}
	if err := b.addKey(newGen, raw); err != nil {
		return err
	}
	next := master{Generation: newGen, Root: w}
	if next.Previous, err = b.keys[newGen].Seal(b.raw[oldGen], pairAAD("previous", oldGen)); err != nil {
		return err
	}
	if next.NextUnderPrevious, err = b.keys[oldGen].Seal(raw, pairAAD("next", newGen)); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(b.sealDir, nextFile), next); err != nil {
		return err
	}
	b.gen = newGen
	if err := b.resealAll(afterReseal); err != nil {
		return err
	}
	if err := b.commit(); err != nil {
		return err
	}
	return b.retire(cur.Root, from, to)
}

// pairAAD binds a master key sealed under the other one during a rekey to
// its role and generation.
func pairAAD(role string, gen uint32) []byte {
	return []byte("sealwatch/nodeseal/rekey/" + role + "/" + strconv.FormatUint(uint64(gen), 10))
}

// rollForward finishes a rekey with the new root.
func (b *Box) rollForward(ctx context.Context, root Root, next master) error {
	raw, err := root.unwrap(ctx, next.Root, b.place(next.Generation))
	if err != nil {
		return err
	}
	defer clear(raw)
	if err := b.addKey(next.Generation, raw); err != nil {
		return err
	}
	prevGen := next.Generation - 1
	prev, err := b.keys[next.Generation].Open(next.Previous, pairAAD("previous", prevGen))
	if err != nil {
		return fmt.Errorf("nodeseal: %s is damaged: %w", nextFile, ErrIntegrity)
	}
	defer clear(prev)
	if err := b.addKey(prevGen, prev); err != nil {
		return err
	}
	b.gen = next.Generation
	if err := b.resealAll(nil); err != nil {
		return err
	}
	return b.commit()
}

// rollBack undoes a rekey: the node was started with the old root.
func (b *Box) rollBack(next master) error {
	raw, err := b.keys[b.gen].Open(next.NextUnderPrevious, pairAAD("next", next.Generation))
	if err != nil {
		return fmt.Errorf("nodeseal: %s is damaged: %w", nextFile, ErrIntegrity)
	}
	defer clear(raw)
	if err := b.addKey(next.Generation, raw); err != nil {
		return err
	}
	if err := b.resealAll(nil); err != nil {
		return err
	}
	if next.Root.Params != "" {
		if err := removeSynced(filepath.Join(b.sealDir, filepath.Base(next.Root.Params))); err != nil {
			return err
		}
	}
	return removeSynced(filepath.Join(b.sealDir, nextFile))
}

// commit makes the new master key the node's: the one step of a rekey
// after which the old root no longer opens the node.
func (b *Box) commit() error {
	if err := os.Rename(filepath.Join(b.sealDir, nextFile), filepath.Join(b.sealDir, masterFile)); err != nil {
		return fmt.Errorf("nodeseal: commit the new master key: %w", err)
	}
	if err := syncDir(b.sealDir); err != nil {
		return fmt.Errorf("nodeseal: commit the new master key: %w", err)
	}
	return nil
}

// retire removes what only the old root needed: its passphrase parameters,
// and the development default's key file when the node moved off it.
func (b *Box) retire(old wrapping, from, to Root) error {
	if old.Params != "" {
		if err := removeSynced(filepath.Join(b.sealDir, filepath.Base(old.Params))); err != nil {
			return err
		}
	}
	if f, ok := from.(fileRoot); ok && f.path == "" {
		if t, ok := to.(fileRoot); !ok || t.path != "" {
			return removeSynced(filepath.Join(b.sealDir, "root.key"))
		}
	}
	return nil
}

// resealAll seals every secret under the data directory that another
// generation sealed with the current master key, one file at a time, each
// replaced atomically.
func (b *Box) resealAll(afterReseal func() error) error {
	return filepath.WalkDir(b.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(path, sealedSuffix) {
			return nil
		}
		name, err := b.name(strings.TrimSuffix(path, sealedSuffix))
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("nodeseal: read %s: %w", path, err)
		}
		gen, _, err := generation(name, data)
		if err != nil || gen == b.gen {
			return err
		}
		plain, err := b.openSealed(name, data)
		if err != nil {
			return err
		}
		defer clear(plain)
		sealed, err := b.seal(name, b.gen, plain)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(path, sealed); err != nil {
			return err
		}
		if afterReseal != nil {
			return afterReseal()
		}
		return nil
	})
}
