# shellcheck shell=bash
# frag53 lab: network namespaces, veth links, named and tcpdump, with cleanup.
#
# Source this file from a bash script, then:
#
#   lab_init [TAG]            # names, scratch dir; installs an EXIT/INT/TERM trap
#   lab_basic [MTU]           # client <-> server on one veth link (see addressing)
#   lab_named_start NS CONF   # named -f in NS, waits until it answers
#   lab_capture_start NS IF FILE [SNAPLEN] [FILTER]
#   ... run dig with: lab_exec "$LAB_NS_CLIENT" dig ...
#   lab_capture_stop
#   lab_named_stop
#   lab_teardown              # also run by the trap
#
# Addressing (one /24 and one /64 per link; "link N" uses 198.18.N.0/24 and
# 2001:db8:0:N::/64, .1/::1 on the side towards the server, .2/::2 on the
# other side):
#
#   link 0:  server 198.18.0.1 2001:db8::1  <->  client 198.18.0.2 2001:db8::2
#
# A router can be added later with the same building blocks: lab_ns_add a
# router namespace, lab_link client<->router (link 1) and router<->server
# (link 0), lab_addr on each end, lab_forwarding on the router, lab_route in
# client and server.
#
# Everything started here is tracked by PID and namespace name, and removed
# by lab_teardown; nothing is killed by name. All names carry LAB_TAG so that
# parallel runs do not collide.

# ---------------------------------------------------------------- state
LAB_TAG=${LAB_TAG:-}
LAB_DIR=${LAB_DIR:-}
LAB_NAMESPACES=()      # created namespaces, deleted on teardown
LAB_PIDS=()            # background processes (named, tcpdump), killed on teardown
LAB_NAMED_PID=
LAB_CAPTURE_PID=
LAB_CAPTURE_LOG=
LAB_KEEP_DIR=${LAB_KEEP_DIR:-0}

LAB_SERVER_V4=198.18.0.1
LAB_CLIENT_V4=198.18.0.2
LAB_SERVER_V6=2001:db8::1
LAB_CLIENT_V6=2001:db8::2
LAB_SERVER_IF=s0
LAB_CLIENT_IF=c0

lab_log() { printf '[lab %s] %s\n' "${LAB_TAG:-?}" "$*" >&2; }
lab_die() { lab_log "ERROR: $*"; exit 1; }

# lab_init [TAG]: pick a unique tag, make a scratch dir, install the cleanup trap.
lab_init() {
    [[ $(id -u) -eq 0 ]] || lab_die "must run as root (network namespaces)"
    LAB_TAG=${1:-${LAB_TAG:-$$$RANDOM}}
    LAB_TAG=${LAB_TAG:0:10}
    LAB_NS_CLIENT=f53-client-$LAB_TAG
    LAB_NS_SERVER=f53-server-$LAB_TAG
    # shellcheck disable=SC2034 # for scripts that add a router namespace
    LAB_NS_ROUTER=f53-router-$LAB_TAG
    if [[ -z $LAB_DIR ]]; then
        LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/f53-lab-$LAB_TAG.XXXXXX")
    else
        mkdir -p "$LAB_DIR"
    fi
    trap 'lab_teardown' EXIT
    trap 'lab_log "interrupted"; exit 130' INT TERM
}

# lab_exec NS CMD...: run a command inside a namespace.
lab_exec() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# lab_ns_add NAME: create a namespace with loopback up; remembered for teardown.
lab_ns_add() {
    local ns=$1
    ip netns add "$ns" || lab_die "cannot create namespace $ns"
    LAB_NAMESPACES+=("$ns")
    ip -n "$ns" link set lo up
    # No router solicitations / autoconf noise in captures.
    lab_exec "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
        net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0 \
        net.ipv6.conf.all.autoconf=0 net.ipv6.conf.default.autoconf=0 >/dev/null || true
}

# lab_link NS_A IF_A NS_B IF_B [MTU]: veth pair created directly inside both
# namespaces (nothing appears in the root namespace), brought up.
# Segmentation offloads are turned off so captures show on-the-wire sized
# TCP segments, not GSO super-packets.
lab_link() {
    local nsa=$1 ifa=$2 nsb=$3 ifb=$4 mtu=${5:-1500}
    ip link add "$ifa" netns "$nsa" mtu "$mtu" type veth peer name "$ifb" netns "$nsb" mtu "$mtu" \
        || lab_die "cannot create veth $nsa/$ifa <-> $nsb/$ifb"
    local ns ifn
    for ns_if in "$nsa/$ifa" "$nsb/$ifb"; do
        ns=${ns_if%%/*}; ifn=${ns_if#*/}
        if command -v ethtool >/dev/null; then
            lab_exec "$ns" ethtool -K "$ifn" tso off gso off gro off >/dev/null 2>&1 || true
        fi
        ip -n "$ns" link set "$ifn" up
    done
}

# lab_addr NS IF ADDR/PREFIX: add an address; IPv6 with nodad so it is usable at once.
lab_addr() {
    local ns=$1 ifn=$2 addr=$3
    if [[ $addr == *:* ]]; then
        ip -n "$ns" -6 addr add "$addr" dev "$ifn" nodad
    else
        ip -n "$ns" addr add "$addr" dev "$ifn"
    fi
}

# lab_mac NS IF: print the interface MAC address.
lab_mac() { ip -n "$1" -o link show dev "$2" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }

# lab_neigh NS IF IP MAC: permanent neighbour entry (no ARP/ND in captures,
# or a path to an address nobody owns).
lab_neigh() { ip -n "$1" neigh replace "$3" lladdr "$4" dev "$2" nud permanent; }

# lab_mtu NS IF MTU: change the MTU of one interface.
lab_mtu() { ip -n "$1" link set dev "$2" mtu "$3"; }

# lab_forwarding NS: turn a namespace into a router.
lab_forwarding() { lab_exec "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null; }

# lab_route NS DEST VIA: add a route (either family).
lab_route() { ip -n "$1" route add "$2" via "$3"; }

# lab_basic [MTU]: client and server namespaces joined by one veth link
# (link 0 of the addressing scheme), with static neighbours both ways.
lab_basic() {
    local mtu=${1:-1500}
    lab_ns_add "$LAB_NS_SERVER"
    lab_ns_add "$LAB_NS_CLIENT"
    lab_link "$LAB_NS_SERVER" "$LAB_SERVER_IF" "$LAB_NS_CLIENT" "$LAB_CLIENT_IF" "$mtu"
    lab_addr "$LAB_NS_SERVER" "$LAB_SERVER_IF" "$LAB_SERVER_V4/24"
    lab_addr "$LAB_NS_SERVER" "$LAB_SERVER_IF" "$LAB_SERVER_V6/64"
    lab_addr "$LAB_NS_CLIENT" "$LAB_CLIENT_IF" "$LAB_CLIENT_V4/24"
    lab_addr "$LAB_NS_CLIENT" "$LAB_CLIENT_IF" "$LAB_CLIENT_V6/64"
    local smac cmac
    smac=$(lab_mac "$LAB_NS_SERVER" "$LAB_SERVER_IF")
    cmac=$(lab_mac "$LAB_NS_CLIENT" "$LAB_CLIENT_IF")
    lab_neigh "$LAB_NS_CLIENT" "$LAB_CLIENT_IF" "$LAB_SERVER_V4" "$smac"
    lab_neigh "$LAB_NS_CLIENT" "$LAB_CLIENT_IF" "$LAB_SERVER_V6" "$smac"
    lab_neigh "$LAB_NS_SERVER" "$LAB_SERVER_IF" "$LAB_CLIENT_V4" "$cmac"
    lab_neigh "$LAB_NS_SERVER" "$LAB_SERVER_IF" "$LAB_CLIENT_V6" "$cmac"
}

# lab_basic_mtu MTU: set the MTU on both ends of link 0.
lab_basic_mtu() {
    lab_mtu "$LAB_NS_SERVER" "$LAB_SERVER_IF" "$1"
    lab_mtu "$LAB_NS_CLIENT" "$LAB_CLIENT_IF" "$1"
}

# lab_wait_file_match FILE REGEX SECONDS: poll until FILE contains REGEX.
lab_wait_file_match() {
    local f=$1 re=$2 secs=$3 i
    for ((i = 0; i < secs * 10; i++)); do
        grep -Eq "$re" "$f" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# lab_named_start NS CONF [PROBE_ADDR] [PROBE_NAME]: start named (-g, logs to stderr) in the
# foreground (tracked by PID) and wait until PROBE_ADDR answers a SOA query
# for PROBE_NAME (the probe goes over the namespace's loopback path, so it
# never shows up in captures on the veth).
lab_named_start() {
    local ns=$1 conf=$2 addr=${3:-$LAB_SERVER_V4} zone=${4:-.} i
    [[ -z $LAB_NAMED_PID ]] || lab_die "named already running (pid $LAB_NAMED_PID)"
    named-checkconf "$conf" || lab_die "named-checkconf failed for $conf"
    local log
    log=$LAB_DIR/named.$(basename "$conf").log
    # Not through lab_exec: a backgrounded shell function runs in a subshell
    # and $! would be that subshell, not named. "ip netns exec" execs, so $!
    # is named itself.
    ip netns exec "$ns" named -g -n 1 -c "$conf" >"$log" 2>&1 &
    LAB_NAMED_PID=$!
    LAB_PIDS+=("$LAB_NAMED_PID")
    for ((i = 0; i < 100; i++)); do
        if lab_exec "$ns" dig +tries=1 +timeout=1 +norec @"$addr" "$zone" SOA 2>/dev/null \
            | grep -q 'status: NOERROR'; then
            return 0
        fi
        kill -0 "$LAB_NAMED_PID" 2>/dev/null || { cat "$log" >&2; lab_die "named exited"; }
        sleep 0.1
    done
    cat "$log" >&2
    lab_die "named did not answer within 10 s"
}

# lab_kill PID [SIGNAL]: signal one tracked process and wait (max 5 s) for it,
# then SIGKILL it.
lab_kill() {
    local pid=$1 sig=${2:-TERM} i
    [[ -n $pid ]] || return 0
    kill -"$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        lab_log "pid $pid ignored SIG$sig for 5 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    local keep=() p
    for p in "${LAB_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    LAB_PIDS=("${keep[@]}")
}

lab_named_stop() { lab_kill "$LAB_NAMED_PID" TERM; LAB_NAMED_PID=; }

# lab_capture_start NS IF FILE [SNAPLEN] [FILTER]: tcpdump writing classic
# pcap; returns once tcpdump reports it is listening. --immediate-mode and -U:
# packets reach the file as they arrive (otherwise packets still sitting in
# the kernel ring buffer when tcpdump is stopped are lost: "received by
# filter" > "captured").
lab_capture_start() {
    local ns=$1 ifn=$2 file=$3 snap=${4:-262144} filter=${5:-}
    [[ -z $LAB_CAPTURE_PID ]] || lab_die "a capture is already running"
    LAB_CAPTURE_LOG=$LAB_DIR/tcpdump.$(basename "$file").log
    # shellcheck disable=SC2086
    ip netns exec "$ns" tcpdump -i "$ifn" -n -U --immediate-mode -Z root -s "$snap" -w "$file" $filter \
        >"$LAB_CAPTURE_LOG" 2>&1 &
    LAB_CAPTURE_PID=$!
    LAB_PIDS+=("$LAB_CAPTURE_PID")
    lab_wait_file_match "$LAB_CAPTURE_LOG" 'listening on' 10 \
        || { cat "$LAB_CAPTURE_LOG" >&2; lab_die "tcpdump did not start"; }
}

# lab_capture_stop: let the last packets arrive, stop tcpdump with SIGTERM
# (it flushes and closes the file, as on SIGINT; SIGINT may be ignored by
# background jobs of a non-interactive shell), wait for it.
lab_capture_stop() {
    [[ -n $LAB_CAPTURE_PID ]] || return 0
    sleep 0.3
    lab_kill "$LAB_CAPTURE_PID" TERM
    LAB_CAPTURE_PID=
    local cap rcv
    cap=$(sed -n 's/^\([0-9]*\) packets\{0,1\} captured.*/\1/p' "$LAB_CAPTURE_LOG")
    rcv=$(sed -n 's/^\([0-9]*\) packets\{0,1\} received by filter.*/\1/p' "$LAB_CAPTURE_LOG")
    if [[ -n $cap && -n $rcv && $cap != "$rcv" ]]; then
        lab_log "WARNING: tcpdump captured $cap of $rcv packets received by the filter"
        return 1
    fi
}

# lab_teardown: stop everything we started, delete our namespaces, remove
# the scratch dir (unless LAB_KEEP_DIR=1). Safe to call more than once.
lab_teardown() {
    local rc=$? p ns
    for p in "${LAB_PIDS[@]}"; do lab_kill "$p" TERM; done
    LAB_PIDS=(); LAB_NAMED_PID=; LAB_CAPTURE_PID=
    # Safety net: anything still running inside our own namespaces (started
    # by a caller with lab_exec ... &) is ours; signal it by PID.
    for ns in "${LAB_NAMESPACES[@]}"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
    done
    for ns in "${LAB_NAMESPACES[@]}"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do
            sleep 0.5; kill -KILL "$p" 2>/dev/null || true
        done
        ip netns del "$ns" 2>/dev/null || true
    done
    LAB_NAMESPACES=()
    if [[ -n $LAB_DIR && -d $LAB_DIR && $LAB_KEEP_DIR != 1 ]]; then
        rm -rf "$LAB_DIR"
    fi
    LAB_DIR=
    return "$rc"
}
