#!/usr/bin/env python3
"""End-to-end checks of `frag53 analyze` as an operator runs it: several files, damaged and
unreadable inputs, unknown link types, BPF filters, events and summary outputs.

usage: cli_test.py FRAG53 SOURCE_ROOT
"""
import json, os, struct, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish  # noqa: E402

frag53, root = sys.argv[1], sys.argv[2]
pcaps = os.path.join(root, "pcaps")


def analyze(*args):
    with tempfile.TemporaryDirectory() as tmp:
        s = os.path.join(tmp, "s.json")
        r = subprocess.run([frag53, "analyze", *args, "--summary-json", s, "-q"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        summary = json.load(open(s)) if os.path.exists(s) else None
        return r.returncode, r.stdout.decode(), r.stderr.decode(), summary


clean = os.path.join(pcaps, "clean-edns.pcap")
crafted = os.path.join(pcaps, "crafted-anomalies.pcap")

with tempfile.TemporaryDirectory() as tmp:
    # Several files in order: counts add up, frames keep counting.
    rc, _, _, s_all = analyze(clean, crafted)
    _, _, _, s_clean = analyze(clean)
    _, _, _, s_crafted = analyze(crafted)
    check("two files: exit 0", rc == 0, rc)
    check("two files: packets add up",
          s_all["input"]["packets"] == s_clean["input"]["packets"] + s_crafted["input"]["packets"])
    check("two files: findings add up",
          all(s_all["findings"][k] == s_clean["findings"][k] + s_crafted["findings"][k]
              for k in s_all["findings"] if k != "dns.unanswered"))

    # A file cut in the middle of a packet record: error names the file and how far it got,
    # what came before is analyzed.
    data = open(clean, "rb").read()
    cut = os.path.join(tmp, "cut.pcap")
    open(cut, "wb").write(data[: len(data) // 2])
    rc, _, err, s = analyze(cut)
    check("damaged file: exit 1", rc == 1, rc)
    check("damaged file: error names the file", "cut.pcap" in err, err)
    check("damaged file: earlier packets analyzed",
          s is not None and 0 < s["input"]["packets"] < s_clean["input"]["packets"], s and s["input"])
    check("damaged file: reported in summary",
          s is not None and s["input"]["errors"] and s["input"]["errors"][0]["packets_read"] == s["input"]["packets"])

    # Unknown link type: clear message, file skipped, the other file still analyzed.
    odd = os.path.join(tmp, "odd.pcap")
    open(odd, "wb").write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 147)
                          + struct.pack("<IIII", 1, 0, 4, 4) + b"\0\0\0\0")
    rc, _, err, s = analyze(odd, crafted)
    check("unknown link type: exit 1", rc == 1, rc)
    check("unknown link type: message", "odd.pcap" in err and "link type" in err, err)
    check("unknown link type: other file analyzed",
          s is not None and s["input"]["packets"] == s_crafted["input"]["packets"])
    check("unknown link type: marked skipped", s is not None and s["input"]["errors"][0]["file_skipped"])

    # A missing file does not stop the others.
    rc, _, err, s = analyze(os.path.join(tmp, "missing.pcap"), crafted)
    check("missing file: exit 1", rc == 1, rc)
    check("missing file: named", "missing.pcap" in err, err)
    check("missing file: others analyzed", s is not None and s["dns"]["messages"] == s_crafted["dns"]["messages"])

    # Not a capture at all.
    junk = os.path.join(tmp, "junk.pcap")
    open(junk, "wb").write(b"this is not a capture file\n" * 10)
    rc, _, err, s = analyze(junk)
    check("junk file: exit 1 with message", rc == 1 and "junk.pcap" in err, (rc, err))

    # BPF filter: only IPv6 traffic of the clean capture.
    rc, _, _, s6 = analyze(clean, "-f", "ip6")
    check("filter: exit 0", rc == 0, rc)
    check("filter: IPv6 only", s6["decode"]["ipv4"] == 0 and s6["decode"]["ipv6"] > 0, s6["decode"])
    check("filter: fewer messages", 0 < s6["dns"]["messages"] < s_clean["dns"]["messages"])
    rc, _, err, _ = analyze(clean, "-f", "this is not bpf")
    check("bad filter: exit 1 with message", rc == 1 and "clean-edns.pcap" in err, (rc, err))

    # Events on stdout are JSON lines, one per finding; the report moves to stderr.
    r = subprocess.run([frag53, "analyze", crafted, "--events", "-"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    lines = [json.loads(l) for l in r.stdout.decode().splitlines()]
    check("events to stdout: parseable, one per finding",
          len(lines) == sum(s_crafted["findings"].values()), len(lines))
    check("events to stdout: report on stderr", "Findings" in r.stderr.decode())
    check("events: every line has code, frames and message",
          all("code" in e and e["frames"] and e["message"] for e in lines))

    # Options are checked.
    r = subprocess.run([frag53, "analyze", crafted, "--size-threshold", "0"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    check("bad option value: usage error", r.returncode != 0 and r.returncode != 1, r.returncode)
    rc, _, _, s = analyze(crafted, "--size-threshold", "512")
    check("size threshold option applies",
          s["findings"]["dns.oversized_response"] > s_crafted["findings"]["dns.oversized_response"])

# -w: the packets behind the findings, re-read, give the same findings again. Findings whose
# point is an absence (no TCP retry) may be added when the packets that answered them were not
# evidence of any finding, so the check is: every finding comes back, and on a capture without
# such cases exactly the same set.
with tempfile.TemporaryDirectory() as tmp:
    for cap, exact in (("crafted-anomalies.pcap", True), ("truncated-tcp.pcap", False),
                       ("snaplen-cut.pcap", True), ("unanswered.pcap", True)):
        ev = os.path.join(tmp, "evidence.pcap")
        rc, _, _, s_orig = analyze(os.path.join(pcaps, cap), "-w", ev)
        rc2, _, _, s_back = analyze(ev)
        want, got = s_orig["findings"], s_back["findings"]
        if exact:
            check(f"-w {cap}: evidence reproduces exactly the findings", rc == 0 and rc2 == 0 and want == got,
                  {k: (want[k], got[k]) for k in want if want[k] != got[k]})
        else:
            check(f"-w {cap}: evidence reproduces every finding", rc == 0 and rc2 == 0 and
                  all(got[k] >= v for k, v in want.items()), {k: (want[k], got[k]) for k in want if want[k] != got[k]})
        check(f"-w {cap}: no more packets than the input", s_back["input"]["packets"] <= s_orig["input"]["packets"])

# Workers: flows spread over threads give the same summary and the same findings as one
# pipeline, whatever the thread timing (several runs each).
import glob
all_pcaps = sorted(glob.glob(os.path.join(pcaps, "*.pcap")))
with tempfile.TemporaryDirectory() as tmp:
    def run_workers(j, k):
        s, e = os.path.join(tmp, f"s{j}-{k}.json"), os.path.join(tmp, f"e{j}-{k}.jsonl")
        r = subprocess.run([frag53, "analyze", *all_pcaps, "-q", "-j", str(j), "--summary-json", s,
                            "--events", e], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        return r.returncode, json.load(open(s)), sorted(open(e).read().splitlines())
    rc1, s1, e1 = run_workers(1, 0)
    for j in (2, 4):
        for k in range(3):
            rc, sj, ej = run_workers(j, k)
            check(f"{j} workers (run {k + 1}): same summary as one", rc == rc1 and sj == s1)
            check(f"{j} workers (run {k + 1}): same findings as one", ej == e1, f"{len(ej)} vs {len(e1)} lines")
    # As many workers as CPUs or more only slow a run down (each walks the whole capture, and the
    # reading and merging threads need CPUs too): said, not refused.
    big = os.path.join(pcaps, "big-answers.pcap")
    cpus = os.cpu_count()
    for j in (cpus, cpus + 1):
        if j < 2:
            continue
        over = subprocess.run([frag53, "analyze", big, "-q", "-j", str(j)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        check(f"-j {j} on {cpus} CPUs: warned, and the run completes",
              over.returncode == 0 and b"slower than one worker" in over.stderr, over.stderr.decode()[-300:])
    below = [j for j in (1, 2) if j < cpus]
    for j in below:
        r = subprocess.run([frag53, "analyze", big, "-q", "-j", str(j)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        check(f"-j {j} on {cpus} CPUs: no warning", r.returncode == 0 and b"CPUs" not in r.stderr,
              r.stderr.decode()[-300:])
    # Standard input can be read once only: one thread reads it and dispatches to the workers.
    s_file, s_stdin = os.path.join(tmp, "file.json"), os.path.join(tmp, "stdin.json")
    subprocess.run([frag53, "analyze", big, "-q", "--summary-json", s_file], check=True, timeout=120)
    with open(big, "rb") as f:
        r = subprocess.run([frag53, "analyze", "-", "-q", "-j", "2", "--summary-json", s_stdin], stdin=f,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    a, b = json.load(open(s_file)), json.load(open(s_stdin))
    a.pop("input", None), b.pop("input", None)
    check("-j 2 on standard input: same summary as one worker on the file", r.returncode == 0 and a == b)

# qname rules and --only-zones, checked against tshark's reading of the same capture: a rule
# matches every query (QR=0) whose name it covers; --only-zones keeps exactly the messages whose
# question is under a zone.
def tshark_names(path, flt):
    r = subprocess.run(["tshark", "-r", path, "-Y", flt, "-T", "fields", "-e", "dns.qry.name"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
    return [n.strip().lower().rstrip(".") for n in r.stdout.decode().splitlines()]


def under(name, zone):
    return name == zone or name.endswith("." + zone)


hs = analyze(clean, "--rules", "/dev/null")
if hs[0] == 2 and "Hyperscan" in hs[2]:
    check("rules without Hyperscan: clear error, exit 2", "this build does not have" in hs[2], hs[2])
else:
    with tempfile.TemporaryDirectory() as tmp:
        names = tshark_names(clean, "dns.flags.response == 0 and not icmp and not icmpv6")
        zones = sorted({n.split(".", 1)[1] for n in names if "." in n})
        zone = zones[0]
        literal = names[0]
        rules = os.path.join(tmp, "rules.txt")
        open(rules, "w").write(f"# rules\n*.{zone.upper()}  under-zone  medium\n{literal}.  exact  critical\n"
                               f"/^never-matches-anything-[0-9]+$/ nothing info\n")
        want = sum(1 for n in names if n != zone and n.endswith("." + zone)) + names.count(literal)
        rc, _, err, s = analyze(clean, "--rules", rules)
        check("rules: exit 0", rc == 0, err)
        check("rules: rule.match counts every covered query (tshark)", s and s["findings"]["rule.match"] == want,
              f"{s and s['findings']['rule.match']} vs {want}")
        check("rules: every query name scanned", s and s["dns"]["rule_scanned"] == s["dns"]["queries"],
              s and s["dns"])
        bad = os.path.join(tmp, "bad.txt")
        open(bad, "w").write("ok.example  tag  info\n/(/ broken high\n")
        rc, _, err, _ = analyze(clean, "--rules", bad)
        check("rules: a bad regex is an error naming its line, exit 2", rc == 2 and "bad.txt:2" in err, err)

        all_msgs = tshark_names(clean, "dns and not icmp and not icmpv6")
        want_msgs = sum(1 for n in all_msgs if under(n, zone))
        rc, _, err, s = analyze(clean, "--only-zones", zone)
        check("only-zones: exit 0", rc == 0, err)
        check("only-zones: messages under the zone only (tshark)", s and s["dns"]["messages"] == want_msgs,
              f"{s and s['dns']['messages']} vs {want_msgs}")
        check("only-zones: the rest counted as outside",
              s and s["dns"]["outside_only_zones"] == len(all_msgs) - want_msgs, s and s["dns"])
        zf = os.path.join(tmp, "zones.txt")
        open(zf, "w").write(f"# zones\n{zone}\n")
        rc, _, _, s2 = analyze(clean, "--only-zones", zf)
        check("only-zones: a file gives the same as the list", rc == 0 and s2 == s)

# DPDK: net_pcap reading a bundled capture gives the offline findings, with 1, 2 and 4 workers.
# Needs a build with DPDK and root for the EAL (--no-huge --no-pci); skipped otherwise.
probe = subprocess.run([frag53, "dpdk", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
if probe.returncode != 0 or os.geteuid() != 0:
    print("skip  dpdk: this build has no DPDK backend or not running as root")
else:
    with tempfile.TemporaryDirectory() as tmp:
        for cap in ("crafted-anomalies.pcap", "truncated-tcp.pcap", "clean-edns.pcap"):
            path = os.path.join(pcaps, cap)
            _, _, _, offline = analyze(path)
            for j in (1, 2, 4):
                out = os.path.join(tmp, f"d{j}.json")
                r = subprocess.run([frag53, "dpdk", "--no-huge", "--no-pci", "-m", "256", "--no-shconf",
                                    "--no-telemetry", "--log-level=error", f"--file-prefix=f53cli{os.getpid()}",
                                    f"--vdev=net_pcap0,rx_pcap={path}", "--", "--idle-exit", "1", "-q",
                                    "-j", str(j), "--summary-json", out],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
                d = json.load(open(out)) if os.path.exists(out) else None
                same = d is not None and all(
                    {k: v for k, v in d[sec].items() if k != "rtt_ms"} ==
                    {k: v for k, v in offline[sec].items() if k != "rtt_ms"} for sec in ("findings", "dns", "ip"))
                check(f"dpdk net_pcap {cap} -j {j}: same findings and counts as analyze", r.returncode == 0 and same,
                      r.stderr.decode(errors="replace")[-300:])

finish()
