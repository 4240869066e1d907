#include "dataplane/pcap_live_source.h"

#include <pcap/pcap.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "dataplane/pcap_handle.h"
#include "dataplane/unique_fd.h"

namespace frag53 {
namespace {


// pcap_activate's status codes say more than pcap_geterr does for the common operator mistakes.
std::string activate_error(const std::string& interface_name, int status, const char* detail) {
    std::string what;
    switch (status) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
        what = "no such interface";
        break;
    case PCAP_ERROR_PERM_DENIED:
        what = "permission denied (capture needs root or CAP_NET_RAW)";
        break;
    case PCAP_ERROR_PROMISC_PERM_DENIED:
        what = "promiscuous mode not permitted (needs CAP_NET_ADMIN; or disable promiscuous mode)";
        break;
    case PCAP_ERROR_IFACE_NOT_UP:
        what = "interface is down";
        break;
    case PCAP_ERROR_RFMON_NOTSUP:
        what = "monitor mode not supported";
        break;
    default:
        what = pcap_statustostr(status);
        break;
    }
    std::string message = "live capture on '" + interface_name + "': " + what;
    if (detail != nullptr && *detail != '\0') message += ": " + std::string(detail);
    return message;
}

std::string activate_warning(const std::string& interface_name, int status, const char* detail) {
    std::string what;
    switch (status) {
    case PCAP_WARNING_PROMISC_NOTSUP:
        what = "promiscuous mode not supported; capturing only traffic for this host";
        break;
    case PCAP_WARNING_TSTAMP_TYPE_NOTSUP:
        what = "timestamp type not supported; using the default";
        break;
    default:
        what = pcap_statustostr(status);
        break;
    }
    std::string message = "live capture on '" + interface_name + "': " + what;
    if (detail != nullptr && *detail != '\0') message += ": " + std::string(detail);
    return message;
}

// libpcap keeps its statistics in 32-bit counters that wrap; this keeps a 64-bit total.
void widen(uint64_t& total, uint32_t& last_raw, u_int raw) noexcept {
    const auto now = static_cast<uint32_t>(raw);
    total += static_cast<uint32_t>(now - last_raw);
    last_raw = now;
}

}  // namespace

struct PcapLiveSource::Impl {
    PcapHandle pcap;
    UniqueFd stop_event;  // eventfd: stop() writes it so a poll() in receive() wakes up
    int pcap_fd = -1;
    uint64_t ts_unit_ns = 1;  // 1 with nanosecond timestamps, 1000 when only microseconds
    uint16_t link_type = 0;
    uint16_t source = 0;
    size_t max_caplen = 65535;
    uint64_t next_frame = 1;

    // One buffer per burst slot, grown on demand and never shrunk: after warm-up a burst
    // allocates nothing.
    std::vector<std::vector<std::byte>> slots;
    // The burst being filled by the pcap_dispatch callback.
    std::span<PacketView> out;
    size_t filled = 0;

    PcapLiveStats stats;
    uint32_t raw_recv = 0, raw_drop = 0, raw_ifdrop = 0;

    static void on_packet(u_char* user, const pcap_pkthdr* hdr, const u_char* data) noexcept;
};

// Called by libpcap for each packet inside pcap_dispatch; `data` is valid only until it returns.
void PcapLiveSource::Impl::on_packet(u_char* user, const pcap_pkthdr* hdr,
                                     const u_char* data) noexcept {
    // libpcap hands our own pointer back as opaque user data.
    Impl& s = *reinterpret_cast<Impl*>(user);
    if (s.filled >= s.out.size()) return;  // pcap_dispatch was asked for at most this many
    const size_t caplen = std::min<size_t>(hdr->caplen, s.max_caplen);

    std::vector<std::byte>& buf = s.slots[s.filled];
    if (buf.size() < caplen) {
        try {
            // Power-of-two steps up to the snap length, so a slot grows only a few times.
            buf.resize(std::min(std::max<size_t>(std::bit_ceil(caplen), 2048), s.max_caplen));
        } catch (...) {
            ++s.stats.copy_failed;
            return;
        }
    }
    std::memcpy(buf.data(), data, caplen);

    PacketView& v = s.out[s.filled++];
    v.data = Bytes(buf.data(), caplen);
    v.wire_len = std::max<uint32_t>(hdr->len, static_cast<uint32_t>(caplen));
    // With nanosecond precision tv_usec holds nanoseconds.
    v.ts_ns = static_cast<uint64_t>(hdr->ts.tv_sec) * 1'000'000'000ull +
              static_cast<uint64_t>(hdr->ts.tv_usec) * s.ts_unit_ns;
    v.frame = s.next_frame++;
    v.link_type = s.link_type;
    v.source = s.source;

    ++s.stats.packets;
    s.stats.bytes += caplen;
}

PcapLiveSource::PcapLiveSource(PcapLiveOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
    const std::string& name = options_.interface_name;
    auto fail = [&](const std::string& what) {
        throw std::runtime_error("live capture on '" + name + "': " + what);
    };
    if (options_.snaplen <= 0 || options_.snaplen > 262144) fail("snap length must be 1..262144");
    if (options_.buffer_bytes <= 0) fail("kernel buffer size must be positive");
    if (options_.timeout_ms <= 0) fail("read timeout must be at least 1 ms");

    char errbuf[PCAP_ERRBUF_SIZE] = {};
    PcapHandle p(pcap_create(name.c_str(), errbuf));
    if (!p) fail(std::string("cannot create capture: ") + errbuf);
    pcap_t* h = p.get();

    // These only fail on an activated handle; checked anyway so a libpcap change is not silent.
    if (pcap_set_snaplen(h, options_.snaplen) != 0 ||
        pcap_set_promisc(h, options_.promiscuous ? 1 : 0) != 0 ||
        pcap_set_timeout(h, options_.timeout_ms) != 0 ||
        pcap_set_buffer_size(h, options_.buffer_bytes) != 0 ||
        pcap_set_immediate_mode(h, options_.immediate ? 1 : 0) != 0) {
        fail(std::string("cannot configure capture: ") + pcap_geterr(h));
    }
    if (pcap_set_tstamp_precision(h, PCAP_TSTAMP_PRECISION_NANO) != 0) {
        warnings_.push_back("live capture on '" + name +
                            "': nanosecond timestamps not supported; using microseconds");
    }

    const int status = pcap_activate(h);
    if (status < 0) throw std::runtime_error(activate_error(name, status, pcap_geterr(h)));
    if (status > 0) warnings_.push_back(activate_warning(name, status, pcap_geterr(h)));

    const int dlt = pcap_datalink(h);
    if (!link_type_supported(dlt)) {
        fail("unsupported link type " + std::to_string(dlt) + " (" + link_type_name(dlt) + ")");
    }

    if (!options_.bpf_filter.empty()) {
        // The netmask only matters for filters that say "broadcast".
        bpf_u_int32 net = 0, mask = 0;
        if (pcap_lookupnet(name.c_str(), &net, &mask, errbuf) != 0) mask = PCAP_NETMASK_UNKNOWN;
        BpfProgram program;
        if (pcap_compile(h, program.get(), options_.bpf_filter.c_str(), 1, mask) != 0) {
            fail("bad filter '" + options_.bpf_filter + "': " + pcap_geterr(h));
        }
        program.set_compiled();
        if (pcap_setfilter(h, program.get()) != 0) {
            fail("cannot install filter '" + options_.bpf_filter + "': " + pcap_geterr(h));
        }
    }

    // Non-blocking reads plus our own poll(): the wait is ours, so it ends on a timeout with
    // nothing captured (receive_or_idle; a TPACKET_V3 ring never wakes a reader for an empty
    // block) and on stop()'s eventfd (libpcap closes its own wake-up eventfd in this mode).
    if (pcap_setnonblock(h, 1, errbuf) != 0) fail(std::string("cannot set non-blocking: ") + errbuf);
    const int fd = pcap_get_selectable_fd(h);
    if (fd < 0) fail("no selectable file descriptor");
    UniqueFd stop_event(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (stop_event.get() < 0) fail(std::string("eventfd: ") + std::strerror(errno));

    Impl& s = *impl_;
    s.pcap_fd = fd;
    s.ts_unit_ns = pcap_get_tstamp_precision(h) == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000;
    s.link_type = static_cast<uint16_t>(dlt);
    s.source = options_.source_index;
    s.max_caplen = static_cast<size_t>(options_.snaplen);
    s.stop_event = std::move(stop_event);
    s.pcap = std::move(p);
    link_type_ = s.link_type;
}

PcapLiveSource::~PcapLiveSource() = default;

size_t PcapLiveSource::receive(std::span<PacketView> out) { return read_burst(out, false); }

size_t PcapLiveSource::receive_or_idle(std::span<PacketView> out) noexcept {
    return read_burst(out, true);
}

size_t PcapLiveSource::read_burst(std::span<PacketView> out, bool return_when_idle) noexcept {
    Impl& s = *impl_;
    auto fail = [&](const char* what, const std::string& detail) noexcept {
        try {
            error_ = "live capture on '" + options_.interface_name + "': " + what + ": " + detail;
        } catch (...) {
        }
        stopped_.store(true, std::memory_order_release);
    };

    if (out.empty()) return 0;
    if (s.slots.size() < out.size()) {
        try {
            s.slots.resize(out.size());
        } catch (...) {
            if (s.slots.empty()) {
                fail("cannot allocate burst slots", "out of memory");
                return 0;
            }
        }
    }
    s.out = out.first(std::min(out.size(), s.slots.size()));
    int socket_errors = 0;

    for (;;) {
        if (stopped()) return 0;
        s.filled = 0;
        // Take what the ring holds, up to a full burst; never wait for the burst to fill.
        while (s.filled < s.out.size()) {
            const int want = static_cast<int>(std::min<size_t>(s.out.size() - s.filled, 1 << 30));
            // libpcap hands the pointer back to on_packet as opaque user data.
            const int rc = pcap_dispatch(s.pcap.get(), want, &Impl::on_packet,
                                         reinterpret_cast<u_char*>(&s));
            if (rc == 0 || rc == PCAP_ERROR_BREAK) break;  // ring empty / stop() broke the loop
            if (rc < 0) {
                fail("read failed", pcap_geterr(s.pcap.get()));
                break;
            }
        }
        // Packets already copied are delivered even when stop() came meanwhile; the next call
        // returns 0.
        if (s.filled > 0) return s.filled;
        if (stopped()) return 0;

        pollfd fds[2] = {{s.pcap_fd, POLLIN, 0}, {s.stop_event.get(), POLLIN, 0}};
        const int ready = ::poll(fds, 2, options_.timeout_ms);
        if (ready < 0 && errno != EINTR) {
            fail("poll failed", std::strerror(errno));
            return 0;
        }
        if (ready > 0 && (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0 &&
            (fds[0].revents & POLLIN) == 0) {
            // pcap_dispatch normally reports the reason (interface went down or disappeared) on
            // the next pass; if it does not, give up rather than spin on the error.
            if (++socket_errors > 1) {
                fail("capture socket error", "poll reported an error on the capture socket");
                return 0;
            }
        }
        if (ready == 0 && return_when_idle) return 0;
    }
}

void PcapLiveSource::release(std::span<const PacketView>) noexcept {
    // Each burst slot owns its buffer and the next receive() refills it, so there is nothing to
    // hand back: a view stays valid exactly until the next receive().
}

void PcapLiveSource::stop() noexcept {
    stopped_.store(true, std::memory_order_release);
    // write(2) on an eventfd and pcap_breakloop are both safe in a signal handler.
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(impl_->stop_event.get(), &one, sizeof one);
    pcap_breakloop(impl_->pcap.get());
}

PcapLiveStats PcapLiveSource::stats() noexcept {
    Impl& s = *impl_;
    pcap_stat ps{};
    if (pcap_stats(s.pcap.get(), &ps) == 0) {
        widen(s.stats.pcap_received, s.raw_recv, ps.ps_recv);
        widen(s.stats.pcap_dropped, s.raw_drop, ps.ps_drop);
        widen(s.stats.pcap_if_dropped, s.raw_ifdrop, ps.ps_ifdrop);
        s.stats.pcap_stats_ok = true;
    } else {
        s.stats.pcap_stats_ok = false;
    }
    return s.stats;
}

int PcapLiveSource::selectable_fd() const noexcept { return impl_->pcap_fd; }

}  // namespace frag53
