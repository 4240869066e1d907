"""The pass/fail lines of the end-to-end test scripts: `ok    name` or `FAIL  name detail`, and
a closing count whose exit status meson reads."""
import sys

passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok    {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL  {name} {detail}", flush=True)
    return cond


def finish():
    """Prints the count and exits: 1 when a check failed."""
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
