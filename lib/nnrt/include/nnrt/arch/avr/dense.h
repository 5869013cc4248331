/* AVR products and biases of the dense kernels (nnrt/ops/dense.h), for chips without a hardware
 * multiplier (ATtiny85). Same results as the portable kernels: test/attiny85/test_kernels proves
 * them against the formulas in simavr.
 *
 * - dot products: one inline-asm loop over the inputs per pair of outputs. Each input is loaded
 *   and tested once for both; each weight byte is read straight from its storage (the EEPROM
 *   registers driven inline, lpm or ld) and multiplied by an unrolled 8-step shift-add (34
 *   cycles whatever the values, against ~100 for the C loop or __mulhi3); inputs of +-127 (the
 *   saturated hard-tanh states) take 127 * w = 128 * w - w instead; sums are 16-bit adds whose
 *   rare signed overflows carry into a third byte out of line (24 bits: exact for a chunk of 256
 *   products). Zero inputs cost 7 cycles and no weight read; pixel rows drop their zero ends
 *   once. ~45 cycles a product, where the C kernels took ~95;
 * - bias loading: an asm loop.
 * Branches reach +-63 words, which shapes the layout of the long loops (trampolines, stubs
 * placed between).
 */
#ifndef NNRT_ARCH_AVR_DENSE_H
#define NNRT_ARCH_AVR_DENSE_H

/* acc[j] = bias[j] for j < n, biases stored `width` (1, 2 or 4) bytes each, little-endian. */
static __attribute__((noinline, unused)) void nnrt_bias_s32(int32_t *acc, nnrt_wptr_t bias,
                                                            uint16_t n, uint8_t width)
{
    uint8_t pl, k;
    nnrt_rd_open();
    if (n == 0u) {
        return;
    }
    __asm__ __volatile__("cpi %[width], 2\n\t" "brne 4f\n"
                         "1:\n\t" /* 2 bytes (the usual width): straight code */
                         NNRT_AVR_RD_ASM "st X+, %[pl]\n\t" "adiw %[wa], 1\n\t"
                         NNRT_AVR_RD_ASM "st X+, %[pl]\n\t" "adiw %[wa], 1\n\t"
                         "lsl %[pl]\n\t" "sbc %[pl], %[pl]\n\t" "st X+, %[pl]\n\t" "st X+, %[pl]\n\t"
                         "sbiw %[n], 1\n\t" "brne 1b\n\t" "rjmp 9f\n"
                         "4:\n\t" "mov %[k], %[width]\n"
                         "5:\n\t" NNRT_AVR_RD_ASM "st X+, %[pl]\n\t" "adiw %[wa], 1\n\t"
                         "dec %[k]\n\t" "brne 5b\n\t"
                         "lsl %[pl]\n\t" "sbc %[pl], %[pl]\n\t" /* 0 or -1: the sign */
                         "ldi %[k], 4\n\t" "sub %[k], %[width]\n\t" "breq 7f\n"
                         "6:\n\t" "st X+, %[pl]\n\t" "dec %[k]\n\t" "brne 6b\n"
                         "7:\n\t" "sbiw %[n], 1\n\t" "brne 4b\n"
                         "9:\n\t"
                         : [wa] NNRT_AVR_WA_RW(bias), "+x"(acc), [n] "+w"(n), [pl] "=&r"(pl),
                           [k] "=&d"(k)
                         : [width] "d"(width) NNRT_AVR_RD_OPERANDS
                         : "memory");
    (void)pl, (void)k;
}

/* One product of the dot loop: %[ph]:%[pl] = %[x] * w as int16, w the int8 weight byte just read
 * into %[pl] and %[x] the input byte taken as unsigned 0..255. Right-shift multiply over w's bits,
 * LSB first: each step adds %[x] to the high byte if the bit is set and shifts the 16-bit product
 * (the carry of the add included) right by one; the last bit has weight -128, so it subtracts
 * (the borrow is then the 17th bit, the sign). 34 cycles whatever the values. The result fits
 * int16: -32640..32385. */
#define NNRT_AVR_STEP "brcc 4f\n\t" "add %[ph], %[x]\n" "4:\n\t" "ror %[ph]\n\t" "ror %[pl]\n\t"
#define NNRT_AVR_MUL "clr %[ph]\n\t" "lsr %[pl]\n\t" NNRT_AVR_STEP NNRT_AVR_STEP NNRT_AVR_STEP \
    NNRT_AVR_STEP NNRT_AVR_STEP NNRT_AVR_STEP NNRT_AVR_STEP \
    "brcc 4f\n\t" "sub %[ph], %[x]\n" "4:\n\t" "ror %[ph]\n\t" "ror %[pl]\n\t"
/* %[S] += the int16 product as a signed 16-bit sum; a signed overflow (rare: V set) moves one
 * 2^16 into or out of %[Sc] in an out-of-line stub FIX that returns to BACK. The 24-bit value is
 * Sc * 2^16 + S (S signed). */
#define NNRT_AVR_ACC(S, FIX, BACK) "add %A[" S "], %[pl]\n\t" "adc %B[" S "], %[ph]\n\t" \
    "brvs " FIX "\n" BACK ":\n\t"
#define NNRT_AVR_FIX(S, FIX, BACK) FIX ":\n\t" "brmi 3f\n\t" "dec %[" S "c]\n\t" "rjmp " BACK "\n" \
    "3:\n\t" "inc %[" S "c]\n\t" "rjmp " BACK "\n"
/* uint8 input: the product as it is. */
#define NNRT_AVR_PROD_U8(S, FIX, BACK) NNRT_AVR_RD_ASM NNRT_AVR_MUL NNRT_AVR_ACC(S, FIX, BACK)
/* int8 input x < 0 was taken as x + 256: subtract 256 * w (kept in r0). */
#define NNRT_AVR_PROD_S8(S, FIX, BACK) NNRT_AVR_RD_ASM "mov __tmp_reg__, %[pl]\n\t" NNRT_AVR_MUL \
    "sbrc %[x], 7\n\t" "sub %[ph], __tmp_reg__\n\t" NNRT_AVR_ACC(S, FIX, BACK)
/* x = 127 or -127 (hard-tanh saturation, common): 127 * w = 128 * w - w, negated for -127. */
#define NNRT_AVR_PROD_127(S, FIX, BACK) NNRT_AVR_RD_ASM                                           \
    "mov %[ph], %[pl]\n\t" "asr %[ph]\n\t" "clr __tmp_reg__\n\t" "ror __tmp_reg__\n\t"             \
    "sub __tmp_reg__, %[pl]\n\t" "sbc %[ph], __zero_reg__\n\t" "sbrc %[pl], 7\n\t" "inc %[ph]\n\t" \
    "mov %[pl], __tmp_reg__\n\t"                                                                   \
    "sbrs %[x], 7\n\t" "rjmp 3f\n\t" "neg %[ph]\n\t" "neg %[pl]\n\t" "sbc %[ph], __zero_reg__\n"     \
    "3:\n\t" NNRT_AVR_ACC(S, FIX, BACK)

/* The loop over inputs for one pair of outputs: s0 (s1) += x[i] * w[i] (w[st + i]) for the n
 * inputs at X (n = 0 means 256). A zero input costs 7 cycles and no weight read; the weight
 * address of input i is X + d once X has passed it. Exits to label 6. Branches reach +-63
 * words, hence the layout: trampolines, stubs after the loop, the +-127 block before it. */
#define NNRT_AVR_DOT_LOOP(L, PROD, SPECIAL, TEST)                                                     \
    "rjmp " L "1f\n"                                                                               \
    SPECIAL                                                                                        \
    L "8:\n\t" "rjmp 6f\n"                                                                         \
    L "0:\n\t" "dec %[n]\n\t" "breq " L "8b\n"                                                     \
    L "1:\n\t" "ld %[x], X+\n\t" "tst %[x]\n\t" "breq " L "0b\n\t"                                 \
    "movw %A[wa], r26\n\t" "add %A[wa], %A[d]\n\t" "adc %B[wa], %B[d]\n\t"                         \
    TEST                                                                                           \
    PROD("s0", L "3f", L "4")                                                                      \
    "add %A[wa], %A[st]\n\t" "adc %B[wa], %B[st]\n\t"                                              \
    PROD("s1", L "5f", L "6")                                                                      \
    L "7:\n\t" "dec %[n]\n\t" "breq " L "9f\n\t" "rjmp " L "1b\n"                                  \
    NNRT_AVR_FIX("s0", L "3", L "4b") NNRT_AVR_FIX("s1", L "5", L "6b")                            \
    L "9:\n\t" "rjmp 6f\n"
/* Both products for x = +-127, entered from the signed loop's head (L = 5). */
#define NNRT_AVR_DOT_127                                                                           \
    NNRT_AVR_FIX("s0", "43", "44f") NNRT_AVR_FIX("s1", "45", "46f")                                \
    "52:\n\t"                                                                                      \
    NNRT_AVR_PROD_127("s0", "43b", "44")                                                            \
    "add %A[wa], %A[st]\n\t" "adc %B[wa], %B[st]\n\t"                                              \
    NNRT_AVR_PROD_127("s1", "45b", "46")                                                            \
    "rjmp 57f\n"
#define NNRT_AVR_TEST_127 "cpi %[x], 0x7F\n\t" "breq 52b\n\t" "cpi %[x], 0x81\n\t" "breq 52b\n\t"

/* acc[j] += %[S]c * 2^16 + %[S] (signed 16), sign-extended, through X (4 bytes). */
#define NNRT_AVR_STORE(S) "sbrc %B[" S "], 7\n\t" "dec %[" S "c]\n\t"                             \
    "clr %[x]\n\t" "sbrc %[" S "c], 7\n\t" "com %[x]\n\t"                                          \
    "ld __tmp_reg__, X\n\t" "add __tmp_reg__, %A[" S "]\n\t" "st X+, __tmp_reg__\n\t"              \
    "ld __tmp_reg__, X\n\t" "adc __tmp_reg__, %B[" S "]\n\t" "st X+, __tmp_reg__\n\t"              \
    "ld __tmp_reg__, X\n\t" "adc __tmp_reg__, %[" S "c]\n\t" "st X+, __tmp_reg__\n\t"              \
    "ld __tmp_reg__, X\n\t" "adc __tmp_reg__, %[x]\n\t" "st X+, __tmp_reg__\n\t"

/* acc[j] += sum_i w[j*stride + i] * x[i] for j < n_out (1..255) and i < n (1..256, 256 as 0);
 * x uint8 (pixels) or, if sx, int8 (read as bytes: character types may alias anything). Outputs
 * go in pairs sharing each input's load and tests (an odd last one is paired with itself and the
 * twin dropped). A 24-bit sum holds 256 products of at most 255 * 128 in magnitude. */
static __attribute__((noinline, unused)) void nnrt_avr_dot(int32_t *acc, nnrt_wptr_t w,
                                                           uint8_t n_out, uint16_t stride,
                                                           const uint8_t *x, uint8_t n,
                                                           uint8_t sx)
{
    uint16_t d = (uint16_t)((uintptr_t)w - (uintptr_t)x - 1u), wa;
    uint16_t s0, s1;
    uint8_t s0c, s1c, xv, pl, ph;
    __asm__ __volatile__(
        /* Pixels: image rows start and end with zeros, drop them once rather than in every
         * pass (x and w advance together, d stays). n0 counts down from 0 as from 256. */
        "bst %[n], 0\n\t" /* T: int8 inputs; the register then counts inputs */
        "brts 2f\n\t"
        "movw r26, %A[xs]\n"
        "1:\n\t" "ld %[x], X+\n\t" "tst %[x]\n\t" "brne 3f\n\t" "dec %[n0]\n\t" "brne 1b\n\t"
        "rjmp 7f\n" /* all zero: nothing to add */
        "3:\n\t" "sbiw r26, 1\n\t" "movw %A[xs], r26\n\t"
        "add r26, %[n0]\n\t" "adc r27, __zero_reg__\n\t"
        "tst %[n0]\n\t" "brne 4f\n\t" "inc r27\n"
        "4:\n\t" "ld %[x], -X\n\t" "tst %[x]\n\t" "brne 2f\n\t" "dec %[n0]\n\t" "rjmp 4b\n"
        "2:\n\t" /* next pair */
        "clr %A[s0]\n\t" "clr %B[s0]\n\t" "clr %[s0c]\n\t"
        "clr %A[s1]\n\t" "clr %B[s1]\n\t" "clr %[s1c]\n\t"
        "mov %[n], %[n0]\n\t"
        "movw r26, %A[xs]\n\t"
        "cpi %[nl], 2\n\t" "brsh 3f\n\t"
        "clr %A[st]\n\t" "clr %B[st]\n" /* a single last output: the twin reads the same weights */
        "3:\n\t"
        "brtc 29f\n\t" "rjmp 5f\n" "29:\n\t"
        NNRT_AVR_DOT_LOOP("1", NNRT_AVR_PROD_U8, "", "")
        "5:\n\t"
        NNRT_AVR_DOT_LOOP("5", NNRT_AVR_PROD_S8, NNRT_AVR_DOT_127, NNRT_AVR_TEST_127)
        "6:\n\t"
        "movw r26, %A[acc]\n\t"
        NNRT_AVR_STORE("s0")
        "cpi %[nl], 2\n\t" "brlo 7f\n\t"
        NNRT_AVR_STORE("s1")
        "movw %A[acc], r26\n\t"
        "add %A[d], %A[st]\n\t" "adc %B[d], %B[st]\n\t"
        "add %A[d], %A[st]\n\t" "adc %B[d], %B[st]\n\t"
        "subi %[nl], 2\n\t" "breq 7f\n\t" "rjmp 2b\n"
        "7:\n\t"
        : [acc] "+r"(acc), [d] "+r"(d), [st] "+r"(stride), [nl] "+d"(n_out), [n] "+r"(sx),
          [s0] "=&r"(s0), [s1] "=&r"(s1), [s0c] "=&r"(s0c), [s1c] "=&r"(s1c), [x] "=&d"(xv),
          [pl] "=&r"(pl), [ph] "=&r"(ph), [wa] NNRT_AVR_WA(wa)
        , [xs] "+r"(x), [n0] "+r"(n)
        : [none] "i"(0) NNRT_AVR_RD_OPERANDS
        : "r26", "r27", "memory");
    (void)acc, (void)d, (void)stride, (void)n_out, (void)sx, (void)s0, (void)s1, (void)s0c, (void)s1c;
    (void)xv, (void)pl, (void)ph, (void)wa, (void)x, (void)n;
}

/* The same for any n_out and n_in: blocks of up to 254 outputs and 256 inputs. */
static __attribute__((noinline, unused)) void nnrt_avr_mac_blocks(int32_t *acc, nnrt_wptr_t w,
                                                                  uint16_t n_out, uint16_t stride,
                                                                  const uint8_t *x, uint16_t n_in,
                                                                  uint8_t sx)
{
    while (n_in != 0u) {
        const uint16_t chunk = n_in < 256u ? n_in : 256u;
        uint16_t j = 0;
        while (j < n_out) {
            const uint16_t block = n_out - j < 254u ? n_out - j : 254u;
            nnrt_avr_dot(acc + j, w + (uint32_t)j * stride, (uint8_t)block, stride, x,
                         (uint8_t)chunk, sx);
            j = (uint16_t)(j + block);
        }
        x += chunk;
        w += chunk;
        n_in = (uint16_t)(n_in - chunk);
    }
}

/* Generated code passes constant sizes, so the test folds away: one block in every model that
 * fits an ATtiny. */
NNRT_AVR_INLINE void nnrt_avr_mac(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint16_t stride,
                                  const uint8_t *x, uint16_t n_in, uint8_t sx)
{
    nnrt_rd_open();
    if (n_in == 0u || n_out == 0u) {
        return;
    }
    if (n_in <= 256u && n_out <= 254u) {
        nnrt_avr_dot(acc, w, (uint8_t)n_out, stride, x, (uint8_t)n_in, sx);
    } else {
        nnrt_avr_mac_blocks(acc, w, n_out, stride, x, n_in, sx);
    }
}

/* unused: not every model has both kinds of layer (-Wunused-function) */
NNRT_AVR_INLINE __attribute__((unused)) void nnrt_mac_u8(int32_t *acc, nnrt_wptr_t w,
                                                         uint16_t n_out, uint16_t stride,
                                                         const uint8_t *x, uint16_t n_in)
{
    nnrt_avr_mac(acc, w, n_out, stride, x, n_in, 0u);
}

NNRT_AVR_INLINE __attribute__((unused)) void nnrt_mac_s8(int32_t *acc, nnrt_wptr_t w,
                                                         uint16_t n_out, uint16_t stride,
                                                         const int8_t *x, uint16_t n_in)
{
    nnrt_avr_mac(acc, w, n_out, stride, (const uint8_t *)x, n_in, 1u);
}

#include "nnrt/arch/avr/w4.h" /* int4 weights: bit-plane dot products */

/* acc[j] += sum_i w4[t + j*stride + i] * x[i]: each output's row through the bit-plane kernel,
 * pieces of at most 255 inputs. */
/* AVR: each output's row through the bit-plane kernel, pieces of at most 255 inputs. */
NNRT_FN void nnrt_mac_w4(void *acc, uint8_t acc16, nnrt_wptr_t w, uint32_t t, uint16_t n_out, uint32_t stride,
                         const uint8_t *x, uint16_t n, uint8_t sx)
{
    uint16_t j;
    for (j = 0; j < n_out; j++, t += stride) {
        uint16_t done = 0;
        while (done < n) {
            const uint8_t len = (uint8_t)(n - done < 255u ? n - done : 255u);
            const uint8_t *seg = x + done;
            nnrt_acc_add(acc, acc16, j, nnrt_pool_w4(w + ((t + done) >> 1), (uint16_t)((t + done) & 1u), &seg, 0u,
                                                     1u, len, 1u, 1u, 1u, sx));
            done = (uint16_t)(done + len);
        }
    }
}

#endif /* NNRT_ARCH_AVR_DENSE_H */
