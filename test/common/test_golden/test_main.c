/* Golden vectors: each generated model, fed the embedded samples row by row, reproduces the
 * integer logits nnmodel.reference computed at generation time (byte for byte), through finish()
 * and through logit(). Runs on the host, on the ATtiny85 in simavr, on RV32 and Cortex-M4 in
 * QEMU. One logits array at most on the stack: the ATtiny85's 512 bytes also hold the CNN's line
 * buffers. */
#include <stdint.h>

#include "nnmodel_golden.h"
#include "nnmodel_samples.h"
#include "unity_lite.h"

/* Out of line, so the row and the logits arrays are never on the stack together. */
#if defined(__GNUC__)
#define GOLDEN_APART __attribute__((noinline))
#else
#define GOLDEN_APART
#endif

static GOLDEN_APART void feed_sample(const nnmodel_golden_t *m, uint16_t k)
{
    uint8_t row[NNMODEL_SAMPLE_COLS];
    uint16_t r;
    m->begin();
    for (r = 0; r < m->rows; r++) {
        nnmodel_sample_row(k, r, row);
        m->feed_row(row);
    }
}

/* After feed_sample(m, k): finish() writes the golden logits of sample k, and logit() reads them. */
static GOLDEN_APART void check_logits(const nnmodel_golden_t *m, uint16_t k)
{
    int32_t got[NNMODEL_GOLDEN_MAX_CLASSES];
    uint16_t j;
    m->finish(got);
    for (j = 0; j < m->n_classes; j++) {
        TEST_ASSERT_EQUAL_INT32(nnmodel_golden_logit(m, k, j), got[j]);
        TEST_ASSERT_EQUAL_INT32(got[j], m->logit(j));
    }
}

static void check_model(const nnmodel_golden_t *m)
{
    uint16_t k;
    TEST_ASSERT_LESS_OR_EQUAL_INT(NNMODEL_GOLDEN_MAX_CLASSES, m->n_classes);
    TEST_ASSERT_EQUAL_INT(NNMODEL_SAMPLE_ROWS, m->rows);
    TEST_ASSERT_EQUAL_INT(NNMODEL_SAMPLE_COLS, m->cols);
    TEST_ASSERT_EQUAL_INT(NNRT_OK, m->check());
    TEST_ASSERT_TRUE(m->count > 0);
    for (k = 0; k < m->count; k++) {
        feed_sample(m, k);
        check_logits(m, k);
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
    /* begin() must reset all state: sample 0 after the last sample, then again, gives its golden
     * logits both times (and logit() past the classes reads 0), for every model. */
    uint16_t j, pass, k;
    for (k = 0; k < NNMODEL_GOLDEN_MODELS; k++) {
        const nnmodel_golden_t *m = &nnmodel_golden[k];
        feed_sample(m, (uint16_t)(m->count - 1u));
        (void)m->finish(NULL);
        for (pass = 0; pass < 2; pass++) {
            feed_sample(m, 0);
            (void)m->finish(NULL);
            for (j = 0; j < m->n_classes; j++) {
                TEST_ASSERT_EQUAL_INT32(nnmodel_golden_logit(m, 0, j), m->logit(j));
            }
            TEST_ASSERT_EQUAL_INT32(0, m->logit(m->n_classes));
        }
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
