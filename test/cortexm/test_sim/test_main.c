/* Proves the Cortex-M4 simulator's instruction counts exact (nnsim.h explains the method: the
 * AN386's 25 MHz FPGAIO COUNTER under QEMU -icount shift=7) and checks the stack high-water mark.
 * Each straight-line run of L instructions, L = 0..1000, is entered by a computed branch into a
 * sled of nops, so every length runs at its own counter phase; all of them must count exactly. */
#include <stdint.h>

#include "nnmodel_samples.h"
#include "nnsim_checks.h"
#include "unity_lite.h"

#define SLED 1000
#define SLED_STR "1000" /* for .rept */

/* Counter ticks from the first read to the second around `bx` + the last `len` nops of a sled
 * + the second load: len + 2 instructions. One function per sled: GCC sizes an asm statement
 * by its lines, so a branch around a 4 KB sled would be assembled out of range. */
#define SLED_TICKS(name, nop, shift)                                                        \
    static __attribute__((noinline)) uint32_t name(uint32_t len)                            \
    {                                                                                       \
        uint32_t t0, t1;                                                                    \
        __asm__ __volatile__("adr.w r2, 2f\n\t"                                             \
                             "sub.w r2, r2, %[len], lsl #" #shift "\n\t"                    \
                             "orr.w r2, r2, #1\n\t"                                         \
                             "movw r3, #0x8018\n\t"                                         \
                             "movt r3, #0x4002\n\t"                                         \
                             "ldr %[t0], [r3]\n\t"                                          \
                             "bx r2\n\t"                                                    \
                             ".balign 4\n\t"                                                \
                             ".rept " SLED_STR "\n\t" nop "\n\t.endr\n"                     \
                             "2:\n\t"                                                       \
                             "ldr %[t1], [r3]"                                              \
                             : [t0] "=&r"(t0), [t1] "=&r"(t1)                               \
                             : [len] "r"(len)                                               \
                             : "r2", "r3", "memory");                                       \
        return t1 - t0;                                                                     \
    }
SLED_TICKS(sled16_ticks, "nop", 1)
SLED_TICKS(sled32_ticks, "nop.w", 2)

static void check_sled(uint32_t (*sled_ticks)(uint32_t))
{
    uint32_t len;
    for (len = 0; len <= SLED; len++) {
        uint32_t d = sled_ticks(len), n = len + 2u;
        /* The model itself: n instructions are 3.2 n ticks, less than one tick off (the phase),
         * i.e. 16 n - 5 < 5 d < 16 n + 5; then rounding d / 3.2 gives n. */
        TEST_ASSERT_LESS_OR_EQUAL_UINT32(16u * n + 4u, 5u * d);
        TEST_ASSERT_LESS_OR_EQUAL_UINT32(5u * d, 16u * n - 4u);
        TEST_ASSERT_EQUAL_UINT32(n, nnsim_ticks_to_instructions(d));
    }
}

static void test_every_straight_line_length_counts_exactly(void) { check_sled(sled16_ticks); }
static void test_32_bit_instructions_count_one_each(void) { check_sled(sled32_ticks); }

static void test_region_counts_exact_instructions(void)
{
    nnsim_mark_t m = nnsim_region_begin();
    __asm__ __volatile__("nop\n\tnop.w\n\tnop" ::: "memory");
    TEST_ASSERT_EQUAL_UINT32(3, nnsim_region_end(m));
}

static void test_golden_check_covers_500_digits(void)
{
    TEST_ASSERT_GREATER_OR_EQUAL_INT(500, NNMODEL_SAMPLE_COUNT);
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_every_straight_line_length_counts_exactly);
    RUN_TEST(test_32_bit_instructions_count_one_each);
    RUN_TEST(test_empty_region_is_zero);
    RUN_TEST(test_region_counts_exact_instructions);
    RUN_TEST(test_stack_high_water_grows_with_depth);
    RUN_TEST(test_golden_check_covers_500_digits);
    return UNITY_END();
}
