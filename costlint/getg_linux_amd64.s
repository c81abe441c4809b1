//go:build !purego

#include "textflag.h"

// func getg() uintptr
//
// Returns the address of the current goroutine's g, which the runtime
// keeps in thread-local storage on linux/amd64. The address stays the
// same for the goroutine's whole life, however its stack moves.
TEXT ·getg(SB), NOSPLIT, $0-8
	MOVQ TLS, CX
	MOVQ 0(CX)(TLS*1), AX
	MOVQ AX, ret+0(FP)
	RET
