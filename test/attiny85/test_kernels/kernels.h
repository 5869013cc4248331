/* The kernels under test, one instance per weight storage (eeprom.c, ram.c), reached
 * through these wrappers so that the checks (checks.c) exist once. Offsets index a table in
 * the storage whose byte i is i mod 256 (table_bytes long), so the weight at offset i is
 * (int8_t)i. */
#ifndef TEST_KERNELS_H
#define TEST_KERNELS_H

#include <stdint.h>

typedef struct {
    uint16_t table_bytes;
    /* acc[j] += sum_i w[off + j * stride + i] * x[i], n = 1..256 (0 means 256), n_out <= 254;
     * x int8 if sx, else uint8: the asm loop itself */
    void (*dot)(int32_t *acc, uint16_t off, uint8_t n_out, uint16_t stride, const uint8_t *x, uint8_t n,
                uint8_t sx);
    /* the generated code's entry points (any n, chunks of 256), or NULL */
    void (*mac)(int32_t *acc, uint16_t off, uint16_t n_out, uint16_t stride, const uint8_t *x, uint16_t n,
                uint8_t sx);
    void (*bias)(int32_t *acc, uint16_t off, uint16_t n, uint8_t width); /* or NULL */
    /* y = requant(acc) with the (M, S) pairs stored at offsets mult, shift; lut offset or 0 */
    void (*requant)(const int32_t *acc, int8_t *y, uint16_t n, uint16_t mult, uint16_t shift, uint8_t per_channel,
                    int8_t lo, int8_t hi, uint16_t lut); /* or NULL */
} kernels_t;

/* checks.c: the checks of the storage in kernels_now, each returning its mismatches;
 * test_buffer holds their long inputs and is the RAM kernels' table. */
extern const kernels_t *kernels_now;
#define TEST_BUFFER_BYTES 260u
extern uint8_t test_buffer[TEST_BUFFER_BYTES];
uint16_t check_every_weight_times_every_input(void); /* any storage */
uint16_t check_long_dot_products(void);              /* needs mac */
uint16_t check_bias_of_every_width(void);            /* needs bias */
uint16_t check_requant_matches_the_formula(void);    /* needs requant */

/* (M, S) pairs for requantization: the model's own, the extremes of both, shifts on either
 * side of 16 (the asm loop takes per-tensor S >= 17, the rest the C formula). */
#define PARAM_LIST(X)                                                                              \
    X(10730, 19) X(22180, 21) X(32767, 31) X(1, 17) X(3, 24) X(32767, 17) X(255, 16) X(12345, 8)   \
    X(7, 0) X(32767, 1) X(4096, 20) X(1000, 30)
#define N_PARAMS 12u
#define PARAM_TRIPLE(m, s) (m) & 255, (m) >> 8, (s), /* per tensor: M lo, M hi, S */
#define PARAM_MULT(m, s) (m) & 255, (m) >> 8,         /* per channel: the multipliers... */
#define PARAM_SHIFT(m, s) (s),                        /* ...then the shifts */

#define B16(k) (k), (k) + 1, (k) + 2, (k) + 3, (k) + 4, (k) + 5, (k) + 6, (k) + 7, (k) + 8, (k) + 9, \
               (k) + 10, (k) + 11, (k) + 12, (k) + 13, (k) + 14, (k) + 15
#define B256 B16(0), B16(16), B16(32), B16(48), B16(64), B16(80), B16(96), B16(112), B16(128), B16(144), \
             B16(160), B16(176), B16(192), B16(208), B16(224), B16(240)

#endif
