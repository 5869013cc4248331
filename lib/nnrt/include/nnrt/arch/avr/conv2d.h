/* AVR conv windows (nnrt/ops/conv2d.h): the int4 layers take each pooled output's window through
 * nnrt_pool_w4 (nnrt/arch/avr/w4.h: bit-plane sums in asm, no multiplier; blank windows skipped for
 * all channels at once); int8 weights (and sums too long for the planes) take the portable code.
 * Same results: test/attiny85/test_w4 proves the kernel, the simulator tests the whole model
 * against nnmodel.reference. No scratch arrays: the stack shares the 512 bytes of SRAM with the
 * line buffers. */
#ifndef NNRT_ARCH_AVR_CONV2D_H
#define NNRT_ARCH_AVR_CONV2D_H

NNRT_AVR_INLINE uint8_t nnrt_avr_fits_w4(uint8_t w4, uint8_t k, uint16_t c_in, uint16_t p, uint8_t sx)
{
    const uint16_t n = (uint16_t)(k * c_in);
    return w4 && n <= 255u && p <= 15u && c_in <= 255u && (uint32_t)k * n <= (sx ? 255u : 257u);
}

NNRT_AVR_INLINE void nnrt_conv_window_avr(const uint8_t *const *rows, uint8_t sx, uint8_t w4, uint8_t k,
                                   uint16_t c_in, uint16_t c_out, uint16_t p, uint16_t n_q,
                                   nnrt_wptr_t w, nnrt_wptr_t bias, uint8_t bias_width,
                                   uint8_t bias_shift, nnrt_wptr_t mult, nnrt_wptr_t shift,
                                   uint8_t per_channel, int8_t lo, int8_t hi, int8_t *y)
{
    const uint8_t n = (uint8_t)(k * c_in);
    const int8_t *blank = NULL; /* the output of this row's first blank window */
    uint16_t q, o;
    if (!nnrt_avr_fits_w4(w4, k, c_in, p, sx)) {
        nnrt_conv_window_c(rows, sx, w4, k, c_in, c_out, p, n_q, w, bias, bias_width, bias_shift, mult, shift,
                           per_channel, lo, hi, y);
        return;
    }
    for (q = 0; q < n_q; q++) {
        /* A blank window (much of a digit's first layer) sums to 0 in every channel: its outputs
         * are the requantized biases, the same for every blank window. */
        const uint8_t any = (uint16_t)(p + k - 1u) * c_in > 255u ||
                            nnrt_any_nonzero(rows, (uint8_t)(p + k - 1u), (uint16_t)(q * p * c_in),
                                             (uint8_t)((p + k - 1u) * c_in));
        if (!any && blank != NULL) {
            for (o = 0; o < c_out; o++) {
                *y++ = blank[o];
            }
            continue;
        }
        if (!any) {
            blank = y;
        }
        for (o = 0; o < c_out; o++) {
            const int32_t m = any ? nnrt_pool_w4(w, (uint16_t)(o * k * n), rows, (uint16_t)(q * p * c_in), k, n,
                                                 (uint8_t)c_in, (uint8_t)p, (uint8_t)p, sx)
                                  : 0;
            *y++ = nnrt_conv_requant(m, o, bias, bias_width, bias_shift, mult, shift, per_channel, lo, hi);
        }
    }
}

NNRT_AVR_INLINE void nnrt_conv_run_avr(const uint8_t *const *rows, uint8_t sx, uint8_t w4, uint8_t k, uint16_t c_in,
                                     uint16_t c_out, uint16_t p, uint16_t n_q, nnrt_wptr_t w, void *run,
                                     uint8_t wide, uint8_t first)
{
    const uint8_t n = (uint8_t)(k * c_in);
    uint16_t q, o, j = 0;
    if (!nnrt_avr_fits_w4(w4, k, c_in, p, sx)) {
        nnrt_conv_run_c(rows, sx, w4, k, c_in, c_out, p, n_q, w, run, wide, first);
        return;
    }
    for (q = 0; q < n_q; q++) {
        for (o = 0; o < c_out; o++, j++) {
            nnrt_run_max(run, wide, j,
                         nnrt_pool_w4(w, (uint16_t)(o * k * n), rows, (uint16_t)(q * p * c_in), k, n, (uint8_t)c_in,
                                      1u, (uint8_t)p, sx),
                         first);
        }
    }
}

#endif /* NNRT_ARCH_AVR_CONV2D_H */
