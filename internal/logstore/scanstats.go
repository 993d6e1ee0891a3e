package logstore

// ScanStats count what a scan read and what it passed over, for a query's
// statistics and the node's metrics: plain counts, kept by the scan's own
// goroutine and summed by the caller once the scan is closed.
type ScanStats struct {
	// Blocks are the blocks considered: those of the segments opened and
	// of the rows not yet flushed.
	Blocks int64
	// BlocksRead are the blocks of those whose columns were decrypted; the
	// others were ruled out by the sealed index (time range, statistics,
	// bloom filters) or answered from it.
	BlocksRead int64
	// BytesRead are the sealed bytes of the column chunks decrypted.
	BytesRead int64
	// SegmentsSkipped are the segments ruled out by their time range or
	// ingestion times without being opened.
	SegmentsSkipped int64
}

// BlocksSkipped are the blocks considered and not decrypted.
func (s ScanStats) BlocksSkipped() int64 { return s.Blocks - s.BlocksRead }

// Add adds o's counts to s's.
func (s *ScanStats) Add(o ScanStats) {
	s.Blocks += o.Blocks
	s.BlocksRead += o.BlocksRead
	s.BytesRead += o.BytesRead
	s.SegmentsSkipped += o.SegmentsSkipped
}

// Stats are what the scan has read so far; call it from the goroutine that
// calls Next, or after the scan has ended.
func (sc *Scanner) Stats() ScanStats { return sc.stats }
