package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sealwatch/sealwatch/internal/docstore"
	"github.com/sealwatch/sealwatch/internal/logstore"
	"github.com/sealwatch/sealwatch/internal/workspace"
	"github.com/sealwatch/sealwatch/internal/wsdata"
)

// verifyProgressEvery is how often a verification reports its progress.
const verifyProgressEvery = 250 * time.Millisecond

func (s *Server) routeVerify() {
	s.handle("POST "+workspacesPath+"/{name}/verify", s.handleVerify)
}

// handleVerify authenticates every sealed object of a workspace. The answer
// is a stream of JSON lines: {"progress":{…}} while it reads, then one
// {"result":{…}}, or {"error":{…}} if it could not finish (a refusal before
// it starts is an ordinary error response).
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireOwner(r); err != nil {
		return err
	}
	if err := checkARMAPIVersion(r); err != nil {
		return err
	}
	ctx := r.Context()
	res, err := s.cfg.Workspaces.GetWorkspace(ctx, resourceGroup(r), r.PathValue("name"))
	if err != nil {
		return err
	}
	ws, err := s.cfg.Workspaces.WorkspaceByCustomerID(ctx, res.Properties.CustomerID)
	if err != nil {
		return err
	}
	total, err := s.cfg.Data.VerifySize(ctx, ws)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	out := &lineWriter{w: w, rc: http.NewResponseController(w)}
	var done int64
	last := time.Now()
	out.send(map[string]any{"progress": verifyProgress{BytesTotal: total}})
	rep, err := s.cfg.Data.Verify(ctx, ws, func(n int64) {
		done += n
		if time.Since(last) >= verifyProgressEvery {
			last = time.Now()
			out.send(map[string]any{"progress": verifyProgress{BytesDone: done, BytesTotal: max(total, done)}})
		}
	})
	if err != nil {
		e := toAPIError(err)
		if e.Status >= 500 {
			s.log.Error("verify failed", "workspace", ws.Workspace.Properties.CustomerID, "requestId", requestID(r), "err", err)
		}
		out.send(errorBody{Error: errorDetail{Code: e.Code, Message: e.Message}})
		return nil
	}
	out.send(map[string]any{"progress": verifyProgress{BytesDone: rep.Bytes, BytesTotal: max(total, rep.Bytes)}})
	out.send(map[string]any{"result": verifyResultOf(res.Name, rep)})
	return nil
}

type verifyProgress struct {
	BytesDone  int64 `json:"bytesDone"`
	BytesTotal int64 `json:"bytesTotal"`
}

// verifyResult is a verification's answer: what was read, and each
// damaged object.
type verifyResult struct {
	Workspace  string          `json:"workspace"`
	CustomerID string          `json:"customerId"`
	Healthy    bool            `json:"healthy"`
	Tables     int             `json:"tables"`
	Objects    int             `json:"objects"`
	Documents  int             `json:"documents"`
	Bytes      int64           `json:"bytes"`
	Damaged    []damagedObject `json:"damaged"`
}

// damagedObject is one damaged object as the API names it.
type damagedObject struct {
	Kind       string     `json:"kind"` // log or document
	Table      string     `json:"table,omitempty"`
	Collection string     `json:"collection,omitempty"`
	Object     string     `json:"object"`
	Problem    string     `json:"problem"`
	Detail     string     `json:"detail,omitempty"`
	From       *time.Time `json:"from,omitempty"` // the rows the damage may hide
	To         *time.Time `json:"to,omitempty"`
}

func verifyResultOf(name string, rep *wsdata.Report) verifyResult {
	out := verifyResult{Workspace: name, CustomerID: rep.CustomerID, Healthy: rep.Healthy(), Tables: rep.Tables,
		Objects: rep.Objects, Documents: rep.Documents, Bytes: rep.Bytes, Damaged: []damagedObject{}}
	for _, e := range rep.Damaged {
		out.Damaged = append(out.Damaged, logDamage(&e))
	}
	for _, e := range rep.DamagedDocs {
		out.Damaged = append(out.Damaged, docDamage(&e))
	}
	return out
}

func logDamage(e *logstore.IntegrityError) damagedObject {
	d := damagedObject{Kind: "log", Table: e.Table, Object: e.Object, Problem: string(e.Problem), Detail: e.Detail}
	if e.MinT != 0 || e.MaxT != 0 {
		from, to := time.Unix(0, e.MinT).UTC(), time.Unix(0, e.MaxT).UTC()
		d.From, d.To = &from, &to
	}
	return d
}

func docDamage(e *docstore.IntegrityError) damagedObject {
	return damagedObject{Kind: "document", Collection: e.Collection, Object: e.ID,
		Problem: string(logstore.ProblemAuthentication), Detail: e.Detail}
}

// integrityError is the refusal of a request that needs damaged data.
func integrityError(err error) *Error {
	var le *logstore.IntegrityError
	var de *docstore.IntegrityError
	var ws, what string
	switch {
	case errors.As(err, &le):
		ws = le.Workspace
		what = fmt.Sprintf("object %s of table %s is damaged (%s", le.Object, le.Table, le.Problem)
		if le.Detail != "" {
			what += ": " + le.Detail
		}
		what += ")"
		if le.MinT != 0 || le.MaxT != 0 {
			what += fmt.Sprintf("; a query whose time range ends before %s or starts after %s does not need it",
				time.Unix(0, le.MinT).UTC().Format(time.RFC3339), time.Unix(0, le.MaxT).UTC().Format(time.RFC3339))
		}
	case errors.As(err, &de):
		ws = de.Workspace
		what = fmt.Sprintf("document %s of %s is damaged (%s)", de.ID, de.Collection, de.Detail)
	default:
		return nil
	}
	return &Error{Status: http.StatusConflict, Code: "DataIntegrityError",
		Message: "the sealed data of workspace " + ws + " failed its integrity check: " + what +
			". Nothing damaged is ever returned. Run `sealwatch verify --workspace <name>` to list all damage, and restore the named object from a backup (see \"Data integrity\" in docs/guide.md)"}
}

// dataIntegrityOf is a workspace's integrity for its properties.
func dataIntegrityOf(in wsdata.Integrity) *workspace.DataIntegrity {
	d := &workspace.DataIntegrity{State: "Healthy", DamagedObjects: len(in.Damaged) + len(in.DamagedDocs)}
	if d.DamagedObjects > 0 {
		d.State = "Damaged"
	}
	if !in.LastVerified.IsZero() {
		t := in.LastVerified.UTC()
		d.LastVerified = &t
	}
	return d
}

// lineWriter writes JSON lines and flushes each, safe from one goroutine
// at a time.
type lineWriter struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (l *lineWriter) send(v any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, _ := json.Marshal(v)
	l.w.Write(append(b, '\n'))
	l.rc.Flush()
}
