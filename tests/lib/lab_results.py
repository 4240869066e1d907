"""What the lab test scripts share: a tally of checks, printed as they are made, and a skip.

A check prints "ok" or "FAIL" with where and what it checked; the script exits non-zero when any
failed. A skip exits with meson's code for a skipped test (77), for a machine without root or the
tools a lab needs.
"""
import sys

SKIP = 77


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, where, what, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'ok  ' if ok else 'FAIL'} {where}: {what}{(' — ' + detail) if detail else ''}", flush=True)
        return ok


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)
