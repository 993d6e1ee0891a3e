package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

// web holds the console's page, styles and scripts: plain files, served as
// they are, so that the node needs no build step and no other origin.
//
//go:embed web
var web embed.FS

// asset is one embedded file with what its responses carry.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

type assets struct {
	byName map[string]asset
	page   asset // index.html, served at /
}

// loadAssets reads every embedded file once, with its type and an ETag of
// its content, so that a browser revalidates cheaply and never runs a stale
// script after the node is upgraded.
func loadAssets() (*assets, error) {
	a := &assets{byName: make(map[string]asset)}
	err := fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := web.ReadFile(p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			return fmt.Errorf("console: embedded file %s has no known type", p)
		}
		sum := sha256.Sum256(body)
		a.byName[path.Base(p)] = asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	page, ok := a.byName["index.html"]
	if !ok {
		return nil, fmt.Errorf("console: index.html is not embedded")
	}
	a.page = page
	return a, nil
}

func (c *Console) servePage(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, c.assets.page)
}

func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := c.assets.byName[r.PathValue("name")]
	if !ok || r.PathValue("name") == "index.html" {
		writeError(w, http.StatusNotFound, "NotFound", "the console has no file "+echo(r.PathValue("name")))
		return
	}
	serveAsset(w, r, a)
}

// serveAsset answers with a, or 304 when the browser's copy is current.
func serveAsset(w http.ResponseWriter, r *http.Request, a asset) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
