#!/usr/bin/env python3
"""frag53 loads what only some modes need when they run: the /metrics server
(frag53-metrics.so, for --metrics) and the DPDK capture (frag53-dpdk, for `frag53 dpdk`).
Checks that frag53 itself no longer links them, that both still work through frag53, and what
an operator is told when one is missing.

usage: companions_test.py BUILD_DIR
"""
import os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import check, finish  # noqa: E402

build = sys.argv[1]
frag53 = os.path.join(build, "frag53")

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


needed = subprocess.run(["readelf", "-d", frag53], capture_output=True, text=True).stdout
needed = [l.split("[")[1].rstrip("]") for l in needed.splitlines() if "(NEEDED)" in l]
check("frag53 links libpcap (the capture modes need it every run)", any("libpcap" in n for n in needed), needed)
check("frag53 does not link cpp-httplib or libssl", not any("httplib" in n or "libssl" in n for n in needed), needed)
check("frag53 does not link DPDK", not any(n.startswith("librte_") for n in needed), needed)
check("frag53-metrics.so is built beside frag53", os.path.exists(os.path.join(build, "frag53-metrics.so")))

root = os.geteuid() == 0


def live_with_metrics(binary, port):
    """Runs `live -i lo --metrics`; returns (exit code, stderr, the scraped text or None)."""
    p = subprocess.Popen([binary, "live", "-i", "lo", "--metrics", f"127.0.0.1:{port}", "-q",
                          "--summary-json", os.devnull, "--events", os.devnull],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    text = None
    deadline = time.time() + 10
    while time.time() < deadline and p.poll() is None and text is None:
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
        except OSError:
            time.sleep(0.1)
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    return p.returncode, err, text


with tempfile.TemporaryDirectory() as tmp:
    # frag53 alone, as if its companions had not been installed with it.
    alone = os.path.join(tmp, "frag53")
    shutil.copy(frag53, alone)
    installed = "/usr/local/libexec/frag53"  # the default companion directory, checked last

    if root:
        rc, err, text = live_with_metrics(frag53, free_port())
        check("live --metrics: /metrics is served through the module",
              text is not None and "frag53_packets_total" in text, err)
        check("live --metrics: stops cleanly on SIGINT", rc == 0, f"rc={rc} {err}")
        if not os.path.exists(installed):
            rc, err, text = live_with_metrics(alone, free_port())
            check("live --metrics without the module: exit 2 and says which file and where it looked",
                  rc == 2 and "cannot load frag53-metrics.so" in err and tmp in err, f"rc={rc} {err}")
    else:
        print("skip  live --metrics (needs root to capture on lo)")
    r = subprocess.run([frag53, "live", "-i", "lo", "--metrics", "127.0.0.1:70000"],
                       capture_output=True, text=True, timeout=30)
    check("live --metrics with a bad port: the module's error, exit 2",
          r.returncode == 2 and "bad port" in r.stderr, f"rc={r.returncode} {r.stderr}")

    if os.path.exists(os.path.join(build, "frag53-dpdk")):
        r = subprocess.run([frag53, "dpdk", "--no-huge", "--", "--help"], capture_output=True, text=True, timeout=30)
        check("frag53 dpdk runs frag53-dpdk with the same arguments",
              r.returncode == 0 and "DPDK ethdev ports" in r.stdout and "--rx-queues" in r.stdout,
              f"rc={r.returncode} {r.stdout[:200]} {r.stderr}")
        if not os.path.exists(installed):
            r = subprocess.run([alone, "dpdk", "--", "--help"], capture_output=True, text=True, timeout=30)
            check("frag53 dpdk without frag53-dpdk: exit 2 and says where it looked",
                  r.returncode == 2 and "frag53-dpdk" in r.stderr and tmp in r.stderr,
                  f"rc={r.returncode} {r.stderr}")
    else:
        print("skip  frag53 dpdk (built without DPDK)")

finish()
