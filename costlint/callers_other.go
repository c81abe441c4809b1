//go:build !amd64

package costlint

import "runtime"

// callers fills pcs with the return addresses above the function that
// calls callers, skipping skip frames.
//
//go:noinline
func callers(skip int, pcs []uintptr) int {
	return runtime.Callers(skip+3, pcs)
}
