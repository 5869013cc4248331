/* nnmodel draw-a-digit on the ESP32-C3: the page of `nnmodel demo`, served by the board over WiFi.
 *
 * Arduino framework on the official espressif32 platform (env esp32c3_web). The page and the model
 * description are generated into $BUILD_DIR/nnmodel/nnmodel_web_page.c from nnmodel/demo/page.html
 * (custom_nnmodel_web_page = yes); every request is answered by lib/nnweb, the same C that the host
 * runs behind `nnmodel demo`, so both answer alike, malformed requests included:
 *
 *   GET /          the page: draw a digit, see the prediction, the scores and the 28x28 input
 *   GET /model     JSON: model name, hash, labels, logit scales
 *   POST /predict  text/plain body: the 28x28 image as 1568 hex digits -> class, logits, us
 *
 * The prediction runs on the chip: the page sends only the preprocessed 784 pixels.
 * WiFi credentials: src/esp32c3_web/wifi_secrets.h (copy wifi_secrets.example.h; gitignored) or
 * build flags, see docs/draw-a-digit.md. The board prints its address on the serial port.
 */
#include <Arduino.h>
#include <ESPmDNS.h>
#include <WebServer.h>
#include <WiFi.h>

#include "nnmodel.h"
#include "nnmodel_web_page.h"
#include "nnweb.h"

#if defined(__has_include)
#if __has_include("wifi_secrets.h")
#include "wifi_secrets.h"
#endif
#endif

#if !defined(NNMODEL_WIFI_SSID) || !defined(NNMODEL_WIFI_PASSWORD)
#error "WiFi credentials missing: copy src/esp32c3_web/wifi_secrets.example.h to src/esp32c3_web/wifi_secrets.h (gitignored) and fill it in, or build with PLATFORMIO_BUILD_FLAGS='-DNNMODEL_WIFI_SSID=\"name\" -DNNMODEL_WIFI_PASSWORD=\"secret\"' (docs/draw-a-digit.md)"
#endif

#ifndef NNMODEL_HOSTNAME
#define NNMODEL_HOSTNAME "nnmodel" /* mDNS: http://nnmodel.local/ */
#endif

static WebServer server(80);
static nnweb_t web;
static const char *const labels[NNMODEL_NUM_CLASSES] = NNMODEL_LABELS;
static const nnweb_model_t model = NNWEB_MODEL_OF_NNMODEL(labels);
static bool ready = false, serving = false, connected = false;

static uint32_t clock_us(void *ctx)
{
    (void)ctx;
    return static_cast<uint32_t>(micros());
}

static const nnweb_site_t site = {nnmodel_web_page, NNMODEL_WEB_PAGE_BYTES, nnmodel_web_info, "ESP32-C3",
                                  clock_us, nullptr};

static const char *method_name(HTTPMethod method)
{
    /* The enum's values differ between core versions; its names do not. */
    if (method == HTTP_GET) {
        return "GET";
    }
    if (method == HTTP_POST) {
        return "POST";
    }
    if (method == HTTP_HEAD) {
        return "HEAD";
    }
    if (method == HTTP_PUT) {
        return "PUT";
    }
    if (method == HTTP_DELETE) {
        return "DELETE";
    }
    return "OTHER"; /* nnweb answers 405 to any method it does not serve */
}

/* Every request lands here (onNotFound, no routes of WebServer's own): lib/nnweb routes, checks
 * and answers, as on the host. WebServer has already read a POST body: a non-form body is the
 * "plain" argument (a C string, hence the hex encoding), a form is parsed away (then the
 * Content-Type check answers 415). */
static void handle_request()
{
    const String path = server.uri();
    const String type = server.header("Content-Type");
    const String length = server.header("Content-Length");
    const String body = server.hasArg("plain") ? server.arg("plain") : String();
    const nnweb_request_t request = {method_name(server.method()), path.c_str(),
                                     server.hasHeader("Content-Type") ? type.c_str() : nullptr,
                                     server.hasHeader("Content-Length") ? length.c_str() : nullptr};
    nnweb_response_t response;
    nnweb_handle(&web, &request, reinterpret_cast<const uint8_t *>(body.c_str()), body.length(), &response);
    if (response.allow != nullptr) {
        server.sendHeader("Allow", response.allow);
    }
    server.sendHeader("Cache-Control", "no-store");
    server.send_P(response.status, response.content_type, reinterpret_cast<PGM_P>(response.body),
                  response.body_bytes);
}

static void start_server()
{
    static const char *headers[] = {"Content-Type", "Content-Length"}; /* what nnweb needs to see */
    server.collectHeaders(headers, sizeof headers / sizeof headers[0]);
    server.onNotFound(handle_request);
    server.begin();
    if (MDNS.begin(NNMODEL_HOSTNAME)) {
        MDNS.addService("http", "tcp", 80);
    }
    serving = true;
}

void setup()
{
    Serial.begin(115200);
    const unsigned long start = millis();
    while (!Serial && millis() - start < 2000) {
        delay(10); /* USB CDC boards: give the host a moment to open the port */
    }
    Serial.printf("# nnmodel draw-a-digit on ESP32-C3: model %s, hash 0x%08lx, %lu MACs\n", NNMODEL_NAME,
                  static_cast<unsigned long>(NNMODEL_HASH), static_cast<unsigned long>(NNMODEL_MACS));
    if (nnweb_init(&web, &model, &site) != 0) {
        Serial.printf("# error: model %s exceeds lib/nnweb's limits (NNWEB_MAX_COLS, NNWEB_MAX_CLASSES)\n",
                      NNMODEL_NAME);
        return;
    }
    const nnrt_status_t status = nnmodel_check();
    if (status != NNRT_OK) {
        Serial.printf("# error: model storage refused: %s\n", nnrt_status_name(status));
        return;
    }
    WiFi.setHostname(NNMODEL_HOSTNAME); /* before mode(): the core applies it when the interface starts */
    WiFi.mode(WIFI_STA);
    WiFi.setAutoReconnect(true);
    WiFi.begin(NNMODEL_WIFI_SSID, NNMODEL_WIFI_PASSWORD);
    Serial.printf("# connecting to WiFi \"%s\" ...\n", NNMODEL_WIFI_SSID);
    ready = true;
}

void loop()
{
    if (!ready) {
        delay(1000);
        return;
    }
    const bool up = WiFi.status() == WL_CONNECTED;
    if (up != connected) {
        connected = up;
        if (up) {
            if (!serving) {
                start_server();
            }
            Serial.printf("# open http://%s/ (or http://%s.local/) and draw a digit\n",
                          WiFi.localIP().toString().c_str(), NNMODEL_HOSTNAME);
        } else {
            Serial.printf("# WiFi connection lost; reconnecting ...\n");
        }
    }
    if (serving) {
        server.handleClient();
    }
    delay(2); /* lets the idle task run (task watchdog) */
}
