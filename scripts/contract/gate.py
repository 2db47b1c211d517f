"""The contract run's verdict, from schemathesis' JSON report.

Usage: gate.py REPORT DOCUMENT

Passes when schemathesis completed, tested at least as many operations as
DOCUMENT (the OpenAPI document) has, and found no failure and no error. A
run that tested nothing fails. Prints one line of counts either way.
"""

import json
import sys

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def main(report_path: str, document_path: str) -> int:
    with open(document_path, encoding="utf-8") as f:
        document = json.load(f)
    documented = sum(1 for item in document["paths"].values() for method in item if method in METHODS)
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    operations = report["operations"]
    cases = report["test_cases"]
    failures = len(report["failures"]) + cases["with_failures"]
    errors = len(report["errors"]) + operations["errored"] + cases["errored"]
    print(
        f"contract: {operations['tested']} operations tested of {documented} documented, "
        f"{cases['generated']} examples, {len(report['failures'])} failures, {errors} errors "
        f"({report['running_time']:.0f} s, seed {report['seed']})"
    )
    problems = []
    if not report["complete"] or report["stop_reason"] != "completed":
        problems.append(f"the run did not complete ({report['stop_reason']})")
    if operations["tested"] < documented or documented == 0:
        problems.append(f"only {operations['tested']} of {documented} operations were tested")
    if cases["generated"] == 0:
        problems.append("no example was generated")
    if failures:
        problems.append(f"{len(report['failures'])} failures")
    if errors:
        problems.append(f"{errors} errors")
    for problem in problems:
        print(f"contract: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
