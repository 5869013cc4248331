/* One storage's kernel instances and wrappers; the includer defines NNRT_STORAGE, KC(name),
 * KC_TABLE (the table's first byte, in that storage) and optionally KC_FULL (the entry points
 * for any size, bias and requantization too). */
#include <stddef.h>

#include "kernels.h"
#include "nnrt/ops/activation.h"
#include "nnrt/ops/dense.h"

#define KC_W(off) ((nnrt_wptr_t)(KC_TABLE + (off)))

static void KC(dot)(int32_t *acc, uint16_t off, uint8_t n_out, uint16_t stride, const uint8_t *x, uint8_t n,
                    uint8_t sx)
{
    nnrt_rd_open();
    nnrt_avr_dot(acc, KC_W(off), n_out, stride, x, n, sx);
}

#ifdef KC_FULL
static void KC(mac)(int32_t *acc, uint16_t off, uint16_t n_out, uint16_t stride, const uint8_t *x, uint16_t n,
                    uint8_t sx)
{
    if (sx) {
        nnrt_mac_s8(acc, KC_W(off), n_out, stride, (const int8_t *)x, n);
    } else {
        nnrt_mac_u8(acc, KC_W(off), n_out, stride, x, n);
    }
}

static void KC(bias)(int32_t *acc, uint16_t off, uint16_t n, uint8_t width)
{
    nnrt_bias_s32(acc, KC_W(off), n, width);
}

static void KC(requant)(const int32_t *acc, int8_t *y, uint16_t n, uint16_t mult, uint16_t shift,
                        uint8_t per_channel, int8_t lo, int8_t hi, uint16_t lut)
{
    const nnrt_act_params_t act = {KC_W(mult), KC_W(shift), per_channel, lo, hi, lut ? KC_W(lut) : NULL};
    nnrt_requant_s8(acc, y, n, &act);
}
#define KC_FULL_FNS KC(mac), KC(bias), KC(requant)
#else
#define KC_FULL_FNS NULL, NULL, NULL
#endif
