/* The kernels with the weights in RAM (storage "ram": the asm loads them with ld instead of lpm
 * or the EEPROM registers). The table is checks.c's buffer, filled before the test. */
#include <stdint.h>

#define NNRT_STORAGE NNRT_STORAGE_MEM
#define KC(name) ram_##name
#define KC_TABLE ((const uint8_t *)test_buffer)
#include "storage.h"

const kernels_t ram_kernels = {TEST_BUFFER_BYTES, ram_dot, KC_FULL_FNS};
