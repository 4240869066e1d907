#!/usr/bin/env python3
"""Write pcaps/crafted-anomalies.pcap: DNS cases no real software in the lab produces.

Each case is one transaction (a query and, usually, its response) with its own
client port and DNS id, 30 seconds after the previous case, so timeouts and
retry windows of one case (unanswered query, TCP retry after TC=1) end before
the next case starts. The TC=1 case is not the last one, so its retry window
closes in packet time, not only at end of input. The file is classic pcap
(microsecond timestamps, Ethernet), with fixed timestamps: every run writes
the same bytes.

Usage: craft-pcaps.py OUTPUT.pcap        write the capture
       craft-pcaps.py --list             print the cases (frame numbers, codes)

Python 3 standard library only.
"""

import struct
import sys

T0 = 1704067200  # 2024-01-01T00:00:00Z
CLIENT_MAC = bytes.fromhex("020000000002")
SERVER_MAC = bytes.fromhex("020000000001")
CLIENT4, SERVER4 = "198.18.0.2", "198.18.0.1"
CLIENT6, SERVER6 = "2001:db8::2", "2001:db8::1"

T_A, T_AAAA, T_CNAME, T_TXT, T_OPT = 1, 28, 5, 16, 41
C_IN = 1
FORMERR, NOTIMP = 1, 4


# ---------------------------------------------------------------- DNS wire
def name(n):
    out = b""
    for label in n.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(ident, qr, rcode=0, aa=False, tc=False, rd=False, qd=1, an=0, ns=0, ar=0):
    flags = (qr << 15) | (aa << 10) | (tc << 9) | (rd << 8) | (rcode & 0xF)
    return struct.pack("!6H", ident, flags, qd, an, ns, ar)


def question(qname, qtype):
    return name(qname) + struct.pack("!HH", qtype, C_IN)


def rr(owner, rtype, rdata, ttl=3600, rdlength=None):
    """owner: wire bytes (an encoded name or a compression pointer)."""
    rdlen = len(rdata) if rdlength is None else rdlength
    return owner + struct.pack("!HHIH", rtype, C_IN, ttl, rdlen) + rdata


def opt(udp=1232, ext_rcode=0, version=0, do=False, options=b"", rdlength=None):
    ttl = (ext_rcode << 24) | (version << 16) | (0x8000 if do else 0)
    rdlen = len(options) if rdlength is None else rdlength
    return b"\0" + struct.pack("!HHIH", T_OPT, udp, ttl, rdlen) + options


PTR_QNAME = b"\xc0\x0c"  # the question name always starts at offset 12


def txt_rdata(tag, n, length):
    s = (f"frag53-{tag}-{n}-" + "abcdefghijklmnopqrstuvwxyz0123456789" * 8)[:length]
    return bytes([len(s)]) + s.encode()


def query(ident, qname, qtype, edns=None):
    """edns: None (plain DNS) or dict of opt() arguments."""
    msg = header(ident, 0, ar=0 if edns is None else 1) + question(qname, qtype)
    if edns is not None:
        msg += opt(**edns)
    return msg


# ---------------------------------------------------------------- packets
def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def ip6(a):
    head, _, tail = a.partition("::")
    h = [int(x, 16) for x in head.split(":") if x]
    t = [int(x, 16) for x in tail.split(":") if x]
    return struct.pack("!8H", *(h + [0] * (8 - len(h) - len(t)) + t))


IP_ID = [0x1000]


def udp_packet(src, dst, sport, dport, payload, udp_len=None, src_mac=CLIENT_MAC, dst_mac=SERVER_MAC):
    """Ethernet + IPv4/IPv6 + UDP. udp_len overrides the UDP length field
    (then the checksum is left out: 0 on IPv4, so only the length is wrong)."""
    length = 8 + len(payload) if udp_len is None else udp_len
    if ":" in src:
        s, d = ip6(src), ip6(dst)
        pseudo = s + d + struct.pack("!IxxxB", 8 + len(payload), 17)
        uh = struct.pack("!4H", sport, dport, length, 0)
        ck = csum(pseudo + uh + payload) or 0xFFFF
        udp = struct.pack("!4H", sport, dport, length, ck) + payload
        ip = struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + s + d
        return dst_mac + src_mac + b"\x86\xdd" + ip + udp
    s, d = ip4(src), ip4(dst)
    if udp_len is None:
        pseudo = s + d + struct.pack("!xBH", 17, length)
        ck = csum(pseudo + struct.pack("!4H", sport, dport, length, 0) + payload) or 0xFFFF
    else:
        ck = 0
    udp = struct.pack("!4H", sport, dport, length, ck) + payload
    IP_ID[0] += 1
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), IP_ID[0], 0, 64, 17, 0, s, d)
    iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
    return dst_mac + src_mac + b"\x08\x00" + iph + udp


# ---------------------------------------------------------------- cases
CASES = []  # (key, title, expected codes, qname, list of (dt, frame bytes))


def case(key, title, codes, qname, packets):
    CASES.append((key, title, codes, qname, packets))


def transaction(n, qname, qtype, q_edns, resp, v6=False, resp_udp_len=None):
    """Query from the client (port 40000+n) and, if resp is not None, the
    server's response 2 ms later."""
    cli, srv = (CLIENT6, SERVER6) if v6 else (CLIENT4, SERVER4)
    sport = 40000 + n
    pkts = [(0.0, udp_packet(cli, srv, sport, 53, query(0x5300 + n, qname, qtype, q_edns)))]
    if resp is not None:
        pkts.append((0.002, udp_packet(srv, cli, 53, sport, resp, udp_len=resp_udp_len,
                                       src_mac=SERVER_MAC, dst_mac=CLIENT_MAC)))
    return pkts


def response(n, qname, qtype, rcode=0, tc=False, answers=(), additional=()):
    return (header(0x5300 + n, 1, rcode=rcode, aa=True, tc=tc, an=len(answers), ar=len(additional))
            + question(qname, qtype) + b"".join(answers) + b"".join(additional))


A_198_18_0_10 = bytes([198, 18, 0, 10])
Z = "crafted.lab.test"


def build():
    n = 1
    # (a) EDNS-stripping middlebox: OPT (4096, DO) in, answer without OPT out.
    q = f"edns-stripped.{Z}"
    case("a", "EDNS query (4096, DO) answered NOERROR with an answer but no OPT (middlebox strips EDNS)",
         ["dns.edns_dropped"], q,
         transaction(n, q, T_A, {"udp": 4096, "do": True},
                     response(n, q, T_A, answers=[rr(PTR_QNAME, T_A, A_198_18_0_10)])))
    n += 1
    q = f"edns-stripped-v6.{Z}"
    case("a6", "the same over IPv6 (AAAA)", ["dns.edns_dropped"], q,
         transaction(n, q, T_AAAA, {"udp": 4096, "do": True},
                     response(n, q, T_AAAA, answers=[rr(PTR_QNAME, T_AAAA, ip6("2001:db8::10"))]),
                     v6=True))
    n += 1
    # (b) EDNS not understood: FORMERR / NOTIMP without OPT.
    q = f"formerr.{Z}"
    case("b", "EDNS query answered FORMERR without OPT", ["dns.edns_unsupported"], q,
         transaction(n, q, T_A, {"udp": 1232}, response(n, q, T_A, rcode=FORMERR)))
    n += 1
    q = f"notimp.{Z}"
    case("b2", "EDNS query answered NOTIMP without OPT", ["dns.edns_unsupported"], q,
         transaction(n, q, T_A, {"udp": 1232}, response(n, q, T_A, rcode=NOTIMP)))
    n += 1
    # (c) BADVERS (extended rcode 16 = OPT ext-rcode 1, header rcode 0) to version 0.
    q = f"badvers.{Z}"
    case("c", "EDNS version 0 query answered BADVERS (rcode 16 via OPT)", ["dns.edns_unsupported"], q,
         transaction(n, q, T_A, {"udp": 1232},
                     response(n, q, T_A, additional=[opt(udp=1232, ext_rcode=1)])))
    n += 1
    # (g) TC=1 and the client never retries over TCP.
    q = f"tc-no-retry.{Z}"
    case("g", "EDNS query answered TC=1 (empty answer, with OPT); no TCP retry follows",
         ["dns.truncated", "dns.truncated_no_tcp_retry"], q,
         transaction(n, q, T_TXT, {"udp": 1232}, response(n, q, T_TXT, tc=True, additional=[opt(udp=1232)])))
    n += 1
    # (d) responses larger than the requester advertised.
    q = f"over-advertised.{Z}"
    answers = [rr(PTR_QNAME, T_TXT, txt_rdata("over", i, 213)) for i in range(1, 7)]
    resp = response(n, q, T_TXT, answers=answers, additional=[opt(udp=1232)])
    assert 1350 < len(resp) < 1450, len(resp)
    case("d", f"query advertising 1232 (EDNS), {len(resp)}-byte UDP response with OPT",
         ["dns.exceeds_advertised_size", "dns.oversized_response"], q,
         transaction(n, q, T_TXT, {"udp": 1232}, resp))
    n += 1
    q = f"over-512.{Z}"
    answers = [rr(PTR_QNAME, T_TXT, txt_rdata("over512", i, 210)) for i in range(1, 4)]
    resp = response(n, q, T_TXT, answers=answers)
    assert 650 < len(resp) < 750, len(resp)
    case("d2", f"plain DNS query (no EDNS, so 512), {len(resp)}-byte UDP response without TC",
         ["dns.exceeds_advertised_size"], q,
         transaction(n, q, T_TXT, None, resp))
    n += 1
    # (e) malformed responses, each to a well-formed query with the same id,
    # ports and question; the question section of each response is intact.
    q = f"pointer-loop.{Z}"
    head = header(0x5300 + n, 1, aa=True, an=1, ar=1) + question(q, T_A)
    off = len(head)  # the answer's owner name: "loop" then a pointer back to itself
    owner = b"\x04loop" + struct.pack("!H", 0xC000 | off)
    case("e1", "compression pointer loop: answer owner = label + pointer to its own start",
         ["dns.malformed (compression loop)"], q,
         transaction(n, q, T_A, {"udp": 1232}, head + rr(owner, T_A, A_198_18_0_10) + opt(udp=1232)))
    n += 1
    q = f"forward-pointer.{Z}"
    head = header(0x5300 + n, 1, aa=True, an=1, ar=1) + question(q, T_CNAME)
    target_off = len(head) + 2 + 10  # start of this RR's RDATA, after the pointer itself
    case("e2", "forward compression pointer: answer owner points into its own (later) RDATA",
         ["dns.malformed (bad pointer)"], q,
         transaction(n, q, T_CNAME, {"udp": 1232},
                     head + rr(struct.pack("!H", 0xC000 | target_off), T_CNAME, name(f"target.{Z}"))
                     + opt(udp=1232)))
    n += 1
    q = f"rdlength-overrun.{Z}"
    head = header(0x5300 + n, 1, aa=True, an=1) + question(q, T_A)
    case("e3", "plain DNS query; answer A record with RDLENGTH 200 and 4 bytes of RDATA left",
         ["dns.malformed (RDLENGTH past end)"], q,
         transaction(n, q, T_A, None, head + rr(PTR_QNAME, T_A, A_198_18_0_10, rdlength=200)))
    n += 1
    q = f"opt-overrun.{Z}"
    head = header(0x5300 + n, 1, aa=True, an=1, ar=1) + question(q, T_A)
    bad_cookie = struct.pack("!HH", 10, 24) + b"\x11\x22\x33\x44"  # claims 24 bytes, has 4
    case("e4", "OPT RDLENGTH 8 holding a COOKIE option whose length (24) runs past the OPT RDATA",
         ["dns.malformed (bad OPT)"], q,
         transaction(n, q, T_A, {"udp": 1232},
                     head + rr(PTR_QNAME, T_A, A_198_18_0_10) + opt(udp=1232, options=bad_cookie)))
    n += 1
    # (f) UDP length field larger than the IP payload (checksum 0 = not computed).
    q = f"udp-length.{Z}"
    resp = response(n, q, T_A, answers=[rr(PTR_QNAME, T_A, A_198_18_0_10)], additional=[opt(udp=1232)])
    case("f", "response whose UDP length field claims 16 bytes more than the IPv4 payload holds",
         ["dns.malformed (UDP length)"], q,
         transaction(n, q, T_A, {"udp": 1232}, resp, resp_udp_len=8 + len(resp) + 16))
    n += 1


# ---------------------------------------------------------------- pcap
def write_pcap(path):
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, (_, _, _, _, pkts) in enumerate(CASES):
        for dt, frame in pkts:
            usec = round(dt * 1_000_000)
            out.append(struct.pack("<IIII", T0 + 30 * i, usec, len(frame), len(frame)) + frame)
    with open(path, "wb") as f:
        f.write(b"".join(out))


def list_cases():
    frame = 1
    for key, title, codes, qname, pkts in CASES:
        frames = f"{frame}" if len(pkts) == 1 else f"{frame}-{frame + len(pkts) - 1}"
        print(f"{key:3} frames {frames:6} {qname:40} {', '.join(codes):55} {title}")
        frame += len(pkts)


def main(argv):
    build()
    if len(argv) == 2 and argv[1] == "--list":
        list_cases()
        return 0
    if len(argv) != 2 or argv[1].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    write_pcap(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
