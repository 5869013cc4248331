/* Host driver for generated models: nnmodel verify/eval/bench and the pytest suite run it.
 *
 *   driver logits IMAGES OUT      stream each image row by row; write its int32 LE logits, then
 *                                 the class nnmodel_finish returned, to OUT
 *   driver time IMAGES REPEATS    print nanoseconds per inference (classify, CPU time)
 *   driver check [BYTE BIT]       print the storage check status, after flipping one image bit
 *   driver raw RAW OUT            (version-3 models) feed each input's int32 LE raw readings with
 *                                 feed_raw; write its logits, class and NUM_CLASSES outputs of
 *                                 nnmodel_output (int32 LE) to OUT
 *
 * IMAGES is the input codes (uint8 pixels, or the model's int8 codes), NNMODEL_INPUT_ROWS *
 * NNMODEL_INPUT_COLS bytes per input. The driver may use malloc and stdio; the runtime it drives
 * does not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnmodel.h"

#define IMAGE_BYTES ((size_t)NNMODEL_INPUT_ROWS * NNMODEL_INPUT_COLS)
/* Codes go in as bytes: a void pointer converts to the model's uint8_t or int8_t row type. */
#define CODES(p) ((const void *)(p))

static void put_le32(unsigned char *le, uint32_t v)
{
    le[0] = (unsigned char)v;
    le[1] = (unsigned char)(v >> 8);
    le[2] = (unsigned char)(v >> 16);
    le[3] = (unsigned char)(v >> 24);
}

static unsigned char *read_all(const char *path, size_t *n_images, size_t unit)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data;
    long size;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    data = (unsigned char *)malloc((size_t)size + 1);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size || (size_t)size % unit) {
        fprintf(stderr, "%s: not a whole number of inputs\n", path);
        exit(2);
    }
    fclose(f);
    *n_images = (size_t)size / unit;
    return data;
}

static FILE *open_out(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "cannot write %s\n", path);
    }
    return f;
}

static void require_ok(void)
{
    nnrt_status_t st = nnmodel_check();
    if (st != NNRT_OK) {
        fprintf(stderr, "model storage check failed: %s\n", nnrt_status_name(st));
        exit(3);
    }
}

static int cmd_logits(const char *in, const char *out)
{
    size_t n, k;
    unsigned r, j;
    int32_t logits[NNMODEL_NUM_CLASSES];
    unsigned char le[4 * (NNMODEL_NUM_CLASSES + 1)];
    unsigned char *images = read_all(in, &n, IMAGE_BYTES);
    FILE *f = open_out(out);
    if (f == NULL) {
        return 2;
    }
    require_ok();
    for (k = 0; k < n; k++) {
        nnmodel_begin();
        for (r = 0; r < NNMODEL_INPUT_ROWS; r++) {
            nnmodel_feed_row(CODES(images + k * IMAGE_BYTES + (size_t)r * NNMODEL_INPUT_COLS));
        }
        uint16_t cls = nnmodel_finish(logits);
        for (j = 0; j <= NNMODEL_NUM_CLASSES; j++) {
            put_le32(le + 4 * j, j < NNMODEL_NUM_CLASSES ? (uint32_t)logits[j] : cls);
        }
        fwrite(le, 1, sizeof le, f);
    }
    free(images);
    return fclose(f) == 0 ? 0 : 2;
}

static int cmd_time(const char *in, long repeats)
{
    size_t n, k;
    long rep;
    unsigned long sink = 0;
    clock_t t0;
    double seconds;
    unsigned char *images = read_all(in, &n, IMAGE_BYTES);
    require_ok();
    t0 = clock();
    for (rep = 0; rep < repeats; rep++) {
        for (k = 0; k < n; k++) {
            sink += nnmodel_classify(CODES(images + k * IMAGE_BYTES), NULL);
        }
    }
    seconds = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("%.1f ns/inference (%lu)\n", 1e9 * seconds / ((double)repeats * (double)n), sink);
    free(images);
    return 0;
}

static int cmd_check(int argc, char **argv)
{
#if NNMODEL_HAS_IMAGE
    if (argc == 4) {
        long byte = atol(argv[2]), bit = atol(argv[3]);
        if (byte < 0 || byte >= (long)NNMODEL_IMAGE_BYTES || bit < 0 || bit > 7) {
            fprintf(stderr, "byte/bit out of range\n");
            return 2;
        }
        nnmodel_image[byte] ^= (uint8_t)(1u << bit);
    }
#else
    (void)argv;
    if (argc == 4) {
        fprintf(stderr, "this model has no EEPROM image\n");
        return 2;
    }
#endif
    printf("%d %s\n", (int)nnmodel_check(), nnrt_status_name(nnmodel_check()));
    return 0;
}

#ifdef NNMODEL_INPUT_FEATURES
static int cmd_raw(const char *in, const char *out)
{
    size_t n, k, i;
    unsigned r, j;
    int32_t row[NNMODEL_INPUT_COLS];
    int32_t logits[NNMODEL_NUM_CLASSES];
    unsigned char le[4 * (2 * NNMODEL_NUM_CLASSES + 1)];
    unsigned char *raw = read_all(in, &n, 4 * IMAGE_BYTES);
    FILE *f = open_out(out);
    if (f == NULL) {
        return 2;
    }
    require_ok();
    for (k = 0; k < n; k++) {
        nnmodel_begin();
        for (r = 0; r < NNMODEL_INPUT_ROWS; r++) {
            const unsigned char *p = raw + 4 * (k * IMAGE_BYTES + (size_t)r * NNMODEL_INPUT_COLS);
            for (i = 0; i < NNMODEL_INPUT_COLS; i++, p += 4) {
                row[i] = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
            }
            nnmodel_feed_raw(row);
        }
        uint16_t cls = nnmodel_finish(logits);
        for (j = 0; j < NNMODEL_NUM_CLASSES; j++) {
            put_le32(le + 4 * j, (uint32_t)logits[j]);
            put_le32(le + 4 * (NNMODEL_NUM_CLASSES + 1 + j), (uint32_t)nnmodel_output((uint16_t)j));
        }
        put_le32(le + 4 * NNMODEL_NUM_CLASSES, cls);
        fwrite(le, 1, sizeof le, f);
    }
    free(raw);
    return fclose(f) == 0 ? 0 : 2;
}
#endif

int main(int argc, char **argv)
{
#ifdef NNMODEL_INPUT_FEATURES
    if (argc == 4 && strcmp(argv[1], "raw") == 0) {
        return cmd_raw(argv[2], argv[3]);
    }
#endif
    if (argc == 4 && strcmp(argv[1], "logits") == 0) {
        return cmd_logits(argv[2], argv[3]);
    }
    if (argc == 4 && strcmp(argv[1], "time") == 0) {
        return cmd_time(argv[2], atol(argv[3]));
    }
    if ((argc == 2 || argc == 4) && strcmp(argv[1], "check") == 0) {
        return cmd_check(argc, argv);
    }
    fprintf(stderr, "usage: driver logits IMAGES OUT | time IMAGES REPEATS | check [BYTE BIT]\n");
    return 2;
}
