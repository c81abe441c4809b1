//go:build amd64 && !purego

package costlint

// fpCallers walks frame pointers, which costs a few nanoseconds per frame
// where runtime.Callers decodes tables. It stores the return addresses of
// the caller's callers in pcs and, for each, the frame pointer of the
// function the address is in in fps. skip 0 starts at the frame that
// called the function calling fpCallers.
//
//go:noescape
func fpCallers(skip int, pcs, fps []uintptr) int

// callers fills pcs with the return addresses above the function that
// calls callers, skipping skip frames, and fps with the frame pointer of
// the function each address is in.
//
//go:noinline
func callers(skip int, pcs, fps []uintptr) int {
	return fpCallers(skip, pcs, fps)
}

// framePointers reports whether callers returns frame addresses.
const framePointers = true
