#include "dataplane/pcap_records.h"

#include <bit>
#include <utility>

#include "dataplane/packet.h"

namespace frag53 {

namespace {

constexpr uint32_t magic_microseconds = 0xa1b2c3d4;
constexpr uint32_t magic_nanoseconds = 0xa1b23c4d;

// Host order is what "swapped" is relative to, as in libpcap.
constexpr bool host_little_endian = std::endian::native == std::endian::little;

uint32_t swap32(uint32_t v) noexcept {
    return ((v & 0xffu) << 24) | ((v & 0xff00u) << 8) | ((v >> 8) & 0xff00u) | (v >> 24);
}
uint16_t swap16(uint16_t v) noexcept { return static_cast<uint16_t>((v << 8) | (v >> 8)); }

}  // namespace

std::optional<ClassicPcapLayout> classic_pcap_layout(Bytes file, uint32_t snapshot) noexcept {
    if (file.size() < pcap_file_header_size) return std::nullopt;
    // The fields as the host reads them, which is how libpcap reads them before deciding on a swap.
    auto host16 = [&](size_t at) {
        const unsigned a = static_cast<uint8_t>(file[at]);
        const unsigned b = static_cast<uint8_t>(file[at + 1]);
        return static_cast<uint16_t>(host_little_endian ? a | (b << 8) : (a << 8) | b);
    };
    const uint32_t stored = (uint32_t{host16(host_little_endian ? 2 : 0)} << 16) |
                            host16(host_little_endian ? 0 : 2);
    uint16_t major = host16(4);
    uint16_t minor = host16(6);

    ClassicPcapLayout layout;
    uint32_t magic = stored;
    if (magic != magic_microseconds && magic != magic_nanoseconds) {
        magic = swap32(stored);
        if (magic != magic_microseconds && magic != magic_nanoseconds) return std::nullopt;
        layout.swapped = true;
        major = swap16(major);
        minor = swap16(minor);
    }
    layout.nanoseconds = magic == magic_nanoseconds;
    // libpcap refuses versions other than 2.0 to 2.4 and 543.0 before any record is read; the
    // order below is the one it picks for each version it accepts.
    if (major == 2) {
        layout.lengths = minor < 3    ? PcapLengthOrder::len_first
                         : minor == 3 ? PcapLengthOrder::guess
                                      : PcapLengthOrder::caplen_first;
    } else if (major == 543) {
        layout.lengths = PcapLengthOrder::len_first;
    }
    layout.snapshot = snapshot;
    return layout;
}

bool pcap_records_verbatim(int dlt, bool swapped) noexcept {
    if (!swapped) return true;
    return dlt != static_cast<int>(LinkType::linux_sll) &&
           dlt != static_cast<int>(LinkType::linux_sll2);
}

PcapRecordReader::PcapRecordReader(Bytes records, const ClassicPcapLayout& layout) noexcept
    : r_(records), layout_(layout) {}

PcapReadStatus PcapRecordReader::fail(PcapReadStatus status, uint64_t wanted, uint64_t got,
                                      size_t record_start) noexcept {
    r_ = WireReader(r_.data(), record_start);  // offset() names the record that failed
    status_ = status;
    wanted_ = wanted;
    got_ = got;
    return status;
}

PcapReadStatus PcapRecordReader::next(PcapRecord& out) noexcept {
    if (status_ != PcapReadStatus::record) return status_;
    const size_t start = r_.pos();
    const size_t left = r_.remaining();
    if (left == 0) return status_ = PcapReadStatus::end;
    prefetch_ahead(start);
    if (left < pcap_record_header_size)
        return fail(PcapReadStatus::truncated_header, pcap_record_header_size, left, start);

    // The file's byte order is little-endian exactly when the host's is and it is not swapped.
    const bool little = host_little_endian != layout_.swapped;
    auto u32 = [&] { return little ? r_.u32le() : r_.u32(); };
    const uint32_t sec = u32();
    const uint32_t frac = u32();
    uint32_t caplen = u32();
    uint32_t len = u32();
    if (layout_.lengths == PcapLengthOrder::len_first ||
        (layout_.lengths == PcapLengthOrder::guess && caplen > len)) {
        std::swap(caplen, len);
    }

    // Checked before the snapshot, as libpcap does: a huge caplen is damage, not a long packet.
    if (caplen > pcap_maximum_snaplen)
        return fail(PcapReadStatus::caplen_too_big, caplen, 0, start);

    // A record longer than the snapshot is delivered cut to it and the rest is skipped. libpcap
    // reads the kept part first, so a file ending inside it reports the snapshot as what it
    // tried to read, and one ending in the skipped part reports the whole caplen.
    uint32_t keep = caplen;
    if (caplen > layout_.snapshot) {
        keep = layout_.snapshot;
        if (keep > r_.remaining())
            return fail(PcapReadStatus::truncated_data, keep, r_.remaining(), start);
    }
    if (caplen > r_.remaining())
        return fail(PcapReadStatus::truncated_data, caplen, r_.remaining(), start);
    out.data = r_.bytes(keep);
    r_.skip(caplen - keep);
    out.wire_len = len;

    // libpcap widens the two 32-bit fields to time_t and suseconds_t as signed values, except
    // that its byte swap yields unsigned ones, and scales microseconds in that width. The sum
    // wraps as frag53's sum of libpcap's fields does, so hostile stamps come out the same too.
    const int64_t seconds = layout_.swapped ? int64_t{sec} : int64_t{static_cast<int32_t>(sec)};
    int64_t fraction = layout_.swapped ? int64_t{frac} : int64_t{static_cast<int32_t>(frac)};
    if (!layout_.nanoseconds) fraction *= 1000;
    out.ts_ns = static_cast<uint64_t>(seconds) * 1'000'000'000ull + static_cast<uint64_t>(fraction);
    return PcapReadStatus::record;
}

std::string PcapRecordReader::error_message() const {
    switch (status_) {
    case PcapReadStatus::record:
    case PcapReadStatus::end:
        return {};
    case PcapReadStatus::truncated_header:
        return "truncated dump file; tried to read " + std::to_string(wanted_) +
               " header bytes, only got " + std::to_string(got_);
    case PcapReadStatus::caplen_too_big:
        // libpcap names the snapshot when the caplen is over it too, which it always is when
        // the snapshot is at most the maximum (libpcap caps it there).
        if (wanted_ > layout_.snapshot) {
            return "invalid packet capture length " + std::to_string(wanted_) +
                   ", bigger than snaplen of " + std::to_string(layout_.snapshot);
        }
        return "invalid packet capture length " + std::to_string(wanted_) +
               ", bigger than maximum of " + std::to_string(pcap_maximum_snaplen);
    case PcapReadStatus::truncated_data:
        return "truncated dump file; tried to read " + std::to_string(wanted_) +
               " captured bytes, only got " + std::to_string(got_);
    }
    return {};
}

}  // namespace frag53
