#!/usr/bin/env bash
# End-to-end test of `frag53 responder`: a server and a client namespace joined by one veth link
# of MTU 1280 (198.18.0.0/24, 2001:db8::/64), the responder on the server side, the real dig on
# the client side, tcpdump on the client's interface to see what arrived and in how many pieces.
#
#   responder_e2e.sh FRAG53 SOURCE_ROOT
#
# Needs root, dig and tcpdump; exits 77 (skipped) without them. Everything it starts is bounded
# (the responder has --max-runtime, dig has +timeout) and removed by the lab's trap.
set -uo pipefail

frag53=${1:?usage: responder_e2e.sh FRAG53 SOURCE_ROOT}
root=${2:?usage: responder_e2e.sh FRAG53 SOURCE_ROOT}

if [[ $(id -u) -ne 0 ]]; then
    echo "responder_e2e: skipped (needs root for network namespaces)"
    exit 77
fi
for tool in dig tcpdump ip; do
    command -v "$tool" >/dev/null || { echo "responder_e2e: skipped ($tool not installed)"; exit 77; }
done

# shellcheck source=../../../scripts/lib/lab.sh
source "$root/scripts/lib/lab.sh"
lab_init "re$$"
lab_basic 1280

ZONE=probe.test
S4=$LAB_SERVER_V4
S6=$LAB_SERVER_V6
failures=0
checks=0

pass() { checks=$((checks + 1)); printf 'ok   %s\n' "$*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); printf 'FAIL %s\n' "$*"; }
check() { # DESCRIPTION COMMAND...: pass when the command succeeds
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# dig from the client namespace; one try, short timeout, no recursion.
qdig() { lab_exec "$LAB_NS_CLIENT" dig +norec +tries=1 +timeout=2 "$@" 2>&1; }
msg_size() { sed -n 's/^;; MSG SIZE  rcvd: \([0-9]*\).*/\1/p' <<<"$1" | tail -1; }
status_of() { sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$1" | tail -1; }
flags_of() { sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p' <<<"$1" | tail -1; }
echo_of() { sed -n 's/.*TXT[[:space:]]*"\(edns=[^"]*\)".*/\1/p' <<<"$1" | head -1; }

expect_size() { # DESCRIPTION SIZE dig-args...
    local what=$1 size=$2 out got; shift 2
    out=$(qdig "$@")
    got=$(msg_size "$out")
    if [[ $got == "$size" && $(status_of "$out") == NOERROR ]]; then
        pass "$what: $got bytes"
    else
        fail "$what: expected $size bytes NOERROR, got '${got:-nothing}' $(status_of "$out")"
        printf '%s\n' "$out" | head -20
    fi
}
expect_nothing() { # DESCRIPTION dig-args...: no answer arrives
    local what=$1 out; shift
    out=$(qdig "$@")
    if grep -q 'timed out' <<<"$out" && [[ -z $(msg_size "$out") ]]; then
        pass "$what: no answer"
    else
        fail "$what: an answer arrived"
        printf '%s\n' "$out" | head -20
    fi
}

# ------------------------------------------------------------------ start the responder
log=$LAB_DIR/responder.log
counters=$LAB_DIR/responder.out
ip netns exec "$LAB_NS_SERVER" "$frag53" responder --zone "$ZONE" --listen "$S4" --listen "[$S6]:53" \
    --max-runtime 200 --tcp-idle-timeout 2000 >"$counters" 2>"$log" &
responder_pid=$!
LAB_PIDS+=("$responder_pid")
ready=0
for ((i = 0; i < 50; i++)); do
    if qdig @"$S4" "s100-fk-ti-n0.$ZONE" TXT | grep -q 'status: NOERROR'; then ready=1; break; fi
    kill -0 "$responder_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ $ready != 1 ]]; then
    cat "$log" >&2
    echo "responder_e2e: the responder did not come up"
    exit 1
fi

# ------------------------------------------------------------------ sizes, UDP and TCP
for size in 512 700 1000 1232; do
    expect_size "udp4 s$size" "$size" @"$S4" "s$size-fk-th-n1.$ZONE" TXT +bufsize=1232
done
expect_size "udp6 s1100" 1100 @"$S6" "s1100-fk-th-n2.$ZONE" TXT +bufsize=1232
expect_size "tcp4 s40000" 40000 +tcp @"$S4" "s40000-fk-th-n3.$ZONE" TXT
expect_size "tcp6 s65535" 65535 +tcp @"$S6" "s65535-fd-ta-n4.$ZONE" TXT
expect_size "udp4 without EDNS s512" 512 +noedns @"$S4" "s512-fk-th-n5.$ZONE" TXT
out=$(qdig @"$S4" "s12-fk-th-n6.$ZONE" TXT)
got=$(msg_size "$out")
check "s12 answered with the smallest answer ($got bytes)" test -n "$got" -a "${got:-0}" -gt 12 -a "${got:-999}" -lt 200

# Echo: what the query carried, seen by the responder.
out=$(qdig @"$S4" "s600-fk-th-n7.$ZONE" TXT +bufsize=1400 +dnssec +nsid +cookie)
e=$(echo_of "$out")
check "echo '$e'" test "$e" == "edns=1400 do=1 ver=0 opts=3,10 tcp=0 src=$LAB_CLIENT_V4"
out=$(qdig +tcp @"$S6" "s600-fk-th-n8.$ZONE" TXT +noedns)
e=$(echo_of "$out")
check "echo over tcp6 '$e'" test "$e" == "edns=none tcp=1 src=$LAB_CLIENT_V6"
out=$(qdig @"$S4" "S600-Fk-Th-N9.PROBE.test" TXT +bufsize=1232)
check "mixed-case name answered ($(msg_size "$out") bytes)" test "$(msg_size "$out")" == 600

# ------------------------------------------------------------------ truncation modes
out=$(qdig +ignore @"$S4" "s2000-fk-th-na.$ZONE" TXT +bufsize=1232)
check "th above the EDNS size: TC=1 ($(flags_of "$out"))" grep -qw tc <<<"$(flags_of "$out")"
out=$(qdig @"$S4" "s2000-fk-th-nb.$ZONE" TXT +bufsize=1232)
check "th: dig retries over TCP and gets 2000 bytes" \
    test "$(grep -c 'Truncated, retrying in TCP mode' <<<"$out")" -ge 1 -a "$(msg_size "$out")" == 2000
out=$(qdig +ignore @"$S4" "s300-fk-ta-nc.$ZONE" TXT)
check "ta: TC=1 even for 300 bytes" grep -qw tc <<<"$(flags_of "$out")"
out=$(qdig +ignore @"$S6" "s300-fk-ta-nd.$ZONE" TXT)
check "ta over IPv6: TC=1" grep -qw tc <<<"$(flags_of "$out")"
out=$(qdig +ignore @"$S4" "s1200-fk-ti-ne.$ZONE" TXT +noedns)
check "ti without EDNS: 1200 bytes, no TC" \
    test "$(msg_size "$out")" == 1200 -a -z "$(grep -w tc <<<"$(flags_of "$out")")"

# ------------------------------------------------------------------ refusals
for name in "www.$ZONE" "$ZONE" "s1000-fk-th-n1.other.test" "x.s1000-fk-th-n1.$ZONE" "s1000-fx-th-n1.$ZONE"; do
    out=$(qdig @"$S4" "$name" TXT)
    check "REFUSED for $name" test "$(status_of "$out")" == REFUSED
done
out=$(qdig @"$S4" "s1000-fk-th-n1.$ZONE" A)
check "REFUSED for type A" test "$(status_of "$out")" == REFUSED
out=$(qdig @"$S6" "s3000-fp576-ti-n1.$ZONE" TXT)
check "REFUSED for fp576 over IPv6" test "$(status_of "$out")" == REFUSED

# ------------------------------------------------------------------ fragmentation modes
frags_v4() { # FILE: "length offset" of every IPv4 fragment from the server
    tcpdump -nv -r "$1" "src host $S4 and (ip[6:2] & 0x3fff != 0)" 2>/dev/null |
        sed -n 's/.*offset \([0-9]*\), flags \[[^]]*\], proto [A-Z]* ([0-9]*), length \([0-9]*\).*/\2 \1/p'
}
frags_v6() { # FILE: every IPv6 fragment from the server, "fragment-offset|fragment-length"
    tcpdump -nv -r "$1" "src host $S6 and ip6[6] == 44" 2>/dev/null |
        sed -n 's/.*frag (0x[0-9a-f]*:\([0-9]*\)|\([0-9]*\)).*/\1|\2/p'
}
capture() { # NAME: start a capture on the client side
    cap=$LAB_DIR/$1.pcap
    lab_capture_start "$LAB_NS_CLIENT" "$LAB_CLIENT_IF" "$cap" 262144 "udp or (ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)"
}

capture fd4
expect_size "fd udp4 s1200 fits the 1280 link" 1200 @"$S4" "s1200-fd-ti-nf1.$ZONE" TXT +bufsize=1232
lab_capture_stop
df=$(tcpdump -nv -r "$cap" "src host $S4 and udp src port 53" 2>/dev/null | grep -c 'flags \[DF\].*length 1228')
check "fd udp4: the 1228-byte packet left with DF set ($df)" test "$df" -eq 1
expect_nothing "fd udp4 s1400 is bigger than the link" @"$S4" "s1400-fd-ti-nf2.$ZONE" TXT +bufsize=4096
expect_nothing "fd udp6 s1400 is bigger than the link" @"$S6" "s1400-fd-ti-nf3.$ZONE" TXT +bufsize=4096

capture fk4
expect_size "fk udp4 s3000 arrives" 3000 @"$S4" "s3000-fk-ti-nf4.$ZONE" TXT +bufsize=4096
lab_capture_stop
n=$(frags_v4 "$cap" | wc -l)
check "fk udp4: the answer arrived in $n fragments" test "$n" -ge 3
big=$(frags_v4 "$cap" | awk '$1 > 1280' | wc -l)
check "fk udp4: no fragment above the 1280 link MTU" test "$big" -eq 0

capture fk6
expect_size "fk udp6 s3000 arrives" 3000 @"$S6" "s3000-fk-ti-nf5.$ZONE" TXT +bufsize=4096
lab_capture_stop
n=$(frags_v6 "$cap" | wc -l)
check "fk udp6: the answer arrived in $n fragments" test "$n" -ge 3

capture fp576
expect_size "fp576 udp4 s3000 arrives" 3000 @"$S4" "s3000-fp576-ti-nf6.$ZONE" TXT +bufsize=4096
lab_capture_stop
mapfile -t f < <(frags_v4 "$cap")
# 3000 bytes of DNS + 8 of UDP in fragments of 552 data bytes (572 with the IP header).
check "fp576 udp4: 6 fragments (${#f[@]})" test "${#f[@]}" -eq 6
check "fp576 udp4: first fragment 572 bytes at offset 0 (${f[0]:-})" test "${f[0]:-}" == "572 0"
check "fp576 udp4: second at offset 552 (${f[1]:-})" test "${f[1]:-}" == "572 552"
check "fp576 udp4: last holds the rest (${f[5]:-})" test "${f[5]:-}" == "$((3008 - 5 * 552 + 20)) 2760"

capture fp1280v4
expect_size "fp1280 udp4 s3000 arrives" 3000 @"$S4" "s3000-fp1280-ti-nf7.$ZONE" TXT +bufsize=4096
lab_capture_stop
mapfile -t f < <(frags_v4 "$cap")
# 1280 - 20 = 1260, rounded down to 1256 data bytes per fragment.
check "fp1280 udp4: fragments of 1276 bytes (${f[*]:-})" \
    test "${#f[@]}" -eq 3 -a "${f[0]:-}" == "1276 0" -a "${f[1]:-}" == "1276 1256" -a "${f[2]:-}" == "516 2512"

capture fp1280v6
expect_size "fp1280 udp6 s3000 arrives" 3000 @"$S6" "s3000-fp1280-ti-nf8.$ZONE" TXT +bufsize=4096
lab_capture_stop
mapfile -t f < <(frags_v6 "$cap")
# 1280 - 40 - 8 = 1232 data bytes per fragment.
check "fp1280 udp6: 3 fragments (${#f[@]})" test "${#f[@]}" -eq 3
check "fp1280 udp6: offsets 0 and 1232 with 1232 bytes (${f[*]:-})" test "${f[0]:-}" == "0|1232" -a "${f[1]:-}" == "1232|1232"

expect_nothing "fp1400 udp4 on a 1280 link cannot be sent" @"$S4" "s3000-fp1400-ti-nf9.$ZONE" TXT +bufsize=4096

# ------------------------------------------------------------------ raw sockets from the client
# TCP pipelining (three queries in one write, answers in order), the idle timeout, and hostile
# UDP datagrams, with a small client written here (dig sends one well-formed query at a time).
cat >"$LAB_DIR/client.py" <<'PY'
import socket, struct, sys, time
server, zone = sys.argv[1], sys.argv[2]
def name(n):
    return b''.join(bytes([len(l)]) + l.encode() for l in n.split('.')) + b'\0'
def query(qid, n, qtype=16):
    return struct.pack('>HHHHHH', qid, 0, 1, 0, 0, 0) + name(n) + struct.pack('>HH', qtype, 1)
def recv_exact(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError('closed after %d of %d bytes' % (len(b), n))
        b += c
    return b
ok = True
s = socket.create_connection((server, 53), timeout=5)
sizes = [3000, 60000, 512]
s.sendall(b''.join(struct.pack('>H', len(q)) + q for q in
                   (query(100 + i, 's%d-fk-th-n%x.%s' % (sz, i, zone)) for i, sz in enumerate(sizes))))
for i, sz in enumerate(sizes):
    n = struct.unpack('>H', recv_exact(s, 2))[0]
    m = recv_exact(s, n)
    qid = struct.unpack('>H', m[:2])[0]
    good = n == sz and qid == 100 + i
    ok &= good
    print('pipelined answer %d: id %d, %d bytes (want %d) %s' % (i, qid, n, sz, 'ok' if good else 'WRONG'))
# A 20 kB query (EDNS padding) on the same connection: the input buffer grows for it.
pad = 20000
big = query(300, 's1000-fk-th-n1.' + zone)[:11] + b'\x01' + query(300, 's1000-fk-th-n1.' + zone)[12:]
big += b'\0' + struct.pack('>HHIH', 41, 1232, 0, pad + 4) + struct.pack('>HH', 12, pad) + b'\0' * pad
s.sendall(struct.pack('>H', len(big)) + big)
n = struct.unpack('>H', recv_exact(s, 2))[0]
m = recv_exact(s, n)
good = n == 1000 and b'opts=12 tcp=1' in m
ok &= good
print('%d-byte query over TCP: %d-byte answer %s' % (len(big), n, 'ok' if good else 'WRONG'))
# 40 pipelined queries for 60 kB answers, read only after a pause: 2.4 MB is more than the socket
# buffers and the responder's output limit hold, so it must stop reading and resume, in order.
s.sendall(b''.join(struct.pack('>H', len(q)) + q for q in
                   (query(400 + i, 's60000-fk-th-n%x.%s' % (i, zone)) for i in range(40))))
time.sleep(0.5)
good = True
for i in range(40):
    n = struct.unpack('>H', recv_exact(s, 2))[0]
    m = recv_exact(s, n)
    good &= n == 60000 and struct.unpack('>H', m[:2])[0] == 400 + i
ok &= good
print('40 pipelined 60 kB answers after a pause, in order: %s' % ('ok' if good else 'WRONG'))
# Idle: the responder closes the connection after its idle timeout (2 s here).
t0 = time.monotonic()
try:
    closed = s.recv(1) == b''
except OSError:
    closed = True
idle = time.monotonic() - t0
good = closed and 1.5 < idle < 4.5
ok &= good
print('idle connection closed after %.1f s %s' % (idle, 'ok' if good else 'WRONG'))
s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(1)
u.connect((server, 53))
def udp(payload):
    u.send(payload)
    try:
        return u.recv(65535)
    except socket.timeout:
        return None
for what, payload, want in [
        ('5 bytes', b'\x12\x34\x00\x00\x00', None),
        ('QR=1', struct.pack('>HHHHHH', 7, 0x8000, 1, 0, 0, 0) + name('s900-fk-th-n1.' + zone) + b'\0\x10\0\x01', None),
        ('QDCOUNT 0', struct.pack('>HHHHHH', 8, 0, 0, 0, 0, 0), 1),
        ('compression loop', struct.pack('>HHHHHH', 9, 0, 1, 0, 0, 0) + b'\xc0\x0c\0\x10\0\x01', 1),
        ('NOTIFY', struct.pack('>HHHHHH', 10, 4 << 11, 1, 0, 0, 0) + name(zone) + b'\0\x06\0\x01', 4)]:
    r = udp(payload)
    got = None if r is None else r[3] & 0xF
    good = (r is None) if want is None else (r is not None and got == want and len(r) == 12)
    ok &= good
    print('%s: %s %s' % (what, 'no answer' if r is None else 'rcode %d, %d bytes' % (got, len(r)), 'ok' if good else 'WRONG'))
sys.exit(0 if ok else 1)
PY
if lab_exec "$LAB_NS_CLIENT" python3 "$LAB_DIR/client.py" "$S4" "$ZONE"; then
    pass "pipelined TCP, idle timeout, hostile UDP"
else
    fail "pipelined TCP, idle timeout, hostile UDP"
fi

# ------------------------------------------------------------------ stop: exit 0 and counters
kill -TERM "$responder_pid"
wait "$responder_pid"
rc=$?
keep=(); for p in "${LAB_PIDS[@]}"; do [[ $p == "$responder_pid" ]] || keep+=("$p"); done; LAB_PIDS=("${keep[@]}")
check "responder exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0
line=$(grep '^frag53 responder: queries=' "$counters")
counter() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
echo "$line"
check "counters: emsgsize $(counter emsgsize) >= 3 (fd v4, fd v6, fp1400)" test "$(counter emsgsize)" -ge 3
check "counters: refused $(counter refused) >= 7" test "$(counter refused)" -ge 7
check "counters: answers_fp $(counter answers_fp) >= 4" test "$(counter answers_fp)" -ge 4
check "counters: truncated $(counter truncated) >= 4" test "$(counter truncated)" -ge 4
check "counters: tcp $(counter tcp) >= 4" test "$(counter tcp)" -ge 4

check "counters: tcp_idle_closed $(counter tcp_idle_closed) >= 1" test "$(counter tcp_idle_closed)" -ge 1
check "counters: formerr $(counter formerr) >= 2, notimp $(counter notimp) >= 1, ignored $(counter ignored) >= 2" \
    test "$(counter formerr)" -ge 2 -a "$(counter notimp)" -ge 1 -a "$(counter ignored)" -ge 2

# ------------------------------------------------------------------ rate limit, slip, TCP limit
# Wildcard addresses this time (answers must still come from the address queried: the Python
# client's connected socket accepts nothing else), and without root once the sockets are open.
ip netns exec "$LAB_NS_SERVER" "$frag53" responder --zone "$ZONE" --listen 0.0.0.0 --listen '[::]' --quiet --user nobody \
    --rate-limit 1/s --rate-limit-burst 2 --rate-limit-slip 2 --max-tcp-clients 1 --max-runtime 30 \
    >"$counters" 2>"$log" &
responder_pid=$!
LAB_PIDS+=("$responder_pid")
for ((i = 0; i < 50; i++)); do  # over TCP: readiness checks must not spend the UDP budget
    qdig +tcp @"$S4" "s100-fk-ti-n0.$ZONE" TXT | grep -q 'status: NOERROR' && break
    sleep 0.1
done
# Eight queries at once (dig would wait for each): 2 answered (the burst), then every second
# limited query slips a TC=1 answer, the others get nothing.
cat >"$LAB_DIR/burst.py" <<'PY'
import socket, struct, sys, time
server, zone = sys.argv[1], sys.argv[2]
def name(n):
    return b''.join(bytes([len(l)]) + l.encode() for l in n.split('.')) + b'\0'
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.connect((server, 53))
for i in range(8):
    u.send(struct.pack('>HHHHHH', 200 + i, 0, 1, 0, 0, 0) + name('s900-fk-ti-nb%d.%s' % (i, zone)) + b'\0\x10\0\x01')
full = tc = 0
u.settimeout(0.5)
try:
    while True:
        r = u.recv(65535)
        if r[2] & 0x02:
            tc += 1
        elif len(r) == 900:
            full += 1
except socket.timeout:
    pass
# --max-tcp-clients 1: with one connection open, the next one is closed at once.
def tcp_query(s, qid):
    q = struct.pack('>HHHHHH', qid, 0, 1, 0, 0, 0) + name('s700-fk-th-n%x.%s' % (qid, zone)) + b'\0\x10\0\x01'
    s.sendall(struct.pack('>H', len(q)) + q)
    return s.recv(65535)
a = socket.create_connection((server, 53), timeout=2)
first = len(tcp_query(a, 1)) > 0
b = socket.create_connection((server, 53), timeout=2)
try:
    second = len(tcp_query(b, 2)) > 0
except OSError:
    second = False
print('%d %d %d' % (full, tc, 1 if first and not second else 0))
PY
read -r answered truncated tcp_limit < <(lab_exec "$LAB_NS_CLIENT" python3 "$LAB_DIR/burst.py" "$S4" "$ZONE")
check "rate limit 1/s burst 2, slip 2: 8 queries at once: $answered answered, $truncated TC=1 slips" \
    test "${answered:-0}" -eq 2 -a "${truncated:-0}" -eq 3
check "--max-tcp-clients 1: a second connection is closed at once" test "${tcp_limit:-0}" -eq 1
sleep 0.3  # the responder sees the client connections above close (one client at a time)
out=$(qdig +tcp @"$S4" "s900-fk-th-nf7.$ZONE" TXT)
check "TCP is not rate limited ($(msg_size "$out") bytes)" test "$(msg_size "$out")" == 900
expect_size "wildcard [::], after --user nobody: fp1280 udp6 through the raw socket" 3000 \
    @"$S6" "s3000-fp1280-ti-nf8.$ZONE" TXT +bufsize=4096
check "the responder runs as nobody" test "$(ps -o user= -p "$responder_pid" | tr -d ' ')" == nobody
kill -TERM "$responder_pid"
wait "$responder_pid"
rc=$?
keep=(); for p in "${LAB_PIDS[@]}"; do [[ $p == "$responder_pid" ]] || keep+=("$p"); done; LAB_PIDS=("${keep[@]}")
line=$(grep '^frag53 responder: queries=' "$counters")
echo "$line"
check "rate-limited responder exits 0 (rc $rc), counts rate_limited $(counter rate_limited) and slipped $(counter slipped)" \
    test "$rc" -eq 0 -a "$(counter rate_limited)" -eq 6 -a "$(counter slipped)" -eq 3 -a "$(counter tcp_rejected)" -ge 1

echo "responder_e2e: $((checks - failures))/$checks checks passed"
if ((failures > 0)); then
    echo "--- responder log"; tail -50 "$log"
    exit 1
fi
exit 0
