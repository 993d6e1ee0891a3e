package logstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// A node whose lineage another node adopted while it was down (or paused)
// keeps the write-ahead logs of its old lineage: without a shared WAL its
// adopter merged only the old lineage's segments, so the rows those logs
// hold, acknowledged and never flushed, are on this disk alone. The data
// plane moves them aside and TakeFenced re-ingests them into the store's
// lineage.
//
// Which logs to take is what the old lineage's manifest says, as a restart
// says it: the manifest its retired pointer names, the very one its adopter
// read, lists the logs not yet flushed; a log it does not list was flushed
// into segments (which the adopter took) or never acknowledged a row.
//
// Its rows are taken as a node takes rows late: each record gets the
// instant it is taken again as its ingestion time, so that the analytics
// rules, whose watermark passed its first one while the node was down,
// evaluate its rows as late rows instead of never.
//
// Exactly once, by the log's name: each listed log is sealed again, record
// for record, into a log of the same sequence number under the new lineage,
// written and synced whole under a temporary name, and only then renamed
// into the new lineage's table directory; then the old log is removed. A
// crash before the rename leaves the old log to be taken again; after it,
// the new log's name says the old one was taken, and it is only removed.
// The new lineage's table must not be in use meanwhile (no pointer of it in
// the control plane, no store of it open): its open, once the logs are
// taken, finds them as a table without a manifest is found, and lists them.

// Fenced is what TakeFenced did with a workspace's logs kept aside.
type Fenced struct {
	WALs    int // logs re-ingested
	Records int // records they held
	// Kept are the tables whose logs were left where they are: listed
	// as damaged, of a lineage whose manifest is gone (swept), or of a
	// table the new lineage already uses. Their rows are not served.
	Kept []string
}

// TakeFenced re-ingests into this store's lineage the acknowledged rows of
// lineage old that the write-ahead logs of workspace ws under dir (a copy of
// the store's directory of old, moved aside) hold, as described above, and
// removes what it took. With a shared WAL it takes nothing: the adopter
// sealed those records (FlushTail). The store must be a new one, whose
// tables of ws are not opened.
func (st *Store) TakeFenced(ctx context.Context, ws, dir, old string) (Fenced, error) {
	var f Fenced
	if st.lineages == nil || st.cfg.SharedWAL != nil || !validLineage(old) || old == st.cfg.Lineage {
		return f, fmt.Errorf("log store: the logs of lineage %q cannot be re-ingested into %q", old, st.cfg.Lineage)
	}
	entries, err := os.ReadDir(filepath.Join(dir, ws))
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || checkNames(ws, e.Name()) != nil {
			continue
		}
		kept, err := st.takeFencedTable(ctx, ws, e.Name(), filepath.Join(dir, ws, e.Name()), old, &f)
		if kept {
			f.Kept = append(f.Kept, e.Name())
		}
		errs = append(errs, err)
	}
	return f, errors.Join(errs...)
}

// takeFencedTable takes one table's logs kept aside in dir. It reports
// whether it left some there for good (kept); on an error it may have left
// some to be taken by another call.
func (st *Store) takeFencedTable(ctx context.Context, ws, table, dir, old string, f *Fenced) (kept bool, _ error) {
	t, err := st.table(ws, table)
	if err != nil {
		return false, err
	}
	t.mu.Lock()
	opened := t.opened
	t.mu.Unlock()
	if opened {
		return false, fmt.Errorf("take the logs of %s/%s kept aside: the table is open", ws, table)
	}
	os.RemoveAll(filepath.Join(dir, resealDir)) // what a crash left
	files, err := fencedWALs(dir)
	if err != nil || len(files) == 0 {
		if err == nil {
			err = os.RemoveAll(dir)
		}
		return false, err
	}
	ptrs, err := st.lineages.Lineages(ctx, ws, table)
	if err != nil {
		return false, fmt.Errorf("take the logs of %s/%s kept aside: read the control plane's lineages: %w", ws, table, err)
	}
	p, ok := ptrs[old]
	switch {
	case !ok:
		return true, nil // swept: which logs were flushed is no longer known
	case p.Epoch == 0:
		return false, os.RemoveAll(dir) // never listed a log, so never acknowledged a row
	case p.Retired == 0:
		// Its adopter has not taken this table yet: it is left for the
		// next call, once it has.
		return false, fmt.Errorf("take the logs of %s/%s kept aside: lineage %s is not retired", ws, table, old)
	case ptrs[st.cfg.Lineage].Epoch != 0:
		// The new lineage writes the table already: a log of it may have
		// been taken and flushed since.
		return true, nil
	}
	m, _, err := st.readManifestAt(ctx, ws, table, old, &p)
	if err != nil {
		return false, fmt.Errorf("take the logs of %s/%s kept aside: %w", ws, table, err)
	}
	if m == nil {
		return true, nil
	}
	to := filepath.Join(st.cfg.Dir, ws, table)
	if err := os.MkdirAll(to, 0o700); err != nil {
		return false, err
	}
	for _, w := range m.wals {
		if !files[w.seq] {
			continue
		}
		records, err := st.takeFencedWAL(ctx, ws, table, dir, to, old, w)
		var ie *IntegrityError
		if errors.As(err, &ie) {
			st.log.Error("a write-ahead log kept aside is damaged; it is left there, not re-ingested",
				"workspace", ws, "table", table, "lineage", old, "wal", ie.Object, "problem", ie.Problem, "detail", ie.Detail)
			kept = true
			continue
		}
		if err != nil {
			return false, err
		}
		if records > 0 {
			f.WALs++
			f.Records += records
		}
	}
	// Opened, the table lists the logs in a manifest its lineage's pointer
	// names: should the new lineage be adopted in turn, its adopter and
	// this node's next take know them.
	t.mu.Lock()
	err = t.readyLocked(ctx)
	t.mu.Unlock()
	if err != nil || kept {
		return kept, err
	}
	return false, os.RemoveAll(dir) // what is left was flushed, or never acknowledged
}

// resealDir is where a log kept aside is sealed again before its rename.
const resealDir = ".reseal"

// fencedWALs lists the logs in a table's directory kept aside.
func fencedWALs(dir string) (map[uint64]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	files := map[uint64]bool{}
	for _, e := range entries {
		if seq, ok := parseWALName(e.Name()); ok {
			files[seq] = true
		}
	}
	return files, nil
}

// takeFencedWAL seals the records of one log of lineage old, kept aside in
// dir, into a log of the same name under the store's lineage in to, and
// removes it; it returns how many records it took.
func (st *Store) takeFencedWAL(ctx context.Context, ws, table, dir, to, old string, w walEntry) (int, error) {
	name := walFileName(w.seq)
	from := filepath.Join(dir, name)
	if _, err := os.Stat(filepath.Join(to, name)); err == nil {
		return 0, os.Remove(from) // taken before a crash
	}
	r, err := st.readWAL(ctx, from, w.seq, ws, table, old, w.records, false)
	if err != nil {
		return 0, err
	}
	if len(r.payloads) == 0 {
		return 0, os.Remove(from)
	}
	if r.hdr.version != walLineageVersion {
		return 0, &IntegrityError{Workspace: ws, Table: table, Object: name, Problem: ProblemUnexpected,
			Detail: fmt.Sprintf("a log of a lineage in WAL format %d", r.hdr.version)}
	}
	tmp := filepath.Join(dir, resealDir)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return 0, err
	}
	nw, err := createWAL(tmp, w.seq, ws, table, st.cfg.Lineage, r.hdr.aekID)
	if err != nil {
		return 0, err
	}
	err = st.reseal(ctx, nw, r)
	if err = errors.Join(err, nw.close()); err != nil {
		return 0, fmt.Errorf("re-ingest %s/%s/%s of lineage %s: %w", ws, table, name, old, err)
	}
	if err := os.Rename(nw.path, filepath.Join(to, name)); err != nil {
		return 0, err
	}
	if err := syncDir(to); err != nil {
		return 0, err
	}
	st.hook(stepTaken)
	return len(r.payloads), os.Remove(from)
}

// stepTaken: a log kept aside is sealed again under the new lineage, and
// still there (for the tests' fault hook, as a merge's steps).
const stepTaken compactStep = "taken"

// reseal appends the records r read to nw, under nw's own object key and
// each stamped with a new ingestion time, and waits until they are
// durable.
func (st *Store) reseal(ctx context.Context, nw *walWriter, r walReplay) error {
	aead, err := st.aead(ctx, nw.hdr, purposeWAL)
	if err != nil {
		return err
	}
	var last uint64
	var stamps []int64
	defer func() {
		for _, s := range stamps {
			st.clock.done(s)
		}
	}()
	for i, p := range r.payloads {
		stamps = append(stamps, st.clock.stamp())
		putIngestTime(p, stamps[i])
		_, _, refs, err := decodeRecord(r.hdr.version, p)
		if err != nil {
			return &IntegrityError{Workspace: nw.ws, Table: nw.table, Object: walFileName(nw.seq), Problem: ProblemAuthentication,
				Detail: fmt.Sprintf("record %d: %v", i, err)}
		}
		minT, maxT := timeRange(refs)
		if last, _, err = nw.append(aead, p, minT, maxT, false); err != nil {
			return err
		}
	}
	return nw.waitDurable(last)
}
