#!/usr/bin/env python3
"""`frag53 dpdk` as an operator runs it, on DPDK's net_pcap driver (hugepage-free EAL, root).

usage: dpdk_cli_test.py FRAG53 SOURCE_ROOT

1. Several RX queues: a capture is split into N pcap files by the symmetric Toeplitz hash of the
   IP address pair (the hash and redirection table a NIC with frag53's RSS set-up applies,
   computed here independently of frag53), net_pcap serves them as N RX queues of one port, and
   `frag53 dpdk -- --presorted-queues --rx-queues N -j W` must give the summary of
   `frag53 analyze` on the whole capture.
2. --metrics: /metrics is scraped while the run waits for --idle-exit; the packet, DNS and
   finding counters must equal the final summary's.
3. --user: the run drops to an unprivileged user after the ports start, and still writes its
   summary; an unknown user is a start-up error.
4. The stats line appears with --stats-interval.

Exit 77 (skip) without root or without a DPDK build. Standard library only.
"""
import json
import os
import pwd
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SKIP = 77
frag53, root = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
pcaps = os.path.join(root, "pcaps")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish  # noqa: E402


# ---------------------------------------------------------------- the NIC's queue choice
KEY = bytes([0x6D, 0x5A] * 20)  # the symmetric key frag53 programs (40 bytes)
RETA_SIZE = 128                  # PortInfo::reta of a presorted port: round robin, 128 entries


def toeplitz(data):
    key = int.from_bytes(KEY, "big")
    keybits = len(KEY) * 8
    h = 0
    for i in range(len(data) * 8):
        if data[i // 8] & (0x80 >> (i % 8)):
            h ^= (key >> (keybits - 32 - i)) & 0xFFFFFFFF
    return h


def queue_of(frame, queues):
    """RSS over the IP addresses only (fragments and both directions alike); not IP: queue 0."""
    off = 12
    ethertype = struct.unpack_from("!H", frame, off)[0] if len(frame) >= 14 else 0
    while ethertype in (0x8100, 0x88A8) and len(frame) >= off + 6:
        off += 4
        ethertype = struct.unpack_from("!H", frame, off)[0]
    l3 = off + 2
    if ethertype == 0x0800 and len(frame) >= l3 + 20:
        pair = frame[l3 + 12:l3 + 20]
    elif ethertype == 0x86DD and len(frame) >= l3 + 40:
        pair = frame[l3 + 8:l3 + 40]
    else:
        return 0
    return (toeplitz(pair) % RETA_SIZE) % queues


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
              b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if endian is None:
        raise ValueError(f"{path}: not a classic pcap file")
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    records, pos = [], 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from(endian + "I", data, pos + 8)[0]
        records.append((data[pos:pos + 16], data[pos + 16:pos + 16 + caplen]))
        pos += 16 + caplen
    return data[:24], endian, linktype, records


def split_pcap(path, queues, out_dir):
    header, _, linktype, records = read_pcap(path)
    if linktype != 1:
        raise ValueError(f"{path}: link type {linktype}, not Ethernet")
    files = [os.path.join(out_dir, f"q{q}.pcap") for q in range(queues)]
    outs = [open(f, "wb") for f in files]
    counts = [0] * queues
    for o in outs:
        o.write(header)
    for rec_header, frame in records:
        q = queue_of(frame, queues)
        outs[q].write(rec_header + frame)
        counts[q] += 1
    for o in outs:
        o.close()
    return files, counts


def ipv4_checksum(header):
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def many_clients(paths, clients, out):
    """The lab client (198.18.0.2, 2001:db8::2) of every capture replaced by `clients` distinct
    ones, all copies merged by packet time: one capture of many address pairs. Checksums of UDP
    and TCP are left as they were (frag53 does not verify them: offloads make them unreliable)."""
    header, merged = None, []
    for path in paths:
        h, endian, linktype, records = read_pcap(path)
        if linktype != 1:
            raise ValueError(f"{path}: not Ethernet")
        header = header or h
        for k in range(1, clients + 1):
            v4_new = bytes([198, 18, 1, k])
            v6_new = bytes.fromhex("20010db8000000010000000000000000")[:15] + bytes([k])
            for rec_header, frame in records:
                f = bytearray(frame)
                ethertype = struct.unpack_from("!H", f, 12)[0]
                if ethertype == 0x0800:
                    for off in (26, 30):
                        if f[off:off + 4] == bytes([198, 18, 0, 2]):
                            f[off:off + 4] = v4_new
                    ihl = (f[14] & 15) * 4
                    f[24:26] = b"\0\0"
                    f[24:26] = struct.pack("!H", ipv4_checksum(bytes(f[14:14 + ihl])))
                elif ethertype == 0x86DD:
                    for off in (22, 38):
                        if f[off:off + 16] == bytes.fromhex("20010db8000000000000000000000002"):
                            f[off:off + 16] = v6_new
                sec, frac = struct.unpack_from(endian + "II", rec_header, 0)
                merged.append(((sec, frac), rec_header, bytes(f)))
    merged.sort(key=lambda r: r[0])  # stable: each copy keeps its own order
    with open(out, "wb") as o:
        o.write(header)
        for _, rec_header, frame in merged:
            o.write(rec_header + frame)
    return out


# ---------------------------------------------------------------- running frag53
def eal(vdev):
    return ["--no-huge", "--no-pci", "-m", "256", "--no-shconf", "--no-telemetry", "--log-level=error",
            f"--file-prefix=f53dpdk{os.getpid()}", f"--vdev={vdev}"]


def analyze(path, tmp):
    s = os.path.join(tmp, "offline.json")
    subprocess.run([frag53, "analyze", path, "-q", "--summary-json", s],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return json.load(open(s))


def dpdk(vdev, options, timeout=120):
    return subprocess.run([frag53, "dpdk", *eal(vdev), "--", *options],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def comparable(summary):
    return {sec: {k: v for k, v in summary.get(sec, {}).items() if k != "rtt_ms"}
            for sec in ("findings", "dns", "ip")}


def differences(a, b):
    a, b = comparable(a), comparable(b)
    return {f"{sec}/{k}": (a[sec].get(k), b[sec].get(k)) for sec in a
            for k in set(a[sec]) | set(b[sec]) if a[sec].get(k) != b[sec].get(k)}


def main():
    if os.geteuid() != 0:
        print("SKIP: the EAL needs root here")
        return SKIP
    probe = subprocess.run([frag53, "dpdk", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if probe.returncode != 0:
        print("SKIP: this frag53 has no DPDK backend")
        return SKIP

    with tempfile.TemporaryDirectory(prefix="f53-dpdk-") as tmp:
        os.chmod(tmp, 0o755)
        # 1. Several RX queues filled by the NIC's hash. Captures shorter than every timeout: a
        # replay's queues are read side by side (by one thread in turn, or by one worker each),
        # so they interleave by bursts, not by packet time (live traffic on several queues is
        # all "now").
        spread = 0
        clients = many_clients([os.path.join(pcaps, c) for c in ("clean-edns.pcap", "truncated-tcp.pcap",
                                                                  "no-edns.pcap")],
                               24, os.path.join(tmp, "clients-24.pcap"))
        for cap in ("clean-edns.pcap", "truncated-tcp.pcap", "no-edns.pcap", "clients-24.pcap"):
            path = clients if cap == "clients-24.pcap" else os.path.join(pcaps, cap)
            offline = analyze(path, tmp)
            for queues, workers in ((2, 1), (2, 2), (4, 2), (4, 4)):
                qdir = os.path.join(tmp, f"{cap}-{queues}")
                os.makedirs(qdir, exist_ok=True)
                files, counts = split_pcap(path, queues, qdir)
                spread = max(spread, sum(1 for c in counts if c))
                out = os.path.join(tmp, "d.json")
                if os.path.exists(out):
                    os.unlink(out)
                vdev = "net_pcap0," + ",".join(f"rx_pcap={f}" for f in files)
                r = dpdk(vdev, ["--presorted-queues", "--rx-queues", str(queues), "-j", str(workers),
                                "--idle-exit", "1", "-q", "--summary-json", out])
                err = r.stderr.decode(errors="replace")
                name = f"{cap}: {queues} presorted queues {counts}, -j {workers}"
                check(f"{name}: port set up with {queues} queues",
                      re.search(rf"{queues} RX queues, queues presorted", err) is not None, err[-400:])
                # One queue per worker: the workers poll their own queues (no dispatcher copy);
                # otherwise one thread reads them all and dispatches.
                polled = "each worker polls its own queue" in err
                check(f"{name}: {'workers poll their own queues' if queues == workers else 'one reader dispatches'}",
                      polled == (queues == workers), err[-400:])
                try:
                    d = json.load(open(out))
                except (OSError, ValueError) as e:
                    check(f"{name}: summary written", False, f"{e}; {err[-400:]}")
                    continue
                diff = differences(d, offline)
                check(f"{name}: same findings and counts as analyze", r.returncode == 0 and not diff,
                      f"exit {r.returncode}, differs: {diff}")
                check(f"{name}: every packet read", d["input"]["packets"] == offline["input"]["packets"],
                      f'{d["input"]["packets"]} vs {offline["input"]["packets"]}')
        check("the hash spread some capture over several queues", spread >= 2, f"at most {spread} queue(s) used")

        # Frames larger than an mbuf: counted, dropped and reported with the way out; with a
        # larger --mbuf-size they are analyzed like the offline run does.
        path = os.path.join(pcaps, "big-answers.pcap")  # 3.9 KB frames (captured on loopback)
        offline = analyze(path, tmp)
        out = os.path.join(tmp, "big.json")
        r = dpdk(f"net_pcap0,rx_pcap={path}", ["--idle-exit", "1", "-q", "--summary-json", out])
        err = r.stderr.decode(errors="replace")
        check("frames above --mbuf-size: dropped and reported", r.returncode == 0 and re.search(
            r"frag53: 2 frames larger than --mbuf-size 2048 dropped", err) is not None, err[-400:])
        r = dpdk(f"net_pcap0,rx_pcap={path}", ["--mbuf-size", "9000", "--idle-exit", "1", "-q", "--summary-json", out])
        diff = differences(json.load(open(out)), offline) if os.path.exists(out) else {"summary": "missing"}
        check("--mbuf-size 9000: 3.9 KB frames analyzed as offline", r.returncode == 0 and not diff,
              f"differs {diff}; {r.stderr.decode(errors='replace')[-300:]}")

        # Without --presorted-queues net_pcap has no RSS: every file (queue) is read by one
        # lcore, software dispatch, the operator is told so, and nothing is lost.
        path = os.path.join(pcaps, "clean-edns.pcap")
        files, _ = split_pcap(path, 2, os.path.join(tmp, "clean-edns.pcap-2"))
        r = dpdk("net_pcap0," + ",".join(f"rx_pcap={f}" for f in files),
                 ["--rx-queues", "2", "--idle-exit", "1", "-q", "--summary-json", os.path.join(tmp, "n.json")])
        err = r.stderr.decode(errors="replace")
        check("no RSS and not presorted: both queues read, software dispatch, said on stderr",
              r.returncode == 0 and "2 RX queues, software dispatch" in err and "no RSS" in err, err[-400:])
        offline = analyze(path, tmp)
        nj = os.path.join(tmp, "n.json")
        diff = differences(json.load(open(nj)), offline) if os.path.exists(nj) else {"summary": "missing"}
        check("no RSS and not presorted: same findings and counts as analyze", not diff, f"differs {diff}")

        # 2. --metrics, scraped while the run idles before --idle-exit; 3. --user; 4. stats line.
        users = [u for u in ("nobody", "daemon") if u in {p.pw_name for p in pwd.getpwall()}]
        if not users:
            check("an unprivileged user exists for --user", False)
            return 1
        user = users[0]
        path = os.path.join(pcaps, "truncated-tcp.pcap")
        offline = analyze(path, tmp)
        shared = os.path.join(tmp, "as-user")  # written after the privileges are gone
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
        out = os.path.join(shared, "m.json")
        port = 20000 + os.getpid() % 20000
        cmd = [frag53, "dpdk", *eal(f"net_pcap0,rx_pcap={path}"), "--", "-j", "2", "--idle-exit", "4",
               "--metrics", f"127.0.0.1:{port}", "--user", user, "--stats-interval", "1",
               "--summary-json", out]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        stderr_lines = []
        reader = threading.Thread(target=lambda: stderr_lines.extend(proc.stderr), daemon=True)
        reader.start()
        text, deadline = "", time.monotonic() + 20
        # The file is read at once; the counters are final once a publish after it has happened.
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                    text = resp.read().decode()
                if re.search(rf"^frag53_packets_total {offline['input']['packets']}$", text, re.M):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        err = b"".join(stderr_lines).decode(errors="replace")
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                values[k] = float(v)
        check("--metrics: frag53_packets_total is the capture's packet count",
              values.get("frag53_packets_total") == offline["input"]["packets"],
              f"{values.get('frag53_packets_total')} vs {offline['input']['packets']}; {err[-300:]}")
        udp = values.get('frag53_dns_messages_total{transport="udp"}')
        tcp = values.get('frag53_dns_messages_total{transport="tcp"}')
        check("--metrics: DNS messages by transport as analyze counts them",
              udp == offline["dns"]["udp"] and tcp == offline["dns"]["tcp"],
              f"udp {udp} tcp {tcp} vs {offline['dns']}")
        # Findings a pipeline makes when it reads the message; cross-flow verdicts (path.*, SOA
        # serials) and end-of-input ones only exist once the run has finished.
        per_message = ("dns.truncated", "dns.oversized_response", "dns.fragmented_response",
                       "dns.exceeds_advertised_size", "dns.edns_dropped", "dns.malformed")
        want = {c: n for c, n in offline["findings"].items() if n and c in per_message}
        got = {c: values.get(f'frag53_findings_total{{code="{c}"}}') for c in want}
        check("--metrics: per-message findings by code as analyze finds them",
              bool(want) and all(got[c] == want[c] for c in want), f"{got} vs {want}")
        check("--metrics: per-worker packet counters for 2 workers",
              len([k for k in values if k.startswith("frag53_worker_packets_total")]) == 2,
              str([k for k in values if k.startswith("frag53_worker")]))
        check(f"--user {user}: exits 0 after dropping privileges", proc.returncode == 0, err[-400:])
        try:
            st = os.stat(out)
            d = json.load(open(out))
            check(f"--user {user}: the summary is written as {user}, with the offline findings",
                  st.st_uid == pwd.getpwnam(user).pw_uid and not differences(d, offline),
                  f"uid {st.st_uid}, differs {differences(d, offline)}")
        except (OSError, ValueError) as e:
            check(f"--user {user}: summary written", False, str(e))
        check("--stats-interval 1: a stats line with packet rate and NIC drops",
              re.search(r"frag53: \d+ packets/s, \d+ packets, imissed \d+, rx_nombuf \d+, ierrors \d+, \d+ findings",
                        err) is not None, err[-400:])
        r = dpdk(f"net_pcap0,rx_pcap={path}", ["--user", "no-such-user-f53", "--idle-exit", "1", "-q"])
        check("--user with an unknown user: start-up error, exit 2",
              r.returncode == 2 and b"no-such-user-f53" in r.stderr, r.stderr.decode(errors="replace")[-300:])

    finish()


if __name__ == "__main__":
    sys.exit(main())
