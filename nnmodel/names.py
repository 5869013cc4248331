"""The model-name rule, in one place: the loader, save(), compile and the trainer's --name ask it.

A model's name becomes C identifiers (`<name>_begin`, `<NAME>_HASH`) and file names (`<name>.h`,
`<name>.c`) beside the runtime's and the generated companions' on the include path. So it must be
a C identifier, and must not take a name those already use: the runtime libraries (nnrt, nnweb,
nnserial, the simulators' nnsim), the generated files (nnmodel.h, nnmodel_samples.h, ...), or a C
library header that `#include <...>` would then find first. Compared case-insensitively: macros
are the upper-cased name, and macOS and Windows file names ignore case.
"""
from __future__ import annotations

import re

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}\Z")
# prefix -> what a model of that name (or prefix_...) would clash with
RESERVED_PREFIXES = {
    "nnrt": "the runtime's nnrt.h, nnrt/ headers and nnrt_* / NNRT_* names",
    "nnmodel": "the generated nnmodel.h and nnmodel_* files and names",
    "nnweb": "lib/nnweb's nnweb.h and nnweb_* names",
    "nnserial": "lib/nnserial's nnserial.h and nnserial_* names",
    "nnsim": "the simulator harness's nnsim.h and nnsim_* names",
}
C_HEADERS = frozenset(
    "assert complex ctype errno fenv float inttypes iso646 limits locale math setjmp signal stdalign stdarg "
    "stdatomic stdbool stddef stdint stdio stdlib stdnoreturn string tgmath threads time uchar wchar wctype "
    "arduino".split())


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a model, or None when it can."""
    if not IDENTIFIER.match(name):
        return f"{name!r} is not a C identifier of at most 48 characters"
    low = name.lower()
    for prefix, what in RESERVED_PREFIXES.items():
        if low == prefix or low.startswith(prefix + "_"):
            return f"{name!r} clashes with {what}; choose another name"
    if low in C_HEADERS:
        return f"{name!r} clashes with the C library header {low}.h (a generated {name}.h would shadow it); " \
               "choose another name"
    return None
