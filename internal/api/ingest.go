package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/keyring"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/objstore"
	"github.com/sealwatch/sealwatch/internal/tables"
	"github.com/sealwatch/sealwatch/internal/transform"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// maxIngestBytes is the Logs Ingestion API's limit per call, after gzip.
const maxIngestBytes = 1 << 20

func (s *Server) routeIngestion() {
	s.handle("POST /dataCollectionRules/{id}/streams/{stream}", s.countBatch(apiLogsIngestion, s.handleIngest))
}

// handleIngest is the Logs Ingestion API: a JSON array of rows for one stream
// of a data collection rule, acknowledged with 204 once durable. The rows
// are typed by the stream's declaration, run through the flow's
// transformation and stored converted to the table's declared types.
func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticate(r, identity.AudienceIngestion)
	if err != nil {
		return err
	}
	if err := logsIngestionAPI.check(r); err != nil {
		return err
	}
	route, err := s.cfg.Workspaces.RouteStream(r.Context(), r.PathValue("id"), r.PathValue("stream"))
	if err != nil {
		return err
	}
	if !c.HasRole(identity.RoleOwner) {
		if err := s.cfg.Workspaces.Authorize(r.Context(), c.ObjectID, route.Rule.ID, workspace.RoleIngestor); err != nil {
			return err
		}
	}
	body, err := s.readIngestBody(w, r, maxIngestBytes)
	if err != nil {
		return err
	}
	tr, err := s.flowTransform(r.Context(), route)
	if err != nil {
		return err
	}
	rows, cols, err := tr.Apply(r.Context(), body, time.Now())
	if err != nil {
		return streamError(route, err)
	}
	stored := 0
	if rows != nil { // nil: the transformation kept no row
		stored, err = s.ingest(r, route.Workspace, route.Table, rows, cols)
	}
	switch {
	case err != nil && tr.PassThrough():
		return streamError(route, err)
	case err != nil:
		return &transform.OutputError{Err: err}
	}
	s.metrics.ingested(apiLogsIngestion, stored, len(body))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// flowTransform compiles the transformation of a route's flow against its
// table as declared now: the rule was checked when it was stored, but the
// table may have changed, or gone, since. The compiled flow is kept by the
// table's version (see flowCache), so a call reads only that version.
//
// A rule stored before tables were declared (a workspace upgraded from a
// version without them) writes a custom table that is not declared: its
// first call declares the table from the flow, as PUT of the rule would
// have, so that no ingestion client breaks on upgrade. Rows stored in the
// table before then were stored as sent, with the types the store
// inferred; a column whose declared type would read some of them as null
// is declared wider (see tables.Schema.Widened): declaring it from the
// stream alone would hide stored data, and refusing to declare it would
// break the client. The stream's narrower values pass into the wider
// column unchanged (transform's widens).
func (s *Server) flowTransform(ctx context.Context, route *workspace.Route) (*transform.Transform, error) {
	tabs, err := s.cfg.Data.Tables(ctx, route.Workspace)
	if err != nil {
		return nil, err
	}
	decl, ok, err := tabs.Lookup(ctx, route.Table)
	if err != nil {
		return nil, err
	}
	key := flowKey{flowSlot{rule: route.Rule.Properties.ImmutableID, stream: route.Stream,
		workspace: route.Workspace.Workspace.Properties.CustomerID, table: route.Table}, decl.Version}
	if ok {
		if tr := s.flows.get(key, route); tr != nil {
			return tr, nil
		}
	} else {
		if err := s.declareFlowTable(ctx, tabs, route); err != nil {
			return nil, err
		}
		if decl, ok, err = tabs.Lookup(ctx, route.Table); err != nil {
			return nil, err
		}
		if !ok { // deleted since it was declared
			return nil, tableNotDeclared(route)
		}
	}
	schema, err := decl.Schema()
	if err != nil {
		return nil, err
	}
	tr, err := transform.Compile(route.Transform, route.Stream, streamColumns(route.Columns), schema)
	if err != nil {
		return nil, fault.New(fault.Conflict, "InvalidTransform",
			"data collection rule '%s' no longer fits table %s as it is declared now: %v; PUT the rule again, or change the table", route.Rule.Name, route.Table, err)
	}
	key.version = decl.Version
	s.flows.put(key, route, tr)
	return tr, nil
}

// declareFlowTable declares the custom table a route's flow writes, which
// is not declared, from the flow as putDCR declares it (flowSchema); a
// table that another call declared meanwhile is left as it is. A flow
// from a Microsoft- stream, or into a table that is not custom, cannot
// declare its table.
func (s *Server) declareFlowTable(ctx context.Context, tabs *tables.Tables, route *workspace.Route) error {
	if route.Columns == nil || !tables.IsCustomName(route.Table) {
		return tableNotDeclared(route)
	}
	schema, err := s.flowSchema(ctx, *route)
	if err != nil {
		return cannotDeclare(route, err)
	}
	created, err := tabs.Create(ctx, schema)
	if err != nil {
		return cannotDeclare(route, err)
	}
	if created {
		s.log.Info("declared a table from the data collection rule writing it", "workspace", route.Workspace.Workspace.Properties.CustomerID, "table", route.Table, "rule", route.Rule.Name)
	}
	return nil
}

// cannotDeclare words a flow's table that its stream does not declare
// (a transformation, or a column name, that a table cannot take) as a
// conflict of the stored rule with its table, to be put right by an
// operator, not by the client that sent the rows.
func cannotDeclare(route *workspace.Route, err error) error {
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.Invalid {
		return err
	}
	return fault.New(fault.Conflict, "InvalidTransform",
		"data collection rule '%s' cannot declare table %s from stream '%s': %s; declare the table (PUT …/tables/%s), or change the rule's stream and PUT it again",
		route.Rule.Name, route.Table, route.Stream, fe.Message, route.Table)
}

// tableNotDeclared refuses a flow into a table that is not declared and
// that the flow cannot declare.
func tableNotDeclared(route *workspace.Route) error {
	ws := route.Workspace.Workspace.Name
	return fault.New(fault.Conflict, "TableNotDeclared",
		"data collection rule '%s' writes stream '%s' to table %s, which is not declared in workspace %s: declare it (PUT …/workspaces/%s/tables/%s)",
		route.Rule.Name, route.Stream, route.Table, ws, ws, route.Table)
}

// streamError words a column the stream does not declare as what to change:
// the stream's declaration and the table.
func streamError(route *workspace.Route, err error) error {
	var ue *logstore.UndeclaredColumnError
	if !errors.As(err, &ue) {
		return err
	}
	return badRequest("InvalidPayload", fmt.Sprintf(
		"the body was refused whole: row %d has column %q, which stream '%s' of data collection rule '%s' does not declare: "+
			"declare it in the stream (PUT the rule) and in table %s (PUT …/tables/%s), or leave it out of the rows",
		ue.Index, ue.Column, route.Stream, route.Rule.Name, route.Table, route.Table))
}

// ingest stores rows in a workspace's table, converted to cols, its
// declared columns (nil: types inferred), and returns how many it stored.
// The key must be in force: a refused ingest stores nothing.
func (s *Server) ingest(r *http.Request, ws *workspace.WorkspaceInfo, table string, body []byte, cols []logstore.DeclaredColumn) (int, error) {
	ws, err := s.markData(r.Context(), ws)
	if err != nil {
		return 0, err
	}
	store, err := s.cfg.Data.Logs(r.Context(), ws)
	if err != nil {
		return 0, err
	}
	var n int
	if cols != nil {
		n, err = store.IngestDeclared(r.Context(), ws.Workspace.Properties.CustomerID, table, body, cols)
	} else {
		n, err = store.Ingest(r.Context(), ws.Workspace.Properties.CustomerID, table, body)
	}
	if err == nil {
		err = s.cfg.Data.CheckLease() // the rows are durable: may they be acknowledged?
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// markData records that ws holds data under its key before anything is
// sealed, and returns the workspace to seal for. When the workspace moved
// under another key since ws was looked up (another node linked it to a
// customer-managed key), it looks the workspace up again, once, so that the
// rows are sealed under the key the workspace has now, never under the
// platform key of a workspace under a CMK.
func (s *Server) markData(ctx context.Context, ws *workspace.WorkspaceInfo) (*workspace.WorkspaceInfo, error) {
	err := s.cfg.Workspaces.MarkData(ctx, ws)
	if !errors.Is(err, workspace.ErrWorkspaceKeyChanged) {
		return ws, err
	}
	fresh, err := s.cfg.Workspaces.WorkspaceByCustomerID(ctx, ws.Workspace.Properties.CustomerID)
	if err != nil {
		return nil, err
	}
	return fresh, s.cfg.Workspaces.MarkData(ctx, fresh)
}

// declaredColumns returns a table's declared columns, nil when it is not
// declared.
func (s *Server) declaredColumns(ctx context.Context, ws *workspace.WorkspaceInfo, table string) ([]logstore.DeclaredColumn, error) {
	tabs, err := s.cfg.Data.Tables(ctx, ws)
	if err != nil {
		return nil, err
	}
	schema, ok, err := tabs.Declared(ctx, table)
	if err != nil || !ok {
		return nil, err
	}
	return schema.LogColumns()
}

// maxZstdWindow is the largest window of a zstd frame the node decodes:
// the 8 MiB RFC 9659 requires decoders of Content-Encoding: zstd to take,
// more than the 2 MiB the zstd tool writes reading a pipe.
const maxZstdWindow = 8 << 20

// zstdDecoders decode the ingest bodies sent with Content-Encoding: zstd.
// A body whose frames' windows are at most the 1 MiB of rows a call takes is
// decoded whole by one decoder the requests share, which holds no window of
// its own; one with larger windows, up to maxZstdWindow, is decoded as a
// stream, which holds its window — so at most GOMAXPROCS of those at once.
type zstdDecoders struct {
	// all decodes bodies whole; it decodes no more than maxIngestBytes,
	// whatever a frame claims, and so takes windows up to that size (the
	// library bounds the window by what it may decode).
	all *zstd.Decoder
	// slots holds a token per stream decoder at work.
	slots chan struct{}
	// idle keeps the stream decoders not at work, with the windows they
	// allocated, for the next body: never more than slots' capacity.
	idle chan *zstd.Decoder
}

func newZstdDecoders() (*zstdDecoders, error) {
	all, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxIngestBytes))
	if err != nil {
		return nil, err
	}
	n := runtime.GOMAXPROCS(0)
	return &zstdDecoders{all: all, slots: make(chan struct{}, n), idle: make(chan *zstd.Decoder, n)}, nil
}

// decode decodes comp to at most limit bytes: more is
// zstd.ErrDecoderSizeExceeded, a frame's window over maxZstdWindow
// zstd.ErrWindowSizeExceeded.
func (z *zstdDecoders) decode(ctx context.Context, comp []byte, limit int64) ([]byte, error) {
	// Into room for all the rows a call takes: the decoder allocates a
	// frame that states its size the room for it alone, so frames of a few
	// KiB each would copy the rows decoded before them again and again —
	// hundreds of MiB for a body of a few KiB.
	buf := make([]byte, 0, limit+1)
	body, err := z.all.DecodeAll(comp, buf)
	if !errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return body, err
	}
	return z.stream(ctx, comp, buf[:limit+1])
}

// stream decodes comp into buf with a stream decoder, once one is free,
// refusing more than len(buf)-1 bytes.
func (z *zstdDecoders) stream(ctx context.Context, comp, buf []byte) ([]byte, error) {
	select {
	case z.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a zstd stream decoder: %w", ctx.Err())
	}
	defer func() { <-z.slots }()
	var d *zstd.Decoder
	select {
	case d = <-z.idle:
	default:
		var err error
		d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, err
		}
	}
	defer func() {
		_ = d.Reset(nil) // lets go of comp; cannot fail given nil
		z.idle <- d
	}()
	// A bytes.Reader, not a bytes.Buffer: the library decodes a Buffer
	// whole, bounded by nothing but its own limit, instead of as a stream.
	if err := d.Reset(bytes.NewReader(comp)); err != nil {
		return nil, err
	}
	n, err := io.ReadFull(io.LimitReader(d, int64(len(buf))), buf)
	switch {
	case err == nil:
		return nil, zstd.ErrDecoderSizeExceeded
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return buf[:n], nil
	}
	return nil, err
}

// readIngestBody reads the body, decoding it when so encoded — gzip (with
// klauspost's gzip: the same format and checks as compress/gzip, in less
// time), or zstd, which decodes in a fraction of gzip's time and which
// `sealwatch ingest` sends — and refuses more than limit bytes of rows with
// 413.
func (s *Server) readIngestBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var rd io.Reader = http.MaxBytesReader(w, r.Body, limit)
	size := r.ContentLength // of the body as sent; -1: unknown
	encoding := r.Header.Get("Content-Encoding")
	switch {
	case strings.EqualFold(encoding, "zstd"):
		return s.readZstdBody(r.Context(), rd, size, limit)
	case encoding != "" && !strings.EqualFold(encoding, "gzip") && !strings.EqualFold(encoding, "identity"):
		// Read as it is, such a body would be refused as rows that are not
		// JSON, which hides the cause.
		return nil, badRequest("InvalidContentEncoding", fmt.Sprintf("Content-Encoding %q is not one this API decodes: send the rows as they are, or with gzip or zstd", echo(encoding, 40)))
	}
	if strings.EqualFold(encoding, "gzip") {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, badRequest("InvalidContentEncoding", "the body is marked gzip but is not gzip data")
		}
		defer zr.Close()
		rd = io.LimitReader(zr, limit+1)
		size = -1
	}
	body, err := readSized(rd, size, limit)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || int64(len(body)) > limit:
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "PayloadTooLarge",
			Message: fmt.Sprintf("the rows exceed %d bytes per call; send them in smaller batches", limit)}
	case err != nil:
		return nil, badRequest("InvalidContent", "the body could not be read: "+err.Error())
	}
	return body, nil
}

// readSized reads rd to its end into one buffer of the size the request
// declared (when it did, within limit), instead of growing one by copies
// as io.ReadAll does.
func readSized(rd io.Reader, size, limit int64) ([]byte, error) {
	if size < 0 || size > limit {
		return io.ReadAll(rd)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead)) // room to read the end of the body
	_, err := buf.ReadFrom(rd)
	return buf.Bytes(), err
}

// zstdMagic starts a zstd frame.
const zstdMagic = "\x28\xb5\x2f\xfd"

// readZstdBody reads a zstd body of at most limit bytes, which decodes to at
// most limit bytes of rows.
func (s *Server) readZstdBody(ctx context.Context, rd io.Reader, size, limit int64) ([]byte, error) {
	comp, err := readSized(rd, size, limit)
	tooBig := &Error{Status: http.StatusRequestEntityTooLarge, Code: "PayloadTooLarge",
		Message: fmt.Sprintf("the rows exceed %d bytes per call; send them in smaller batches", limit)}
	var over *http.MaxBytesError
	switch {
	case errors.As(err, &over):
		return nil, tooBig
	case err != nil:
		return nil, badRequest("InvalidContent", "the body could not be read: "+err.Error())
	}
	body, err := s.zstd.decode(ctx, comp, limit)
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded) || int64(len(body)) > limit:
		return nil, tooBig
	case errors.Is(err, zstd.ErrMagicMismatch) && !bytes.HasPrefix(comp, []byte(zstdMagic)):
		return nil, badRequest("InvalidContentEncoding", "the body is marked zstd but is not zstd data")
	case errors.Is(err, zstd.ErrWindowSizeExceeded):
		return nil, badRequest("InvalidContent", fmt.Sprintf("the body's zstd frame has a window over %d MiB, the most RFC 9659 has HTTP decoders take: "+
			"compress with a window of %d MiB at most (the zstd tool's levels up to 19 without --long, or --zstd=wlog=23)", maxZstdWindow>>20, maxZstdWindow>>20))
	case errors.Is(err, context.Canceled):
		return nil, err // the client went away while the body waited for a stream decoder
	case err != nil:
		return nil, badRequest("InvalidContent", "the body could not be read: "+err.Error())
	}
	return body, nil
}

// dataError maps the key and store errors of the data plane. It is part of
// toAPIError, the one place errors become responses.
// objectStoreRetryAfter is the Retry-After, in seconds, of a refusal because
// the object store did not answer.
const objectStoreRetryAfter = 10

func dataError(err error) *Error {
	var re *logstore.RowError
	var ue *logstore.UndeclaredColumnError
	var oe *transform.OutputError
	var lu *logstore.LineageUnreachableError
	switch {
	case errors.As(err, &oe) && errors.Is(err, logstore.ErrInvalidInput):
		return badRequest("InvalidPayload", "the body was refused whole: the rows the data collection rule's transformation gave do not fit the table: "+oe.Err.Error())
	case errors.As(err, &ue):
		return badRequest("InvalidPayload", fmt.Sprintf("the body was refused whole: row %d has column %q, which table %s does not declare: "+
			"add it to the table (PUT …/tables/%s with the column in properties.schema.columns), or leave it out of the rows", ue.Index, ue.Column, ue.Table, ue.Table))
	case errors.Is(err, keyring.ErrKeyRevoked):
		return keyInaccessible()
	case errors.Is(err, keyring.ErrLocked), errors.Is(err, keyring.ErrKeyUnreachable):
		return keyVaultUnreachable()
	case errors.As(err, &re):
		return badRequest("InvalidPayload", "the body was refused whole: "+re.Error())
	case errors.Is(err, logstore.ErrInvalidInput):
		return badRequest("InvalidPayload", "the body was refused whole: "+err.Error())
	case errors.Is(err, logstore.ErrInvalidName):
		return badRequest("InvalidTableName", err.Error())
	case errors.As(err, &lu):
		return &Error{Status: http.StatusServiceUnavailable, Code: "ObjectStoreUnreachable", RetryAfter: objectStoreRetryAfter,
			Message: fmt.Sprintf("the rows another node wrote to table %s (its lineage %s) cannot be read now: the object store did not answer; "+
				"the request was refused rather than answered without them; retry once the object store answers", lu.Table, lu.Lineage)}
	case errors.Is(err, objstore.ErrUnreachable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "ObjectStoreUnreachable", RetryAfter: objectStoreRetryAfter,
			Message: "the object store that holds the workspace's sealed segments did not answer; retry once it answers"}
	case errors.Is(err, logstore.ErrSharedWALUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", RetryAfter: 5,
			Message: "the shared write-ahead log in PostgreSQL did not confirm it stored the rows, so they are not acknowledged: they may or may not be kept " +
				"(PostgreSQL may have committed them before the answer was lost, as a disk may keep a write whose fsync failed); send the body again once PostgreSQL answers"}
	case errors.Is(err, wsdata.ErrLeaseLapsed):
		return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", RetryAfter: 5,
			Message: "this node could not renew its lease on its share of the log store in time (the control plane did not answer, or the node was paused), " +
				"so the rows are not acknowledged: they may or may not be kept; send the body again, to another node or once this one renews its lease"}
	case errors.Is(err, logstore.ErrLineageAdopted):
		// The node was taken for gone (paused past its lease); it goes on
		// under a new lineage at its next renewal, within a fifth of one.
		return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", RetryAfter: 5,
			Message: "another node took over this node's share of the log store while this one was unreachable or paused, so the request was refused: " +
				"rows sent may or may not be kept; send the request again, to another node or to this one once it has taken a new share (within a minute)"}
	case errors.Is(err, logstore.ErrLineageConflict):
		return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", RetryAfter: 5,
			Message: "another process writes this node's share of the log store (a node started on a copy of this node's --data directory), so the request was refused: " +
				"rows sent may or may not be kept; give each node its own --data directory, and send the request again"}
	case errors.Is(err, logstore.ErrClosed):
		// The workspace's store closed under the request (deleted, or
		// closed to bound open stores); a new request opens it again.
		return &Error{Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable", RetryAfter: 1,
			Message: "the workspace's log store closed while the request used it; send the request again"}
	}
	return nil
}
