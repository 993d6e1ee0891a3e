package rootkey

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/crypto/argon2"
)

const kdfArgon2id = "argon2id"

// kdfParams are Argon2id's cost parameters. They are stored with each vault, so raising the
// defaults later does not lock out existing vaults.
type kdfParams struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memoryKiB"`
	Threads   uint8  `json:"threads"`
}

// defaultKDF follows RFC 9106's second recommended option (t=3, m=64 MiB).
var defaultKDF = kdfParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}

// Bounds on parameters read from disk: an edited file must not make start-up allocate
// without limit or run for hours.
const (
	maxTime      = 64
	maxMemoryKiB = 4 * 1024 * 1024 // 4 GiB
	saltSize     = 16
)

// checkPlaintext is sealed under the derived key when the parameters file is created;
// opening it later tells a wrong passphrase from a right one before any vault data is
// touched.
var (
	checkPlaintext = []byte("sealwatch root key check v1")
	checkAAD       = []byte("sealwatch/rootkey/passphrase-check")
)

// paramsFile is the JSON document at paramsPath. It holds nothing secret: a salt, costs,
// and a value sealed under the key.
type paramsFile struct {
	KDF string `json:"kdf"`
	kdfParams
	Salt  []byte `json:"salt"`
	Check []byte `json:"check"`
}

// FromPassphrase derives the root key from passphrase with Argon2id. paramsPath is a JSON
// file (mode 0600) holding the KDF name, its parameters, a random 16-byte salt and a check
// value; it is created on first use. A passphrase that does not match the one used then
// returns an error wrapping ErrWrongPassphrase.
func FromPassphrase(passphrase []byte, paramsPath string) (*Key, error) {
	return fromPassphrase(passphrase, paramsPath, defaultKDF)
}

// fromPassphrase takes the parameters for a new file, so that tests can use tiny ones.
func fromPassphrase(passphrase []byte, paramsPath string, params kdfParams) (*Key, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("rootkey: empty passphrase")
	}
	pf, err := readParams(paramsPath)
	if errors.Is(err, fs.ErrNotExist) {
		return createFromPassphrase(passphrase, paramsPath, params)
	}
	if err != nil {
		return nil, err
	}
	return openWithParams(passphrase, paramsPath, pf)
}

// NewPassphraseKey derives a root key from passphrase with Argon2id and a
// new random salt, and returns it with its parameters: the document
// FromPassphrase keeps in its file (nothing secret), for a caller that
// keeps them elsewhere, such as a database several nodes share.
func NewPassphraseKey(passphrase []byte) (*Key, []byte, error) {
	return newPassphraseKey(passphrase, defaultKDF)
}

// FromPassphraseParams derives the root key from passphrase with the
// parameters NewPassphraseKey returned. A passphrase other than the one
// they were made with returns an error wrapping ErrWrongPassphrase.
func FromPassphraseParams(passphrase, params []byte) (*Key, error) {
	pf, err := parseParams("the passphrase parameters", params)
	if err != nil {
		return nil, err
	}
	return openWithParams(passphrase, "the passphrase parameters", pf)
}

func newPassphraseKey(passphrase []byte, params kdfParams) (*Key, []byte, error) {
	if len(passphrase) == 0 {
		return nil, nil, errors.New("rootkey: empty passphrase")
	}
	if err := params.validate(); err != nil {
		return nil, nil, err
	}
	pf := paramsFile{KDF: kdfArgon2id, kdfParams: params, Salt: make([]byte, saltSize)}
	if _, err := rand.Read(pf.Salt); err != nil {
		return nil, nil, fmt.Errorf("rootkey: generate salt: %w", err)
	}
	k, err := deriveKey(passphrase, pf)
	if err != nil {
		return nil, nil, err
	}
	if pf.Check, err = k.Seal(checkPlaintext, checkAAD); err != nil {
		k.Close()
		return nil, nil, err
	}
	data, err := json.MarshalIndent(pf, "", "  ")
	if err != nil {
		k.Close()
		return nil, nil, fmt.Errorf("rootkey: encode passphrase parameters: %w", err)
	}
	return k, append(data, '\n'), nil
}

func createFromPassphrase(passphrase []byte, path string, params kdfParams) (*Key, error) {
	k, data, err := newPassphraseKey(passphrase, params)
	if err != nil {
		return nil, err
	}
	created, err := createExclusive(path, data)
	if err != nil {
		k.Close()
		return nil, err
	}
	if created {
		return k, nil
	}
	// Someone else created the file meanwhile; their salt wins.
	k.Close()
	theirs, err := readParams(path)
	if err != nil {
		return nil, err
	}
	return openWithParams(passphrase, path, theirs)
}

func openWithParams(passphrase []byte, path string, pf paramsFile) (*Key, error) {
	k, err := deriveKey(passphrase, pf)
	if err != nil {
		return nil, err
	}
	got, err := k.Open(pf.Check, checkAAD)
	if err != nil || !bytes.Equal(got, checkPlaintext) {
		k.Close()
		return nil, fmt.Errorf("rootkey: passphrase does not unlock %s: %w", path, ErrWrongPassphrase)
	}
	return k, nil
}

func deriveKey(passphrase []byte, pf paramsFile) (*Key, error) {
	raw := argon2.IDKey(passphrase, pf.Salt, pf.Time, pf.MemoryKiB, pf.Threads, keySize)
	defer clear(raw)
	return newKey(raw)
}

func readParams(path string) (paramsFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return paramsFile{}, fmt.Errorf("rootkey: read passphrase parameters: %w", err)
	}
	return parseParams(path, data)
}

// parseParams checks a parameters document; path names where it came from.
func parseParams(path string, data []byte) (paramsFile, error) {
	var pf paramsFile
	if err := json.Unmarshal(data, &pf); err != nil {
		return pf, fmt.Errorf("rootkey: passphrase parameters %s: %w", path, err)
	}
	if pf.KDF != kdfArgon2id {
		return pf, fmt.Errorf("rootkey: passphrase parameters %s: unsupported kdf %q, want %q", path, pf.KDF, kdfArgon2id)
	}
	if err := pf.validate(); err != nil {
		return pf, fmt.Errorf("%w (in %s)", err, path)
	}
	if len(pf.Salt) != saltSize {
		return pf, fmt.Errorf("rootkey: passphrase parameters %s: salt is %d bytes, want %d", path, len(pf.Salt), saltSize)
	}
	if len(pf.Check) == 0 {
		return pf, fmt.Errorf("rootkey: passphrase parameters %s: no check value", path)
	}
	return pf, nil
}

func (p kdfParams) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("rootkey: argon2id time %d out of range 1..%d", p.Time, maxTime)
	case p.Threads < 1:
		return errors.New("rootkey: argon2id needs at least one thread")
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("rootkey: argon2id memory %d KiB out of range %d..%d", p.MemoryKiB, 8*uint32(p.Threads), maxMemoryKiB)
	}
	return nil
}
