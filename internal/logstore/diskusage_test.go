package logstore

import (
	"context"
	"os"
	"testing"

	"github.com/sealwatch/sealwatch/internal/envelope/envelopetest"
)

// TestMeasureDiskCountsSegmentsAndWALsByFile: rows acknowledged are in a WAL
// until flushed, then in a segment; the sizes are the files', and a
// directory that does not exist holds nothing.
func TestMeasureDiskCountsSegmentsAndWALsByFile(t *testing.T) {
	dir := t.TempDir()
	st := newTestStore(t, dir, envelopetest.New("aek"))
	mustIngest(t, st, ws, tbl, eventsBody(t, 0, 200, testNow))
	before, err := MeasureDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	if before.WALs < 1 || before.WALBytes < 200*100 || before.Segments != 0 {
		t.Errorf("before the flush: %+v, want a WAL of the rows and no segment", before)
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, err := MeasureDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, p := range files(t, dir, segExt) {
		want += fileSize(t, p)
	}
	if after.Segments != int64(len(files(t, dir, segExt))) || after.Segments < 1 || after.SegmentBytes != want {
		t.Errorf("after the flush: %+v, want the %d segment files' %d bytes", after, len(files(t, dir, segExt)), want)
	}
	if after.WALBytes >= before.WALBytes {
		t.Errorf("WAL bytes %d after the flush, %d before", after.WALBytes, before.WALBytes)
	}
	if none, err := MeasureDisk(dir + "/absent"); err != nil || none != (DiskUsage{}) {
		t.Errorf("a directory that does not exist: %+v, %v", none, err)
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
