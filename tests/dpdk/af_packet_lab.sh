#!/usr/bin/env bash
# frag53 dpdk on net_af_packet with live traffic: real named and dig in network namespaces.
#
# usage: af_packet_lab.sh FRAG53 SOURCE_ROOT
#
# client <-> server on one veth link (MTU 1500), named serving the signed lab zones with
# max-udp-size 4096. For -j 1, 2 and 4: tcpdump and `frag53 dpdk --vdev=net_af_packet0,iface=c0
# -- --idle-exit 2` both capture the client's interface (inside the client namespace) while dig
# asks for 3.8 KB answers with a 4096-byte buffer (IPv4 and IPv6 fragments) and for 1.3-3.8 KB
# answers with a 1232-byte buffer (TC=1, then dig's retry over TCP). The DPDK run's summary must
# equal `frag53 analyze` of tcpdump's capture: same finding codes and counts, same DNS and IP
# counters, with two inherent differences:
#   - the RTT histogram: the two captures stamp packets with different clocks;
#   - IPv4 fragments: DPDK 22.11's net_af_packet joins its socket to a PACKET_FANOUT group with
#     PACKET_FANOUT_FLAG_DEFRAG (no devarg turns it off), so the kernel reassembles IPv4
#     datagrams before the PMD sees them. Every IPv4 dns.fragmented_response of the offline run
#     (counted from its events, with its fragments) is missing from the DPDK run, which sees a
#     whole datagram instead; IPv6 fragments arrive as sent. The ring's frames and the mbufs are
#     made large enough (framesz, --mbuf-size) for the reassembled datagrams, else they would be
#     cut (dns.capture_truncated). net_af_packet is therefore a test vehicle, not a way to watch
#     IPv4 fragmentation: use a NIC with a DPDK driver, or `frag53 live`.
#
# Exit 0 pass, 1 fail, 77 skip (not root, no namespaces, tools missing). Bounded: every wait
# has a timeout, and everything started is removed on exit (lab.sh's trap).
set -euo pipefail

SKIP=77
FRAG53=$(realpath "${1:?usage: af_packet_lab.sh FRAG53 SOURCE_ROOT}")
ROOT=$(realpath "${2:?usage: af_packet_lab.sh FRAG53 SOURCE_ROOT}")

[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (network namespaces, the EAL)"; exit $SKIP; }
for tool in ip named dig tcpdump dnssec-signzone dnssec-keygen python3 timeout; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not found"; exit $SKIP; }
done
"$FRAG53" dpdk --help >/dev/null 2>&1 || { echo "SKIP: this frag53 has no DPDK backend"; exit $SKIP; }
probe=f53-dp-probe-$$
ip netns add "$probe" 2>/dev/null || { echo "SKIP: ip netns is unavailable here"; exit $SKIP; }
ip netns del "$probe"

# shellcheck source=../../scripts/lib/lab.sh
source "$ROOT/scripts/lib/lab.sh"
lab_init "dp$$"

passed=0 failed=0
check() { # NAME COND-EXIT-STATUS [DETAIL]
    if [[ $2 -eq 0 ]]; then
        passed=$((passed + 1)); echo "ok    $1"
    else
        failed=$((failed + 1)); echo "FAIL  $1 ${3:-}"
    fi
}

lab_basic 1500
QUERIES=(
    "v4 TXT   f1.big.lab.test   +dnssec +bufsize=4096"
    "v6 TXT   f2.big.lab.test   +dnssec +bufsize=4096"
    "v4 DNSKEY rsa.lab.test     +dnssec +bufsize=4096"
    "v4 TXT   t1.mid.lab.test   +dnssec +bufsize=1232"
    "v6 TXT   t2.big.lab.test   +bufsize=1232"
    "v4 A     s1.small.lab.test"
    "v6 AAAA  s1.small.lab.test +dnssec"
    "v4 TXT   f3.big.lab.test   +bufsize=4096"
    "v6 TXT   t3.mid.lab.test   +dnssec +bufsize=1232"
    "v4 SOA   lab.test          +dnssec"
)
for line in "${QUERIES[@]}"; do
    read -r _ _ qname _ <<<"$line"
    lab_zone_add_name "$qname"
done
lab_build_zones
conf=$(lab_write_named_conf dpdk 4096)
lab_named_start "$LAB_NS_SERVER" "$conf" "$LAB_SERVER_V4" "$LAB_ZONE"

compare() { # DPDK_SUMMARY OFFLINE_SUMMARY OFFLINE_EVENTS: prints the differences, exit 1 if any
    python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
d, o = (json.load(open(p)) for p in sys.argv[1:3])
# IPv4 fragments are reassembled by the kernel before net_af_packet sees them (see above).
v4 = [e for e in map(json.loads, open(sys.argv[3])) if e.get("code") == "dns.fragmented_response"
      and e.get("ip_version") == 4]
if not v4:
    print("the offline run has no IPv4 dns.fragmented_response: the test traffic is wrong")
    sys.exit(1)
o["findings"]["dns.fragmented_response"] -= len(v4)
o["ip"]["reassembled"] -= len(v4)
o["ip"]["fragments"] -= sum(e["fragment_count"] for e in v4)
diff = {}
for sec in ("findings", "dns", "ip"):
    a, b = d.get(sec, {}), o.get(sec, {})
    diff.update({f"{sec}/{k}": (a.get(k), b.get(k)) for k in set(a) | set(b)
                 if k != "rtt_ms" and a.get(k) != b.get(k)})
print(diff if diff else "")
sys.exit(1 if diff else 0)
EOF
}

summary_value() { # SUMMARY SECTION KEY
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]].get(sys.argv[3], 0))' "$@"
}

for workers in ${F53_WORKERS:-1 2 4}; do
    run=$LAB_DIR/j$workers
    mkdir -p "$run"
    lab_capture_start "$LAB_NS_CLIENT" "$LAB_CLIENT_IF" "$run/client.pcap"
    # The EAL of this run: no hugepages, no PCI scan, nothing left in /var/run; the packet socket
    # lives in the client namespace, beside tcpdump's.
    ip netns exec "$LAB_NS_CLIENT" timeout 120 "$FRAG53" dpdk --no-huge --no-pci -m 256 --no-shconf \
        --no-telemetry --log-level=error "--file-prefix=f53dp$$-$workers" \
        "--vdev=net_af_packet0,iface=$LAB_CLIENT_IF,blocksz=8192,framesz=8192,framecnt=512" -- \
        --mbuf-size 8192 -j "$workers" --idle-exit 2 --stats-interval 0 -q --summary-json "$run/dpdk.json" --events "$run/dpdk.events" \
        >"$run/dpdk.log" 2>&1 &
    dpdk_pid=$!
    LAB_PIDS+=("$dpdk_pid")
    if ! lab_wait_file_match "$run/dpdk.log" 'capturing on' 30; then
        cat "$run/dpdk.log" >&2
        check "-j $workers: frag53 dpdk started on net_af_packet" 1 "no 'capturing on' within 30 s"
        lab_capture_stop || true
        continue
    fi
    lab_run_queries QUERIES
    rc=0
    wait "$dpdk_pid" || rc=$?
    lab_capture_stop || true
    check "-j $workers: frag53 dpdk exits 0 after --idle-exit" "$rc" "exit $rc: $(tail -3 "$run/dpdk.log")"
    grep -q "(net_af_packet)" "$run/dpdk.log" && r=0 || r=1
    check "-j $workers: the port is net_af_packet" $r "$(head -3 "$run/dpdk.log")"

    "$FRAG53" analyze "$run/client.pcap" -q --summary-json "$run/offline.json" --events "$run/offline.events" \
        >/dev/null 2>&1 || true
    if [[ ! -s $run/dpdk.json || ! -s $run/offline.json ]]; then
        check "-j $workers: both summaries written" 1 "$(tail -3 "$run/dpdk.log")"
        continue
    fi
    # The traffic did what the test is about (otherwise equal summaries would prove little).
    frag=$(summary_value "$run/offline.json" findings dns.fragmented_response)
    trunc=$(summary_value "$run/offline.json" findings dns.truncated)
    tcp=$(summary_value "$run/offline.json" dns tcp)
    [[ $frag -ge 4 && $trunc -ge 3 && $tcp -ge 6 ]] && r=0 || r=1
    check "-j $workers: the capture holds fragmented answers ($frag), TC=1 ($trunc) and DNS over TCP ($tcp)" $r
    diff=$(compare "$run/dpdk.json" "$run/offline.json" "$run/offline.events") && same=0 || same=1
    check "-j $workers: dpdk findings, DNS and IP counters == analyze of tcpdump's capture (IPv4 fragments excepted)" \
        "$same" "$diff"
    drops=$(summary_value "$run/dpdk.json" input kernel_dropped)
    [[ $drops -eq 0 ]] && r=0 || r=1
    check "-j $workers: no packets missed by the port (imissed + rx_nombuf)" $r "$drops"
    if [[ $failed -ne 0 && -n ${F53_KEEP:-} ]]; then cp -r "$run" "$F53_KEEP/"; fi
done

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
