/* nnweb: the HTTP endpoints of the draw-a-digit demo (docs/draw-a-digit.md), transport-free.
 *
 * A web server (Python's http.server on the host through ctypes, Arduino's WebServer on the
 * ESP32-C3) hands each request's method, path, Content-Type, Content-Length and body to
 * nnweb_handle() and sends back the status, type and body it gets. So the routing, the input
 * validation, the classification and the JSON are this one C file on both, and the two endpoints
 * answer every request, malformed ones included, byte for byte the same.
 *
 *   GET  /         the page (nnmodel_web_page.c, generated from nnmodel/demo/page.html)
 *   GET  /model    JSON: model name, hash, input size, labels, logit scales (generated)
 *   POST /predict  body: the 28x28 uint8 image as 1568 hex digits (text/plain; white space is
 *                  ignored) -> {"class":7,"label":"7","logits":[...],"us":12,"device":"host"}
 *   anything else, and every malformed request: 4xx with {"error":"one-line message"}
 *
 * Why hex text, not 784 raw bytes: Arduino-ESP32's WebServer keeps a plain POST body as a C
 * string (server.arg("plain") = String(buffer)), which ends at the first zero byte, and an MNIST
 * image is mostly zero bytes.
 *
 * Portable C99: no malloc, no float, no stdio. The image is decoded and fed to the model row by
 * row; nothing holds all its pixels.
 */
#ifndef NNWEB_H
#define NNWEB_H

#include <stddef.h>
#include <stdint.h>

#include "nnrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits; the buffers may be resized with -D. */
#ifndef NNWEB_BODY_MAX
#define NNWEB_BODY_MAX 4096u /* bytes of a POST body; more is 413 */
#endif
#ifndef NNWEB_MAX_COLS
#define NNWEB_MAX_COLS 64u /* pixels per image row: the row buffer */
#endif
#ifndef NNWEB_MAX_CLASSES
#define NNWEB_MAX_CLASSES 16u
#endif
#define NNWEB_LABEL_MAX 32u  /* characters of a label (the model format's limit) */
#define NNWEB_DEVICE_MAX 32u /* characters of the device name */
/* The longest reply: a prediction whose label and device name are escaped as \u00XX throughout. */
#define NNWEB_REPLY_MAX (128u + 6u * NNWEB_LABEL_MAX + 6u * NNWEB_DEVICE_MAX + 12u * NNWEB_MAX_CLASSES)

/* The model: its description and streaming API (nnmodel.h). */
typedef struct {
    const char *name;
    uint16_t rows, cols, n_classes;
    const char *const *labels; /* n_classes strings */
    void (*begin)(void);
    void (*feed_row)(const uint8_t *row);
    uint16_t (*finish)(int32_t *logits);
    nnrt_status_t (*check)(void);
} nnweb_model_t;

/* The nnweb_model_t of the model in the generated nnmodel.h (include it first), as a constant
 * initializer; `labels` is an array initialized with NNMODEL_LABELS. */
#define NNWEB_MODEL_OF_NNMODEL(labels)                                                             \
    {NNMODEL_NAME, NNMODEL_INPUT_ROWS, NNMODEL_INPUT_COLS, NNMODEL_NUM_CLASSES, (labels),          \
     nnmodel_begin, nnmodel_feed_row, nnmodel_finish, nnmodel_check}

/* What the server serves besides predictions. */
typedef struct {
    const uint8_t *page; /* GET /: the HTML page (nnmodel_web_page) */
    size_t page_bytes;
    const char *info;   /* GET /model: JSON text (nnmodel_web_info) */
    const char *device; /* named in every prediction, e.g. "ESP32-C3" or "host" */
    uint32_t (*clock_us)(void *ctx); /* times the model calls (micros()); NULL: "us":0 */
    void *ctx;
} nnweb_site_t;

/* One request. Strings are NUL-terminated; content_type and content_length are the header
 * values as received, NULL when the header is absent. The path may carry a query (ignored). */
typedef struct {
    const char *method;
    const char *path;
    const char *content_type;
    const char *content_length;
} nnweb_request_t;

/* The answer: send `status`, a Content-Type header, an Allow header when allow != NULL (405),
 * then body_bytes bytes of body. body points into the nnweb_t or the site's page: valid until
 * the next call with the same nnweb_t. */
typedef struct {
    uint16_t status;
    const char *content_type;
    const char *allow;
    const uint8_t *body;
    size_t body_bytes;
} nnweb_response_t;

/* Server state. Allocate it statically; the fields are private to nnweb.c. One request at a
 * time per nnweb_t (the model itself is a single static instance). */
typedef struct {
    const nnweb_model_t *model;
    const nnweb_site_t *site;
    uint8_t row[NNWEB_MAX_COLS];
    int32_t logits[NNWEB_MAX_CLASSES];
    char reply[NNWEB_REPLY_MAX];
    size_t reply_len;
} nnweb_t;

/* 0 on success; -1 when a pointer is NULL, the model exceeds this build's limits
 * (NNWEB_MAX_COLS, NNWEB_MAX_CLASSES, an image whose hex exceeds NNWEB_BODY_MAX), a label is longer than NNWEB_LABEL_MAX or the device
 * name longer than NNWEB_DEVICE_MAX. */
int nnweb_init(nnweb_t *w, const nnweb_model_t *model, const nnweb_site_t *site);

/* Everything that can be decided before reading the body: the route, the method, and the
 * Content-Length (absent: 411; not a number: 400; over NNWEB_BODY_MAX: 413). Returns 0 when
 * the server should read Content-Length bytes (at most NNWEB_BODY_MAX) and call nnweb_handle;
 * otherwise the status of the answer in *resp. Servers that read the body themselves first
 * (Arduino's WebServer) skip this: nnweb_handle makes the same checks. */
uint16_t nnweb_head(nnweb_t *w, const nnweb_request_t *req, nnweb_response_t *resp);

/* The answer to a whole request (body: NULL when body_bytes is 0). Returns resp->status. */
uint16_t nnweb_handle(nnweb_t *w, const nnweb_request_t *req, const uint8_t *body, size_t body_bytes,
                      nnweb_response_t *resp);

#ifdef __cplusplus
}
#endif

#endif /* NNWEB_H */
