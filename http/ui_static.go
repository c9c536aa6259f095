package http

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var staticFiles embed.FS

// asset is one embedded static file under its content-hashed name.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// assets maps each static file's plain name ("app.css") to its
// content-hashed URL ("/static/app.1a2b3c4d5e6f.css"), and each hashed
// name to its content. A hashed name never changes meaning, so browsers
// may cache it for a year; a new build with other content gets new names.
type assets struct {
	urls   map[string]string
	byName map[string]asset
}

// staticAssets is computed once from the embedded files and never changed.
var staticAssets = mustLoadAssets()

func mustLoadAssets() *assets {
	a := &assets{urls: map[string]string{}, byName: map[string]asset{}}
	err := fs.WalkDir(staticFiles, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:6])
		name := path.Base(p)
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + h + ext
		ctype := mime.TypeByExtension(ext)
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		a.urls[name] = "/static/" + hashed
		a.byName[hashed] = asset{body: b, ctype: ctype, etag: `"` + h + `"`}
		return nil
	})
	if err != nil {
		panic(err)
	}
	return a
}

// url returns the hashed URL of a static file, for templates.
func (a *assets) url(name string) string {
	u, ok := a.urls[name]
	if !ok {
		panic("no static file " + name)
	}
	return u
}

// handleStatic serves the embedded static files by hashed name, cacheable
// for a year and immutable, with an ETag for revalidation.
func handleStatic(a *assets) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := a.byName[r.PathValue("file")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.ctype)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body)) // the ETag validates
	})
}
