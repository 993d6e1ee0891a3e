package pkcs11kek

import (
	"context"
	"fmt"
	"math/big"
	"slices"

	"github.com/miekg/pkcs11"

	"github.com/sealwatch/sealwatch/internal/keyring"
)

// CreateVersion makes a new version of the key on the token: a 256-bit AES
// key generated inside the module, allowed to wrap and unwrap, never
// extractable, and not destroyable through PKCS#11 (CKA_DESTROYABLE false,
// the protection the node asks of a cluster's key), with the CKA_ID one
// above the label's highest (01 for the first). It describes the new
// version.
func (k *KEK) CreateVersion(ctx context.Context) (keyring.KeyState, error) {
	err := k.callOn(ctx, true, "create", k.key, func(lib *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		objs, err := findKeyObjects(lib, s, k.cfg.KeyLabel)
		if err != nil {
			return err
		}
		next := big.NewInt(1)
		for _, o := range objs {
			if n := new(big.Int).SetBytes(o.id); n.Cmp(next) >= 0 {
				next = n.Add(n, big.NewInt(1))
			}
		}
		_, err = lib.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.cfg.KeyLabel),
			pkcs11.NewAttribute(pkcs11.CKA_ID, next.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
			pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
			pkcs11.NewAttribute(pkcs11.CKA_DESTROYABLE, false),
		})
		if err != nil {
			return fmt.Errorf("C_GenerateKey: %w", err)
		}
		return nil
	})
	if err != nil {
		return keyring.KeyState{}, err
	}
	return k.Describe(ctx)
}

// SetVersionUsable allows or forbids the version with CKA_ID id to wrap
// and unwrap (CKA_WRAP, CKA_UNWRAP): the way to retire a version that
// wraps nothing any more, since it cannot be destroyed.
func (k *KEK) SetVersionUsable(ctx context.Context, id []byte, usable bool) error {
	return k.callOn(ctx, true, "set-attributes", k.versionURI(id), func(lib *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		h, err := k.versionHandle(lib, s, id)
		if err != nil {
			return err
		}
		if err := lib.SetAttributeValue(s, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, usable), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, usable),
		}); err != nil {
			return fmt.Errorf("C_SetAttributeValue: %w", err)
		}
		return nil
	})
}

// Version is one key object of the key, as Versions lists it.
type Version struct {
	ID          []byte
	KeyURI      string
	Usable      bool // CKA_WRAP and CKA_UNWRAP
	Destroyable bool // CKA_DESTROYABLE
}

// Versions lists the key's objects, lowest CKA_ID first; the last is the
// one Wrap uses (unless the KEK is pinned).
func (k *KEK) Versions(ctx context.Context) ([]Version, error) {
	var vs []Version
	err := k.call(ctx, "list", k.key, func(lib *pkcs11.Ctx, s pkcs11.SessionHandle) error {
		objs, err := findKeyObjects(lib, s, k.cfg.KeyLabel)
		if err != nil {
			return err
		}
		slices.SortFunc(objs, func(a, b keyObject) int {
			switch {
			case idLess(a.id, b.id):
				return -1
			case idLess(b.id, a.id):
				return 1
			}
			return 0
		})
		vs = make([]Version, len(objs))
		for i, o := range objs {
			vs[i] = Version{ID: o.id, KeyURI: k.versionURI(o.id), Usable: o.wrap && o.unwrap, Destroyable: o.destroyable}
		}
		return nil
	})
	if err != nil {
		return nil, err // on a timeout the module call may still write vs
	}
	return vs, nil
}
