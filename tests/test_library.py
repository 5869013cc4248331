"""The repository as a PlatformIO library: what a packed release ships (library.json's export), and
that a project depending on that package builds with the package's own nnmodel."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

from conftest import REPO

PIO = Path(sys.executable).parent / "pio"
# The packer validates the licence against SPDX's list, which it downloads: stand in for that one
# download (the registry is unreachable here); everything else is PlatformIO's own packer.
PACK = """
import sys
from platformio.package.manifest.schema import ManifestSchema
ManifestSchema.load_spdx_licenses = staticmethod(lambda: {"licenses": [{"licenseId": "MIT"}]})
from platformio.package.pack import PackagePacker
print(PackagePacker(sys.argv[1]).pack(sys.argv[2]))
"""


def test_the_packed_library_ships_the_generator_and_runtime_not_tests_or_models(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", PACK, str(REPO), str(tmp_path)], capture_output=True, text=True,
                         check=True).stdout.strip()
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    for needed in ("library.json", "LICENSE", "README.md", "nnmodel/pio/nnmodel_hook.py", "nnmodel/prebuild.py",
                   "nnmodel/data/avr_mcus.json", "nnmodel/data/samples/mnist-test-500-images-idx3-ubyte.gz",
                   "nnmodel/demo/page.html", "lib/nnrt/include/nnrt.h", "lib/nnrt/include/nnrt/ops/dense.h",
                   "lib/nnrt/src/nnrt.c", "lib/nnrt/src/arch/avr/nnrt_avr_w4.S"):
        assert needed in names, needed
    tops = {n.split("/")[0] for n in names}
    assert not tops & {"tests", "test", "models", "docs", "platformio", "scripts", "src", ".ci"}, sorted(tops)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]

    project = tmp_path / "app"
    (project / "src").mkdir(parents=True)
    (project / "platformio.ini").write_text(f"""\
[env:native]
platform = symlink://{REPO}/platformio/platforms/nnmodel-native
lib_deps = nnmodel=file://{out}
custom_nnmodel_model = net.nnm
""")
    (project / "net.nnm").write_bytes((REPO / "models" / "mnist_mlp_esp32c3.nnm").read_bytes())
    (project / "src" / "main.c").write_text('#include <stdio.h>\n#include "nnmodel.h"\n'
                                             'int main(void) { printf("%s\\n", NNMODEL_LAYERS); return 0; }\n')
    env = dict(os.environ, PLATFORMIO_CORE_DIR=str(REPO / ".pio-core"), PLATFORMIO_SETTING_ENABLE_TELEMETRY="No",
               PLATFORMIO_DISABLE_UPGRADE_CHECK="true")
    built = subprocess.run([str(PIO), "run", "-e", "native", "-t", "exec"], cwd=project, env=env, capture_output=True,
                           text=True, timeout=600)
    log = built.stdout + built.stderr
    assert built.returncode == 0, log
    libdeps = project / ".pio" / "libdeps" / "native" / "nnmodel"
    assert f"(library) from {libdeps / 'nnmodel'}" in log, log  # the package's nnmodel, not this checkout's
    assert "dense:784->128:relu,dense:128->10:none" in log
