// Package nodeseal keeps the node's own secrets — the identity signing key,
// the TLS keys, the platform key, the control plane's secret key, the
// vault's root key — sealed at rest under a node master key, which a root of
// trust chosen at start (a passphrase, a PKCS#11 token, AWS KMS, a Key Vault
// key, or the development default, a root key file) wraps.
//
// A secret meant for PATH is stored in PATH.sealed: a header naming the
// master key's generation, then the secret sealed with AES-256-GCM under
// that master key, with the secret's path inside the data directory and the
// generation as associated data, so that a sealed file moved to another
// name, or swapped for another generation's, fails to open. A plain file
// found at PATH (a data directory from before sealing) is sealed on first
// read and then removed.
//
// Nodes that share their databases (OpenShared) share one master key, the
// cluster's, kept in the shared database wrapped by the root of trust every
// node is given, and keep the secrets they share there as records sealed
// under it, each bound to its name (see shared.go).
package nodeseal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sealwatch/sealwatch/internal/kv"
	"github.com/sealwatch/sealwatch/internal/rootkey"
)

var (
	// ErrIntegrity: a sealed secret (or master.json) was altered, truncated,
	// moved to another name or is not this node's: it is never opened.
	ErrIntegrity = errors.New("sealed node secret failed its integrity check")
	// ErrWrongRoot: the root of trust given is not the one the node's master
	// key was wrapped under (another passphrase, key file or key).
	ErrWrongRoot = errors.New("wrong root of trust")
)

const (
	sealedSuffix = ".sealed"
	masterFile   = "master.json"
	nextFile     = "master.next.json"
	masterSize   = 32
)

// fileMagic starts every sealed file, so that a file of another kind is
// told apart from a damaged one.
var fileMagic = []byte("SWSEAL1\n")

// master is master.json (and, during a rekey, master.next.json).
type master struct {
	Generation uint32   `json:"generation"`
	Root       wrapping `json:"root"`
	// A rekey in progress writes master.next.json with both master keys,
	// each sealed under the other, so that whichever root the node is
	// started with after a crash, it opens every secret and finishes (with
	// the new root) or undoes (with the old) the rekey.
	Previous          []byte `json:"previous,omitempty"`
	NextUnderPrevious []byte `json:"nextUnderPrevious,omitempty"`
}

// Box opens and seals the node's secrets under its master key. It is not
// safe for concurrent use; the node uses it while opening.
type Box struct {
	dataDir string
	sealDir string
	// db is the database several nodes share their secrets in (OpenShared);
	// nil for a node on its own.
	db   kv.DB
	gen  uint32
	keys map[uint32]*rootkey.Key
	raw  map[uint32][]byte // the master keys' bytes, for a rekey; zeroed by Close
}

// Open unwraps the node's master key in dataDir/seal with root, creating
// it on first start. A rekey a crash interrupted is finished (root is the
// new one) or undone (root is the old one) before Open returns.
func Open(ctx context.Context, dataDir string, root Root) (*Box, error) {
	b, err := newBox(dataDir)
	if err != nil {
		return nil, err
	}
	cur, err := readMaster(filepath.Join(b.sealDir, masterFile))
	if errors.Is(err, fs.ErrNotExist) {
		return b, b.create(ctx, root)
	}
	if err != nil {
		return nil, err
	}
	next, err := readMaster(filepath.Join(b.sealDir, nextFile))
	hasNext := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if hasNext && root.Source() == next.Root.Source && (root.Source() != cur.Root.Source || !b.opens(ctx, root, cur)) {
		err = b.rollForward(ctx, root, next)
	} else {
		err = b.open(ctx, root, cur)
		if err == nil && hasNext {
			err = b.rollBack(next)
		}
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Box) create(ctx context.Context, root Root) error {
	raw := make([]byte, masterSize)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("nodeseal: generate master key: %w", err)
	}
	w, err := root.wrap(ctx, raw, b.place(1))
	if err != nil {
		return err
	}
	if err := b.addKey(1, raw); err != nil {
		return err
	}
	b.gen = 1
	return writeJSON(filepath.Join(b.sealDir, masterFile), master{Generation: 1, Root: w})
}

// opens reports whether root unwraps m, without keeping the key.
func (b *Box) opens(ctx context.Context, root Root, m master) bool {
	raw, err := root.unwrap(ctx, m.Root, b.place(m.Generation))
	clear(raw)
	return err == nil
}

func (b *Box) open(ctx context.Context, root Root, m master) error {
	if root.Source() != m.Root.Source {
		return fmt.Errorf("the node's secrets are sealed under the %s root of trust, not %s: start it with --root-of-trust %s, or change the root with `sealwatch operator rekey`: %w",
			m.Root.Source, root.Source(), m.Root.Source, ErrWrongRoot)
	}
	raw, err := root.unwrap(ctx, m.Root, b.place(m.Generation))
	if err != nil {
		return err
	}
	defer clear(raw)
	b.gen = m.Generation
	return b.addKey(m.Generation, raw)
}

func (b *Box) addKey(gen uint32, raw []byte) error {
	if len(raw) != masterSize {
		return fmt.Errorf("nodeseal: master key is %d bytes: %w", len(raw), ErrIntegrity)
	}
	k, err := rootkey.New(raw)
	if err != nil {
		return err
	}
	b.keys[gen], b.raw[gen] = k, bytes.Clone(raw)
	return nil
}

// Close zeroes the master keys the Box holds.
func (b *Box) Close() {
	for gen, k := range b.keys {
		k.Close()
		clear(b.raw[gen])
	}
	clear(b.keys)
	clear(b.raw)
}

// ReadFile returns the secret meant for path (a file under the data
// directory), opening path.sealed. When only a plain file is at path, it is
// sealed and then removed: the sealed file is written and synced before the
// plain one goes, so that a crash in between leaves both, and the next read
// removes the plain one. A missing secret is an error wrapping
// fs.ErrNotExist.
func (b *Box) ReadFile(path string) ([]byte, error) {
	name, err := b.name(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path + sealedSuffix)
	if err == nil {
		plain, err := b.openSealed(name, data)
		if err != nil {
			return nil, err
		}
		return plain, removeSynced(path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("nodeseal: read %s: %w", path+sealedSuffix, err)
	}
	plain, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nodeseal: read %s: %w", path, err)
	}
	return plain, b.WriteFile(path, plain)
}

// WriteFile seals data as the secret meant for path and removes any plain
// file at path.
func (b *Box) WriteFile(path string, data []byte) error {
	name, err := b.name(path)
	if err != nil {
		return err
	}
	sealed, err := b.seal(name, b.gen, data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("nodeseal: create %s: %w", filepath.Dir(path), err)
	}
	if err := writeFileAtomic(path+sealedSuffix, sealed); err != nil {
		return err
	}
	return removeSynced(path)
}

// name is path relative to the data directory, with forward slashes: the
// associated data that binds a sealed file to its place.
func (b *Box) name(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("nodeseal: %w", err)
	}
	rel, err := filepath.Rel(b.dataDir, abs)
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("nodeseal: %s is not under the data directory %s", path, b.dataDir)
	}
	return filepath.ToSlash(rel), nil
}

func fileAAD(name string, gen uint32) []byte {
	return []byte("sealwatch/nodeseal/v1\x00" + name + "\x00" + strconv.FormatUint(uint64(gen), 10))
}

func (b *Box) seal(name string, gen uint32, plain []byte) ([]byte, error) {
	k, ok := b.keys[gen]
	if !ok {
		return nil, fmt.Errorf("nodeseal: no master key of generation %d", gen)
	}
	sealed, err := k.Seal(plain, fileAAD(name, gen))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(fileMagic)+4+len(sealed))
	out = append(out, fileMagic...)
	out = binary.BigEndian.AppendUint32(out, gen)
	return append(out, sealed...), nil
}

// generation reads a sealed file's header.
func generation(name string, data []byte) (uint32, []byte, error) {
	if len(data) < len(fileMagic)+4 || !bytes.Equal(data[:len(fileMagic)], fileMagic) {
		return 0, nil, fmt.Errorf("nodeseal: %s is not a sealed secret: %w", label(name), ErrIntegrity)
	}
	rest := data[len(fileMagic):]
	return binary.BigEndian.Uint32(rest), rest[4:], nil
}

func (b *Box) openSealed(name string, data []byte) ([]byte, error) {
	gen, sealed, err := generation(name, data)
	if err != nil {
		return nil, err
	}
	k, ok := b.keys[gen]
	if !ok {
		return nil, fmt.Errorf("nodeseal: %s was sealed by master key generation %d, which this node does not hold (restored from another backup?): %w", label(name), gen, ErrIntegrity)
	}
	plain, err := k.Open(sealed, fileAAD(name, gen))
	if err != nil {
		return nil, fmt.Errorf("nodeseal: %s was altered, moved or is not this node's; restore it from a backup, or remove it to have the secret made anew where that is safe: %w", label(name), ErrIntegrity)
	}
	return plain, nil
}

func readMaster(path string) (master, error) {
	var m master
	data, err := os.ReadFile(path)
	if err != nil {
		return m, fmt.Errorf("nodeseal: read %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Generation == 0 || m.Root.Source == "" {
		return m, fmt.Errorf("nodeseal: %s is damaged; restore it from a backup of the data directory: %w", path, ErrIntegrity)
	}
	return m, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("nodeseal: encode %s: %w", path, err)
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// writeFileAtomic replaces path with data (mode 0600) so that a crash leaves
// the old file or the new one, and makes the new name durable.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("nodeseal: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("nodeseal: write %s: %w", path, err)
	}
	return nil
}

// removeSynced removes path, if it is there, durably.
func removeSynced(path string) error {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("nodeseal: remove the plain %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// newBox is an empty Box for dataDir, its seal directory made.
func newBox(dataDir string) (*Box, error) {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("nodeseal: %w", err)
	}
	sealDir := filepath.Join(dataDir, "seal")
	if err := os.MkdirAll(sealDir, 0o700); err != nil {
		return nil, fmt.Errorf("nodeseal: create %s: %w", sealDir, err)
	}
	return &Box{dataDir: dataDir, sealDir: sealDir, keys: map[uint32]*rootkey.Key{}, raw: map[uint32][]byte{}}, nil
}
