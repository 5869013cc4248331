/* Benchmark driver of nnmodel.sim.rv32 and nnmodel.sim.cortexm (`nnmodel bench`): bare metal, run in
 * QEMU. bench_<isa>.h gives what differs between the instruction sets: how instructions are
 * counted, how the stack pointer is read and where free RAM starts.
 *
 * Prints, one line each:
 *   digit K INSTRUCTIONS L0 L1 ...   every embedded sample digit: instructions executed inside the
 *                                    model calls (begin, feed_row x rows, finish) and its logits
 *   worst INSTRUCTIONS               the same for an all-255 image: no pixel can be skipped
 *   stack BYTES                      stack peak of one streamed inference below its caller,
 *                                    the row buffer and the logits included (painted RAM)
 * The caller's copy of each row into the row buffer is not counted: a device fills it from its
 * input (serial, camera) anyway.
 */
#include <stdint.h>
#include <stdio.h>

#include "nnmodel.h"
#include "nnmodel_samples.h"

#if defined(__riscv)
#include "bench_rv32.h"
#elif defined(__arm__)
#include "bench_cortexm.h"
#else
#error "bench_driver.c: no bench_<isa>.h for this instruction set"
#endif

#define PAINT 0xA5A5A5A5u

static volatile int32_t sink;

static __attribute__((noinline)) uint32_t run(uint16_t k, int all255, int32_t *logits)
{
    uint8_t row[NNMODEL_INPUT_COLS];
    uint32_t n = 0;
    uint16_t r, c;
    bench_mark_t m = bench_region_begin();
    nnmodel_begin();
    n += bench_region_end(m);
    for (r = 0; r < NNMODEL_INPUT_ROWS; r++) {
        if (all255) {
            for (c = 0; c < NNMODEL_INPUT_COLS; c++) {
                row[c] = 255u;
            }
        } else {
            nnmodel_sample_row(k, r, row);
        }
        m = bench_region_begin();
        nnmodel_feed_row((const void *)row); /* the row's bytes are the model's codes, uint8 or int8 */
        n += bench_region_end(m);
    }
    m = bench_region_begin();
    nnmodel_finish(logits);
    n += bench_region_end(m);
    return n;
}

static __attribute__((noinline)) void one_inference(void)
{
    int32_t logits[NNMODEL_NUM_CLASSES];
    (void)run(0, 1, logits);
    sink = logits[0];
}

int main(void)
{
    int32_t logits[NNMODEL_NUM_CLASSES];
    uint16_t k, j;
    uint32_t worst, stack;
    volatile uint32_t *p, *floor;
    uintptr_t sp;

    if (nnmodel_check() != NNRT_OK) {
        printf("error model check\n");
        return 1;
    }
    /* Stack first, before stdio has run: paint the free RAM between its floor and our frame,
     * infer, find the lowest word that changed. */
    sp = bench_sp() & ~(uintptr_t)3u;
    floor = bench_ram_floor();
    for (p = floor; (uintptr_t)p < sp; p++) {
        *p = PAINT;
    }
    one_inference();
    for (p = floor; (uintptr_t)p < sp && *p == PAINT; p++) {
    }
    stack = (uint32_t)(sp - (uintptr_t)p);

    for (k = 0; k < NNMODEL_SAMPLE_COUNT; k++) {
        uint32_t n = run(k, 0, logits);
        printf("digit %u %lu", (unsigned)k, (unsigned long)n);
        for (j = 0; j < NNMODEL_NUM_CLASSES; j++) {
            printf(" %ld", (long)logits[j]);
        }
        printf("\n");
    }
    worst = run(0, 1, logits);
    printf("worst %lu\nstack %lu\n", (unsigned long)worst, (unsigned long)stack);
    return 0;
}
