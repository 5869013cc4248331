/* Proves the QEMU RV32IMC features the model tests rely on: exact retired
 * instruction counts (-icount shift=0) and the stack high-water mark. */
#include <stdint.h>

#include "unity_lite.h"

static volatile uint32_t sink;

static void test_empty_region_is_zero_instructions(void)
{
    nnsim_mark_t m = nnsim_region_begin();
    TEST_ASSERT_EQUAL_UINT32(0, nnsim_region_end(m));
}

static void test_region_counts_exact_instructions(void)
{
    nnsim_mark_t m = nnsim_region_begin();
    __asm__ __volatile__("nop\n\tnop\n\tnop" ::: "memory");
    TEST_ASSERT_EQUAL_UINT32(3, nnsim_region_end(m));
}

static uint32_t burn_stack(uint32_t depth)
{
    volatile uint32_t pad[16];
    pad[0] = depth;
    return depth ? burn_stack(depth - 1) + pad[0] : 0;
}

static void test_stack_high_water_grows_with_depth(void)
{
    nnsim_stack_repaint();
    sink = burn_stack(2);
    uint32_t shallow = nnsim_stack_used();
    nnsim_stack_repaint();
    sink = burn_stack(8);
    uint32_t deep = nnsim_stack_used();
    TEST_ASSERT_GREATER_OR_EQUAL_INT((int32_t)shallow + 6 * 64, (int32_t)deep);
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_empty_region_is_zero_instructions);
    RUN_TEST(test_region_counts_exact_instructions);
    RUN_TEST(test_stack_high_water_grows_with_depth);
    return UNITY_END();
}
