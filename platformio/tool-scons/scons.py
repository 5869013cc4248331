"""nnmodel's offline stand-in for PlatformIO's core package tool-scons.

PlatformIO runs `<python> .../tool-scons/scons.py ...` with the Python that runs
PlatformIO itself. The registry package ships SCons inside; this one imports
the SCons that pip installed next to PlatformIO (scons==4.11.1, the version
PlatformIO 6.2.0 pins as tool-scons ~4.41101.0). See platformio/README.md.
"""

import os
import sys

WANT = "4.11.1"

try:
    import SCons
    from SCons.Script.Main import main
except ImportError:
    sys.stderr.write(
        f"nnmodel tool-scons stand-in: this Python has no SCons ({sys.executable}).\n"
        f"Either `{sys.executable} -m pip install scons=={WANT}`, or delete "
        f"{os.path.dirname(os.path.abspath(__file__))} so PlatformIO\n"
        "downloads its own tool-scons.\n"
    )
    sys.exit(2)

if getattr(SCons, "__version__", None) != WANT:
    sys.stderr.write(
        "nnmodel tool-scons stand-in: SCons {} found, {} expected; continuing.\n".format(
            getattr(SCons, "__version__", "?"), WANT)
    )

if __name__ == "__main__":
    main()
