/*
 * unity_lite.h — header-only test harness that speaks Unity's output format,
 * so PlatformIO's Unity parser (test_framework = custom +
 * test/test_custom_runner.py) counts the results on every env: host, simavr,
 * QEMU. Unity itself is not obtainable offline (see platformio/README.md).
 *
 * Output, one line each:  FILE:LINE:TEST:PASS | :FAIL: message | :IGNORE: message
 * then the summary        N Tests M Failures K Ignored / OK or FAIL
 * All text goes through nnsim.h (provided by each in-repo platform); on AVR
 * every literal stays in flash (PSTR) and is printed with nnsim_puts_P.
 *
 * Usage:
 *   #include "unity_lite.h"
 *   static void test_add(void) { TEST_ASSERT_EQUAL_INT(2, 1 + 1); }
 *   int main(void) { UNITY_BEGIN(); RUN_TEST(test_add); return UNITY_END(); }
 * A failed assertion returns from the test function (no longjmp).
 * Define setUp()/tearDown() to run code around each test (optional).
 */
#ifndef UNITY_LITE_H
#define UNITY_LITE_H

#include <stdint.h>

#include "nnsim.h"

#ifdef NNSIM_AVR
#include <avr/pgmspace.h>
#define UL_STR(s) PSTR(s)
#define UL_READ_I8(p) ((int8_t)pgm_read_byte(p))
#else
#define UL_STR(s) (s)
#define UL_READ_I8(p) (*(const int8_t *)(p))
#endif

/* Shared by every translation unit of one test program; weak so the header
 * needs no separate .c file (GCC/Clang on ELF, which all our envs use). */
struct ul_state {
    const char *file; /* flash string on AVR */
    const char *test; /* flash string on AVR */
    uint16_t tests, failures, ignored;
    uint8_t failed; /* current test */
};
__attribute__((weak)) struct ul_state ul_state;
/* Optional, as in Unity: weak references are null unless a test defines them. */
void setUp(void) __attribute__((weak));
void tearDown(void) __attribute__((weak));

/* A function, so `TEST_ASSERT_NOT_NULL(&x)` does not trip -Waddress. */
static inline int ul_is_null(const void *p) { return p == 0; }

static inline void ul_prefix(unsigned line)
{
    nnsim_puts_P(ul_state.file);
    nnsim_putc(':');
    nnsim_putu32(line);
    nnsim_putc(':');
    nnsim_puts_P(ul_state.test);
    nnsim_putc(':');
}

/* Starts "FILE:LINE:TEST:FAIL: " for a failed assertion; caller adds details. */
static inline void ul_fail_begin(unsigned line)
{
    ul_state.failed = 1;
    ul_prefix(line);
    nnsim_puts_P(UL_STR("FAIL: "));
}

static inline void ul_fail_msg(unsigned line, const char *msg_P)
{
    ul_fail_begin(line);
    nnsim_puts_P(msg_P);
    nnsim_putc('\n');
    nnsim_flush();
}

static inline void ul_fail_int(unsigned line, const char *what_P, int32_t index, int32_t expected,
                               int32_t actual)
{
    ul_fail_begin(line);
    nnsim_puts_P(what_P);
    if (index >= 0) {
        nnsim_puts_P(UL_STR("Element "));
        nnsim_puti32(index);
        nnsim_putc(' ');
    }
    nnsim_puts_P(UL_STR("Expected "));
    nnsim_puti32(expected);
    nnsim_puts_P(UL_STR(" Was "));
    nnsim_puti32(actual);
    nnsim_putc('\n');
    nnsim_flush();
}

static inline void ul_begin(const char *file_P)
{
    ul_state.file = file_P;
    ul_state.tests = ul_state.failures = ul_state.ignored = 0;
}

static inline void ul_run(void (*fn)(void), const char *name_P, unsigned line)
{
    ul_state.test = name_P;
    ul_state.failed = 0;
    ul_state.tests++;
    if (setUp) setUp();
    fn();
    if (tearDown) tearDown();
    if (ul_state.failed == 1) {
        ul_state.failures++;
    } else if (ul_state.failed == 2) {
        ul_state.ignored++;
    } else {
        ul_prefix(line);
        nnsim_puts_P(UL_STR("PASS\n"));
    }
    nnsim_flush(); /* a later hang must not swallow this result */
}

/* Exit status: failures, capped so it survives the 8-bit exit code. */
static inline int ul_end(void)
{
    nnsim_puts_P(UL_STR("\n-----------------------\n"));
    nnsim_putu32(ul_state.tests);
    nnsim_puts_P(UL_STR(" Tests "));
    nnsim_putu32(ul_state.failures);
    nnsim_puts_P(UL_STR(" Failures "));
    nnsim_putu32(ul_state.ignored);
    nnsim_puts_P(ul_state.failures ? UL_STR(" Ignored\nFAIL\n") : UL_STR(" Ignored\nOK\n"));
    nnsim_flush();
    return ul_state.failures > 255 ? 255 : (int)ul_state.failures;
}

#define UNITY_BEGIN() ul_begin(UL_STR(__FILE__))
#define UNITY_END() ul_end()
#define RUN_TEST(fn) ul_run(fn, UL_STR(#fn), __LINE__)

#define TEST_FAIL_MESSAGE(msg) do { ul_fail_msg(__LINE__, UL_STR(msg)); return; } while (0)
#define TEST_FAIL() TEST_FAIL_MESSAGE("Failed")
#define TEST_IGNORE_MESSAGE(msg)                                                         \
    do {                                                                                 \
        ul_state.failed = 2;                                                             \
        ul_prefix(__LINE__);                                                             \
        nnsim_puts_P(UL_STR("IGNORE: " msg "\n"));                                       \
        return;                                                                          \
    } while (0)
#define TEST_IGNORE() TEST_IGNORE_MESSAGE("Ignored")

#define TEST_ASSERT_MESSAGE(cond, msg) do { if (!(cond)) TEST_FAIL_MESSAGE(msg); } while (0)
#define TEST_ASSERT(cond) TEST_ASSERT_MESSAGE(cond, "Expression Evaluated To FALSE")
#define TEST_ASSERT_TRUE(cond) TEST_ASSERT(cond)
#define TEST_ASSERT_FALSE(cond) TEST_ASSERT_MESSAGE(!(cond), "Expected FALSE Was TRUE")
#define TEST_ASSERT_NULL(p) TEST_ASSERT_MESSAGE(ul_is_null(p), "Expected NULL")
#define TEST_ASSERT_NOT_NULL(p) TEST_ASSERT_MESSAGE(!ul_is_null(p), "Expected Non-NULL")

/* Integers are compared as int32_t: wide enough for int8..int32 and uint16. */
#define UL_CMP(op, what, e, a)                                                           \
    do {                                                                                 \
        int32_t ul_e = (int32_t)(e), ul_a = (int32_t)(a);                                \
        if (!(ul_a op ul_e)) {                                                           \
            ul_fail_int(__LINE__, UL_STR(what), -1, ul_e, ul_a);                         \
            return;                                                                      \
        }                                                                                \
    } while (0)
#define TEST_ASSERT_EQUAL_INT(e, a) UL_CMP(==, "", e, a)
#define TEST_ASSERT_EQUAL(e, a) TEST_ASSERT_EQUAL_INT(e, a)
#define TEST_ASSERT_EQUAL_INT8(e, a) TEST_ASSERT_EQUAL_INT(e, a)
#define TEST_ASSERT_EQUAL_INT16(e, a) TEST_ASSERT_EQUAL_INT(e, a)
#define TEST_ASSERT_EQUAL_INT32(e, a) TEST_ASSERT_EQUAL_INT(e, a)
#define TEST_ASSERT_EQUAL_UINT8(e, a) TEST_ASSERT_EQUAL_INT(e, a)
#define TEST_ASSERT_EQUAL_UINT16(e, a) TEST_ASSERT_EQUAL_INT(e, a)
#define TEST_ASSERT_NOT_EQUAL(e, a) UL_CMP(!=, "Expected Not-Equal. ", e, a)
/* Unity's argument order: threshold first, then the actual value. */
#define TEST_ASSERT_LESS_OR_EQUAL_INT(t, a) UL_CMP(<=, "Expected <= threshold. ", t, a)
#define TEST_ASSERT_GREATER_OR_EQUAL_INT(t, a) UL_CMP(>=, "Expected >= threshold. ", t, a)
#define TEST_ASSERT_INT_WITHIN(delta, e, a)                                              \
    do {                                                                                 \
        int32_t ul_e = (int32_t)(e), ul_a = (int32_t)(a);                                \
        int32_t ul_d = ul_a > ul_e ? ul_a - ul_e : ul_e - ul_a;                          \
        if (ul_d > (int32_t)(delta)) {                                                   \
            ul_fail_int(__LINE__, UL_STR("Values Not Within Delta. "), -1, ul_e, ul_a);  \
            return;                                                                      \
        }                                                                                \
    } while (0)

/* uint32_t has its own path: cycle and byte counts exceed INT32_MAX in theory. */
#define UL_CMP_U32(op, what, e, a)                                                       \
    do {                                                                                 \
        uint32_t ul_e = (uint32_t)(e), ul_a = (uint32_t)(a);                             \
        if (!(ul_a op ul_e)) {                                                           \
            ul_fail_begin(__LINE__);                                                     \
            nnsim_puts_P(UL_STR(what));                                                  \
            nnsim_putu32(ul_e);                                                          \
            nnsim_puts_P(UL_STR(" Was "));                                               \
            nnsim_putu32(ul_a);                                                          \
            nnsim_putc('\n');                                                            \
            nnsim_flush();                                                               \
            return;                                                                      \
        }                                                                                \
    } while (0)
#define TEST_ASSERT_EQUAL_UINT32(e, a) UL_CMP_U32(==, "Expected ", e, a)
#define TEST_ASSERT_LESS_OR_EQUAL_UINT32(t, a) UL_CMP_U32(<=, "Expected <= ", t, a)

/* Arrays: report the first differing element like Unity does. The _P form
 * reads `expected` from flash on AVR (golden vectors do not fit in SRAM). */
#define UL_ARRAY(type, rd, e, a, n)                                                      \
    do {                                                                                 \
        const type *ul_ep = (const type *)(e), *ul_ap = (const type *)(a);               \
        for (uint32_t ul_i = 0; ul_i < (uint32_t)(n); ul_i++) {                          \
            int32_t ul_ev = (int32_t)rd(&ul_ep[ul_i]), ul_av = (int32_t)ul_ap[ul_i];     \
            if (ul_ev != ul_av) {                                                        \
                ul_fail_int(__LINE__, UL_STR(""), (int32_t)ul_i, ul_ev, ul_av);          \
                return;                                                                  \
            }                                                                            \
        }                                                                                \
    } while (0)
#define UL_DEREF(p) (*(p))
#define TEST_ASSERT_EQUAL_INT8_ARRAY(e, a, n) UL_ARRAY(int8_t, UL_DEREF, e, a, n)
#define TEST_ASSERT_EQUAL_UINT8_ARRAY(e, a, n) UL_ARRAY(uint8_t, UL_DEREF, e, a, n)
#define TEST_ASSERT_EQUAL_INT16_ARRAY(e, a, n) UL_ARRAY(int16_t, UL_DEREF, e, a, n)
#define TEST_ASSERT_EQUAL_INT32_ARRAY(e, a, n) UL_ARRAY(int32_t, UL_DEREF, e, a, n)
#define TEST_ASSERT_EQUAL_INT8_ARRAY_P(e, a, n) UL_ARRAY(int8_t, UL_READ_I8, e, a, n)
#define TEST_ASSERT_EQUAL_MEMORY(e, a, len)                                              \
    TEST_ASSERT_EQUAL_UINT8_ARRAY((const uint8_t *)(e), (const uint8_t *)(a), len)

#endif /* UNITY_LITE_H */
