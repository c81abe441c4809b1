//go:build !amd64 || purego

package costlint

import "runtime"

// callers fills pcs with the return addresses above the function that
// calls callers, skipping skip frames. fps is left zero, because frame
// pointers are read only on amd64.
//
//go:noinline
func callers(skip int, pcs, fps []uintptr) int {
	// Frame 0 of runtime.Callers is runtime.Callers itself and frame 1 is
	// this function, so skip+2 starts at callers' caller like fpCallers.
	return runtime.Callers(skip+2, pcs)
}

// framePointers reports whether callers returns frame addresses.
const framePointers = false
