/* nnserial: byte-at-a-time parser and replies of the nnmodel serial protocol (docs/serial-protocol.md). */
#include "nnserial.h"

#include <string.h>

enum { ST_LINE = 0, ST_PAYLOAD = 1, ST_DISCARD = 2 };

/* Error codes: the first word after `err`, fixed by the protocol document. */
enum {
    E_NONE = 0,
    E_UNKNOWN_COMMAND,
    E_SYNTAX,
    E_LINE_TOO_LONG,
    E_LENGTH,
    E_CHECKSUM,
    E_TIMEOUT,
    E_MODEL,
    E_BINARY /* reported as syntax: a command line holding a non-text byte */
};

/* ------------------------------------------------------------------------------ reply building */

static void put_str(nnser_t *s, const char *text)
{
    /* One byte is kept for the final \n: a too-long reply is cut, never overflows. */
    while (*text != '\0' && s->reply_len + 1u < NNSER_REPLY_MAX) {
        s->reply[s->reply_len++] = *text++;
    }
}

/* A description string of the model; NULL is shown as "?". */
static void put_text(nnser_t *s, const char *text)
{
    put_str(s, text != NULL ? text : "?");
}

static void put_u32(nnser_t *s, uint32_t v)
{
    char text[11];
    char *p = text + sizeof text - 1u;
    *p = '\0';
    do {
        *--p = (char)('0' + (char)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    put_str(s, p);
}

static void put_i32(nnser_t *s, int32_t v)
{
    if (v < 0) {
        put_str(s, "-");
        put_u32(s, (uint32_t)0 - (uint32_t)v); /* INT32_MIN included */
    } else {
        put_u32(s, (uint32_t)v);
    }
}

/* digits: 1..8, leading zeros included. */
static void put_hex(nnser_t *s, uint32_t v, uint8_t digits)
{
    static const char hex[] = "0123456789abcdef";
    char text[9];
    uint8_t i;
    for (i = 0; i < digits; i++) {
        text[i] = hex[(v >> (4u * (digits - 1u - i))) & 0xFu];
    }
    text[digits] = '\0';
    put_str(s, text);
}

static void reply_begin(nnser_t *s, const char *head)
{
    s->reply_len = 0;
    put_str(s, head);
}

static void reply_end(nnser_t *s)
{
    s->reply[s->reply_len++] = '\n';
    s->io->write(s->io->ctx, s->reply, s->reply_len);
    s->reply_len = 0;
    /* The write may have blocked (a host that reads late fills the link) and the caller's clock
     * reading for this call is now stale: the silence timer restarts at the next reading. */
    s->replied = 1;
}

static const char *error_name(uint8_t code)
{
    switch (code) {
    case E_UNKNOWN_COMMAND: return "unknown_command";
    case E_SYNTAX:
    case E_BINARY: return "syntax";
    case E_LINE_TOO_LONG: return "line_too_long";
    case E_LENGTH: return "length";
    case E_CHECKSUM: return "checksum";
    case E_TIMEOUT: return "timeout";
    case E_MODEL: return "model";
    default: return "internal";
    }
}

/* `err CODE ` then the caller's details, then \n. */
static void error_begin(nnser_t *s, uint8_t code)
{
    reply_begin(s, "err ");
    put_str(s, error_name(code));
    put_str(s, " ");
}

static void reply_pending(nnser_t *s)
{
    error_begin(s, s->pending);
    if (s->pending == E_LINE_TOO_LONG) {
        put_str(s, "command line longer than ");
        put_u32(s, NNSER_LINE_MAX);
        put_str(s, " bytes; input dropped until a pause");
    } else if (s->pending == E_BINARY) {
        put_str(s, "non-text byte in a command line; input dropped until a pause");
    } else {
        put_str(s, "expected CLASSIFY <bytes> <crc16 hex>; input dropped until a pause");
    }
    reply_end(s);
}

/* ------------------------------------------------------------------------------ state */

static void to_line(nnser_t *s)
{
    s->state = ST_LINE;
    s->line_len = 0;
    s->pending = E_NONE;
}

static void to_discard(nnser_t *s, uint8_t code)
{
    s->state = ST_DISCARD;
    s->pending = code;
    s->line_len = 0;
}

static uint32_t ticks_now(const nnser_t *s)
{
    return s->io->ticks != NULL ? s->io->ticks(s->io->ctx) : 0u;
}

uint16_t nnser_crc16(const uint8_t *data, size_t n)
{
    uint16_t crc = 0xFFFFu;
    size_t i;
    for (i = 0; i < n; i++) {
        crc = nnrt_crc16_update(crc, data[i]);
    }
    return crc;
}

int nnser_init(nnser_t *s, const nnser_model_t *model, const nnser_io_t *io)
{
    if (s == NULL || model == NULL || io == NULL || io->write == NULL || model->begin == NULL ||
        model->feed_row == NULL || model->finish == NULL || model->check == NULL) {
        return -1;
    }
    memset(s, 0, sizeof *s); /* idle: ST_LINE, empty line, nothing pending */
    s->model = model;
    s->io = io;
    s->timeout_ms = NNSER_TIMEOUT_MS;
    s->quiet_ms = NNSER_QUIET_MS;
    if (model->cols == 0u || model->rows == 0u || model->cols > NNSER_MAX_COLS ||
        model->n_classes == 0u || model->n_classes > NNSER_MAX_CLASSES ||
        (uint32_t)model->rows * model->cols > NNSER_MAX_PAYLOAD) {
        return -1;
    }
    return 0;
}

void nnser_set_timeouts(nnser_t *s, uint32_t timeout_ms, uint32_t quiet_ms)
{
    if (timeout_ms != 0u) {
        s->timeout_ms = timeout_ms;
    }
    if (quiet_ms != 0u) {
        s->quiet_ms = quiet_ms;
    }
}

int nnser_busy(const nnser_t *s)
{
    return s->state != ST_LINE || s->line_len != 0u;
}

void nnser_poll(nnser_t *s, uint32_t now_ms)
{
    uint32_t idle;
    /* The timeout measures the host's silence, not the device's own work: after a reply the
     * silence is counted from the first clock reading that differs from the reply's own (the time
     * the device spent writing the reply, or computing it, is excluded). Bytes the caller stamped
     * before its write carry that same old reading and do not end the grace. */
    if (s->replied && now_ms != s->last_ms) {
        s->replied = 0;
        s->last_ms = now_ms;
    }
    idle = now_ms - s->last_ms; /* unsigned: correct across the 32-bit wrap */
    if (s->state == ST_DISCARD) {
        if (idle >= s->quiet_ms) {
            s->last_ms = now_ms; /* the reply's clock reading, see above */
            reply_pending(s);
            to_line(s);
        }
    } else if (nnser_busy(s) && idle >= s->timeout_ms) {
        s->last_ms = now_ms;
        error_begin(s, E_TIMEOUT);
        if (s->state == ST_PAYLOAD) {
            put_str(s, "payload stopped after ");
            put_u32(s, (uint32_t)s->payload_len - s->payload_left);
            put_str(s, " of ");
            put_u32(s, s->payload_len);
            put_str(s, " bytes");
        } else {
            put_str(s, "command line without \\n");
        }
        put_str(s, "; frame dropped after ");
        put_u32(s, s->timeout_ms);
        put_str(s, " ms");
        reply_end(s);
        to_line(s);
    }
}

/* ------------------------------------------------------------------------------ descriptions */

/* The model's description, written in two formats: the INFO reply and the boot banner. Each is a
 * list of pieces, a fixed text followed by one value (or the end of a line). */
enum { F_PROTO, F_NAME, F_HASH, F_LAYERS, F_ROWS, F_COLS, F_CLASSES, F_MACS, F_RAM, F_PAYLOAD, F_STORAGE,
       F_LINE_MAX, F_TIMEOUT, F_EOL };

typedef struct {
    const char *text;
    uint8_t value;
} piece_t;

/* docs/serial-protocol.md, INFO: layers stays the last key. */
static const piece_t info_reply[] = {
    {"ok info proto=", F_PROTO}, {" model=", F_NAME}, {" hash=0x", F_HASH}, {" rows=", F_ROWS},
    {" cols=", F_COLS}, {" classes=", F_CLASSES}, {" macs=", F_MACS}, {" ram=", F_RAM},
    {" payload=", F_PAYLOAD}, {" storage=", F_STORAGE}, {" line_max=", F_LINE_MAX},
    {" timeout_ms=", F_TIMEOUT}, {" layers=", F_LAYERS}, {"", F_EOL}};

/* README, ESP32-C3: three log lines (hosts skip lines starting with #). */
static const piece_t banner[] = {
    {"# model ", F_NAME}, {" hash 0x", F_HASH}, {" layers ", F_LAYERS}, {"", F_EOL},
    {"# input ", F_ROWS}, {"x", F_COLS}, {" uint8 fed by rows, ", F_CLASSES}, {" classes, ", F_MACS},
    {" MACs, ", F_RAM}, {" B RAM, ", F_PAYLOAD}, {" B of weights in ", F_STORAGE}, {"", F_EOL},
    {"# serial protocol ", F_PROTO},
    {": PING [token] | INFO | CLASSIFY <bytes> <crc16 hex> + raw bytes (docs/serial-protocol.md)", F_EOL}};

static void write_pieces(nnser_t *s, const piece_t *p, size_t n)
{
    const nnser_model_t *m = s->model;
    s->reply_len = 0;
    for (; n > 0u; n--, p++) {
        put_str(s, p->text);
        switch (p->value) {
        case F_PROTO: put_u32(s, NNSER_PROTOCOL_VERSION); break;
        case F_NAME: put_text(s, m->name); break;
        case F_HASH: put_hex(s, m->hash, 8u); break;
        case F_LAYERS: put_text(s, m->layers); break;
        case F_ROWS: put_u32(s, m->rows); break;
        case F_COLS: put_u32(s, m->cols); break;
        case F_CLASSES: put_u32(s, m->n_classes); break;
        case F_MACS: put_u32(s, m->macs); break;
        case F_RAM: put_u32(s, m->ram_bytes); break;
        case F_PAYLOAD: put_u32(s, m->payload_bytes); break;
        case F_STORAGE: put_text(s, m->storage); break;
        case F_LINE_MAX: put_u32(s, NNSER_LINE_MAX); break;
        case F_TIMEOUT: put_u32(s, s->timeout_ms); break;
        default: reply_end(s); break; /* F_EOL */
        }
    }
}

void nnser_write_banner(nnser_t *s)
{
    write_pieces(s, banner, sizeof banner / sizeof banner[0]);
}

/* ------------------------------------------------------------------------------ commands */

/* Split the line at spaces/tabs into at most max words (NUL-terminated in place). */
static uint8_t split_words(char *line, char **words, uint8_t max)
{
    uint8_t n = 0;
    char *p = line;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t') {
            *p++ = '\0';
        }
        if (*p == '\0') {
            break;
        }
        if (n == max) {
            return (uint8_t)(max + 1u); /* too many words */
        }
        words[n++] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t') {
            p++;
        }
    }
    return n;
}

static int word_is(const char *word, const char *upper)
{
    while (*word != '\0' && *upper != '\0') {
        char c = *word++;
        if (c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        }
        if (c != *upper++) {
            return 0;
        }
    }
    return *word == '\0' && *upper == '\0';
}

/* Decimal 0..65535 with 1..5 digits. */
static int parse_u16(const char *w, uint16_t *out)
{
    uint32_t v = 0;
    uint8_t n = 0;
    for (; *w != '\0'; w++, n++) {
        if (*w < '0' || *w > '9' || n == 5u) {
            return 0;
        }
        v = v * 10u + (uint32_t)(*w - '0');
    }
    if (n == 0u || v > 0xFFFFu) {
        return 0;
    }
    *out = (uint16_t)v;
    return 1;
}

/* Exactly four hex digits, either case. */
static int parse_hex16(const char *w, uint16_t *out)
{
    uint16_t v = 0;
    uint8_t n;
    for (n = 0; n < 4u; n++, w++) {
        char c = *w;
        uint8_t d;
        if (c >= '0' && c <= '9') {
            d = (uint8_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (uint8_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            d = (uint8_t)(c - 'A' + 10);
        } else {
            return 0;
        }
        v = (uint16_t)((v << 4) | d);
    }
    if (*w != '\0') {
        return 0;
    }
    *out = v;
    return 1;
}

static void cmd_ping(nnser_t *s, char **words, uint8_t n)
{
    uint8_t len = 0, ok = n <= 2u;
    if (ok && n == 2u) {
        const char *p;
        for (p = words[1]; *p != '\0' && ok; p++, len++) {
            ok = (unsigned char)*p >= 0x21u && (unsigned char)*p <= 0x7Eu && len < NNSER_PING_TOKEN_MAX;
        }
    }
    if (!ok) {
        error_begin(s, E_SYNTAX);
        put_str(s, "expected PING [token], token: 1..32 printable characters");
        reply_end(s);
        return;
    }
    reply_begin(s, "ok pong");
    if (n == 2u) {
        put_str(s, " ");
        put_str(s, words[1]);
    }
    reply_end(s);
}

static void cmd_info(nnser_t *s, uint8_t n)
{
    if (n != 1u) {
        error_begin(s, E_SYNTAX);
        put_str(s, "INFO takes no arguments");
        reply_end(s);
        return;
    }
    write_pieces(s, info_reply, sizeof info_reply / sizeof info_reply[0]);
}

static void classify_done(nnser_t *s)
{
    const nnser_model_t *m = s->model;
    uint32_t expected = (uint32_t)m->rows * m->cols;
    if (s->payload_len != expected) {
        error_begin(s, E_LENGTH);
        put_str(s, "payload of ");
        put_u32(s, s->payload_len);
        put_str(s, " bytes; this model takes ");
        put_u32(s, expected);
        put_str(s, " (");
        put_u32(s, m->rows);
        put_str(s, "x");
        put_u32(s, m->cols);
        put_str(s, ")");
    } else if (s->model_status != (uint8_t)NNRT_OK) {
        error_begin(s, E_MODEL);
        put_str(s, nnrt_status_name((nnrt_status_t)s->model_status));
    } else if (s->crc != s->crc_expected) {
        error_begin(s, E_CHECKSUM);
        put_str(s, "header says ");
        put_hex(s, s->crc_expected, 4u);
        put_str(s, ", payload has ");
        put_hex(s, s->crc, 4u);
    } else {
        uint32_t t0 = ticks_now(s);
        uint16_t cls = m->finish(s->logits), j;
        s->ticks += ticks_now(s) - t0;
        reply_begin(s, "ok classify crc=");
        put_hex(s, s->crc, 4u);
        put_str(s, " class=");
        put_u32(s, cls);
        put_str(s, " us=");
        put_u32(s, s->ticks / (s->io->ticks_per_us != 0u ? s->io->ticks_per_us : 1u));
        put_str(s, " logits=");
        for (j = 0; j < m->n_classes; j++) {
            if (j != 0u) {
                put_str(s, ",");
            }
            put_i32(s, s->logits[j]);
        }
    }
    reply_end(s);
    to_line(s);
}

static void cmd_classify(nnser_t *s, char **words, uint8_t n)
{
    const nnser_model_t *m = s->model;
    uint16_t length, crc;
    if (n != 3u || !parse_u16(words[1], &length) || !parse_hex16(words[2], &crc)) {
        /* A payload may follow, of a length we cannot trust: drop input until a pause. */
        to_discard(s, E_SYNTAX);
        return;
    }
    s->payload_len = length;
    s->payload_left = length;
    s->crc = 0xFFFFu;
    s->crc_expected = crc;
    s->col = 0;
    s->ticks = 0;
    s->feeding = 0;
    s->model_status = (uint8_t)m->check();
    if (length == (uint32_t)m->rows * m->cols && s->model_status == (uint8_t)NNRT_OK) {
        uint32_t t0 = ticks_now(s);
        m->begin();
        s->ticks += ticks_now(s) - t0;
        s->feeding = 1;
    }
    s->state = ST_PAYLOAD;
    if (length == 0u) {
        classify_done(s); /* nothing follows: answer now (it is a length error) */
    }
}

static void dispatch_line(nnser_t *s)
{
    char *words[4];
    uint16_t i;
    uint8_t n;
    if (s->line_len > 0u && s->line[s->line_len - 1u] == '\r') {
        s->line_len--; /* CRLF endings are accepted */
    }
    for (i = 0; i < s->line_len; i++) {
        unsigned char c = (unsigned char)s->line[i];
        if ((c < 0x20u && c != (unsigned char)'\t') || c > 0x7Eu) {
            to_discard(s, E_BINARY); /* junk on the link, maybe a payload: drop until a pause */
            return;
        }
    }
    s->line[s->line_len] = '\0';
    s->line_len = 0;
    n = split_words(s->line, words, 3u);
    if (n == 0u) {
        return; /* empty lines are ignored: a host may send \n to end a stray partial line */
    }
    if (word_is(words[0], "CLASSIFY")) {
        cmd_classify(s, words, n);
    } else if (n > 3u) {
        error_begin(s, E_SYNTAX);
        put_str(s, "too many words");
        reply_end(s);
    } else if (word_is(words[0], "PING")) {
        cmd_ping(s, words, n);
    } else if (word_is(words[0], "INFO")) {
        cmd_info(s, n);
    } else {
        error_begin(s, E_UNKNOWN_COMMAND);
        put_str(s, "expected PING, INFO or CLASSIFY");
        reply_end(s);
    }
}

void nnser_feed(nnser_t *s, uint8_t byte, uint32_t now_ms)
{
    nnser_poll(s, now_ms); /* a stall before this byte ends the old frame first */
    s->last_ms = now_ms;
    switch (s->state) {
    case ST_LINE:
        if (byte == (uint8_t)'\n') {
            dispatch_line(s);
        } else if (s->line_len < NNSER_LINE_MAX) {
            s->line[s->line_len++] = (char)byte;
        } else {
            to_discard(s, E_LINE_TOO_LONG);
        }
        break;
    case ST_PAYLOAD:
        s->crc = nnrt_crc16_update(s->crc, byte);
        if (s->feeding) {
            s->row[s->col++] = byte;
            if (s->col == s->model->cols) {
                uint32_t t0 = ticks_now(s);
                s->model->feed_row(s->row);
                s->ticks += ticks_now(s) - t0;
                s->col = 0;
            }
        }
        if (--s->payload_left == 0u) {
            classify_done(s);
        }
        break;
    default: /* ST_DISCARD: the pause that ends it is detected by nnser_poll */
        break;
    }
}
