/* The gate arithmetic of nnrt/ops/gates.h and lstm.h, family by family, for tests/test_gated_runtime.py:
 * it recomputes every family with nnmodel/ops/gates.py and nnmodel/quant.py and compares.
 *
 * Each family prints one line "name count sum1 sum2": a Fletcher-style digest of its results in
 * order (sum1 = the sum of the values, sum2 = the sum of the running sum1s, both mod 2^32), so the
 * same program runs on the host and in simavr (ATtiny85, whose console is slow). With -DGATES_DUMP
 * (host only) it also writes every value, one per line, for locating a mismatch.
 *
 * CELL_STRIDE: the LSTM cell family walks c over -32767..32767 in steps of CELL_STRIDE (1 on the
 * host, every value; the simulator takes a sparser grid). Random inputs come from xorshift32
 * (13, 17, 5), which the Python side replays.
 */
#include <stdint.h>

#ifndef NNRT_STORAGE
#define NNRT_STORAGE NNRT_STORAGE_MEM
#endif
#include "nnrt/ops/gru.h"
#include "nnrt/ops/lstm.h"

#ifdef __AVR__
#include "nnsim.h"
#define PUTC(c) nnsim_putc(c)
#else
#include <stdio.h>
#define PUTC(c) putchar(c)
#endif

#ifndef CELL_STRIDE
#define CELL_STRIDE 1
#endif
#ifndef QMUL32_CASES
#define QMUL32_CASES 2000u
#endif
#ifndef REQUANT_CASES
#define REQUANT_CASES 400u
#endif
#ifndef REQUANT_UNITS /* at most this many units per case (blocks of 1..4) */
#define REQUANT_UNITS 40u
#endif

static uint32_t sum1, sum2, count, rng = 2463534242u;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void put_u32(uint32_t v)
{
    char buf[10];
    uint8_t n = 0;
    do {
        buf[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) {
        PUTC(buf[--n]);
    }
}

static void put_str(const char *s)
{
    while (*s) {
        PUTC(*s++);
    }
}

static void begin(void)
{
    sum1 = sum2 = count = 0;
}

static void add(int32_t v)
{
    sum1 += (uint32_t)v;
    sum2 += sum1;
    count++;
#ifdef GATES_DUMP
    printf("%ld\n", (long)v);
#endif
}

static void end(const char *name)
{
#ifdef GATES_DUMP
    printf("=");
#endif
    put_str(name);
    PUTC(' ');
    put_u32(count);
    PUTC(' ');
    put_u32(sum1);
    PUTC(' ');
    put_u32(sum2);
    PUTC('\n');
}

/* bit length of v (0 for 0) */
static uint8_t bits(uint32_t v)
{
    uint8_t n = 0;
    for (; v != 0u; v >>= 1) {
        n++;
    }
    return n;
}

/* Requantization of gate rows: blocks 1..4 of 1..40 units, per tensor or per channel, S 0..31 with
 * the accumulators sized so |acc M| < 2^30 and the results mostly within the clamp. Prints the
 * inputs' digest too, so a generator that drifted from the Python replay shows as such. */
static void requant_family(void)
{
    int32_t acc[4u * REQUANT_UNITS];
    uint8_t params[3u * 4u * REQUANT_UNITS];
    uint32_t in1 = 0, in2 = 0;
    uint16_t t, i;
    begin();
    for (t = 0; t < REQUANT_CASES; t++) {
        const uint16_t units = (uint16_t)(1u + next() % REQUANT_UNITS);
        const uint8_t blocks = (uint8_t)(1u + next() % 4u), per_channel = (uint8_t)(next() & 1u);
        const uint16_t pairs = per_channel ? (uint16_t)(blocks * units) : blocks;
        uint16_t k;
        for (k = 0; k < pairs; k++) {
            const uint16_t m = (uint16_t)(1u + next() % 32767u);
            const uint8_t e = bits(m), abits = (uint8_t)(next() % (uint32_t)(31u - e));
            int16_t s = (int16_t)(abits + e - 9 + (int16_t)(next() % 5u));
            const uint16_t per = per_channel ? 1u : units;
            s = (int16_t)(s < 0 ? 0 : s > 31 ? 31 : s);
            params[2u * k] = (uint8_t)m;
            params[2u * k + 1u] = (uint8_t)(m >> 8);
            params[2u * pairs + k] = (uint8_t)s;
            for (i = 0; i < per; i++) {
                const uint16_t j = (uint16_t)(k * per + i);
                uint32_t mag = abits ? next() & (((uint32_t)1 << abits) - 1u) : 0u;
                if (next() % 3u == 0u) {
                    mag >>= next() % (abits + 1u);
                }
                acc[j] = (next() & 1u) ? -(int32_t)mag : (int32_t)mag;
                in1 += (uint32_t)acc[j];
                in2 += in1;
            }
        }
        nnrt_gates_requant(acc, (int8_t *)acc, units, blocks, params, params + 2u * pairs, per_channel);
        for (i = 0; i < (uint16_t)(blocks * units); i++) {
            add(((int8_t *)acc)[i]);
        }
    }
    end("requant");
    sum1 = in1;
    sum2 = in2;
    end("requant_inputs");
}

int main(void)
{
    int16_t p, a;
    uint16_t g, t;
    int32_t c;
    uint8_t ci = 0, cg = 50, co = 200;

    begin();
    for (p = -127; p <= 127; p++) {
        add(nnrt_tanh_q7((int8_t)p));
    }
    end("tanh");
    begin();
    for (p = -127; p <= 127; p++) {
        add(nnrt_sigm_q7((int8_t)p));
    }
    end("sigm");

    /* qmul(g, a) of a state, tanh output or a difference of two (GRU h - n): |a| <= 255 */
    begin();
    for (g = 0; g <= 128u; g++) {
        for (a = -255; a <= 255; a++) {
            add(nnrt_qmul_s16((uint8_t)g, a));
        }
    }
    end("qmul16");

    /* qmul(g, a) of int32 a (the GRU's r times b_hn + w_hn h): edges, then xorshift values of every size */
    begin();
    for (t = 0; t < QMUL32_CASES + 8u; t++) {
        static const int32_t edge[8] = {0, 1, -1, 127, -128, 2147483647, -2147483647 - 1, -129};
        int32_t v = t < 8u ? edge[t] : (int32_t)next();
        if (t >= 8u) {
            const uint8_t sh = (uint8_t)(next() & 31u);
            v = v < 0 ? ~(int32_t)(~(uint32_t)v >> sh) : (int32_t)((uint32_t)v >> sh);
        }
        for (g = 0; g <= 128u; g++) {
            add(nnrt_qmul_s32((uint8_t)g, v));
        }
    }
    end("qmul32");

    /* The LSTM cell and state: every f pre-activation (15 calls of 17 units) against c over
     * -32767..32767 (step CELL_STRIDE); cell k's i, g, o pre-activations are 37 k, 101 k + 50 and
     * 19 k + 200 (mod 255) - 127. The new c and h of each. */
    begin();
    for (c = -32767; c <= 32767; c += CELL_STRIDE) {
        uint8_t chunk;
        for (chunk = 0; chunk < 15u; chunk++) {
            int8_t pre[4 * 17];
            int16_t cs[17];
            int8_t hs[17];
            uint8_t j;
            for (j = 0; j < 17u; j++) {
                pre[j] = (int8_t)(ci - 127);
                pre[17u + j] = (int8_t)(17 * chunk + j - 127);
                pre[34u + j] = (int8_t)(cg - 127);
                pre[51u + j] = (int8_t)(co - 127);
                cs[j] = (int16_t)c;
                ci = (uint8_t)((ci + 37u) % 255u);
                cg = (uint8_t)((cg + 101u) % 255u);
                co = (uint8_t)((co + 19u) % 255u);
            }
            nnrt_lstm_cells(pre, hs, cs, 17u);
            for (j = 0; j < 17u; j++) {
                add(cs[j]);
                add(hs[j]);
            }
        }
    }
    end("lstm_cell");

    requant_family();
    return 0;
}
