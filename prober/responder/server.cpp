#include "prober/responder/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "prober/responder/fragment.h"
#include "dataplane/unique_fd.h"

namespace frag53::probe {

namespace {


std::runtime_error sys_error(const std::string& what) {
    return std::runtime_error(what + ": " + std::strerror(errno));
}

uint64_t now_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t random_u64() {
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != sizeof v) throw sys_error("getrandom");
    return v;
}

uint64_t mix64(uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// A socket address of either family with its raw bytes, as recvmsg filled it.
struct Peer {
    sockaddr_storage sa{};
    socklen_t len = 0;
    AddressFamily family = AddressFamily::ipv4;
    std::array<uint8_t, 16> addr{};
    uint16_t port = 0;
    char text[INET6_ADDRSTRLEN] = {};

    bool decode() noexcept {
        if (sa.ss_family == AF_INET) {
            const auto* s = reinterpret_cast<const sockaddr_in*>(&sa);
            family = AddressFamily::ipv4;
            std::memcpy(addr.data(), &s->sin_addr, 4);
            port = ntohs(s->sin_port);
            return inet_ntop(AF_INET, &s->sin_addr, text, sizeof text) != nullptr;
        }
        if (sa.ss_family == AF_INET6) {
            const auto* s = reinterpret_cast<const sockaddr_in6*>(&sa);
            family = AddressFamily::ipv6;
            std::memcpy(addr.data(), &s->sin6_addr, 16);
            port = ntohs(s->sin6_port);
            return inet_ntop(AF_INET6, &s->sin6_addr, text, sizeof text) != nullptr;
        }
        return false;
    }
};

sockaddr_storage to_sockaddr(const ListenAddress& a, socklen_t& len) {
    sockaddr_storage ss{};
    if (a.family == AddressFamily::ipv4) {
        auto* s = reinterpret_cast<sockaddr_in*>(&ss);
        s->sin_family = AF_INET;
        s->sin_port = htons(a.port);
        std::memcpy(&s->sin_addr, a.addr.data(), 4);
        len = sizeof(sockaddr_in);
    } else {
        auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(a.port);
        std::memcpy(&s->sin6_addr, a.addr.data(), 16);
        len = sizeof(sockaddr_in6);
    }
    return ss;
}

void set_int_option(int fd, int level, int name, int value, const char* what) {
    if (setsockopt(fd, level, name, &value, sizeof value) != 0) throw sys_error(what);
}

// How a UDP socket currently handles datagrams bigger than the MTU.
enum class DfState : uint8_t { unknown, dont_fragment, kernel };

struct UdpSocket {
    UniqueFd fd;
    ListenAddress where;
    DfState df = DfState::unknown;
};

struct TcpListener {
    UniqueFd fd;
    ListenAddress where;
};

struct Connection {
    UniqueFd fd;
    uint32_t generation = 0;
    AddressFamily family = AddressFamily::ipv4;
    char peer[INET6_ADDRSTRLEN] = {};
    std::vector<std::byte> in;  // 2-byte length + message: grows to 2 + 65535 bytes at most
    size_t in_len = 0;
    std::vector<std::byte> out;
    size_t out_off = 0;
    uint64_t last_active_ns = 0;
    bool eof = false;
    uint32_t events = 0;  // what epoll watches now
};

// epoll data: kind in the top byte, generation, index.
enum class Kind : uint8_t { signal = 1, udp, listener, connection };
uint64_t tag(Kind k, uint32_t index, uint32_t generation = 0) noexcept {
    return (static_cast<uint64_t>(k) << 56) | (static_cast<uint64_t>(generation & 0xFFFFFF) << 32) | index;
}

constexpr size_t tcp_in_capacity = 2 + max_tcp_message;
// Input buffers start small and grow (to tcp_in_capacity at most) only for big queries, so many
// idle clients cost little memory.
constexpr size_t tcp_in_initial = 4096;
constexpr uint64_t expire_interval_ns = 100'000'000;  // idle connections are looked for 10 times a second
constexpr int udp_burst = 64;  // datagrams read per wake-up per socket, so no socket starves others

}  // namespace

std::string ListenAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == AddressFamily::ipv4 ? AF_INET : AF_INET6, addr.data(), buf, sizeof buf);
    return family == AddressFamily::ipv4 ? std::string(buf) + ":" + std::to_string(port)
                                         : "[" + std::string(buf) + "]:" + std::to_string(port);
}

std::optional<ListenAddress> parse_listen_address(std::string_view s, uint16_t default_port) {
    ListenAddress a;
    a.port = default_port;
    std::string host;
    std::string_view port;
    if (!s.empty() && s.front() == '[') {
        const size_t close = s.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = std::string(s.substr(1, close - 1));
        std::string_view rest = s.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            port = rest.substr(1);
            if (port.empty()) return std::nullopt;
        }
        a.family = AddressFamily::ipv6;
    } else if (std::count(s.begin(), s.end(), ':') > 1) {
        host = std::string(s);
        a.family = AddressFamily::ipv6;
    } else {
        const size_t colon = s.find(':');
        host = std::string(s.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = s.substr(colon + 1);
            if (port.empty()) return std::nullopt;
        }
        a.family = AddressFamily::ipv4;
    }
    if (inet_pton(a.family == AddressFamily::ipv4 ? AF_INET : AF_INET6, host.c_str(), a.addr.data()) != 1)
        return std::nullopt;
    if (!port.empty()) {
        unsigned v = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
        if (ec != std::errc{} || end != port.data() + port.size() || v == 0 || v > 65535)
            return std::nullopt;
        a.port = static_cast<uint16_t>(v);
    }
    return a;
}

void print_counters(std::FILE* f, const ResponderCounters& c) {
    const auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
    std::fprintf(f,
                 "frag53 responder: queries=%llu udp=%llu tcp=%llu ignored=%llu answers=%llu "
                 "answers_fd=%llu answers_fk=%llu answers_fp=%llu answers_tcp=%llu truncated=%llu "
                 "clamped=%llu refused=%llu formerr=%llu notimp=%llu badvers=%llu rate_limited=%llu "
                 "slipped=%llu rate_limit_evictions=%llu emsgsize=%llu send_errors=%llu "
                 "raw_unavailable=%llu tcp_connections=%llu tcp_rejected=%llu tcp_idle_closed=%llu "
                 "tcp_errors=%llu\n",
                 u(c.queries_udp + c.queries_tcp), u(c.queries_udp), u(c.queries_tcp), u(c.ignored),
                 u(c.answers_fd + c.answers_fk + c.answers_fp + c.answers_tcp), u(c.answers_fd),
                 u(c.answers_fk), u(c.answers_fp), u(c.answers_tcp), u(c.truncated), u(c.clamped),
                 u(c.refused), u(c.formerr), u(c.notimp), u(c.badvers), u(c.rate_limited),
                 u(c.slipped), u(c.rate_limit_evictions), u(c.emsgsize), u(c.send_errors),
                 u(c.raw_unavailable), u(c.tcp_connections), u(c.tcp_rejected), u(c.tcp_idle_closed),
                 u(c.tcp_errors));
}

struct Responder::Impl {
    explicit Impl(const ResponderOptions& o)
        : opts(o), builder(o.answer), limiter(o.rate_limit, random_u64()), id_seed(random_u64()) {}

    ResponderOptions opts;
    AnswerBuilder builder;
    RateLimiter limiter;
    FragmentBuilder fragments;
    ResponderCounters ctr;
    uint64_t id_seed;
    uint64_t id_counter = 0;

    UniqueFd epoll_fd, signal_fd, raw4, raw6;
    std::vector<UdpSocket> udp;
    std::vector<TcpListener> listeners;
    std::vector<std::unique_ptr<Connection>> conns;  // max_tcp_clients slots
    size_t open_conns = 0;
    uint32_t next_generation = 1;
    uint64_t last_expire_ns = 0;

    std::vector<std::byte> query_buf = std::vector<std::byte>(max_answer_size);
    std::vector<std::byte> answer_buf = std::vector<std::byte>(max_answer_size);

    void open();
    void watch(int fd, uint32_t events, uint64_t data);
    void on_udp(size_t index);
    void handle_udp(UdpSocket& s, Bytes query, const Peer& peer, const in_pktinfo* pi4,
                    const in6_pktinfo* pi6);
    // Both return 0 or the errno of the failed send (counted).
    int send_udp(UdpSocket& s, Bytes msg, const Peer& peer, const in_pktinfo* pi4,
                 const in6_pktinfo* pi6, DfState df);
    int send_forced(const UdpSocket& s, Bytes msg, const Peer& peer, const in_pktinfo* pi4,
                     const in6_pktinfo* pi6, uint16_t mtu);
    void on_accept(size_t index, uint64_t now);
    void on_connection(uint32_t index, uint32_t generation, uint32_t events, uint64_t now);
    void process_input(Connection& c);
    bool flush(Connection& c);
    void update_events(uint32_t index, Connection& c);
    void close_connection(uint32_t index);
    void expire_idle(uint64_t now);
    void count(const Answer& a, Transport t);
    void log_query(const char* transport, const char* peer, const Answer& a, const char* note) const;
};

void Responder::Impl::watch(int fd, uint32_t events, uint64_t data) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    if (epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, fd, &ev) != 0) throw sys_error("epoll_ctl");
}

void Responder::Impl::open() {
    if (opts.listen.empty()) throw std::runtime_error("no listen address");
    epoll_fd.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_fd) throw sys_error("epoll_create1");

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) throw sys_error("sigprocmask");
    signal_fd.reset(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!signal_fd) throw sys_error("signalfd");
    watch(signal_fd.get(), EPOLLIN, tag(Kind::signal, 0));

    for (const ListenAddress& a : opts.listen) {
        const int family = a.family == AddressFamily::ipv4 ? AF_INET : AF_INET6;
        socklen_t len = 0;
        const sockaddr_storage sa = to_sockaddr(a, len);
        const std::string where = a.to_string();

        UdpSocket u;
        u.where = a;
        u.fd.reset(socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!u.fd) throw sys_error("udp socket for " + where);
        if (family == AF_INET6) {
            set_int_option(u.fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
            set_int_option(u.fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
        } else {
            set_int_option(u.fd.get(), IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO");
        }
        if (bind(u.fd.get(), reinterpret_cast<const sockaddr*>(&sa), len) != 0)
            throw sys_error("bind udp " + where);
        watch(u.fd.get(), EPOLLIN, tag(Kind::udp, static_cast<uint32_t>(udp.size())));
        udp.push_back(std::move(u));

        TcpListener l;
        l.where = a;
        l.fd.reset(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!l.fd) throw sys_error("tcp socket for " + where);
        set_int_option(l.fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
        if (family == AF_INET6) set_int_option(l.fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
        if (bind(l.fd.get(), reinterpret_cast<const sockaddr*>(&sa), len) != 0)
            throw sys_error("bind tcp " + where);
        if (listen(l.fd.get(), 128) != 0) throw sys_error("listen " + where);
        watch(l.fd.get(), EPOLLIN, tag(Kind::listener, static_cast<uint32_t>(listeners.size())));
        listeners.push_back(std::move(l));
    }

    // fp<mtu> answers need raw sockets (root or CAP_NET_RAW); without them those are refused.
    raw4.reset(socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW));
    raw6.reset(socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW));
    if ((!raw4 || !raw6) && !opts.quiet)
        std::fprintf(stderr, "frag53 responder: no raw socket (%s): fp<mtu> probes will be refused\n",
                     std::strerror(errno));
    conns.resize(opts.max_tcp_clients);
}

void Responder::Impl::count(const Answer& a, Transport t) {
    switch (a.kind) {
    case AnswerKind::none: ++ctr.ignored; break;
    case AnswerKind::answer:
        if (t == Transport::tcp) ++ctr.answers_tcp;
        else if (a.spec.frag == FragMode::dont_fragment) ++ctr.answers_fd;
        else if (a.spec.frag == FragMode::kernel) ++ctr.answers_fk;
        else ++ctr.answers_fp;
        if (a.clamped) ++ctr.clamped;
        break;
    case AnswerKind::truncated: ++ctr.truncated; break;
    case AnswerKind::refused: ++ctr.refused; break;
    case AnswerKind::formerr: ++ctr.formerr; break;
    case AnswerKind::notimp: ++ctr.notimp; break;
    case AnswerKind::badvers: ++ctr.badvers; break;
    }
}

void Responder::Impl::log_query(const char* transport, const char* peer, const Answer& a,
                                const char* note) const {
    if (opts.quiet) return;
    if (a.kind == AnswerKind::answer || a.kind == AnswerKind::truncated)
        std::fprintf(stderr, "%s %s %s -> %s %zu bytes%s%s\n", transport, peer,
                     probe_label(a.spec).c_str(), to_string(a.kind), a.length, note[0] ? " " : "", note);
    else
        std::fprintf(stderr, "%s %s -> %s%s%s\n", transport, peer, to_string(a.kind), note[0] ? " " : "", note);
}

void Responder::Impl::on_udp(size_t index) {
    UdpSocket& s = udp[index];
    for (int i = 0; i < udp_burst; ++i) {
        Peer peer;
        iovec iov{query_buf.data(), query_buf.size()};
        alignas(cmsghdr) char control[256];
        msghdr msg{};
        msg.msg_name = &peer.sa;
        msg.msg_namelen = sizeof peer.sa;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = recvmsg(s.fd.get(), &msg, MSG_DONTWAIT);
        if (n < 0) return;  // drained (EAGAIN), or an ICMP error reported on the socket
        peer.len = msg.msg_namelen;
        if (!peer.decode()) continue;
        in_pktinfo pi4{};
        in6_pktinfo pi6{};
        bool have4 = false, have6 = false;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                std::memcpy(&pi4, CMSG_DATA(c), sizeof pi4);
                have4 = true;
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                std::memcpy(&pi6, CMSG_DATA(c), sizeof pi6);
                have6 = true;
            }
        }
        ++ctr.queries_udp;
        handle_udp(s, Bytes(query_buf.data(), static_cast<size_t>(n)), peer, have4 ? &pi4 : nullptr,
                   have6 ? &pi6 : nullptr);
    }
}

void Responder::Impl::handle_udp(UdpSocket& s, Bytes query, const Peer& peer, const in_pktinfo* pi4,
                                 const in6_pktinfo* pi6) {
    // Never answered whatever the rate: a response or less than a header. Checked first so they
    // cost no bucket space.
    if (query.size() < 12 || (static_cast<unsigned>(query[2]) & 0x80) != 0) {
        ++ctr.ignored;
        return;
    }
    if (limiter.enabled()) {
        const uint64_t now = now_ns();
        RateDecision d = peer.family == AddressFamily::ipv4
                             ? limiter.check_v4({peer.addr[0], peer.addr[1], peer.addr[2], peer.addr[3]}, now)
                             : limiter.check_v6(peer.addr, now);
        ctr.rate_limit_evictions = limiter.counters().evictions;
        if (d != RateDecision::pass) {
            ++ctr.rate_limited;
            if (d == RateDecision::slip) {
                const Answer a = builder.build_slip(query, answer_buf);
                if (a.kind != AnswerKind::none) {
                    ++ctr.slipped;
                    (void)send_udp(s, Bytes(answer_buf.data(), a.length), peer, pi4, pi6, DfState::kernel);
                }
            }
            return;
        }
    }
    QueryContext ctx;
    ctx.transport = Transport::udp;
    ctx.family = peer.family;
    ctx.source = peer.text;
    ctx.forced_fragments = peer.family == AddressFamily::ipv4 ? bool(raw4) : bool(raw6);
    const Answer a = builder.build(query, ctx, answer_buf);
    count(a, Transport::udp);
    if (a.kind == AnswerKind::none) return;
    const Bytes msg(answer_buf.data(), a.length);

    int err = 0;
    const bool forced = a.kind == AnswerKind::answer && a.spec.frag == FragMode::forced;
    const bool df = a.kind == AnswerKind::answer && a.spec.frag == FragMode::dont_fragment;
    if (forced) err = send_forced(s, msg, peer, pi4, pi6, a.spec.frag_mtu);
    else err = send_udp(s, msg, peer, pi4, pi6, df ? DfState::dont_fragment : DfState::kernel);
    if (a.reason == RefuseReason::no_raw_socket) ++ctr.raw_unavailable;

    if (opts.quiet && err != EMSGSIZE) return;
    char note[96] = "";
    if (err == EMSGSIZE && forced)
        std::snprintf(note, sizeof note, "(not sent: fragments of %u bytes are bigger than the link MTU)",
                      a.spec.frag_mtu);
    else if (err == EMSGSIZE)
        std::snprintf(note, sizeof note, "(not sent: bigger than the MTU with DF set)");
    else if (err != 0)
        std::snprintf(note, sizeof note, "(not sent: %s)", std::strerror(err));
    else if (a.kind == AnswerKind::refused)
        std::snprintf(note, sizeof note, "(%s)", to_string(a.reason));
    if (opts.quiet) {  // a probe answer that could not leave is always worth a line
        std::fprintf(stderr, "udp %s %s %s\n", peer.text, probe_label(a.spec).c_str(), note);
        return;
    }
    log_query("udp", peer.text, a, note);
}

int Responder::Impl::send_udp(UdpSocket& s, Bytes m, const Peer& peer, const in_pktinfo* pi4,
                               const in6_pktinfo* pi6, DfState df) {
    if (s.df != df) {
        // IP_PMTUDISC_PROBE / IPV6_PMTUDISC_PROBE: DF set, and the kernel checks the size against
        // the interface MTU only, not a path MTU it learnt from ICMP. A probe then goes out on
        // the wire every time and tests the path as it is now; with _DO an earlier (or spoofed)
        // "fragmentation needed" would make later probes fail locally and test nothing.
        const int fd = s.fd.get();
        try {
            if (s.where.family == AddressFamily::ipv4) {
                set_int_option(fd, IPPROTO_IP, IP_MTU_DISCOVER,
                               df == DfState::dont_fragment ? IP_PMTUDISC_PROBE : IP_PMTUDISC_DONT,
                               "IP_MTU_DISCOVER");
            } else {
                set_int_option(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER,
                               df == DfState::dont_fragment ? IPV6_PMTUDISC_PROBE : IPV6_PMTUDISC_WANT,
                               "IPV6_MTU_DISCOVER");
                set_int_option(fd, IPPROTO_IPV6, IPV6_DONTFRAG, df == DfState::dont_fragment ? 1 : 0,
                               "IPV6_DONTFRAG");
            }
            s.df = df;
        } catch (const std::exception&) {
            s.df = DfState::unknown;
            ++ctr.send_errors;
            return EINVAL;
        }
    }
    iovec iov{const_cast<std::byte*>(m.data()), m.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
    msghdr msg{};
    msg.msg_name = const_cast<sockaddr_storage*>(&peer.sa);
    msg.msg_namelen = peer.len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (pi4 != nullptr) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
        in_pktinfo out{};
        out.ipi_spec_dst = pi4->ipi_addr;  // from the address the query was sent to
        std::memcpy(CMSG_DATA(c), &out, sizeof out);
    } else if (pi6 != nullptr) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
        std::memcpy(CMSG_DATA(c), pi6, sizeof *pi6);
    }
    if (sendmsg(s.fd.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return 0;
    const int err = errno;
    if (err == EMSGSIZE) ++ctr.emsgsize;
    else ++ctr.send_errors;
    return err;
}

int Responder::Impl::send_forced(const UdpSocket& s, Bytes m, const Peer& peer, const in_pktinfo* pi4,
                                  const in6_pktinfo* pi6, uint16_t mtu) {
    FragmentStatus st;
    sockaddr_storage dst{};
    socklen_t dst_len = 0;
    int fd = -1;
    const uint64_t id = mix64(id_seed + id_counter++);
    if (peer.family == AddressFamily::ipv4) {
        UdpEndpoints4 e;
        if (pi4 != nullptr) std::memcpy(e.src.data(), &pi4->ipi_addr, 4);
        else std::memcpy(e.src.data(), s.where.addr.data(), 4);
        std::memcpy(e.dst.data(), peer.addr.data(), 4);
        e.sport = s.where.port;
        e.dport = peer.port;
        st = fragments.build_v4(e, static_cast<uint16_t>(id), 64, m, mtu);
        auto* d = reinterpret_cast<sockaddr_in*>(&dst);
        d->sin_family = AF_INET;
        std::memcpy(&d->sin_addr, peer.addr.data(), 4);
        dst_len = sizeof(sockaddr_in);
        fd = raw4.get();
    } else {
        UdpEndpoints6 e;
        if (pi6 != nullptr) std::memcpy(e.src.data(), &pi6->ipi6_addr, 16);
        else std::memcpy(e.src.data(), s.where.addr.data(), 16);
        std::memcpy(e.dst.data(), peer.addr.data(), 16);
        e.sport = s.where.port;
        e.dport = peer.port;
        st = fragments.build_v6(e, static_cast<uint32_t>(id), 64, m, mtu);
        auto* d = reinterpret_cast<sockaddr_in6*>(&dst);
        d->sin6_family = AF_INET6;
        std::memcpy(&d->sin6_addr, peer.addr.data(), 16);
        d->sin6_scope_id = reinterpret_cast<const sockaddr_in6*>(&peer.sa)->sin6_scope_id;
        dst_len = sizeof(sockaddr_in6);
        fd = raw6.get();
    }
    if (st != FragmentStatus::ok || fd < 0) {
        ++ctr.send_errors;
        return EINVAL;
    }
    for (Bytes p : fragments.packets()) {
        if (sendto(fd, p.data(), p.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                   reinterpret_cast<const sockaddr*>(&dst), dst_len) < 0) {
            // A fragment bigger than the link MTU is refused by the kernel (EMSGSIZE).
            const int err = errno;
            if (err == EMSGSIZE) ++ctr.emsgsize;
            else ++ctr.send_errors;
            return err;
        }
    }
    return 0;
}

void Responder::Impl::on_accept(size_t index, uint64_t now) {
    for (int i = 0; i < 16; ++i) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        UniqueFd fd(accept4(listeners[index].fd.get(), reinterpret_cast<sockaddr*>(&ss), &len,
                            SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ++ctr.tcp_errors;
            return;
        }
        if (open_conns >= conns.size()) {
            ++ctr.tcp_rejected;  // closed at once: the client sees the refusal immediately
            continue;
        }
        Peer peer;
        peer.sa = ss;
        peer.len = len;
        if (!peer.decode()) continue;
        uint32_t slot = 0;
        while (conns[slot]) ++slot;
        auto c = std::make_unique<Connection>();
        c->fd = std::move(fd);
        c->generation = next_generation++;
        c->family = peer.family;
        std::memcpy(c->peer, peer.text, sizeof c->peer);
        c->in.resize(tcp_in_initial);
        c->last_active_ns = now;
        c->events = EPOLLIN;
        try {
            watch(c->fd.get(), EPOLLIN, tag(Kind::connection, slot, c->generation));
        } catch (const std::exception&) {
            ++ctr.tcp_errors;
            continue;
        }
        conns[slot] = std::move(c);
        ++open_conns;
        ++ctr.tcp_connections;
    }
}

namespace {
// A whole query (or a length that ends the connection) waits in the input buffer.
bool query_pending(const Connection& c) noexcept {
    if (c.in_len < 2) return false;
    const size_t len = (static_cast<size_t>(c.in[0]) << 8) | static_cast<size_t>(c.in[1]);
    return len < 12 || c.in_len - 2 >= len;
}
}  // namespace

void Responder::Impl::process_input(Connection& c) {
    size_t pos = 0;
    while (c.out.size() - c.out_off < opts.tcp_output_limit && c.in_len - pos >= 2) {
        const size_t len = (static_cast<size_t>(c.in[pos]) << 8) | static_cast<size_t>(c.in[pos + 1]);
        if (len < 12) {  // not even a header: the stream is not DNS
            ++ctr.tcp_errors;
            c.eof = true;
            c.in_len = 0;
            return;
        }
        if (c.in_len - pos - 2 < len) break;
        ++ctr.queries_tcp;
        QueryContext ctx;
        ctx.transport = Transport::tcp;
        ctx.family = c.family;
        ctx.source = c.peer;
        const Answer a = builder.build(Bytes(c.in.data() + pos + 2, len), ctx, answer_buf);
        count(a, Transport::tcp);
        pos += 2 + len;
        if (a.kind == AnswerKind::none) continue;
        c.out.push_back(std::byte(a.length >> 8));
        c.out.push_back(std::byte(a.length & 0xFF));
        c.out.insert(c.out.end(), answer_buf.begin(), answer_buf.begin() + static_cast<std::ptrdiff_t>(a.length));
        log_query("tcp", c.peer, a, "");
    }
    if (pos > 0) {
        std::memmove(c.in.data(), c.in.data() + pos, c.in_len - pos);
        c.in_len -= pos;
    }
}

// Writes what is queued; false when the connection failed.
bool Responder::Impl::flush(Connection& c) {
    while (c.out_off < c.out.size()) {
        const ssize_t n = send(c.fd.get(), c.out.data() + c.out_off, c.out.size() - c.out_off,
                               MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return false;
        }
        c.out_off += static_cast<size_t>(n);
    }
    if (c.out_off == c.out.size()) {
        c.out.clear();
        c.out_off = 0;
    } else if (c.out_off > 65536) {
        c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(c.out_off));
        c.out_off = 0;
    }
    return true;
}

void Responder::Impl::update_events(uint32_t index, Connection& c) {
    uint32_t want = 0;
    const bool backlog = c.out.size() - c.out_off >= opts.tcp_output_limit;
    if (!c.eof && !backlog && c.in_len < tcp_in_capacity) want |= EPOLLIN;
    if (c.out_off < c.out.size()) want |= EPOLLOUT;
    if (want == c.events) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = tag(Kind::connection, index, c.generation);
    if (epoll_ctl(epoll_fd.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) == 0) c.events = want;
}

void Responder::Impl::close_connection(uint32_t index) {
    if (!conns[index]) return;
    epoll_ctl(epoll_fd.get(), EPOLL_CTL_DEL, conns[index]->fd.get(), nullptr);
    conns[index].reset();
    --open_conns;
}

void Responder::Impl::on_connection(uint32_t index, uint32_t generation, uint32_t events, uint64_t now) {
    if (index >= conns.size() || !conns[index] || (conns[index]->generation & 0xFFFFFF) != generation)
        return;  // closed earlier in this batch of events
    Connection& c = *conns[index];
    if ((events & EPOLLIN) && !c.eof) {
        for (;;) {
            if (c.in_len == c.in.size()) {
                if (c.in.size() >= tcp_in_capacity) break;
                c.in.resize(std::min(tcp_in_capacity, c.in.size() * 4));
            }
            const ssize_t n = recv(c.fd.get(), c.in.data() + c.in_len, c.in.size() - c.in_len, MSG_DONTWAIT);
            if (n > 0) {
                c.in_len += static_cast<size_t>(n);
                c.last_active_ns = now;
                process_input(c);
                if (c.out.size() - c.out_off >= opts.tcp_output_limit) break;
                continue;
            }
            if (n == 0) {
                c.eof = true;
                break;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            ++ctr.tcp_errors;
            close_connection(index);
            return;
        }
    } else if (events & (EPOLLHUP | EPOLLERR)) {
        if (!(events & EPOLLOUT)) {
            close_connection(index);
            return;
        }
    }
    // Write, and while that makes room, answer the queries the output limit held back: they are
    // already in the input buffer, so no further event would announce them.
    for (;;) {
        const size_t queued = c.out.size() - c.out_off;
        if (!flush(c)) {
            ++ctr.tcp_errors;
            close_connection(index);
            return;
        }
        if (c.out.size() - c.out_off < queued) c.last_active_ns = now;
        if (c.out.size() - c.out_off >= opts.tcp_output_limit || !query_pending(c)) break;
        process_input(c);
    }
    if (c.eof && c.out_off == c.out.size()) {
        close_connection(index);
        return;
    }
    update_events(index, c);
}

void Responder::Impl::expire_idle(uint64_t now) {
    const uint64_t timeout = uint64_t{opts.tcp_idle_timeout_ms} * 1'000'000ull;
    for (uint32_t i = 0; i < conns.size(); ++i) {
        if (conns[i] && now - conns[i]->last_active_ns > timeout) {
            ++ctr.tcp_idle_closed;
            close_connection(i);
        }
    }
}

Responder::Responder(const ResponderOptions& opts) : impl_(std::make_unique<Impl>(opts)) {
    impl_->open();
}

Responder::~Responder() = default;

const ResponderCounters& Responder::counters() const noexcept { return impl_->ctr; }

bool Responder::raw_available(AddressFamily f) const noexcept {
    return f == AddressFamily::ipv4 ? bool(impl_->raw4) : bool(impl_->raw6);
}

int Responder::run() {
    Impl& m = *impl_;
    const uint64_t start = now_ns();
    const uint64_t deadline =
        m.opts.max_runtime_s > 0 ? start + static_cast<uint64_t>(m.opts.max_runtime_s * 1e9) : 0;
    if (!m.opts.quiet) {
        std::fprintf(stderr, "frag53 responder: zone %s, listening on", m.opts.answer.zone.c_str());
        for (const ListenAddress& a : m.opts.listen) std::fprintf(stderr, " %s", a.to_string().c_str());
        std::fprintf(stderr, " (udp, tcp)\n");
    }
    std::array<epoll_event, 64> events;
    bool stop = false;
    while (!stop) {
        int timeout_ms = 1000;
        uint64_t now = now_ns();
        if (deadline != 0) {
            if (now >= deadline) break;
            timeout_ms = static_cast<int>(std::min<uint64_t>(1000, (deadline - now) / 1'000'000 + 1));
        }
        const int n = epoll_wait(m.epoll_fd.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw sys_error("epoll_wait");
        }
        now = now_ns();
        for (int i = 0; i < n; ++i) {
            const uint64_t t = events[i].data.u64;
            const auto kind = static_cast<Kind>(t >> 56);
            const auto index = static_cast<uint32_t>(t & 0xFFFFFFFF);
            switch (kind) {
            case Kind::signal: {
                signalfd_siginfo si{};
                while (read(m.signal_fd.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) stop = true;
                break;
            }
            case Kind::udp: m.on_udp(index); break;
            case Kind::listener: m.on_accept(index, now); break;
            case Kind::connection:
                m.on_connection(index, static_cast<uint32_t>((t >> 32) & 0xFFFFFF), events[i].events, now);
                break;
            }
        }
        if (now - m.last_expire_ns >= expire_interval_ns) {
            m.expire_idle(now);
            m.last_expire_ns = now;
        }
    }
    for (uint32_t i = 0; i < m.conns.size(); ++i) m.close_connection(i);
    m.ctr.rate_limit_evictions = m.limiter.counters().evictions;
    return 0;
}

}  // namespace frag53::probe
