package logstore

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Problem is what an integrity check found wrong with a sealed object.
type Problem string

// Problems, as DataIntegrityError and `sealwatch verify` name them.
const (
	// ProblemMissing: the manifest lists the object but it is not there.
	ProblemMissing Problem = "missing"
	// ProblemTruncated: the object is shorter than the manifest (or the WAL's
	// own acknowledged mark) says; acknowledged data is gone.
	ProblemTruncated Problem = "truncated"
	// ProblemAuthentication: a sealed part failed authentication (a flipped
	// bit, a part moved from elsewhere, a substituted file).
	ProblemAuthentication Problem = "authentication failed"
	// ProblemCorrupt: a block's sealed parts authenticated but what they
	// hold does not parse. Only a holder of the key writes such bytes (a
	// bug, a foreign writer): tampering without it fails authentication.
	ProblemCorrupt Problem = "corrupt"
	// ProblemRolledBack: the manifest is older than the one the control plane
	// recorded.
	ProblemRolledBack Problem = "rolled back"
	// ProblemUnexpected: an object the manifest does not list, which no
	// crash can explain.
	ProblemUnexpected Problem = "unexpected object"
)

// IntegrityError names a damaged object: the workspace, table and file, and
// what failed. It is an ErrCorrupt. It never holds rows or key material.
type IntegrityError struct {
	Workspace, Table string
	Object           string // file name within the table, such as a segment's
	Problem          Problem
	Detail           string // what exactly, for the log and for verify
	// MinT and MaxT are the Unix-ns time range whose rows the damage may
	// hide; a scan outside it is not affected. Both zero: unknown, the whole
	// table is affected.
	MinT, MaxT int64
}

func (e *IntegrityError) Error() string {
	msg := fmt.Sprintf("%s/%s/%s: %s", e.Workspace, e.Table, e.Object, e.Problem)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap makes every IntegrityError an ErrCorrupt.
func (e *IntegrityError) Unwrap() error { return ErrCorrupt }

// affects reports whether a scan of [from, to) needs the damaged object.
func (e *IntegrityError) affects(from, to int64) bool {
	if e.MinT == 0 && e.MaxT == 0 {
		return true
	}
	return e.MaxT >= from && e.MinT < to
}

// blockProblem is the problem of a block whose read failed with err, an
// ErrCorrupt: ProblemAuthentication when a sealed part failed to
// authenticate, ProblemCorrupt when the parts authenticated but do not
// parse.
func blockProblem(err error) Problem {
	if _, ok := errors.AsType[*authError](err); ok {
		return ProblemAuthentication
	}
	return ProblemCorrupt
}

// fileGone is the detail of a listed object that is not on disk.
const fileGone = "the file is gone"

// damageLog is what the store found damaged since it opened, by table and
// object, for metrics and the workspace's state. An object found intact
// again (restored from a backup) leaves it.
type damageLog struct {
	mu    sync.Mutex
	found map[string]*IntegrityError // ws/table/object → damage
}

func damageKey(ws, table, object string) string { return ws + "/" + table + "/" + object }

func (d *damageLog) record(e *IntegrityError) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.found == nil {
		d.found = make(map[string]*IntegrityError)
	}
	d.found[damageKey(e.Workspace, e.Table, e.Object)] = e
}

func (d *damageLog) clear(ws, table, object string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.found, damageKey(ws, table, object))
}

// clearTable forgets a table's damage before it is checked again.
func (d *damageLog) clearTable(ws, table string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, e := range d.found {
		if e.Workspace == ws && e.Table == table {
			delete(d.found, k)
		}
	}
}

func (d *damageLog) clearWorkspace(ws string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, e := range d.found {
		if e.Workspace == ws {
			delete(d.found, k)
		}
	}
}

func (d *damageLog) list() []IntegrityError {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]IntegrityError, 0, len(d.found))
	for _, k := range slices.Sorted(maps.Keys(d.found)) {
		out = append(out, *d.found[k])
	}
	return out
}
