#include "classifier.h"

#include "nnmodel.h"

static uint8_t row[NNMODEL_INPUT_COLS];
static uint16_t col, rows_done;
static uint8_t in_frame;

/* Decimal of v at out, returns the characters written (int32 needs at most 11). */
static size_t put_int(char *out, int32_t v)
{
    char tmp[11];
    size_t n = 0, len = 0;
    uint32_t u = v < 0 ? (uint32_t)0 - (uint32_t)v : (uint32_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    if (v < 0) {
        out[len++] = '-';
    }
    while (n) {
        out[len++] = tmp[--n];
    }
    return len;
}

size_t classifier_feed(uint8_t byte, char *reply, size_t cap)
{
    int32_t logits[NNMODEL_NUM_CLASSES];
    size_t len = 0;
    uint16_t j, best;
    if (!in_frame) {
        in_frame = byte == 'N';
        col = rows_done = 0;
        if (in_frame) {
            nnmodel_begin();
        }
        return 0;
    }
    row[col++] = byte;
    if (col < NNMODEL_INPUT_COLS) {
        return 0;
    }
    col = 0;
    nnmodel_feed_row(row); /* streaming: one row at a time, as it arrives */
    if (++rows_done < NNMODEL_INPUT_ROWS) {
        return 0;
    }
    in_frame = 0;
    best = nnmodel_finish(logits);
    if (cap < 6u + 1u + 7u + 12u * NNMODEL_NUM_CLASSES + 1u) {
        return 0;
    }
    for (j = 0; "class "[j]; j++) {
        reply[len++] = "class "[j];
    }
    len += put_int(reply + len, best);
    for (j = 0; " logits"[j]; j++) {
        reply[len++] = " logits"[j];
    }
    for (j = 0; j < NNMODEL_NUM_CLASSES; j++) {
        reply[len++] = ' ';
        len += put_int(reply + len, logits[j]);
    }
    reply[len++] = '\n';
    return len;
}
