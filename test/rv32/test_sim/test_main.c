/* Proves the QEMU RV32IMC features the model tests rely on: exact retired
 * instruction counts (-icount shift=0) and the stack high-water mark. */
#include <stdint.h>

#include "nnsim_checks.h"
#include "unity_lite.h"

static void test_region_counts_exact_instructions(void)
{
    nnsim_mark_t m = nnsim_region_begin();
    __asm__ __volatile__("nop\n\tnop\n\tnop" ::: "memory");
    TEST_ASSERT_EQUAL_UINT32(3, nnsim_region_end(m));
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_empty_region_is_zero);
    RUN_TEST(test_region_counts_exact_instructions);
    RUN_TEST(test_stack_high_water_grows_with_depth);
    return UNITY_END();
}
