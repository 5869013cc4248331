/* AVR int4 conv kernel in assembly: the max over a pooling window of conv dot products with
 * packed int4 weights, for an ATtiny (no hardware multiplier, 512 B of SRAM). The C side and the
 * contract are in lib/nnrt/include/nnrt/arch/avr/w4.h (nnrt_pool_w4); test/attiny85/test_w4 proves it
 * against plain arithmetic in simavr. Other targets assemble this file to nothing.
 *
 * Why a .S file: the kernel needs 31 registers at once (four 16-bit bit-plane sums, the window's
 * running max, three pointers, loop state). As inline asm inside a C loop GCC spilled ~40 bytes of
 * loop state to the stack, the largest frame of the CNN on a chip whose stack and line buffers
 * share 512 bytes. Here the frame is the 18 saved registers plus 3 bytes per window row.
 *
 *   int32_t nnrt_avr_pool_w4_{ee,pgm,ram}_{u8,s8}(nnrt_wptr_t w, uint16_t t,
 *           const uint8_t *const *rows, uint16_t off, uint8_t k, uint8_t n, uint8_t step,
 *           uint8_t pw, uint8_t flags)
 *
 * = max over dy < ph, dx < pw of sum over s < k, i < n of w4[t + s n + i] * x, x the byte at
 * rows[dy + s] + off + dx step + i, uint8 (_u8) or int8 (_s8, flags bit 1 set); w4[j] the
 * signed nibble j of weight storage w (EEPROM, program memory or RAM), the low nibble of a byte
 * first. flags: bit 1 int8 inputs; bit 3 the sum fits int16 whatever the inputs (combine in 16
 * bits); bits 4..7 ph (1..15). 1 <= k, 1 <= n, k n <= 257 (uint8) or 255 (int8), 1 <= pw.
 * Six entry points, each in its own section: a model links the one or two it uses.
 *
 * How: a nibble is w = b0 + 2 b1 + 4 b2 - 8 b3, so a dot product is P0 + 2 P1 + 4 P2 - 8 P3 with
 * Pb the sum of the inputs whose weight has bit b set: per input 4 bit tests and at most 4 16-bit
 * adds (~18 cycles, against ~40 for a shift-add multiply), a zero input ~6; the planes are exact
 * for k n <= 257 uint8 or 255 int8 inputs (|P| <= 65535 or 32640) and combine once per point.
 *
 * Registers (avr-gcc ABI: arguments from r24 down, r2-r17 and r28-r29 callee-saved, r1 = 0,
 * the int32 result in r22-r25):
 *   r2:r3 P0  r4:r5 P1  r6:r7 P2  r8:r9 P3   r22-r25 the window's max so far
 *   X inputs  Y rows[] (the window row's first kernel row)  Z weights
 *   r0 input byte  r10 dx left  r11 kernel rows left  r12 step  r13 weight byte  r14 n
 *   r15 taps left in the kernel row  r16 k  r17 flags (+ bit 0: first tap is a high nibble;
 *   bit 2: the next point starts the max)  r18:r19 column offset  r20 (XS) sign byte of an int8
 *   input  r21 weight bytes per point
 */
#if defined(__AVR__)
#include <avr/io.h>

#define P0L r2
#define P0H r3
#define P1L r4
#define P1H r5
#define P2L r6
#define P2H r7
#define P3L r8
#define P3H r9
#define DX r10
#define SEGS r11
#define STEP r12
#define WB r13
#define NTAP r14
#define CNT r15
#define K r16
#define FL r17
#define ATL r18
#define ATH r19
#define XS r20
#define NBYTES r21

/* Weight byte at Z into WB, Z + 1. */
.macro rd_ee
#ifdef EEARH
    out _SFR_IO_ADDR(EEARH), r31
#endif
    out _SFR_IO_ADDR(EEARL), r30
    sbi _SFR_IO_ADDR(EECR), EERE /* the CPU halts 4 cycles, then EEDR holds the byte */
    in WB, _SFR_IO_ADDR(EEDR)
    adiw r30, 1
.endm
.macro rd_pgm
    lpm WB, Z+
.endm
.macro rd_ram
    ld WB, Z+
.endm

/* Add the input (r0, sign byte \xh) to plane \lo:\hi if bit \b of the weight byte is set. */
.macro tap_bit b, lo, hi, xh
    sbrs WB, \b
    rjmp 8f
    add \lo, r0
    adc \hi, \xh
8:
.endm

.macro taps lowbits, xh, sx
    .if \sx
    clr XS
    sbrc r0, 7
    com XS
    .endif
    .if \lowbits
    tap_bit 0, P0L, P0H, \xh
    tap_bit 1, P1L, P1H, \xh
    tap_bit 2, P2L, P2H, \xh
    tap_bit 3, P3L, P3H, \xh
    .else
    tap_bit 4, P0L, P0H, \xh
    tap_bit 5, P1L, P1H, \xh
    tap_bit 6, P2L, P2H, \xh
    tap_bit 7, P3L, P3H, \xh
    .endif
.endm

/* The taps of one kernel row: CNT inputs from X. The T flag is the phase: set when the next tap
 * is the high nibble of WB (read with the low one). Zero inputs skip the bit tests. */
.macro row_loop rd, xh, sx
    brts 2f
1:  \rd
    ld r0, X+
    tst r0
    breq 9f
    taps 1, \xh, \sx
9:  set
    dec CNT
    breq 3f
2:  ld r0, X+
    tst r0
    breq 9f
    taps 0, \xh, \sx
9:  clt
    dec CNT
    brne 1b
3:
.endm

/* r6..r9 = 2 r6..r9 + the 16-bit plane \lo:\hi, sign-extended if T (int8 inputs). */
.macro horner lo, hi
    lsl r6
    rol r7
    rol r8
    rol r9
    clr XS
    brtc 7f
    sbrc \hi, 7
    com XS
7:  add r6, \lo
    adc r7, \hi
    adc r8, XS
    adc r9, XS
.endm

.macro pool_w4 name, rd, wait, sx
    .section .text.\name, "ax", @progbits
    .global \name
    .type \name, @function
\name:
    push r2
    push r3
    push r4
    push r5
    push r6
    push r7
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    push r16
    push r17
    push r28
    push r29
    .if \wait
10: sbic _SFR_IO_ADDR(EECR), EEPE /* a pending EEPROM write makes reads return garbage */
    rjmp 10b
    .endif
    movw r30, r24            /* Z = w + t / 2; flags bit 0 = t odd */
    mov FL, r8
    andi FL, 0xFA
    ori FL, 4                /* the first point starts the max */
    lsr r23
    ror r22
    brcc 11f
    ori FL, 1
11: add r30, r22
    adc r31, r23
    movw r28, r20            /* Y = rows */
    mov r0, K                /* NBYTES = (t odd + k n + 1) / 2: weight bytes one point reads */
    clr r20
    clr r21
12: add r20, NTAP
    adc r21, r1
    dec r0
    brne 12b
    sbrc FL, 0
    subi r20, 0xFF
    sbrc FL, 0
    sbci r21, 0xFF
    subi r20, 0xFF
    sbci r21, 0xFF
    lsr r21
    ror r20
    mov NBYTES, r20          /* (DX = r10 holds pw already) */

13: push ATL                 /* a window row: keep its column offset and pw */
    push ATH
    push DX

14: clr P0L                  /* a point */
    clr P0H
    clr P1L
    clr P1H
    clr P2L
    clr P2H
    clr P3L
    clr P3H
    bst FL, 0
    brtc 15f
    \rd                      /* starts at a high nibble: its byte first */
15: mov SEGS, K

16: ld r26, Y+               /* a kernel row: X = rows[s] + column offset */
    ld r27, Y+
    add r26, ATL
    adc r27, ATH
    mov CNT, NTAP
    .if \sx
    row_loop \rd, XS, 1
    .else
    row_loop \rd, r1, 0     /* uint8: the sign byte is r1 = 0 */
    .endif
    dec SEGS
    breq 19f
    rjmp 16b

19: sub r28, K               /* back to the window row's first kernel row and the first weight */
    sbc r29, r1
    sub r28, K
    sbc r29, r1
    sub r30, NBYTES
    sbc r31, r1
    sbrs FL, 3
    rjmp 20f
    /* |sum| < 2^15: r6:r7 = ((P2 - 2 P3) 2 + P1) 2 + P0 mod 2^16 (exact), sign-extended */
    lsl P3L
    rol P3H
    sub P2L, P3L
    sbc P2H, P3H
    lsl r6
    rol r7
    add r6, P1L
    adc r7, P1H
    lsl r6
    rol r7
    add r6, P0L
    adc r7, P0H
    clr r8
    sbrc r7, 7
    com r8
    mov r9, r8
    rjmp 21f
20: /* 32 bits: r6..r9 = -P3, then Horner over P2, P1, P0; planes sign-extended for int8 */
    bst FL, 1
    mov WB, P2L
    mov CNT, P2H
    mov r6, P3L
    mov r7, P3H
    clr XS
    brtc 7f
    sbrc r7, 7
    com XS
7:  mov r8, XS
    mov r9, XS
    com r6
    com r7
    com r8
    com r9
    sec
    adc r6, r1
    adc r7, r1
    adc r8, r1
    adc r9, r1
    horner WB, CNT
    horner P1L, P1H
    horner P0L, P0H
21: sbrc FL, 2               /* the window's max */
    rjmp 22f
    cp r22, r6
    cpc r23, r7
    cpc r24, r8
    cpc r25, r9
    brge 23f
22: movw r22, r6
    movw r24, r8
    andi FL, 0xFB
23: add ATL, STEP            /* next point of the window row */
    adc ATH, r1
    dec DX
    breq 24f
    rjmp 14b

24: pop DX                   /* next window row */
    pop ATH
    pop ATL
    adiw r28, 2
    subi FL, 0x10
    cpi FL, 0x10
    brlo 25f
    rjmp 13b

25: pop r29
    pop r28
    pop r17
    pop r16
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop r7
    pop r6
    pop r5
    pop r4
    pop r3
    pop r2
    ret
    .size \name, . - \name
.endm

pool_w4 nnrt_avr_pool_w4_ee_u8, rd_ee, 1, 0
pool_w4 nnrt_avr_pool_w4_ee_s8, rd_ee, 1, 1
pool_w4 nnrt_avr_pool_w4_pgm_u8, rd_pgm, 0, 0
pool_w4 nnrt_avr_pool_w4_pgm_s8, rd_pgm, 0, 1
pool_w4 nnrt_avr_pool_w4_ram_u8, rd_ram, 0, 0
pool_w4 nnrt_avr_pool_w4_ram_s8, rd_ram, 0, 1

#elif defined(__ELF__) && defined(__linux__)
.section .note.GNU-stack, "", @progbits /* nothing here: no executable stack either */
#endif
