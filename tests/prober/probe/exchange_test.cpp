// The socket layer on loopback: retries with a new ID and port, late answers within the grace
// window, loss, TCP framing and refused connections.
#include "prober/probe/exchange.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace frag53::probe {
namespace {

struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) close(fd);
    }
};

uint16_t bound_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

int bind_loopback(int type) {
    int fd = socket(AF_INET, type, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
    return fd;
}

// The query turned into its own answer: same ID and question, QR set.
std::vector<uint8_t> answer_of(const uint8_t* q, size_t n) {
    std::vector<uint8_t> a(q, q + n);
    a[2] |= 0x80;
    return a;
}

TimingPolicy fast_policy() {
    TimingPolicy p;
    p.initial_timeout_us = 100'000;
    p.min_timeout_us = 100'000;
    p.retries = 1;  // attempt timeouts 100 ms, 200 ms; grace 100 ms
    p.tcp_min_timeout_us = 300'000;
    p.tcp_retries = 1;
    return p;
}

// A UDP server that ignores the first query and answers the second after `delay_ms`.
struct UdpServer {
    Fd fd{bind_loopback(SOCK_DGRAM)};
    std::atomic<int> queries{0};
    std::vector<uint16_t> ids, ports;
    std::thread t;
    explicit UdpServer(int delay_ms, bool answer_second) {
        t = std::thread([this, delay_ms, answer_second] {
            uint8_t buf[512];
            for (int i = 0; i < 2; ++i) {
                pollfd p{fd.fd, POLLIN, 0};
                if (poll(&p, 1, 2000) <= 0) return;
                sockaddr_in from{};
                socklen_t len = sizeof from;
                const ssize_t n = recvfrom(fd.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
                if (n < 12) return;
                ids.push_back(static_cast<uint16_t>((buf[0] << 8) | buf[1]));
                ports.push_back(ntohs(from.sin_port));
                ++queries;
                if (i == 1 && answer_second) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
                    auto a = answer_of(buf, static_cast<size_t>(n));
                    sendto(fd.fd, a.data(), a.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
                }
            }
        });
    }
    ~UdpServer() { t.join(); }
};

Endpoint endpoint(uint16_t port) { return *parse_endpoint("127.0.0.1", port); }

TEST(ExchangeRunner, RetryWithNewIdAndPortAndLateAnswer) {
    UdpServer srv(250, true);  // answers the retry 250 ms late: after its 200 ms timeout
    ExchangeRunner runner(endpoint(bound_port(srv.fd.fd)), fast_policy(), 4, nullptr);
    std::vector<Exchange> xs(1);
    xs[0].qname = "example.";
    xs[0].options.qtype = 1;
    runner.run(xs);
    ASSERT_TRUE(xs[0].answered) << xs[0].detail;
    EXPECT_TRUE(xs[0].late);
    EXPECT_EQ(xs[0].attempts, 2);
    EXPECT_EQ(xs[0].attempts_lost, 1);
    ASSERT_EQ(srv.ids.size(), 2u);
    EXPECT_NE(srv.ports[0], srv.ports[1]);
    EXPECT_EQ(xs[0].ports.size(), 2u);
    EXPECT_GE(xs[0].rtt_us, 250'000u);
}

TEST(ExchangeRunner, LostAfterEveryAttemptAndTheGrace) {
    UdpServer srv(0, false);
    ExchangeRunner runner(endpoint(bound_port(srv.fd.fd)), fast_policy(), 4, nullptr);
    std::vector<Exchange> xs(1);
    xs[0].qname = "example.";
    const auto t0 = std::chrono::steady_clock::now();
    runner.run(xs);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_FALSE(xs[0].answered);
    EXPECT_EQ(xs[0].attempts, 2);
    EXPECT_EQ(xs[0].attempts_lost, 2);
    EXPECT_EQ(srv.queries.load(), 2);
    // 100 ms + 200 ms of timeouts, then 100 ms of grace.
    EXPECT_GE(ms, 390);
    EXPECT_LT(ms, 1500);
}

TEST(ExchangeRunner, AnswerToAnotherQuestionIsIgnored) {
    Fd fd(bind_loopback(SOCK_DGRAM));
    std::thread t([&] {
        uint8_t buf[512];
        for (int i = 0; i < 2; ++i) {
            pollfd p{fd.fd, POLLIN, 0};
            if (poll(&p, 1, 2000) <= 0) return;
            sockaddr_in from{};
            socklen_t len = sizeof from;
            const ssize_t n = recvfrom(fd.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
            if (n < 20) return;
            auto a = answer_of(buf, static_cast<size_t>(n));
            a[13] ^= 0x01;  // another name, same ID
            sendto(fd.fd, a.data(), a.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
        }
    });
    ExchangeRunner runner(endpoint(bound_port(fd.fd)), fast_policy(), 4, nullptr);
    std::vector<Exchange> xs(1);
    xs[0].qname = "example.";
    runner.run(xs);
    t.join();
    EXPECT_FALSE(xs[0].answered);
}

TEST(ExchangeRunner, TcpFramingAndRefused) {
    Fd lfd(bind_loopback(SOCK_STREAM));
    ASSERT_EQ(listen(lfd.fd, 4), 0);
    std::thread t([&] {
        pollfd p{lfd.fd, POLLIN, 0};
        if (poll(&p, 1, 2000) <= 0) return;
        Fd c(accept(lfd.fd, nullptr, nullptr));
        uint8_t buf[600];
        size_t have = 0;
        while (have < 2 || have < 2u + ((buf[0] << 8) | buf[1])) {
            const ssize_t n = recv(c.fd, buf + have, sizeof buf - have, 0);
            if (n <= 0) return;
            have += static_cast<size_t>(n);
        }
        const size_t qlen = (buf[0] << 8) | buf[1];
        auto a = answer_of(buf + 2, qlen);
        std::vector<uint8_t> framed{static_cast<uint8_t>(a.size() >> 8), static_cast<uint8_t>(a.size())};
        framed.insert(framed.end(), a.begin(), a.end());
        // In two writes: the reader must join them.
        send(c.fd, framed.data(), 5, 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        send(c.fd, framed.data() + 5, framed.size() - 5, 0);
    });
    ExchangeRunner runner(endpoint(bound_port(lfd.fd)), fast_policy(), 4, nullptr);
    std::vector<Exchange> xs(1);
    xs[0].tcp = true;
    xs[0].qname = "example.";
    runner.run(xs);
    t.join();
    ASSERT_TRUE(xs[0].answered) << xs[0].detail;
    EXPECT_EQ(xs[0].attempts, 1);

    // Nothing listens on a port that was just closed: refused at once, not timed out.
    uint16_t closed_port;
    {
        Fd tmp(bind_loopback(SOCK_STREAM));
        closed_port = bound_port(tmp.fd);
    }
    ExchangeRunner r2(endpoint(closed_port), fast_policy(), 4, nullptr);
    std::vector<Exchange> ys(1);
    ys[0].tcp = true;
    ys[0].qname = "example.";
    const auto t0 = std::chrono::steady_clock::now();
    r2.run(ys);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_FALSE(ys[0].answered);
    EXPECT_TRUE(ys[0].refused);
    EXPECT_NE(ys[0].detail.find("refused"), std::string::npos) << ys[0].detail;
    EXPECT_LT(ms, 250);
}

TEST(ExchangeRunner, ParsesEndpoints) {
    EXPECT_TRUE(parse_endpoint("198.18.0.1", 53).has_value());
    auto v6 = parse_endpoint("2001:db8::1", 53);
    ASSERT_TRUE(v6.has_value());
    EXPECT_EQ(v6->family, Family::v6);
    EXPECT_EQ(endpoint_address(*v6), "2001:db8::1");
    EXPECT_FALSE(parse_endpoint("example.net", 53).has_value());
    EXPECT_FALSE(parse_endpoint("198.18.0.256", 53).has_value());
}

}  // namespace
}  // namespace frag53::probe
