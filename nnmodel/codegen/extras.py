"""Generated companions of the model code: sample digits, golden vectors and the input stream for C
tests, the EEPROM writer's image, and the draw-a-digit web page."""
from __future__ import annotations

import json
import struct

import numpy as np

from .. import __version__
from ..model import Model
from .emit_c import BANNER_PREFIX, _bytes_table


def _banner(what: str) -> str:
    return f"{BANNER_PREFIX} {__version__}: {what}. Do not edit, regenerate. */\n"


def emit_samples(images: np.ndarray, labels: np.ndarray, source: str, signed: bool = False) -> dict[str, str]:
    """nnmodel_samples.h/.c: digits (or any model's input codes, as bytes) in flash (PROGMEM on AVR),
    read one row at a time into RAM. signed: the model's codes are int8 (its feed_row takes int8_t)."""
    count, rows, cols = images.shape
    header = f"""{_banner(f"{count} sample digits from {source}")}#ifndef NNMODEL_SAMPLES_H
#define NNMODEL_SAMPLES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define NNMODEL_SAMPLE_COUNT {count}u
#define NNMODEL_SAMPLE_ROWS {rows}u
#define NNMODEL_SAMPLE_COLS {cols}u

/* Copy row r of sample k into row[0..NNMODEL_SAMPLE_COLS): the image is never whole in RAM. */
void nnmodel_sample_row(uint16_t k, uint16_t r, uint8_t *row);
uint8_t nnmodel_sample_label(uint16_t k);
/* Stream sample k row by row through the model of nnmodel.h; returns its class (logits may be NULL). */
uint16_t nnmodel_sample_classify(uint16_t k, int32_t *logits);

#ifdef __cplusplus
}}
#endif

#endif /* NNMODEL_SAMPLES_H */
"""
    source_c = f"""{_banner(f"{count} sample digits from {source}")}#include "nnmodel_samples.h"
#include "nnmodel.h"

#ifdef __AVR__
#include <avr/pgmspace.h>
#define NNS_PROGMEM PROGMEM
#define NNS_RD(p) pgm_read_byte(p)
#else
#define NNS_PROGMEM
#define NNS_RD(p) (*(p))
#endif

static const uint8_t nnmodel_sample_pixels[{count * rows * cols}] NNS_PROGMEM = {{
{_bytes_table(np.ascontiguousarray(images).view(np.uint8).tobytes())}
}};

static const uint8_t nnmodel_sample_labels[{count}] NNS_PROGMEM = {{
{_bytes_table(np.ascontiguousarray(labels, np.uint8).tobytes())}
}};

void nnmodel_sample_row(uint16_t k, uint16_t r, uint8_t *row)
{{
    const uint8_t *src = nnmodel_sample_pixels + ((uint32_t)k * NNMODEL_SAMPLE_ROWS + r) * NNMODEL_SAMPLE_COLS;
    uint16_t i;
    for (i = 0; i < NNMODEL_SAMPLE_COLS; i++) {{
        row[i] = NNS_RD(src + i);
    }}
}}

uint8_t nnmodel_sample_label(uint16_t k)
{{
    return NNS_RD(nnmodel_sample_labels + k);
}}

uint16_t nnmodel_sample_classify(uint16_t k, int32_t *logits)
{{
    uint8_t row[NNMODEL_SAMPLE_COLS];
    uint16_t r;
    nnmodel_begin();
    for (r = 0; r < NNMODEL_SAMPLE_ROWS; r++) {{
        nnmodel_sample_row(k, r, row);
        nnmodel_feed_row({"(const int8_t *)(const void *)row" if signed else "row"});
    }}
    return nnmodel_finish(logits);
}}
"""
    return {"nnmodel_samples.h": header, "nnmodel_samples.c": source_c}


def emit_golden(models: list[Model], expected: list[np.ndarray], storages: list[str]) -> dict[str, str]:
    """nnmodel_golden.h/.c: every model's API plus the logits nnmodel.reference expects on the samples."""
    tables, entries, includes = [], [], []
    for model, logits, storage in zip(models, expected, storages):
        p, P = model.name, model.name.upper()
        includes.append(f'#include "{p}.h"')
        feed = f"{p}_feed_row"
        if model.input.dtype == "int8":  # its feed_row takes int8_t codes; the samples are their bytes
            feed = f"{p}_golden_feed"
            tables.append(f"static void {feed}(const uint8_t *row)\n{{\n"
                          f"    {p}_feed_row((const int8_t *)(const void *)row);\n}}")
        values = _int_rows(logits.reshape(-1))
        tables.append(f"static const int32_t {p}_golden_logits[{logits.size}] NNG_PROGMEM = {{\n{values}\n}};")
        image = f"{p}_image, {P}_IMAGE_BYTES" if storage == "eeprom" else "NULL, 0u"
        entries.append(f'    {{{model.input.rows}u, {model.input.cols}u, {model.n_classes}u, '
                       f'{logits.shape[0]}u, {p}_begin, {feed}, {p}_finish, {p}_logit, {p}_check, '
                       f'{p}_golden_logits, {image}}},')
    header = f"""{_banner("golden vectors from nnmodel.reference")}#ifndef NNMODEL_GOLDEN_H
#define NNMODEL_GOLDEN_H

#include <stdint.h>
#include "nnrt.h"

typedef struct {{ /* in RAM on AVR (a PROGMEM struct would need pgm_read for each field): no name string */
    uint16_t rows, cols, n_classes, count; /* count: samples with expected logits */
    void (*begin)(void);
    void (*feed_row)(const uint8_t *row);
    uint16_t (*finish)(int32_t *logits);
    int32_t (*logit)(uint16_t j);
    nnrt_status_t (*check)(void);
    const int32_t *logits; /* [count][n_classes] from nnmodel.reference; read with nnmodel_golden_expected */
    uint8_t *image;        /* the EEPROM image (a RAM array on hosts), NULL for other storage */
    uint16_t image_bytes;
}} nnmodel_golden_t;

#define NNMODEL_GOLDEN_MODELS {len(models)}u
#define NNMODEL_GOLDEN_MAX_CLASSES {max(m.n_classes for m in models)}u /* for logits arrays: SRAM is scarce */
extern const nnmodel_golden_t nnmodel_golden[NNMODEL_GOLDEN_MODELS];

/* The expected logit j of sample k. */
int32_t nnmodel_golden_logit(const nnmodel_golden_t *m, uint16_t k, uint16_t j);
/* Copy the expected logits of sample k into out[0..n_classes). */
void nnmodel_golden_expected(const nnmodel_golden_t *m, uint16_t k, int32_t *out);

#endif /* NNMODEL_GOLDEN_H */
"""
    source = "\n".join([
        _banner("golden vectors from nnmodel.reference").rstrip(), "#include <stddef.h>",
        '#include "nnmodel_golden.h"', *includes, "",
        "#ifdef __AVR__", "#include <avr/pgmspace.h>", "#define NNG_PROGMEM PROGMEM",
        "#define NNG_RD32(p) ((int32_t)pgm_read_dword(p))", "#else", "#define NNG_PROGMEM",
        "#define NNG_RD32(p) (*(p))", "#endif", "", *tables, "",
        "const nnmodel_golden_t nnmodel_golden[NNMODEL_GOLDEN_MODELS] = {", *entries, "};", "",
        "int32_t nnmodel_golden_logit(const nnmodel_golden_t *m, uint16_t k, uint16_t j)", "{",
        "    return NNG_RD32(m->logits + (uint32_t)k * m->n_classes + j);", "}", "",
        "void nnmodel_golden_expected(const nnmodel_golden_t *m, uint16_t k, int32_t *out)", "{",
        "    uint16_t j;", "    for (j = 0; j < m->n_classes; j++) {",
        "        out[j] = nnmodel_golden_logit(m, k, j);", "    }", "}", ""])
    return {"nnmodel_golden.h": header, "nnmodel_golden.c": source}


def _int_rows(values: np.ndarray, per_line: int = 10) -> str:
    # INT32_MIN is not a valid literal in C: write it as an expression
    text = [f"{int(v)}" if v != -(2**31) else "(-2147483647 - 1)" for v in values]
    return "\n".join("    " + ", ".join(text[i:i + per_line]) + "," for i in range(0, len(text), per_line))


STREAM_MAGIC = b"NS"
STREAM_VERSION = 1


def emit_stream(model: Model, model_hash: int, images: np.ndarray, labels: np.ndarray,
                logits: np.ndarray) -> bytes:
    """nnmodel_stream.bin: digits and the reference's logits for simulator tests (simavr_run -in).

    Header, 12 bytes: "NS", version 1, n_classes, count LE16, rows, cols, model hash LE32. Then per
    digit: label (1 byte), rows*cols pixels row-major, n_classes int32 LE logits (nnmodel.reference).
    The firmware reads it byte by byte, so more digits can be checked than 8 KB of flash would hold.
    """
    count, rows, cols = images.shape
    head = STREAM_MAGIC + struct.pack("<BBHBBI", STREAM_VERSION, model.n_classes, count, rows, cols, model_hash)
    pixels = np.ascontiguousarray(images).view(np.uint8).reshape(count, rows * cols)  # int8 codes as their bytes
    expected = np.ascontiguousarray(logits, "<i4").reshape(count, model.n_classes)
    body = b"".join(bytes([int(labels[k])]) + pixels[k].tobytes() + expected[k].tobytes() for k in range(count))
    return head + body


def emit_eeprom_writer(model: Model, image: bytes, model_hash: int) -> dict[str, str]:
    """nnmodel_eeprom_writer.h/.c: the model's EEPROM image as flash data, and the function that writes it.

    For boards whose bootloader cannot write EEPROM (Digispark's micronucleus): a writer firmware
    carries the image in PROGMEM and copies it to the address the model code reads (its EEMEM array).
    """
    p, P = model.name, model.name.upper()
    what = f"EEPROM image of {p} (hash 0x{model_hash:08x}) for an EEPROM writer firmware"
    header = f"""{_banner(what)}#ifndef NNMODEL_EEPROM_WRITER_H
#define NNMODEL_EEPROM_WRITER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define NNMODEL_WRITER_IMAGE_BYTES {len(image)}u
#define NNMODEL_WRITER_HASH 0x{model_hash:08x}UL

/* Writes the image to the EEPROM address {p}'s code reads (rewriting only bytes that differ, so
 * no needless wear), then reads every byte back. Returns how many bytes differ: 0 = verified. */
uint16_t nnmodel_eeprom_write(void);

#ifdef __cplusplus
}}
#endif

#endif /* NNMODEL_EEPROM_WRITER_H */
"""
    source = f"""{_banner(what)}#include "nnmodel_eeprom_writer.h"
#include "{p}.h"

#if {P}_HASH != NNMODEL_WRITER_HASH || {P}_IMAGE_BYTES != NNMODEL_WRITER_IMAGE_BYTES
#error "nnmodel_eeprom_writer.c belongs to another generation of {p}: regenerate"
#endif

#ifdef __AVR__
#include <avr/eeprom.h>
#include <avr/pgmspace.h>
#define NNW_PROGMEM PROGMEM
#define NNW_SRC(i) pgm_read_byte(nnmodel_writer_image + (i))
#define NNW_UPDATE(i, v) eeprom_update_byte({p}_image + (i), (v))
#define NNW_READ(i) eeprom_read_byte({p}_image + (i))
#else /* hosts: {p}_image is a RAM array */
#define NNW_PROGMEM
#define NNW_SRC(i) (nnmodel_writer_image[(i)])
#define NNW_UPDATE(i, v) ({p}_image[(i)] = (v))
#define NNW_READ(i) ({p}_image[(i)])
#endif

static const uint8_t nnmodel_writer_image[NNMODEL_WRITER_IMAGE_BYTES] NNW_PROGMEM = {{
{_bytes_table(image)}
}};

uint16_t nnmodel_eeprom_write(void)
{{
    uint16_t i, differ = 0;
    for (i = 0; i < NNMODEL_WRITER_IMAGE_BYTES; i++) {{
        NNW_UPDATE(i, NNW_SRC(i));
    }}
    for (i = 0; i < NNMODEL_WRITER_IMAGE_BYTES; i++) {{
        differ += NNW_READ(i) != NNW_SRC(i);
    }}
    return differ;
}}
"""
    return {"nnmodel_eeprom_writer.h": header, "nnmodel_eeprom_writer.c": source}


def web_info(model: Model, model_hash: int) -> str:
    """GET /model of the draw-a-digit demo (lib/nnweb): what the page needs to draw its scores.

    The logit scales are here because the C side has no float: it returns integer logits, and the
    page turns them into softmax percentages with these (one per class, real logit = scale * int).
    """
    last = model.layers[-1]
    scales = np.broadcast_to(np.asarray(last.acc_scale, np.float64), (model.n_classes,))
    info = {
        "model": model.name,
        "hash": f"0x{model_hash:08x}",
        "input": {"rows": model.input.rows, "cols": model.input.cols},
        "labels": list(model.labels),
        "logit_scale": [float(s) for s in scales],
        "macs": model.macs(),
        "predict": {"method": "POST", "path": "/predict", "content_type": "text/plain",
                    "body": f"{2 * model.input.size} hex digits: the {model.input.rows}x{model.input.cols} "
                            "uint8 pixels row by row (0 background, 255 ink)"},
    }
    return json.dumps(info, separators=(",", ":"), ensure_ascii=True)


def _c_string(text: str) -> str:
    """A C string literal of printable ASCII (`?` escaped: no trigraphs under -std=c99)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("?", "\\?") + '"'


def emit_web_page(model: Model, model_hash: int, page: bytes) -> dict[str, str]:
    """nnmodel_web_page.h/.c: the draw-a-digit page (nnmodel/demo/page.html) as a byte array and
    the model's description for GET /model, served by lib/nnweb on the ESP32-C3 and the host."""
    what = f"draw-a-digit page ({len(page)} B) and GET /model of {model.name}"
    info = web_info(model, model_hash)
    header = f"""{_banner(what)}#ifndef NNMODEL_WEB_PAGE_H
#define NNMODEL_WEB_PAGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define NNMODEL_WEB_PAGE_BYTES {len(page)}u

extern const uint8_t nnmodel_web_page[NNMODEL_WEB_PAGE_BYTES]; /* text/html, UTF-8 */
extern const char nnmodel_web_info[];                          /* application/json */

#ifdef __cplusplus
}}
#endif

#endif /* NNMODEL_WEB_PAGE_H */
"""
    source = f"""{_banner(what)}#include "nnmodel_web_page.h"

const uint8_t nnmodel_web_page[NNMODEL_WEB_PAGE_BYTES] = {{
{_bytes_table(page)}
}};

const char nnmodel_web_info[] = {_c_string(info)};
"""
    return {"nnmodel_web_page.h": header, "nnmodel_web_page.c": source}
