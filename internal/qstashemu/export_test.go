package qstashemu

import (
	"io"
	"net/http"
)

// A test-only extension, registered the way other files of the package
// register theirs.
func init() {
	extensions = append(extensions, func(s *Server) {
		s.HandleFunc("GET /v2/emulator/ping", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "pong")
		})
	})
}
