/* nnrt maxpool2d: non-overlapping p x p max over uint8 image rows (a pool of the raw image; pools
 * after a conv are fused into its stage, nnrt/ops/conv2d.h). Floor on a ragged edge.
 * Specification: nnmodel/ops/maxpool2d.py.
 */
#ifndef NNRT_OPS_MAXPOOL2D_H
#define NNRT_OPS_MAXPOOL2D_H

#include "nnrt/storage.h"

/* Max-pool of one image row (one channel) into a pooled row: y[q] = max over x[q*p..q*p+p-1],
 * combined with y[q] unless first (the p rows of a group arrive one by one). */
NNRT_FN void nnrt_pool_u8(const uint8_t *x, uint16_t n_q, uint16_t p, uint8_t *y, uint8_t first)
{
    uint16_t q, dx;
    for (q = 0; q < n_q; q++, x += p) {
        uint8_t m = x[0];
        for (dx = 1; dx < p; dx++) {
            m = x[dx] > m ? x[dx] : m;
        }
        if (first || m > y[q]) {
            y[q] = m;
        }
    }
}

#endif /* NNRT_OPS_MAXPOOL2D_H */
