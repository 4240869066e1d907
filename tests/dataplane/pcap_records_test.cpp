#include "dataplane/pcap_records.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <bit>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace frag53 {
namespace {

constexpr uint32_t magic_us = 0xa1b2c3d4;
constexpr uint32_t magic_ns = 0xa1b23c4d;

// A classic pcap file written field by field in either byte order, so files from big-endian
// hosts and old versions can be made on any host.
struct PcapFileWriter {
    bool swapped = false;
    std::vector<uint8_t> out;

    void u16(uint16_t v) {
        const bool little = (std::endian::native == std::endian::little) != swapped;
        const uint8_t lo = static_cast<uint8_t>(v & 0xff), hi = static_cast<uint8_t>(v >> 8);
        if (little) {
            out.push_back(lo), out.push_back(hi);
        } else {
            out.push_back(hi), out.push_back(lo);
        }
    }
    void u32(uint32_t v) {
        const bool little = (std::endian::native == std::endian::little) != swapped;
        u16(static_cast<uint16_t>(little ? v & 0xffff : v >> 16));
        u16(static_cast<uint16_t>(little ? v >> 16 : v & 0xffff));
    }
    void header(uint32_t magic, uint32_t snaplen, uint32_t linktype = 1, uint16_t major = 2,
                uint16_t minor = 4) {
        u32(magic), u16(major), u16(minor), u32(0), u32(0), u32(snaplen), u32(linktype);
    }
    // Length fields as stored: which one libpcap takes for caplen depends on the version.
    void record(uint32_t sec, uint32_t frac, uint32_t field3, uint32_t field4,
                const std::vector<uint8_t>& data) {
        u32(sec), u32(frac), u32(field3), u32(field4);
        out.insert(out.end(), data.begin(), data.end());
    }
};

std::vector<uint8_t> bytes_of(size_t n, uint8_t first = 0) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(first + i);
    return v;
}

struct Seen {
    std::vector<uint8_t> data;
    uint32_t wire_len = 0;
    uint64_t ts_ns = 0;
    bool operator==(const Seen&) const = default;
};

// What a reader made of a file: the records, then an empty error (clean end) or libpcap's words.
struct Outcome {
    bool opened = false;
    int dlt = 0;
    uint32_t snapshot = 0;
    std::vector<Seen> records;
    std::string error;
};

// The reference: libpcap reading the same bytes from memory, as PcapFileSource opens files.
Outcome read_with_libpcap(std::vector<uint8_t> file) {
    Outcome o;
    if (file.empty()) return o;
    std::FILE* fp = fmemopen(file.data(), file.size(), "rb");
    if (fp == nullptr) return o;
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (p == nullptr) {
        std::fclose(fp);
        o.error = errbuf;
        return o;
    }
    o.opened = true;
    o.dlt = pcap_datalink(p);
    o.snapshot = static_cast<uint32_t>(pcap_snapshot(p));
    for (;;) {
        pcap_pkthdr* h = nullptr;
        const u_char* d = nullptr;
        const int rc = pcap_next_ex(p, &h, &d);
        if (rc == PCAP_ERROR_BREAK) break;
        if (rc != 1) {
            o.error = pcap_geterr(p);
            break;
        }
        Seen s;
        s.data.assign(d, d + h->caplen);
        s.wire_len = h->len;
        // The same sum PcapFileSource makes of libpcap's fields.
        s.ts_ns = static_cast<uint64_t>(h->ts.tv_sec) * 1'000'000'000ull +
                  static_cast<uint64_t>(h->ts.tv_usec);
        o.records.push_back(std::move(s));
    }
    pcap_close(p);  // closes fp
    return o;
}

Outcome read_with_parser(const std::vector<uint8_t>& file, uint32_t snapshot) {
    Outcome o;
    const Bytes bytes = as_bytes(file.data(), file.size());
    const auto layout = classic_pcap_layout(bytes, snapshot);
    if (!layout) return o;
    o.opened = true;
    o.snapshot = snapshot;
    PcapRecordReader reader(bytes.subspan(pcap_file_header_size), *layout);
    PcapRecord rec;
    PcapReadStatus st;
    while ((st = reader.next(rec)) == PcapReadStatus::record) {
        Seen s;
        for (std::byte b : rec.data) s.data.push_back(static_cast<uint8_t>(b));
        s.wire_len = rec.wire_len;
        s.ts_ns = rec.ts_ns;
        o.records.push_back(std::move(s));
    }
    o.error = reader.error_message();
    if (st != PcapReadStatus::end && o.error.empty()) o.error = "error without a message";
    return o;
}

// Same records and the same ending; on a difference, says where.
::testing::AssertionResult same_as_libpcap(const std::vector<uint8_t>& file,
                                           Outcome* reference = nullptr) {
    const Outcome want = read_with_libpcap(file);
    if (reference != nullptr) *reference = want;
    if (!want.opened) return ::testing::AssertionFailure() << "libpcap refused: " << want.error;
    const Outcome got = read_with_parser(file, want.snapshot);
    if (!got.opened) return ::testing::AssertionFailure() << "not taken for a classic pcap file";
    const size_t n = std::min(want.records.size(), got.records.size());
    for (size_t i = 0; i < n; ++i) {
        const Seen& a = want.records[i];
        const Seen& b = got.records[i];
        if (a == b) continue;
        return ::testing::AssertionFailure()
               << "record " << i << ": libpcap caplen " << a.data.size() << " len " << a.wire_len
               << " ts " << a.ts_ns << ", parser caplen " << b.data.size() << " len "
               << b.wire_len << " ts " << b.ts_ns
               << (a.data.size() == b.data.size() && a.data != b.data ? " (bytes differ)" : "");
    }
    if (want.records.size() != got.records.size() || want.error != got.error) {
        return ::testing::AssertionFailure()
               << "libpcap: " << want.records.size() << " records then '" << want.error
               << "'; parser: " << got.records.size() << " records then '" << got.error << "'";
    }
    return ::testing::AssertionSuccess();
}

TEST(ClassicPcapLayoutTest, EachMagicInEachByteOrder) {
    for (bool swapped : {false, true}) {
        for (uint32_t magic : {magic_us, magic_ns}) {
            PcapFileWriter w{swapped, {}};
            w.header(magic, 65535);
            const auto layout = classic_pcap_layout(as_bytes(w.out.data(), w.out.size()), 1000);
            ASSERT_TRUE(layout.has_value());
            EXPECT_EQ(layout->swapped, swapped);
            EXPECT_EQ(layout->nanoseconds, magic == magic_ns);
            EXPECT_EQ(layout->lengths, PcapLengthOrder::caplen_first);
            EXPECT_EQ(layout->snapshot, 1000u);  // libpcap's figure, not the header's
        }
    }
}

TEST(ClassicPcapLayoutTest, OtherFilesAreLeftToLibpcap) {
    PcapFileWriter kuznetzov;
    kuznetzov.header(0xa1b2cd34, 65535);
    EXPECT_FALSE(classic_pcap_layout(as_bytes(kuznetzov.out.data(), 24), 65535));
    const std::vector<uint8_t> pcapng = {0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b,
                                         0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 28, 0, 0, 0};
    EXPECT_FALSE(classic_pcap_layout(as_bytes(pcapng.data(), pcapng.size()), 65535));
    PcapFileWriter good;
    good.header(magic_us, 65535);
    EXPECT_FALSE(classic_pcap_layout(as_bytes(good.out.data(), 23), 65535));  // header cut short
    EXPECT_FALSE(classic_pcap_layout({}, 65535));
}

TEST(ClassicPcapLayoutTest, LengthOrderFollowsTheVersion) {
    struct Case {
        uint16_t major, minor;
        PcapLengthOrder want;
    };
    for (const Case& c : {Case{2, 4, PcapLengthOrder::caplen_first},
                          Case{2, 3, PcapLengthOrder::guess}, Case{2, 2, PcapLengthOrder::len_first},
                          Case{2, 0, PcapLengthOrder::len_first},
                          Case{543, 0, PcapLengthOrder::len_first}}) {
        for (bool swapped : {false, true}) {
            PcapFileWriter w{swapped, {}};
            w.header(magic_us, 65535, 1, c.major, c.minor);
            const auto layout = classic_pcap_layout(as_bytes(w.out.data(), w.out.size()), 65535);
            ASSERT_TRUE(layout.has_value());
            EXPECT_EQ(layout->lengths, c.want) << c.major << "." << c.minor;
        }
    }
}

TEST(ClassicPcapLayoutTest, CookedCapturesFromTheOtherByteOrderAreNotVerbatim) {
    EXPECT_TRUE(pcap_records_verbatim(DLT_EN10MB, true));
    EXPECT_TRUE(pcap_records_verbatim(DLT_LINUX_SLL, false));
    EXPECT_FALSE(pcap_records_verbatim(DLT_LINUX_SLL, true));
    EXPECT_FALSE(pcap_records_verbatim(DLT_LINUX_SLL2, true));
}

// The reason for the rule above: libpcap rewrites a SocketCAN ID behind a Linux cooked header
// when the file is from the other byte order, so its bytes are not the file's.
TEST(ClassicPcapLayoutTest, LibpcapRewritesSwappedSocketCan) {
    PcapFileWriter w{true, {}};
    w.header(magic_us, 65535, DLT_LINUX_SLL);
    std::vector<uint8_t> pkt = {0, 0, 0x01, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x0c,
                                0x11, 0x22, 0x33, 0x44, 8, 0, 0, 0};  // SLL, protocol CAN, id
    w.record(1, 2, static_cast<uint32_t>(pkt.size()), static_cast<uint32_t>(pkt.size()), pkt);
    const Outcome lib = read_with_libpcap(w.out);
    ASSERT_EQ(lib.records.size(), 1u) << lib.error;
    const Outcome parsed = read_with_parser(w.out, lib.snapshot);
    ASSERT_EQ(parsed.records.size(), 1u);
    EXPECT_EQ(parsed.records[0].data, pkt);
    EXPECT_NE(lib.records[0].data, pkt);
    EXPECT_EQ(lib.records[0].data[16], 0x44);  // the ID in this host's order
}

TEST(PcapRecordReaderTest, RecordsInOrderThenEnd) {
    for (bool swapped : {false, true}) {
        PcapFileWriter w{swapped, {}};
        w.header(magic_ns, 65535);
        w.record(1'700'000'000, 123'456'789, 3, 60, {1, 2, 3});
        w.record(1'700'000'001, 5, 0, 0, {});  // zero-length records are records
        w.record(1'700'000'002, 0, 2, 2, {9, 8});
        const Bytes file = as_bytes(w.out.data(), w.out.size());
        PcapRecordReader r(file.subspan(24), *classic_pcap_layout(file, 65535));
        PcapRecord rec;
        ASSERT_EQ(r.next(rec), PcapReadStatus::record);
        ASSERT_EQ(rec.data.size(), 3u);
        EXPECT_EQ(static_cast<uint8_t>(rec.data[2]), 3);
        EXPECT_EQ(rec.data.data(), file.data() + 24 + 16);  // a view of the file, not a copy
        EXPECT_EQ(rec.wire_len, 60u);
        EXPECT_EQ(rec.ts_ns, 1'700'000'000'123'456'789ull);
        ASSERT_EQ(r.next(rec), PcapReadStatus::record);
        EXPECT_TRUE(rec.data.empty());
        EXPECT_EQ(rec.ts_ns, 1'700'000'001'000'000'005ull);
        ASSERT_EQ(r.next(rec), PcapReadStatus::record);
        EXPECT_EQ(rec.data.size(), 2u);
        EXPECT_EQ(r.next(rec), PcapReadStatus::end);
        EXPECT_EQ(r.next(rec), PcapReadStatus::end);
        EXPECT_EQ(r.error_message(), "");
        EXPECT_EQ(r.offset(), w.out.size() - 24);
        EXPECT_TRUE(same_as_libpcap(w.out));
    }
}

TEST(PcapRecordReaderTest, MicrosecondsAreScaled) {
    PcapFileWriter w;
    w.header(magic_us, 65535);
    w.record(1'000'000'123, 456'789, 1, 1, {0});
    const Bytes file = as_bytes(w.out.data(), w.out.size());
    PcapRecordReader r(file.subspan(24), *classic_pcap_layout(file, 65535));
    PcapRecord rec;
    ASSERT_EQ(r.next(rec), PcapReadStatus::record);
    EXPECT_EQ(rec.ts_ns, 1'000'000'123'456'789'000ull);
    EXPECT_TRUE(same_as_libpcap(w.out));
}

TEST(PcapRecordReaderTest, HeaderOnlyAndEmpty) {
    PcapFileWriter w;
    w.header(magic_us, 65535);
    const Bytes file = as_bytes(w.out.data(), w.out.size());
    PcapRecordReader r(file.subspan(24), *classic_pcap_layout(file, 65535));
    PcapRecord rec;
    EXPECT_EQ(r.next(rec), PcapReadStatus::end);
    EXPECT_TRUE(same_as_libpcap(w.out));
    PcapRecordReader none;
    EXPECT_EQ(none.next(rec), PcapReadStatus::end);
}

TEST(PcapRecordReaderTest, RecordHeaderCutShort) {
    PcapFileWriter w;
    w.header(magic_us, 65535);
    w.record(1, 0, 2, 2, {7, 7});
    w.out.insert(w.out.end(), {1, 2, 3, 4, 5});
    const Bytes file = as_bytes(w.out.data(), w.out.size());
    PcapRecordReader r(file.subspan(24), *classic_pcap_layout(file, 65535));
    PcapRecord rec;
    ASSERT_EQ(r.next(rec), PcapReadStatus::record);
    EXPECT_EQ(r.next(rec), PcapReadStatus::truncated_header);
    EXPECT_EQ(r.next(rec), PcapReadStatus::truncated_header);  // sticky
    EXPECT_EQ(r.error_message(), "truncated dump file; tried to read 16 header bytes, only got 5");
    EXPECT_TRUE(same_as_libpcap(w.out));
}

TEST(PcapRecordReaderTest, CapturedBytesCutShort) {
    PcapFileWriter w;
    w.header(magic_us, 65535);
    w.record(1, 0, 100, 100, bytes_of(40));
    const Bytes file = as_bytes(w.out.data(), w.out.size());
    PcapRecordReader r(file.subspan(24), *classic_pcap_layout(file, 65535));
    PcapRecord rec;
    EXPECT_EQ(r.next(rec), PcapReadStatus::truncated_data);
    EXPECT_EQ(r.error_message(),
              "truncated dump file; tried to read 100 captured bytes, only got 40");
    EXPECT_TRUE(same_as_libpcap(w.out));
}

// After an error offset() is where the record that could not be read starts, so a reader of a
// file in chunks can carry those bytes over to the next chunk.
TEST(PcapRecordReaderTest, OffsetStaysAtTheUnfinishedRecord) {
    PcapFileWriter w;
    w.header(magic_us, 64);
    w.record(1, 0, 4, 4, bytes_of(4));
    const size_t second = w.out.size() - 24;
    w.record(2, 0, 100, 100, bytes_of(100));
    for (size_t cut : {size_t{5}, size_t{16 + 30}, size_t{16 + 90}}) {
        const Bytes file = as_bytes(w.out.data(), 24 + second + cut);
        PcapRecordReader r(file.subspan(24), *classic_pcap_layout(file, 64));
        PcapRecord rec;
        ASSERT_EQ(r.next(rec), PcapReadStatus::record);
        EXPECT_EQ(r.offset(), second);
        EXPECT_NE(r.next(rec), PcapReadStatus::record);
        EXPECT_EQ(r.offset(), second) << cut;
    }
    PcapFileWriter huge;
    huge.header(magic_us, 64);
    huge.record(1, 0, 262145, 262145, {});
    const Bytes file = as_bytes(huge.out.data(), huge.out.size());
    PcapRecordReader r(file.subspan(24), *classic_pcap_layout(file, 64));
    PcapRecord rec;
    EXPECT_EQ(r.next(rec), PcapReadStatus::caplen_too_big);
    EXPECT_EQ(r.offset(), 0u);
}

TEST(PcapRecordReaderTest, CaplenOverTheMaximum) {
    for (uint32_t snaplen : {0u, 65535u, 262144u}) {
        PcapFileWriter w;
        w.header(magic_us, snaplen);
        w.record(1, 0, pcap_maximum_snaplen + 1, 70000, bytes_of(64));
        const Outcome lib = read_with_libpcap(w.out);
        const Bytes file = as_bytes(w.out.data(), w.out.size());
        PcapRecordReader r(file.subspan(24), *classic_pcap_layout(file, lib.snapshot));
        PcapRecord rec;
        EXPECT_EQ(r.next(rec), PcapReadStatus::caplen_too_big);
        EXPECT_EQ(r.error_message(), lib.error);
        EXPECT_TRUE(same_as_libpcap(w.out)) << snaplen;
    }
    // The maximum itself is a length like any other.
    PcapFileWriter w;
    w.header(magic_us, 0);
    w.record(1, 0, pcap_maximum_snaplen, pcap_maximum_snaplen, bytes_of(pcap_maximum_snaplen));
    const Outcome lib = read_with_libpcap(w.out);
    ASSERT_EQ(lib.records.size(), 1u) << lib.error;
    EXPECT_TRUE(same_as_libpcap(w.out));
}

TEST(PcapRecordReaderTest, RecordLongerThanTheSnapshotIsCut) {
    PcapFileWriter w;
    w.header(magic_us, 64);
    w.record(1, 0, 100, 1500, bytes_of(100));
    w.record(2, 0, 10, 10, bytes_of(10, 0xa0));
    const Bytes file = as_bytes(w.out.data(), w.out.size());
    const Outcome lib = read_with_libpcap(w.out);
    ASSERT_EQ(lib.snapshot, 64u);
    PcapRecordReader r(file.subspan(24), *classic_pcap_layout(file, lib.snapshot));
    PcapRecord rec;
    ASSERT_EQ(r.next(rec), PcapReadStatus::record);
    EXPECT_EQ(rec.data.size(), 64u);
    EXPECT_EQ(rec.wire_len, 1500u);
    ASSERT_EQ(r.next(rec), PcapReadStatus::record);  // the skipped 36 bytes are not a record
    EXPECT_EQ(static_cast<uint8_t>(rec.data[0]), 0xa0);
    EXPECT_EQ(r.next(rec), PcapReadStatus::end);
    EXPECT_TRUE(same_as_libpcap(w.out));

    // Cut inside the kept part, then inside the skipped part: libpcap names different lengths.
    std::vector<uint8_t> in_kept(w.out.begin(), w.out.begin() + 24 + 16 + 30);
    EXPECT_EQ(read_with_parser(in_kept, 64).error,
              "truncated dump file; tried to read 64 captured bytes, only got 30");
    EXPECT_TRUE(same_as_libpcap(in_kept));
    std::vector<uint8_t> in_skipped(w.out.begin(), w.out.begin() + 24 + 16 + 80);
    EXPECT_EQ(read_with_parser(in_skipped, 64).error,
              "truncated dump file; tried to read 100 captured bytes, only got 80");
    EXPECT_TRUE(same_as_libpcap(in_skipped));
}

TEST(PcapRecordReaderTest, OldVersionsStoreLenFirst) {
    for (uint16_t minor : {uint16_t{2}, uint16_t{3}}) {
        PcapFileWriter w;
        w.header(magic_us, 65535, 1, 2, minor);
        w.record(1, 0, 60, 4, bytes_of(4));  // len 60 first, caplen 4
        w.record(1, 0, 4, 60, bytes_of(4));  // 2.3: the other order is taken as it stands
        const Outcome got = read_with_parser(w.out, 65535);
        if (minor == 3) {
            ASSERT_EQ(got.records.size(), 2u) << got.error;
            EXPECT_EQ(got.records[1].wire_len, 60u);
        }
        ASSERT_GE(got.records.size(), 1u) << got.error;
        EXPECT_EQ(got.records[0].data.size(), 4u);
        EXPECT_EQ(got.records[0].wire_len, 60u);
        EXPECT_TRUE(same_as_libpcap(w.out)) << minor;
    }
}

// libpcap sign-extends the stamp fields of files in host order but not of swapped ones.
TEST(PcapRecordReaderTest, HostileTimestampsComeOutAsFromLibpcap) {
    for (bool swapped : {false, true}) {
        for (uint32_t magic : {magic_us, magic_ns}) {
            PcapFileWriter w{swapped, {}};
            w.header(magic, 65535);
            for (uint32_t v : {0u, 999'999u, 1'000'000u, 999'999'999u, 1'000'000'000u, 4'294'967u,
                               4'294'968u, 0x7fffffffu, 0x80000000u, 0xffffffffu}) {
                w.record(v, v, 0, 0, {});
                w.record(0xffffffffu - v, v ^ 0x80000000u, 0, 0, {});
            }
            EXPECT_TRUE(same_as_libpcap(w.out)) << std::hex << magic << " swapped " << swapped;
        }
    }
}

// Random files in both byte orders, both magics, every accepted version, snapshots smaller than
// some records, zero-length and over-long records, each cut at every byte of its last two records:
// the parser and libpcap must agree on every record and on the error.
TEST(PcapRecordReaderTest, RandomFilesCutAnywhereMatchLibpcap) {
    std::mt19937 rng(20240611);
    auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
    struct Version {
        uint16_t major, minor;
    };
    const Version versions[] = {{2, 4}, {2, 4}, {2, 4}, {2, 3}, {2, 2}, {2, 0}, {543, 0}};
    const uint32_t snaplens[] = {0, 16, 64, 100, 1500, 65535, 262144, 262145, 0xffffffff};
    const uint32_t huge_caplens[] = {262144, 262145, 300000, 0x7fffffff, 0xffffffff};
    const uint32_t linktypes[] = {DLT_EN10MB, DLT_EN10MB, 101, DLT_NULL, DLT_LINUX_SLL, 276};

    size_t files = 0, cuts = 0, with_error = 0, header_cut = 0, data_cut = 0, too_big = 0,
           snapshot_cut = 0;
    for (int iteration = 0; iteration < 1000; ++iteration) {
        const bool swapped = pick(2) == 1;
        PcapFileWriter w{swapped, {}};
        const Version v = versions[pick(std::size(versions))];
        uint32_t snaplen = snaplens[pick(std::size(snaplens))];
        if (pick(4) == 0) snaplen = 1 + pick(200);
        uint32_t linktype = linktypes[pick(std::size(linktypes))];
        if (!pcap_records_verbatim(static_cast<int>(linktype), swapped)) linktype = DLT_EN10MB;
        w.header(pick(2) == 1 ? magic_ns : magic_us, snaplen, linktype, v.major, v.minor);

        std::vector<size_t> starts;
        const uint32_t count = pick(7);
        for (uint32_t i = 0; i < count; ++i) {
            starts.push_back(w.out.size());
            uint32_t caplen = pick(5) == 0 ? 0 : pick(150);
            if (pick(12) == 0) caplen = 150 + pick(1500);
            uint32_t len = caplen;
            switch (pick(4)) {
            case 0: len = caplen + pick(2000); break;
            case 1: len = caplen == 0 ? 0 : pick(caplen); break;  // caplen > len
            case 2: len = pick(3) == 0 ? 0 : len; break;
            default: break;
            }
            const uint32_t sec = pick(8) == 0 ? static_cast<uint32_t>(rng()) : 1'700'000'000 + pick(100);
            const uint32_t frac = pick(8) == 0 ? static_cast<uint32_t>(rng()) : pick(1'000'000);
            std::vector<uint8_t> data(caplen);
            for (uint8_t& b : data) b = static_cast<uint8_t>(rng());
            // Fields in the order this version stores them; for 2.3 either order occurs.
            const bool len_first = v.major == 543 || (v.major == 2 && v.minor < 3) ||
                                   (v.major == 2 && v.minor == 3 && pick(2) == 0);
            if (len_first) {
                w.record(sec, frac, len, caplen, data);
            } else {
                w.record(sec, frac, caplen, len, data);
            }
        }
        if (pick(10) == 0) {  // a final record claiming a huge caplen, with a little data
            starts.push_back(w.out.size());
            const uint32_t caplen = huge_caplens[pick(std::size(huge_caplens))];
            w.record(1, 2, caplen, caplen, bytes_of(pick(64)));
        }

        ++files;
        const size_t from = starts.size() >= 2 ? starts[starts.size() - 2]
                            : starts.empty()   ? pcap_file_header_size
                                               : starts.front();
        for (size_t cut = from; cut <= w.out.size(); ++cut) {
            const std::vector<uint8_t> file(w.out.begin(),
                                            w.out.begin() + static_cast<std::ptrdiff_t>(cut));
            Outcome reference;
            ASSERT_TRUE(same_as_libpcap(file, &reference))
                << "file " << iteration << " cut at " << cut << " of " << w.out.size();
            ++cuts;
            if (!reference.error.empty()) ++with_error;
            if (reference.error.find("header bytes") != std::string::npos) ++header_cut;
            if (reference.error.find("captured bytes") != std::string::npos) ++data_cut;
            if (reference.error.find("invalid packet capture length") != std::string::npos) {
                ++too_big;
            }
            for (const Seen& r : reference.records) {
                if (r.data.size() == reference.snapshot && r.wire_len > reference.snapshot) {
                    ++snapshot_cut;
                }
            }
        }
    }
    // Clean ends, every kind of error and snapshot cuts were all compared, many times each.
    EXPECT_GT(cuts, 10000u);
    EXPECT_GT(cuts - with_error, 1000u);
    EXPECT_GT(header_cut, 1000u);
    EXPECT_GT(data_cut, 1000u);
    EXPECT_GT(too_big, 100u);
    EXPECT_GT(snapshot_cut, 100u);
    std::printf("compared %zu files at %zu cut points: %zu clean ends, %zu in a record header, "
                "%zu in captured bytes, %zu huge caplens; %zu records cut to the snapshot\n",
                files, cuts, cuts - with_error, header_cut, data_cut, too_big, snapshot_cut);
}

}  // namespace
}  // namespace frag53
