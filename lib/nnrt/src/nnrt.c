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
