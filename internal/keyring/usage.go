package keyring

import (
	"context"
	"slices"
	"strings"
	"time"
)

// instrumentedKEK counts every KEK call for the metrics and remembers, per
// KEK version, when it last wrapped and unwrapped, for the usage report.
type instrumentedKEK struct {
	KEK
	k *Keyring
}

func (k *Keyring) instrument(kek KEK) *instrumentedKEK {
	if ik, ok := kek.(*instrumentedKEK); ok && ik.k == k {
		return ik
	}
	return &instrumentedKEK{KEK: kek, k: k}
}

func (ik *instrumentedKEK) Wrap(ctx context.Context, aek []byte) (Wrapped, error) {
	w, err := ik.KEK.Wrap(ctx, aek)
	ik.k.metrics.kekCall("wrap", err)
	if err == nil {
		ik.k.touch(w.KeyURI, func(u *usageRecord, now time.Time) { u.LastWrap = now })
	}
	return w, err
}

func (ik *instrumentedKEK) Unwrap(ctx context.Context, w Wrapped) ([]byte, error) {
	pt, err := ik.KEK.Unwrap(ctx, w)
	ik.k.metrics.kekCall("unwrap", err)
	if err == nil {
		ik.k.touch(w.KeyURI, func(u *usageRecord, now time.Time) { u.LastUnwrap = now })
	}
	return pt, err
}

func (ik *instrumentedKEK) Describe(ctx context.Context) (KeyState, error) {
	st, err := ik.KEK.Describe(ctx)
	ik.k.metrics.kekCall("describe", err)
	return st, err
}

func (k *Keyring) touch(uri string, f func(*usageRecord, time.Time)) {
	now := k.clock.Now().UTC()
	k.usageMu.Lock()
	u := k.usage[uri]
	f(&u, now)
	k.usage[uri] = u
	k.usageMu.Unlock()
}

// usageGranularity is how far a version's last unwrap may move before it
// is stored again. Every probe unwraps: storing each would be one
// cluster-wide serialized kv Update per keyring per node per interval, for
// a report that only needs to tell a version in use from one that is not.
// Wraps, which only key changes make, are stored as they happen.
const usageGranularity = 10 * time.Minute

// due tells whether u moved enough from the stored s to be stored again.
func (u usageRecord) due(s usageRecord) bool {
	return u.LastWrap.After(s.LastWrap) ||
		(!u.LastUnwrap.IsZero() && (s.LastUnwrap.IsZero() || u.LastUnwrap.Sub(s.LastUnwrap) >= usageGranularity))
}

// flushUsage stores the usage times that moved enough (see
// usageGranularity); they only inform the report, so a failure is logged,
// not returned. The calls they record were made even when the operation
// that made them was cut short, so ctx's end does not skip them.
func (k *Keyring) flushUsage(ctx context.Context) {
	k.usageMu.Lock()
	due := map[string]usageRecord{}
	for uri, u := range k.usage {
		if u.due(k.usageStored[uri]) {
			due[uri] = u
		}
	}
	k.usageMu.Unlock()
	if len(due) == 0 {
		return
	}
	k.mu.RLock()
	created := k.meta.Current != ""
	k.mu.RUnlock()
	if !created {
		return
	}
	if err := k.reg.writeUsage(context.WithoutCancel(ctx), due); err != nil {
		k.log.Warn("store key usage", "err", err)
		return
	}
	k.usageMu.Lock()
	for uri, u := range due {
		k.usageStored[uri] = u
	}
	k.usageMu.Unlock()
}

// VersionUsage is one KEK version in the key usage report.
type VersionUsage struct {
	KeyURI string // with version
	// AccountKeys are the account keys this version wraps now. Empty: no
	// stored key depends on the version any more, and it can be disabled.
	AccountKeys []AccountKey
	LastWrap    time.Time // zero: not seen
	LastUnwrap  time.Time
}

// KeyUsage reports, for every KEK version this keyring has used, which
// account keys it wraps now and when it last wrapped and unwrapped: the
// version in force first, then by URI.
func (k *Keyring) KeyUsage() []VersionUsage {
	byURI := map[string]*VersionUsage{}
	get := func(uri string) *VersionUsage {
		if v := byURI[uri]; v != nil {
			return v
		}
		v := &VersionUsage{KeyURI: uri}
		byURI[uri] = v
		return v
	}
	current := ""
	for _, a := range k.AccountKeys() {
		v := get(a.KeyURI)
		v.AccountKeys = append(v.AccountKeys, a)
		if a.Current {
			current = a.KeyURI
		}
	}
	k.usageMu.Lock()
	for uri, u := range k.usage {
		v := get(uri)
		v.LastWrap, v.LastUnwrap = u.LastWrap, u.LastUnwrap
	}
	k.usageMu.Unlock()
	out := make([]VersionUsage, 0, len(byURI))
	for _, v := range byURI {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b VersionUsage) int {
		if (a.KeyURI == current) != (b.KeyURI == current) {
			if a.KeyURI == current {
				return -1
			}
			return 1
		}
		return strings.Compare(a.KeyURI, b.KeyURI)
	})
	return out
}
