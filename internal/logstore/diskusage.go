package logstore

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
)

// DiskUsage is what a log store's directory holds on disk, by kind of file.
type DiskUsage struct {
	Segments     int64 // sealed segment files
	SegmentBytes int64
	WALs         int64 // write-ahead logs: rows acknowledged, not yet in a segment
	WALBytes     int64
	OtherBytes   int64 // manifests and files being written
}

// MeasureDisk sums the files under dir, a Store's Config.Dir, by kind. It
// reads directory entries and file sizes only: it needs no key, opens no
// file, and sees the stores that are closed as well as the open ones. A
// file removed while it runs (a merge, a purge) is left out.
func MeasureDisk(dir string) (DiskUsage, error) {
	var u DiskUsage
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		switch size := info.Size(); {
		case strings.HasSuffix(path, segExt):
			u.Segments++
			u.SegmentBytes += size
		case strings.HasSuffix(path, walExt):
			u.WALs++
			u.WALBytes += size
		default:
			u.OtherBytes += size
		}
		return nil
	})
	return u, err
}
