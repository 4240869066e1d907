#!/usr/bin/env python3
"""Lab test of `frag53 probe` against `frag53 responder` through a router (scripts/probe-lab).

usage: probe_lab_test.py FRAG53 SOURCE_ROOT [--profile NAME]... [--jobs N] [--keep DIR]

Every router profile of `scripts/probe-lab list` runs in its own namespaces (several at once,
distinct LAB_TAGs); for IPv4 and IPv6 the probe's JSON must give exactly the expected verdict
codes, the exact unfragmented and fragmented maxima, tcp_ok and the exit status. The clean
path's full verdict must take at most 15 s. The clean and drop-nonfirst profiles also run the
responder-less mode against named.

One line per check, then "N passed, M failed"; exit 1 on any failure, 77 (skip) when the lab
cannot run here (not root, no network namespaces, missing tools, no responder in this build).
Standard library only.
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..", "lib"))
from lab_results import SKIP, Results, skip  # noqa: E402

PROFILE_TIMEOUT = 420
CLEAN_VERDICT_SECONDS = 15.0

V4, V6 = "v4", "v6"
HDR = {V4: 28, V6: 48}


def unfrag(mtu, fam):
    return mtu - HDR[fam]


# profile -> family -> expectations. None: not asserted (sizes on a lossy path are not
# reliable, the probe says so itself).
def expected(profile, fam):
    clean_unfrag = unfrag(1500, fam)
    small_unfrag = unfrag(1280, fam)
    e = {
        "clean": dict(verdicts={"path.ok"}, unfrag=clean_unfrag, frag=4096, tcp_ok=True, rc=0),
        "drop-nonfirst": dict(verdicts={"path.nonfirst_fragments_dropped"}, unfrag=clean_unfrag,
                              frag=clean_unfrag, tcp_ok=True, rc=1),
        "drop-fragments": dict(verdicts={"path.fragments_dropped"}, unfrag=clean_unfrag,
                               frag=clean_unfrag, tcp_ok=True, rc=1),
        "dns-512": dict(verdicts={"path.dns_size_filter"}, unfrag=512, frag=512, tcp_ok=True, rc=1),
        "mtu-1280": dict(verdicts={"path.pmtu"}, unfrag=small_unfrag, frag=4096, tcp_ok=True, rc=0,
                         path_mtu=1280),
        "blackhole-1280": dict(verdicts={"path.pmtu_blackhole"}, unfrag=small_unfrag,
                               frag=small_unfrag, tcp_ok=True, rc=1, path_mtu=1280),
        "tcp-blocked": dict(verdicts={"path.tcp_blocked"}, unfrag=clean_unfrag, frag=4096,
                            tcp_ok=False, rc=1),
        "loss": dict(verdicts={"path.lossy"}, unfrag=None, frag=None, tcp_ok=None, rc=3),
    }
    return e[profile]


NAMED_PROFILES = {"clean", "drop-nonfirst"}


def preflight(frag53, root):
    if os.geteuid() != 0:
        skip("the probe lab needs root (network namespaces)")
    for tool in ("ip", "nft", "dig", "named", "dnssec-signzone", "timeout"):
        if shutil.which(tool) is None:
            skip(f"{tool} not found (scripts/bootstrap installs it)")
    name = f"f53-pp-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        skip(f"ip netns is unavailable here: {r.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    if not os.access(os.path.join(root, "scripts", "probe-lab"), os.X_OK):
        skip("scripts/probe-lab not found or not executable")
    r = subprocess.run([frag53, "responder", "--help"], capture_output=True, text=True, timeout=10)
    if r.returncode != 0 or "not built yet" in r.stdout:
        skip("this build has no frag53 responder")


def list_profiles(root):
    out = subprocess.run([os.path.join(root, "scripts", "probe-lab"), "list"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def run_profile(root, frag53, profile, outdir, tag):
    cmd = [os.path.join(root, "scripts", "probe-lab"), "run", profile, frag53, outdir]
    if profile in NAMED_PROFILES:
        cmd.append("--named")
    env = dict(os.environ, LAB_TAG=tag)
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=PROFILE_TIMEOUT, env=env)
        return profile, r.returncode, r.stderr, time.monotonic() - t0
    except subprocess.TimeoutExpired as e:
        return profile, -1, f"timed out after {PROFILE_TIMEOUT} s: {e.stderr or ''}", time.monotonic() - t0


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def check_probe(res, outdir, profile, fam):
    where = f"{profile}/{fam}"
    base = os.path.join(outdir, f"{profile}-{fam}")
    want = expected(profile, fam)
    try:
        rc = int(read(base + ".rc").strip())
        seconds = float(read(base + ".time").strip())
        doc = json.loads(read(base + ".json"))
    except (OSError, ValueError) as e:
        res.check(False, where, "probe output", f"{e}; output: {read(base + '.out')[-600:] if os.path.exists(base + '.out') else '(none)'}")
        return
    got = set(doc.get("verdicts", []))
    detail = "; ".join(f"{v['code']}: {v['evidence']}" for v in doc.get("evidence", []))
    res.check(got == want["verdicts"], where, f"verdicts == {sorted(want['verdicts'])}",
              f"got {sorted(got)}: {detail}")
    for key, field in (("unfrag", "max_udp_unfragmented"), ("frag", "max_udp_fragmented"),
                       ("tcp_ok", "tcp_ok"), ("path_mtu", "path_mtu")):
        if want.get(key) is None:
            continue
        res.check(doc.get(field) == want[key], where, f"{field} == {want[key]}", f"got {doc.get(field)}")
    res.check(rc == want["rc"], where, f"exit status {want['rc']}", f"got {rc}")
    if profile == "loss":
        res.check(doc.get("sizes_reliable") is False, where, "sizes marked unreliable")
    if profile == "clean":
        res.check(seconds <= CLEAN_VERDICT_SECONDS, where,
                  f"full verdict within {CLEAN_VERDICT_SECONDS:.0f} s", f"took {seconds:.2f} s")
        res.check(doc.get("recommended_edns_bufsize") == 1232, where, "recommends 1232")
    print(f"     {where}: {seconds:.2f} s, {len(doc.get('probes', []))} probes, rounds {doc.get('rounds')}",
          flush=True)


def check_named(res, outdir, profile, fam):
    where = f"{profile}/named-{fam}"
    base = os.path.join(outdir, f"{profile}-named-{fam}")
    try:
        rc = int(read(base + ".rc").strip())
        doc = json.loads(read(base + ".json"))
    except (OSError, ValueError) as e:
        res.check(False, where, "probe output", str(e))
        return
    answers = {a["label"].split()[0]: a for a in doc.get("answers", [])}
    dnskey = answers.get("DNSKEY")
    if not res.check(dnskey is not None and dnskey["tcp_size"] > 1500 and dnskey["signed"], where,
                     "DNSKEY with DO is signed and larger than one packet",
                     f"got {dnskey and dnskey['tcp_size']}"):
        return
    verdicts = set(doc.get("verdicts", []))
    if profile == "clean":
        res.check(verdicts == {"path.ok"}, where, "verdicts == ['path.ok']", f"got {sorted(verdicts)}")
        res.check(all(a["fits"] for a in doc["answers"]), where, "every answer fits")
        res.check(rc == 0, where, "exit status 0", f"got {rc}")
    else:
        res.check(verdicts == {"path.nonfirst_fragments_dropped"}, where,
                  "verdicts == ['path.nonfirst_fragments_dropped']", f"got {sorted(verdicts)}")
        res.check(not dnskey["fits"], where, "the DNSKEY answer does not fit")
        res.check(rc == 1, where, "exit status 1", f"got {rc}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("frag53")
    ap.add_argument("root")
    ap.add_argument("--profile", action="append", default=[])
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--keep", help="keep the outputs in this directory")
    args = ap.parse_args()
    frag53 = os.path.realpath(args.frag53)
    preflight(frag53, args.root)
    profiles = args.profile or list_profiles(args.root)
    outdir = args.keep or tempfile.mkdtemp(prefix="f53-probe-lab-")
    os.makedirs(outdir, exist_ok=True)
    res = Results()
    t0 = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(run_profile, args.root, frag53, p, outdir, f"pp{os.getpid() % 10000}{i}")
                       for i, p in enumerate(profiles)]
            for fut in concurrent.futures.as_completed(futures):
                profile, rc, stderr, seconds = fut.result()
                if not res.check(rc == 0, profile, f"lab run ({seconds:.1f} s)", stderr[-1500:]):
                    continue
                for fam in (V4, V6):
                    check_probe(res, outdir, profile, fam)
                if profile in NAMED_PROFILES:
                    for fam in (V4, V6):
                        check_named(res, outdir, profile, fam)
    finally:
        if not args.keep:
            shutil.rmtree(outdir, ignore_errors=True)
    print(f"{res.passed} passed, {res.failed} failed in {time.monotonic() - t0:.1f} s", flush=True)
    sys.exit(1 if res.failed else 0)


if __name__ == "__main__":
    main()
