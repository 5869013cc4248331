/* The offline twin: the same digits.c on a Cortex-M4 in QEMU, printing through semihosting. */
#include <stdio.h>

#include "digits.h"
#include "nnmodel.h"
#include "nnmodel_samples.h"

static void print_line(const char *text) { puts(text); }

int main(void)
{
    unsigned right;
    printf("model %s, weights in %s\n", NNMODEL_NAME, NNMODEL_STORAGE);
    right = digits_run(print_line);
    printf("%u of %u right\n", right, (unsigned)NNMODEL_SAMPLE_COUNT);
    return 0;
}
