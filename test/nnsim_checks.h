/* Checks of nnsim.h that hold on every simulator platform, shared by the test_sim suites of
 * test/attiny85, test/rv32 and test/cortexm (test/ is on the include path of every test build):
 * an empty cost region costs nothing, and the stack high-water mark follows the call depth. Each
 * suite adds the checks only its platform can make (the exact cost of known instructions). */
#ifndef NNSIM_CHECKS_H
#define NNSIM_CHECKS_H

#include <stdint.h>

#include "nnsim.h"
#include "unity_lite.h"

/* Bytes of one burn_stack frame's pad: on the ATtiny85 the nine frames of burn_stack(8) share
 * 512 B of SRAM with the test program's data. */
#ifdef NNSIM_AVR
#define NNSIM_CHECKS_PAD 16
#else
#define NNSIM_CHECKS_PAD 64
#endif

static volatile uint8_t nnsim_checks_sink;

static void test_empty_region_is_zero(void)
{
    nnsim_mark_t m = nnsim_region_begin();
    TEST_ASSERT_EQUAL_UINT32(0, nnsim_region_end(m));
}

/* The pad is live across the recursive call, so every level keeps its own frame. */
static uint8_t burn_stack(uint8_t depth)
{
    volatile uint8_t pad[NNSIM_CHECKS_PAD];
    pad[0] = depth;
    return depth ? (uint8_t)(burn_stack((uint8_t)(depth - 1)) + pad[0]) : 0;
}

static void test_stack_high_water_grows_with_depth(void)
{
    nnsim_stack_repaint();
    nnsim_checks_sink = burn_stack(2);
    uint32_t shallow = nnsim_stack_used();
    nnsim_stack_repaint();
    nnsim_checks_sink = burn_stack(8);
    uint32_t deep = nnsim_stack_used();
    TEST_ASSERT_GREATER_OR_EQUAL_INT((int32_t)shallow + 6 * NNSIM_CHECKS_PAD, (int32_t)deep);
}

#endif /* NNSIM_CHECKS_H */
