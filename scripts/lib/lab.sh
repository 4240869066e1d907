# shellcheck shell=bash
# frag53 lab: network namespaces, veth links, named and tcpdump, with cleanup.
#
# Source this file from a bash script, then:
#
#   lab_init [TAG]            # names, scratch dir; installs an EXIT/INT/TERM trap
#   lab_basic [MTU]           # client <-> server on one veth link (see addressing)
#   lab_named_start NS CONF   # named -f in NS, waits until it answers
#   lab_capture_start NS IF FILE [SNAPLEN] [FILTER]   # several may run at once
#   ... run dig with: lab_exec "$LAB_NS_CLIENT" dig ...
#   lab_capture_stop          # stops every running capture
#   lab_named_stop
#   lab_teardown              # also run by the trap
#
# With a router in the middle instead of lab_basic:
#
#   lab_routed [CLIENT_MTU] [SERVER_MTU]   # client <-> router <-> server
#   lab_nft "$LAB_NS_ROUTER" <<<"RULESET"  # nftables rules on the router
#
# Zones and named configuration for every script that runs named:
#
#   lab_zone_add_name QNAME...          # X.small/mid/big.lab.test: owner of that size
#   lab_build_zones                     # signs lab.test and rsa.lab.test
#   lab_write_named_conf NAME MAX_UDP   # prints the path of the new named.conf
#   lab_run_queries ARRAY_NAME          # one dig per "SERVER TYPE QNAME [dig options]"
#
# Addressing (one /24 and one /64 per link; "link N" uses 198.18.N.0/24 and
# 2001:db8:0:N::/64, .1/::1 on the side towards the server, .2/::2 on the
# other side):
#
#   link 0:  server 198.18.0.1 2001:db8::1  <->  client 198.18.0.2 2001:db8::2
#
# With a router (lab_routed), link 0 joins server and router, link 1 router
# and client:
#
#   link 0:  server s0 198.18.0.1 2001:db8::1          <->  router r0 198.18.0.2 2001:db8::2
#   link 1:  router r1 198.18.1.1 2001:db8:0:1::1      <->  client c0 198.18.1.2 2001:db8:0:1::2
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
LAB_CAPTURE_PIDS=()    # running tcpdumps and their logs (same index)
LAB_CAPTURE_LOGS=()
LAB_KEEP_DIR=${LAB_KEEP_DIR:-0}

LAB_SERVER_V4=198.18.0.1
LAB_CLIENT_V4=198.18.0.2
LAB_SERVER_V6=2001:db8::1
LAB_CLIENT_V6=2001:db8::2
LAB_SERVER_IF=s0
LAB_CLIENT_IF=c0
LAB_ROUTER_SERVER_IF=r0
LAB_ROUTER_CLIENT_IF=r1
LAB_ROUTER_SERVER_V4=198.18.0.2
LAB_ROUTER_SERVER_V6=2001:db8::2
LAB_ROUTER_CLIENT_V4=198.18.1.1
LAB_ROUTER_CLIENT_V6=2001:db8:0:1::1

# DNS and what matters to it: ICMP errors (not neighbour discovery) and IP
# fragments (non-first fragments carry no ports).
# shellcheck disable=SC2034 # for the scripts that source this file
LAB_DNS_FILTER='udp port 53 or tcp port 53 or icmp or (icmp6 and ip6[40] < 128) or (ip and ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)'

lab_log() { printf '[lab %s] %s\n' "${LAB_TAG:-?}" "$*" >&2; }
lab_die() { lab_log "ERROR: $*"; exit 1; }

# lab_init [TAG]: pick a unique tag, make a scratch dir, install the cleanup trap.
lab_init() {
    [[ $(id -u) -eq 0 ]] || lab_die "must run as root (network namespaces)"
    LAB_TAG=${1:-${LAB_TAG:-$$$RANDOM}}
    LAB_TAG=${LAB_TAG:0:10}
    LAB_NS_CLIENT=f53-client-$LAB_TAG
    LAB_NS_SERVER=f53-server-$LAB_TAG
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

# lab_bg NS LOG CMD...: start a helper in a namespace, tracked by PID (killed
# by lab_teardown) and left in LAB_BG_PID. Not meant for $(...): the PID must
# be recorded in this shell.
lab_bg() {
    local ns=$1 log=$2; shift 2
    ip netns exec "$ns" "$@" >"$log" 2>&1 &
    LAB_BG_PID=$!
    LAB_PIDS+=("$LAB_BG_PID")
}

# lab_capture_start NS IF FILE [SNAPLEN] [FILTER]: tcpdump writing classic
# pcap; returns once tcpdump reports it is listening. Several captures may
# run at once (both ends of a routed path). --immediate-mode and -U:
# packets reach the file as they arrive (otherwise packets still sitting in
# the kernel ring buffer when tcpdump is stopped are lost: "received by
# filter" > "captured").
lab_capture_start() {
    local ns=$1 ifn=$2 file=$3 snap=${4:-262144} filter=${5:-} log pid
    log=$LAB_DIR/tcpdump.$(basename "$file").log
    # shellcheck disable=SC2086
    ip netns exec "$ns" tcpdump -i "$ifn" -n -U --immediate-mode -Z root -s "$snap" -w "$file" $filter \
        >"$log" 2>&1 &
    pid=$!
    LAB_PIDS+=("$pid")
    LAB_CAPTURE_PIDS+=("$pid")
    LAB_CAPTURE_LOGS+=("$log")
    lab_wait_file_match "$log" 'listening on' 10 \
        || { cat "$log" >&2; lab_die "tcpdump did not start"; }
}

# lab_capture_stop: let the last packets arrive, stop every running tcpdump
# with SIGTERM (it flushes and closes the file, as on SIGINT; SIGINT may be
# ignored by background jobs of a non-interactive shell), wait for them.
# Returns 1 if a capture lost packets.
lab_capture_stop() {
    ((${#LAB_CAPTURE_PIDS[@]})) || return 0
    sleep 0.3
    local i cap rcv rc=0
    for i in "${!LAB_CAPTURE_PIDS[@]}"; do
        lab_kill "${LAB_CAPTURE_PIDS[$i]}" TERM
        cap=$(sed -n 's/^\([0-9]*\) packets\{0,1\} captured.*/\1/p' "${LAB_CAPTURE_LOGS[$i]}")
        rcv=$(sed -n 's/^\([0-9]*\) packets\{0,1\} received by filter.*/\1/p' "${LAB_CAPTURE_LOGS[$i]}")
        if [[ -n $cap && -n $rcv && $cap != "$rcv" ]]; then
            lab_log "WARNING: tcpdump captured $cap of $rcv packets received by the filter (${LAB_CAPTURE_LOGS[$i]})"
            rc=1
        fi
    done
    LAB_CAPTURE_PIDS=(); LAB_CAPTURE_LOGS=()
    return "$rc"
}

# ---------------------------------------------------------------- router
# lab_routed [CLIENT_MTU] [SERVER_MTU]: client - router - server. Link 1
# (client side) gets CLIENT_MTU, link 0 (server side) SERVER_MTU; lab_mtu
# can then make one end of a link differ from the other. Static neighbours
# everywhere, so captures hold no ARP/ND.
lab_routed() {
    local cmtu=${1:-1500} smtu=${2:-1500}
    LAB_CLIENT_V4=198.18.1.2
    LAB_CLIENT_V6=2001:db8:0:1::2
    lab_ns_add "$LAB_NS_SERVER"
    lab_ns_add "$LAB_NS_ROUTER"
    lab_ns_add "$LAB_NS_CLIENT"
    lab_link "$LAB_NS_SERVER" "$LAB_SERVER_IF" "$LAB_NS_ROUTER" "$LAB_ROUTER_SERVER_IF" "$smtu"
    lab_link "$LAB_NS_ROUTER" "$LAB_ROUTER_CLIENT_IF" "$LAB_NS_CLIENT" "$LAB_CLIENT_IF" "$cmtu"
    lab_addr "$LAB_NS_SERVER" "$LAB_SERVER_IF" "$LAB_SERVER_V4/24"
    lab_addr "$LAB_NS_SERVER" "$LAB_SERVER_IF" "$LAB_SERVER_V6/64"
    lab_addr "$LAB_NS_ROUTER" "$LAB_ROUTER_SERVER_IF" "$LAB_ROUTER_SERVER_V4/24"
    lab_addr "$LAB_NS_ROUTER" "$LAB_ROUTER_SERVER_IF" "$LAB_ROUTER_SERVER_V6/64"
    lab_addr "$LAB_NS_ROUTER" "$LAB_ROUTER_CLIENT_IF" "$LAB_ROUTER_CLIENT_V4/24"
    lab_addr "$LAB_NS_ROUTER" "$LAB_ROUTER_CLIENT_IF" "$LAB_ROUTER_CLIENT_V6/64"
    lab_addr "$LAB_NS_CLIENT" "$LAB_CLIENT_IF" "$LAB_CLIENT_V4/24"
    lab_addr "$LAB_NS_CLIENT" "$LAB_CLIENT_IF" "$LAB_CLIENT_V6/64"
    lab_forwarding "$LAB_NS_ROUTER"
    # Every ICMP error the router owes must reach the captures: the default
    # rate limit (about one per second per destination) would make counts
    # depend on timing.
    lab_exec "$LAB_NS_ROUTER" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 >/dev/null
    lab_route "$LAB_NS_CLIENT" 198.18.0.0/24 "$LAB_ROUTER_CLIENT_V4"
    lab_route "$LAB_NS_CLIENT" 2001:db8::/64 "$LAB_ROUTER_CLIENT_V6"
    lab_route "$LAB_NS_SERVER" 198.18.1.0/24 "$LAB_ROUTER_SERVER_V4"
    lab_route "$LAB_NS_SERVER" 2001:db8:0:1::/64 "$LAB_ROUTER_SERVER_V6"
    local smac rsmac rcmac cmac
    smac=$(lab_mac "$LAB_NS_SERVER" "$LAB_SERVER_IF")
    rsmac=$(lab_mac "$LAB_NS_ROUTER" "$LAB_ROUTER_SERVER_IF")
    rcmac=$(lab_mac "$LAB_NS_ROUTER" "$LAB_ROUTER_CLIENT_IF")
    cmac=$(lab_mac "$LAB_NS_CLIENT" "$LAB_CLIENT_IF")
    lab_neigh "$LAB_NS_SERVER" "$LAB_SERVER_IF" "$LAB_ROUTER_SERVER_V4" "$rsmac"
    lab_neigh "$LAB_NS_SERVER" "$LAB_SERVER_IF" "$LAB_ROUTER_SERVER_V6" "$rsmac"
    lab_neigh "$LAB_NS_ROUTER" "$LAB_ROUTER_SERVER_IF" "$LAB_SERVER_V4" "$smac"
    lab_neigh "$LAB_NS_ROUTER" "$LAB_ROUTER_SERVER_IF" "$LAB_SERVER_V6" "$smac"
    lab_neigh "$LAB_NS_ROUTER" "$LAB_ROUTER_CLIENT_IF" "$LAB_CLIENT_V4" "$cmac"
    lab_neigh "$LAB_NS_ROUTER" "$LAB_ROUTER_CLIENT_IF" "$LAB_CLIENT_V6" "$cmac"
    lab_neigh "$LAB_NS_CLIENT" "$LAB_CLIENT_IF" "$LAB_ROUTER_CLIENT_V4" "$rcmac"
    lab_neigh "$LAB_NS_CLIENT" "$LAB_CLIENT_IF" "$LAB_ROUTER_CLIENT_V6" "$rcmac"
}

# lab_nft NS: load an nftables ruleset (stdin) into a namespace; it lives and
# dies with the namespace.
lab_nft() {
    local ns=$1 rules
    command -v nft >/dev/null || lab_die "nft not found (Debian package nftables)"
    rules=$(cat)
    lab_exec "$ns" nft -f - <<<"$rules" || { printf '%s\n' "$rules" >&2; lab_die "nft rejected the ruleset"; }
}

# ---------------------------------------------------------------- zones
# lab.test (ECDSA P-256, NSEC3) with a signed child rsa.lab.test (RSA 2048).
# Owner names are registered per query (lab_zone_add_name) so each
# transaction in a capture names itself; the second label gives the size:
#   small: A, AAAA, short TXT            -> answers well under 512 bytes
#   mid:   5 TXT of 225 characters       -> ~1.27 KB, ~1.37 KB with DO (1232 < x < 1452)
#   big:   14 TXT of 250 characters      -> ~3.76 KB, ~3.87 KB with DO
LAB_ZONE=lab.test
LAB_CHILD=rsa.lab.test
LAB_SMALL_NAMES=() LAB_MID_NAMES=() LAB_BIG_NAMES=()

# lab_zone_add_name QNAME...: make the zone hold QNAME in its size class
# (names of no size class are left alone).
lab_zone_add_name() {
    local q
    for q in "$@"; do
        q=${q%.}
        case $q in
            *.small.$LAB_ZONE) [[ " ${LAB_SMALL_NAMES[*]} " == *" $q. "* ]] || LAB_SMALL_NAMES+=("$q.") ;;
            *.mid.$LAB_ZONE)   [[ " ${LAB_MID_NAMES[*]} " == *" $q. "* ]]   || LAB_MID_NAMES+=("$q.") ;;
            *.big.$LAB_ZONE)   [[ " ${LAB_BIG_NAMES[*]} " == *" $q. "* ]]   || LAB_BIG_NAMES+=("$q.") ;;
        esac
    done
}

lab_txt_string() { # TAG INDEX LEN: deterministic printable string
    local s="frag53-$1-$2-" pad=abcdefghijklmnopqrstuvwxyz0123456789
    while ((${#s} < $3)); do s+=$pad; done
    printf '"%s"' "${s:0:$3}"
}

lab_write_zone() {
    local f=$1 n i
    {
        cat <<EOF
\$TTL 3600
@       SOA   ns.$LAB_ZONE. hostmaster.$LAB_ZONE. 2024010101 3600 900 604800 300
        NS    ns.$LAB_ZONE.
ns      A     $LAB_SERVER_V4
ns      AAAA  $LAB_SERVER_V6
rsa     NS    ns.$LAB_ZONE.
EOF
        for n in "${LAB_SMALL_NAMES[@]}"; do
            printf '%s A 198.18.0.10\n%s AAAA 2001:db8::10\n%s TXT "frag53 small answer"\n' "$n" "$n" "$n"
        done
        for n in "${LAB_MID_NAMES[@]}"; do
            for i in 1 2 3 4 5; do printf '%s TXT %s\n' "$n" "$(lab_txt_string mid "$i" 225)"; done
        done
        for n in "${LAB_BIG_NAMES[@]}"; do
            for i in $(seq 1 14); do printf '%s TXT %s\n' "$n" "$(lab_txt_string big "$i" 250)"; done
        done
    } >"$f"
}

# lab_build_zones: keys and signed zone files under $LAB_DIR/zones.
lab_build_zones() {
    local d=$LAB_DIR/zones
    mkdir -p "$d/keys"
    # rsa.lab.test: RSA/SHA-256 2048 bit, KSK + active ZSK + pre-published
    # next ZSK (a ZSK rollover in progress), NSEC. Its DNSKEY RRset with
    # RRSIGs is ~1.5 KB.
    dnssec-keygen -q -K "$d/keys" -a RSASHA256 -b 2048 -f KSK "$LAB_CHILD" >/dev/null
    dnssec-keygen -q -K "$d/keys" -a RSASHA256 -b 2048 "$LAB_CHILD" >/dev/null
    dnssec-keygen -q -K "$d/keys" -a RSASHA256 -b 2048 -P now -A none "$LAB_CHILD" >/dev/null
    cat >"$d/$LAB_CHILD.zone" <<EOF
\$TTL 3600
@       SOA   ns.$LAB_ZONE. hostmaster.$LAB_ZONE. 2024010101 3600 900 604800 300
        NS    ns.$LAB_ZONE.
www     A     198.18.0.11
EOF
    dnssec-signzone -q -S -K "$d/keys" -d "$d" -e +315360000 -o "$LAB_CHILD" \
        -f "$d/$LAB_CHILD.signed" "$d/$LAB_CHILD.zone" >/dev/null
    # lab.test: ECDSA P-256 (algorithm 13), KSK + ZSK + pre-published ZSK,
    # NSEC3 without salt and with 0 extra iterations.
    dnssec-keygen -q -K "$d/keys" -a ECDSAP256SHA256 -f KSK "$LAB_ZONE" >/dev/null
    dnssec-keygen -q -K "$d/keys" -a ECDSAP256SHA256 "$LAB_ZONE" >/dev/null
    dnssec-keygen -q -K "$d/keys" -a ECDSAP256SHA256 -P now -A none "$LAB_ZONE" >/dev/null
    lab_write_zone "$d/$LAB_ZONE.zone"
    local ksk
    ksk=$(grep -l 'key-signing key' "$d"/keys/K"$LAB_CHILD".+008+*.key)
    dnssec-dsfromkey -2 "$ksk" >>"$d/$LAB_ZONE.zone"
    # Long signature validity so captures do not look expired when they are
    # analysed years later against wall-clock time.
    dnssec-signzone -q -S -K "$d/keys" -d "$d" -x -3 - -H 0 -e +315360000 -o "$LAB_ZONE" \
        -f "$d/$LAB_ZONE.signed" "$d/$LAB_ZONE.zone" >/dev/null
}

# lab_write_named_conf NAME MAX_UDP: authoritative-only named for both zones;
# prints the path of the configuration.
lab_write_named_conf() {
    local maxudp=$2 dir=$LAB_DIR/named-$1
    mkdir -p "$dir"
    cat >"$dir/named.conf" <<EOF
options {
    directory "$dir";
    pid-file "$dir/named.pid";
    session-keyfile "$dir/session.key";
    managed-keys-directory "$dir";
    listen-on port 53 { $LAB_SERVER_V4; };
    listen-on-v6 port 53 { $LAB_SERVER_V6; };
    recursion no;
    dnssec-validation no;
    minimal-responses yes;
    notify no;
    max-udp-size $maxudp;
    edns-udp-size $maxudp;
};
controls { };
zone "$LAB_ZONE" { type primary; file "$LAB_DIR/zones/$LAB_ZONE.signed"; };
zone "$LAB_CHILD" { type primary; file "$LAB_DIR/zones/$LAB_CHILD.signed"; };
EOF
    echo "$dir/named.conf"
}

# lab_run_queries ARRAY_NAME: one dig per line "SERVER TYPE QNAME [dig
# options]" from the client namespace; SERVER is v4, v6 or an address. dig gets one try
# of 2 s unless the line says otherwise (later options win). One line per dig
# on stderr.
lab_run_queries() {
    local -n lab_rq_list=$1
    local line srv qtype qname opts addr out tc
    for line in "${lab_rq_list[@]}"; do
        read -r srv qtype qname opts <<<"$line"
        case $srv in
            v4) addr=$LAB_SERVER_V4 ;; v6) addr=$LAB_SERVER_V6 ;;
            *[.:]*) addr=$srv ;;
            *) lab_die "bad server '$srv' in query line: $line" ;;
        esac
        # shellcheck disable=SC2086
        out=$(lab_exec "$LAB_NS_CLIENT" timeout 20 dig +tries=1 +timeout=2 @"$addr" "$qname" "$qtype" $opts 2>&1) || true
        tc=
        if grep -q 'Truncated, retrying in TCP' <<<"$out"; then tc='TC->TCP '; fi
        printf '   %-3s %-6s %-30s %-36s -> %s%s%s\n' "$srv" "$qtype" "$qname" "${opts:-}" \
            "$(grep -o 'status: [A-Z]*' <<<"$out" | tr '\n' ' ' || true)" "$tc" \
            "$(grep -o 'MSG SIZE  rcvd: [0-9]*' <<<"$out" | sed 's/MSG SIZE  rcvd: /size=/' \
                || grep -Eo 'timed out|connection refused|connection reset|end of file|communications error[^;]*' <<<"$out" \
                    | sort -u | tr '\n' ' ' || true)" >&2
    done
}

# lab_teardown: stop everything we started, delete our namespaces, remove
# the scratch dir (unless LAB_KEEP_DIR=1). Safe to call more than once.
lab_teardown() {
    local rc=$? p ns
    for p in "${LAB_PIDS[@]}"; do lab_kill "$p" TERM; done
    LAB_PIDS=(); LAB_NAMED_PID=; LAB_CAPTURE_PIDS=(); LAB_CAPTURE_LOGS=()
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
