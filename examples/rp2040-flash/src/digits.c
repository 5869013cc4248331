#include "digits.h"

#include "nnmodel.h"
#include "nnmodel_samples.h"

/* Decimal of v at out (no terminator); the characters written. */
static uint8_t put_u(char *out, uint32_t v)
{
    char tmp[10];
    uint8_t n = 0, len = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) {
        out[len++] = tmp[--n];
    }
    return len;
}

static uint8_t put_s(char *out, const char *s)
{
    uint8_t len = 0;
    while (s[len]) {
        out[len] = s[len];
        len++;
    }
    return len;
}

uint16_t digits_run(void (*line)(const char *text))
{
    char text[48];
    uint16_t k, right = 0;
    for (k = 0; k < NNMODEL_SAMPLE_COUNT; k++) {
        const uint16_t digit = nnmodel_sample_classify(k, 0); /* streamed row by row from flash */
        const uint8_t label = nnmodel_sample_label(k);
        uint8_t n = put_s(text, "digit ");
        n += put_u(text + n, k);
        n += put_s(text + n, ": class ");
        n += put_u(text + n, digit);
        n += put_s(text + n, ", label ");
        n += put_u(text + n, label);
        text[n] = '\0';
        line(text);
        right += digit == label;
    }
    return right;
}
