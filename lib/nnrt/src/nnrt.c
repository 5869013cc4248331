/* Storage-independent helpers of the nnmodel runtime. */
#include "nnrt.h"

uint16_t nnrt_crc16_update(uint16_t crc, uint8_t byte)
{
    uint8_t i;
    crc ^= (uint16_t)((uint16_t)byte << 8);
    for (i = 0; i < 8; i++) {
        crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

const char *nnrt_status_name(nnrt_status_t status)
{
    switch (status) {
    case NNRT_OK: return "ok";
    case NNRT_ERR_MISSING: return "no model image (erased or never written)";
    case NNRT_ERR_VERSION: return "model image format not supported";
    case NNRT_ERR_LENGTH: return "model image length differs from this firmware's model";
    case NNRT_ERR_STALE: return "model image holds a different model";
    case NNRT_ERR_CORRUPT: return "model image corrupt (CRC mismatch)";
    }
    return "unknown status";
}

/* The gated recurrences' tanh table (nnrt/ops/gates.h, docs/recurrent.md):
 * T[u] = min(254, round(256 tanh(u / 32))), u = 0..127. One copy in flash for every model, in
 * program memory on AVR and ESP8266 (whatever the models' weight storage is); the linker's
 * --gc-sections drops it from firmware without a gated layer. */
#if defined(__AVR__)
#include <avr/pgmspace.h>
#elif defined(ESP8266) || defined(ARDUINO_ARCH_ESP8266)
#include <pgmspace.h>
#endif
#if !defined(PROGMEM)
#define PROGMEM
#endif
const uint8_t nnrt_tanh_table[NNRT_TANH_TABLE_SIZE] PROGMEM = {
    0, 8, 16, 24, 32, 40, 47, 55, 63, 70, 77, 85, 92, 99, 105, 112,
    118, 125, 131, 136, 142, 147, 153, 158, 163, 167, 172, 176, 180, 184, 188, 192,
    195, 198, 201, 204, 207, 210, 212, 215, 217, 219, 221, 223, 225, 227, 229, 230,
    232, 233, 234, 236, 237, 238, 239, 240, 241, 242, 243, 243, 244, 245, 246, 246,
    247, 247, 248, 248, 249, 249, 250, 250, 250, 251, 251, 251, 252, 252, 252, 252,
    253, 253, 253, 253, 253, 253, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254,
    254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254,
    254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254, 254,
};
