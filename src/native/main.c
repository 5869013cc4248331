/* nnmodel host demo: classify the embedded sample digits with the model generated from
 * custom_nnmodel_model, row by row, and print predictions, accuracy and cost per inference.
 * Plain C99 on the shared nnsim.h API, so the rv32imc_sim env runs it in QEMU too. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "nnmodel.h"
#include "nnmodel_samples.h"
#include "nnsim.h"

int main(void)
{
    int32_t logits[NNMODEL_NUM_CLASSES];
    uint16_t k, correct = 0;
    uint32_t cost = 0;
    nnrt_status_t status = nnmodel_check();

    printf("model %s: %u classes, %lu MACs, %u B RAM, weights in %s\n", NNMODEL_NAME,
           (unsigned)NNMODEL_NUM_CLASSES, (unsigned long)NNMODEL_MACS, (unsigned)NNMODEL_RAM_BYTES,
           NNMODEL_STORAGE);
    if (status != NNRT_OK) {
        printf("model storage refused: %s\n", nnrt_status_name(status));
        return 1;
    }
    for (k = 0; k < NNMODEL_SAMPLE_COUNT; k++) {
        nnsim_mark_t mark = nnsim_region_begin();
        uint16_t predicted = nnmodel_sample_classify(k, logits);
        uint8_t label = nnmodel_sample_label(k);
        cost += nnsim_region_end(mark);
        correct += predicted == label;
        printf("digit %3u: predicted %u, label %u%s\n", (unsigned)k, (unsigned)predicted, (unsigned)label,
               predicted == label ? "" : "  <- miss");
    }
    printf("accuracy on %u sample digits: %u/%u = %.2f%%\n", (unsigned)NNMODEL_SAMPLE_COUNT, (unsigned)correct,
           (unsigned)NNMODEL_SAMPLE_COUNT, 100.0 * correct / NNMODEL_SAMPLE_COUNT);
#if NNSIM_HAS_COST
    printf("%lu %s per inference (simulator, exact)\n", (unsigned long)(cost / NNMODEL_SAMPLE_COUNT),
           NNSIM_COST_UNIT);
#else
    {
        /* Host timing: repeat the whole sample until a measurable interval has passed. */
        const clock_t start = clock();
        unsigned long runs = 0;
        double seconds;
        do {
            for (k = 0; k < NNMODEL_SAMPLE_COUNT; k++) {
                cost += nnmodel_sample_classify(k, logits);
            }
            runs += NNMODEL_SAMPLE_COUNT;
            seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
        } while (seconds < 0.2);
        printf("%.2f us per inference on this host (%lu runs)\n", 1e6 * seconds / (double)runs, runs);
    }
#endif
    (void)cost;
    return 0;
}
