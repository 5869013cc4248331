/* The example's work, in portable C: classify the sample digits and report them line by line. */
#ifndef DIGITS_H
#define DIGITS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Classify every sample digit; for each, line() gets "digit K: class C, label L". Returns how many
 * the model got right. */
uint16_t digits_run(void (*line)(const char *text));

#ifdef __cplusplus
}
#endif

#endif
