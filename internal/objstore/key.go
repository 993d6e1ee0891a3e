package objstore

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sealwatch/sealwatch/internal/fault"
)

// Limits on keys: S3's on a whole key, common file systems' on one name.
const (
	MaxKeyLength     = 1024
	MaxSegmentLength = 255
)

// KeyError is a key or prefix refused by ValidKey or ValidPrefix.
type KeyError struct {
	Key    string // as given, cut to 64 bytes if longer
	Reason string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("object key %q: %s", e.Key, e.Reason)
}

// Unwrap makes every *KeyError an ErrInvalidKey.
func (e *KeyError) Unwrap() error { return ErrInvalidKey }

// ValidKey refuses a key that could escape a store's root or mean different
// things to different backends. A key is one or more segments joined by
// "/", at most MaxKeyLength bytes; each segment is 1 to MaxSegmentLength
// letters, digits, '-', '_', '.' and '=', and does not begin with '.'. So
// there is no absolute key, no empty, "." or ".." segment, nothing a file
// system or an S3 URL reads otherwise; and names beginning with '.' are
// left to backends for their own files (localfs's temporary files).
func ValidKey(key string) error {
	if key == "" {
		return &KeyError{Key: key, Reason: "is empty"}
	}
	return validPath(key, false)
}

// ValidPrefix refuses a List prefix that no valid key could begin with, for
// the same reasons as ValidKey: "" (every key), whole segments each followed
// by "/", and a last segment that may be partial.
func ValidPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return validPath(prefix, true)
}

func validPath(s string, prefix bool) error {
	bad := func(format string, args ...any) error {
		return &KeyError{Key: fault.Shorten(s), Reason: fmt.Sprintf(format, args...)}
	}
	if len(s) > MaxKeyLength {
		return bad("is longer than %d bytes", MaxKeyLength)
	}
	if s[0] == '/' {
		return bad("begins with '/': keys are relative to the store's root")
	}
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case seg == "" && last && prefix:
			// A prefix ending in "/": every key under those segments.
		case seg == "" && last:
			return bad("ends in '/'")
		case seg == "":
			return bad("has an empty segment (\"//\")")
		case seg[0] == '.':
			return bad("segment %q begins with '.'", fault.Shorten(seg))
		case len(seg) > MaxSegmentLength:
			return bad("has a segment longer than %d bytes", MaxSegmentLength)
		default:
			if j := strings.IndexFunc(seg, notKeyChar); j >= 0 {
				r, _ := utf8.DecodeRuneInString(seg[j:])
				return bad("has %q: segments are letters, digits, '-', '_', '.' and '='", r)
			}
		}
	}
	return nil
}

func notKeyChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("-_.=", r)
}
