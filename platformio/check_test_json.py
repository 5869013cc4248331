#!/usr/bin/env python3
"""Fail unless `pio test --json-output-path X.json` reports real test results.

    python platformio/check_test_json.py native.json attiny85_sim.json ...

PlatformIO counts a test program whose output holds no Unity lines as
SKIPPED and still exits 0. Our runner (test/test_custom_runner.py) already
turns that into an error, but this check does not rely on it: it fails when a
suite that ran reported 0 test cases, when nothing ran at all, or when any
case failed or errored. Suites that never ran (left out by -e, test_filter or
test_ignore) have no timestamp and are not counted. Last line, for CI logs:
`pio-test: N passed, N failed, N skipped`.
"""

import json
import sys


def main(paths):
    if not paths:
        sys.exit(__doc__)
    passed = failed = skipped = ran = 0
    problems = []
    for path in paths:
        with open(path, encoding="utf-8") as fp:
            report = json.load(fp)
        for suite in report.get("test_suites", []):
            if not suite.get("timestamp"):
                continue  # filtered out, never started
            ran += 1
            name = "%s:%s" % (suite["env_name"], suite["test_name"])
            if suite["testcase_nums"] == 0:
                problems.append("%s ran but reported no test cases (status %s)"
                                % (name, suite["status"]))
            for case in suite.get("test_cases", []):
                status = case["status"]
                if status == "PASSED":
                    passed += 1
                elif status == "SKIPPED":
                    skipped += 1
                else:  # FAILED, ERRORED
                    failed += 1
                    problems.append("%s: %s %s" % (name, status, case.get("message")
                                                   or case.get("exception") or case["name"]))
    if ran == 0:
        problems.append("no test suite ran (%s)" % ", ".join(paths))
    for problem in problems:
        print("check_test_json: " + problem, file=sys.stderr)
    print("pio-test: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
