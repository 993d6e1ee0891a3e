package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// listedFile is a file an import reads; named is true for a file given on
// the command line rather than found in a folder.
type listedFile struct {
	path  string
	named bool
}

// unreadablePath is a path an import could not list, and why.
type unreadablePath struct {
	path, err string
}

// listFiles lists the files at paths: a file as given, and a folder's
// files that match at any depth, hidden folders left out, in path order,
// each once. A path that cannot be read is listed as unreadable and the
// walk goes on, so that one bad entry does not hide the rest.
func listFiles(paths []string, match func(string) bool) ([]listedFile, []unreadablePath) {
	var files []listedFile
	var bad []unreadablePath
	seen := map[string]bool{}
	add := func(p string, named bool) {
		if c := filepath.Clean(p); !seen[c] {
			seen[c] = true
			files = append(files, listedFile{path: p, named: named})
		}
	}
	for _, root := range paths {
		fi, err := os.Stat(root)
		if err != nil {
			bad = append(bad, unreadablePath{path: root, err: pathError(err)})
			continue
		}
		if !fi.IsDir() {
			add(root, true)
			continue
		}
		var found []string
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				bad = append(bad, unreadablePath{path: p, err: pathError(err)})
				return nil
			case d.IsDir() && p != root && strings.HasPrefix(d.Name(), "."):
				return filepath.SkipDir
			case d.Type().IsRegular() && match(p):
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			bad = append(bad, unreadablePath{path: root, err: pathError(err)})
		}
		slices.Sort(found)
		for _, p := range found {
			add(p, false)
		}
	}
	return files, bad
}
