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
