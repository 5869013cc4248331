/* The serial protocol (lib/nnserial, docs/serial-protocol.md) on RV32IMC, the ESP32-C3's ISA:
 * frames in, reply lines out, with a fake millisecond clock so timeouts and resynchronisation are
 * tested exactly. The host side (a pseudo-terminal device and nnmodel device-eval) is tested by
 * tests/test_device.py with the same C. Also guards the size of the golden check (>= 500 digits). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nnmodel.h"
#include "nnmodel_golden.h"
#include "nnmodel_samples.h"
#include "nnserial.h"
#include "unity_lite.h"

#define IMAGE_BYTES (NNMODEL_INPUT_ROWS * NNMODEL_INPUT_COLS)

static nnser_t proto;
static const nnser_model_t model = NNSER_MODEL_OF_NNMODEL(nnmodel_finish);
static char out[4096];
static size_t out_len;
static unsigned replies;
static uint32_t clock_ms;
static uint8_t image[IMAGE_BYTES];
static uint32_t write_ms; /* how long each reply write blocks (a host that reads late) */

static void capture(void *ctx, const char *text, size_t n)
{
    (void)ctx;
    if (out_len + n < sizeof out) {
        memcpy(out + out_len, text, n);
        out_len += n;
        out[out_len] = '\0';
    }
    replies++;
    clock_ms += write_ms;
}

static const nnser_io_t io = {capture, NULL, 1, NULL}; /* no clock: us=0, replies are predictable */

static void clear(void)
{
    out_len = 0;
    out[0] = '\0';
    replies = 0;
}

void setUp(void)
{
    (void)nnser_init(&proto, &model, &io);
    clock_ms = 1000;
    write_ms = 0;
    clear();
}

/* Time passes without input; the device polls. */
static void wait_ms(uint32_t ms)
{
    clock_ms += ms;
    nnser_poll(&proto, clock_ms);
}

static void send(const void *data, size_t n)
{
    const uint8_t *p = (const uint8_t *)data;
    size_t i;
    for (i = 0; i < n; i++) {
        nnser_feed(&proto, p[i], clock_ms);
    }
}

static void send_str(const char *s) { send(s, strlen(s)); }

/* Bytes a driver took in one read: all stamped with the time of that read, as src/native_device does. */
static void send_chunk(const void *data, size_t n)
{
    const uint8_t *p = (const uint8_t *)data;
    const uint32_t stamp = clock_ms;
    size_t i;
    for (i = 0; i < n; i++) {
        nnser_feed(&proto, p[i], stamp);
    }
}

static void load_sample(uint16_t k)
{
    uint16_t r;
    for (r = 0; r < NNMODEL_INPUT_ROWS; r++) {
        nnmodel_sample_row(k, r, image + r * NNMODEL_INPUT_COLS);
    }
}

static void send_classify(uint16_t length, uint16_t crc, const uint8_t *data, size_t n)
{
    char head[40];
    snprintf(head, sizeof head, "CLASSIFY %u %04x\n", (unsigned)length, (unsigned)crc);
    send_str(head);
    send(data, n);
}

static int reply_is(const char *expected)
{
    if (strcmp(out, expected) == 0) {
        return 1;
    }
    nnsim_puts("expected: ");
    nnsim_puts(expected);
    nnsim_puts("got:      ");
    nnsim_puts(out);
    nnsim_puts("\n");
    return 0;
}

static int reply_starts(const char *prefix)
{
    if (strncmp(out, prefix, strlen(prefix)) == 0) {
        return 1;
    }
    nnsim_puts("expected a reply starting with: ");
    nnsim_puts(prefix);
    nnsim_puts("\ngot: ");
    nnsim_puts(out);
    nnsim_puts("\n");
    return 0;
}

/* The reply to a fresh frame is exactly `expected` (assert on the result). */
static int answers(const char *frame, const char *expected)
{
    clear();
    send_str(frame);
    return reply_is(expected);
}

/* "ok classify crc=hhhh class=C us=0 logits=..." from the golden logits of sample k. */
static void expected_classify(uint16_t k, uint16_t crc, char *buf, size_t size)
{
    int32_t want[NNMODEL_NUM_CLASSES];
    uint16_t j, best = 0;
    size_t len;
    nnmodel_golden_expected(&nnmodel_golden[0], k, want);
    for (j = 1; j < NNMODEL_NUM_CLASSES; j++) {
        if (want[j] > want[best]) {
            best = j;
        }
    }
    len = (size_t)snprintf(buf, size, "ok classify crc=%04x class=%u us=0 logits=", (unsigned)crc, (unsigned)best);
    for (j = 0; j < NNMODEL_NUM_CLASSES && len < size; j++) {
        len += (size_t)snprintf(buf + len, size - len, "%s%ld", j ? "," : "", (long)want[j]);
    }
    if (len + 1 < size) {
        buf[len] = '\n';
        buf[len + 1] = '\0';
    }
}

static void test_golden_check_covers_500_digits(void)
{
    TEST_ASSERT_GREATER_OR_EQUAL_INT(500, NNMODEL_SAMPLE_COUNT);
    TEST_ASSERT_GREATER_OR_EQUAL_INT(500, nnmodel_golden[0].count);
}

static void test_classify_frames_give_the_reference_logits(void)
{
    char want[NNSER_REPLY_MAX + 1];
    uint16_t k;
    for (k = 0; k < 20; k++) {
        uint16_t crc;
        load_sample(k);
        crc = nnser_crc16(image, IMAGE_BYTES);
        clear();
        send_classify(IMAGE_BYTES, crc, image, IMAGE_BYTES);
        expected_classify(k, crc, want, sizeof want);
        TEST_ASSERT_EQUAL_INT(1, replies);
        TEST_ASSERT_MESSAGE(reply_is(want), "classify reply differs from the golden logits");
    }
}

static void test_ping_info_and_case(void)
{
    TEST_ASSERT(answers("PING abc\n", "ok pong abc\n"));
    TEST_ASSERT(answers("ping\r\n", "ok pong\n"));
    clear();
    send_str("\n\r\nINFO\n"); /* empty lines are ignored */
    TEST_ASSERT_EQUAL_INT(1, replies);
    TEST_ASSERT(reply_starts("ok info proto=1 model=" NNMODEL_NAME " hash=0x"));
    TEST_ASSERT(strstr(out, " layers=" NNMODEL_LAYERS "\n") != NULL);
}

static void test_command_errors_reply_at_once(void)
{
    send_str("HELLO\n");
    TEST_ASSERT(reply_starts("err unknown_command "));
    clear();
    send_str("INFO x\n");
    TEST_ASSERT(reply_starts("err syntax "));
    clear();
    send_str("PING 123456789012345678901234567890123\n"); /* 33 characters */
    TEST_ASSERT(reply_starts("err syntax "));
    TEST_ASSERT(answers("PING 12345678901234567890123456789012\n", /* 32 */
                        "ok pong 12345678901234567890123456789012\n"));
}

static void test_bad_checksum_then_ok(void)
{
    uint16_t crc;
    load_sample(0);
    crc = nnser_crc16(image, IMAGE_BYTES);
    send_classify(IMAGE_BYTES, (uint16_t)(crc ^ 0x0100u), image, IMAGE_BYTES);
    TEST_ASSERT_EQUAL_INT(1, replies);
    TEST_ASSERT(reply_starts("err checksum "));
    clear();
    send_classify(IMAGE_BYTES, crc, image, IMAGE_BYTES);
    TEST_ASSERT(reply_starts("ok classify "));
}

static void test_wrong_length_is_read_and_dropped(void)
{
    static const uint8_t junk[100] = {1, 2, 3, '\n', 'P', 'I', 'N', 'G', '\n'};
    send_classify(sizeof junk, nnser_crc16(junk, sizeof junk), junk, sizeof junk);
    TEST_ASSERT_EQUAL_INT(1, replies); /* the PING inside the payload is payload, not a command */
    TEST_ASSERT(reply_starts("err length payload of 100 bytes; this model takes 784 (28x28)"));
    clear();
    send_str("CLASSIFY 0 ffff\n");
    TEST_ASSERT(reply_starts("err length "));
    TEST_ASSERT(answers("PING\n", "ok pong\n"));
}

static void test_stalled_payload_times_out(void)
{
    load_sample(1);
    send_classify(IMAGE_BYTES, nnser_crc16(image, IMAGE_BYTES), image, 100);
    wait_ms(NNSER_TIMEOUT_MS - 1u);
    TEST_ASSERT_EQUAL_INT(0, replies);
    TEST_ASSERT_TRUE(nnser_busy(&proto));
    wait_ms(1u);
    TEST_ASSERT(reply_is("err timeout payload stopped after 100 of 784 bytes; frame dropped after 1000 ms\n"));
    TEST_ASSERT_FALSE(nnser_busy(&proto));
    TEST_ASSERT(answers("PING\n", "ok pong\n"));
}

static void test_stall_is_noticed_by_the_next_byte_too(void)
{
    /* A caller that never polls still gets the timeout before the next frame. */
    send_str("PIN");
    clock_ms += 5000u;
    send_str("PING\n");
    TEST_ASSERT_EQUAL_INT(2, replies);
    TEST_ASSERT(reply_is("err timeout command line without \\n; frame dropped after 1000 ms\nok pong\n"));
}

static void test_long_line_drops_input_until_quiet(void)
{
    uint8_t i;
    for (i = 0; i < 200; i++) {
        send_str("A");
    }
    send_str("\nPING\n"); /* part of the same burst: dropped */
    wait_ms(NNSER_QUIET_MS - 1u);
    TEST_ASSERT_EQUAL_INT(0, replies);
    wait_ms(1u);
    TEST_ASSERT_EQUAL_INT(1, replies);
    TEST_ASSERT(reply_starts("err line_too_long "));
    TEST_ASSERT(answers("PING\n", "ok pong\n"));
}

static void test_bad_header_and_binary_garbage_get_one_reply(void)
{
    uint16_t b;
    load_sample(2);
    send_str("CLASSIFY 784 zzzz\n");
    send(image, IMAGE_BYTES);
    wait_ms(NNSER_QUIET_MS);
    TEST_ASSERT_EQUAL_INT(1, replies);
    TEST_ASSERT(reply_starts("err syntax expected CLASSIFY"));
    clear();
    /* A later clock reading than the reply's: quiet is timed from the first reading after a reply
     * (bytes with the reply's own reading may have been read before its write). */
    clock_ms += 1u;
    for (b = 0; b < 768; b++) {
        uint8_t byte = (uint8_t)(b * 7u);
        send(&byte, 1);
    }
    wait_ms(NNSER_QUIET_MS);
    TEST_ASSERT_EQUAL_INT(1, replies);
    TEST_ASSERT(reply_starts("err syntax "));
    TEST_ASSERT(answers("PING ok\n", "ok pong ok\n"));
}

static void test_clock_wraparound(void)
{
    clock_ms = 0xFFFFFF00u;
    send_str("PI");
    wait_ms(0x200u); /* wraps to 0x100: 512 ms later, no timeout yet */
    TEST_ASSERT_EQUAL_INT(0, replies);
    send_str("NG\n");
    TEST_ASSERT(reply_is("ok pong\n"));
}

/* `count` replies so far, each a line starting with `prefix`. */
static int replies_are(unsigned count, const char *prefix)
{
    const char *line = out;
    unsigned k = 0;
    while (*line != '\0' && strncmp(line, prefix, strlen(prefix)) == 0) {
        const char *end = strchr(line, '\n');
        k++;
        line = end != NULL ? end + 1 : line + strlen(line);
    }
    if (replies == count && k == count && *line == '\0') {
        return 1;
    }
    nnsim_puts("expected only replies starting with: ");
    nnsim_puts(prefix);
    nnsim_puts("\ngot:\n");
    nnsim_puts(out);
    nnsim_puts("\n");
    return 0;
}

/* A host that writes frames ahead and reads the replies late: each reply write blocks for 5 s, while
 * the next frame's bytes are already waiting (the first of them taken in the same read, before the
 * write). That time is the device's own, not the host's silence: every frame is answered. */
static void test_a_blocked_reply_write_is_not_the_hosts_silence(void)
{
    static uint8_t frames[3u * (IMAGE_BYTES + 24u)];
    size_t one, k, a, b;
    load_sample(3);
    one = (size_t)snprintf((char *)frames, 24u, "CLASSIFY %u %04x\n", (unsigned)IMAGE_BYTES,
                           (unsigned)nnser_crc16(image, IMAGE_BYTES));
    memcpy(frames + one, image, IMAGE_BYTES);
    one += IMAGE_BYTES;
    for (k = 1; k < 3u; k++) {
        memcpy(frames + k * one, frames, one);
    }
    a = one + 100u;     /* read 1: frame 1 and the head of frame 2 */
    b = 2u * one + 10u; /* read 2: the rest of frame 2 and the head of frame 3; read 3: the rest */
    write_ms = 5u * NNSER_TIMEOUT_MS;
    send_chunk(frames, a);
    wait_ms(0u); /* the driver polls once its write is done */
    TEST_ASSERT(replies_are(1u, "ok classify "));
    send_chunk(frames + a, b - a);
    send_chunk(frames + b, 3u * one - b); /* a driver that reads again without polling */
    wait_ms(0u);
    TEST_ASSERT(replies_are(3u, "ok classify "));
    /* The host's own silence still ends a frame, timed from when the device could read again. */
    clear();
    send_str("PIN");
    wait_ms(NNSER_TIMEOUT_MS - 1u);
    TEST_ASSERT_EQUAL_INT(0, replies);
    wait_ms(1u);
    TEST_ASSERT(reply_is("err timeout command line without \\n; frame dropped after 1000 ms\n"));
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_golden_check_covers_500_digits);
    RUN_TEST(test_classify_frames_give_the_reference_logits);
    RUN_TEST(test_ping_info_and_case);
    RUN_TEST(test_command_errors_reply_at_once);
    RUN_TEST(test_bad_checksum_then_ok);
    RUN_TEST(test_wrong_length_is_read_and_dropped);
    RUN_TEST(test_stalled_payload_times_out);
    RUN_TEST(test_stall_is_noticed_by_the_next_byte_too);
    RUN_TEST(test_long_line_drops_input_until_quiet);
    RUN_TEST(test_bad_header_and_binary_garbage_get_one_reply);
    RUN_TEST(test_clock_wraparound);
    RUN_TEST(test_a_blocked_reply_write_is_not_the_hosts_silence);
    return UNITY_END();
}
