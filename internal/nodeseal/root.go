package nodeseal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/rootkey"
)

// Root sources, as --root-of-trust names them.
const (
	SourceFile       = "file"
	SourcePassphrase = "passphrase"
	SourcePKCS11     = "pkcs11"
	SourceAWSKMS     = "aws-kms"
	SourceKeyVault   = "keyvault"
)

// Root is the root of trust the node's master key is wrapped under. It is
// chosen at start; File, Passphrase and KEK make one.
type Root interface {
	// Source names the kind of root, such as "passphrase" or "aws-kms".
	Source() string
	// wrap wraps master at p: where the wrapping is kept decides where a
	// root keeps what it needs besides (a passphrase's parameters).
	wrap(ctx context.Context, master []byte, p place) (wrapping, error)
	unwrap(ctx context.Context, w wrapping, p place) ([]byte, error)
}

// place is where a master key's wrapping is kept: a node's seal directory,
// or the database several nodes share (shared).
type place struct {
	// sealDir is where a root keeps what it needs on disk: never a secret
	// but the development default's key file, and, for a node's own master
	// key, the passphrase's parameters.
	sealDir string
	// gen is the master key's generation, so that a rekey never overwrites
	// what the current master key needs.
	gen uint32
	// shared: the wrapping is in a shared database, and it holds the
	// passphrase's parameters itself, since every node derives the same
	// key from them.
	shared bool
}

// wrapping is a master key wrapped by a root, as master.json stores it.
type wrapping struct {
	Source string `json:"source"`
	// Sealed is the master key sealed with a root key (file, passphrase).
	Sealed []byte `json:"sealed,omitempty"`
	// Params is the passphrase's Argon2id parameters file, in the seal directory.
	Params string `json:"params,omitempty"`
	// KDF is the passphrase's Argon2id parameters themselves (salt, costs,
	// check value; nothing secret), for a wrapping in a shared database.
	KDF []byte `json:"kdf,omitempty"`
	// KEK is the master key wrapped by a key service (pkcs11, aws-kms, keyvault).
	KEK *keyring.Wrapped `json:"kek,omitempty"`
}

var masterAAD = []byte("sealwatch/nodeseal/master-key")

// File is a root key file of 32 random bytes at path, created on first use
// (mode 0600); "" is DATA/seal/root.key. It is the development default: a
// file beside the data it seals protects against nothing, since whoever
// reads the data directory reads the key too. Kept elsewhere (a removable
// disk, a secrets mount) it protects against the data directory alone
// leaking.
func File(path string) Root { return fileRoot{path: path} }

type fileRoot struct{ path string }

func (fileRoot) Source() string { return SourceFile }

func (r fileRoot) keyPath(sealDir string) string {
	if r.path == "" {
		return filepath.Join(sealDir, "root.key")
	}
	return r.path
}

func (r fileRoot) wrap(_ context.Context, master []byte, p place) (wrapping, error) {
	k, err := rootkey.LoadOrCreateFile(r.keyPath(p.sealDir))
	if err != nil {
		return wrapping{}, err
	}
	defer k.Close()
	sealed, err := k.Seal(master, masterAAD)
	return wrapping{Source: SourceFile, Sealed: sealed}, err
}

func (r fileRoot) unwrap(_ context.Context, w wrapping, p place) ([]byte, error) {
	path := r.keyPath(p.sealDir)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if p.shared {
			return nil, fmt.Errorf("the root key file %s is missing: every node sharing the database must be given the same root key file, copied from the node that made the cluster's master key (--root-key-file): %w", path, ErrWrongRoot)
		}
		return nil, fmt.Errorf("the root key file %s is missing: give the node the file its secrets were sealed with (--root-key-file): %w", path, ErrWrongRoot)
	}
	k, err := rootkey.LoadOrCreateFile(path)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	master, err := k.Open(w.Sealed, masterAAD)
	if err != nil && p.shared {
		return nil, fmt.Errorf("the root key file %s does not open the cluster's master key: every node sharing the database must be given the same root key file, a copy of the one the first node made (--root-key-file): %w", path, ErrWrongRoot)
	}
	if err != nil {
		return nil, fmt.Errorf("the root key file %s does not open the node's master key (is it the file the node was sealed with?): %w", path, ErrWrongRoot)
	}
	return master, nil
}

// Passphrase derives a root key from passphrase with Argon2id; its salt and
// costs are kept in the seal directory. The node asks for the passphrase
// on every start.
func Passphrase(passphrase []byte) Root { return passphraseRoot{passphrase: passphrase} }

type passphraseRoot struct{ passphrase []byte }

func (passphraseRoot) Source() string { return SourcePassphrase }

func (r passphraseRoot) wrap(_ context.Context, master []byte, p place) (wrapping, error) {
	if p.shared {
		k, params, err := rootkey.NewPassphraseKey(r.passphrase)
		if err != nil {
			return wrapping{}, err
		}
		defer k.Close()
		sealed, err := k.Seal(master, masterAAD)
		return wrapping{Source: SourcePassphrase, Sealed: sealed, KDF: params}, err
	}
	name := "passphrase-" + strconv.FormatUint(uint64(p.gen), 10) + ".params"
	// A file left by a rekey that failed before its commit holds a salt
	// nothing uses: start afresh rather than require that attempt's passphrase.
	if err := os.Remove(filepath.Join(p.sealDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return wrapping{}, err
	}
	k, err := rootkey.FromPassphrase(r.passphrase, filepath.Join(p.sealDir, name))
	if err != nil {
		return wrapping{}, err
	}
	defer k.Close()
	sealed, err := k.Seal(master, masterAAD)
	return wrapping{Source: SourcePassphrase, Sealed: sealed, Params: name}, err
}

func (r passphraseRoot) unwrap(_ context.Context, w wrapping, p place) ([]byte, error) {
	k, err := r.key(w, p)
	if errors.Is(err, rootkey.ErrWrongPassphrase) {
		return nil, fmt.Errorf("the passphrase is not the one the %s secrets were sealed with: %w", whose(p), ErrWrongRoot)
	}
	if err != nil {
		return nil, err
	}
	defer k.Close()
	master, err := k.Open(w.Sealed, masterAAD)
	if err != nil {
		return nil, fmt.Errorf("the passphrase does not open the %s master key: %w", whose(p), ErrWrongRoot)
	}
	return master, nil
}

// key derives the passphrase's key with the parameters the wrapping names.
func (r passphraseRoot) key(w wrapping, p place) (*rootkey.Key, error) {
	if p.shared {
		if len(w.KDF) == 0 {
			return nil, fmt.Errorf("the cluster's master key record holds no passphrase parameters: %w", ErrIntegrity)
		}
		return rootkey.FromPassphraseParams(r.passphrase, w.KDF)
	}
	path := filepath.Join(p.sealDir, filepath.Base(w.Params))
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("the passphrase's parameters %s cannot be read (%w): restore the data directory's seal/ folder", path, err)
	}
	return rootkey.FromPassphrase(r.passphrase, path)
}

// whose names the owner of a master key in messages: a node's own, or the
// cluster's that nodes sharing a database hold together.
func whose(p place) string {
	if p.shared {
		return "cluster's"
	}
	return "node's"
}

// KEK wraps the master key with a key in a key service — a PKCS#11 token,
// AWS KMS, a Key Vault — through its keyring driver; source names it
// (SourcePKCS11, SourceAWSKMS, SourceKeyVault).
func KEK(source string, k keyring.KEK) Root { return kekRoot{source: source, kek: k} }

type kekRoot struct {
	source string
	kek    keyring.KEK
}

func (r kekRoot) Source() string { return r.source }

func (r kekRoot) wrap(ctx context.Context, master []byte, _ place) (wrapping, error) {
	w, err := r.kek.Wrap(ctx, master)
	if err != nil {
		return wrapping{}, fmt.Errorf("wrap the node's master key with the %s root of trust: %w", r.source, err)
	}
	return wrapping{Source: r.source, KEK: &w}, nil
}

func (r kekRoot) unwrap(ctx context.Context, w wrapping, p place) ([]byte, error) {
	if w.KEK == nil {
		return nil, fmt.Errorf("the %s master key record holds no %s wrapping: %w", whose(p), r.source, ErrIntegrity)
	}
	master, err := r.kek.Unwrap(ctx, *w.KEK)
	switch {
	case errors.Is(err, keyring.ErrKeyUnreachable):
		return nil, fmt.Errorf("the %s root of trust cannot be reached; the node starts once it answers (check the network, the module or the service's status): %w", r.source, err)
	case errors.Is(err, keyring.ErrKeyRevoked):
		return nil, fmt.Errorf("the %s root of trust refused to unwrap the %s master key — the key is disabled, destroyed or the node's access was removed; enable the key or restore the access: %w", r.source, whose(p), err)
	case errors.Is(err, keyring.ErrWrongKEK), errors.Is(err, keyring.ErrIntegrity):
		if p.shared {
			return nil, fmt.Errorf("the %s key given is not the one the cluster's secrets were sealed with (%s): every node sharing the database must be given the same key: %w", r.source, w.KEK.KeyURI, ErrWrongRoot)
		}
		return nil, fmt.Errorf("the %s key given is not the one the node's secrets were sealed with (%s): %w", r.source, w.KEK.KeyURI, ErrWrongRoot)
	case err != nil:
		return nil, fmt.Errorf("unwrap the %s master key with the %s root of trust: %w", whose(p), r.source, err)
	}
	return master, nil
}
