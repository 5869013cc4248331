/* EEPROM image verification on the host, where the image is a RAM array holding the real bytes:
 * a good image is accepted; a flipped bit, another model's image and an erased EEPROM are refused. */
#include <stdint.h>
#include <string.h>

#include "nnmodel_golden.h"
#include "unity_lite.h"

static const nnmodel_golden_t *with_image(void)
{
    uint16_t i;
    for (i = 0; i < NNMODEL_GOLDEN_MODELS; i++) {
        if (nnmodel_golden[i].image != NULL) {
            return &nnmodel_golden[i];
        }
    }
    return NULL;
}

static uint8_t saved[1024];

static void setUp_image(const nnmodel_golden_t *m) { memcpy(saved, m->image, m->image_bytes); }
static void restore(const nnmodel_golden_t *m) { memcpy(m->image, saved, m->image_bytes); }

static void rewrite_crc(const nnmodel_golden_t *m)
{
    uint16_t crc = 0xFFFFu, i;
    for (i = 0; i < m->image_bytes; i++) {
        if (i != 10 && i != 11) {
            crc = nnrt_crc16_update(crc, m->image[i]);
        }
    }
    m->image[10] = (uint8_t)crc;
    m->image[11] = (uint8_t)(crc >> 8);
}

static void test_good_image_is_accepted(void)
{
    const nnmodel_golden_t *m = with_image();
    TEST_ASSERT_NOT_NULL(m);
    TEST_ASSERT_EQUAL_INT(NNRT_OK, m->check());
}

static void test_every_single_bit_flip_is_refused(void)
{
    const nnmodel_golden_t *m = with_image();
    uint16_t byte, refused = 0;
    uint8_t bit;
    TEST_ASSERT_NOT_NULL(m);
    TEST_ASSERT_TRUE(m->image_bytes <= sizeof saved);
    setUp_image(m);
    for (byte = 0; byte < m->image_bytes; byte++) {
        for (bit = 0; bit < 8; bit++) {
            m->image[byte] ^= (uint8_t)(1u << bit);
            refused += m->check() != NNRT_OK;
            restore(m);
        }
    }
    TEST_ASSERT_EQUAL_INT(8 * m->image_bytes, refused);
    TEST_ASSERT_EQUAL_INT(NNRT_OK, m->check());
}

static void test_image_of_another_model_is_stale(void)
{
    const nnmodel_golden_t *m = with_image();
    TEST_ASSERT_NOT_NULL(m);
    setUp_image(m);
    m->image[6] ^= 0x5Au; /* another model hash, with a valid CRC: an intact but foreign image */
    rewrite_crc(m);
    TEST_ASSERT_EQUAL_INT(NNRT_ERR_STALE, m->check());
    restore(m);
}

static void test_erased_eeprom_is_missing(void)
{
    const nnmodel_golden_t *m = with_image();
    TEST_ASSERT_NOT_NULL(m);
    setUp_image(m);
    memset(m->image, 0xFF, m->image_bytes);
    TEST_ASSERT_EQUAL_INT(NNRT_ERR_MISSING, m->check());
    restore(m);
    TEST_ASSERT_EQUAL_INT(NNRT_OK, m->check());
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_good_image_is_accepted);
    RUN_TEST(test_every_single_bit_flip_is_refused);
    RUN_TEST(test_image_of_another_model_is_stale);
    RUN_TEST(test_erased_eeprom_is_missing);
    return UNITY_END();
}
