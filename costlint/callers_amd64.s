#include "textflag.h"

// func fpCallers(skip int, pcs []uintptr) int
//
// Walks the frame-pointer chain starting at the caller's frame and stores
// return addresses in pcs. The frame size is 0, so the assembler keeps BP
// as the caller's frame pointer. The walk stops at a zero frame pointer,
// at a frame pointer that does not move up the stack, or when pcs is full.
TEXT ·fpCallers(SB), NOSPLIT, $0-40
	MOVQ BP, AX
	MOVQ skip+0(FP), CX
	MOVQ pcs_base+8(FP), DI
	MOVQ pcs_len+16(FP), SI
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
	INCQ DX

next:
	CMPQ R8, AX
	JLS  done
	MOVQ R8, AX
	JMP  loop

done:
	MOVQ DX, ret+32(FP)
	RET
