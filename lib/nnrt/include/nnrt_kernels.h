/* nnrt layer kernels and the one weight accessor.
 *
 * Included by generated model code after it defines NNRT_STORAGE, so each model's kernels are
 * compiled with its own accessor and constant layer sizes (the compiler can unroll the 28-pixel
 * rows). Everything here is static: two models with different storage can share a firmware.
 *
 * Semantics (docs/quantization.md, nnmodel/reference.py):
 *   acc  = bias + sum(w * x)                int32, overflow excluded by the compiler's proof
 *   pre  = (acc * M + 2^(S-1)) >> S         round half up, floor shift; no rounding term if S = 0
 *   y    = clamp(pre, lo, hi)               then y = lut[y + 128] for a table activation
 */
#ifndef NNRT_KERNELS_H
#define NNRT_KERNELS_H

#include "nnrt.h"

#define NNRT_STORAGE_MEM 0     /* RAM or memory-mapped flash: plain loads */
#define NNRT_STORAGE_PROGMEM 1 /* AVR program memory (plain memory elsewhere) */
#define NNRT_STORAGE_EEPROM 2  /* AVR EEPROM (a RAM array holding the same image elsewhere) */

#ifndef NNRT_STORAGE
#error "define NNRT_STORAGE before including nnrt_kernels.h (generated code does)"
#endif

/* An address in weight storage: a data pointer, a PROGMEM address or an EEPROM address. */
typedef const uint8_t *nnrt_wptr_t;

#if defined(__AVR__) && NNRT_STORAGE == NNRT_STORAGE_PROGMEM
#include <avr/pgmspace.h>
#define NNRT_RD(p) pgm_read_byte(p)
#elif defined(__AVR__) && NNRT_STORAGE == NNRT_STORAGE_EEPROM
#include <avr/eeprom.h>
#define NNRT_RD(p) eeprom_read_byte(p)
#else
#define NNRT_RD(p) (*(p))
#endif

/* Little-endian signed integer of 1, 2 or 4 bytes from weight storage. Always inlined on GCC: the
 * conv row functions that read biases stay leaves (a shallow stack on AVR). */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int32_t nnrt_rd_le(nnrt_wptr_t p, uint8_t nbytes)
{
    uint32_t v = 0;
    uint8_t i;
    for (i = 0; i < nbytes; i++) {
        v |= (uint32_t)NNRT_RD(p + i) << (8u * i);
    }
    if (nbytes < 4 && (v & ((uint32_t)1 << (8u * nbytes - 1u)))) {
        v |= ~(uint32_t)0 << (8u * nbytes); /* sign-extend */
    }
    return (int32_t)v;
}

#if defined(__AVR__)
/* ------------------------------------------------------------------------------------------------
 * AVR (ATtiny85 and friends: no hardware multiplier). Same results as the portable kernels below
 * (test/attiny85/test_kernels proves it against the formulas); what differs is how:
 * - dot products: one inline-asm loop over the inputs per pair of outputs. Each input is loaded
 *   and tested once for both; each weight byte is read straight from its storage (the EEPROM
 *   registers driven inline, lpm or ld) and multiplied by an unrolled 8-step shift-add (34
 *   cycles whatever the values, against ~100 for the C loop or __mulhi3); inputs of +-127 (the
 *   saturated hard-tanh states) take 127 * w = 128 * w - w instead; sums are 16-bit adds whose
 *   rare signed overflows carry into a third byte out of line (24 bits: exact for a chunk of 256
 *   products). Zero inputs cost 7 cycles and no weight read; pixel rows drop their zero ends
 *   once. ~45 cycles a product, where the C kernels took ~95;
 * - requantization: for the usual per-tensor S >= 17 an asm loop: |acc| * M by a 16-step
 *   shift-add on 16 bits (32 only when |acc| needs them), of which only the high word and a
 *   zero test of the low one matter (nnrt_avr_requant_hi); other cases take the formula in C;
 * - bias loading: an asm loop.
 * Registers are allocated by GCC through operands; labels are numeric locals. Branches reach
 * +-63 words, which shapes the layout of the long loops (trampolines, stubs placed between).
 */
#include <avr/io.h>

/* -Os would call these helpers per byte; their bodies are a few instructions. */
#define NNRT_AVR_INLINE static inline __attribute__((always_inline))

#if NNRT_STORAGE == NNRT_STORAGE_EEPROM
/* Wait once for a pending EEPROM write (reads during one return garbage); nothing writes while a
 * kernel runs, so the reads themselves skip the check avr-libc repeats for every byte. */
NNRT_AVR_INLINE void nnrt_rd_open(void)
{
    while (EECR & _BV(EEPE)) {
    }
}
NNRT_AVR_INLINE uint8_t nnrt_rd_fast(nnrt_wptr_t p)
{
#ifdef EEARH
    EEAR = (uint16_t)p;
#else
    EEARL = (uint8_t)(uint16_t)p; /* chips with <= 256 bytes of EEPROM */
#endif
    EECR |= _BV(EERE); /* the CPU halts 4 cycles, then EEDR holds the byte */
    return EEDR;
}
/* The same in the asm below: %[pl] = the byte at EEPROM address %[wa] (any register pair). */
#ifdef EEARH
#define NNRT_AVR_RD_ASM "out %[eearh], %B[wa]\n\t" "out %[eearl], %A[wa]\n\t" \
                        "sbi %[eecr], %[eere]\n\t" "in %[pl], %[eedr]\n\t"
#define NNRT_AVR_EEARH_OPERAND , [eearh] "I"(_SFR_IO_ADDR(EEARH))
#else
#define NNRT_AVR_RD_ASM "out %[eearl], %A[wa]\n\t" "sbi %[eecr], %[eere]\n\t" "in %[pl], %[eedr]\n\t"
#define NNRT_AVR_EEARH_OPERAND
#endif
#define NNRT_AVR_WA "=&r"
#define NNRT_AVR_WA_RW "+w"
#define NNRT_AVR_RD_OPERANDS , [eearl] "I"(_SFR_IO_ADDR(EEARL)), [eecr] "I"(_SFR_IO_ADDR(EECR)), \
    [eere] "I"(EERE), [eedr] "I"(_SFR_IO_ADDR(EEDR)) NNRT_AVR_EEARH_OPERAND
#else
NNRT_AVR_INLINE void nnrt_rd_open(void) {}
#define nnrt_rd_fast(p) NNRT_RD(p)
/* %[wa] is Z: program memory through lpm, RAM through ld */
#if NNRT_STORAGE == NNRT_STORAGE_PROGMEM
#define NNRT_AVR_RD_ASM "lpm %[pl], Z\n\t"
#else
#define NNRT_AVR_RD_ASM "ld %[pl], Z\n\t"
#endif
#define NNRT_AVR_WA "=&z"
#define NNRT_AVR_WA_RW "+z"
#define NNRT_AVR_RD_OPERANDS
#endif

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
NNRT_AVR_INLINE __attribute__((unused)) void nnrt_requant_s8(const int32_t *acc, int8_t *y,
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

#include "nnrt_avr_w4.h" /* int4 weights: bit-plane dot products */

#else /* portable C */
/* acc[j] = bias[j], biases stored `width` bytes each. */
static inline void nnrt_bias_s32(int32_t *acc, nnrt_wptr_t bias, uint16_t n, uint8_t width)
{
    uint16_t j;
    for (j = 0; j < n; j++) {
        acc[j] = nnrt_rd_le(bias + (uint32_t)j * width, width);
    }
}

/* Inputs per zero-skipping pass of nnrt_mac_u8 (bounds its stack lists). */
#define NNRT_U8_CHUNK 32u

/* int8 weight * uint8 input as int32: the product fits int16 (|w*x| <= 32640), the sums may not. */
#define NNRT_PROD(wp, xv) ((int32_t)((int8_t)NNRT_RD(wp) * (xv)))

/* acc[j] += sum_i w[j*stride + i] * x[i] over n dense uint8 inputs, four outputs per pass sharing
 * each input load, four inputs per step so the loads use constant offsets. */
static inline void nnrt_mac_u8_dense(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride,
                                     const uint8_t *x, uint16_t n)
{
    uint16_t i, j;
    for (j = 0; j + 3u < n_out; j += 4u, w += 4u * stride) {
        nnrt_wptr_t w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (i = 0; i + 3u < n; i += 4u) {
            int16_t x0 = x[i], x1 = x[i + 1u], x2 = x[i + 2u], x3 = x[i + 3u];
            s0 += NNRT_PROD(w + i, x0) + NNRT_PROD(w + i + 1u, x1)
                + NNRT_PROD(w + i + 2u, x2) + NNRT_PROD(w + i + 3u, x3);
            s1 += NNRT_PROD(w1 + i, x0) + NNRT_PROD(w1 + i + 1u, x1)
                + NNRT_PROD(w1 + i + 2u, x2) + NNRT_PROD(w1 + i + 3u, x3);
            s2 += NNRT_PROD(w2 + i, x0) + NNRT_PROD(w2 + i + 1u, x1)
                + NNRT_PROD(w2 + i + 2u, x2) + NNRT_PROD(w2 + i + 3u, x3);
            s3 += NNRT_PROD(w3 + i, x0) + NNRT_PROD(w3 + i + 1u, x1)
                + NNRT_PROD(w3 + i + 2u, x2) + NNRT_PROD(w3 + i + 3u, x3);
        }
        for (; i < n; i++) {
            s0 += NNRT_PROD(w + i, x[i]);
            s1 += NNRT_PROD(w1 + i, x[i]);
            s2 += NNRT_PROD(w2 + i, x[i]);
            s3 += NNRT_PROD(w3 + i, x[i]);
        }
        acc[j] += s0;
        acc[j + 1u] += s1;
        acc[j + 2u] += s2;
        acc[j + 3u] += s3;
    }
    for (; j < n_out; j++, w += stride) {
        int32_t s0 = 0;
        for (i = 0; i < n; i++) {
            s0 += NNRT_PROD(w + i, x[i]);
        }
        acc[j] += s0;
    }
}

/* acc[j] += sum_i w[j*stride + i] * x[i] for uint8 inputs (image pixels); int8 * uint8 fits int16
 * (|w*x| <= 32640). Zero pixels add nothing, and most MNIST pixels are 0: each chunk of inputs
 * is listed once as (offset, value) of its nonzero pixels, and every output walks only that list,
 * four outputs per pass so each list entry is loaded once for four. The products are ints (no
 * int16 truncation step): they fit int16, so this is the same value on 16-bit-int targets. */
static inline void nnrt_mac_u8(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride,
                               const uint8_t *x, uint16_t n_in)
{
    uint16_t i0, j;
    for (i0 = 0; i0 < n_in; i0 += NNRT_U8_CHUNK) {
        uint8_t off[NNRT_U8_CHUNK];
        int16_t val[NNRT_U8_CHUNK];
        uint16_t i, k, n = 0, lim = (uint16_t)(n_in - i0);
        nnrt_wptr_t wj = w + i0;
        if (lim > NNRT_U8_CHUNK) {
            lim = NNRT_U8_CHUNK;
        }
        for (i = 0; i < lim; i++) {
            if (x[i0 + i] != 0) {
                off[n] = (uint8_t)i;
                val[n++] = x[i0 + i];
            }
        }
        if (n == 0) {
            continue;
        }
        if (4u * n >= 3u * lim) {
            /* Mostly nonzero: plain contiguous loads beat the list's indirection (zeros add 0). */
            nnrt_mac_u8_dense(acc, wj, n_out, stride, x + i0, lim);
            continue;
        }
        for (j = 0; j + 3u < n_out; j += 4u, wj += 4u * stride) {
            nnrt_wptr_t w1 = wj + stride, w2 = w1 + stride, w3 = w2 + stride;
            int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (k = 0; k < n; k++) {
                s0 += (int8_t)NNRT_RD(wj + off[k]) * val[k];
                s1 += (int8_t)NNRT_RD(w1 + off[k]) * val[k];
                s2 += (int8_t)NNRT_RD(w2 + off[k]) * val[k];
                s3 += (int8_t)NNRT_RD(w3 + off[k]) * val[k];
            }
            acc[j] += s0;
            acc[j + 1u] += s1;
            acc[j + 2u] += s2;
            acc[j + 3u] += s3;
        }
        for (; j < n_out; j++, wj += stride) {
            int32_t s0 = 0;
            for (k = 0; k < n; k++) {
                s0 += (int8_t)NNRT_RD(wj + off[k]) * val[k];
            }
            acc[j] += s0;
        }
    }
}

/* acc[j] += sum_i w[j*stride + i] * x[i] for int8 inputs (activations). */
static inline void nnrt_mac_s8(int32_t *acc, nnrt_wptr_t w, uint16_t n_out, uint32_t stride,
                        const int8_t *x, uint16_t n_in)
{
    uint16_t i, j;
    for (j = 0; j < n_out; j++) {
        nnrt_wptr_t wj = w + (uint32_t)j * stride;
        int32_t sum = 0;
        for (i = 0; i < n_in; i++) {
            sum += (int16_t)((int16_t)(int8_t)NNRT_RD(wj + i) * (int16_t)x[i]);
        }
        acc[j] += sum;
    }
}

/* floor(v / 2^s) without relying on >> of a negative value (implementation-defined in C99). */
static inline int32_t nnrt_floor_shift(int32_t v, uint8_t s)
{
    return v >= 0 ? (int32_t)((uint32_t)v >> s) : (int32_t) ~(~(uint32_t)v >> s);
}

/* y[j] = act(requant(acc[j])). Multipliers (LE16) and shifts (1 byte) are per channel when
 * per_channel is set, else one pair for all. lut == NULL means no table. */
static inline void nnrt_requant_s8(const int32_t *acc, int8_t *y, uint16_t n, nnrt_wptr_t mult,
                            nnrt_wptr_t shift, uint8_t per_channel, int8_t lo, int8_t hi,
                            nnrt_wptr_t lut)
{
    uint16_t j;
    int32_t m = nnrt_rd_le(mult, 2);
    uint8_t s = NNRT_RD(shift);
    for (j = 0; j < n; j++) {
        int32_t v;
        if (per_channel) {
            m = nnrt_rd_le(mult + 2u * j, 2);
            s = NNRT_RD(shift + j);
        }
        v = acc[j] * m; /* proven: |acc * M| + 2^(S-1) <= INT32_MAX */
        if (s) {
            v = nnrt_floor_shift(v + ((int32_t)1 << (s - 1u)), s);
        }
        v = v < lo ? lo : v > hi ? hi : v;
        y[j] = lut ? (int8_t)NNRT_RD(lut + (uint8_t)(v + 128)) : (int8_t)v;
    }
}

#endif /* __AVR__ */

/* Little-endian unsigned integer of n <= 4 bytes from weight storage (header fields). */
static inline uint32_t nnrt_rd_u(nnrt_wptr_t p, uint8_t n)
{
    uint32_t v = 0;
    while (n != 0u) {
        n--;
        v = v << 8 | NNRT_RD(p + n);
    }
    return v;
}

/* Check a stored model image (header + payload) before any inference. */
static inline nnrt_status_t nnrt_image_check(nnrt_wptr_t image, uint16_t payload_len, uint32_t hash)
{
    uint16_t crc = 0xFFFFu, i, stored;
    if (NNRT_RD(image) != NNRT_IMAGE_MAGIC0 || NNRT_RD(image + 1) != NNRT_IMAGE_MAGIC1) {
        return NNRT_ERR_MISSING;
    }
    if (NNRT_RD(image + 2) != NNRT_IMAGE_VERSION) {
        return NNRT_ERR_VERSION;
    }
    if (nnrt_rd_u(image + 4, 2) != payload_len) {
        return NNRT_ERR_LENGTH;
    }
    for (i = 0; i < 10u; i++) {
        crc = nnrt_crc16_update(crc, NNRT_RD(image + i));
    }
    for (i = 0; i < payload_len; i++) {
        crc = nnrt_crc16_update(crc, NNRT_RD(image + NNRT_IMAGE_HEADER_BYTES + i));
    }
    stored = (uint16_t)nnrt_rd_u(image + 10, 2);
    if (crc != stored) {
        return NNRT_ERR_CORRUPT;
    }
    /* Hash last: an intact image of another model is "stale", a damaged one "corrupt". */
    if (nnrt_rd_u(image + 6, 4) != hash) {
        return NNRT_ERR_STALE;
    }
    return NNRT_OK;
}

#endif /* NNRT_KERNELS_H */
