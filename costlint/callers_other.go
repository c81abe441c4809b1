//go:build !amd64

package costlint

import "runtime"

// callers fills pcs with the return addresses above the function that
// calls callers, skipping skip frames. fps is left zero, because frame
// pointers are read only on amd64.
//
//go:noinline
func callers(skip int, pcs, fps []uintptr) int {
	return runtime.Callers(skip+3, pcs)
}
