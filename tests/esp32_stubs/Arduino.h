/* Stand-in for arduino-esp32's Arduino.h: declarations only (tests/esp32_stubs/README.md). */
#ifndef STUB_ARDUINO_H
#define STUB_ARDUINO_H
#include <stddef.h>
#include <stdint.h>

typedef const char *PGM_P;
typedef bool boolean;

unsigned long millis(void);
unsigned long micros(void);
void delay(uint32_t ms);

class String {
public:
    String(const char *text = "");
    const char *c_str() const;
    unsigned int length() const;
};

class HardwareSerial {
public:
    void begin(unsigned long baud);
    size_t printf(const char *format, ...) __attribute__((format(printf, 2, 3)));
    size_t println(const char *text);
    int available(void);
    int read(void);
    size_t write(const uint8_t *buffer, size_t size);
    operator bool() const;
};
extern HardwareSerial Serial;
#endif
