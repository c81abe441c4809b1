//go:build !purego

package costlint

// getg returns an address that identifies the current goroutine for as
// long as it runs. The runtime reuses it for a later goroutine.
func getg() uintptr
