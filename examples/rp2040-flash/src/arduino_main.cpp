// The Pico side: the samples classified once at boot, printed over USB serial.
#include <Arduino.h>

#include "digits.h"
#include "nnmodel.h"
#include "nnmodel_samples.h"

static void print_line(const char *text) { Serial.println(text); }

void setup()
{
    Serial.begin(115200);
    while (!Serial) {
        delay(10); // USB serial: wait for the monitor
    }
    Serial.printf("model %s, weights in %s\n", NNMODEL_NAME, NNMODEL_STORAGE);
    const unsigned long start = micros();
    const uint16_t right = digits_run(print_line);
    Serial.printf("%u of %u right, %lu us\n", right, (unsigned)NNMODEL_SAMPLE_COUNT, micros() - start);
}

void loop() {}
