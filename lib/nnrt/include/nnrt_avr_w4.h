/* AVR dot product of packed int4 weights (no hardware multiplier), included by nnrt_kernels.h
 * after the storage accessor macros of its AVR block.
 *
 * sum_i w_i * x_i with w_i = the signed nibble (-8..7) number t + i of weight storage w (nibble
 * 2j is the low half of byte j, 2j + 1 the high half) and x_i the bytes of `k` segments of `n`
 * inputs each, segment s at rows[s] + off; x uint8 (pixels) or, if sx, int8. The weight nibbles
 * run on across segments: a conv output's taps over its k input rows.
 *
 * How: a nibble is w = b0 + 2 b1 + 4 b2 - 8 b3, so the sum is P0 + 2 P1 + 4 P2 - 8 P3 where Pb
 * is the sum of the inputs whose weight has bit b set: four 16-bit "bit-plane" sums, each input
 * added to those its weight's bits select (4 bit tests and at most 4 adds, ~18 cycles, against
 * ~40 for a shift-add multiply and a 24-bit add), combined once at the end. A zero input costs 5
 * cycles and no test; each weight byte (two taps) is read once from its storage. The planes are
 * exact for up to 257 uint8 or 255 int8 inputs (|P| <= 255 * 257 = 65535, 255 * 128 = 32640);
 * nnrt_dot_w4 splits longer sums. Proven against plain arithmetic for every nibble x every byte
 * in both halves of a weight byte, long and multi-segment sums (test/attiny85/test_w4).
 */
#ifndef NNRT_AVR_W4_H
#define NNRT_AVR_W4_H

/* One tap: add x (with its high byte xh: 0 or the sign) to plane b if bit B of the weight byte
 * is set. */
#define NNRT_W4_BIT(B, L, H, P) "sbrs %[wb], " #B "\n\t" "rjmp 8f\n\t" \
    "add %" L "[" P "], %[x]\n\t" "adc %" H "[" P "], %[xh]\n" "8:\n\t"
#define NNRT_W4_TAP(B0, B1, B2, B3) NNRT_W4_BIT(B0, "A", "B", "pa") NNRT_W4_BIT(B1, "C", "D", "pa") \
    NNRT_W4_BIT(B2, "A", "B", "pb") NNRT_W4_BIT(B3, "C", "D", "pb")
/* int8 inputs: xh = 0x00 or 0xFF */
#define NNRT_W4_SIGN "clr %[xh]\n\t" "sbrc %[x], 7\n\t" "com %[xh]\n\t"

/* The tap loop of one segment: L is a label prefix; LOAD_SIGN is "" (uint8) or NNRT_W4_SIGN.
 * Phase (the T flag): set when the next tap is the high nibble of the byte in wb. */
#define NNRT_W4_LOOP(L, LOAD_SIGN)                                                            \
    L "0:\n\t" "brts " L "2f\n"                                                                \
    L "1:\n\t" NNRT_AVR_RD_ASM_W4 "adiw %[wa], 1\n\t" /* low nibble: read the next byte */     \
    "ld %[x], X+\n\t" "tst %[x]\n\t" "breq 9f\n\t" LOAD_SIGN NNRT_W4_TAP(0, 1, 2, 3)         \
    "9:\n\t" "set\n\t" "dec %[cnt]\n\t" "breq " L "3f\n"                                       \
    L "2:\n\t" "ld %[x], X+\n\t" "tst %[x]\n\t" "breq 9f\n\t" LOAD_SIGN NNRT_W4_TAP(4, 5, 6, 7) \
    "9:\n\t" "clt\n\t" "dec %[cnt]\n\t" "brne " L "1b\n"                                       \
    L "3:\n\t"

#if NNRT_STORAGE == NNRT_STORAGE_EEPROM
#define NNRT_AVR_RD_ASM_W4 "out %[eearl], %A[wa]\n\t" NNRT_W4_EEARH "sbi %[eecr], %[eere]\n\t" \
    "in %[wb], %[eedr]\n\t"
#ifdef EEARH
#define NNRT_W4_EEARH "out %[eearh], %B[wa]\n\t"
#else
#define NNRT_W4_EEARH
#endif
#define NNRT_W4_WA "+&w"
#elif NNRT_STORAGE == NNRT_STORAGE_PROGMEM
#define NNRT_AVR_RD_ASM_W4 "lpm %[wb], Z\n\t"
#define NNRT_W4_WA "+&z"
#else
#define NNRT_AVR_RD_ASM_W4 "ld %[wb], Z\n\t"
#define NNRT_W4_WA "+&z"
#endif

/* Horner step of the planes' combination: r = 2 r + P, P (LO:HI) sign-extended for int8 inputs
 * (T set) and zero-extended for pixels. Uses xh. */
#define NNRT_W4_EXT(HI) "clr %[xh]\n\t" "brtc 7f\n\t" "sbrc " HI ", 7\n\t" "com %[xh]\n" "7:\n\t"
#define NNRT_W4_STEP(LO, HI) "lsl %A[pb]\n\t" "rol %B[pb]\n\t" "rol %C[pb]\n\t" "rol %D[pb]\n\t" \
    NNRT_W4_EXT(HI) "add %A[pb], " LO "\n\t" "adc %B[pb], " HI "\n\t" "adc %C[pb], %[xh]\n\t" \
    "adc %D[pb], %[xh]\n\t"

/* One conv output into a running max: v = the dot product of the taps of k segments (n = 1..255
 * each, at most 257 uint8 or 255 int8 inputs in all), segment s at rows[s] + off; weights from byte wa on (its high nibble first if bit 0 of
 * flags is set: wb then holds that byte). *out = v if bit 2 of flags is set, else max(*out, v).
 * Bit 1 of flags: int8 inputs.
 * The sum is P0 + 2 P1 + 4 P2 - 8 P3, Horner's rule on 32 bits from -P3, in pb once the planes
 * are done (P2 parked in x:cnt). */
NNRT_AVR_INLINE void nnrt_avr_conv_point_w4(int32_t *out, nnrt_wptr_t wa, uint8_t wb,
                                            const uint8_t *const *rows, uint16_t off, uint8_t k,
                                            uint8_t n, uint8_t flags)
{
    uint32_t pa, pb;
    uint8_t x, xh, cnt;
    __asm__ __volatile__(
        "clr %A[pa]\n\t" "clr %B[pa]\n\t" "clr %C[pa]\n\t" "clr %D[pa]\n\t"
        "clr %A[pb]\n\t" "clr %B[pb]\n\t" "clr %C[pb]\n\t" "clr %D[pb]\n\t"
        "clr %[xh]\n\t"
        "bst %[fl], 0\n" /* T: phase */
        "1:\n\t" /* next segment: X = *seg++ + off */
        "movw r26, %A[seg]\n\t" "ld __tmp_reg__, X+\n\t" "ld r27, X\n\t" "mov r26, __tmp_reg__\n\t"
        "add r26, %A[off]\n\t" "adc r27, %B[off]\n\t"
        "subi %A[seg], lo8(-2)\n\t" "sbci %B[seg], hi8(-2)\n\t"
        "mov %[cnt], %[n]\n\t"
        "sbrc %[fl], 1\n\t" "rjmp 4f\n"
        "2:\n\t" NNRT_W4_LOOP("2", "") "rjmp 5f\n"
        "4:\n\t" NNRT_W4_LOOP("4", NNRT_W4_SIGN)
        "5:\n\t"
        "dec %[k]\n\t" "breq 6f\n\t" "rjmp 1b\n"
        "6:\n\t"
        "bst %[fl], 1\n\t" /* T: int8 inputs, signed planes */
        "mov %[x], %A[pb]\n\t" "mov %[cnt], %B[pb]\n\t" /* x:cnt = P2 */
        "mov %A[pb], %C[pb]\n\t" "mov %B[pb], %D[pb]\n\t" NNRT_W4_EXT("%B[pb]")
        "mov %C[pb], %[xh]\n\t" "mov %D[pb], %[xh]\n\t"
        "com %D[pb]\n\t" "com %C[pb]\n\t" "com %B[pb]\n\t" "neg %A[pb]\n\t" /* -P3 */
        "sbci %B[pb], 0xFF\n\t" "sbci %C[pb], 0xFF\n\t" "sbci %D[pb], 0xFF\n\t"
        NNRT_W4_STEP("%[x]", "%[cnt]") NNRT_W4_STEP("%C[pa]", "%D[pa]") NNRT_W4_STEP("%A[pa]", "%B[pa]")
        /* *out = v, or the larger of the two */
        "movw r26, %A[out]\n\t"
        "sbrc %[fl], 2\n\t" "rjmp 8f\n\t"
        "ld %A[pa], X+\n\t" "ld %B[pa], X+\n\t" "ld %C[pa], X+\n\t" "ld %D[pa], X\n\t" "sbiw r26, 3\n\t"
        "cp %A[pa], %A[pb]\n\t" "cpc %B[pa], %B[pb]\n\t" "cpc %C[pa], %C[pb]\n\t" "cpc %D[pa], %D[pb]\n\t"
        "brge 9f\n"
        "8:\n\t" "st X+, %A[pb]\n\t" "st X+, %B[pb]\n\t" "st X+, %C[pb]\n\t" "st X, %D[pb]\n"
        "9:\n\t"
        : [pa] "=&r"(pa), [pb] "=&d"(pb), [wa] NNRT_W4_WA(wa), [k] "+&r"(k), [seg] "+&d"(rows),
          [x] "=&r"(x), [xh] "=&r"(xh), [wb] "+&r"(wb), [cnt] "=&r"(cnt)
        : [out] "r"(out), [off] "r"(off), [n] "r"(n), [fl] "r"(flags) NNRT_AVR_RD_OPERANDS
        : "r26", "r27", "memory");
    (void)pa, (void)pb, (void)x, (void)xh, (void)cnt;
}

/* The max over ph x pw neighbouring conv outputs of one output channel whose k*n weights start at
 * nibble t of w: output (dy, dx) reads n inputs at rows[dy + s] + off + dx * step from each of its
 * k rows s (a pooling window; 1 x 1 for a plain dot product). */
static __attribute__((noinline, unused)) int32_t nnrt_pool_w4(nnrt_wptr_t w, uint16_t t,
                                                             const uint8_t *const *rows, uint16_t off,
                                                             uint8_t k, uint8_t n, uint8_t step,
                                                             uint8_t ph, uint8_t pw, uint8_t sx)
{
    const nnrt_wptr_t wa = w + (t >> 1) + (t & 1u);
    uint8_t flags = (uint8_t)((t & 1u) | (sx ? 6u : 4u)); /* bit 2: the first point stores */
    uint8_t wb = 0, dy, dx;
    int32_t best = 0; /* written by the asm through its address */
    nnrt_rd_open();
    if (t & 1u) {
        wb = NNRT_RD(wa - 1);
    }
    for (dy = 0; dy < ph; dy++, rows++) {
        uint16_t at = off;
        for (dx = 0; dx < pw; dx++, at = (uint16_t)(at + step)) {
            nnrt_avr_conv_point_w4(&best, wa, wb, rows, at, k, n, flags);
            flags &= (uint8_t)~4u;
        }
    }
    return best;
}

/* 1 when some byte of the p + k - 1 rows' window columns [off, off + len) is nonzero. */
static __attribute__((noinline, unused)) uint8_t nnrt_any_nonzero(const uint8_t *const *rows, uint8_t n_rows,
                                                                 uint16_t off, uint8_t len)
{
    uint8_t any = 0, i;
    for (; n_rows != 0u; n_rows--, rows++) {
        const uint8_t *x = *rows + off;
        for (i = len; i != 0u; i--) {
            any |= *x++;
        }
    }
    return any != 0u;
}

#endif /* NNRT_AVR_W4_H */
