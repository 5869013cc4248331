/* The AVR int4 conv kernel (lib/nnrt/include/nnrt_avr_w4.h: bit-plane sums in inline asm) against
 * plain integer arithmetic, with the weights in EEPROM (the shipped CNN's storage): every nibble
 * value in both halves of a weight byte times every input byte, uint8 and int8; sums at the
 * planes' limits; random multi-row, multi-column, pooled and merged rows with and without the
 * blank-window mask. Host tests never compile this path, so it is proven here, in simavr. */
#include <avr/eeprom.h>
#include <stdint.h>

#define NNRT_STORAGE NNRT_STORAGE_EEPROM
#include "nnrt_kernels.h"
#include "unity_lite.h"

#define W_AT ((nnrt_wptr_t)16) /* EEPROM address of the weight table (0 would read as NULL) */
#define W_BYTES 64u
#define COLS 40u

static uint8_t wtab[W_BYTES]; /* the table's bytes, as written to EEPROM */
static uint8_t mem[255];      /* input rows (SRAM is scarce: one array for all tests) */
#define buf ((uint8_t (*)[COLS])mem) /* buf[dy][i]: rows COLS apart */
static int32_t out[8];
static uint8_t nz[2];
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

/* The specification: sum over k rows of n inputs at buf[dy][col0 + i], weights from nibble t on. */
static int32_t spec_dot(uint16_t t, uint8_t k, uint16_t col0, uint8_t n, uint8_t sx)
{
    int32_t s = 0;
    uint8_t dy, i;
    for (dy = 0; dy < k; dy++) {
        for (i = 0; i < n; i++, t++) {
            const uint8_t x = buf[dy][col0 + i];
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
            buf[0][0] = (uint8_t)x;
            for (t = 0; t < 32; t++) {
                nnrt_conv_row_w4(out, W_AT, t, buf[0], COLS, 1, 1, 1, 1, 1, sx, 0, NULL);
                bad += out[0] != spec_dot(t, 1, 0, 1, sx);
            }
        }
    }
    TEST_ASSERT_EQUAL_INT(0, bad);
}

/* 255 inputs of 255 or -128 against weights -8 and -1 (all four bits set): every plane at its
 * largest magnitude. */
static void sums_at_the_planes_limits(void)
{
    uint16_t i, bad = 0;
    uint8_t c;
    for (c = 0; c < 4; c++) {
        const uint8_t sx = c & 1u, wb = c & 2u ? 0x88u : 0xFFu;
        for (i = 0; i < 129u; i++) eeprom_update_byte((uint8_t *)W_AT + i, wb);
        for (i = 0; i < sizeof mem; i++) mem[i] = sx ? 0x80u : 0xFFu;
        nnrt_conv_row_w4(out, W_AT, c, mem, sizeof mem, 1, 255, 1, 1, 1, sx, 0, NULL);
        bad += out[0] != (int32_t)255 * (wb == 0xFFu ? -1 : -8) * (sx ? -128 : 255);
    }
    TEST_ASSERT_EQUAL_INT(0, bad);
}

/* Rows of pooled outputs: 1..3 input rows of 1..20 taps, column steps 1..3, pools of 1..2
 * columns, 1..3 pooled outputs, merged into earlier values or not, the blank-window mask or not;
 * inputs random, extreme (255, -128) or mostly zero. */
static void random_pooled_rows(void)
{
    uint16_t trial, bad = 0, i;
    for (i = 0; i < W_BYTES; i++) wtab[i] = (uint8_t)next16();
    write_table();
    for (trial = 0; trial < 600; trial++) {
        const uint8_t k = (uint8_t)(1u + next16() % 3u), n = (uint8_t)(1u + next16() % 20u);
        const uint8_t sx = next16() & 1u, step = (uint8_t)(1u + next16() % 3u), pw = (uint8_t)(1u + next16() % 2u);
        const uint8_t nq = (uint8_t)(1u + next16() % 3u), merge = next16() & 1u, masked = next16() & 1u;
        const uint16_t off = next16() % 3u, t = next16() % 40u;
        int32_t want[3];
        uint8_t q, j, dy, col;
        if (off + (uint16_t)(nq * pw - 1u) * step + n > COLS) continue;
        for (dy = 0; dy < 3; dy++) {
            for (i = 0; i < COLS; i++) {
                const uint16_t r = next16();
                buf[dy][i] = trial % 4u == 0 ? (r & 1u ? 255u : sx ? 0x80u : 255u)
                                             : trial % 4u == 1 ? (r % 8u ? 0u : (uint8_t)(r >> 8)) : (uint8_t)(r >> 8);
            }
        }
        nz[0] = nz[1] = 0;
        for (col = 0; col < nq * pw; col++) {
            uint8_t any = 0;
            for (dy = 0; dy < k; dy++) {
                for (j = 0; j < n; j++) any |= buf[dy][off + col * step + j];
            }
            if (any) nz[col >> 3] |= (uint8_t)(1u << (col & 7u));
        }
        for (q = 0; q < nq; q++) {
            int32_t best;
            out[q] = (int32_t)next16() - 30000;
            best = merge ? out[q] : INT32_MIN;
            for (j = 0; j < pw; j++) {
                const int32_t v = spec_dot(t, k, off + (uint16_t)(q * pw + j) * step, n, sx);
                best = v > best ? v : best;
            }
            want[q] = best;
        }
        nnrt_conv_row_w4(out, W_AT, t, buf[0] + off, COLS, k, n, step, nq, pw, sx, merge, masked ? nz : NULL);
        for (q = 0; q < nq; q++) bad += out[q] != want[q];
    }
    TEST_ASSERT_EQUAL_INT(0, bad);
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(every_nibble_times_every_input);
    RUN_TEST(sums_at_the_planes_limits);
    RUN_TEST(random_pooled_rows);
    return UNITY_END();
}
