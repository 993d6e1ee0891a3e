package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// APIError is a refusal from the node: the HTTP status and the error body's
// code, inner code and message. The token endpoint's OAuth2 errors
// ({"error":"invalid_client","error_description":...}) decode into it too.
type APIError struct {
	Status    int
	Code      string
	InnerCode string
	Message   string
	// RequestID is the node's x-ms-request-id, under which a 5xx is logged.
	RequestID string
}

// Error is one line for a person: the code, the status and the server's
// message, which says what to do. It holds nothing the client sent, so no
// token or secret can reach it.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	if e.InnerCode != "" && e.InnerCode != e.Code {
		b.WriteString("/" + e.InnerCode)
	}
	fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	if e.Message != "" {
		b.WriteString(": " + oneLine(e.Message))
	}
	if e.Status >= 500 && e.RequestID != "" {
		b.WriteString(" [request ID " + e.RequestID + "]")
	}
	return b.String()
}

// oneLine folds line breaks so an error stays on one line of a terminal or log.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// decodeError turns a non-2xx response into an *APIError. Bodies that are not
// one of the two known shapes are not quoted, since they may come from
// something other than the node (a proxy's page) and say nothing useful.
func decodeError(resp *http.Response, data []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, RequestID: resp.Header.Get("x-ms-request-id")}
	var body struct {
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	if json.Unmarshal(data, &body) == nil && len(body.Error) > 0 {
		var detail struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError *struct {
				Code string `json:"code"`
			} `json:"innererror"`
		}
		var oauthCode string
		switch {
		case json.Unmarshal(body.Error, &detail) == nil:
			e.Code, e.Message = detail.Code, detail.Message
			if detail.InnerError != nil {
				e.InnerCode = detail.InnerError.Code
			}
		case json.Unmarshal(body.Error, &oauthCode) == nil:
			e.Code, e.Message = oauthCode, body.ErrorDescription
		}
	}
	if e.Code == "" {
		e.Code = strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "")
		if e.Code == "" {
			e.Code = "HTTPError"
		}
	}
	if e.Message == "" {
		e.Message = "the server gave no explanation"
	}
	return e
}
