// The ESP32-C3 side: USB serial bytes into the portable protocol (classifier.c).
#include <Arduino.h>

#include "classifier.h"
#include "nnmodel.h"

void setup()
{
    Serial.begin(115200);
    Serial.printf("model %s (%s), send 'N' + %u pixels\n", NNMODEL_NAME, NNMODEL_LAYERS,
                  (unsigned)(NNMODEL_INPUT_ROWS * NNMODEL_INPUT_COLS));
}

void loop()
{
    static char reply[256];
    while (Serial.available() > 0) {
        const size_t n = classifier_feed((uint8_t)Serial.read(), reply, sizeof reply);
        if (n) {
            Serial.write(reinterpret_cast<const uint8_t *>(reply), n);
        }
    }
}
