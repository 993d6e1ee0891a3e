package logstore

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"

	"github.com/sealwatch/sealwatch/internal/envelope"
)

// formatVersion is written into every sealed file header and every AAD, so
// that a future format never decrypts data written under this one by mistake.
// WAL files are at walVersion: version 2 authenticates record lengths and
// keeps an acknowledged mark; version 3 (walStampVersion) puts each record's
// ingestion time before its rows; version 4 may hold the
// datetime and text values of declared columns (rows.go); a store with a
// lineage writes version 5 (walLineageVersion), version 4 with the lineage
// bound into every AAD, so that a record kept in the shared WAL (SharedWAL)
// cannot be taken for another lineage's. WALs of versions 1
// and 2 are still replayed; their rows' ingestion time is unknown. Manifests are at
// manifestVersion: version 2 lists each segment's range of ingestion
// times; version 3 the merges under way and the segments they retired;
// versions 1 and 2 are still read. Segments are at segmentVersion: version 2
// (segAnyBloomVersion) gives each block an any-column bloom filter; version 3
// (segPagedVersion) compresses column chunks in pages (page.go); version 4
// (segPageFilterVersion) gives the chunks of long text a filter of their
// pages' terms, in the chunk (page.go); version 5 (segCharsVersion) gives
// a string column without a bloom filter the set of characters its values
// hold, in the index (chars.go); versions 1 to 4 are still read.
const (
	formatVersion        = 1
	segmentVersion       = 5
	segAnyBloomVersion   = 2
	segPagedVersion      = 3
	segPageFilterVersion = 4
	segCharsVersion      = 5
	walVersion           = 4
	walMarkVersion       = 2
	walStampVersion      = 3
	walLineageVersion    = 5
	manifestVersion      = 3
)

// supportedVersion reports whether a file of the kind magic may have format
// version v.
func supportedVersion(magic string, v uint16) bool {
	switch magic {
	case magicWAL:
		return v >= 1 && v <= walLineageVersion
	case magicManifest:
		return v >= 1 && v <= manifestVersion
	case magicSegment:
		return v >= 1 && v <= segmentVersion
	}
	return v == formatVersion
}

// HKDF purposes: the same salt under another purpose yields another key.
const (
	purposeWAL      = "sealwatch/logstore/wal/v1"
	purposeSegment  = "sealwatch/logstore/segment/v1"
	purposeManifest = "sealwatch/logstore/manifest/v1"
)

// File magics.
const (
	magicWAL      = "SWWL"
	magicSegment  = "SWSG"
	magicManifest = "SWMF"
)

const (
	saltSize  = 32
	objIDSize = 16
	// maxHeaderSize bounds a header: magic, version, key ID length, a key ID
	// of at most 255 bytes, salt, object ID, checksum.
	maxHeaderSize = 4 + 2 + 1 + 255 + saltSize + objIDSize + 4
	// maxSealsPerKey is rule 6: with random 96-bit nonces an object key seals
	// at most 2^32 messages.
	maxSealsPerKey = 1 << 32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is the plaintext start of every sealed file: enough to find the key
// (AEK ID, salt) and the format, and nothing about the data. Its checksum
// turns a flipped header bit into ErrCorrupt before any key is asked for.
type header struct {
	magic   string
	version uint16
	aekID   string
	salt    [saltSize]byte
	objID   [objIDSize]byte
}

func newHeader(magic, aekID string) (header, error) {
	if aekID == "" || len(aekID) > 255 {
		return header{}, fmt.Errorf("account key ID of %d bytes does not fit a header", len(aekID))
	}
	v := uint16(formatVersion)
	switch magic {
	case magicWAL:
		v = walVersion
	case magicManifest:
		v = manifestVersion
	case magicSegment:
		v = segmentVersion
	}
	h := header{magic: magic, version: v, aekID: aekID}
	rand.Read(h.salt[:])
	rand.Read(h.objID[:])
	return h, nil
}

func (h header) encode() []byte {
	b := make([]byte, 0, maxHeaderSize)
	b = append(b, h.magic...)
	b = binary.BigEndian.AppendUint16(b, h.version)
	b = append(b, byte(len(h.aekID)))
	b = append(b, h.aekID...)
	b = append(b, h.salt[:]...)
	b = append(b, h.objID[:]...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeHeader parses a header at the start of b and returns its length.
func decodeHeader(b []byte, magic string) (header, int, error) {
	var h header
	if len(b) < 7 || string(b[:4]) != magic {
		return h, 0, corruptf("not a %s file", magic)
	}
	n := 7 + int(b[6]) + saltSize + objIDSize
	if b[6] == 0 || len(b) < n+4 {
		return h, 0, corruptf("truncated header")
	}
	if crc32.Checksum(b[:n], castagnoli) != binary.BigEndian.Uint32(b[n:]) {
		return h, 0, corruptf("header checksum mismatch")
	}
	h.magic = magic
	h.version = binary.BigEndian.Uint16(b[4:])
	if !supportedVersion(magic, h.version) {
		return h, 0, corruptf("format version %d is not supported", h.version)
	}
	h.aekID = string(b[7 : 7+int(b[6])])
	copy(h.salt[:], b[7+int(b[6]):])
	copy(h.objID[:], b[7+int(b[6])+saltSize:])
	return h, n + 4, nil
}

// aad binds a sealed message to its place: kind of message, format version,
// AEK, workspace, table, object and whatever ordinals the kind needs.
func (h header) aad(kind, workspace, table string, more ...string) []byte {
	fields := append([]string{kind, strconv.Itoa(int(h.version)), h.aekID, workspace, table, string(h.objID[:])}, more...)
	return envelope.AAD(fields...)
}

// seal appends nonce ‖ ciphertext ‖ tag to dst, with a random nonce.
func seal(dst []byte, aead cipher.AEAD, plaintext, aad []byte) []byte {
	ns := aead.NonceSize()
	n := len(dst)
	if cap(dst)-n < ns+len(plaintext)+aead.Overhead() {
		grown := make([]byte, n, n+ns+len(plaintext)+aead.Overhead())
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:n+ns]
	rand.Read(dst[n:])
	return aead.Seal(dst, dst[n:], plaintext, aad)
}

// open authenticates and decrypts what seal wrote, appending to dst.
func open(dst []byte, aead cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	ns := aead.NonceSize()
	if len(sealed) < ns+aead.Overhead() {
		return nil, &authError{fmt.Sprintf("sealed message of %d bytes is too short", len(sealed))}
	}
	out, err := aead.Open(dst, sealed[:ns], sealed[ns:], aad)
	if err != nil {
		return nil, &authError{"authentication failed"}
	}
	return out, nil
}
