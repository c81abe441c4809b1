package costlint

// fpCallers stores the return addresses of the caller's callers in pcs by
// walking frame pointers, which costs a few nanoseconds per frame where
// runtime.Callers decodes tables. skip 0 starts at the frame that called
// the function calling fpCallers.
//
//go:noescape
func fpCallers(skip int, pcs []uintptr) int

// callers fills pcs with the return addresses above the function that
// calls callers, skipping skip frames.
//
//go:noinline
func callers(skip int, pcs []uintptr) int {
	return fpCallers(skip, pcs)
}
