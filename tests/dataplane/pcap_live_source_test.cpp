// Live capture on a veth pair between two network namespaces this test creates (and deletes,
// also after a failure). Needs root; skipped otherwise. Addresses are from 198.18.0.0/15.
#include "dataplane/pcap_live_source.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/decode.h"
#include "dataplane/privileges.h"

namespace frag53 {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kNsPrefix = "f53live-";
constexpr const char* kCaptureAddr = "198.18.0.1";
constexpr const char* kSenderAddr = "198.18.0.2";
constexpr const char* kCaptureMac = "02:f5:00:00:00:01";

bool is_root() { return geteuid() == 0; }

// Runs a fixed command line; its error output, if any, lands in the test log.
bool run(const std::string& command) {
    const int status = std::system((command + " >/dev/null").c_str());
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Runs fn on a fresh thread that has entered the named network namespace. Sockets and capture
// handles made there stay bound to that namespace, whichever thread uses them later.
template <class F>
auto in_netns(const std::string& ns, F fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task([&] {
        const std::string path = "/run/netns/" + ns;
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
        const int rc = ::setns(fd, CLONE_NEWNET);
        const int err = errno;
        ::close(fd);
        if (rc != 0) throw std::runtime_error("setns " + ns + ": " + std::strerror(err));
        return fn();
    });
    auto result = task.get_future();
    std::thread(std::move(task)).join();
    return result.get();
}

// Namespaces left behind by a run that crashed before TearDown: their pid is gone.
void remove_stale_namespaces() {
    DIR* dir = ::opendir("/run/netns");
    if (dir == nullptr) return;
    std::vector<std::string> stale;
    while (const dirent* e = ::readdir(dir)) {
        const std::string name = e->d_name;
        if (name.rfind(kNsPrefix, 0) != 0) continue;
        const long pid = std::strtol(name.c_str() + std::strlen(kNsPrefix), nullptr, 10);
        if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
            stale.push_back(name);
        }
    }
    ::closedir(dir);
    for (const std::string& name : stale) run("ip netns del " + name);
}

std::vector<uint8_t> payload_for(uint32_t i) {
    std::vector<uint8_t> p(4 + (i * 37) % 1400);
    p[0] = static_cast<uint8_t>(i >> 24), p[1] = static_cast<uint8_t>(i >> 16);
    p[2] = static_cast<uint8_t>(i >> 8), p[3] = static_cast<uint8_t>(i);
    for (size_t j = 4; j < p.size(); ++j) p[j] = static_cast<uint8_t>(i + j);
    return p;
}

struct Got {
    std::vector<uint8_t> data;
    uint32_t wire_len;
    uint64_t ts_ns, frame;
    uint16_t link_type, source;
};

Got copy_of(const PacketView& v) {
    Got g{{}, v.wire_len, v.ts_ns, v.frame, v.link_type, v.source};
    g.data.resize(v.data.size());
    if (!v.data.empty()) std::memcpy(g.data.data(), v.data.data(), v.data.size());
    return g;
}

std::vector<uint8_t> udp_payload(const Got& g, DecodedPacket& d) {
    PacketView v;
    v.data = Bytes(reinterpret_cast<const std::byte*>(g.data.data()), g.data.size());
    v.wire_len = g.wire_len;
    v.link_type = g.link_type;
    decode_frame(v, d);
    std::vector<uint8_t> out(d.payload.size());
    if (!out.empty()) std::memcpy(out.data(), d.payload.data(), out.size());
    return out;
}

class LiveCaptureTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!is_root()) GTEST_SKIP() << "live capture tests need root (namespaces, packet sockets)";
        if (!run("ip -V")) GTEST_SKIP() << "iproute2 'ip' not available";
        remove_stale_namespaces();

        static std::atomic<int> counter{0};
        const int n = counter++;
        const std::string id = std::to_string(getpid()) + "-" + std::to_string(n);
        ns_capture_ = kNsPrefix + id + "-c";
        ns_sender_ = kNsPrefix + id + "-s";
        char name[IFNAMSIZ];
        std::snprintf(name, sizeof name, "f5c%x_%d", static_cast<unsigned>(getpid()), n % 100);
        veth_capture_ = name;
        std::snprintf(name, sizeof name, "f5s%x_%d", static_cast<unsigned>(getpid()), n % 100);
        veth_sender_ = name;

        created_capture_ns_ = run("ip netns add " + ns_capture_);
        if (!created_capture_ns_) GTEST_SKIP() << "cannot create network namespaces here";
        created_sender_ns_ = run("ip netns add " + ns_sender_);
        ASSERT_TRUE(created_sender_ns_);
        // Both ends are made inside their namespaces: nothing appears in the root namespace.
        ASSERT_TRUE(run("ip link add " + veth_capture_ + " netns " + ns_capture_ + " address " +
                        kCaptureMac + " type veth peer name " + veth_sender_ + " netns " +
                        ns_sender_));
        ASSERT_TRUE(run("ip -n " + ns_capture_ + " addr add " + kCaptureAddr + "/30 dev " +
                        veth_capture_));
        ASSERT_TRUE(run("ip -n " + ns_sender_ + " addr add " + kSenderAddr + "/30 dev " +
                        veth_sender_));
        ASSERT_TRUE(run("ip -n " + ns_capture_ + " link set " + veth_capture_ + " up"));
        ASSERT_TRUE(run("ip -n " + ns_sender_ + " link set " + veth_sender_ + " up"));
        // No ARP round trip before the first datagram.
        ASSERT_TRUE(run("ip -n " + ns_sender_ + " neigh replace " + kCaptureAddr + " lladdr " +
                        kCaptureMac + " dev " + veth_sender_ + " nud permanent"));

        sender_fd_ = in_netns(ns_sender_, [] {
            const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
            sockaddr_in local{};
            local.sin_family = AF_INET;
            ::inet_pton(AF_INET, kSenderAddr, &local.sin_addr);
            local.sin_port = htons(40053);
            if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
                ::close(fd);
                throw std::runtime_error(std::string("bind: ") + std::strerror(errno));
            }
            return fd;
        });
    }

    void TearDown() override {
        source_.reset();
        if (sender_fd_ >= 0) ::close(sender_fd_);
        if (created_sender_ns_) run("ip netns del " + ns_sender_);
        if (created_capture_ns_) run("ip netns del " + ns_capture_);
    }

    PcapLiveOptions options(std::string filter = "udp dst port 53") const {
        PcapLiveOptions o;
        o.interface_name = veth_capture_;
        o.bpf_filter = std::move(filter);
        o.timeout_ms = 50;
        o.buffer_bytes = 4 << 20;  // the default 64 MiB works too; tests need not pin that much
        return o;
    }

    PcapLiveSource& open(PcapLiveOptions o) {
        source_ = in_netns(ns_capture_, [&] { return std::make_unique<PcapLiveSource>(o); });
        return *source_;
    }

    void send_to(uint16_t port, const std::vector<uint8_t>& payload) const {
        sockaddr_in to{};
        to.sin_family = AF_INET;
        ::inet_pton(AF_INET, kCaptureAddr, &to.sin_addr);
        to.sin_port = htons(port);
        const ssize_t n = ::sendto(sender_fd_, payload.data(), payload.size(), 0,
                                   reinterpret_cast<const sockaddr*>(&to), sizeof to);
        ASSERT_EQ(n, static_cast<ssize_t>(payload.size())) << std::strerror(errno);
    }

    // Reads until `want` packets arrived or `limit` passed (receive_or_idle never blocks longer
    // than the timeout, so this is bounded even when packets are lost).
    static std::vector<Got> collect(PcapLiveSource& src, size_t want, milliseconds limit,
                                    size_t burst = 8, size_t* largest_burst = nullptr) {
        std::vector<Got> got;
        std::vector<PacketView> views(burst);
        const auto deadline = Clock::now() + limit;
        while (got.size() < want && Clock::now() < deadline) {
            const size_t n = src.receive_or_idle(views);
            if (largest_burst != nullptr) *largest_burst = std::max(*largest_burst, n);
            for (size_t i = 0; i < n; ++i) got.push_back(copy_of(views[i]));
            src.release(std::span<const PacketView>(views.data(), n));
            if (n == 0 && src.stopped()) break;
        }
        return got;
    }

    std::string ns_capture_, ns_sender_, veth_capture_, veth_sender_;
    bool created_capture_ns_ = false, created_sender_ns_ = false;
    int sender_fd_ = -1;
    std::unique_ptr<PcapLiveSource> source_;
};

TEST_F(LiveCaptureTest, DeliversEveryMatchingDatagramExactlyAndFiltersTheRest) {
    PcapLiveOptions o = options();
    o.source_index = 7;
    PcapLiveSource& src = open(o);
    EXPECT_EQ(src.link_type(), DLT_EN10MB);
    EXPECT_TRUE(src.warnings().empty()) << src.warnings().front();
    EXPECT_GE(src.selectable_fd(), 0);

    constexpr uint32_t kCount = 300;
    uint64_t expected_bytes = 0;
    for (uint32_t i = 0; i < kCount; ++i) {
        send_to(53, payload_for(i));
        expected_bytes += 14 + 20 + 8 + payload_for(i).size();
        if (i % 3 == 0) {
            // Interleaved, so one that slipped through would arrive before the last port-53 one.
            send_to(54, payload_for(i));
            send_to(5353, payload_for(i));
        }
    }

    size_t largest_burst = 0;
    const auto got = collect(src, kCount, milliseconds(5000), 16, &largest_burst);
    ASSERT_EQ(got.size(), kCount);
    for (uint32_t i = 0; i < kCount; ++i) {
        SCOPED_TRACE("datagram " + std::to_string(i));
        const Got& g = got[i];
        DecodedPacket d;
        const auto payload = udp_payload(g, d);
        ASSERT_EQ(d.status, DecodeStatus::ok) << to_string(d.status);
        EXPECT_EQ(d.transport, Transport::udp);
        EXPECT_EQ(d.dport, 53);
        EXPECT_EQ(d.sport, 40053);
        EXPECT_EQ(d.src.to_string(), kSenderAddr);
        EXPECT_EQ(d.dst.to_string(), kCaptureAddr);
        EXPECT_EQ(payload, payload_for(i));
        EXPECT_FALSE(d.snap_truncated);
        EXPECT_EQ(g.wire_len, g.data.size());
        EXPECT_EQ(g.frame, i + 1);
        EXPECT_EQ(g.link_type, DLT_EN10MB);
        EXPECT_EQ(g.source, 7);
        if (i > 0) {
            EXPECT_GT(g.ts_ns, got[i - 1].ts_ns);
        }
    }
    // Nanosecond stamps from this run, not zero or microseconds scaled oddly.
    const auto now_ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::system_clock::now().time_since_epoch()).count());
    EXPECT_LT(now_ns - got.front().ts_ns, 60'000'000'000ull);
    // Nothing else trickles in (the port 54 / 5353 datagrams were filtered in the kernel).
    EXPECT_TRUE(collect(src, 1, milliseconds(200)).empty());
    // Bursts filled: immediate mode is off, so the kernel hands over blocks, not single packets.
    EXPECT_GT(largest_burst, 1u);

    const PcapLiveStats st = src.stats();
    EXPECT_TRUE(st.pcap_stats_ok);
    EXPECT_EQ(st.packets, kCount);
    EXPECT_EQ(st.bytes, expected_bytes);
    EXPECT_GE(st.pcap_received, kCount);
    EXPECT_EQ(st.pcap_dropped, 0u);
    EXPECT_EQ(st.copy_failed, 0u);
}

TEST_F(LiveCaptureTest, FilterChoosesWhatIsCaptured) {
    PcapLiveSource& src = open(options("udp dst port 5353"));
    send_to(53, payload_for(1));
    send_to(5353, payload_for(2));
    const auto got = collect(src, 2, milliseconds(600));
    ASSERT_EQ(got.size(), 1u);
    DecodedPacket d;
    EXPECT_EQ(udp_payload(got[0], d), payload_for(2));
    EXPECT_EQ(d.dport, 5353);
}

TEST_F(LiveCaptureTest, SnapLengthCutsButKeepsTheWireLength) {
    PcapLiveOptions o = options();
    o.snaplen = 128;
    PcapLiveSource& src = open(o);
    send_to(53, std::vector<uint8_t>(1000, 0xab));
    const auto got = collect(src, 1, milliseconds(2000));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].data.size(), 128u);
    EXPECT_EQ(got[0].wire_len, 14u + 20 + 8 + 1000);
    DecodedPacket d;
    udp_payload(got[0], d);
    EXPECT_TRUE(d.snap_truncated);
}

TEST_F(LiveCaptureTest, StopFromAnotherThreadEndsABlockedReceive) {
    PcapLiveOptions o = options();
    // Far longer than the stop latency allowed below: only stop() itself can end the wait.
    o.timeout_ms = 5000;
    PcapLiveSource& src = open(o);
    std::atomic<bool> returned{false};
    std::atomic<size_t> result{99};
    std::thread reader([&] {
        std::vector<PacketView> views(8);
        result = src.receive(views);  // nothing arrives: blocks
        returned = true;
    });
    std::this_thread::sleep_for(milliseconds(200));
    EXPECT_FALSE(returned) << "receive() returned with nothing captured and no stop()";
    const auto t0 = Clock::now();
    src.stop();
    while (!returned && Clock::now() - t0 < milliseconds(2000)) {
        std::this_thread::sleep_for(milliseconds(1));
    }
    const auto waited = Clock::now() - t0;
    reader.join();
    EXPECT_EQ(result, 0u);
    EXPECT_LT(waited, milliseconds(1000));
    EXPECT_TRUE(src.stopped());

    // Stopped for good, even with traffic.
    send_to(53, payload_for(3));
    std::this_thread::sleep_for(milliseconds(100));
    std::vector<PacketView> views(8);
    EXPECT_EQ(src.receive(views), 0u);
    EXPECT_EQ(src.receive_or_idle(views), 0u);
}

PcapLiveSource* g_signal_source = nullptr;
void stop_on_signal(int) { g_signal_source->stop(); }

TEST_F(LiveCaptureTest, StopFromASignalHandlerEndsABlockedReceive) {
    PcapLiveOptions o = options();
    o.timeout_ms = 5000;
    PcapLiveSource& src = open(o);
    g_signal_source = &src;
    struct sigaction sa{};
    struct sigaction old{};
    sa.sa_handler = stop_on_signal;
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);

    std::atomic<bool> returned{false};
    std::thread reader([&] {
        std::vector<PacketView> views(8);
        EXPECT_EQ(src.receive(views), 0u);
        returned = true;
    });
    std::this_thread::sleep_for(milliseconds(150));
    const auto t0 = Clock::now();
    pthread_kill(reader.native_handle(), SIGUSR1);  // interrupts its poll() too
    while (!returned && Clock::now() - t0 < milliseconds(2000)) {
        std::this_thread::sleep_for(milliseconds(1));
    }
    EXPECT_LT(Clock::now() - t0, milliseconds(1000));
    reader.join();
    sigaction(SIGUSR1, &old, nullptr);
    g_signal_source = nullptr;
}

TEST_F(LiveCaptureTest, ReceiveWaitsThroughIdleTimeoutsUntilAPacketArrives) {
    PcapLiveSource& src = open(options());  // 50 ms timeout
    std::atomic<bool> returned{false};
    std::atomic<size_t> result{0};
    std::thread reader([&] {
        std::vector<PacketView> views(8);
        result = src.receive(views);
        returned = true;
    });
    std::this_thread::sleep_for(milliseconds(300));  // six read timeouts
    EXPECT_FALSE(returned) << "receive() returned 0 on an idle timeout";
    send_to(53, payload_for(5));
    const auto t0 = Clock::now();
    while (!returned && Clock::now() - t0 < milliseconds(2000)) {
        std::this_thread::sleep_for(milliseconds(1));
    }
    if (!returned) src.stop();  // so the join below cannot hang
    reader.join();
    EXPECT_EQ(result, 1u);
}

TEST_F(LiveCaptureTest, ReceiveOrIdleReturnsOnTheTimeoutAndThePollableFdWorks) {
    PcapLiveSource& src = open(options());
    std::vector<PacketView> views(8);
    const auto t0 = Clock::now();
    EXPECT_EQ(src.receive_or_idle(views), 0u);
    const auto idle = Clock::now() - t0;
    EXPECT_GE(idle, milliseconds(40));
    EXPECT_LT(idle, milliseconds(1000));
    EXPECT_FALSE(src.stopped());
    EXPECT_TRUE(src.error().empty());

    const PcapLiveStats before = src.stats();
    EXPECT_TRUE(before.pcap_stats_ok);
    EXPECT_EQ(before.packets, 0u);

    send_to(53, payload_for(9));
    pollfd pfd{src.selectable_fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&pfd, 1, 2000), 1);
    EXPECT_EQ(src.receive_or_idle(views), 1u);
    EXPECT_EQ(src.stats().packets, 1u);
}

TEST_F(LiveCaptureTest, StartUpErrorsThrowWithAClearMessage) {
    auto message_of = [&](PcapLiveOptions o) -> std::string {
        try {
            open(std::move(o));
        } catch (const std::runtime_error& e) {
            return e.what();
        }
        return "(no exception)";
    };
    PcapLiveOptions bad_filter = options("udp dst port");
    EXPECT_THAT(message_of(bad_filter), HasSubstr("bad filter 'udp dst port'"));
    PcapLiveOptions no_such = options();
    no_such.interface_name = "f53nosuchif0";
    EXPECT_THAT(message_of(no_such), HasSubstr("no such interface"));
    EXPECT_THAT(message_of(no_such), HasSubstr("f53nosuchif0"));
    PcapLiveOptions bad_snaplen = options();
    bad_snaplen.snaplen = 0;
    EXPECT_THAT(message_of(bad_snaplen), HasSubstr("snap length"));
}

// What a forked child reports back: empty when every check passed.
std::string run_in_child(const std::function<std::string()>& body) {
    int fds[2];
    if (::pipe(fds) != 0) return "pipe failed";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        std::string failure;
        try {
            failure = body();
        } catch (const std::exception& e) {
            failure = std::string("exception: ") + e.what();
        }
        if (!failure.empty()) (void)!::write(fds[1], failure.data(), failure.size());
        ::_exit(failure.empty() ? 0 : 1);
    }
    ::close(fds[1]);
    std::string report;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) report.append(buf, size_t(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status)) return "child died: " + report;
    if (WEXITSTATUS(status) != 0 && report.empty()) return "child failed";
    return report;
}

TEST_F(LiveCaptureTest, CaptureKeepsWorkingAfterDroppingPrivileges) {
    PcapLiveSource& src = open(options());
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    std::thread sender([&] {
        char c;
        if (::read(ready[0], &c, 1) == 1) send_to(53, payload_for(42));
    });
    const std::string failure = run_in_child([&]() -> std::string {
        drop_privileges("nobody");
        if (getuid() == 0 || geteuid() == 0) return "still root";
        (void)!::write(ready[1], "x", 1);
        const auto got = collect(src, 1, milliseconds(3000));
        if (got.size() != 1) return "no packet after the drop";
        DecodedPacket d;
        if (udp_payload(got[0], d) != payload_for(42)) return "wrong payload";
        if (!src.stats().pcap_stats_ok) return "pcap_stats failed after the drop";
        return {};
    });
    ::close(ready[1]);  // unblocks the sender if the child never got that far
    sender.join();
    ::close(ready[0]);
    EXPECT_EQ(failure, "");
}

class PrivilegesTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!is_root()) GTEST_SKIP() << "dropping privileges needs root";
    }
};

TEST_F(PrivilegesTest, DropToNobodyCannotRegainRoot) {
    const std::string failure = run_in_child([]() -> std::string {
        drop_privileges("nobody");
        if (getuid() == 0 || geteuid() == 0) return "uid is still 0";
        if (getgid() == 0 || getegid() == 0) return "gid is still 0";
        if (setuid(0) == 0) return "setuid(0) succeeded";
        if (seteuid(0) == 0) return "seteuid(0) succeeded";
        gid_t groups[256];
        const int n = getgroups(256, groups);
        for (int i = 0; i < n; ++i) {
            if (groups[i] == 0) return "still in group 0";
        }
        if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return "no_new_privs not set";
        return {};
    });
    EXPECT_EQ(failure, "");
}

TEST_F(PrivilegesTest, UnknownUserThrows) {
    // The lookup comes before any change, so this is safe in the test process itself.
    try {
        drop_privileges("frag53-no-such-user");
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("frag53-no-such-user"));
        EXPECT_THAT(e.what(), HasSubstr("no such user"));
    }
    EXPECT_EQ(geteuid(), 0u);
}

TEST_F(PrivilegesTest, RootIsRefused) {
    try {
        drop_privileges("root");
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_THAT(e.what(), HasSubstr("uid 0"));
    }
}

TEST(PrivilegesUnprivilegedTest, RefusedSwitchThrowsInAChild) {
    if (!is_root()) GTEST_SKIP() << "needs root to become an unprivileged user first";
    const std::string failure = run_in_child([]() -> std::string {
        drop_privileges("nobody");
        try {
            drop_privileges("daemon");  // nobody may not become daemon
        } catch (const std::runtime_error& e) {
            if (std::string(e.what()).find("daemon") == std::string::npos) return e.what();
            return {};
        }
        return "no exception";
    });
    EXPECT_EQ(failure, "");
}

}  // namespace
}  // namespace frag53
