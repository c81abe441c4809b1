package schedules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestFSIndexOverFileLimitIsNotProof(t *testing.T) {
	root := t.TempDir()
	for i := range 5 {
		name := filepath.Join(root, fmt.Sprintf("h%d.go", i))
		if err := os.WriteFile(name, []byte(fmt.Sprintf(`mux.HandleFunc("/api/job%d", h)`, i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ix := NewFSIndex(root)
	ix.maxFiles = 2

	for i := range 5 {
		served, err := ix.Serves(context.Background(), fmt.Sprintf("/api/job%d", i))
		if !served && err == nil {
			t.Errorf("Serves(/api/job%d) = false with no error, but the index stopped after %d of 5 files", i, ix.maxFiles)
		}
	}
}

func TestFSIndexDynamicFileRoutes(t *testing.T) {
	root := t.TempDir()
	for _, rel := range []string{"app/api/cron/[job]/route.ts", "pages/api/hooks/[...slug].ts", "src/routes/api/tenants/[id]/sync/+server.ts"} {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("export async function POST() {}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ix := NewFSIndex(root)
	for _, path := range []string{"/api/cron/cleanup", "/api/hooks/stripe/events", "/api/tenants/42/sync"} {
		if served, err := ix.Serves(context.Background(), path); !served || err != nil {
			t.Errorf("Serves(%s) = %v, %v; want true, a dynamic file route serves it", path, served, err)
		}
	}
	for _, path := range []string{"/api/other/cleanup", "/api/tenants/42/delete"} {
		if served, _ := ix.Serves(context.Background(), path); served {
			t.Errorf("Serves(%s) = true; no route serves it", path)
		}
	}
}
