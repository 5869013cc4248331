/* Placeholder that runs on every env (host, simavr, QEMU): proves the
 * harness, the Unity-format parsing and the pass/fail plumbing. */
#include <stdint.h>

#include "unity_lite.h"

static void test_one_plus_one(void) { TEST_ASSERT_EQUAL_INT(2, 1 + 1); }

static void test_int8_arrays(void)
{
    static const int8_t expected[4] = {-128, -1, 0, 127};
    int8_t actual[4];
    for (uint8_t i = 0; i < 4; i++) actual[i] = expected[i];
    TEST_ASSERT_EQUAL_INT8_ARRAY(expected, actual, 4);
}

static void test_int32_arithmetic_is_two_complement(void)
{
    volatile int32_t a = -7; /* volatile: computed at run time on the target */
    TEST_ASSERT_EQUAL_INT32(-4, a >> 1);
    TEST_ASSERT_EQUAL_UINT32(4294967289UL, (uint32_t)a);
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_one_plus_one);
    RUN_TEST(test_int8_arrays);
    RUN_TEST(test_int32_arithmetic_is_two_complement);
    return UNITY_END();
}
