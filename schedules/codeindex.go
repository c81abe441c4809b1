package schedules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// CodeIndex reports whether the application's code serves a URL path. The
// stale-code rule uses it to find schedules whose route was removed.
type CodeIndex interface {
	// Serves reports whether some route serves path, such as "/api/cron/sync".
	Serves(ctx context.Context, path string) (bool, error)
}

// Limits of FSIndex.
const (
	maxIndexedFileBytes = 1 << 20
	maxIndexedFiles     = 50_000
)

// sourceExtensions are the file types FSIndex reads.
var sourceExtensions = map[string]bool{
	".go": true, ".ts": true, ".tsx": true, ".js": true, ".jsx": true, ".mjs": true, ".py": true,
	".rb": true, ".php": true, ".java": true, ".kt": true, ".rs": true, ".cs": true, ".ex": true,
	".yaml": true, ".yml": true, ".json": true, ".toml": true,
}

// skippedDirs are directories FSIndex never enters.
var skippedDirs = map[string]bool{".git": true, "node_modules": true, "vendor": true, ".next": true, "dist": true, "build": true}

// FSIndex is a CodeIndex over a source tree. It reads the tree once, on the
// first lookup, and keeps source files of at most 1 MiB, up to 50,000 files,
// in memory. In a larger tree a path it does not find is an error, not a
// stale route. A path is served when a file contains it, or, for frameworks
// with file-based routing (Next.js, SvelteKit, Nuxt), when a file sits at
// that path under an api, pages, app or routes directory. It is safe for
// concurrent use.
type FSIndex struct {
	root     string
	maxFiles int

	once      sync.Once
	err       error
	truncated bool // the tree has more source files than maxFiles
	files     [][]byte
	paths     []string // slash-separated paths relative to root, without extension
}

// NewFSIndex returns an index of the source tree under root.
func NewFSIndex(root string) *FSIndex { return &FSIndex{root: root, maxFiles: maxIndexedFiles} }

// Serves reports whether the tree mentions path or routes it by file name.
func (ix *FSIndex) Serves(ctx context.Context, path string) (bool, error) {
	ix.once.Do(ix.load)
	if ix.err != nil {
		return false, ix.err
	}
	path = "/" + strings.Trim(path, "/")
	needle := []byte(path)
	for i, data := range ix.files {
		if i%1024 == 0 && ctx.Err() != nil {
			return false, ctx.Err()
		}
		if bytes.Contains(data, needle) {
			return true, nil
		}
	}
	for _, p := range ix.paths {
		for _, dir := range []string{"/api", "/pages", "/app", "/routes"} {
			if i := strings.Index(p, dir+"/"); i >= 0 {
				route := p[i:]
				for _, suffix := range []string{"/route", "/index", "/+server"} {
					route = strings.TrimSuffix(route, suffix)
				}
				route = strings.TrimPrefix(strings.TrimPrefix(route, "/pages"), "/app")
				route = strings.TrimPrefix(route, "/routes")
				if route == path || route != "" && route != "/api" && routeServes(route, path) {
					return true, nil
				}
			}
		}
	}
	if ix.truncated {
		// Unread files may serve the path, so its absence proves nothing.
		return false, fmt.Errorf("schedules: path %q not found in the first %d source files under %q, and the index stops there", path, ix.maxFiles, ix.root)
	}
	return false, nil
}

func (ix *FSIndex) load() {
	errStop := errors.New("too many files")
	err := filepath.WalkDir(ix.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skippedDirs[d.Name()] && p != ix.root {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(p)
		if !sourceExtensions[ext] {
			return nil
		}
		if len(ix.files) >= ix.maxFiles {
			return errStop
		}
		info, err := d.Info()
		if err != nil || info.Size() > maxIndexedFileBytes {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(ix.root, p)
		ix.files = append(ix.files, data)
		ix.paths = append(ix.paths, "/"+strings.TrimSuffix(filepath.ToSlash(rel), ext))
		return nil
	})
	ix.truncated = errors.Is(err, errStop)
	if err != nil && !ix.truncated {
		ix.err = fmt.Errorf("schedules: index source tree %q: %w", ix.root, err)
	}
}

// routeServes reports whether a file-based route, such as
// "/api/cron/[job]", serves the end of path. Dynamic segments ("[id]",
// "{id}", ":id", "$id") match any one segment, and catch-all segments
// ("[...slug]", "[[...slug]]") match the rest of the path.
func routeServes(route, path string) bool {
	routeSegs := strings.Split(strings.Trim(route, "/"), "/")
	pathSegs := strings.Split(strings.Trim(path, "/"), "/")
	for start := range pathSegs {
		if segmentsMatch(routeSegs, pathSegs[start:]) {
			return true
		}
	}
	return false
}

func segmentsMatch(route, path []string) bool {
	for i, seg := range route {
		if strings.HasPrefix(seg, "[...") || strings.HasPrefix(seg, "[[...") {
			return i == len(route)-1 && (len(path) > i || strings.HasPrefix(seg, "[["))
		}
		if i >= len(path) {
			return false
		}
		dynamic := strings.HasPrefix(seg, "[") && strings.HasSuffix(seg, "]") ||
			strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") ||
			strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "$")
		if !dynamic && seg != path[i] {
			return false
		}
	}
	return len(route) == len(path)
}
