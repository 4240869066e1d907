#include "prober/probe/exchange.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <memory>

#include "prober/probe/path_capture.h"
#include "dataplane/unique_fd.h"

namespace frag53::probe {

namespace {

uint64_t now_ns() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}


uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return 0;
}

unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + 32) : c; }

}  // namespace

std::optional<Endpoint> parse_endpoint(const std::string& text, uint16_t port) noexcept {
    Endpoint e;
    sockaddr_in v4{};
    sockaddr_in6 v6{};
    if (inet_pton(AF_INET, text.c_str(), &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        std::memcpy(&e.addr, &v4, sizeof v4);
        e.len = sizeof v4;
        e.family = Family::v4;
        return e;
    }
    if (inet_pton(AF_INET6, text.c_str(), &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        std::memcpy(&e.addr, &v6, sizeof v6);
        e.len = sizeof v6;
        e.family = Family::v6;
        return e;
    }
    return std::nullopt;
}

std::string endpoint_address(const Endpoint& e) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (e.addr.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&e.addr)->sin_addr, buf, sizeof buf);
    else
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&e.addr)->sin6_addr, buf, sizeof buf);
    return buf;
}

bool route_source(const Endpoint& e, Endpoint& self, std::string& interface_name) {
    UniqueFd fd(socket(e.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return false;
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&e.addr), e.len) != 0) return false;
    self = {};
    self.len = sizeof self.addr;
    if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&self.addr), &self.len) != 0) return false;
    self.family = e.family;
    interface_name.clear();
    ifaddrs* ifa = nullptr;
    if (getifaddrs(&ifa) != 0) return true;
    std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> guard(ifa, freeifaddrs);
    for (ifaddrs* i = ifa; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != self.addr.ss_family) continue;
        bool same = false;
        if (self.addr.ss_family == AF_INET)
            same = std::memcmp(&reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr,
                               &reinterpret_cast<const sockaddr_in*>(&self.addr)->sin_addr, 4) == 0;
        else
            same = std::memcmp(&reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr,
                               &reinterpret_cast<const sockaddr_in6*>(&self.addr)->sin6_addr, 16) == 0;
        if (same) {
            interface_name = i->ifa_name;
            break;
        }
    }
    return true;
}

struct ExchangeRunner::Attempt {
    enum class State : uint8_t { udp_waiting, tcp_connecting, tcp_writing, tcp_reading, closed };
    UniqueFd fd;
    State state = State::closed;
    uint16_t id = 0;
    uint16_t port = 0;
    uint64_t sent_ns = 0;
    uint64_t deadline_ns = 0;
    std::string qname;
    std::vector<uint8_t> out;  // TCP: length-prefixed query still to write
    size_t out_done = 0;
    std::vector<uint8_t> in;   // TCP: bytes read so far
};

struct ExchangeRunner::Slot {
    Exchange* x = nullptr;
    std::deque<Attempt> attempts;
    uint64_t deadline_ns = 0;  // of the newest attempt
    uint64_t give_up_ns = 0;   // after the last attempt: its deadline plus the grace window
    bool done = false;
};

ExchangeRunner::ExchangeRunner(Endpoint server, TimingPolicy timing, unsigned parallel, PathCapture* capture)
    : server_(server), timing_(timing), parallel_(std::max(1u, parallel)), capture_(capture),
      rtt_(timing), rng_(std::random_device{}()), rxbuf_(65536 + 2) {}

unsigned ExchangeRunner::max_attempts(const Exchange& x) const noexcept {
    if (x.max_attempts != 0) return x.max_attempts;
    return 1 + (x.tcp ? timing_.tcp_retries : timing_.retries);
}

bool ExchangeRunner::start_attempt(Slot& s, uint64_t now) {
    Exchange& x = *s.x;
    Attempt a;
    a.id = static_cast<uint16_t>(rng_());
    if (x.spec) {
        ProbeSpec spec = *x.spec;
        spec.nonce = rng_() & 0xffffffffffull;
        a.qname = probe_name(spec, x.zone);
    } else {
        a.qname = x.qname;
    }
    QueryOptions o = x.options;
    o.id = a.id;
    std::vector<uint8_t> query;
    if (!build_query(a.qname, o, query)) {
        x.detail = "cannot encode the name " + a.qname;
        return false;
    }
    const int type = (x.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
    a.fd = UniqueFd(socket(server_.addr.ss_family, type, 0));
    if (a.fd.get() < 0) {
        x.detail = std::string("socket: ") + std::strerror(errno);
        return false;
    }
    const unsigned n = static_cast<unsigned>(s.attempts.size());
    const int rc = connect(a.fd.get(), reinterpret_cast<const sockaddr*>(&server_.addr), server_.len);
    if (rc != 0 && !(x.tcp && errno == EINPROGRESS)) {
        x.detail = std::string("connect: ") + std::strerror(errno);
        return false;
    }
    a.port = local_port(a.fd.get());
    if (capture_) capture_->table().claim(a.port);
    a.sent_ns = now;
    if (x.tcp) {
        a.out.push_back(static_cast<uint8_t>(query.size() >> 8));
        a.out.push_back(static_cast<uint8_t>(query.size()));
        a.out.insert(a.out.end(), query.begin(), query.end());
        a.state = Attempt::State::tcp_connecting;
        a.deadline_ns = now + uint64_t{rtt_.tcp_timeout_us(n)} * 1000;
    } else {
        if (send(a.fd.get(), query.data(), query.size(), 0) < 0) {
            // Counted as an attempt that got no answer; the next one gets a new socket.
            x.detail = std::string("send: ") + std::strerror(errno);
        }
        a.state = Attempt::State::udp_waiting;
        a.deadline_ns = now + uint64_t{rtt_.udp_timeout_us(n)} * 1000;
    }
    x.ports.push_back(a.port);
    x.qname_sent = a.qname;
    ++x.attempts;
    s.deadline_ns = a.deadline_ns;
    if (s.attempts.size() + 1 >= max_attempts(x))
        s.give_up_ns = a.deadline_ns + uint64_t{x.tcp ? rtt_.tcp_timeout_us(0) : rtt_.grace_us()} * 1000;
    s.attempts.push_back(std::move(a));
    return true;
}

void ExchangeRunner::finish(Slot& s, uint64_t) {
    Exchange& x = *s.x;
    s.done = true;
    if (!x.answered) {
        x.attempts_lost = x.attempts;
        if (x.detail.empty()) {
            const bool connecting = !s.attempts.empty() &&
                                    s.attempts.back().state == Attempt::State::tcp_connecting;
            x.detail = x.tcp && connecting ? "TCP connection never established (SYN unanswered)"
                                           : "no answer";
            x.detail += " after " + std::to_string(x.attempts) + " attempt" + (x.attempts == 1 ? "" : "s");
        }
    }
    s.attempts.clear();
}

bool ExchangeRunner::accept_answer(Slot& s, Attempt& a, std::span<const uint8_t> msg, uint64_t now) {
    // An answer to this attempt: same ID, QR set, the same question name (case-insensitively:
    // some paths randomise case) and type.
    if (msg.size() < 12) return false;
    const uint16_t id = static_cast<uint16_t>((msg[0] << 8) | msg[1]);
    if (id != a.id || !(msg[2] & 0x80)) return false;
    std::vector<uint8_t> want;
    if (!encode_name(a.qname, want)) return false;
    if (msg.size() < 12 + want.size() + 4 || ((msg[4] << 8) | msg[5]) != 1) return false;
    for (size_t i = 0; i < want.size(); ++i)
        if (lower(msg[12 + i]) != lower(want[i])) return false;
    const uint16_t qtype = static_cast<uint16_t>((msg[12 + want.size()] << 8) | msg[13 + want.size()]);
    if (qtype != s.x->options.qtype) return false;
    Exchange& x = *s.x;
    x.answered = true;
    x.answer.assign(msg.begin(), msg.end());
    x.rtt_us = static_cast<uint32_t>(std::min<uint64_t>((now - a.sent_ns) / 1000, UINT32_MAX));
    x.late = now > a.deadline_ns;
    x.qname_sent = a.qname;
    x.detail.clear();
    x.attempts_lost = static_cast<uint8_t>(x.attempts - 1);
    if (!x.tcp) rtt_.sample(x.rtt_us);
    return true;
}

bool ExchangeRunner::on_udp_readable(Slot& s, Attempt& a, uint64_t now) {
    for (;;) {
        const ssize_t n = recv(a.fd.get(), rxbuf_.data(), rxbuf_.size(), 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
            if (errno == ECONNREFUSED) {
                s.x->refused = true;
                s.x->detail = "ICMP port unreachable: nothing listens on the port";
                return true;  // a closed port stays closed: no point retrying
            }
            // Other ICMP errors (host / network unreachable): keep waiting, later attempts decide.
            s.x->detail = std::string("recv: ") + std::strerror(errno);
            return false;
        }
        if (accept_answer(s, a, {rxbuf_.data(), static_cast<size_t>(n)}, now)) return true;
    }
}

bool ExchangeRunner::on_tcp_event(Slot& s, Attempt& a, short revents, uint64_t now) {
    Exchange& x = *s.x;
    if (a.state == Attempt::State::tcp_connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(a.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            x.detail = std::string("TCP connect: ") + std::strerror(err);
            if (err == ECONNREFUSED || err == ECONNRESET) x.refused = true;
            a.fd.reset();
            a.state = Attempt::State::closed;
            return false;
        }
        if (!(revents & POLLOUT)) return false;
        a.state = Attempt::State::tcp_writing;
    }
    if (a.state == Attempt::State::tcp_writing) {
        const ssize_t n = send(a.fd.get(), a.out.data() + a.out_done, a.out.size() - a.out_done, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return false;
            x.detail = std::string("TCP send: ") + std::strerror(errno);
            if (errno == ECONNRESET || errno == EPIPE) x.refused = true;
            a.fd.reset();
            a.state = Attempt::State::closed;
            return false;
        }
        a.out_done += static_cast<size_t>(n);
        if (a.out_done == a.out.size()) a.state = Attempt::State::tcp_reading;
        return false;
    }
    if (a.state == Attempt::State::tcp_reading && (revents & (POLLIN | POLLHUP | POLLERR))) {
        for (;;) {
            const ssize_t n = recv(a.fd.get(), rxbuf_.data(), rxbuf_.size(), 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) return false;
                x.detail = std::string("TCP recv: ") + std::strerror(errno);
                if (errno == ECONNRESET) x.refused = true;
                a.fd.reset();
                a.state = Attempt::State::closed;
                return false;
            }
            if (n == 0) {
                x.detail = "TCP connection closed before a complete answer (" + std::to_string(a.in.size()) + " bytes)";
                a.fd.reset();
                a.state = Attempt::State::closed;
                return false;
            }
            a.in.insert(a.in.end(), rxbuf_.begin(), rxbuf_.begin() + n);
            // Messages are read one after the other; an answer to an earlier attempt on this
            // connection cannot exist (one query per connection).
            while (a.in.size() >= 2) {
                const size_t len = (size_t{a.in[0]} << 8) | a.in[1];
                if (a.in.size() < 2 + len) break;
                if (accept_answer(s, a, {a.in.data() + 2, len}, now)) return true;
                a.in.erase(a.in.begin(), a.in.begin() + 2 + static_cast<std::ptrdiff_t>(len));
            }
        }
    }
    return false;
}

void ExchangeRunner::run(std::span<Exchange> xs) {
    std::vector<Slot> slots(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) slots[i].x = &xs[i];
    size_t next = 0, active = 0, finished = 0;
    std::vector<pollfd> pfds;
    std::vector<std::pair<Slot*, Attempt*>> owners;
    while (finished < slots.size()) {
        uint64_t now = now_ns();
        while (active < parallel_ && next < slots.size()) {
            Slot& s = slots[next++];
            ++active;
            if (!start_attempt(s, now)) {
                finish(s, now);
                --active;
                ++finished;
            }
        }
        // Timeouts: retry with a new attempt, or give up after the grace window.
        uint64_t wake = UINT64_MAX;
        for (size_t i = 0; i < next; ++i) {
            Slot& s = slots[i];
            if (s.done) continue;
            const unsigned max_attempts = this->max_attempts(*s.x);
            bool all_closed = true;
            for (const Attempt& a : s.attempts) all_closed = all_closed && a.state == Attempt::State::closed;
            if (s.x->refused && all_closed && s.x->tcp && s.attempts.size() >= max_attempts) {
                finish(s, now);
                --active;
                ++finished;
                continue;
            }
            if (s.attempts.size() < max_attempts && (now >= s.deadline_ns || (s.x->tcp && all_closed))) {
                if (!start_attempt(s, now)) {
                    finish(s, now);
                    --active;
                    ++finished;
                    continue;
                }
            } else if (s.attempts.size() >= max_attempts && now >= s.give_up_ns) {
                finish(s, now);
                --active;
                ++finished;
                continue;
            }
            wake = std::min(wake, s.attempts.size() < max_attempts ? s.deadline_ns : s.give_up_ns);
        }
        if (finished == slots.size()) break;

        pfds.clear();
        owners.clear();
        for (size_t i = 0; i < next; ++i) {
            Slot& s = slots[i];
            if (s.done) continue;
            for (Attempt& a : s.attempts) {
                if (a.fd.get() < 0) continue;
                short ev = 0;
                switch (a.state) {
                case Attempt::State::udp_waiting:
                case Attempt::State::tcp_reading: ev = POLLIN; break;
                case Attempt::State::tcp_connecting:
                case Attempt::State::tcp_writing: ev = POLLOUT; break;
                case Attempt::State::closed: continue;
                }
                pfds.push_back({a.fd.get(), ev, 0});
                owners.emplace_back(&s, &a);
            }
        }
        if (capture_) pfds.push_back({capture_->fd(), POLLIN, 0});
        now = now_ns();
        int timeout_ms = wake == UINT64_MAX ? 100
                         : wake <= now      ? 0
                                            : static_cast<int>(std::min<uint64_t>((wake - now + 999'999) / 1'000'000, 1000));
        const int rc = poll(pfds.data(), pfds.size(), timeout_ms);
        if (rc < 0 && errno != EINTR) break;
        now = now_ns();
        for (size_t i = 0; i < owners.size(); ++i) {
            if (pfds[i].revents == 0) continue;
            auto [s, a] = owners[i];
            if (s->done) continue;
            const bool answered = s->x->tcp ? on_tcp_event(*s, *a, pfds[i].revents, now)
                                            : on_udp_readable(*s, *a, now);
            if (answered || (s->x->refused && !s->x->tcp)) {
                finish(*s, now);
                --active;
                ++finished;
            }
        }
        if (capture_ && pfds.back().revents) capture_->drain();
    }
    if (capture_) capture_->drain();
}

}  // namespace frag53::probe
