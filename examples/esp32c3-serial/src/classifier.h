/* The example's serial protocol, in portable C: bytes in, reply lines out. */
#ifndef CLASSIFIER_H
#define CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Feed one received byte. When it completes a frame ('N' and the image's pixels, row by row) the
 * reply line ("class C logits L0 .. Ln\n") is written to reply and its length returned; else 0.
 * Bytes outside a frame other than 'N' are ignored, so a lost byte costs one frame, not the link. */
size_t classifier_feed(uint8_t byte, char *reply, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
