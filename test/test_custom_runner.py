"""PlatformIO test runner for nnmodel: Unity's output parser without Unity.

`test_framework = custom` loads this file. Our header-only harness
(test/unity_lite.h) prints Unity's line format, so UnityTestRunner's parser
counts the results; Unity itself is not installed (EXTRA_LIB_DEPS = None),
which keeps `pio test` and even `pio run` offline.

It also closes PlatformIO's gaps (see TimeLimitedReader): a wall-clock limit
on the test program (a hang would otherwise block `pio test` forever; host
programs have no cycle limit), an error instead of a silent SKIP when the
program prints no summary, and a plain "exited with code N" message
(PlatformIO reads exit code 1 as "signal SIGHUP"). Limit:
`custom_test_timeout = SECONDS` per env, default 300. Written against
PlatformIO 6.2.0, which the project pins.
"""

import asyncio
import subprocess

import click
from platformio.test.exception import UnitTestError
from platformio.test.result import TestStatus
from platformio.test.runners.readers.native import NativeTestOutputReader
from platformio.test.runners.unity import UnityTestRunner

DEFAULT_TIMEOUT = 300.0


class _Protocol(asyncio.SubprocessProtocol):
    def __init__(self, test_runner, done):
        self.test_runner = test_runner
        self.done = done

    def pipe_data_received(self, fd, data):
        self.test_runner.on_testing_data_output(data)

    def connection_lost(self, exc):
        # Called once the process has exited AND its pipes are drained, so
        # the summary line, if any, has been parsed (process_exited is not).
        if not self.done.done():
            self.done.set_result(True)


class TimeLimitedReader(NativeTestOutputReader):
    """Runs the test program (host binary or simulator) to its end, with a limit.

    Stricter than PlatformIO's reader: the program must print the Unity
    summary and exit with min(failures, 255); anything else (silence, crash,
    hang, exit 124 from a cycle limit) is an error rather than a skip.
    """

    def __init__(self, test_runner, timeout):
        super().__init__(test_runner)
        self.timeout = timeout

    async def gather_results(self):
        done = self.aio_loop.create_future()
        transport, _ = await self.aio_loop.subprocess_exec(
            lambda: _Protocol(self.test_runner, done),
            *self.get_testing_command(),
            stdin=None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            await asyncio.wait_for(asyncio.shield(done), self.timeout)
        except asyncio.TimeoutError:
            # TERM first: `timeout` (QEMU's wrapper) forwards it to its child.
            transport.terminate()
            try:
                await asyncio.wait_for(done, 5)
            except asyncio.TimeoutError:
                transport.kill()
            transport.close()
            raise UnitTestError(
                f"Test program killed after {self.timeout:g} s (custom_test_timeout)"
            ) from None
        code = transport.get_returncode()
        transport.close()
        suite = self.test_runner.test_suite
        if code is not None and code < 0:
            NativeTestOutputReader.raise_for_status(code)  # signal name
        if not suite.is_finished():
            hint = " (cycle limit or timeout: hang?)" if code == 124 else ""
            raise UnitTestError(
                f"Program exited with code {code}{hint} before printing the Unity summary "
                "line (UNITY_END)"
            )
        failures = min(suite.get_status_nums(TestStatus.FAILED), 255)
        if code != failures:
            raise UnitTestError(
                f"Program exited with code {code} after reporting {failures:d} failures"
            )


class CustomTestRunner(UnityTestRunner):
    EXTRA_LIB_DEPS = None

    def configure_build_env(self, env):
        # Unity's runner would generate unity_config.h/.c here; we need nothing.
        return env

    def stage_testing(self):
        env = f"env:{self.test_suite.env_name}"
        on_host = self.project_config.get(env, "test_testing_command") or (
            not self.platform.is_embedded()
        )
        if self.options.without_testing or not on_host:
            return super().stage_testing()  # serial boards: PlatformIO's reader
        click.secho("Testing...", bold=True)
        timeout = float(self.project_config.get(env, "custom_test_timeout", DEFAULT_TIMEOUT))
        return TimeLimitedReader(self, timeout).begin()
