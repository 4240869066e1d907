#!/usr/bin/env python3
"""End-to-end lab test: real named + dig through a router (scripts/lab), then frag53.

usage: lab_test.py FRAG53 SOURCE_ROOT [--scenario NAME]... [--keep DIR]

For each scenario of `scripts/lab list`:
  1. `scripts/lab capture SCENARIO TMP` builds the captures and SCENARIO.expect.json;
  2. the tshark checks of the expect file prove the lab did what the scenario says
     (fragments present or absent, ICMP errors, TC=1, TCP retries, drops);
  3. `frag53 analyze CAPTURE --summary-json S --events E -q`, and every summary
     value of the expect file is checked;
  4. independent witness: tshark reassembles the same capture, and its counts of
     reassembled datagrams, incomplete fragment sets and fragments, and the sizes
     of the reassembled DNS messages, must equal frag53's ip/ counters and the
     response_size of its dns.fragmented_response events (as multisets).

One line per check, then "N passed, M failed"; exit 1 on any failure, 77 (skip)
when the lab cannot run here (not root, no network namespaces, missing tools).
Standard library only.
"""

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from lab_results import SKIP, Results, skip  # noqa: E402

CAPTURE_TIMEOUT = 120
ANALYZE_TIMEOUT = 60
TSHARK_TIMEOUT = 60
TSHARK_PREFS = ["-o", "ip.defragment:TRUE", "-o", "ipv6.defragment:TRUE"]


def preflight(root):
    if os.geteuid() != 0:
        skip("the lab needs root (network namespaces, named, tcpdump)")
    for tool in ("ip", "nft", "named", "dig", "tcpdump", "tshark", "dnssec-signzone"):
        if shutil.which(tool) is None:
            skip(f"{tool} not found (scripts/bootstrap installs it)")
    probe = f"f53-probe-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        skip(f"ip netns is unavailable here: {r.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if not os.access(os.path.join(root, "scripts", "lab"), os.X_OK):
        skip("scripts/lab not found or not executable")


def summary_get(summary, path):
    """'findings/dns.truncated' -> summary['findings']['dns.truncated']; codes contain dots."""
    node = summary
    for part in path.split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def want_ok(got, want):
    if isinstance(want, dict):
        if "min" in want and got < want["min"]:
            return False
        if "max" in want and got > want["max"]:
            return False
        return True
    return got == want


def want_str(want):
    if isinstance(want, dict):
        return " and ".join(f"{'>=' if k == 'min' else '<='} {v}" for k, v in want.items())
    return f"== {want}"


def tshark_count(pcap, dfilter):
    r = subprocess.run(["tshark", "-n", "-r", pcap, *TSHARK_PREFS, "-Y", dfilter, "-T", "fields",
                        "-e", "frame.number"], capture_output=True, text=True, timeout=TSHARK_TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError(f"tshark -Y '{dfilter}': {r.stderr.strip()[:300]}")
    return sum(1 for line in r.stdout.splitlines() if line.strip())


def tshark_fragments(pcap):
    """Fragments, reassembled datagrams, incomplete sets and reassembled DNS sizes, by tshark."""
    fields = ["ip.src", "ip.dst", "ip.id", "ipv6.src", "ipv6.dst", "ipv6.fraghdr.ident",
              "ip.fragment.count", "ipv6.fragment.count", "udp.srcport", "udp.dstport", "udp.length",
              "dns.flags.response"]
    cmd = ["tshark", "-n", "-r", pcap, *TSHARK_PREFS,
           # Fragments themselves, not ICMP errors quoting one.
           "-Y", "(ip.flags.mf == 1 || ip.frag_offset > 0 || ipv6.fraghdr) && !icmp && !icmpv6",
           "-T", "fields", "-E", "occurrence=f", "-E", "separator=\t"]
    for f in fields:
        cmd += ["-e", f]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=TSHARK_TIMEOUT)
    if r.returncode != 0:
        raise RuntimeError(f"tshark fragments: {r.stderr.strip()[:300]}")
    sets = {}
    sizes = []
    frames = 0
    for line in r.stdout.splitlines():
        v = dict(zip(fields, line.split("\t")))
        frames += 1
        if v["ip.src"]:
            key = ("4", v["ip.src"], v["ip.dst"], v["ip.id"])
        else:
            key = ("6", v["ipv6.src"], v["ipv6.dst"], v["ipv6.fraghdr.ident"])
        done = bool(v["ip.fragment.count"] or v["ipv6.fragment.count"])
        sets[key] = sets.get(key, False) or done
        if done and v["udp.length"] and "53" in (v["udp.srcport"], v["udp.dstport"]) and v["dns.flags.response"] == "1":
            sizes.append(int(v["udp.length"]) - 8)
    return {
        "fragments": frames,
        "reassembled": sum(1 for d in sets.values() if d),
        "incomplete": sum(1 for d in sets.values() if not d),
        "response_sizes": sorted(sizes),
    }


def check_capture(res, frag53, pcap, spec, workdir):
    name = os.path.basename(pcap)
    if not os.path.exists(pcap):
        res.check(False, name, "capture exists", "scripts/lab did not write it")
        return

    # 1. The lab did what the scenario says.
    for t in spec.get("tshark", []):
        try:
            got = tshark_count(pcap, t["filter"])
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            res.check(False, name, f"lab (tshark) {t['what']}", str(e))
            continue
        op, n = t["op"], t["count"]
        ok = {"==": got == n, ">=": got >= n, "<=": got <= n}.get(op, False)
        res.check(ok, name, f"lab (tshark) {t['what']}", f"{got}, want {op} {n}")

    # 2. frag53's summary.
    stem = os.path.join(workdir, name.rsplit(".", 1)[0])
    sjson, ejson = stem + ".summary.json", stem + ".events.jsonl"
    cmd = [frag53, "analyze", pcap, "--summary-json", sjson, "--events", ejson, "-q"]
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=ANALYZE_TIMEOUT)
    except subprocess.TimeoutExpired:
        res.check(False, name, "frag53 analyze", f"no exit within {ANALYZE_TIMEOUT} s")
        return
    summary = None
    if r.returncode == 0:
        try:
            with open(sjson) as f:
                summary = json.load(f)
        except (OSError, ValueError) as e:
            detail = f"summary unreadable: {e}"
    else:
        detail = f"exit {r.returncode}: {(r.stderr.strip() or r.stdout.strip())[-300:]}"
    if not res.check(summary is not None, name, "frag53 analyze",
                     f"{time.monotonic() - t0:.1f} s" if summary is not None else detail):
        return
    events = []
    try:
        with open(ejson) as f:
            events = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        res.check(False, name, "frag53 events file", str(e))

    for path, want in spec.get("expect", {}).items():
        got = summary_get(summary, path)
        if got is None:
            res.check(False, name, f"{path} {want_str(want)}", "not in the summary (not implemented)")
        elif not isinstance(got, (int, float)):
            res.check(False, name, f"{path} {want_str(want)}", f"not a number: {got!r}")
        else:
            res.check(want_ok(got, want), name, f"{path} {want_str(want)}", f"got {got}")

    if spec.get("clean") and summary is not None:
        # A clean path: nothing may be found beyond what the scenario names (plain facts such as
        # oversized or fragmented answers are named there).
        named = {p.split("/", 1)[1] for p in spec.get("expect", {}) if p.startswith("findings/")}
        extra = {k: v for k, v in summary.get("findings", {}).items() if v and k not in named}
        res.check(not extra, name, "clean path: no other findings", f"got {extra}")

    # 3. Independent witness: tshark's reassembly against frag53's.
    try:
        w = tshark_fragments(pcap)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        res.check(False, name, "witness (tshark reassembly)", str(e))
        return
    for key in ("fragments", "reassembled", "incomplete"):
        got = summary_get(summary, f"ip/{key}")
        res.check(got == w[key], name, f"witness ip/{key} == tshark's {w[key]}",
                  "not in the summary (not implemented)" if got is None else f"frag53 {got}")
    sizes = sorted(e.get("response_size") for e in events if e.get("code") == "dns.fragmented_response")
    if w["response_sizes"] or sizes:
        ok = collections.Counter(sizes) == collections.Counter(w["response_sizes"])
        res.check(ok, name, "witness sizes of dns.fragmented_response == tshark's reassembled DNS responses",
                  f"tshark {w['response_sizes']}, frag53 {sizes}")


def check_live(res, frag53, base, sc):
    """`frag53 live` ran on the client's interface beside tcpdump: its findings and counts must be
    those of `frag53 analyze` on tcpdump's capture of the same traffic."""
    name = f"{sc}-live"
    try:
        live = json.load(open(os.path.join(base, f"{sc}-live.summary.json")))
    except (OSError, ValueError) as e:
        res.check(False, name, "frag53 live summary", str(e))
        return
    with tempfile.TemporaryDirectory() as tmp:
        s = os.path.join(tmp, "s.json")
        subprocess.run([frag53, "analyze", os.path.join(base, f"{sc}-client.pcap"), "-q", "--summary-json", s],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        try:
            offline = json.load(open(s))
        except (OSError, ValueError) as e:
            res.check(False, name, "offline summary", str(e))
            return
    for section in ("findings", "dns", "ip"):
        a, b = live.get(section, {}), offline.get(section, {})
        diff = {k: (a.get(k), b.get(k)) for k in set(a) | set(b)
                if a.get(k) != b.get(k) and k != "rtt_ms"}
        res.check(not diff, name, f"live {section} == analyze of tcpdump's capture", f"differs: {diff}")
    # -w while live: the evidence written from the ring of recent packets, re-read, gives every
    # finding again (absences such as a missing TCP retry may come back more often).
    with tempfile.TemporaryDirectory() as tmp:
        s = os.path.join(tmp, "s.json")
        subprocess.run([frag53, "analyze", os.path.join(base, f"{sc}-live-evidence.pcap"), "-q", "--summary-json", s],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        try:
            back = json.load(open(s))["findings"]
            lost = {k: (v, back.get(k)) for k, v in live["findings"].items() if v and back.get(k, 0) < v}
            res.check(not lost, name, "live -w: the evidence reproduces every finding", f"missing: {lost}")
        except (OSError, ValueError, KeyError) as e:
            res.check(False, name, "live -w: evidence re-read", str(e))
    # The Prometheus endpoint, scraped while the capture ran.
    try:
        text = open(os.path.join(base, f"{sc}-live.metrics")).read()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, v = line.rpartition(" ")
                values[key] = int(v)
        ok = values.get("frag53_packets_total", 0) > 0 and \
            values.get('frag53_dns_messages_total{transport="udp"}', 0) > 0 and \
            'frag53_findings_total{code="dns.truncated"}' in values
        res.check(ok, name, "live: /metrics served packets, DNS messages and findings by code",
                  f"{len(values)} samples")
    except (OSError, ValueError) as e:
        res.check(False, name, "live: /metrics scraped", str(e))
    res.check(live["input"].get("kernel_dropped", 0) == 0, name, "live: no kernel drops",
              f"{live['input'].get('kernel_dropped')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("frag53")
    ap.add_argument("source_root")
    ap.add_argument("--scenario", action="append", help="run only this scenario (repeatable)")
    ap.add_argument("--keep", metavar="DIR", help="write captures, summaries and events here and keep them")
    args = ap.parse_args()
    root = os.path.abspath(args.source_root)
    frag53 = os.path.abspath(args.frag53)
    preflight(root)
    if not os.access(frag53, os.X_OK):
        print(f"FAIL: frag53 not executable: {frag53}")
        return 1

    lab = os.path.join(root, "scripts", "lab")
    r = subprocess.run([lab, "list"], capture_output=True, text=True, timeout=30)
    scenarios = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]
    if args.scenario:
        unknown = set(args.scenario) - set(scenarios)
        if unknown:
            print(f"unknown scenario(s): {', '.join(sorted(unknown))}; known: {', '.join(scenarios)}")
            return 2
        scenarios = [s for s in scenarios if s in args.scenario]

    res = Results()
    start = time.monotonic()
    tmp = None
    if args.keep:
        base = os.path.abspath(args.keep)
        os.makedirs(base, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="f53-labtest-")
        base = tmp.name
    try:
        for sc in scenarios:
            t0 = time.monotonic()
            print(f"== {sc}", flush=True)
            try:
                r = subprocess.run([lab, "capture", sc, base], capture_output=True, text=True,
                                   timeout=CAPTURE_TIMEOUT, env={**os.environ, "FRAG53_LIVE": frag53})
                lab_ok, detail = r.returncode == 0, f"exit {r.returncode}"
                log = r.stderr
            except subprocess.TimeoutExpired as e:
                lab_ok, detail = False, f"no exit within {CAPTURE_TIMEOUT} s"
                log = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
            for line in log.splitlines():
                if "could be dangerous" not in line:
                    print(f"   | {line}")
            if not res.check(lab_ok, sc, "scripts/lab capture", detail):
                continue
            try:
                with open(os.path.join(base, f"{sc}.expect.json")) as f:
                    expect = json.load(f)
            except (OSError, ValueError) as e:
                res.check(False, sc, "expect file", str(e))
                continue
            for cap, spec in expect["captures"].items():
                check_capture(res, frag53, os.path.join(base, cap), spec, base)
            check_live(res, frag53, base, sc)
            print(f"   ({sc}: {time.monotonic() - t0:.1f} s)", flush=True)
    finally:
        if tmp:
            tmp.cleanup()
    print(f"lab: {len(scenarios)} scenarios in {time.monotonic() - start:.0f} s")
    print(f"{res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
