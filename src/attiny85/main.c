/* ATtiny85 firmware entry point; the firmware itself is app.c (see there).
 *
 * On the chip it runs forever: check the EEPROM model, then blink the class of each sample digit
 * in PROGMEM (custom_nnmodel_samples) on PB1: digit d = d+1 blinks, then a pause; or the error
 * pattern if the image is refused. The simulator build (NNMODEL_SIM) makes one pass and returns,
 * ending the simavr run with the status. `pio test` builds src/ too (test_build_src) and brings
 * its own main(): hence the guard. */
#include "app.h"
#include "nnmodel.h"
#include "nnmodel_samples.h"

#if NNMODEL_SAMPLE_COLS != NNMODEL_INPUT_COLS || NNMODEL_SAMPLE_ROWS != NNMODEL_INPUT_ROWS
#error "the embedded samples do not have the model's input shape"
#endif

#ifndef PIO_UNIT_TESTING
int main(void)
{
#ifdef NNMODEL_SIM
    return (int)app_run(1, nnmodel_sample_row, NNMODEL_SAMPLE_COUNT);
#else
    (void)app_run(0, nnmodel_sample_row, NNMODEL_SAMPLE_COUNT); /* never returns */
    return 0;
#endif
}
#endif
