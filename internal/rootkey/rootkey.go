// Package rootkey holds a vault's root key, which seals every piece of key material the
// vault stores, and derives the vault's other secrets (such as the audit log's MAC key)
// from it. The root key comes from a key file or from a passphrase through Argon2id.
package rootkey

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

var (
	// ErrIntegrity means a sealed value was altered, truncated, sealed under another key or
	// with other associated data, or has an unknown format: it is never opened.
	ErrIntegrity = errors.New("sealed value failed its integrity check")
	// ErrWrongPassphrase means the passphrase does not produce the key that this vault's
	// parameters file was created with.
	ErrWrongPassphrase = errors.New("wrong passphrase")
)

const (
	keySize = 32 // AES-256

	formatV1  byte = 1
	nonceSize      = 12
	tagSize        = 16
	overhead       = 1 + nonceSize + tagSize
)

// Key is a vault's root key. Its methods may be called concurrently, except Close,
// which must come after every other call has returned.
type Key struct {
	raw  []byte // kept for Derive; zeroed by Close
	aead cipher.AEAD
}

// New makes a Key of 32 bytes the caller holds, such as a key sealed under
// another one. The bytes are copied and may be zeroed by the caller afterwards.
func New(raw []byte) (*Key, error) { return newKey(raw) }

func newKey(raw []byte) (*Key, error) {
	if len(raw) != keySize {
		return nil, fmt.Errorf("rootkey: key is %d bytes, want %d", len(raw), keySize)
	}
	own := bytes.Clone(raw)
	block, err := aes.NewCipher(own)
	if err != nil {
		return nil, fmt.Errorf("rootkey: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("rootkey: %w", err)
	}
	return &Key{raw: own, aead: aead}, nil
}

// Seal encrypts and authenticates plaintext, binding aad to it. The result is
// 1 version byte (1) || 12-byte random nonce || AES-256-GCM ciphertext and tag.
// The version byte is part of the authenticated data, so it cannot be changed to make
// an old reader misinterpret a newer format. Random 96-bit nonces stay safe for about 2^32
// seals under one key; a root key seals only key material, far fewer values than that.
func (k *Key) Seal(plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("rootkey: seal: read nonce: %w", err)
	}
	return k.sealWithNonce(nonce, plaintext, aad)
}

// sealWithNonce exists so that fuzz seeds are the same in every process; everything else
// must go through Seal's random nonce.
func (k *Key) sealWithNonce(nonce, plaintext, aad []byte) ([]byte, error) {
	if k.aead == nil {
		return nil, errors.New("rootkey: seal with a closed key")
	}
	out := make([]byte, 1+nonceSize, overhead+len(plaintext))
	out[0] = formatV1
	copy(out[1:], nonce)
	return k.aead.Seal(out, out[1:1+nonceSize], plaintext, boundAAD(formatV1, aad)), nil
}

// Open reverses Seal. Any failure — truncation, a flipped bit, other aad, another key,
// an unknown version — is an error wrapping ErrIntegrity; Open never returns wrong data.
func (k *Key) Open(sealed, aad []byte) ([]byte, error) {
	if k.aead == nil {
		return nil, errors.New("rootkey: open with a closed key")
	}
	if len(sealed) < overhead {
		return nil, fmt.Errorf("rootkey: open: %d bytes is shorter than any sealed value: %w", len(sealed), ErrIntegrity)
	}
	if sealed[0] != formatV1 {
		return nil, fmt.Errorf("rootkey: open: unknown format version %d: %w", sealed[0], ErrIntegrity)
	}
	nonce, ct := sealed[1:1+nonceSize], sealed[1+nonceSize:]
	plaintext, err := k.aead.Open(nil, nonce, ct, boundAAD(sealed[0], aad))
	if err != nil {
		return nil, fmt.Errorf("rootkey: open: %w", ErrIntegrity)
	}
	return plaintext, nil
}

func boundAAD(version byte, aad []byte) []byte {
	b := make([]byte, 0, 1+len(aad))
	b = append(b, version)
	return append(b, aad...)
}

// Derive returns a 32-byte key for one purpose: HKDF-SHA256(root, salt=nil,
// info="sealwatch/rootkey/"+purpose). Distinct purposes give independent keys, so a key
// handed to one component (the audit log's MAC key) reveals nothing about the others.
// Derive must not be called after Close: it panics rather than return a guessable key.
func (k *Key) Derive(purpose string) []byte {
	if k.aead == nil {
		panic("rootkey: Derive called on a closed key")
	}
	out, err := hkdf.Key(sha256.New, k.raw, nil, "sealwatch/rootkey/"+purpose, keySize)
	if err != nil {
		panic("rootkey: hkdf: " + err.Error()) // unreachable: 32 bytes is far below HKDF's limit
	}
	return out
}

// Close zeroes the key bytes the Key holds. The AES key schedule inside crypto/aes is out
// of reach; dropping the AEAD lets the collector reclaim it.
func (k *Key) Close() {
	clear(k.raw)
	k.raw = nil
	k.aead = nil
}

// LoadOrCreateFile loads the 32-byte root key at path, creating it with mode 0600 if the
// file does not exist. It refuses a file that group or others may access, or one of the
// wrong size, with an error saying what to do.
func LoadOrCreateFile(path string) (*Key, error) {
	raw, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = createKeyFile(path)
	}
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	return newKey(raw)
}

func createKeyFile(path string) ([]byte, error) {
	raw := make([]byte, keySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("rootkey: generate key: %w", err)
	}
	created, err := createExclusive(path, raw)
	if err != nil {
		clear(raw)
		return nil, err
	}
	if !created {
		// Another process created it first; use theirs, never overwrite a key in use.
		clear(raw)
		return readKeyFile(path)
	}
	return raw, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rootkey: open key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("rootkey: key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("rootkey: key file %s is not a regular file", path)
	}
	// Windows has no such mode bits; there the directory's ACL must do this job.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("rootkey: key file %s has mode %04o, so other users may read it; run: chmod 600 %s", path, perm, path)
	}
	if fi.Size() != keySize {
		return nil, fmt.Errorf("rootkey: key file %s is %d bytes; a root key file holds exactly %d random bytes (is it the right file?)", path, fi.Size(), keySize)
	}
	raw := make([]byte, keySize)
	if _, err := io.ReadFull(f, raw); err != nil {
		return nil, fmt.Errorf("rootkey: read key file %s: %w", path, err)
	}
	return raw, nil
}

// createExclusive writes data to path with mode 0600 only if path does not exist yet. It
// writes a temporary file and links it into place, so that a crash never leaves a short
// file under path and a concurrent creator never has its key overwritten. It reports
// false, without error, when path already existed.
func createExclusive(path string, data []byte) (bool, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return false, fmt.Errorf("rootkey: create %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
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
	if err != nil {
		return false, fmt.Errorf("rootkey: create %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("rootkey: create %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		// Make the new name durable; without it a power cut could lose the key after
		// data sealed under it was written.
		err = d.Sync()
		d.Close()
		if err != nil {
			return true, fmt.Errorf("rootkey: sync %s: %w", dir, err)
		}
	}
	return true, nil
}
