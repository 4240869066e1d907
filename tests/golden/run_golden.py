#!/usr/bin/env python3
"""Golden tests: each bundled capture in pcaps/ against its committed expected output.

usage: run_golden.py FRAG53 SOURCE_ROOT [--update]

For pcaps/NAME.pcap the expected summary is tests/golden/expected/NAME.summary.json and the
expected findings tests/golden/expected/NAME.events.jsonl. --update rewrites them from the
current build (review the diff before committing).
"""
import difflib, glob, json, os, subprocess, sys, tempfile

def normalise(summary):
    summary.pop("version", None)
    inp = summary.get("input", {})
    inp["files"] = [os.path.basename(f) for f in inp.get("files", [])]
    for e in inp.get("errors", []):
        e["file"] = os.path.basename(e["file"])
    return json.dumps(summary, indent=2, sort_keys=True) + "\n"

def run(frag53, pcap):
    with tempfile.TemporaryDirectory() as tmp:
        s, e = os.path.join(tmp, "s.json"), os.path.join(tmp, "e.jsonl")
        r = subprocess.run([frag53, "analyze", pcap, "--summary-json", s, "--events", e, "-q"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        if r.returncode not in (0, 1) or not os.path.exists(s):
            raise RuntimeError(f"frag53 exited {r.returncode}: {r.stderr.decode(errors='replace')}")
        return normalise(json.load(open(s))), open(e).read(), r.returncode

def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    frag53, root = sys.argv[1], sys.argv[2]
    update = "--update" in sys.argv[3:]
    expected_dir = os.path.join(root, "tests", "golden", "expected")
    pcaps = sorted(glob.glob(os.path.join(root, "pcaps", "*.pcap")))
    if not pcaps:
        print("no captures in pcaps/")
        return 1
    passed = failed = 0
    for pcap in pcaps:
        name = os.path.splitext(os.path.basename(pcap))[0]
        summary, events, rc = run(frag53, pcap)
        files = {f"{name}.summary.json": summary, f"{name}.events.jsonl": events}
        for fname, got in files.items():
            path = os.path.join(expected_dir, fname)
            if update:
                os.makedirs(expected_dir, exist_ok=True)
                open(path, "w").write(got)
                continue
            want = open(path).read() if os.path.exists(path) else ""
            if got == want:
                passed += 1
                print(f"ok    {fname}")
            else:
                failed += 1
                print(f"FAIL  {fname}")
                sys.stdout.writelines(difflib.unified_diff(
                    want.splitlines(True), got.splitlines(True), "expected/" + fname, "got/" + fname, n=2))
    if update:
        print(f"updated {len(pcaps)} captures in {expected_dir}")
        return 0
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
