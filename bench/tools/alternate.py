#!/usr/bin/env python3
"""Alternating timer: runs each command once per round, in turn, and prints the median wall and
CPU time (user + system, from wait4) of each, and each median wall time against the first
command's. Alternating spreads the machine's slow and fast moments over every command alike.

usage: alternate.py ROUNDS NAME "COMMAND" [NAME "COMMAND" ...]
e.g.   alternate.py 21 floor "pcap-floor CAP" j1 "build-pgo/frag53 analyze CAP -q --summary-json /dev/null --events /dev/null"
"""
import os
import statistics
import sys
import time

rounds = int(sys.argv[1])
pairs = list(zip(sys.argv[2::2], sys.argv[3::2]))
results = {name: ([], []) for name, _ in pairs}
for _ in range(rounds):
    for name, command in pairs:
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.execvp("/bin/sh", ["/bin/sh", "-c", "exec " + command])
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
        if status != 0:
            print(name, "exit status", status, file=sys.stderr)
        results[name][0].append(wall)
        results[name][1].append(usage.ru_utime + usage.ru_stime)
base = None
for name, _ in pairs:
    walls, cpus = results[name]
    median = statistics.median(walls)
    base = base or median
    print(f"{name:12s} wall {median:.3f} (min {min(walls):.3f} max {max(walls):.3f})  "
          f"cpu {statistics.median(cpus):.3f}  x{median / base:.2f}")
