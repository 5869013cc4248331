/* Golden vectors: each generated model, fed the embedded samples row by row, reproduces the
 * integer logits nnmodel.reference computed at generation time (byte for byte). Runs on the
 * host, on the ATtiny85 in simavr and on RV32 in QEMU. */
#include <stdint.h>

#include "nnmodel_golden.h"
#include "nnmodel_samples.h"
#include "unity_lite.h"

#define MAX_CLASSES 16

static void check_model(const nnmodel_golden_t *m)
{
    uint8_t row[NNMODEL_SAMPLE_COLS];
    int32_t got[MAX_CLASSES], want[MAX_CLASSES];
    uint16_t k, r;
    TEST_ASSERT_LESS_OR_EQUAL_INT(MAX_CLASSES, m->n_classes);
    TEST_ASSERT_EQUAL_INT(NNMODEL_SAMPLE_ROWS, m->rows);
    TEST_ASSERT_EQUAL_INT(NNMODEL_SAMPLE_COLS, m->cols);
    TEST_ASSERT_EQUAL_INT(NNRT_OK, m->check());
    TEST_ASSERT_TRUE(m->count > 0);
    for (k = 0; k < m->count; k++) {
        m->begin();
        for (r = 0; r < m->rows; r++) {
            nnmodel_sample_row(k, r, row);
            m->feed_row(row);
        }
        m->finish(got);
        nnmodel_golden_expected(m, k, want);
        TEST_ASSERT_EQUAL_INT32_ARRAY(want, got, m->n_classes);
    }
}

static void test_golden_model_0(void) { check_model(&nnmodel_golden[0]); }

#if NNMODEL_GOLDEN_MODELS > 1
static void test_golden_model_1(void) { check_model(&nnmodel_golden[1]); }
#endif
#if NNMODEL_GOLDEN_MODELS > 2
static void test_golden_model_2(void) { check_model(&nnmodel_golden[2]); }
#endif
#if NNMODEL_GOLDEN_MODELS > 3
static void test_golden_model_3(void) { check_model(&nnmodel_golden[3]); }
#endif
#if NNMODEL_GOLDEN_MODELS > 4
#error "test_golden checks at most 4 models: add test_golden_model_4"
#endif

static void test_streaming_twice_gives_the_same_logits(void)
{
    /* begin() must reset all state: a second pass over sample 0 is identical, for every model. */
    uint8_t row[NNMODEL_SAMPLE_COLS];
    int32_t first[MAX_CLASSES], second[MAX_CLASSES];
    uint16_t r, pass, k;
    for (k = 0; k < NNMODEL_GOLDEN_MODELS; k++) {
        const nnmodel_golden_t *m = &nnmodel_golden[k];
        for (pass = 0; pass < 2; pass++) {
            m->begin();
            for (r = 0; r < m->rows; r++) {
                nnmodel_sample_row(0, r, row);
                m->feed_row(row);
            }
            m->finish(pass ? second : first);
        }
        TEST_ASSERT_EQUAL_INT32_ARRAY(first, second, m->n_classes);
    }
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_golden_model_0);
#if NNMODEL_GOLDEN_MODELS > 1
    RUN_TEST(test_golden_model_1);
#endif
#if NNMODEL_GOLDEN_MODELS > 2
    RUN_TEST(test_golden_model_2);
#endif
#if NNMODEL_GOLDEN_MODELS > 3
    RUN_TEST(test_golden_model_3);
#endif
    RUN_TEST(test_streaming_twice_gives_the_same_logits);
    return UNITY_END();
}
