/* The AVR int4 conv kernel (lib/nnrt/src/arch/avr/nnrt_avr_w4.S: bit-plane sums in assembly) against plain
 * integer arithmetic, with the weights in EEPROM (the shipped CNN's storage): every nibble value
 * in both halves of a weight byte times every input byte, uint8 and int8; sums at the planes'
 * limits, 32- and 16-bit combination; random pooling windows over rows in ring order, weights in
 * EEPROM, RAM and program memory. Host tests never compile this path, so it is proven here, in
 * simavr (and whole models by the golden and stream tests). */
#include <avr/eeprom.h>
#include <avr/pgmspace.h>
#include <stdint.h>

#define NNRT_STORAGE NNRT_STORAGE_EEPROM
#include "nnrt/ops/dense.h"
#include "unity_lite.h"

#define W_AT ((nnrt_wptr_t)16) /* EEPROM address of the weight table (0 would read as NULL) */
#define W_BYTES 64u
#define COLS 40u

static uint8_t wtab[W_BYTES]; /* the table's bytes, as written to EEPROM */
static uint8_t mem[255];      /* input rows (SRAM is scarce: one array for all tests) */
#define buf ((uint8_t (*)[COLS])mem) /* buf[dy][i]: rows COLS apart */
static const uint8_t *rows[4]; /* the rows as the runtime passes them: pointers into its ring */
static uint16_t state = 777u;

static uint16_t next16(void) /* xorshift16 (7, 9, 8) */
{
    state ^= (uint16_t)(state << 7);
    state ^= state >> 9;
    state ^= (uint16_t)(state << 8);
    return state;
}

static void write_table(void)
{
    uint16_t i;
    for (i = 0; i < W_BYTES; i++) {
        eeprom_update_byte((uint8_t *)W_AT + i, wtab[i]);
    }
}

static int32_t weight(uint16_t t)
{
    const uint8_t v = (uint8_t)((t & 1u ? wtab[t >> 1] >> 4 : wtab[t >> 1]) & 15u);
    return v >= 8u ? (int32_t)v - 16 : (int32_t)v;
}

/* The specification: sum over k rows of n inputs at rows[r0 + dy][col0 + i], weights from nibble t on. */
static int32_t spec_dot(uint16_t t, uint8_t r0, uint8_t k, uint16_t col0, uint8_t n, uint8_t sx)
{
    int32_t s = 0;
    uint8_t dy, i;
    for (dy = 0; dy < k; dy++) {
        for (i = 0; i < n; i++, t++) {
            const uint8_t x = rows[r0 + dy][col0 + i];
            s += weight(t) * (sx ? (int32_t)(int8_t)x : (int32_t)x);
        }
    }
    return s;
}

static void every_nibble_times_every_input(void)
{
    uint16_t x, t, bad = 0;
    uint8_t sx, b;
    for (b = 0; b < 16; b++) {
        wtab[b] = (uint8_t)(b * 0x11u); /* nibble values 0..15 in both halves */
    }
    write_table();
    for (sx = 0; sx < 2; sx++) {
        for (x = 0; x < 256; x++) {
            buf[2][0] = (uint8_t)x; /* rows[0] */
            for (t = 0; t < 32; t++) {
                bad += nnrt_pool_w4(W_AT, t, rows, 0, 1, 1, 1, 1, 1, sx) != spec_dot(t, 0, 1, 0, 1, sx);
            }
        }
    }
    TEST_ASSERT_EQUAL_INT(0, bad);
}

/* 255 inputs of 255 or -128 against weights -8 and -1 (all four bits set): every plane at its
 * largest magnitude. Then the longest sums combined in 16 bits (16 uint8 or 31 int8 taps) at
 * their extremes, weights -8 and 7. */
static void sums_at_the_planes_limits(void)
{
    uint16_t i, bad = 0;
    uint8_t c;
    for (c = 0; c < 12; c++) {
        const uint8_t sx = c & 1u, wb = c >= 8u ? 0x77u : c & 2u ? 0x88u : 0xFFu;
        const uint8_t n = c < 4u ? 255u : sx ? 31u : 16u;
        for (i = 0; i < 129u; i++) eeprom_update_byte((uint8_t *)W_AT + i, wb);
        for (i = 0; i < sizeof mem; i++) mem[i] = sx ? 0x80u : 0xFFu;
        rows[0] = mem;
        bad += nnrt_pool_w4(W_AT, c & 3u, rows, 0, 1, n, 1, 1, 1, sx) !=
               (int32_t)n * (wb == 0xFFu ? -1 : wb == 0x88u ? -8 : 7) * (sx ? -128 : 255);
    }
    rows[0] = buf[2];
    TEST_ASSERT_EQUAL_INT(0, bad);
}

/* The kernel's weights in program memory (the pgm entry points): any bytes will do. */
static const uint8_t ptab[W_BYTES] PROGMEM = {
    0x3c, 0x8f, 0x71, 0x00, 0xf9, 0x2a, 0xd4, 0x16, 0x88, 0x7f, 0x05, 0xe3, 0x9b, 0x40, 0xc7, 0x5e,
    0x12, 0xa6, 0xff, 0x39, 0x64, 0x0d, 0xb2, 0x87, 0x70, 0x1f, 0xe8, 0x53, 0x2c, 0x9e, 0x06, 0xcb,
    0x41, 0xf0, 0x7a, 0x95, 0x18, 0xdd, 0x63, 0x08, 0xbe, 0x27, 0x8a, 0x74, 0x0f, 0xc1, 0x5b, 0xe6,
    0x99, 0x32, 0x4d, 0xa0, 0x17, 0xfc, 0x6e, 0x81, 0x23, 0xd8, 0x04, 0xb7, 0x7c, 0x48, 0xef, 0x11,
};

/* Pooling windows: 1..3 kernel rows of 1..20 taps, column steps 1..3, windows of 1..2 rows and
 * 1..3 columns; inputs random, extreme (255, -128) or mostly zero. Weights from EEPROM (through
 * nnrt_pool_w4, as the CNN reads them), RAM and program memory (the other entry points). */
static void random_pooling_windows(void)
{
    uint16_t trial, bad = 0, i;
    for (trial = 0; trial < 1800; trial++) {
        const uint8_t storage = (uint8_t)(trial / 600u); /* 0 EEPROM, 1 RAM, 2 program memory */
        if (trial % 600u == 0u) {
            for (i = 0; i < W_BYTES; i++) wtab[i] = storage == 2u ? pgm_read_byte(&ptab[i]) : (uint8_t)next16();
            write_table();
        }
        const uint8_t k = (uint8_t)(1u + next16() % 3u), n = (uint8_t)(1u + next16() % 20u);
        const uint8_t sx = next16() & 1u, step = (uint8_t)(1u + next16() % 3u), ph = (uint8_t)(1u + next16() % 2u);
        const uint8_t pw = (uint8_t)(1u + next16() % 3u);
        const uint16_t off = next16() % 3u, t = next16() % 40u;
        int32_t want = INT32_MIN;
        uint8_t dy, dx;
        if (off + (uint16_t)(pw - 1u) * step + n > COLS) continue;
        for (dy = 0; dy < 4; dy++) {
            for (i = 0; i < COLS; i++) {
                const uint16_t r = next16();
                buf[dy][i] = trial % 4u == 0 ? (r & 1u ? 255u : sx ? 0x80u : 255u)
                                             : trial % 4u == 1 ? (r % 8u ? 0u : (uint8_t)(r >> 8)) : (uint8_t)(r >> 8);
            }
        }
        for (dy = 0; dy < ph; dy++) {
            for (dx = 0; dx < pw; dx++) {
                const int32_t v = spec_dot(t, dy, k, off + (uint16_t)dx * step, n, sx);
                want = v > want ? v : want;
            }
        }
        if (storage == 0u) {
            bad += nnrt_pool_w4(W_AT, t, rows, off, k, n, step, ph, pw, sx) != want;
        } else {
            const uint8_t flags = NNRT_AVR_W4_FLAGS(k, n, ph, sx);
            bad += (storage == 1u ? (sx ? nnrt_avr_pool_w4_ram_s8 : nnrt_avr_pool_w4_ram_u8)(wtab, t, rows, off, k, n,
                                                                                          step, pw, flags)
                                  : (sx ? nnrt_avr_pool_w4_pgm_s8 : nnrt_avr_pool_w4_pgm_u8)(ptab, t, rows, off, k, n,
                                                                                          step, pw, flags)) != want;
        }
    }
    TEST_ASSERT_EQUAL_INT(0, bad);
}

int main(void)
{
    rows[0] = buf[2]; /* out of order, as in a ring */
    rows[1] = buf[0];
    rows[2] = buf[3];
    rows[3] = buf[1];
    UNITY_BEGIN();
    RUN_TEST(every_nibble_times_every_input);
    RUN_TEST(sums_at_the_planes_limits);
    RUN_TEST(random_pooling_windows);
    return UNITY_END();
}
