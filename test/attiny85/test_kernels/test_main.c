/* The AVR-only kernel paths (shift-add multiply, paired outputs, zero skipping) against plain
 * integer arithmetic: every int8 weight × every uint8 and int8 input, then long dot products with
 * extreme inputs. Host tests never compile these paths, so they are proven here, in simavr. */
#include <stddef.h>
#include <stdint.h>

#define NNRT_STORAGE NNRT_STORAGE_PROGMEM
#include "nnrt_kernels.h"
#include "unity_lite.h"

#define B16(k) (k), (k) + 1, (k) + 2, (k) + 3, (k) + 4, (k) + 5, (k) + 6, (k) + 7, (k) + 8, (k) + 9, \
               (k) + 10, (k) + 11, (k) + 12, (k) + 13, (k) + 14, (k) + 15
/* Every weight byte 0..255, then the first 64 again so strided reads past 255 stay in the table. */
static const uint8_t weights[320] PROGMEM = {
    B16(0), B16(16), B16(32), B16(48), B16(64), B16(80), B16(96), B16(112),
    B16(128), B16(144), B16(160), B16(176), B16(192), B16(208), B16(224), B16(240),
    B16(0), B16(16), B16(32), B16(48)};

static int16_t weight(uint16_t b) { return (int16_t)(int8_t)(uint8_t)b; }

static uint32_t state = 12345u;
static uint32_t next_random(void)
{
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

/* Three outputs, stride 17: the first two take the paired path, the third the single one. */
static void test_every_weight_times_every_input(void)
{
    uint16_t x, b, j, failures = 0;
    int32_t acc[3];
    static const int32_t start[3] = {7, -7, 100000};
    for (x = 0; x < 256; x++) {
        const uint8_t xu = (uint8_t)x;
        const int8_t xs = (int8_t)xu;
        for (b = 0; b < 256; b++) {
            for (j = 0; j < 3; j++) acc[j] = start[j];
            nnrt_mac_u8(acc, weights + b, 3, 17, &xu, 1);
            for (j = 0; j < 3; j++) failures += acc[j] != start[j] + (int32_t)weight(b + 17 * j) * xu;
            for (j = 0; j < 3; j++) acc[j] = start[j];
            nnrt_mac_s8(acc, weights + b, 3, 17, &xs, 1);
            for (j = 0; j < 3; j++) failures += acc[j] != start[j] + (int32_t)weight(b + 17 * j) * xs;
        }
    }
    TEST_ASSERT_EQUAL_INT(0, failures);
}

static void test_long_dot_products_with_extreme_inputs(void)
{
    uint8_t xu[64];
    int8_t xs[64];
    uint16_t t, i;
    for (t = 0; t < 300; t++) {
        const uint16_t n = (uint16_t)(1 + next_random() % 64), off = (uint16_t)(next_random() % 200);
        const uint8_t kind = (uint8_t)(next_random() % 4);
        int32_t acc[2], u0 = 0, u1 = 0, s0 = 0, s1 = 0;
        for (i = 0; i < n; i++) {
            const uint32_t r = next_random();
            xu[i] = kind == 0 ? 255 : kind == 1 ? (r & 1 ? 0 : 255) : (uint8_t)r;
            xs[i] = (int8_t)(kind == 0 ? 0x80 : kind == 1 ? (r & 1 ? 0x7F : 0x80) : (uint8_t)(r >> 8));
            u0 += (int32_t)weight(off + i) * xu[i];
            u1 += (int32_t)weight(off + 3 + i) * xu[i];
            s0 += (int32_t)weight(off + i) * xs[i];
            s1 += (int32_t)weight(off + 3 + i) * xs[i];
        }
        acc[0] = acc[1] = 0;
        nnrt_mac_u8(acc, weights + off, 2, 3, xu, n);
        TEST_ASSERT_EQUAL_INT32(u0, acc[0]);
        TEST_ASSERT_EQUAL_INT32(u1, acc[1]);
        acc[0] = acc[1] = 0;
        nnrt_mac_s8(acc, weights + off, 2, 3, xs, n);
        TEST_ASSERT_EQUAL_INT32(s0, acc[0]);
        TEST_ASSERT_EQUAL_INT32(s1, acc[1]);
    }
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_every_weight_times_every_input);
    RUN_TEST(test_long_dot_products_with_extreme_inputs);
    return UNITY_END();
}
