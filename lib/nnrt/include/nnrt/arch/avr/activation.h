/* AVR requantization (nnrt/ops/activation.h) for chips without a hardware multiplier: for the
 * usual per-tensor S >= 17 an asm loop: |acc| * M by a 16-step shift-add on 16 bits (32 only
 * when |acc| needs them), of which only the high word and a zero test of the low one matter
 * (nnrt_avr_requant_hi); other cases take the formula in C. test/attiny85/test_kernels proves
 * it against the formula in simavr.
 */
#ifndef NNRT_ARCH_AVR_ACTIVATION_H
#define NNRT_ARCH_AVR_ACTIVATION_H

/* One step of a right-shift multiply: if the multiplier bit in C is set, add the multiplicand
 * %[a] to the high part %[h]; shift [carry:h:m] right, which brings the next multiplier bit into C.
 * After 16 steps on [h:m] = [0:m], h:m is a * m. */
#define NNRT_AVR_MSTEP16 "brcc 2f\n\t" "add %A[h], %A[a]\n\t" "adc %B[h], %B[a]\n" "2:\n\t" \
    "ror %B[h]\n\t" "ror %A[h]\n\t" "ror %B[m]\n\t" "ror %A[m]\n\t"
#define NNRT_AVR_MSTEP32 "brcc 2f\n\t" "add %A[h], %A[a]\n\t" "adc %B[h], %B[a]\n\t" \
    "adc %C[h], %C[a]\n\t" "adc %D[h], %D[a]\n" "2:\n\t" \
    "ror %D[h]\n\t" "ror %C[h]\n\t" "ror %B[h]\n\t" "ror %A[h]\n\t" "ror %B[m]\n\t" "ror %A[m]\n\t"

/* y[j] = clamp(requant(acc[j]), lo, hi) for j < n (1..255, 256 as 0), multiplier M and shift
 * S = 16 + u, u = 1..15, hu = 2^(u-1), given |acc| * M < 2^31. With p = |acc| * M and
 * h = 2^(S-1): acc >= 0 gives floor((p + h) / 2^S), acc < 0 gives floor((-p + h) / 2^S) =
 * -floor((p + h - 1) / 2^S). Writing p = P * 2^16 + L (L < 2^16), that is floor((P + hu) / 2^u),
 * and for acc < 0 and L = 0 one less inside the floor: only P matters, below 2^15. A magnitude of
 * 128 or more clamps like 128 (127 when positive), so it stops there. The multiply is a 16-step
 * right shift over M, on 16 bits of |acc| when they suffice (~170 cycles an output). */
NNRT_AVR_INLINE void nnrt_avr_requant_hi(const int32_t *acc, int8_t *y, uint8_t n, uint16_t m,
                                         uint16_t hu, uint8_t u, int8_t lo, int8_t hi)
{
    uint32_t a, h;
    uint16_t mm;
    uint8_t k;
    __asm__ __volatile__(
        "1:\n\t"
        "ld %A[a], X+\n\t" "ld %B[a], X+\n\t" "ld %C[a], X+\n\t" "ld %D[a], X+\n\t"
        "bst %D[a], 7\n\t" /* T: acc < 0 */
        "brtc 2f\n\t"
        "com %D[a]\n\t" "com %C[a]\n\t" "com %B[a]\n\t" "com %A[a]\n\t" "sec\n\t"
        "adc %A[a], __zero_reg__\n\t" "adc %B[a], __zero_reg__\n\t" "adc %C[a], __zero_reg__\n\t"
        "adc %D[a], __zero_reg__\n"
        "2:\n\t"
        "movw %A[m], %A[mc]\n\t"
        "clr %A[h]\n\t" "clr %B[h]\n\t"
        "lsr %B[m]\n\t" "ror %A[m]\n\t"
        "mov %[k], %C[a]\n\t" "or %[k], %D[a]\n\t" "brne 4f\n\t"
        "ldi %[k], 4\n" /* |acc| < 2^16: [h:m] = |acc| * M */
        "3:\n\t" NNRT_AVR_MSTEP16 NNRT_AVR_MSTEP16 NNRT_AVR_MSTEP16 NNRT_AVR_MSTEP16
        "dec %[k]\n\t" "brne 3b\n\t"
        "rjmp 5f\n"
        "4:\n\t" /* 32-bit |acc|: the same, h < 2^16 at the end */
        "clr %C[h]\n\t" "clr %D[h]\n\t" "ldi %[k], 16\n"
        "3:\n\t" NNRT_AVR_MSTEP32
        "dec %[k]\n\t" "brne 3b\n"
        "5:\n\t"
        "add %A[h], %A[hu]\n\t" "adc %B[h], %B[hu]\n\t" /* P + hu < 2^15 + 2^14 */
        "brtc 6f\n\t"
        "or %A[m], %B[m]\n\t" "brne 6f\n\t"
        "sec\n\t" "sbc %A[h], __zero_reg__\n\t" "sbc %B[h], __zero_reg__\n"
        "6:\n\t"
        "mov %[k], %[u]\n\t"
        "sbrs %[k], 3\n\t" "rjmp 7f\n\t"
        "mov %A[h], %B[h]\n\t" "clr %B[h]\n\t" "andi %[k], 7\n\t" "breq 8f\n"
        "7:\n\t"
        "lsr %B[h]\n\t" "ror %A[h]\n\t" "dec %[k]\n\t" "brne 7b\n"
        "8:\n\t" /* the magnitude in h: at most 127 when positive, 128 when negative */
        "ldi %[k], 127\n\t" "brtc 9f\n\t" "ldi %[k], 128\n"
        "9:\n\t"
        "tst %B[h]\n\t" "brne 10f\n\t"
        "cp %[k], %A[h]\n\t" "brsh 11f\n"
        "10:\n\t"
        "mov %A[h], %[k]\n"
        "11:\n\t"
        "brtc 12f\n\t" "neg %A[h]\n"
        "12:\n\t"
        "cp %A[h], %[lo]\n\t" "brge 13f\n\t" "mov %A[h], %[lo]\n"
        "13:\n\t"
        "cp %[hi], %A[h]\n\t" "brge 14f\n\t" "mov %A[h], %[hi]\n"
        "14:\n\t"
        "st Z+, %A[h]\n\t"
        "dec %[n]\n\t" "breq 15f\n\t" "rjmp 1b\n"
        "15:\n\t"
        : [a] "=&r"(a), [h] "=&r"(h), [m] "=&r"(mm), [k] "=&d"(k), "+x"(acc), "+z"(y), [n] "+r"(n)
        : [mc] "r"(m), [hu] "r"(hu), [u] "r"(u), [lo] "r"(lo), [hi] "r"(hi)
        : "memory");
    (void)a, (void)h, (void)mm, (void)k;
}

/* Anything else (per-channel M and S, S <= 16): the portable formula, one output at a time. */
static __attribute__((noinline, unused)) void nnrt_avr_requant_any(const int32_t *acc, int8_t *y,
                                                                   uint16_t n, nnrt_wptr_t mult,
                                                                   nnrt_wptr_t shift,
                                                                   uint8_t per_channel,
                                                                   int8_t lo, int8_t hi)
{
    uint16_t j;
    for (j = 0; j < n; j++) {
        const uint16_t m = (uint16_t)(nnrt_rd_fast(mult) | nnrt_rd_fast(mult + 1) << 8);
        const uint8_t s = nnrt_rd_fast(shift);
        int32_t v = acc[j] * (int32_t)m; /* proven: |acc * M| + 2^(S-1) <= INT32_MAX */
        if (s != 0u) { /* floor((v + 2^(S-1)) / 2^S) = floor((floor(v / 2^(S-1)) + 1) / 2); */
            v = ((v >> (s - 1u)) + 1) >> 1; /* GCC's >> of a negative value is a floor shift */
        }
        y[j] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
        if (per_channel) {
            mult += 2;
            shift++;
        }
    }
}

/* y[j] = clamp(requant(acc[j]), lo, hi): a per-tensor S >= 17 (what the exporter picks for
 * trained models) runs the whole layer through the loop above. */
static __attribute__((noinline, unused)) void nnrt_avr_requant(const int32_t *acc, int8_t *y,
                                                               uint16_t n, nnrt_wptr_t mult,
                                                               nnrt_wptr_t shift,
                                                               uint8_t per_channel, int8_t lo,
                                                               int8_t hi)
{
    uint16_t m, hu = 1;
    uint8_t s, k;
    nnrt_rd_open();
    m = (uint16_t)(nnrt_rd_fast(mult) | nnrt_rd_fast(mult + 1) << 8);
    s = nnrt_rd_fast(shift);
    if (per_channel || s < 17u || n > 255u) {
        nnrt_avr_requant_any(acc, y, n, mult, shift, per_channel, lo, hi);
    } else if (n != 0u) {
        for (k = 17; k < s; k++) {
            hu <<= 1;
        }
        nnrt_avr_requant_hi(acc, y, (uint8_t)n, m, hu, (uint8_t)(s - 16u), lo, hi);
    }
}

/* y[j] = lut[y[j] + 128] */
static __attribute__((noinline, unused)) void nnrt_avr_lut(int8_t *y, uint16_t n,
                                                           nnrt_wptr_t lut)
{
    for (; n != 0u; n--, y++) {
        *y = (int8_t)nnrt_rd_fast(lut + (uint8_t)(*y + 128));
    }
}

/* y[j] = act(requant(acc[j])); generated code passes a constant lut, so the test folds away. */
NNRT_AVR_INLINE __attribute__((unused)) void nnrt_requant_s8_avr(const int32_t *acc, int8_t *y,
                                                                 uint16_t n, nnrt_wptr_t mult,
                                                                 nnrt_wptr_t shift,
                                                                 uint8_t per_channel, int8_t lo,
                                                                 int8_t hi, nnrt_wptr_t lut)
{
    nnrt_avr_requant(acc, y, n, mult, shift, per_channel, lo, hi);
    if (lut) {
        nnrt_avr_lut(y, n, lut);
    }
}

/* act(requant(v)) of one value (the conv outputs) through the asm requantization above instead of
 * a 32-bit multiply in C; none at all when a ReLU-like clamp (lo >= 0) decides: M > 0, so v <= 0
 * gives floor((v M + 2^(S-1)) / 2^S) <= 0, i.e. lo. */
NNRT_AVR_INLINE __attribute__((unused)) int8_t nnrt_requant1_avr(int32_t v, nnrt_wptr_t mp, nnrt_wptr_t sp,
                                                                 int8_t lo, int8_t hi)
{
    int8_t y;
    if (v <= 0 && lo >= 0) {
        return lo;
    }
    nnrt_requant_s8_avr(&v, &y, 1u, mp, sp, 0u, lo, hi, NULL);
    return y;
}

#endif /* NNRT_ARCH_AVR_ACTIVATION_H */
