package logstore

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// Codec is the compression state of column chunks: a zstd encoder and
// decoder, each of a few MiB once used. A store without one in its Config
// makes its own; one Codec passed to every store of a node keeps that
// memory from growing with the number of workspaces. Its methods are safe
// for concurrent use.
type Codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// NewCodec returns a codec that compresses and decompresses up to
// concurrency chunks at once (at least 1); Close releases it.
func NewCodec(concurrency int) (*Codec, error) {
	concurrency = max(concurrency, 1)
	// Column chunks are compressed whole with EncodeAll; a 1 MiB window
	// keeps each encoder's history small (the default 8 MiB costs 16 MiB
	// per encoder) at little cost in ratio, since chunks are mostly smaller.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(concurrency),
		zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, fmt.Errorf("log store codec: %w", err)
	}
	// A chunk is authenticated before it is decompressed: zstd's own
	// checksum of what comes out would only cost a hash of every byte.
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(concurrency), zstd.WithDecodeAllCapLimit(true), zstd.IgnoreChecksum(true))
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("log store codec: %w", err)
	}
	return &Codec{enc: enc, dec: dec}, nil
}

// Close releases the codec; no store may use it after.
func (c *Codec) Close() {
	c.enc.Close()
	c.dec.Close()
}
