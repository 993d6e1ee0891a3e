package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/sealwatch/sealwatch/internal/fault"
	"github.com/sealwatch/sealwatch/internal/workspace"
)

// maxCollectorBytes is the HTTP Data Collector API's limit per post.
const maxCollectorBytes = 30 << 20

var logTypeRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,100}$`)

func (s *Server) routeDataCollector() {
	s.handle("POST /api/logs", s.countBatch(apiDataCollector, s.handleDataCollector))
}

// handleDataCollector is the HTTP Data Collector API: rows signed with the
// workspace's shared key, stored in table <Log-Type>_CL with typed column
// suffixes.
func (s *Server) handleDataCollector(w http.ResponseWriter, r *http.Request) error {
	// The version first: it costs nothing, and a caller with the wrong one
	// learns it before sending 30 MiB to be signed.
	if err := dataCollectorAPI.check(r); err != nil {
		return err
	}
	customerID, sig, ok := parseSharedKey(r.Header.Get("Authorization"))
	if !ok {
		return &Error{Status: http.StatusForbidden, Code: "InvalidAuthorization",
			Message: "the Authorization header must be 'SharedKey <workspace ID>:<signature>'"}
	}
	date := r.Header.Get("x-ms-date")
	t, err := http.ParseTime(date)
	if err != nil {
		return &Error{Status: http.StatusForbidden, Code: "InvalidAuthorization", Message: "x-ms-date must be an RFC 1123 date such as Mon, 02 Jan 2006 15:04:05 GMT"}
	}
	if err := s.checkCollectorDate(t); err != nil {
		return err
	}
	logType := r.Header.Get("Log-Type")
	if !logTypeRE.MatchString(logType) {
		return badRequest("InvalidLogType", "Log-Type must be 1-100 letters, digits and underscores")
	}
	if f := r.Header.Get("time-generated-field"); len(f) > 500 || !utf8.ValidString(f) || strings.ContainsFunc(f, unicode.IsControl) {
		return badRequest("InvalidTimeGenerated", "time-generated-field must name a field of the records: up to 500 characters of UTF-8 text")
	}
	if r.Header.Get("Content-Encoding") != "" {
		// The signature covers the body's length as sent; the API takes
		// plain JSON, so a compressed body would be signed over other bytes.
		return badRequest("InvalidContentEncoding", "the Data Collector API takes uncompressed JSON; send without Content-Encoding (the Logs Ingestion API takes gzip)")
	}
	body, err := s.readIngestBody(w, r, maxCollectorBytes)
	if err != nil {
		return err
	}
	ws, keys, err := s.cfg.Workspaces.CollectorWorkspace(r.Context(), customerID)
	if fault.KindOf(err) == fault.NotFound {
		return &Error{Status: http.StatusForbidden, Code: "InvalidAuthorization", Message: "the signature does not match any key of the workspace"}
	}
	if err != nil {
		return err
	}
	contentType := r.Header.Get("Content-Type")
	if i := strings.IndexByte(contentType, ';'); i >= 0 {
		contentType = strings.TrimSpace(contentType[:i])
	}
	mac, ok := validSignature(sig, keys.PrimarySharedKey, len(body), contentType, date)
	if !ok {
		mac, ok = validSignature(sig, keys.SecondarySharedKey, len(body), contentType, date)
	}
	if !ok {
		return &Error{Status: http.StatusForbidden, Code: "InvalidAuthorization", Message: "the signature does not match any key of the workspace"}
	}
	// Only a signature that verifies is recorded, so filling the record
	// takes the workspace's key.
	forget, err := s.reserveCollectorRequest(r, mac[:], t)
	if err != nil {
		return err
	}
	stored, err := s.storeCollectorRows(r, ws, logType, body)
	if err != nil {
		forget() // nothing was stored: a retry of this request is not a duplicate
		return err
	}
	s.metrics.ingested(apiDataCollector, stored, len(body))
	w.WriteHeader(http.StatusOK)
	return nil
}

// storeCollectorRows stores a Data Collector body's rows in table
// <logType>_CL and returns how many it stored.
func (s *Server) storeCollectorRows(r *http.Request, ws *workspace.WorkspaceInfo, logType string, body []byte) (int, error) {
	rows, err := collectorRows(body, r.Header.Get("time-generated-field"), time.Now().UTC())
	if err != nil {
		return 0, err
	}
	// A table declared through the tables API holds the suffixed columns
	// as it declares them; one that is not takes the inferred types.
	cols, err := s.declaredColumns(r.Context(), ws, logType+"_CL")
	if err != nil {
		return 0, err
	}
	return s.ingest(r, ws, logType+"_CL", rows, cols)
}

func parseSharedKey(h string) (customerID, sig string, ok bool) {
	rest, ok := strings.CutPrefix(h, "SharedKey ")
	if !ok {
		return "", "", false
	}
	customerID, sig, ok = strings.Cut(rest, ":")
	return customerID, sig, ok && customerID != "" && sig != ""
}

// validSignature checks the API's signature: base64 HMAC-SHA256 under the
// base64-decoded shared key of
// "POST\n{content-length}\n{content-type}\nx-ms-date:{date}\n/api/logs".
// It returns the MAC, which names the request in the replay record whatever
// base64 spelling carried it.
func validSignature(sig, sharedKey string, length int, contentType, date string) (mac [sha256.Size]byte, ok bool) {
	key, err := base64.StdEncoding.DecodeString(sharedKey)
	if err != nil {
		return mac, false
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return mac, false
	}
	want := collectorSignature(key, length, contentType, date)
	if !hmac.Equal(got, want) {
		return mac, false
	}
	return [sha256.Size]byte(want), true
}

func collectorSignature(key []byte, length int, contentType, date string) []byte {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "POST\n%d\n%s\nx-ms-date:%s\n/api/logs", length, contentType, date)
	return m.Sum(nil)
}

// collectorRows turns the API's body (an object or an array of objects) into
// rows with the API's typed column names: _s string, _d number, _b bool,
// _t date-time, _g GUID; nested values are kept as JSON text (_s).
// TimeGenerated comes from timeField when named, else now.
func collectorRows(body []byte, timeField string, now time.Time) ([]byte, error) {
	if msg := jsonTextError(body); msg != "" {
		return nil, badRequest("InvalidPayload", "the body "+msg+"; send JSON in UTF-8")
	}
	body = bytes.TrimSpace(body)
	var rows []map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var err error
	if len(body) > 0 && body[0] == '{' {
		var one map[string]any
		err = dec.Decode(&one)
		rows = []map[string]any{one}
	} else {
		err = dec.Decode(&rows)
	}
	if err != nil {
		return nil, badRequest("InvalidPayload", "the body must be a JSON object or an array of JSON objects: "+err.Error())
	}
	out := make([]map[string]any, len(rows))
	for i, row := range rows {
		if row == nil {
			return nil, badRequest("InvalidPayload", fmt.Sprintf("record %d is not a JSON object", i))
		}
		typed := make(map[string]any, len(row)+1)
		typed["TimeGenerated"] = now.Format(time.RFC3339Nano)
		for k, v := range row {
			if k == "" || len(k) > 500 {
				return nil, badRequest("InvalidPayload", fmt.Sprintf("record %d has a field name of %d characters; names are 1-500", i, len(k)))
			}
			name, val := typedColumn(k, v)
			typed[name] = val
			if timeField != "" && k == timeField {
				ts, ok := v.(string)
				parsed, err := time.Parse(time.RFC3339Nano, ts)
				if !ok || err != nil {
					return nil, badRequest("InvalidTimeGenerated", fmt.Sprintf("record %d: field %q named by time-generated-field is not an ISO 8601 date-time", i, timeField))
				}
				typed["TimeGenerated"] = parsed.UTC().Format(time.RFC3339Nano)
			}
		}
		out[i] = typed
	}
	return json.Marshal(out)
}

func typedColumn(name string, v any) (string, any) {
	switch x := v.(type) {
	case bool:
		return name + "_b", x
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return name + "_s", string(x)
		}
		return name + "_d", f
	case string:
		if _, err := uuid.Parse(x); err == nil && len(x) == 36 {
			return name + "_g", x
		}
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return name + "_t", t.UTC().Format(time.RFC3339Nano)
		}
		return name + "_s", x
	case nil:
		return name + "_s", nil
	default:
		raw, _ := json.Marshal(x)
		return name + "_s", string(raw)
	}
}
