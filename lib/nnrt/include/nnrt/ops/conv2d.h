/* nnrt conv2d: valid k x k convolutions, stride 1, over HWC rows that stream in, with the max-pool
 * after them fused (raw sums pooled before bias and requantization: exact because requantization
 * and the clamp are monotone, M > 0).
 *
 * The generated stage functions (nnmodel/plan.py) keep line buffers of input rows and call, per
 * pooled output row, either nnrt_conv_window (all p x p conv rows at once) or nnrt_conv_run once
 * per conv row then nnrt_conv_out. Weights [c_out][k][k][c_in], int8 or packed int4; inputs uint8
 * (pixels) or int8. Specification: nnmodel/ops/conv2d.py, nnmodel/reference.py.
 */
#ifndef NNRT_OPS_CONV2D_H
#define NNRT_OPS_CONV2D_H

#include "nnrt/ops/activation.h"
#include "nnrt/ops/dense.h"

/* The conv row functions are NNRT_CONV_FN (nnrt/storage.h): out of line on AVR, inlined into each
 * generated stage elsewhere, so that the stage's constants (kernel, channels, the weight rows'
 * distance per_out) become immediates in the eight-channel loop. */

/* What one conv stage computes. */
typedef struct {
    uint8_t sx;     /* inputs int8 (else uint8: pixels, or int8 proven >= 0) */
    uint8_t w4;     /* weights packed int4 (else int8) */
    uint8_t k;      /* kernel k x k */
    uint16_t c_in;  /* input channels */
    uint16_t c_out; /* output channels */
    uint16_t p;     /* fused max-pool p x p (1: none) */
    uint16_t n_q;   /* pooled outputs per row */
    nnrt_wptr_t w;  /* weights [c_out][k][k][c_in] */
} nnrt_conv_params_t;

/* How its outputs are finished: bias, requantization and clamp. */
typedef struct {
    nnrt_wptr_t bias;    /* biases, bias_width bytes each (LE), stored >> bias_shift */
    uint8_t bias_width;
    uint8_t bias_shift;
    nnrt_wptr_t mult;    /* multipliers M, LE16, per channel if per_channel */
    nnrt_wptr_t shift;   /* shifts S, one byte each */
    uint8_t per_channel;
    int8_t lo;           /* clamp range */
    int8_t hi;
} nnrt_conv_out_params_t;

/* ---- portable C: the reference the AVR variants are proven equal to ---- */
/* The same for int8 weights: element t + s*n + i is byte w[t + s*n + i]. */
NNRT_INLINE int32_t nnrt_conv_dot_w8(nnrt_wptr_t w, uint16_t t, const uint8_t *const *rows, uint8_t k,
                                     uint16_t off, uint16_t n, uint8_t sx)
{
    int32_t sum = 0;
    uint16_t i;
    uint8_t s;
    w += t;
    for (s = 0; s < k; s++, w += n) {
        const uint8_t *x = rows[s] + off;
        if (sx) {
            for (i = 0; i < n; i++) {
                sum += (int8_t)NNRT_RD(w + i) * (int8_t)x[i]; /* fits int16 */
            }
        } else {
            for (i = 0; i < n; i++) {
                sum += (int8_t)NNRT_RD(w + i) * x[i]; /* fits int16: -32640..32385 */
            }
        }
    }
    return sum;
}


/* Max over dy < n_dy, dx < p of the raw conv sum (no bias) at input column col + dx of rows
 * rows[dy..dy+k-1], for the output whose weights start at element t. */
NNRT_INLINE int32_t nnrt_conv_max(const uint8_t *const *rows, uint16_t n_dy, uint16_t p, uint8_t k, uint16_t c_in,
                                  uint16_t col, nnrt_wptr_t w, uint32_t t, uint8_t w4, uint8_t sx)
{
    const uint16_t taps = (uint16_t)(k * c_in);
    int32_t best = 0;
    uint16_t dy, dx;
    for (dy = 0; dy < n_dy; dy++) {
        for (dx = 0; dx < p; dx++) {
            const uint16_t off = (uint16_t)((col + dx) * c_in);
            const int32_t v = w4 ? nnrt_dot_w4(w + (t >> 1), (uint16_t)(t & 1u), rows + dy, k, off, taps, sx)
                                 : nnrt_conv_dot_w8(w + t, 0u, rows + dy, k, off, taps, sx);
            if ((dy == 0u && dx == 0u) || v > best) {
                best = v;
            }
        }
    }
    return best;
}

#if !defined(__AVR__)
/* Eight output channels at once (int8 weights): each input value is loaded and tested once for all
 * eight, a zero input (most pixels, many ReLU outputs) costs no weight read, and the eight weight
 * rows are per_out apart (immediate offsets when IPA-CP makes per_out a constant). best[c] = max over dy < n_dy, dx < p of channel c's raw
 * sum at input column col + dx of rows[dy..dy+k-1]; w points at tap 0 of the first channel. */
#define NNRT_CONV_MAC(c) s##c += (int8_t)NNRT_RD(wi + c##u * per_out) * v;
#define NNRT_CONV_BEST(c) if (first || s##c > best[c##u]) { best[c##u] = s##c; }
NNRT_INLINE void nnrt_conv_max8(const uint8_t *const *rows, unsigned n_dy, unsigned p, unsigned k, unsigned c_in,
                                unsigned col, nnrt_wptr_t w, uint32_t per_out, uint8_t sx, int32_t *best)
{
    const unsigned taps = k * c_in;
    unsigned dy, dx, r, i;
    for (dy = 0; dy < n_dy; dy++) {
        for (dx = 0; dx < p; dx++) {
            const uint8_t first = (uint8_t)(dy == 0u && dx == 0u);
            nnrt_wptr_t wr = w;
            NNRT_EACH_ROW(NNRT_ZERO_SUM)
            for (r = 0; r < k; r++, wr += taps) {
                const uint8_t *x = rows[dy + r] + (col + dx) * c_in;
                for (i = 0; i < taps; i++) {
                    const int16_t v = sx ? (int16_t)(int8_t)x[i] : (int16_t)x[i];
                    if (v != 0) {
                        const nnrt_wptr_t wi = wr + i; /* channel c's weight: wi + c * per_out */
                        NNRT_EACH_ROW(NNRT_CONV_MAC)
                    }
                }
            }
            NNRT_EACH_ROW(NNRT_CONV_BEST)
        }
    }
}
#endif

/* act(requant(raw + bias[o] << bias_shift)) for output channel o: multiplier and shift per
 * channel when per_channel, else the first pair. */
NNRT_INLINE int8_t nnrt_conv_requant(int32_t raw, uint16_t o, nnrt_wptr_t bias, uint8_t bias_width,
                                     uint8_t bias_shift, nnrt_wptr_t mult, nnrt_wptr_t shift,
                                     uint8_t per_channel, int8_t lo, int8_t hi)
{
    const uint16_t c = per_channel ? o : 0u;
    const int32_t v = raw + nnrt_rd_le(bias + (size_t)o * bias_width, bias_width) * ((int32_t)1 << bias_shift);
    return nnrt_requant1(v, mult + 2u * (size_t)c, shift + c, lo, hi);
}

/* One pooled output row, window strategy: rows[0..k+p-2] are the input rows of the p conv rows
 * of the pooling group. For q < n_q, o < c_out: y[q*c_out + o] = act(requant(bias[o] + max over
 * the p x p conv sums at conv columns q*p..q*p+p-1)). p = 1 is a plain conv row. */
NNRT_CONV_FN void nnrt_conv_window_c(const uint8_t *const *rows, uint8_t sx, uint8_t w4, uint8_t k,
                                   uint16_t c_in, uint16_t c_out, uint16_t p, uint16_t n_q,
                                   nnrt_wptr_t w, nnrt_wptr_t bias, uint8_t bias_width,
                                   uint8_t bias_shift, nnrt_wptr_t mult, nnrt_wptr_t shift,
                                   uint8_t per_channel, int8_t lo, int8_t hi, int8_t *y)
{
    const uint32_t per_out = (uint32_t)k * k * c_in;
    uint16_t q, o;
    for (q = 0; q < n_q; q++) {
        o = 0;
#if !defined(__AVR__)
        for (; !w4 && o + NNRT_ROWS <= c_out; o += NNRT_ROWS) {
            int32_t best[NNRT_ROWS] = {0}; /* set by the first window position; {0} for -Wmaybe-uninitialized */
            unsigned c;
            nnrt_conv_max8(rows, p, p, k, c_in, (unsigned)q * p, w + o * per_out, per_out, sx, best);
            for (c = 0; c < NNRT_ROWS; c++) {
                *y++ = nnrt_conv_requant(best[c], (uint16_t)(o + c), bias, bias_width, bias_shift, mult, shift,
                                         per_channel, lo, hi);
            }
        }
#endif
        for (; o < c_out; o++) {
            const int32_t m = nnrt_conv_max(rows, p, p, k, c_in, (uint16_t)(q * p), w, o * per_out, w4, sx);
            *y++ = nnrt_conv_requant(m, o, bias, bias_width, bias_shift, mult, shift, per_channel, lo, hi);
        }
    }
}

/* Entry j of a running-max buffer: int16 or (wide) int32, as the proof requires. */
NNRT_INLINE int32_t nnrt_run_at(const void *run, uint8_t wide, uint16_t j)
{
    return wide ? ((const int32_t *)run)[j] : ((const int16_t *)run)[j];
}

/* run[j] = m if first, else the larger of the two. */
NNRT_INLINE void nnrt_run_max(void *run, uint8_t wide, uint16_t j, int32_t m, uint8_t first)
{
    if (first || m > nnrt_run_at(run, wide, j)) {
        if (wide) {
            ((int32_t *)run)[j] = m;
        } else {
            ((int16_t *)run)[j] = (int16_t)m;
        }
    }
}

/* Running strategy, one conv row (rows[0..k-1]): run[q*c_out + o] = max over the p conv sums at
 * columns q*p.., combined with the earlier rows of the group unless first. The caller proves
 * every sum fits the running type (int16, or int32 if wide). */
NNRT_CONV_FN void nnrt_conv_run_c(const uint8_t *const *rows, uint8_t sx, uint8_t w4, uint8_t k, uint16_t c_in,
                                  uint16_t c_out, uint16_t p, uint16_t n_q, nnrt_wptr_t w, void *run, uint8_t wide,
                                  uint8_t first)
{
    const uint32_t per_out = (uint32_t)k * k * c_in;
    uint16_t q, o, j = 0;
    for (q = 0; q < n_q; q++) {
        o = 0;
#if !defined(__AVR__)
        for (; !w4 && o + NNRT_ROWS <= c_out; o += NNRT_ROWS) {
            int32_t best[NNRT_ROWS] = {0}; /* set by the first window position; {0} for -Wmaybe-uninitialized */
            unsigned c;
            nnrt_conv_max8(rows, 1u, p, k, c_in, (unsigned)q * p, w + o * per_out, per_out, sx, best);
            for (c = 0; c < NNRT_ROWS; c++, j++) {
                nnrt_run_max(run, wide, j, best[c], first);
            }
        }
#endif
        for (; o < c_out; o++, j++) {
            nnrt_run_max(run, wide, j, nnrt_conv_max(rows, 1u, p, k, c_in, (uint16_t)(q * p), w, o * per_out, w4, sx),
                         first);
        }
    }
}

/* End of a pooling group: y[j] = act(requant(bias[o] + run[j])), o = j % c_out, j < n_q*c_out.
 * y may be the running buffer itself (each byte is written after the entry holding it is read). */
NNRT_CONV_FN void nnrt_conv_out_c(const void *run, uint8_t wide, uint16_t n_q, uint16_t c_out, nnrt_wptr_t bias,
                                uint8_t bias_width, uint8_t bias_shift, nnrt_wptr_t mult, nnrt_wptr_t shift,
                                uint8_t per_channel, int8_t lo, int8_t hi, int8_t *y)
{
    uint16_t q, o, j = 0;
    for (q = 0; q < n_q; q++) {
        for (o = 0; o < c_out; o++, j++) {
            *y++ = nnrt_conv_requant(nnrt_run_at(run, wide, j), o, bias, bias_width, bias_shift, mult, shift,
                                     per_channel, lo, hi);
        }
    }
}

#if defined(__AVR__) /* ---- AVR: int4 windows through the bit-plane kernel ---- */
#include "nnrt/arch/avr/conv2d.h"
#define NNRT_CONV_WINDOW nnrt_conv_window_avr
#define NNRT_CONV_RUN nnrt_conv_run_avr
#else
#define NNRT_CONV_WINDOW nnrt_conv_window_c
#define NNRT_CONV_RUN nnrt_conv_run_c
#endif

/* One pooled output row, window strategy (see nnrt_conv_window_c). */
NNRT_INLINE void nnrt_conv_window(const uint8_t *const *rows, const nnrt_conv_params_t *g,
                                  const nnrt_conv_out_params_t *o, int8_t *y)
{
    NNRT_CONV_WINDOW(rows, g->sx, g->w4, g->k, g->c_in, g->c_out, g->p, g->n_q, g->w, o->bias, o->bias_width,
                     o->bias_shift, o->mult, o->shift, o->per_channel, o->lo, o->hi, y);
}

/* One conv row into the running max of its pooling group (see nnrt_conv_run_c). */
NNRT_INLINE void nnrt_conv_run(const uint8_t *const *rows, const nnrt_conv_params_t *g, void *run, uint8_t wide,
                               uint8_t first)
{
    NNRT_CONV_RUN(rows, g->sx, g->w4, g->k, g->c_in, g->c_out, g->p, g->n_q, g->w, run, wide, first);
}

/* The end of a pooling group: the outputs from the running max (see nnrt_conv_out_c). */
NNRT_INLINE void nnrt_conv_out(const void *run, uint8_t wide, uint16_t n_q, uint16_t c_out,
                               const nnrt_conv_out_params_t *o, int8_t *y)
{
    nnrt_conv_out_c(run, wide, n_q, c_out, o->bias, o->bias_width, o->bias_shift, o->mult, o->shift, o->per_channel,
                    o->lo, o->hi, y);
}

#endif /* NNRT_OPS_CONV2D_H */
