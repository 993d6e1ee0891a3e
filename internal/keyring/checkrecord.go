package keyring

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sealwatch/sealwatch/internal/envelope"
)

// A check record is the outcome of a ring's last key check, kept in the
// shared key registry next to the ring so that one node probes the key
// service and the others read what it found (see shared.go). The database
// holds it, so it is authenticated under a key the database never sees
// (SharedChecks.Key, a secret of the cluster's, sealed under its master
// key): an operator of the database can delete a record — the nodes then
// probe themselves — but cannot forge one that says "accessible" after a
// revocation or move one to another ring. An old record put back is
// refused by a node that read a later one (its sequence number), and by
// every node once its check is older than the freshness limit (its
// time): a restarted node knows no sequence number and may take it until
// then, which the bound already allows (shared.go).
//
// Stored as HMAC-SHA256(macKey, label || AAD(cluster, resource) || JSON)
// followed by the JSON.

// checkState is what a key check found.
type checkState string

const (
	checkAccessible  checkState = "accessible"
	checkRevoked     checkState = "revoked" // disabled, deleted, access removed
	checkUnreachable checkState = "unreachable"
)

func (s checkState) valid() bool {
	return s == checkAccessible || s == checkRevoked || s == checkUnreachable
}

// checkRecord is one ring's last key check as published.
type checkRecord struct {
	Cluster  string `json:"cluster"`
	Resource string `json:"resource"`
	// Seq grows by one with each record written for the ring: a node
	// refuses a record below the highest it has read.
	Seq   uint64     `json:"seq"`
	Node  string     `json:"node"` // the node that checked, and holds the probe lease
	State checkState `json:"state"`
	// Since is when the ring entered State, as far as the checks tell.
	Since time.Time `json:"since"`
	// CheckedAt is when the check started: what it proves holds from then.
	CheckedAt time.Time `json:"checkedAt"`
	// Registry is the ring's registry version the check was made at: a
	// record of another version says nothing of the key in force now.
	Registry uint64 `json:"registry"`
	KeyURI   string `json:"keyUri,omitempty"` // the key version seen wrapping the current account key
}

// maxCheckRecord bounds what the decoder reads: a record is a few hundred
// bytes, names included.
const maxCheckRecord = 4096

const checkLabel = "sealwatch/keyring/check-record/v1"

var (
	// errCheckForged: the record's MAC does not hold under this cluster's
	// key — written by someone without it, damaged, or of another ring.
	errCheckForged = errors.New("key check record fails its MAC")
	// errCheckInvalid: the MAC holds, yet the record is not one this
	// build would write.
	errCheckInvalid = errors.New("key check record is not valid")
	// errCheckReplayed: the record is below one already read — an old
	// record put back.
	errCheckReplayed = errors.New("key check record is older than one already read")
)

// checkMACKey derives the key that authenticates check records from the
// cluster's shared secret.
func checkMACKey(secret []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, secret, nil, checkLabel, sha256.Size)
}

func checkMAC(key []byte, cluster, resource string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(checkLabel))
	m.Write(envelope.AAD(cluster, resource))
	m.Write(body)
	return m.Sum(nil)
}

func encodeCheck(key []byte, r *checkRecord) ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(checkMAC(key, r.Cluster, r.Resource, body), body...), nil
}

// decodeCheck opens a stored record of the ring (cluster, resource). It
// fails with errCheckForged when the MAC does not hold — for this ring:
// a record copied from another fails too — and errCheckInvalid when the
// content is not a record.
func decodeCheck(key []byte, cluster, resource string, raw []byte) (*checkRecord, error) {
	if len(raw) <= sha256.Size || len(raw) > maxCheckRecord {
		return nil, fmt.Errorf("%d bytes: %w", len(raw), errCheckForged)
	}
	tag, body := raw[:sha256.Size], raw[sha256.Size:]
	if !hmac.Equal(tag, checkMAC(key, cluster, resource, body)) {
		return nil, errCheckForged
	}
	var r checkRecord
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%v: %w", err, errCheckInvalid)
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the record: %w", errCheckInvalid)
	}
	if r.Cluster != cluster || r.Resource != resource {
		return nil, fmt.Errorf("names ring %s/%s: %w", r.Cluster, r.Resource, errCheckInvalid)
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *checkRecord) validate() error {
	switch {
	case r.Cluster == "" || r.Resource == "":
		return fmt.Errorf("no ring named: %w", errCheckInvalid)
	case r.Seq == 0:
		return fmt.Errorf("sequence number 0: %w", errCheckInvalid)
	case r.Node == "":
		return fmt.Errorf("no checking node: %w", errCheckInvalid)
	case !r.State.valid():
		return fmt.Errorf("state %q: %w", r.State, errCheckInvalid)
	case r.CheckedAt.IsZero() || r.Since.IsZero() || r.Since.After(r.CheckedAt):
		return fmt.Errorf("times since %s, checked %s: %w", r.Since, r.CheckedAt, errCheckInvalid)
	}
	return nil
}
