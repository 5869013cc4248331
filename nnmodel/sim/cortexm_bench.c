/* Cortex-M4 benchmark driver (nnmodel.sim.cortexm, `nnmodel bench`): bare metal with newlib, linked
 * with the cortexm-qemu-sim platform's startup and memory map, run in QEMU mps2-an386 with
 * -icount shift=7 so that the platform's nnsim.h counts executed instructions exactly.
 *
 * Prints the lines of rv32_bench.c:
 *   digit K INSTRUCTIONS L0 L1 ...   every embedded sample digit: instructions inside the model
 *                                    calls (begin, feed_row x rows, finish) and its logits
 *   worst INSTRUCTIONS               the same for an all-255 image: no pixel can be skipped
 *   stack BYTES                      stack peak of one streamed inference below its caller,
 *                                    the row buffer and the logits included (painted RAM)
 * The caller's copy of each row into the row buffer is not counted, as on RV32.
 */
#include <stdint.h>
#include <stdio.h>

#include "nnmodel.h"
#include "nnmodel_samples.h"
#include "nnsim.h"

static volatile int32_t sink;

static __attribute__((noinline)) uint32_t run(uint16_t k, int all255, int32_t *logits)
{
    uint8_t row[NNMODEL_INPUT_COLS];
    uint32_t n = 0;
    uint16_t r, c;
    nnsim_mark_t m = nnsim_region_begin();
    nnmodel_begin();
    n += nnsim_region_end(m);
    for (r = 0; r < NNMODEL_INPUT_ROWS; r++) {
        if (all255) {
            for (c = 0; c < NNMODEL_INPUT_COLS; c++) {
                row[c] = 255u;
            }
        } else {
            nnmodel_sample_row(k, r, row);
        }
        m = nnsim_region_begin();
        nnmodel_feed_row(row);
        n += nnsim_region_end(m);
    }
    m = nnsim_region_begin();
    nnmodel_finish(logits);
    n += nnsim_region_end(m);
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
    /* Stack first: paint the free RAM between the heap (newlib's) and our frame, infer, find the
     * lowest word that changed. */
    sp = nnsim__sp() & ~(uintptr_t)3u;
    floor = nnsim__heap_end();
    for (p = floor; (uintptr_t)p < sp; p++) {
        *p = NNSIM__PAINT;
    }
    one_inference();
    for (p = floor; (uintptr_t)p < sp && *p == NNSIM__PAINT; p++) {
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
