/* nnmodel ESP32-C3 firmware: Arduino framework on the official espressif32 platform.
 *
 * At boot it prints the model's description, then classifies the sample digits embedded by the
 * pre-build (custom_nnmodel_samples) and prints the microseconds of each inference (micros()).
 * Then it serves the serial protocol of docs/serial-protocol.md at 115200 baud: a host sends
 * images and gets class, logits and time back (`nnmodel device-eval --port PORT`). The protocol
 * code is lib/nnserial, the same C99 that the host tests run over a pseudo-terminal
 * (src/native_device). Boot lines start with "# ", which hosts skip.
 */
#include <Arduino.h>

#include "nnmodel.h"
#include "nnserial.h"

#if defined(__has_include)
#if __has_include("nnmodel_samples.h")
#include "nnmodel_samples.h"
#define HAVE_SAMPLES 1
#endif
#endif

static nnser_t proto;
static const nnser_model_t model = NNSER_MODEL_OF_NNMODEL(nnmodel_finish);
static bool serving = false;

static void serial_write(void *ctx, const char *text, size_t n)
{
    (void)ctx;
    Serial.write(reinterpret_cast<const uint8_t *>(text), n);
}

static uint32_t clock_us(void *ctx)
{
    (void)ctx;
    return static_cast<uint32_t>(micros());
}

static const nnser_io_t io = {serial_write, clock_us, 1, nullptr}; /* micros(): 1 tick per us */

#ifdef HAVE_SAMPLES
/* Each digit is streamed row by row from flash, as the protocol streams it from the host. */
static void classify_samples()
{
    int32_t logits[NNMODEL_NUM_CLASSES];
    unsigned long total_us = 0;
    unsigned correct = 0;
    for (uint16_t k = 0; k < NNMODEL_SAMPLE_COUNT; k++) {
        const unsigned long t0 = micros();
        const uint16_t predicted = nnmodel_sample_classify(k, logits);
        const unsigned long us = micros() - t0;
        const uint8_t label = nnmodel_sample_label(k);
        total_us += us;
        correct += predicted == label ? 1u : 0u;
        Serial.printf("# sample %u: class %u, label %u, %lu us%s\n", static_cast<unsigned>(k),
                      static_cast<unsigned>(predicted), static_cast<unsigned>(label), us,
                      predicted == label ? "" : "  <- miss");
    }
    Serial.printf("# samples: %u/%u correct, %lu us per inference (mean of %u, micros())\n", correct,
                  static_cast<unsigned>(NNMODEL_SAMPLE_COUNT), total_us / NNMODEL_SAMPLE_COUNT,
                  static_cast<unsigned>(NNMODEL_SAMPLE_COUNT));
}
#endif

void setup()
{
    Serial.setRxBufferSize(1024); /* a whole 784-byte frame fits while loop() sleeps */
    Serial.begin(115200);
    const unsigned long start = millis();
    while (!Serial && millis() - start < 2000) {
        delay(10); /* USB CDC boards: give the host a moment to open the port */
    }
    Serial.printf("# nnmodel on ESP32-C3 at %lu MHz\n", static_cast<unsigned long>(getCpuFrequencyMhz()));
    if (nnser_init(&proto, &model, &io) != 0) {
        Serial.printf("# error: model %s exceeds the serial protocol's buffers (lib/nnserial limits)\n",
                      NNMODEL_NAME);
        return;
    }
    nnser_write_banner(&proto);
    const nnrt_status_t status = nnmodel_check();
    if (status != NNRT_OK) {
        Serial.printf("# error: model storage refused: %s\n", nnrt_status_name(status));
    }
#ifdef HAVE_SAMPLES
    else {
        classify_samples();
    }
#endif
    Serial.printf("# ready: send PING, INFO or CLASSIFY (docs/serial-protocol.md)\n");
    serving = true;
}

void loop()
{
    if (!serving) {
        delay(1000);
        return;
    }
    int waiting = Serial.available();
    if (waiting <= 0) {
        nnser_poll(&proto, static_cast<uint32_t>(millis())); /* ends stalled frames */
        delay(1); /* lets the idle task run (task watchdog); bytes queue in the RX buffer */
        return;
    }
    while (waiting-- > 0) {
        const int byte = Serial.read();
        if (byte < 0) {
            break;
        }
        nnser_feed(&proto, static_cast<uint8_t>(byte), static_cast<uint32_t>(millis()));
    }
}
