/* Placeholder for host-only tests: the host has no exact cost counter, so
 * nnsim reports 0 and NNSIM_HAS_COST is 0. */
#include "unity_lite.h"

static void test_host_reports_no_cost(void)
{
    TEST_ASSERT_EQUAL_INT(0, NNSIM_HAS_COST);
    nnsim_mark_t m = nnsim_region_begin();
    TEST_ASSERT_EQUAL_UINT32(0, nnsim_region_end(m));
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_host_reports_no_cost);
    return UNITY_END();
}
