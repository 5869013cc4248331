/* nnserial: the serial protocol of nnmodel devices, specified in docs/serial-protocol.md.
 *
 * A host sends text command lines (PING, INFO, CLASSIFY); CLASSIFY's line declares the length and
 * CRC-16 of the raw image bytes that follow it. The device streams those bytes row by row into the
 * model as they arrive (it never holds the whole image) and answers every frame with exactly one
 * text line: `ok ...` or `err CODE message`.
 *
 * Portable C99: no malloc, no float, fixed-size buffers, one byte at a time from any source. The
 * caller owns the clock: it passes the current time in milliseconds with every byte and calls
 * nnser_poll() from its idle loop, so a frame that stops half-way ends with `err timeout` instead
 * of hanging the device. The same code runs in the ESP32-C3 firmware (Arduino Serial) and in the
 * host "device" (src/native_device, over a pseudo-terminal) that the pytest suite talks to.
 */
#ifndef NNSERIAL_H
#define NNSERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "nnrt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NNSER_PROTOCOL_VERSION 1u

/* Limits (docs/serial-protocol.md, "Limits"). The three buffers may be resized with -D. */
#ifndef NNSER_LINE_MAX
#define NNSER_LINE_MAX 64u /* bytes of a command line, without its \n */
#endif
#ifndef NNSER_MAX_COLS
#define NNSER_MAX_COLS 64u /* pixels per image row: the row buffer */
#endif
#ifndef NNSER_MAX_CLASSES
#define NNSER_MAX_CLASSES 16u
#endif
#define NNSER_MAX_PAYLOAD 65535u /* largest CLASSIFY length the parser can count (and drop) */
#define NNSER_PING_TOKEN_MAX 32u
#define NNSER_TIMEOUT_MS 1000u /* a started frame that stalls this long is dropped: err timeout */
#define NNSER_QUIET_MS 50u     /* after a framing error, input is dropped until this long a pause */
#define NNSER_REPLY_MAX (96u + 12u * NNSER_MAX_CLASSES)

/* The model a device serves: its description for INFO and its streaming API (nnmodel.h). */
typedef struct {
    const char *name;    /* NNMODEL_NAME */
    const char *layers;  /* NNMODEL_LAYERS, e.g. "dense:784->128:relu,dense:128->10:none" */
    const char *storage; /* NNMODEL_STORAGE */
    uint32_t hash;       /* NNMODEL_HASH */
    uint32_t macs;       /* NNMODEL_MACS */
    uint32_t payload_bytes;
    uint32_t ram_bytes;  /* NNMODEL_RAM_BYTES: static buffers of the model */
    uint16_t rows, cols, n_classes;
    void (*begin)(void);
    void (*feed_row)(const uint8_t *row);
    uint16_t (*finish)(int32_t *logits);
    nnrt_status_t (*check)(void);
} nnser_model_t;

/* The nnser_model_t of the model in the generated nnmodel.h (include it first), as a constant
 * initializer; `finish_fn` is nnmodel_finish or a wrapper around it. */
#define NNSER_MODEL_OF_NNMODEL(finish_fn)                                                          \
    {NNMODEL_NAME, NNMODEL_LAYERS, NNMODEL_STORAGE, NNMODEL_HASH, NNMODEL_MACS,                    \
     NNMODEL_PAYLOAD_BYTES, NNMODEL_RAM_BYTES, NNMODEL_INPUT_ROWS, NNMODEL_INPUT_COLS,             \
     NNMODEL_NUM_CLASSES, nnmodel_begin, nnmodel_feed_row, (finish_fn), nnmodel_check}

/* Where replies go, and an optional clock that times the model calls: a free-running uint32
 * counter (micros() on Arduino: ticks_per_us = 1; nanoseconds on a host: 1000). Only the calls
 * into the model are timed, not the wait for bytes; the reply's `us` is their sum. */
typedef struct {
    void (*write)(void *ctx, const char *text, size_t n); /* one whole reply line per call */
    uint32_t (*ticks)(void *ctx);                          /* NULL: replies say us=0 */
    uint32_t ticks_per_us;                                 /* 0 is taken as 1 */
    void *ctx;
} nnser_io_t;

/* Parser state. Allocate it statically; the fields are private to nnserial.c. */
typedef struct {
    const nnser_model_t *model;
    const nnser_io_t *io;
    uint32_t timeout_ms, quiet_ms;
    uint32_t last_ms;      /* time of the last byte, or the first clock reading after a reply */
    uint32_t payload_left; /* CLASSIFY bytes still to come */
    uint32_t ticks;        /* time spent in the model for this frame */
    uint16_t line_len, col, crc, crc_expected, payload_len;
    uint8_t state, pending, feeding, model_status;
    uint8_t replied; /* a reply was written since last_ms was read: its time is not the host's */
    char line[NNSER_LINE_MAX + 1u];
    uint8_t row[NNSER_MAX_COLS];
    int32_t logits[NNSER_MAX_CLASSES];
    char reply[NNSER_REPLY_MAX];
    uint16_t reply_len;
} nnser_t;

/* 0 on success; -1 when the model exceeds this build's limits (NNSER_MAX_COLS, NNSER_MAX_CLASSES,
 * a 64 KB image) or a pointer is NULL. Timeouts start at NNSER_TIMEOUT_MS and NNSER_QUIET_MS. */
int nnser_init(nnser_t *s, const nnser_model_t *model, const nnser_io_t *io);

/* Override the two timeouts (tests, slow links); 0 keeps the current value. */
void nnser_set_timeouts(nnser_t *s, uint32_t timeout_ms, uint32_t quiet_ms);

/* One received byte, with the current time in ms (any epoch; wraps after 49 days, harmlessly). The
 * bytes of one read may share the time of that read: a reply written (and blocked) while they are
 * fed is the device's own time, not the host's silence, and is not counted against the timeout. */
void nnser_feed(nnser_t *s, uint8_t byte, uint32_t now_ms);

/* Call whenever no byte is waiting: ends a stalled frame (err timeout) or a resync (the pending
 * error reply). Silence is timed from the last byte, or from the first call after a reply, so a
 * host that writes frames ahead is served in order however long the replies take to go out.
 * Cheap: a few comparisons. */
void nnser_poll(nnser_t *s, uint32_t now_ms);

/* 1 while a frame is partly received (a started line, a payload, or input being dropped). */
int nnser_busy(const nnser_t *s);

/* The model's description as log lines starting with "# " (hosts skip such lines): name, hash,
 * layers, input, classes, MACs, RAM and weight bytes, and the protocol's commands. */
void nnser_write_banner(nnser_t *s);

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of n bytes: the CLASSIFY checksum. */
uint16_t nnser_crc16(const uint8_t *data, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* NNSERIAL_H */
