// Placeholder ESP32-C3 firmware (Arduino): the serial model demo replaces it.
#include <Arduino.h>

void setup()
{
    Serial.begin(115200);
    Serial.println("nnmodel esp32c3 placeholder");
}

void loop()
{
    delay(1000);
}
