package api

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sealwatch/sealwatch/internal/audit"
	"github.com/sealwatch/sealwatch/internal/identity"
	"github.com/sealwatch/sealwatch/internal/vault"
)

// keyOp is one data-plane operation: what it is called in the audit log, the
// key permission it needs, and the work.
type keyOp struct {
	name string // audit operation: KeyCreate, KeyWrap, ...
	perm string // access-policy permission
	run  func(q *keyRequest) (any, error)
}

// keyRequest is a parsed data-plane request.
type keyRequest struct {
	r       *http.Request
	vault   string
	key     string
	version string
	claims  *identity.Claims
	// version actually used, from the result's kid, for the audit record
	usedVersion string
}

// serveVault routes the data plane of the vault the Host names. It parses the
// path itself rather than through ServeMux: an empty version in
// "/keys/{name}//wrapkey" means "latest", which ServeMux would redirect.
//
// It returns the route the metrics name it by: "vault:" and the key
// operation (vault:KeyWrap), or routeVaultUnknown when the path names none.
func (s *Server) serveVault(w http.ResponseWriter, r *http.Request) (route string) {
	q := &keyRequest{r: r, vault: vaultName(r)}
	op, err := s.routeKeyOp(q)
	if err == nil {
		route = "vault:" + op.name
		err = q.checkNames()
	}
	if err != nil {
		writeError(w, r, s.log, err)
		return cmp.Or(route, routeVaultUnknown)
	}
	s.runKeyOp(w, q, op)
	return route
}

// checkNames refuses a vault, key name or version that breaks the Key
// Vault's naming rules, before the request is authorized or audited.
func (q *keyRequest) checkNames() error {
	if err := ruleVault.check(q.vault); err != nil {
		return err
	}
	if q.key != "" {
		if err := ruleKey.check(q.key); err != nil {
			return err
		}
	}
	if q.version != "" {
		return ruleKeyVersion.check(q.version)
	}
	return nil
}

// routeKeyOp finds the operation the path names. It splits the escaped path
// and decodes each segment once, so that %2F stays inside its segment.
func (s *Server) routeKeyOp(q *keyRequest) (*keyOp, error) {
	r := q.r
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, seg := range segs {
		var err error
		if segs[i], err = url.PathUnescape(seg); err != nil {
			return nil, badRequest(codeKeyVaultParam, fmt.Sprintf("path segment %d is not valid percent-encoding", i+1))
		}
	}
	notFound := &Error{Status: http.StatusNotFound, Code: "NotFound",
		Message: fmt.Sprintf("%s %s is not a Key Vault keys operation; see docs/api.md", r.Method, echo(r.URL.Path, 200))}
	m := r.Method
	switch segs[0] {
	case "keys":
		switch {
		case len(segs) == 1 || (len(segs) == 2 && segs[1] == ""):
			if m == http.MethodGet {
				return &keyOp{"KeyList", vault.PermList, s.listKeys}, nil
			}
		case len(segs) >= 2:
			q.key = segs[1]
			rest := segs[2:]
			switch {
			case len(rest) == 0 || (len(rest) == 1 && rest[0] == ""):
				switch m {
				case http.MethodGet:
					return &keyOp{"KeyGet", vault.PermGet, s.getKey}, nil
				case http.MethodPut:
					return &keyOp{"KeyImport", vault.PermImport, s.importKey}, nil
				case http.MethodDelete:
					return &keyOp{"KeyDelete", vault.PermDelete, s.deleteKey}, nil
				case http.MethodPatch:
					return &keyOp{"KeyUpdate", vault.PermUpdate, s.updateKey}, nil
				}
			case len(rest) == 1 && rest[0] == "create" && m == http.MethodPost:
				return &keyOp{"KeyCreate", vault.PermCreate, s.createKey}, nil
			case len(rest) == 1 && rest[0] == "rotate" && m == http.MethodPost:
				return &keyOp{"KeyRotate", vault.PermRotate, s.rotateKey}, nil
			case len(rest) == 1 && rest[0] == "versions" && m == http.MethodGet:
				return &keyOp{"KeyListVersions", vault.PermList, s.listKeyVersions}, nil
			case len(rest) == 1 && rest[0] == "rotationpolicy" && m == http.MethodGet:
				return &keyOp{"KeyRotationPolicyGet", vault.PermGetRotationPolicy, s.getRotationPolicy}, nil
			case len(rest) == 1 && rest[0] == "rotationpolicy" && m == http.MethodPut:
				return &keyOp{"KeyRotationPolicySet", vault.PermSetRotationPolicy, s.setRotationPolicy}, nil
			case len(rest) <= 2 && m == http.MethodPost && isCryptoOp(rest[len(rest)-1]):
				// The client sends /keys/{name}/wrapkey, or //wrapkey, when no
				// version is given: the latest version does the work.
				if len(rest) == 2 {
					q.version = rest[0]
				}
				switch rest[len(rest)-1] {
				case "wrapkey":
					return &keyOp{"KeyWrap", vault.PermWrapKey, s.cryptoOp(s.cfg.Vault.Wrap)}, nil
				case "unwrapkey":
					return &keyOp{"KeyUnwrap", vault.PermUnwrapKey, s.cryptoOp(s.cfg.Vault.Unwrap)}, nil
				case "encrypt":
					return &keyOp{"KeyEncrypt", vault.PermEncrypt, s.cryptoOp(s.cfg.Vault.Encrypt)}, nil
				case "decrypt":
					return &keyOp{"KeyDecrypt", vault.PermDecrypt, s.cryptoOp(s.cfg.Vault.Decrypt)}, nil
				}
			case len(rest) == 1:
				q.version = rest[0]
				switch m {
				case http.MethodGet:
					return &keyOp{"KeyGet", vault.PermGet, s.getKey}, nil
				case http.MethodPatch:
					return &keyOp{"KeyUpdate", vault.PermUpdate, s.updateKey}, nil
				}
			}
		}
	case "deletedkeys":
		switch {
		case len(segs) == 1 || (len(segs) == 2 && segs[1] == ""):
			if m == http.MethodGet {
				return &keyOp{"KeyListDeleted", vault.PermList, s.listDeletedKeys}, nil
			}
		case len(segs) == 2:
			q.key = segs[1]
			switch m {
			case http.MethodGet:
				return &keyOp{"KeyGetDeleted", vault.PermGet, s.getDeletedKey}, nil
			case http.MethodDelete:
				return &keyOp{"KeyPurge", vault.PermPurge, s.purgeKey}, nil
			}
		case len(segs) == 3 && segs[2] == "recover" && m == http.MethodPost:
			q.key = segs[1]
			return &keyOp{"KeyRecover", vault.PermRecover, s.recoverKey}, nil
		}
	}
	return nil, notFound
}

// runKeyOp authenticates, authorizes, runs and audits one operation. Every
// request that names an operation is audited, refused or not.
func (s *Server) runKeyOp(w http.ResponseWriter, q *keyRequest, op *keyOp) {
	start := time.Now()
	r := q.r
	status, body, err := s.execKeyOp(q, op)
	rec := audit.Record{
		Time:       start.UTC(),
		Vault:      q.vault,
		ClientIP:   clientIP(r),
		Operation:  op.name,
		KeyName:    q.key,
		KeyVersion: q.version,
		RequestID:  requestID(r),
	}
	if q.usedVersion != "" {
		rec.KeyVersion = q.usedVersion
	}
	if q.claims != nil {
		rec.CallerObjectID, rec.CallerTenantID, rec.CallerAppID = q.claims.ObjectID, q.claims.TenantID, q.claims.AppID
	}
	if err != nil {
		e := toAPIError(err)
		rec.Status, rec.ErrorCode = e.Status, e.Code
		if e.InnerCode != "" {
			rec.ErrorCode += "/" + e.InnerCode
		}
		writeError(w, r, s.log, err)
	} else {
		rec.Status = status
		if body == nil {
			w.WriteHeader(status)
		} else {
			writeJSON(w, status, body)
		}
	}
	rec.DurationMs = float64(time.Since(start).Microseconds()) / 1000
	if s.cfg.Audit != nil {
		s.cfg.Audit.Append(rec)
	}
}

func (s *Server) execKeyOp(q *keyRequest, op *keyOp) (int, any, error) {
	r := q.r
	claims, err := s.authenticate(r, identity.AudienceVault)
	if err != nil {
		return 0, nil, err
	}
	q.claims = claims
	if err := keyVaultKeysAPI.check(r); err != nil {
		return 0, nil, err
	}
	if err := s.cfg.Vault.Authorize(r.Context(), q.vault, claims.TenantID, claims.ObjectID, op.perm); err != nil {
		var fe *vault.ForbiddenError
		if errors.As(err, &fe) {
			fe.Key = q.key
		}
		return 0, nil, err
	}
	body, err := op.run(q)
	if err != nil {
		return 0, nil, err
	}
	if body == nil {
		return http.StatusNoContent, nil, nil
	}
	return http.StatusOK, body, nil
}

func isCryptoOp(s string) bool {
	return s == "wrapkey" || s == "unwrapkey" || s == "encrypt" || s == "decrypt"
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// versionFromKID returns the last path segment of a versioned key ID.
func versionFromKID(kid string) string {
	if i := strings.LastIndexByte(kid, '/'); i >= 0 {
		return kid[i+1:]
	}
	return ""
}

// bundle records the version a key bundle names, for the audit record, and
// returns the bundle as the response body.
func (q *keyRequest) bundle(b *vault.KeyBundle, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	q.usedVersion = versionFromKID(b.Key.KID)
	return b, nil
}

func (s *Server) createKey(q *keyRequest) (any, error) {
	var p vault.CreateKeyParameters
	if err := decodeJSON(q.r, &p); err != nil {
		return nil, err
	}
	return q.bundle(s.cfg.Vault.CreateKey(q.r.Context(), q.vault, q.key, p))
}

func (s *Server) importKey(q *keyRequest) (any, error) {
	var p vault.ImportKeyParameters
	if err := decodeJSON(q.r, &p); err != nil {
		return nil, err
	}
	return q.bundle(s.cfg.Vault.ImportKey(q.r.Context(), q.vault, q.key, p))
}

func (s *Server) getKey(q *keyRequest) (any, error) {
	return q.bundle(s.cfg.Vault.GetKey(q.r.Context(), q.vault, q.key, q.version))
}

func (s *Server) updateKey(q *keyRequest) (any, error) {
	var p vault.UpdateKeyParameters
	if err := decodeJSON(q.r, &p); err != nil {
		return nil, err
	}
	return q.bundle(s.cfg.Vault.UpdateKey(q.r.Context(), q.vault, q.key, q.version, p))
}

func (s *Server) rotateKey(q *keyRequest) (any, error) {
	return q.bundle(s.cfg.Vault.RotateKey(q.r.Context(), q.vault, q.key))
}

func (s *Server) deleteKey(q *keyRequest) (any, error) {
	return s.cfg.Vault.DeleteKey(q.r.Context(), q.vault, q.key)
}

func (s *Server) getDeletedKey(q *keyRequest) (any, error) {
	return s.cfg.Vault.GetDeletedKey(q.r.Context(), q.vault, q.key)
}

func (s *Server) recoverKey(q *keyRequest) (any, error) {
	return s.cfg.Vault.RecoverDeletedKey(q.r.Context(), q.vault, q.key)
}

func (s *Server) purgeKey(q *keyRequest) (any, error) {
	return nil, s.cfg.Vault.PurgeDeletedKey(q.r.Context(), q.vault, q.key)
}

func (s *Server) getRotationPolicy(q *keyRequest) (any, error) {
	return s.cfg.Vault.GetRotationPolicy(q.r.Context(), q.vault, q.key)
}

func (s *Server) setRotationPolicy(q *keyRequest) (any, error) {
	var p vault.RotationPolicy
	if err := decodeJSON(q.r, &p); err != nil {
		return nil, err
	}
	return s.cfg.Vault.SetRotationPolicy(q.r.Context(), q.vault, q.key, p)
}

type cryptoFunc func(ctx context.Context, vault, name, version string, p vault.KeyOperationParameters) (*vault.KeyOperationResult, error)

func (s *Server) cryptoOp(fn cryptoFunc) func(q *keyRequest) (any, error) {
	return func(q *keyRequest) (any, error) {
		var p vault.KeyOperationParameters
		if err := decodeJSON(q.r, &p); err != nil {
			return nil, err
		}
		res, err := fn(q.r.Context(), q.vault, q.key, q.version, p)
		if err != nil {
			return nil, err
		}
		q.usedVersion = versionFromKID(res.KID)
		return res, nil
	}
}

// maxPageSize is the largest maxresults the keys API allows.
const maxPageSize = 25

// page slices items by the request's maxresults and $skiptoken and returns
// the nextLink for the rest, as the list operations of the keys API do.
func page[T any](r *http.Request, items []T) ([]T, string, error) {
	size := maxPageSize
	if v := r.URL.Query().Get("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return nil, "", badRequest("BadParameter", fmt.Sprintf("maxresults must be an integer from 1 to %d", maxPageSize))
		}
		size = n
	}
	offset := 0
	if tok := r.URL.Query().Get("$skiptoken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		n, convErr := strconv.Atoi(string(raw))
		if err != nil || convErr != nil || n < 0 {
			return nil, "", badRequest("BadParameter", "the $skiptoken is not one this vault issued; start the listing again without it")
		}
		offset = n
	}
	if offset > len(items) {
		offset = len(items)
	}
	end := min(offset+size, len(items))
	next := ""
	if end < len(items) {
		u := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path}
		qv := url.Values{}
		qv.Set("api-version", r.URL.Query().Get("api-version"))
		qv.Set("maxresults", strconv.Itoa(size))
		qv.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end))))
		u.RawQuery = qv.Encode()
		next = u.String()
	}
	return items[offset:end], next, nil
}

type listBody[T any] struct {
	Value    []T     `json:"value"`
	NextLink *string `json:"nextLink"`
}

func pageBody[T any](r *http.Request, items []T) (any, error) {
	if items == nil {
		items = []T{}
	}
	p, next, err := page(r, items)
	if err != nil {
		return nil, err
	}
	b := listBody[T]{Value: p}
	if next != "" {
		b.NextLink = &next
	}
	return b, nil
}

func (s *Server) listKeys(q *keyRequest) (any, error) {
	items, err := s.cfg.Vault.ListKeys(q.r.Context(), q.vault)
	if err != nil {
		return nil, err
	}
	return pageBody(q.r, items)
}

func (s *Server) listKeyVersions(q *keyRequest) (any, error) {
	items, err := s.cfg.Vault.ListKeyVersions(q.r.Context(), q.vault, q.key)
	if err != nil {
		return nil, err
	}
	return pageBody(q.r, items)
}

func (s *Server) listDeletedKeys(q *keyRequest) (any, error) {
	items, err := s.cfg.Vault.ListDeletedKeys(q.r.Context(), q.vault)
	if err != nil {
		return nil, err
	}
	return pageBody(q.r, items)
}
