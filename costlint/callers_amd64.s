//go:build amd64 && !purego

#include "textflag.h"

// func fpCallers(skip int, pcs, fps []uintptr) int
//
// Walks the frame-pointer chain starting at the caller's frame. For each
// frame it stores the return address in pcs and the frame pointer of the
// function that address is in in fps. The frame size is 0, so the
// assembler keeps BP as the caller's frame pointer. The walk stops at a
// zero frame pointer, at one that does not move up the stack or moves up
// by more than 1 MiB (no Go frame is that large, but the distance to a C
// stack is), or when pcs or fps is full.
TEXT ·fpCallers(SB), NOSPLIT, $0-64
	MOVQ BP, AX
	MOVQ skip+0(FP), CX
	MOVQ pcs_base+8(FP), DI
	MOVQ pcs_len+16(FP), SI
	MOVQ fps_base+32(FP), R9
	MOVQ fps_len+40(FP), R10
	CMPQ R10, SI
	CMOVQLT R10, SI
	XORQ DX, DX

loop:
	TESTQ AX, AX
	JZ    done
	CMPQ  DX, SI
	JGE   done
	MOVQ  8(AX), BX
	MOVQ  0(AX), R8
	TESTQ CX, CX
	JZ    store
	DECQ  CX
	JMP   next

store:
	MOVQ BX, (DI)(DX*8)
	MOVQ R8, (R9)(DX*8)
	INCQ DX

next:
	CMPQ R8, AX
	JLS  done
	MOVQ R8, R11
	SUBQ AX, R11
	CMPQ R11, $0x100000
	JHI  done
	MOVQ R8, AX
	JMP  loop

done:
	MOVQ DX, ret+56(FP)
	RET
