/* The bench's host timing of nnmodel's integer C against a float32 twin of the same network
 * (nnmodel/sim/float_twin.py), built with the same flags into one program and timed interleaved:
 * round r times the integer code over every image, then the float code, and so on, so frequency
 * and cache effects fall on both alike. Prints the median ns per inference of each.
 *
 *   bench_float IMAGES ROUNDS REPEATS
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c99 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nnmodel.h"

int float_twin_classify(const uint8_t *pixels);

#define IMAGE_BYTES ((size_t)NNMODEL_INPUT_ROWS * NNMODEL_INPUT_COLS)
#define MAX_ROUNDS 64

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    double t_int[MAX_ROUNDS], t_float[MAX_ROUNDS], t0;
    unsigned long sink = 0, agree = 0;
    long rounds, repeats, r, rep;
    size_t n, k;
    long size;
    uint8_t *images;
    FILE *f;
    if (argc != 4 || (rounds = atol(argv[2])) < 1 || rounds > MAX_ROUNDS || (repeats = atol(argv[3])) < 1) {
        fprintf(stderr, "usage: bench_float IMAGES ROUNDS(1-%d) REPEATS\n", MAX_ROUNDS);
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 2;
    }
    n = (size_t)size / IMAGE_BYTES;
    images = (uint8_t *)malloc(n * IMAGE_BYTES);
    if (images == NULL || n == 0 || fread(images, IMAGE_BYTES, n, f) != n) {
        fprintf(stderr, "%s: short read\n", argv[1]);
        return 2;
    }
    fclose(f);
    for (k = 0; k < n; k++) {
        agree += nnmodel_classify(images + k * IMAGE_BYTES, NULL) == float_twin_classify(images + k * IMAGE_BYTES);
    }
    for (r = 0; r < rounds; r++) {
        t0 = now();
        for (rep = 0; rep < repeats; rep++) {
            for (k = 0; k < n; k++) {
                sink += (unsigned long)nnmodel_classify(images + k * IMAGE_BYTES, NULL);
            }
        }
        t_int[r] = (now() - t0) / ((double)repeats * (double)n);
        t0 = now();
        for (rep = 0; rep < repeats; rep++) {
            for (k = 0; k < n; k++) {
                sink += (unsigned long)float_twin_classify(images + k * IMAGE_BYTES);
            }
        }
        t_float[r] = (now() - t0) / ((double)repeats * (double)n);
    }
    qsort(t_int, (size_t)rounds, sizeof t_int[0], by_value);
    qsort(t_float, (size_t)rounds, sizeof t_float[0], by_value);
    printf("int %.1f ns float %.1f ns agree %lu/%lu (%lu)\n", 1e9 * t_int[rounds / 2], 1e9 * t_float[rounds / 2],
           agree, (unsigned long)n, sink);
    free(images);
    return 0;
}
