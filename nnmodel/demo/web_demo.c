/* The draw-a-digit endpoints on the host: lib/nnweb with the generated model and page, built as a
 * shared library by `nnmodel demo` (nnmodel/demo/native.py) and called through ctypes, so the
 * host server runs the C that src/esp32c3_web runs on the board. Python only moves bytes:
 * nnweb_head() and nnweb_handle() decide every answer.
 */
#if defined(__unix__) || defined(__APPLE__)
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#endif

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "nnmodel.h"
#include "nnmodel_web_page.h"
#include "nnweb.h"

static const char *const labels[NNMODEL_NUM_CLASSES] = NNMODEL_LABELS;
static const nnweb_model_t model = NNWEB_MODEL_OF_NNMODEL(labels);

/* Wall-clock microseconds where POSIX has a monotonic clock; processor time elsewhere. */
static uint32_t clock_us(void *ctx)
{
    (void)ctx;
#if defined(CLOCK_MONOTONIC)
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint32_t)((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
    }
#else
    return (uint32_t)((uint64_t)clock() * 1000000u / (uint64_t)CLOCKS_PER_SEC);
#endif
}

static const nnweb_site_t site = {nnmodel_web_page, NNMODEL_WEB_PAGE_BYTES, nnmodel_web_info, "host",
                                  clock_us, NULL};

/* The server state for nnweb_head/nnweb_handle; NULL if the model exceeds nnweb's limits. The
 * caller serializes requests (one static model instance). */
nnweb_t *nnweb_demo_open(void);

nnweb_t *nnweb_demo_open(void)
{
    static nnweb_t web;
    return nnweb_init(&web, &model, &site) == 0 ? &web : NULL;
}
