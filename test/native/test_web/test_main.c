/* lib/nnweb, the draw-a-digit endpoints that the host demo and the ESP32-C3 firmware share: the page
 * and model description are served as generated, predictions reproduce nnmodel.reference's logits
 * (the golden vectors) on 100 sample digits, and every malformed request gets its 4xx with a
 * one-line JSON error: route, method, Content-Type, Content-Length, body size and characters. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nnmodel.h"
#include "nnmodel_golden.h"
#include "nnmodel_samples.h"
#include "nnmodel_web_page.h"
#include "nnweb.h"
#include "unity_lite.h"

#define DIGITS (2u * NNMODEL_INPUT_ROWS * NNMODEL_INPUT_COLS)

static const char *const labels[NNMODEL_NUM_CLASSES] = NNMODEL_LABELS;
static const nnweb_model_t model = NNWEB_MODEL_OF_NNMODEL(labels);
static const nnweb_site_t site = {nnmodel_web_page, NNMODEL_WEB_PAGE_BYTES, nnmodel_web_info, "test", NULL, NULL};
static nnweb_t web;
static nnweb_response_t resp;
static char body[DIGITS + 64u];
static char length_text[16];

void setUp(void)
{
    memset(&resp, 0, sizeof resp);
    (void)nnweb_init(&web, &model, &site);
}

static int body_is(const char *text)
{
    return resp.body_bytes == strlen(text) && memcmp(resp.body, text, resp.body_bytes) == 0;
}

/* The body as a C string (replies are short; the page is compared with memcmp). */
static const char *body_text(void)
{
    static char text[NNWEB_REPLY_MAX + 1u];
    const size_t n = resp.body_bytes < NNWEB_REPLY_MAX ? resp.body_bytes : NNWEB_REPLY_MAX;
    memcpy(text, resp.body, n);
    text[n] = '\0';
    return text;
}

static int body_contains(const char *part)
{
    return strstr(body_text(), part) != NULL;
}

/* A JSON error: {"error":"..."} on one line, with no unescaped quote inside. */
static int is_one_line_error(void)
{
    const char *text = body_text();
    const size_t n = strlen(text);
    size_t i;
    if (n < 13u || strncmp(text, "{\"error\":\"", 10) != 0 || strcmp(text + n - 2u, "\"}") != 0) {
        return 0;
    }
    for (i = 10; i < n - 2u; i++) {
        if (text[i] == '\n' || text[i] == '\r' || (text[i] == '"' && text[i - 1] != '\\')) {
            return 0;
        }
    }
    return strcmp(resp.content_type, "application/json") == 0;
}

static uint16_t request(const char *method, const char *path, const char *type, const char *length,
                        const char *data, size_t n)
{
    const nnweb_request_t req = {method, path, type, length};
    return nnweb_handle(&web, &req, (const uint8_t *)data, n, &resp);
}

/* POST /predict with body[0..n) and a matching Content-Length. */
static uint16_t post(const char *type, size_t n)
{
    char *p = length_text + sizeof length_text - 1u;
    size_t v = n;
    *p = '\0';
    do {
        *--p = (char)('0' + (char)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    return request("POST", "/predict", type, p, body, n);
}

/* Sample k as hex digits in body; returns the length. Variants: upper case, white space. */
static size_t encode_sample(uint16_t k, int upper, int spaced)
{
    static const char lower_hex[] = "0123456789abcdef", upper_hex[] = "0123456789ABCDEF";
    const char *hex = upper ? upper_hex : lower_hex;
    uint8_t row[NNMODEL_SAMPLE_COLS];
    size_t n = 0;
    uint16_t r, c;
    for (r = 0; r < NNMODEL_SAMPLE_ROWS; r++) {
        nnmodel_sample_row(k, r, row);
        for (c = 0; c < NNMODEL_SAMPLE_COLS; c++) {
            body[n++] = hex[row[c] >> 4];
            body[n++] = hex[row[c] & 0xFu];
        }
        if (spaced) {
            body[n++] = r % 2u ? '\n' : ' ';
        }
    }
    return n;
}

static void test_page_and_model_description_are_served_as_generated(void)
{
    TEST_ASSERT_EQUAL_INT(200, request("GET", "/", NULL, NULL, NULL, 0));
    TEST_ASSERT_TRUE(strcmp(resp.content_type, "text/html; charset=utf-8") == 0);
    TEST_ASSERT_TRUE(resp.body == nnmodel_web_page && resp.body_bytes == NNMODEL_WEB_PAGE_BYTES);
    TEST_ASSERT_TRUE(resp.allow == NULL);
    TEST_ASSERT_EQUAL_INT(200, request("GET", "/?from=test", NULL, NULL, NULL, 0)); /* query ignored */
    TEST_ASSERT_EQUAL_INT(200, request("GET", "/model", NULL, NULL, NULL, 0));
    TEST_ASSERT_TRUE(strcmp(resp.content_type, "application/json") == 0);
    TEST_ASSERT_TRUE(body_is(nnmodel_web_info));
    TEST_ASSERT_TRUE(body_contains("\"model\":\"" NNMODEL_NAME "\"") && body_contains("\"logit_scale\":["));
}

/* The reply's "logits":[...] against sample k's golden logits, and the class and label. */
static void check_prediction(uint16_t k)
{
    const nnmodel_golden_t *g = &nnmodel_golden[0]; /* the model of nnmodel.h */
    int32_t expected[NNMODEL_NUM_CLASSES];
    const char *text = body_text(), *p;
    uint16_t j, best = 0;
    char head[48];
    nnmodel_golden_expected(g, k, expected);
    for (j = 1; j < NNMODEL_NUM_CLASSES; j++) {
        best = expected[j] > expected[best] ? j : best;
    }
    strcpy(head, "{\"class\":");
    head[9] = (char)('0' + best);
    strcpy(head + 10, ",\"label\":\"");
    strcat(head, labels[best]);
    strcat(head, "\",\"logits\":[");
    TEST_ASSERT_TRUE(strncmp(text, head, strlen(head)) == 0);
    p = text + strlen(head);
    for (j = 0; j < NNMODEL_NUM_CLASSES; j++) {
        char *end;
        const long v = strtol(p, &end, 10);
        TEST_ASSERT_TRUE(end != p);
        TEST_ASSERT_EQUAL_INT32(expected[j], (int32_t)v);
        TEST_ASSERT_TRUE(*end == (j + 1u < NNMODEL_NUM_CLASSES ? ',' : ']'));
        p = end + 1;
    }
    TEST_ASSERT_TRUE(strcmp(p, ",\"us\":0,\"device\":\"test\"}") == 0);
}

static void test_predictions_reproduce_the_golden_logits(void)
{
    uint16_t k;
    TEST_ASSERT_TRUE(NNMODEL_NUM_CLASSES <= 10u); /* check_prediction writes the class as one digit */
    for (k = 0; k < nnmodel_golden[0].count && k < NNMODEL_SAMPLE_COUNT; k++) {
        const size_t n = encode_sample(k, k % 2u, k % 3u == 0u);
        TEST_ASSERT_EQUAL_INT(200, post(k % 5u ? "text/plain" : "Text/Plain; charset=UTF-8", n));
        TEST_ASSERT_TRUE(strcmp(resp.content_type, "application/json") == 0);
        check_prediction(k);
        if (ul_state.failed) {
            return;
        }
    }
}

static void test_head_lets_a_good_request_read_its_body(void)
{
    const nnweb_request_t ok = {"POST", "/predict", "text/plain", " 1568 "};
    const nnweb_request_t largest = {"POST", "/predict", "text/plain", "4096"};
    const nnweb_request_t page = {"GET", "/", NULL, NULL};
    TEST_ASSERT_EQUAL_INT(0, nnweb_head(&web, &ok, &resp));
    TEST_ASSERT_EQUAL_INT(0, nnweb_head(&web, &largest, &resp));
    TEST_ASSERT_EQUAL_INT(0, nnweb_head(&web, &page, &resp));
}

static void test_unknown_paths_are_404(void)
{
    static const char *const paths[] = {"/nope", "/predict/x", "/modelx", "", "/favicon.ico", "predict"};
    size_t i;
    for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        TEST_ASSERT_EQUAL_INT(404, request("GET", paths[i], NULL, NULL, NULL, 0));
        TEST_ASSERT_TRUE(is_one_line_error());
    }
    TEST_ASSERT_EQUAL_INT(404, request("POST", NULL, "text/plain", "0", NULL, 0));
}

static void test_wrong_methods_are_405_with_allow(void)
{
    TEST_ASSERT_EQUAL_INT(405, request("GET", "/predict", NULL, NULL, NULL, 0));
    TEST_ASSERT_TRUE(is_one_line_error() && strcmp(resp.allow, "POST") == 0);
    TEST_ASSERT_TRUE(body_contains("/predict takes POST with the image as 1568 hex digits (28x28 pixels, two each)"));
    TEST_ASSERT_EQUAL_INT(405, request("PUT", "/predict", "text/plain", "0", NULL, 0));
    TEST_ASSERT_EQUAL_INT(405, request("POST", "/", "text/plain", "0", NULL, 0));
    TEST_ASSERT_TRUE(is_one_line_error() && strcmp(resp.allow, "GET") == 0);
    TEST_ASSERT_EQUAL_INT(405, request("DELETE", "/model", NULL, NULL, NULL, 0));
    TEST_ASSERT_EQUAL_INT(405, request("HEAD", "/", NULL, NULL, NULL, 0));
    TEST_ASSERT_EQUAL_INT(405, request(NULL, "/", NULL, NULL, NULL, 0));
    TEST_ASSERT_EQUAL_INT(405, request("get", "/", NULL, NULL, NULL, 0)); /* methods are case-sensitive */
}

static void test_wrong_content_types_are_415(void)
{
    static const char *const types[] = {"application/octet-stream", "text/plainx", "text/html",
                                        "application/x-www-form-urlencoded", "", "text/"};
    const size_t n = encode_sample(0, 0, 0);
    size_t i;
    for (i = 0; i < sizeof types / sizeof types[0]; i++) {
        TEST_ASSERT_EQUAL_INT(415, post(types[i], n));
        TEST_ASSERT_TRUE(is_one_line_error() && resp.allow == NULL);
        TEST_ASSERT_TRUE(body_contains("Content-Type must be text/plain"));
    }
    TEST_ASSERT_EQUAL_INT(415, request("POST", "/predict", NULL, "1568", body, n));
    TEST_ASSERT_EQUAL_INT(200, post("  TEXT/PLAIN ;charset=us-ascii", n));
}

static void test_content_length_is_checked_before_the_body(void)
{
    static const char *const not_numbers[] = {"", "abc", "-5", "12 34", "0x10", "+1568", "15.68"};
    const nnweb_request_t missing = {"POST", "/predict", "text/plain", NULL};
    const nnweb_request_t large = {"POST", "/predict", "text/plain", "4097"};
    const nnweb_request_t huge = {"POST", "/predict", "text/plain", "99999999999999999999999"};
    size_t i;
    TEST_ASSERT_EQUAL_INT(411, nnweb_head(&web, &missing, &resp));
    TEST_ASSERT_TRUE(is_one_line_error() && body_contains("Content-Length is required"));
    for (i = 0; i < sizeof not_numbers / sizeof not_numbers[0]; i++) {
        const nnweb_request_t bad = {"POST", "/predict", "text/plain", not_numbers[i]};
        TEST_ASSERT_EQUAL_INT(400, nnweb_head(&web, &bad, &resp));
        TEST_ASSERT_TRUE(is_one_line_error() && body_contains("Content-Length is not a number"));
    }
    TEST_ASSERT_EQUAL_INT(413, nnweb_head(&web, &large, &resp));
    TEST_ASSERT_TRUE(is_one_line_error() && body_is("{\"error\":\"body too large: the limit is 4096 bytes\"}"));
    TEST_ASSERT_EQUAL_INT(413, nnweb_head(&web, &huge, &resp));
    /* nnweb_handle makes the same checks for servers that read the body first (Arduino) */
    TEST_ASSERT_EQUAL_INT(411, request("POST", "/predict", "text/plain", NULL, body, 10));
    TEST_ASSERT_EQUAL_INT(413, request("POST", "/predict", "text/plain", "5000", body, 10));
}

static void test_wrong_bodies_are_400(void)
{
    size_t n = encode_sample(1, 0, 0);
    TEST_ASSERT_EQUAL_INT(400, request("POST", "/predict", "text/plain", "1568", body, 1000)); /* short read */
    TEST_ASSERT_TRUE(is_one_line_error() && body_contains("body of 1000 bytes, but Content-Length says 1568"));
    TEST_ASSERT_EQUAL_INT(400, post("text/plain", n - 1u));
    TEST_ASSERT_TRUE(is_one_line_error());
    TEST_ASSERT_TRUE(body_is("{\"error\":\"body holds 1567 hex digits; expected 1568 hex digits (28x28 pixels, two each)\"}"));
    body[n] = '0';
    body[n + 1u] = '0';
    TEST_ASSERT_EQUAL_INT(400, post("text/plain", n + 2u));
    TEST_ASSERT_TRUE(body_contains("body holds 1570 hex digits"));
    TEST_ASSERT_EQUAL_INT(400, post("text/plain", 0));
    TEST_ASSERT_TRUE(body_contains("body holds 0 hex digits"));
    TEST_ASSERT_EQUAL_INT(400, request("POST", "/predict", "text/plain", "0", NULL, 0));
    n = encode_sample(1, 0, 0);
    body[5] = 'g';
    TEST_ASSERT_EQUAL_INT(400, post("text/plain", n));
    TEST_ASSERT_TRUE(is_one_line_error() && body_contains("body byte 5 is not a hex digit"));
    n = encode_sample(1, 0, 0);
    body[700] = '\0'; /* raw bytes are not the encoding: a zero byte is refused like any other */
    TEST_ASSERT_EQUAL_INT(400, post("text/plain", n));
    TEST_ASSERT_TRUE(body_contains("body byte 700 is not a hex digit"));
    n = encode_sample(1, 0, 0);
    body[0] = '"'; /* the message never echoes request bytes, so it stays valid JSON */
    TEST_ASSERT_EQUAL_INT(400, post("text/plain", n));
    TEST_ASSERT_TRUE(is_one_line_error());
}

static nnrt_status_t refused(void)
{
    return NNRT_ERR_CORRUPT;
}

static void test_a_refused_model_storage_is_503(void)
{
    nnweb_model_t broken = model;
    const size_t n = encode_sample(2, 0, 0);
    broken.check = refused;
    TEST_ASSERT_EQUAL_INT(0, nnweb_init(&web, &broken, &site));
    TEST_ASSERT_EQUAL_INT(503, post("text/plain", n));
    TEST_ASSERT_TRUE(is_one_line_error() && body_contains("model storage refused: model image corrupt (CRC mismatch)"));
}

static void test_labels_and_device_are_json_escaped(void)
{
    static const char *const odd[NNMODEL_NUM_CLASSES] = {"0", "1", "2", "3", "4", "5", "6", "se\"v\\en\x01", "8", "9"};
    static const nnweb_site_t quoted = {nnmodel_web_page, NNMODEL_WEB_PAGE_BYTES, nnmodel_web_info, "a\"b", NULL, NULL};
    nnweb_model_t custom = model;
    const size_t n = encode_sample(0, 0, 0); /* sample 0 is a 7 */
    custom.labels = odd;
    TEST_ASSERT_EQUAL_INT(0, nnweb_init(&web, &custom, &quoted));
    TEST_ASSERT_EQUAL_INT(200, post("text/plain", n));
    TEST_ASSERT_TRUE(body_contains("{\"class\":7,\"label\":\"se\\\"v\\\\en\\u0001\",\"logits\":["));
    TEST_ASSERT_TRUE(body_contains(",\"device\":\"a\\\"b\"}"));
}

static uint32_t ticks;
static uint32_t fake_clock(void *ctx)
{
    (void)ctx;
    ticks += 7u;
    return ticks;
}

static void test_the_time_comes_from_the_site_clock(void)
{
    static const nnweb_site_t timed = {nnmodel_web_page, NNMODEL_WEB_PAGE_BYTES, nnmodel_web_info, "test",
                                       fake_clock, NULL};
    const size_t n = encode_sample(3, 0, 0);
    ticks = 0xFFFFFFFCu; /* the difference survives the counter's wrap */
    TEST_ASSERT_EQUAL_INT(0, nnweb_init(&web, &model, &timed));
    TEST_ASSERT_EQUAL_INT(200, post("text/plain", n));
    TEST_ASSERT_TRUE(body_contains(",\"us\":7,"));
}

static void test_init_refuses_what_it_cannot_serve(void)
{
    static const char *const long_label[NNMODEL_NUM_CLASSES] = {
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "123456789012345678901234567890123"};
    static const nnweb_site_t long_device = {nnmodel_web_page, NNMODEL_WEB_PAGE_BYTES, nnmodel_web_info,
                                             "123456789012345678901234567890123", NULL, NULL};
    nnweb_model_t m = model;
    nnweb_site_t s = site;
    TEST_ASSERT_EQUAL_INT(-1, nnweb_init(NULL, &model, &site));
    TEST_ASSERT_EQUAL_INT(-1, nnweb_init(&web, NULL, &site));
    TEST_ASSERT_EQUAL_INT(-1, nnweb_init(&web, &model, NULL));
    TEST_ASSERT_EQUAL_INT(-1, nnweb_init(&web, &model, &long_device));
    s.info = NULL;
    TEST_ASSERT_EQUAL_INT(-1, nnweb_init(&web, &model, &s));
    m.cols = NNWEB_MAX_COLS + 1u;
    TEST_ASSERT_EQUAL_INT(-1, nnweb_init(&web, &m, &site));
    m = model;
    m.n_classes = NNWEB_MAX_CLASSES + 1u;
    TEST_ASSERT_EQUAL_INT(-1, nnweb_init(&web, &m, &site));
    m = model;
    m.rows = 64; /* 64x28 pixels: 3584 hex digits fit in a body; 64x64 would not */
    TEST_ASSERT_EQUAL_INT(0, nnweb_init(&web, &m, &site));
    m.cols = 64;
    TEST_ASSERT_EQUAL_INT(-1, nnweb_init(&web, &m, &site));
    m = model;
    m.labels = long_label;
    TEST_ASSERT_EQUAL_INT(-1, nnweb_init(&web, &m, &site));
    m = model;
    m.finish = NULL;
    TEST_ASSERT_EQUAL_INT(-1, nnweb_init(&web, &m, &site));
    TEST_ASSERT_EQUAL_INT(0, nnweb_init(&web, &model, &site));
}

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_page_and_model_description_are_served_as_generated);
    RUN_TEST(test_predictions_reproduce_the_golden_logits);
    RUN_TEST(test_head_lets_a_good_request_read_its_body);
    RUN_TEST(test_unknown_paths_are_404);
    RUN_TEST(test_wrong_methods_are_405_with_allow);
    RUN_TEST(test_wrong_content_types_are_415);
    RUN_TEST(test_content_length_is_checked_before_the_body);
    RUN_TEST(test_wrong_bodies_are_400);
    RUN_TEST(test_a_refused_model_storage_is_503);
    RUN_TEST(test_labels_and_device_are_json_escaped);
    RUN_TEST(test_the_time_comes_from_the_site_clock);
    RUN_TEST(test_init_refuses_what_it_cannot_serve);
    return UNITY_END();
}
