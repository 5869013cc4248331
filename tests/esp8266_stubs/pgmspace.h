/* Declaration-level stand-in for the ESP8266 Arduino core's <pgmspace.h> (tests only: the core is
 * in the unreachable PlatformIO registry). As the core does: PROGMEM data lives in flash, which the
 * ESP8266 reads only as aligned 32-bit words, so pgm_read_byte loads the word and shifts. */
#ifndef ESP8266_STUB_PGMSPACE_H
#define ESP8266_STUB_PGMSPACE_H

#include <stdint.h>

#define PROGMEM __attribute__((section(".irom.text")))

static inline uint8_t esp8266_stub_read_byte(const void *addr)
{
    const uintptr_t a = (uintptr_t)addr;
    const uint32_t word = *(const uint32_t *)(a & ~(uintptr_t)3u);
    return (uint8_t)(word >> ((a & 3u) * 8u));
}
#define pgm_read_byte(addr) esp8266_stub_read_byte((const void *)(addr))

#endif
