/* nnrt: the nnmodel runtime. Integer-only, no malloc, no float, no recursion.
 *
 * Generated model code (nnmodel compile) includes one header per operator it uses,
 * nnrt/ops/<op>.h, each reading weights through the one accessor of nnrt/storage.h; this header
 * holds what firmware and tests need besides: the API version, status codes, the EEPROM image
 * header layout, and storage-independent helpers. The arithmetic is specified by
 * nnmodel.reference and docs/quantization.md; every kernel reproduces it (docs/c-runtime.md).
 */
#ifndef NNRT_H
#define NNRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NNRT_VERSION_MAJOR 0
#define NNRT_VERSION_MINOR 2

/* The kernel API generated code is written against. A generated model header names the version
 * it needs and stops the build with an #error naming both when this one differs. Raised whenever
 * a kernel's name, arguments or semantics change (1: the positional kernels of nnmodel 0.1). */
#define NNRT_API_VERSION 2

/* Result of checking a model's weight storage before inference. */
typedef enum {
    NNRT_OK = 0,
    NNRT_ERR_MISSING = 1, /* no image: magic absent (an erased EEPROM reads 0xFF) */
    NNRT_ERR_VERSION = 2, /* image format this runtime does not read */
    NNRT_ERR_LENGTH = 3,  /* payload length differs from the one the firmware was built for */
    NNRT_ERR_STALE = 4,   /* intact image of a different model (hash mismatch) */
    NNRT_ERR_CORRUPT = 5  /* CRC mismatch: flipped or worn bits */
} nnrt_status_t;

/* EEPROM image header: magic "NM", format version, flags, payload length (LE16),
 * model hash (LE32), CRC-16/CCITT-FALSE (LE16) over header bytes 0..9 and the payload. */
#define NNRT_IMAGE_MAGIC0 0x4Eu
#define NNRT_IMAGE_MAGIC1 0x4Du
#define NNRT_IMAGE_VERSION 1u
#define NNRT_IMAGE_HEADER_BYTES 12u

/* CRC-16/CCITT-FALSE step (poly 0x1021, init 0xFFFF): same as avr-libc _crc_xmodem_update. */
uint16_t nnrt_crc16_update(uint16_t crc, uint8_t byte);

/* Short English name of a status, for serial logs and test messages. */
const char *nnrt_status_name(nnrt_status_t status);

/* The tanh table of the gated recurrences (src/nnrt.c; read through nnrt/ops/gates.h): in program
 * memory on AVR and ESP8266, so it is read with pgm_read_byte there. */
#define NNRT_TANH_TABLE_SIZE 128u
extern const uint8_t nnrt_tanh_table[NNRT_TANH_TABLE_SIZE];

#ifdef __cplusplus
}
#endif

#endif /* NNRT_H */
