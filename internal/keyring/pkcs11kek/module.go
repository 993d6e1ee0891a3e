package pkcs11kek

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/miekg/pkcs11"
)

// modules holds one handle per module path for the whole process. This is
// the package's one piece of global state, and PKCS#11 forces it: a module's
// C_Initialize and C_Finalize act on the process (the library is loaded
// once, whatever the number of handles), so two handles that each finalized
// on their own would cut each other's sessions.
var modules = struct {
	sync.Mutex
	byPath map[string]*module
}{byPath: map[string]*module{}}

// moduleFor returns the process's handle on the module at path, loading
// nothing yet. A path is resolved through its symbolic links: the dynamic
// loader loads a library once whatever the name, and one library under two
// handles would have each log the other's sessions out (a login belongs to
// the process).
func moduleFor(path string) *module {
	path = filepath.Clean(path)
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	modules.Lock()
	defer modules.Unlock()
	m := modules.byPath[path]
	if m == nil {
		m = &module{path: path}
		modules.byPath[path] = m
	}
	return m
}

// Reload finalizes the module at path, whoever initialized it in this
// process; the next call initializes it again. Modules such as SoftHSM2
// read their configuration and see their tokens only at C_Initialize: the
// driver reloads a module on its own after a failure that says the token
// went away; Reload is for a caller that changed the module's
// configuration (tests do).
func Reload(path string) {
	m := moduleFor(path)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lib == nil {
		if m.lib = pkcs11.New(m.path); m.lib == nil {
			return
		}
	}
	m.ready = true // the library may be initialized through another handle
	m.finalizeLocked()
}

// module is one PKCS#11 library in this process. Calls into it hold mu for
// reading; loading, initializing and finalizing hold it for writing, so no
// call is in the library while it is finalized.
type module struct {
	path string

	mu    sync.RWMutex
	lib   *pkcs11.Ctx // nil until loaded
	ready bool        // C_Initialize done
	// gen counts initializations: a session opened under an earlier one is
	// gone, and a failure seen under one is not a reason to finalize a
	// later one.
	gen uint64

	poolMu sync.Mutex
	pools  map[string]*pool // by token label, for generation gen
}

// use runs f with the module initialized; f must not keep lib or gen.
func (m *module) use(f func(lib *pkcs11.Ctx, gen uint64) error) error {
	m.mu.RLock()
	if !m.ready {
		m.mu.RUnlock()
		if err := m.initialize(); err != nil {
			return err
		}
		m.mu.RLock()
	}
	defer m.mu.RUnlock()
	if !m.ready { // finalized between the two locks: the caller tries again
		return errModuleReset
	}
	return f(m.lib, m.gen)
}

// errModuleReset says the module was finalized by another call while this
// one waited; the caller retries.
var errModuleReset = errors.New("the module was reloaded during the call")

func (m *module) initialize() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ready {
		return nil
	}
	if m.lib == nil {
		// New loads the library with dlopen; it says nothing about why a
		// load failed, so the message names what to check.
		m.lib = pkcs11.New(m.path)
		if m.lib == nil {
			return fmt.Errorf("PKCS#11 module %s cannot be loaded: check that the file exists, is readable by the node, and is a PKCS#11 library for this machine: %w", m.path, errUnavailable)
		}
	}
	err := m.lib.Initialize()
	var ckr pkcs11.Error
	if err != nil && !(errors.As(err, &ckr) && ckr == pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		return fmt.Errorf("PKCS#11 module %s: C_Initialize: %s: %w", m.path, ckrName(err), errUnavailable)
	}
	m.ready = true
	m.gen++
	m.pools = map[string]*pool{}
	return nil
}

// finalizeLocked drops every session and login and finalizes the library;
// mu is held for writing.
func (m *module) finalizeLocked() {
	if !m.ready {
		return
	}
	_ = m.lib.Finalize() // a failing module may refuse; it is reinitialized all the same
	m.ready = false
	m.poolMu.Lock()
	m.pools = nil
	m.poolMu.Unlock()
}

// reset finalizes the module after a failure seen under generation gen,
// unless another call already did; the next call initializes it again,
// which finds a token that was removed and inserted again.
func (m *module) reset(gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen == gen {
		m.finalizeLocked()
	}
}

// pool is the sessions open on one token. A PKCS#11 login belongs to the
// application, not the session: once one session has logged in, every
// session of the token is, until the last one closes or one logs out. So
// the pool checks each session's state, logs in when it is public, and
// remembers the PIN it logged in with.
type pool struct {
	slot uint
	idle []pkcs11.SessionHandle
	pin  []byte // the PIN of the pool's login; nil before it
}

// maxIdle bounds the sessions kept open per token between calls; more are
// opened while more calls run at once, and closed after.
const maxIdle = 4

// session is one session lent to one call.
type session struct {
	h    pkcs11.SessionHandle
	slot uint
	rw   bool // a read-write session, opened for the call alone
}

// acquire lends a logged-in session on the token labelled token: a pooled
// read-only one, or a new read-write one when rw (to make or change key
// objects). mu is held for reading. The slot is found by label, since a
// token that comes back may sit in another slot.
func (m *module) acquire(lib *pkcs11.Ctx, token string, pin []byte, rw bool) (session, error) {
	m.poolMu.Lock()
	defer m.poolMu.Unlock()
	p := m.pools[token]
	if p == nil {
		slot, err := findToken(lib, token)
		if err != nil {
			return session{}, err
		}
		p = &pool{slot: slot}
		m.pools[token] = p
	}
	for {
		var h pkcs11.SessionHandle
		if n := len(p.idle); n > 0 && !rw {
			h, p.idle = p.idle[n-1], p.idle[:n-1]
		} else {
			flags := uint(pkcs11.CKF_SERIAL_SESSION)
			if rw {
				flags |= pkcs11.CKF_RW_SESSION
			}
			var err error
			if h, err = lib.OpenSession(p.slot, flags); err != nil {
				return session{}, fmt.Errorf("open a session on token %q: %w", token, err)
			}
		}
		info, err := lib.GetSessionInfo(h)
		if err != nil {
			_ = lib.CloseSession(h)
			if sortFailure(err) == failSession {
				continue // an idle session the module closed: take the next
			}
			return session{}, fmt.Errorf("read the session's state: %w", err)
		}
		if err := p.logIn(lib, h, info, token, pin); err != nil {
			_ = lib.CloseSession(h)
			return session{}, err
		}
		return session{h: h, slot: p.slot, rw: rw}, nil
	}
}

// logIn makes sure session h is logged in as the user with pin. A token
// locks its user PIN after a number of wrong tries; the driver never makes
// the last one (the token says so with CKF_USER_PIN_FINAL_TRY), so that a
// key check with a wrong PIN cannot lock the token.
func (p *pool) logIn(lib *pkcs11.Ctx, h pkcs11.SessionHandle, info pkcs11.SessionInfo, token string, pin []byte) error {
	if info.State == pkcs11.CKS_RO_USER_FUNCTIONS || info.State == pkcs11.CKS_RW_USER_FUNCTIONS {
		if p.pin != nil {
			if subtle.ConstantTimeCompare(p.pin, pin) != 1 {
				// Another key on the token logged in with another PIN; the
				// login is shared, so this PIN could not be checked: it is
				// refused rather than accepted unchecked.
				return fmt.Errorf("token %q is logged in on this node with another PIN; keys on one token must be given the same PIN: %w", token, errPIN)
			}
			return nil
		}
		// Logged in, but not by this pool: through another handle on the
		// module in this process, or under a pool dropped after a failure
		// while one of its sessions lived on. Nobody checked this PIN, so
		// the pool logs out and in again with it rather than borrow a
		// login a wrong PIN would ride on.
		if err := logOut(lib, h); err != nil {
			return fmt.Errorf("log out of token %q to check the PIN: %w", token, err)
		}
	}
	ti, err := lib.GetTokenInfo(p.slot)
	if err != nil {
		return fmt.Errorf("read the token's information: %w", err)
	}
	switch {
	case ti.Flags&pkcs11.CKF_USER_PIN_LOCKED != 0:
		return fmt.Errorf("token %q has locked its user PIN; unlock it (its security officer sets a new one), then set the key's PIN again: %w", token, errPIN)
	case ti.Flags&pkcs11.CKF_USER_PIN_FINAL_TRY != 0:
		return fmt.Errorf("token %q has one user PIN try left, which the node does not use; check the PIN and log in once by hand (which resets the count), or set the key's PIN again: %w", token, errPIN)
	}
	err = lib.Login(h, pkcs11.CKU_USER, string(pin))
	if isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		// Another handle logged in since the state was read: as above.
		if err = logOut(lib, h); err == nil {
			err = lib.Login(h, pkcs11.CKU_USER, string(pin))
		}
	}
	if err != nil {
		return fmt.Errorf("log in to token %q: %w", token, err)
	}
	p.pin = bytes.Clone(pin)
	return nil
}

// logOut ends the application's login on the token of session h; one
// already ended is no failure.
func logOut(lib *pkcs11.Ctx, h pkcs11.SessionHandle) error {
	if err := lib.Logout(h); err != nil && !isCKR(err, pkcs11.CKR_USER_NOT_LOGGED_IN) {
		return err
	}
	return nil
}

func isCKR(err error, code uint) bool {
	var ckr pkcs11.Error
	return errors.As(err, &ckr) && uint(ckr) == code
}

// release gives a session back after a call that left it usable.
func (m *module) release(lib *pkcs11.Ctx, token string, s session) {
	m.poolMu.Lock()
	defer m.poolMu.Unlock()
	if p := m.pools[token]; p != nil && p.slot == s.slot && !s.rw && len(p.idle) < maxIdle {
		p.idle = append(p.idle, s.h)
		return
	}
	_ = lib.CloseSession(s.h)
}

// discard closes a session a call found broken. When the token itself
// failed, the pool goes too: its slot and login are found again.
func (m *module) discard(lib *pkcs11.Ctx, token string, s session, tokenFailed bool) {
	_ = lib.CloseSession(s.h)
	if !tokenFailed {
		return
	}
	m.poolMu.Lock()
	defer m.poolMu.Unlock()
	if p := m.pools[token]; p != nil {
		for _, h := range p.idle {
			_ = lib.CloseSession(h)
		}
		delete(m.pools, token)
	}
}

// findToken returns the slot holding the token labelled label.
func findToken(lib *pkcs11.Ctx, label string) (uint, error) {
	slots, err := lib.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("list the module's slots: %w", err)
	}
	for _, s := range slots {
		ti, err := lib.GetTokenInfo(s)
		if err != nil {
			continue // a slot whose token fails to answer is not ours to judge
		}
		if ti.Label == label {
			return s, nil
		}
	}
	return 0, fmt.Errorf("no token labelled %q is present in the module: %w", label, errTokenAbsent)
}
