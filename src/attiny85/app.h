/* The ATtiny85 firmware's parts, apart from main() so the simulator tests (test/attiny85/
 * test_firmware, test_build_src = yes) run the very code the chip runs. */
#ifndef APP_H
#define APP_H

#include <stdint.h>

#include "nnrt.h"

/* Copies row r (asked for in order 0, 1, …) of digit k into row[0..NNMODEL_INPUT_COLS). The
 * firmware reads its samples from PROGMEM (nnmodel_sample_row); tests stream theirs from the
 * harness, so they need not hold the samples in their 8 KB of flash. */
typedef void (*app_row_source_t)(uint16_t k, uint16_t r, uint8_t *row);

/* LED timing in ms on the chip; NNMODEL_SIM builds run 100 times faster (APP_TIME_SCALE). */
#define APP_DIGIT_ON_MS 250u
#define APP_DIGIT_OFF_MS 250u
#define APP_DIGIT_PAUSE_MS 1500u /* after the last blink of a digit */
#define APP_ERROR_FAST_COUNT 10u
#define APP_ERROR_FAST_MS 50u    /* on and off */
#define APP_ERROR_GAP_MS 600u    /* between the fast burst and the status flashes */
#define APP_ERROR_SLOW_ON_MS 600u
#define APP_ERROR_SLOW_OFF_MS 400u
#define APP_ERROR_PAUSE_MS 1500u /* after the status flashes, before the pattern repeats */
#ifdef NNMODEL_SIM
#define APP_TIME_SCALE 100u
#else
#define APP_TIME_SCALE 1u
#endif

/* LED pin (PB1) as output, LED off. */
void app_init(void);
/* Streams digit k through the model; returns its class, writes the logits if not NULL. */
uint16_t app_classify(app_row_source_t source, uint16_t k, int32_t *logits);
/* Digit d: d+1 blinks, then a pause (so 0 is visible). */
void app_show_digit(uint16_t digit);
/* One round of the error pattern: 10 fast flashes, then `status` slow ones
 * (1 missing, 2 version, 3 length, 4 stale, 5 corrupt), then a pause. */
void app_show_error(nnrt_status_t status);
/* The firmware: check the EEPROM model, then classify digits 0..count-1 of `source` and show
 * each class; on a refused image show the error pattern and classify nothing. rounds = 0 repeats
 * forever (the chip); otherwise returns after that many passes (or error rounds) with the status. */
nnrt_status_t app_run(uint8_t rounds, app_row_source_t source, uint16_t count);

#endif /* APP_H */
