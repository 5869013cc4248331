/* RV32IMC benchmark driver (nnmodel.sim.rv32, `nnmodel bench`): bare metal with picolibc, run in QEMU
 * `virt` with -icount shift=0 (so minstret counts exactly) and semihosting for the output.
 *
 * Prints, one line each:
 *   digit K INSTRUCTIONS L0 L1 ...   every embedded sample digit: instructions retired inside the
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

#define PAINT 0xA5A5A5A5u

extern uint32_t __end[]; /* picolibc.ld: end of .bss, where free RAM (and the stack's floor) starts */

static volatile int32_t sink;

static inline uint32_t instret(void)
{
    uint32_t v;
    __asm__ __volatile__("csrr %0, minstret" : "=r"(v)::"memory");
    return v;
}

static inline uintptr_t stack_pointer(void)
{
    uintptr_t sp;
    __asm__ __volatile__("mv %0, sp" : "=r"(sp));
    return sp;
}

/* Instructions inside the model calls; "- 1" drops the closing csrr (an empty region is 0). */
static __attribute__((noinline)) uint32_t run(uint16_t k, int all255, int32_t *logits)
{
    uint8_t row[NNMODEL_INPUT_COLS];
    uint32_t n = 0, t;
    uint16_t r, c;
    t = instret();
    nnmodel_begin();
    n += instret() - t - 1u;
    for (r = 0; r < NNMODEL_INPUT_ROWS; r++) {
        if (all255) {
            for (c = 0; c < NNMODEL_INPUT_COLS; c++) {
                row[c] = 255u;
            }
        } else {
            nnmodel_sample_row(k, r, row);
        }
        t = instret();
        nnmodel_feed_row(row);
        n += instret() - t - 1u;
    }
    t = instret();
    nnmodel_finish(logits);
    n += instret() - t - 1u;
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
    volatile uint32_t *p;
    uintptr_t sp;

    if (nnmodel_check() != NNRT_OK) {
        printf("error model check\n");
        return 1;
    }
    /* Stack first, before stdio has run: paint all free RAM below our frame, infer, find the
     * lowest word that changed. */
    sp = stack_pointer() & ~(uintptr_t)3u;
    for (p = __end; (uintptr_t)p < sp; p++) {
        *p = PAINT;
    }
    one_inference();
    for (p = __end; (uintptr_t)p < sp && *p == PAINT; p++) {
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
