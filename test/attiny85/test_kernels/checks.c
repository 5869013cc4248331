/* The checks, once for all storages: the kernels against the specification's arithmetic
 * (docs/quantization.md) written in the simplest C. Each returns its count of mismatches
 * (test_main.c asserts 0). */
#include <avr/pgmspace.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

uint8_t test_buffer[TEST_BUFFER_BYTES]; /* inputs of the long sums; the RAM kernels' table */
const kernels_t *kernels_now; /* the storage under test */

static uint16_t state = 12345u;

/* xorshift16 (7, 9, 8); two calls for 32 bits */
static uint16_t next16(void)
{
    state ^= (uint16_t)(state << 7);
    state ^= state >> 9;
    state ^= (uint16_t)(state << 8);
    return state;
}

static uint32_t next_random(void)
{
    return (uint32_t)next16() << 16 | next16();
}

/* acc[j] = j * 1000003 - 2000000 plus the dot product of outputs j < n_out, both input kinds
 * (through the generated code's entry points when `entry`); returns the mismatches. */
static uint16_t check_dot(uint16_t off, uint8_t n_out, uint16_t stride, const uint8_t *x, uint16_t n, uint8_t entry)
{
    int32_t acc[5];
    uint16_t bad = 0, i;
    uint8_t j, sx;
    for (sx = 0; sx < 2; sx++) {
        for (j = 0; j < n_out; j++) acc[j] = (int32_t)j * 1000003L - 2000000L;
        if (entry) {
            kernels_now->mac(acc, off, n_out, stride, x, n, sx);
        } else {
            kernels_now->dot(acc, off, n_out, stride, x, (uint8_t)n, sx);
        }
        for (j = 0; j < n_out; j++) {
            int32_t want = (int32_t)j * 1000003L - 2000000L;
            for (i = 0; i < n; i++) {
                want += (int32_t)(int8_t)(uint8_t)(off + j * stride + i) * (sx ? (int16_t)(int8_t)x[i] : (int16_t)x[i]);
            }
            bad += acc[j] != want;
        }
    }
    return bad;
}

/* Every weight byte times every input byte, both kinds of input: three outputs (weights b,
 * b + 1, b + 2), so the paired path and the odd last output both see all 65536 pairs (the
 * +-127 shortcut and the x < 0 correction included). */
uint16_t check_every_weight_times_every_input(void)
{
    uint16_t x, b, bad = 0;
    for (x = 0; x < 256; x++) {
        const uint8_t xb = (uint8_t)x;
        for (b = 0; b < 256; b++) bad += check_dot(b, 3, 1, &xb, 1, 0);
    }
    return bad;
}

/* Long sums, 1..5 outputs: extreme inputs (255, -128, +-127) overflow the 16-bit partial sums
 * over and over in both directions; zero runs at the ends (trimmed for pixels), all zeros; 256
 * inputs (one 24-bit chunk: 256 * 255 * -128 is near its limit) and, through the entry points,
 * 260 (two chunks). */
uint16_t check_long_dot_products(void)
{
    static const uint8_t pick[6][2] = {{255, 255}, {0x80, 0x80}, {0x7F, 0x81}, {0x81, 0}, {255, 0x80}, {0x7F, 0x7F}};
    uint16_t t, i, bad = 0;
    for (t = 0; t < 160; t++) {
        const uint8_t kind = (uint8_t)(t % 8), n_out = (uint8_t)(1 + t % 5), entry = t < 40;
        const uint16_t stride = (uint16_t)(1 + next_random() % 7);
        uint16_t n = t < 16 ? 256 : t < 20 && entry ? TEST_BUFFER_BYTES : (uint16_t)(1 + next_random() % 64);
        uint16_t lead;
        if (n > 256 && n_out > 2) {
            continue;
        }
        if (n + (n_out - 1u) * stride > kernels_now->table_bytes) {
            n = (uint16_t)(kernels_now->table_bytes - (n_out - 1u) * stride);
            if (n > 256 && !entry) n = 256;
        }
        lead = kind == 6 ? (uint16_t)(next_random() % n) : 0;
        for (i = 0; i < n; i++) {
            const uint8_t r = (uint8_t)next_random();
            test_buffer[i] = kind < 6 ? pick[kind][r & 1] : (uint8_t)(i < lead || i + lead >= n ? 0 : r);
        }
        bad += check_dot((uint16_t)(next_random() % (kernels_now->table_bytes - n - (n_out - 1u) * stride + 1u)), n_out,
                         stride, test_buffer, n, entry);
    }
    return bad;
}

/* acc = bias, stored in 1, 2 or 4 bytes (little-endian, sign-extended). */
uint16_t check_bias_of_every_width(void)
{
    int32_t acc[9];
    uint16_t off, j, bad = 0;
    uint8_t width, b;
    for (width = 1; width <= 4; width = (uint8_t)(width * 2)) {
        for (off = 0; off < 256; off += 37) {
            kernels_now->bias(acc, off, 9, width);
            for (j = 0; j < 9; j++) {
                const uint16_t at = off + j * width; /* bytes at, at + 1, ...: little-endian */
                int32_t want = (int8_t)(uint8_t)(at + width - 1u); /* the top byte carries the sign */
                for (b = (uint8_t)(width - 1u); b-- > 0;) want = want * 256 + (uint8_t)(at + b);
                bad += acc[j] != want;
            }
        }
    }
    return bad;
}

static const uint16_t param_m_P[N_PARAMS] PROGMEM = {
#define PARAM_M(m, s) (m),
    PARAM_LIST(PARAM_M)};
static const uint8_t param_s_P[N_PARAMS] PROGMEM = {
#define PARAM_S(m, s) (s),
    PARAM_LIST(PARAM_S)};
#define param_m(p) pgm_read_word(param_m_P + (p))
#define param_s(p) pgm_read_byte(param_s_P + (p))

/* The specification: pre = floor((acc * M + 2^(S-1)) / 2^S), clamped, in C99 without >> of a
 * negative value; |acc * M| + 2^(S-1) <= INT32_MAX as the compiler's proof guarantees. */
static __attribute__((noinline)) int8_t spec_requant(int32_t acc, uint16_t m, uint8_t s, int8_t lo, int8_t hi)
{
    int32_t v = acc * (int32_t)m;
    if (s) {
        v += (int32_t)1 << (s - 1u);
        v = v >= 0 ? (int32_t)((uint32_t)v >> s) : (int32_t) ~(~(uint32_t)v >> s);
    }
    return (int8_t)(v < lo ? lo : v > hi ? hi : v);
}

/* Accumulator case t (0..399) for (M, S), within the proof's bound amax: at every rounding
 * boundary (k + 1/2) * 2^S / M and saturation edge for results -75..75 (S <= 24: where they
 * exist below amax), the largest legal ones, multiples of 2^16 / (M's lowest set bit) (the
 * product's low word is then 0), random ones. */
static int32_t requant_case(uint16_t t, uint16_t m, uint8_t s)
{
    const int32_t amax = (int32_t)((0x7FFFFFFFul - (s ? 1ul << (s - 1u) : 0u)) / m);
    const uint32_t r = next_random();
    int32_t a;
    if (t < 300 && s <= 24u) { /* |acc| ~ k * 2^(S-1) / M, k = 0..149 half-units */
        const uint32_t k = t / 2u, half = s ? 1ul << (s - 1u) : 1u;
        a = (int32_t)(k * half / m) + (int32_t)(r % 3) - 1;
        a = t & 1 ? -a : a;
    } else if (t < 320) {
        a = (t & 1 ? -1 : 1) * (amax - (int32_t)(r % 4));
    } else if (t < 360) {
        a = ((int32_t)(r % 64) - 32) * (int32_t)(65536ul / (m & (uint16_t)(0u - m)));
    } else {
        a = (int32_t)(r % (uint32_t)(2 * amax + 1)) - amax;
    }
    return a > amax ? amax : a < -amax ? -amax : a;
}

/* Per tensor: every (M, S), 1..12 outputs a call, three clamps (hard-tanh, relu, linear) and a
 * table (the weight table from offset 64: lut[i] = 64 + i). Per channel: output j has pair j. */
uint16_t check_requant_matches_the_formula(void)
{
    int32_t acc[N_PARAMS];
    int8_t y[N_PARAMS];
    static const int8_t clamps[4][2] = {{-127, 127}, {0, 127}, {-128, 127}, {-128, 127}};
    const uint16_t params = kernels_now->table_bytes, mults = params + 3 * N_PARAMS, shifts = mults + 2 * N_PARAMS;
    uint16_t p, t, j, bad = 0;
    uint8_t c;
    for (p = 0; p < N_PARAMS; p++) {
        for (t = 0; t < 400; t++) {
            const uint8_t n = (uint8_t)(t % N_PARAMS + 1u);
            acc[t % N_PARAMS] = requant_case(t, param_m(p), param_s(p));
            if (n != N_PARAMS && t != 399) {
                continue;
            }
            for (c = 0; c < 4; c++) {
                kernels_now->requant(acc, y, n, params + 3 * p, params + 3 * p + 2, 0, clamps[c][0], clamps[c][1],
                               c == 3 ? 64 : 0);
                for (j = 0; j < n; j++) {
                    const int8_t want = spec_requant(acc[j], param_m(p), param_s(p), clamps[c][0], clamps[c][1]);
                    bad += y[j] != (c == 3 ? (int8_t)(uint8_t)(64u + (uint8_t)(want + 128)) : want);
                }
            }
        }
    }
    for (t = 0; t < 100; t++) { /* per channel: output j with pair j */
        for (j = 0; j < N_PARAMS; j++) acc[j] = requant_case((uint16_t)(t * 4u + j % 4u), param_m(j), param_s(j));
        kernels_now->requant(acc, y, N_PARAMS, mults, shifts, 1, -127, 127, 0);
        for (j = 0; j < N_PARAMS; j++) bad += y[j] != spec_requant(acc[j], param_m(j), param_s(j), -127, 127);
    }
    return bad;
}

