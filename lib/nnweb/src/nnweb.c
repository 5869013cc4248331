/* nnweb: routing, request validation, classification and JSON of the draw-a-digit endpoints. */
#include "nnweb.h"

#include <string.h>

static const char JSON_TYPE[] = "application/json";
static const char HTML_TYPE[] = "text/html; charset=utf-8";
static const char BODY_TYPE[] = "text/plain"; /* POST /predict: the pixels as hex digits */

/* ------------------------------------------------------------------------------ reply building */

static void put_str(nnweb_t *w, const char *text)
{
    /* Sized for the longest reply (NNWEB_REPLY_MAX); a longer one would be cut, never overflow. */
    while (*text != '\0' && w->reply_len < sizeof w->reply) {
        w->reply[w->reply_len++] = *text++;
    }
}

static void put_u32(nnweb_t *w, uint32_t v)
{
    char text[11];
    char *p = text + sizeof text - 1u;
    *p = '\0';
    do {
        *--p = (char)('0' + (char)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    put_str(w, p);
}

static void put_i32(nnweb_t *w, int32_t v)
{
    if (v < 0) {
        put_str(w, "-");
        put_u32(w, (uint32_t)0 - (uint32_t)v); /* INT32_MIN included */
    } else {
        put_u32(w, (uint32_t)v);
    }
}

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void put_json_string(nnweb_t *w, const char *text)
{
    static const char hex[] = "0123456789abcdef";
    char esc[7] = {'\\', 'u', '0', '0', '0', '0', '\0'};
    put_str(w, "\"");
    for (; *text != '\0'; text++) {
        const unsigned char c = (unsigned char)*text;
        if (c == '"') {
            put_str(w, "\\\"");
        } else if (c == '\\') {
            put_str(w, "\\\\");
        } else if (c < 0x20u || c == 0x7fu) {
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xFu];
            put_str(w, esc);
        } else {
            const char one[2] = {(char)c, '\0'};
            put_str(w, one);
        }
    }
    put_str(w, "\"");
}

static uint16_t respond(nnweb_t *w, nnweb_response_t *resp, uint16_t status, const char *allow)
{
    resp->status = status;
    resp->content_type = JSON_TYPE;
    resp->allow = allow;
    resp->body = (const uint8_t *)w->reply;
    resp->body_bytes = w->reply_len;
    return status;
}

/* {"error":"<parts joined>"}: parts are fixed ASCII text, so they need no escaping. */
static void error_begin(nnweb_t *w, const char *text)
{
    w->reply_len = 0;
    put_str(w, "{\"error\":\"");
    put_str(w, text);
}

static uint16_t error_end(nnweb_t *w, nnweb_response_t *resp, uint16_t status, const char *allow)
{
    put_str(w, "\"}");
    return respond(w, resp, status, allow);
}

static uint16_t fail(nnweb_t *w, nnweb_response_t *resp, uint16_t status, const char *text)
{
    error_begin(w, text);
    return error_end(w, resp, status, NULL);
}

/* ----------------------------------------------------------------------------------- requests */

enum { ROUTE_NONE = 0, ROUTE_PAGE, ROUTE_MODEL, ROUTE_PREDICT };

/* The path up to its query string equals `name`. */
static int path_is(const char *path, const char *name)
{
    const size_t n = strlen(name);
    return strncmp(path, name, n) == 0 && (path[n] == '\0' || path[n] == '?');
}

static int route_of(const char *path)
{
    if (path_is(path, "/")) {
        return ROUTE_PAGE;
    }
    if (path_is(path, "/model")) {
        return ROUTE_MODEL;
    }
    return path_is(path, "/predict") ? ROUTE_PREDICT : ROUTE_NONE;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* `value` is the media type `type` (any case), optionally followed by parameters (";charset=..."). */
static int media_type_is(const char *value, const char *type)
{
    while (is_space(*value)) {
        value++;
    }
    for (; *type != '\0'; type++, value++) {
        if (lower(*value) != *type) {
            return 0;
        }
    }
    while (is_space(*value)) {
        value++;
    }
    return *value == '\0' || *value == ';';
}

/* Content-Length: decimal digits with optional white space around them. -1 when not a number;
 * values over NNWEB_BODY_MAX come out as NNWEB_BODY_MAX + 1 (no overflow for any length). */
static int32_t parse_length(const char *text)
{
    int32_t v = 0;
    int digits = 0;
    while (is_space(*text)) {
        text++;
    }
    for (; *text >= '0' && *text <= '9'; text++, digits++) {
        v = v * 10 + (int32_t)(*text - '0');
        if (v > (int32_t)NNWEB_BODY_MAX) {
            v = (int32_t)NNWEB_BODY_MAX + 1;
        }
    }
    while (is_space(*text)) {
        text++;
    }
    return (digits > 0 && *text == '\0') ? v : -1;
}

static uint32_t image_digits(const nnweb_model_t *m)
{
    return 2u * (uint32_t)m->rows * (uint32_t)m->cols;
}

/* "1568 hex digits (28x28 pixels, two each)" for the model's input size. */
static void put_expected(nnweb_t *w)
{
    put_u32(w, image_digits(w->model));
    put_str(w, " hex digits (");
    put_u32(w, w->model->rows);
    put_str(w, "x");
    put_u32(w, w->model->cols);
    put_str(w, " pixels, two each)");
}

uint16_t nnweb_head(nnweb_t *w, const nnweb_request_t *req, nnweb_response_t *resp)
{
    const int route = route_of(req->path != NULL ? req->path : "");
    const char *method = req->method != NULL ? req->method : "";
    int32_t length;

    if (route == ROUTE_NONE) {
        return fail(w, resp, 404, "no such path: the demo serves GET /, GET /model and POST /predict");
    }
    if (route != ROUTE_PREDICT) {
        if (strcmp(method, "GET") != 0) {
            error_begin(w, route == ROUTE_PAGE ? "/ takes GET" : "/model takes GET");
            return error_end(w, resp, 405, "GET");
        }
        return 0;
    }
    if (strcmp(method, "POST") != 0) {
        error_begin(w, "/predict takes POST with the image as ");
        put_expected(w);
        return error_end(w, resp, 405, "POST");
    }
    if (req->content_type == NULL || !media_type_is(req->content_type, BODY_TYPE)) {
        error_begin(w, "Content-Type must be text/plain: the image as ");
        put_expected(w);
        return error_end(w, resp, 415, NULL);
    }
    if (req->content_length == NULL) {
        return fail(w, resp, 411, "Content-Length is required");
    }
    length = parse_length(req->content_length);
    if (length < 0) {
        return fail(w, resp, 400, "Content-Length is not a number");
    }
    if (length > (int32_t)NNWEB_BODY_MAX) {
        error_begin(w, "body too large: the limit is ");
        put_u32(w, NNWEB_BODY_MAX);
        put_str(w, " bytes");
        return error_end(w, resp, 413, NULL);
    }
    return 0;
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (uint8_t)lower((char)c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Checks the whole body before the model sees a pixel: count the digits, find a stray byte. */
static uint16_t check_body(nnweb_t *w, const uint8_t *body, size_t n, nnweb_response_t *resp)
{
    uint32_t digits = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        if (hex_value(body[i]) >= 0) {
            digits++;
        } else if (!is_space((char)body[i])) {
            error_begin(w, "body byte ");
            put_u32(w, (uint32_t)i);
            put_str(w, " is not a hex digit: send the image as ");
            put_expected(w);
            return error_end(w, resp, 400, NULL);
        }
    }
    if (digits != image_digits(w->model)) {
        error_begin(w, "body holds ");
        put_u32(w, digits);
        put_str(w, " hex digits; expected ");
        put_expected(w);
        return error_end(w, resp, 400, NULL);
    }
    return 0;
}

static uint32_t now_us(const nnweb_site_t *site)
{
    return site->clock_us != NULL ? site->clock_us(site->ctx) : 0u;
}

/* Decodes the checked body row by row into the model; replies with class, logits and time. */
static uint16_t predict(nnweb_t *w, const uint8_t *body, size_t n, nnweb_response_t *resp)
{
    const nnweb_model_t *m = w->model;
    const nnrt_status_t status = m->check();
    uint32_t start, us;
    uint16_t col = 0, cls, j;
    int high = -1;
    size_t i;

    if (status != NNRT_OK) {
        error_begin(w, "model storage refused: ");
        put_str(w, nnrt_status_name(status));
        return error_end(w, resp, 503, NULL);
    }
    start = now_us(w->site);
    m->begin();
    for (i = 0; i < n; i++) {
        const int v = hex_value(body[i]);
        if (v < 0) {
            continue; /* white space: check_body let nothing else through */
        }
        if (high < 0) {
            high = v;
            continue;
        }
        w->row[col++] = (uint8_t)((high << 4) | v);
        high = -1;
        if (col == m->cols) {
            m->feed_row(w->row);
            col = 0;
        }
    }
    cls = m->finish(w->logits);
    us = now_us(w->site) - start;

    w->reply_len = 0;
    put_str(w, "{\"class\":");
    put_u32(w, cls);
    put_str(w, ",\"label\":");
    put_json_string(w, cls < m->n_classes ? m->labels[cls] : "?");
    put_str(w, ",\"logits\":[");
    for (j = 0; j < m->n_classes; j++) {
        if (j != 0) {
            put_str(w, ",");
        }
        put_i32(w, w->logits[j]);
    }
    put_str(w, "],\"us\":");
    put_u32(w, us);
    put_str(w, ",\"device\":");
    put_json_string(w, w->site->device);
    put_str(w, "}");
    return respond(w, resp, 200, NULL);
}

uint16_t nnweb_handle(nnweb_t *w, const nnweb_request_t *req, const uint8_t *body, size_t body_bytes,
                      nnweb_response_t *resp)
{
    const uint16_t head = nnweb_head(w, req, resp);
    int32_t length;

    if (head != 0) {
        return head;
    }
    switch (route_of(req->path)) {
    case ROUTE_PAGE:
        resp->status = 200;
        resp->content_type = HTML_TYPE;
        resp->allow = NULL;
        resp->body = w->site->page;
        resp->body_bytes = w->site->page_bytes;
        return 200;
    case ROUTE_MODEL:
        resp->status = 200;
        resp->content_type = JSON_TYPE;
        resp->allow = NULL;
        resp->body = (const uint8_t *)w->site->info;
        resp->body_bytes = strlen(w->site->info);
        return 200;
    default:
        break;
    }
    length = parse_length(req->content_length); /* nnweb_head checked it: 0..NNWEB_BODY_MAX */
    if ((size_t)length != body_bytes) {
        error_begin(w, "body of ");
        put_u32(w, (uint32_t)body_bytes);
        put_str(w, " bytes, but Content-Length says ");
        put_u32(w, (uint32_t)length);
        return error_end(w, resp, 400, NULL);
    }
    if (body == NULL && body_bytes != 0) {
        return fail(w, resp, 400, "body missing");
    }
    if (check_body(w, body, body_bytes, resp) != 0) {
        return resp->status;
    }
    return predict(w, body, body_bytes, resp);
}

int nnweb_init(nnweb_t *w, const nnweb_model_t *model, const nnweb_site_t *site)
{
    uint16_t j;
    if (w == NULL || model == NULL || site == NULL || model->name == NULL || model->labels == NULL ||
        model->begin == NULL || model->feed_row == NULL || model->finish == NULL || model->check == NULL ||
        site->page == NULL || site->info == NULL || site->device == NULL) {
        return -1;
    }
    if (model->cols == 0u || model->cols > NNWEB_MAX_COLS || model->rows == 0u || model->n_classes == 0u ||
        model->n_classes > NNWEB_MAX_CLASSES || image_digits(model) > NNWEB_BODY_MAX ||
        strlen(site->device) > NNWEB_DEVICE_MAX) {
        return -1;
    }
    for (j = 0; j < model->n_classes; j++) {
        if (model->labels[j] == NULL || strlen(model->labels[j]) > NNWEB_LABEL_MAX) {
            return -1;
        }
    }
    memset(w, 0, sizeof *w);
    w->model = model;
    w->site = site;
    return 0;
}
