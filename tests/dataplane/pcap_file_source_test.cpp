#include "dataplane/pcap_file_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/decode.h"
#include "dataplane/pcap_chunk_feed.h"
#include "dataplane/pcap_records.h"
#include "dataplane/unique_fd.h"

namespace frag53 {
namespace {

using ::testing::HasSubstr;

struct Record {
    std::vector<uint8_t> data;
    uint32_t wire_len = 0;  // 0: the captured length
    uint64_t ts_ns = 0;
};

// Ethernet / IPv4 / UDP (or TCP) frame, written out field by field.
std::vector<uint8_t> frame(uint8_t proto, uint16_t dport, size_t payload_len, uint8_t tag = 0) {
    std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00};
    auto u8 = [&](unsigned v) { f.push_back(static_cast<uint8_t>(v)); };
    auto u16 = [&](unsigned v) {
        u8(v >> 8);
        u8(v & 0xff);
    };
    const size_t l4_header = proto == 6 ? 20 : 8;
    const size_t total = 20 + l4_header + payload_len;
    u8(0x45), u8(0), u16(static_cast<unsigned>(total)), u16(1), u16(0), u8(64), u8(proto), u16(0);
    for (unsigned b : {192, 0, 2, 1, 192, 0, 2, 2}) u8(b);
    if (proto == 6) {
        u16(40000), u16(dport);
        for (int i = 0; i < 8; ++i) u8(0);
        u16(0x5010), u16(1024), u16(0), u16(0);
    } else {
        u16(40000), u16(dport), u16(static_cast<unsigned>(8 + payload_len)), u16(0);
    }
    for (size_t i = 0; i < payload_len; ++i) u8(tag);
    return f;
}

std::vector<uint8_t> pcapng_one_packet(const std::vector<uint8_t>& pkt, uint64_t ts_ns);

class PcapFileSourceTest : public ::testing::Test {
protected:
    void SetUp() override {
        static std::atomic<int> counter{0};
        dir_ = std::filesystem::temp_directory_path() /
               ("frag53_pcap_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string path(const std::string& name) const { return (dir_ / name).string(); }

    std::string write_pcap(const std::string& name, int dlt, const std::vector<Record>& records,
                           u_int precision = PCAP_TSTAMP_PRECISION_NANO) {
        const std::string p = path(name);
        pcap_t* dead = pcap_open_dead_with_tstamp_precision(dlt, 65535, precision);
        EXPECT_NE(dead, nullptr);
        pcap_dumper_t* dumper = pcap_dump_open(dead, p.c_str());
        EXPECT_NE(dumper, nullptr) << pcap_geterr(dead);
        const uint64_t unit = precision == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000;
        for (const Record& r : records) {
            pcap_pkthdr h{};
            h.ts.tv_sec = static_cast<time_t>(r.ts_ns / 1'000'000'000ull);
            h.ts.tv_usec = static_cast<suseconds_t>((r.ts_ns % 1'000'000'000ull) / unit);
            h.caplen = static_cast<bpf_u_int32>(r.data.size());
            h.len = r.wire_len != 0 ? r.wire_len : h.caplen;
            // libpcap's C callback signature takes the dumper as opaque user data.
            pcap_dump(reinterpret_cast<u_char*>(dumper), &h, r.data.data());
        }
        pcap_dump_close(dumper);
        pcap_close(dead);
        return p;
    }

    std::string write_bytes(const std::string& name, const std::vector<uint8_t>& bytes) {
        const std::string p = path(name);
        std::ofstream out(p, std::ios::binary);
        out.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
        return p;
    }

    static std::vector<uint8_t> read_bytes(const std::string& p) {
        std::ifstream in(p, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }

    // Drains the source in bursts of `burst`, copying what each view held.
    struct Got {
        std::vector<uint8_t> data;
        uint32_t wire_len;
        uint64_t ts_ns, frame;
        uint16_t link_type, source;
    };
    static std::vector<Got> drain(PcapFileSource& src, size_t burst = 4) {
        std::vector<Got> got;
        std::vector<PacketView> views(burst);
        for (;;) {
            const size_t n = src.receive(views);
            if (n == 0) break;
            for (size_t i = 0; i < n; ++i) {
                const PacketView& v = views[i];
                std::vector<uint8_t> bytes(v.data.size());
                for (size_t j = 0; j < v.data.size(); ++j) bytes[j] = static_cast<uint8_t>(v.data[j]);
                got.push_back({std::move(bytes), v.wire_len, v.ts_ns, v.frame, v.link_type, v.source});
            }
            src.release(std::span<const PacketView>(views.data(), n));
        }
        return got;
    }

    std::filesystem::path dir_;
};

TEST_F(PcapFileSourceTest, SeveralFilesInOrderWithContinuousFrameNumbers) {
    const auto a = write_pcap("a.pcap", DLT_EN10MB,
                              {{frame(17, 53, 10, 1), 0, 1'700'000'000'123'456'789ull},
                               {frame(17, 53, 20, 2), 0, 1'700'000'001'000'000'001ull}});
    const auto b = write_pcap("b.pcap", DLT_RAW,
                              {{{0x45, 0, 0, 20}, 0, 5}, {{0x45, 0, 0, 21}, 0, 6},
                               {{0x45, 0, 0, 22}, 0, 7}});
    PcapFileSource src({a, b});
    const auto got = drain(src, 2);
    ASSERT_EQ(got.size(), 5u);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].frame, i + 1);
    EXPECT_EQ(got[0].source, 0);
    EXPECT_EQ(got[1].source, 0);
    EXPECT_EQ(got[2].source, 1);
    EXPECT_EQ(got[4].source, 1);
    EXPECT_EQ(got[0].link_type, DLT_EN10MB);
    EXPECT_EQ(got[3].link_type, DLT_RAW);
    EXPECT_EQ(got[0].ts_ns, 1'700'000'000'123'456'789ull);  // nanoseconds kept exactly
    EXPECT_EQ(got[1].ts_ns, 1'700'000'001'000'000'001ull);
    EXPECT_EQ(got[0].data, frame(17, 53, 10, 1));
    EXPECT_EQ(got[3].data, (std::vector<uint8_t>{0x45, 0, 0, 21}));
    EXPECT_EQ(src.packets(), 5u);
    EXPECT_EQ(src.bytes(), got[0].data.size() + got[1].data.size() + 12u);
    EXPECT_EQ(src.files_read(), 2u);
    EXPECT_TRUE(src.errors().empty());
}

TEST_F(PcapFileSourceTest, MicrosecondFileIsScaledToNanoseconds) {
    const auto p = write_pcap("us.pcap", DLT_EN10MB, {{frame(17, 53, 0), 0, 1'000'000'123'456'000ull}},
                              PCAP_TSTAMP_PRECISION_MICRO);
    PcapFileSource src({p});
    const auto got = drain(src);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].ts_ns, 1'000'000'123'456'000ull);
}

TEST_F(PcapFileSourceTest, SnapLengthCutKeepsWireLength) {
    std::vector<uint8_t> full = frame(17, 53, 400);
    std::vector<uint8_t> cut(full.begin(), full.begin() + 96);
    const auto p = write_pcap("snap.pcap", DLT_EN10MB,
                              {{cut, static_cast<uint32_t>(full.size()), 0}});
    PcapFileSource src({p});
    std::array<PacketView, 1> views;
    ASSERT_EQ(src.receive(views), 1u);
    EXPECT_EQ(views[0].data.size(), 96u);
    EXPECT_EQ(views[0].wire_len, full.size());
    DecodedPacket d;
    decode_frame(views[0], d);
    EXPECT_EQ(d.status, DecodeStatus::ok);
    EXPECT_TRUE(d.snap_truncated);
    EXPECT_EQ(d.payload_wire_len, 400u);
    src.release(views);
}

TEST_F(PcapFileSourceTest, BpfFilterKeepsCaptureFrameNumbers) {
    const auto a = write_pcap("a.pcap", DLT_EN10MB,
                              {{frame(17, 53, 4)}, {frame(6, 80, 0)}, {frame(17, 53, 8)}});
    const auto b = write_pcap("b.pcap", DLT_EN10MB, {{frame(6, 443, 0)}, {frame(17, 53, 1)}});
    PcapFileSource src({a, b}, "udp port 53");
    const auto got = drain(src, 8);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].frame, 1u);
    EXPECT_EQ(got[1].frame, 3u);
    EXPECT_EQ(got[2].frame, 5u);
    EXPECT_EQ(got[2].source, 1);
    EXPECT_EQ(src.packets(), 3u);
    EXPECT_TRUE(src.errors().empty());
}

TEST_F(PcapFileSourceTest, BadFilterSkipsEveryFileWithAMessage) {
    const auto a = write_pcap("a.pcap", DLT_EN10MB, {{frame(17, 53, 4)}});
    const auto b = write_pcap("b.pcap", DLT_EN10MB, {{frame(17, 53, 4)}});
    PcapFileSource src({a, b}, "udp port banana and (");
    EXPECT_TRUE(drain(src).empty());
    ASSERT_EQ(src.errors().size(), 2u);
    for (const SourceError& e : src.errors()) {
        EXPECT_TRUE(e.file_skipped);
        EXPECT_EQ(e.packets_read, 0u);
        EXPECT_THAT(e.message, HasSubstr("filter"));
        EXPECT_THAT(e.message, HasSubstr(e.file));
    }
    EXPECT_EQ(src.errors()[0].file, a);
    EXPECT_EQ(src.errors()[1].file, b);
}

TEST_F(PcapFileSourceTest, TruncatedFileDeliversEarlierPacketsAndMovesOn) {
    const auto bad = write_pcap("cut.pcap", DLT_EN10MB,
                                {{frame(17, 53, 10)}, {frame(17, 53, 11)}, {frame(17, 53, 300)}});
    std::vector<uint8_t> bytes = read_bytes(bad);
    bytes.resize(bytes.size() - 200);  // ends inside the third record's data
    write_bytes("cut.pcap", bytes);
    const auto good = write_pcap("good.pcap", DLT_EN10MB, {{frame(17, 53, 1)}});

    PcapFileSource src({bad, good});
    const auto got = drain(src, 1);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].data, frame(17, 53, 10));
    EXPECT_EQ(got[1].data, frame(17, 53, 11));
    EXPECT_EQ(got[2].source, 1);
    EXPECT_EQ(got[2].frame, 3u);
    ASSERT_EQ(src.errors().size(), 1u);
    const SourceError& e = src.errors()[0];
    EXPECT_EQ(e.file, bad);
    EXPECT_EQ(e.packets_read, 2u);
    EXPECT_FALSE(e.file_skipped);
    EXPECT_THAT(e.message, HasSubstr("cut.pcap"));
    EXPECT_THAT(e.message, HasSubstr("after 2 packets"));
    EXPECT_THAT(e.message, HasSubstr("truncated"));  // libpcap's own words
    EXPECT_EQ(src.files_read(), 2u);
}

TEST_F(PcapFileSourceTest, FileCutInsideRecordHeader) {
    const auto bad = write_pcap("cuthdr.pcap", DLT_EN10MB, {{frame(17, 53, 10)}});
    std::vector<uint8_t> bytes = read_bytes(bad);
    const std::vector<uint8_t> half_header(bytes.begin() + 24, bytes.begin() + 24 + 8);
    bytes.insert(bytes.end(), half_header.begin(), half_header.end());
    write_bytes("cuthdr.pcap", bytes);
    PcapFileSource src({bad});
    EXPECT_EQ(drain(src).size(), 1u);
    ASSERT_EQ(src.errors().size(), 1u);
    EXPECT_EQ(src.errors()[0].packets_read, 1u);
    EXPECT_THAT(src.errors()[0].message, HasSubstr("after 1 packets"));
}

TEST_F(PcapFileSourceTest, MissingAndUnreadableFilesAreSkipped) {
    const auto missing = path("does-not-exist.pcap");
    const auto garbage = write_bytes("garbage.pcap", std::vector<uint8_t>(64, 0x42));
    const auto empty = write_bytes("empty.pcap", {});
    const auto good = write_pcap("good.pcap", DLT_EN10MB, {{frame(17, 53, 3)}});
    PcapFileSource src({missing, garbage, empty, good});
    const auto got = drain(src);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].source, 3);
    EXPECT_EQ(got[0].frame, 1u);
    ASSERT_EQ(src.errors().size(), 3u);
    EXPECT_EQ(src.errors()[0].file, missing);
    EXPECT_EQ(src.errors()[1].file, garbage);
    EXPECT_EQ(src.errors()[2].file, empty);
    for (const SourceError& e : src.errors()) {
        EXPECT_TRUE(e.file_skipped);
        EXPECT_THAT(e.message, HasSubstr(e.file));
        EXPECT_THAT(e.message, HasSubstr("cannot open"));
    }
    EXPECT_THAT(src.errors()[0].message, HasSubstr("No such file"));
}

TEST_F(PcapFileSourceTest, UnknownLinkTypeIsSkipped) {
    const auto user0 = write_pcap("user0.pcap", 147, {{{1, 2, 3, 4}}});
    const auto wifi = write_pcap("wifi.pcap", DLT_IEEE802_11, {{{1, 2, 3, 4}}});
    const auto good = write_pcap("good.pcap", DLT_LINUX_SLL2, {{{0x08, 0x00}}});
    PcapFileSource src({user0, wifi, good});
    const auto got = drain(src);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].link_type, 276);
    EXPECT_EQ(got[0].source, 2);
    EXPECT_EQ(got[0].frame, 1u);
    ASSERT_EQ(src.errors().size(), 2u);
    const SourceError& e = src.errors()[0];
    EXPECT_TRUE(e.file_skipped);
    EXPECT_EQ(e.file, user0);
    EXPECT_THAT(e.message, HasSubstr("user0.pcap"));
    EXPECT_THAT(e.message, HasSubstr("unsupported link type 147"));
    // When libpcap knows the link type, the message names it.
    EXPECT_TRUE(src.errors()[1].file_skipped);
    EXPECT_THAT(src.errors()[1].message, HasSubstr("wifi.pcap"));
    EXPECT_THAT(src.errors()[1].message, HasSubstr("IEEE802_11"));
}

TEST_F(PcapFileSourceTest, EveryDecodedLinkTypeIsAccepted) {
    std::vector<std::string> files;
    const std::vector<int> dlts = {DLT_NULL, DLT_EN10MB, DLT_RAW, DLT_LOOP, DLT_LINUX_SLL,
                                   228, 229, DLT_LINUX_SLL2};
    for (int dlt : dlts) {
        files.push_back(write_pcap("l" + std::to_string(dlt) + ".pcap", dlt, {{{0, 0, 0, 0}}}));
    }
    PcapFileSource src(files);
    const auto got = drain(src);
    EXPECT_TRUE(src.errors().empty()) << src.errors().front().message;
    ASSERT_EQ(got.size(), dlts.size());
    for (size_t i = 0; i < dlts.size(); ++i) EXPECT_EQ(got[i].link_type, dlts[i]);
}

// Packets libpcap reads are copied into one buffer per burst slot. Classic pcap files are read in
// place instead (ViewsPointIntoTheReadChunk), so this uses pcapng, which libpcap still reads.
TEST_F(PcapFileSourceTest, BurstBuffersAreReused) {
    std::vector<uint8_t> bytes;
    for (int i = 0; i < 6; ++i) {
        const auto one = pcapng_one_packet(frame(17, 53, 100, static_cast<uint8_t>(i)), 1);
        // The first packet's file brings the section and interface blocks; the rest add a block.
        bytes.insert(bytes.end(), one.begin() + (i == 0 ? 0 : 28 + 32), one.end());
    }
    const auto p = write_bytes("reuse.pcapng", bytes);
    PcapFileSource src({p});
    std::array<PacketView, 3> views;

    ASSERT_EQ(src.receive(views), 3u);
    std::array<const std::byte*, 3> first{};
    for (size_t i = 0; i < 3; ++i) first[i] = views[i].data.data();
    EXPECT_NE(first[0], first[1]);
    src.release(views);

    ASSERT_EQ(src.receive(views), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(views[i].data.data(), first[i]) << i;
        EXPECT_EQ(static_cast<uint8_t>(views[i].data.back()), 3 + i);  // refilled, not stale
    }
    src.release(views);
    EXPECT_EQ(src.receive(views), 0u);
}

TEST_F(PcapFileSourceTest, SlotGrowsForABiggerPacket) {
    const auto p = write_pcap("grow.pcap", DLT_EN10MB,
                              {{frame(17, 53, 10, 7)}, {frame(17, 53, 1400, 9)}});
    PcapFileSource src({p});
    std::array<PacketView, 1> one;
    ASSERT_EQ(src.receive(one), 1u);
    EXPECT_EQ(one[0].data.size(), frame(17, 53, 10).size());
    src.release(one);
    ASSERT_EQ(src.receive(one), 1u);
    ASSERT_EQ(one[0].data.size(), frame(17, 53, 1400).size());
    EXPECT_EQ(static_cast<uint8_t>(one[0].data.back()), 9);
    src.release(one);
}

TEST_F(PcapFileSourceTest, EmptyInputsAndEmptySpan) {
    PcapFileSource none({});
    std::array<PacketView, 4> views;
    EXPECT_EQ(none.receive(views), 0u);

    const auto p = write_pcap("one.pcap", DLT_EN10MB, {{frame(17, 53, 1)}});
    PcapFileSource src({p});
    EXPECT_EQ(src.receive(std::span<PacketView>{}), 0u);  // reads nothing
    EXPECT_EQ(src.receive(views), 1u);
    EXPECT_EQ(views[0].frame, 1u);
}

// pcapng written by hand: SHB, IDB with if_tsresol = 9 (nanoseconds), one EPB.
std::vector<uint8_t> pcapng_one_packet(const std::vector<uint8_t>& pkt, uint64_t ts_ns) {
    std::vector<uint8_t> out;
    auto u8 = [&](unsigned v) { out.push_back(static_cast<uint8_t>(v)); };
    auto u16 = [&](unsigned v) { u8(v), u8(v >> 8); };
    auto u32 = [&](uint32_t v) { u16(v & 0xffff), u16(v >> 16); };

    u32(0x0a0d0d0a), u32(28), u32(0x1a2b3c4d), u16(1), u16(0), u32(0xffffffff), u32(0xffffffff),
        u32(28);

    u32(1), u32(32), u16(1), u16(0), u32(65535);
    u16(9), u16(1), u8(9), u8(0), u8(0), u8(0);  // if_tsresol: 10^-9
    u16(0), u16(0);                              // opt_endofopt
    u32(32);

    const uint32_t padded = static_cast<uint32_t>((pkt.size() + 3) & ~size_t{3});
    const uint32_t len = 32 + padded;
    u32(6), u32(len), u32(0), u32(static_cast<uint32_t>(ts_ns >> 32)),
        u32(static_cast<uint32_t>(ts_ns & 0xffffffff));
    u32(static_cast<uint32_t>(pkt.size())), u32(static_cast<uint32_t>(pkt.size()));
    out.insert(out.end(), pkt.begin(), pkt.end());
    out.resize(out.size() + (padded - pkt.size()), 0);
    u32(len);
    return out;
}

TEST_F(PcapFileSourceTest, PcapngWithNanosecondResolution) {
    const std::vector<uint8_t> pkt = frame(17, 53, 5, 0x33);
    const uint64_t ts = 1'650'000'000'987'654'321ull;
    const auto p = write_bytes("one.pcapng", pcapng_one_packet(pkt, ts));
    PcapFileSource src({p});
    std::array<PacketView, 2> views;
    ASSERT_EQ(src.receive(views), 1u) << (src.errors().empty() ? "" : src.errors()[0].message);
    EXPECT_EQ(views[0].ts_ns, ts);
    EXPECT_EQ(views[0].link_type, DLT_EN10MB);
    EXPECT_EQ(views[0].frame, 1u);
    DecodedPacket d;
    decode_frame(views[0], d);
    EXPECT_EQ(d.status, DecodeStatus::ok);
    EXPECT_EQ(d.dport, 53);
    EXPECT_EQ(d.payload.size(), 5u);
    src.release(std::span<const PacketView>(views.data(), 1));
    EXPECT_EQ(src.receive(views), 0u);
    EXPECT_TRUE(src.errors().empty());
}

TEST_F(PcapFileSourceTest, PcapngWithBlockRunningPastTheEnd) {
    std::vector<uint8_t> bytes = pcapng_one_packet(frame(17, 53, 5), 1);
    const std::vector<uint8_t> second = pcapng_one_packet(frame(17, 53, 50), 2);
    // Append the second file's EPB, cut in half.
    const size_t epb_start = 28 + 32;
    bytes.insert(bytes.end(), second.begin() + epb_start,
                 second.begin() + static_cast<std::ptrdiff_t>(epb_start + 40));
    const auto p = write_bytes("cut.pcapng", bytes);
    PcapFileSource src({p});
    EXPECT_EQ(drain(src).size(), 1u);
    ASSERT_EQ(src.errors().size(), 1u);
    EXPECT_EQ(src.errors()[0].packets_read, 1u);
    EXPECT_FALSE(src.errors()[0].file_skipped);
    EXPECT_THAT(src.errors()[0].message, HasSubstr("cut.pcapng"));
}

// A classic pcap file written field by field in the given byte order, for files from hosts of
// the other byte order and for damage pcap_dump cannot make.
struct ClassicFile {
    bool big_endian = false;
    std::vector<uint8_t> bytes;

    void u32(uint32_t v) {
        for (int i = 0; i < 4; ++i) {
            const int shift = big_endian ? 24 - 8 * i : 8 * i;
            bytes.push_back(static_cast<uint8_t>(v >> shift));
        }
    }
    ClassicFile(bool big, uint32_t magic, uint32_t snaplen, uint32_t linktype) : big_endian(big) {
        u32(magic);
        const std::vector<uint8_t> version =
            big ? std::vector<uint8_t>{0, 2, 0, 4} : std::vector<uint8_t>{2, 0, 4, 0};
        bytes.insert(bytes.end(), version.begin(), version.end());
        u32(0), u32(0), u32(snaplen), u32(linktype);
    }
    void record(uint32_t sec, uint32_t frac, const std::vector<uint8_t>& data,
                uint32_t wire_len = 0) {
        const auto caplen = static_cast<uint32_t>(data.size());
        u32(sec), u32(frac), u32(caplen), u32(wire_len != 0 ? wire_len : caplen);
        bytes.insert(bytes.end(), data.begin(), data.end());
    }
};

TEST_F(PcapFileSourceTest, ClassicFilesAreReadInPlace) {
    const bool host_big = std::endian::native == std::endian::big;
    const auto ns = write_pcap("ns.pcap", DLT_EN10MB, {{frame(17, 53, 1, 1), 0, 5}});
    const auto us = write_pcap("us.pcap", DLT_EN10MB, {{frame(17, 53, 2, 2), 0, 7'000}},
                               PCAP_TSTAMP_PRECISION_MICRO);
    ClassicFile other(!host_big, 0xa1b23c4d, 65535, DLT_EN10MB);  // the other byte order
    other.record(1'600'000'000, 999'999'999, frame(17, 53, 3, 3), 1000);
    const auto swapped = write_bytes("swapped.pcap", other.bytes);
    const auto ng = write_bytes("one.pcapng", pcapng_one_packet(frame(17, 53, 4, 4), 9));

    PcapFileSource src({ns, us, swapped, ng});
    const auto got = drain(src);
    EXPECT_TRUE(src.errors().empty());
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(src.files_read_in_place(), 3u);  // pcapng goes through libpcap
    EXPECT_EQ(src.files_read(), 4u);
    EXPECT_EQ(got[0].data, frame(17, 53, 1, 1));
    EXPECT_EQ(got[0].ts_ns, 5u);
    EXPECT_EQ(got[1].ts_ns, 7'000u);
    EXPECT_EQ(got[2].data, frame(17, 53, 3, 3));
    EXPECT_EQ(got[2].wire_len, 1000u);
    EXPECT_EQ(got[2].ts_ns, 1'600'000'000'999'999'999ull);
    EXPECT_EQ(got[3].data, frame(17, 53, 4, 4));
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].frame, i + 1);
}

TEST_F(PcapFileSourceTest, ViewsPointIntoTheReadChunk) {
    std::vector<Record> records;
    for (int i = 0; i < 6; ++i) records.push_back({frame(17, 53, 100, static_cast<uint8_t>(i))});
    const auto p = write_pcap("inplace.pcap", DLT_EN10MB, records);
    const size_t record_size = 16 + frame(17, 53, 100).size();
    PcapFileSource src({p});
    std::array<PacketView, 3> views;
    ASSERT_EQ(src.receive(views), 3u);
    const std::byte* first = views[0].data.data();
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(views[i].data.data(), first + i * record_size);
    src.release(views);
    ASSERT_EQ(src.receive(views), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(views[i].data.data(), first + (3 + i) * record_size);  // no copy into a slot
        EXPECT_EQ(static_cast<uint8_t>(views[i].data.back()), 3 + i);
    }
    src.release(views);
    EXPECT_EQ(src.receive(views), 0u);
    EXPECT_EQ(src.files_read_in_place(), 1u);
}

// A burst that runs across the end of files keeps the finished files' chunks until the next
// receive(), so its views of them still hold their bytes after the next file was read.
TEST_F(PcapFileSourceTest, BurstSpanningFilesKeepsEarlierViews) {
    const auto a = write_pcap("a.pcap", DLT_EN10MB,
                              {{frame(17, 53, 10, 0xa1)}, {frame(17, 53, 11, 0xa2)}});
    const auto b = write_pcap("b.pcap", DLT_EN10MB, {{frame(17, 53, 12, 0xb1)}});
    const auto c = write_pcap("c.pcap", DLT_EN10MB,
                              {{frame(17, 53, 13, 0xc1)}, {frame(17, 53, 14, 0xc2)},
                               {frame(17, 53, 15, 0xc3)}});
    const std::vector<std::vector<uint8_t>> want = {
        frame(17, 53, 10, 0xa1), frame(17, 53, 11, 0xa2), frame(17, 53, 12, 0xb1),
        frame(17, 53, 13, 0xc1), frame(17, 53, 14, 0xc2), frame(17, 53, 15, 0xc3)};
    auto bytes_of = [](const PacketView& v) {
        std::vector<uint8_t> out;
        for (std::byte x : v.data) out.push_back(static_cast<uint8_t>(x));
        return out;
    };

    PcapFileSource src({a, b, c});
    std::array<PacketView, 4> views;
    ASSERT_EQ(src.receive(views), 4u);  // a's two, b's one, c's first
    EXPECT_EQ(src.files_read(), 2u);    // a and b are finished
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(bytes_of(views[i]), want[i]) << i;
        EXPECT_EQ(views[i].frame, i + 1);
    }
    EXPECT_EQ(views[2].source, 1);
    EXPECT_NE(views[0].data.data(), views[3].data.data());
    src.release(views);

    ASSERT_EQ(src.receive(views), 2u);  // c's rest
    for (size_t i = 0; i < 2; ++i) EXPECT_EQ(bytes_of(views[i]), want[4 + i]) << i;
    src.release(std::span<const PacketView>(views.data(), 2));
    EXPECT_EQ(src.receive(views), 0u);
    EXPECT_EQ(src.files_read_in_place(), 3u);
    EXPECT_TRUE(src.errors().empty());
}

// A file of several chunks, with records of every size up to the maximum running across chunk
// ends, read in bursts of an odd size: every view of a burst still holds its record's bytes when
// the burst is complete, and the packets are libpcap's, in both byte orders.
TEST_F(PcapFileSourceTest, RecordsAcrossChunksMatchLibpcap) {
    for (bool big : {false, true}) {
        ClassicFile f(big, 0xa1b23c4d, 0, DLT_EN10MB);
        uint32_t seed = 1;
        auto next = [&] { return seed = seed * 1103515245u + 12345u; };
        std::vector<uint8_t> data;
        for (uint32_t i = 0; i < 3000; ++i) {
            size_t len = (next() >> 8) % 1600;
            if (i % 500 == 7) len = 262144;  // the largest record there can be
            if (i % 97 == 3) len = 0;
            data.assign(len, 0);
            for (size_t j = 0; j < len; ++j) data[j] = static_cast<uint8_t>(i * 7 + j);
            f.record(1'700'000'000 + i, i, data, static_cast<uint32_t>(len + (i % 3)));
        }
        ASSERT_GT(f.bytes.size(), size_t{3} << 20);  // several chunks
        const auto p = write_bytes(big ? "big.pcap" : "little.pcap", f.bytes);

        // libpcap's packets, read straight from the file.
        char errbuf[PCAP_ERRBUF_SIZE] = {};
        pcap_t* lib = pcap_open_offline_with_tstamp_precision(p.c_str(), PCAP_TSTAMP_PRECISION_NANO,
                                                              errbuf);
        ASSERT_NE(lib, nullptr) << errbuf;
        std::vector<Got> want;
        pcap_pkthdr* h = nullptr;
        const u_char* d = nullptr;
        while (pcap_next_ex(lib, &h, &d) == 1) {
            want.push_back({std::vector<uint8_t>(d, d + h->caplen), h->len,
                            static_cast<uint64_t>(h->ts.tv_sec) * 1'000'000'000ull +
                                static_cast<uint64_t>(h->ts.tv_usec),
                            0, 0, 0});
        }
        pcap_close(lib);
        ASSERT_EQ(want.size(), 3000u);

        PcapFileSource src({p});
        std::vector<PacketView> views(7);
        size_t at = 0;
        for (size_t n; (n = src.receive(views)) != 0;) {
            for (size_t i = 0; i < n; ++i, ++at) {
                ASSERT_LT(at, want.size());
                const PacketView& v = views[i];
                const std::vector<uint8_t> got(reinterpret_cast<const uint8_t*>(v.data.data()),
                                               reinterpret_cast<const uint8_t*>(v.data.data()) +
                                                   v.data.size());
                ASSERT_EQ(got, want[at].data) << "packet " << at;
                EXPECT_EQ(v.wire_len, std::max<uint32_t>(want[at].wire_len,
                                                         static_cast<uint32_t>(got.size())));
                EXPECT_EQ(v.ts_ns, want[at].ts_ns);
                EXPECT_EQ(v.frame, at + 1);
            }
            src.release(std::span<const PacketView>(views.data(), n));
        }
        EXPECT_EQ(at, want.size());
        EXPECT_TRUE(src.errors().empty());
        EXPECT_EQ(src.files_read_in_place(), 1u);
    }
}

// A file that only has a header is read as a file without packets; shorter ones are left to
// libpcap, which refuses them. (Files are read, not mapped, so one truncated on disk while it is
// read only looks cut short: see pcap_file_source.h.)
TEST_F(PcapFileSourceTest, HeaderOnlyAndEmptyFiles) {
    const auto header_only = write_pcap("header.pcap", DLT_EN10MB, {});
    ASSERT_EQ(read_bytes(header_only).size(), 24u);
    const auto empty = write_bytes("empty.pcap", {});
    std::vector<uint8_t> part = read_bytes(header_only);
    part.resize(10);
    const auto partial = write_bytes("partial.pcap", part);
    const auto good = write_pcap("good.pcap", DLT_EN10MB, {{frame(17, 53, 3)}});
    PcapFileSource src({header_only, empty, partial, header_only, good});
    const auto got = drain(src);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].frame, 1u);
    EXPECT_EQ(got[0].source, 4);
    EXPECT_EQ(src.files_read(), 3u);
    EXPECT_EQ(src.files_read_in_place(), 3u);
    ASSERT_EQ(src.errors().size(), 2u);
    EXPECT_EQ(src.errors()[0].file, empty);
    EXPECT_EQ(src.errors()[1].file, partial);
    for (const SourceError& e : src.errors()) EXPECT_TRUE(e.file_skipped);
}

// A damaged classic file read in place is reported in the words libpcap uses for it, also when
// the damage is chunks away from the start.
TEST_F(PcapFileSourceTest, DamagedFilesReadInPlaceSayWhatLibpcapSays) {
    ClassicFile base(false, 0xa1b2c3d4, 64, DLT_EN10MB);
    base.record(1, 0, frame(17, 53, 10));
    base.record(2, 0, frame(17, 53, 100));  // longer than the snapshot of 64
    const size_t second = 24 + 16 + frame(17, 53, 10).size();

    std::vector<std::vector<uint8_t>> damaged;
    damaged.push_back(base.bytes);
    damaged.back().resize(second + 9);  // cut in the record header
    damaged.push_back(base.bytes);
    damaged.back().resize(second + 16 + 40);  // cut in the part kept
    damaged.push_back(base.bytes);
    damaged.back().resize(second + 16 + 90);  // cut in the part skipped
    ClassicFile huge = base;
    huge.u32(3), huge.u32(0), huge.u32(262145), huge.u32(262145);
    damaged.push_back(huge.bytes);
    ClassicFile large(false, 0xa1b2c3d4, 0, DLT_EN10MB);
    for (uint32_t i = 0; i < 2000; ++i) large.record(i, 0, frame(17, 53, 1000));
    for (size_t cut : {size_t{9}, size_t{16 + 500}}) {  // in the last header, in the last data
        damaged.push_back(large.bytes);
        damaged.back().resize(large.bytes.size() - 16 - frame(17, 53, 1000).size() + cut);
    }

    for (size_t i = 0; i < damaged.size(); ++i) {
        const auto p = write_bytes("damaged" + std::to_string(i) + ".pcap", damaged[i]);
        char errbuf[PCAP_ERRBUF_SIZE] = {};
        pcap_t* lib = pcap_open_offline_with_tstamp_precision(p.c_str(), PCAP_TSTAMP_PRECISION_NANO,
                                                              errbuf);
        ASSERT_NE(lib, nullptr) << errbuf;
        int records = 0, rc = 0;
        pcap_pkthdr* h = nullptr;
        const u_char* d = nullptr;
        while ((rc = pcap_next_ex(lib, &h, &d)) == 1) ++records;
        ASSERT_EQ(rc, PCAP_ERROR) << i;
        const std::string want =
            p + ": damaged after " + std::to_string(records) + " packets: " + pcap_geterr(lib);
        pcap_close(lib);

        PcapFileSource src({p});
        const auto got = drain(src, 1);
        EXPECT_EQ(src.files_read_in_place(), 1u);
        EXPECT_EQ(got.size(), static_cast<size_t>(records)) << i;
        ASSERT_EQ(src.errors().size(), 1u) << i;
        EXPECT_EQ(src.errors()[0].message, want) << i;
        EXPECT_EQ(src.errors()[0].packets_read, static_cast<uint64_t>(records));
        EXPECT_FALSE(src.errors()[0].file_skipped);
    }
}

// The filter sees a cut record's wire length, and records it rejects still take frame numbers.
TEST_F(PcapFileSourceTest, FilterOnFileReadInPlaceSeesWireLengths) {
    std::vector<uint8_t> full = frame(17, 53, 400);
    std::vector<uint8_t> cut(full.begin(), full.begin() + 96);
    const auto p = write_pcap("filter.pcap", DLT_EN10MB,
                              {{frame(17, 53, 1)}, {cut, static_cast<uint32_t>(full.size()), 0},
                               {frame(17, 53, 2)}});
    PcapFileSource src({p}, "greater 300");
    const auto got = drain(src);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].frame, 2u);
    EXPECT_EQ(got[0].data.size(), 96u);
    EXPECT_EQ(src.files_read_in_place(), 1u);
}

// libpcap rewrites the SocketCAN ID behind a cooked header in files from the other byte order,
// which a view of the file cannot do: such files are still read through libpcap.
TEST_F(PcapFileSourceTest, CookedCaptureFromTheOtherByteOrderIsReadThroughLibpcap) {
    const bool host_big = std::endian::native == std::endian::big;
    ClassicFile other(!host_big, 0xa1b2c3d4, 65535, DLT_LINUX_SLL);
    const std::vector<uint8_t> can = {0, 0, 0x01, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x0c,
                                      0x11, 0x22, 0x33, 0x44, 8, 0, 0, 0};
    other.record(1, 0, can);
    const auto p = write_bytes("sll.pcap", other.bytes);
    PcapFileSource src({p});
    const auto got = drain(src);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(src.files_read_in_place(), 0u);
    EXPECT_EQ(got[0].data[16], 0x44);  // the ID in this host's order, as libpcap delivers it
}

// ---- PcapChunkFeed and PcapFeedGroup ----------------------------------------------------------

// A classic little-endian file of `n` records of pseudo-random sizes up to 1,600 bytes, some
// empty; every 400th is the largest there can be when `largest` is set.
ClassicFile varied_file(uint32_t n, uint32_t seed, bool largest = false) {
    ClassicFile f(false, 0xa1b23c4d, 0, DLT_EN10MB);
    std::vector<uint8_t> data;
    for (uint32_t i = 0; i < n; ++i) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 8) % 1600;
        if (i % 97 == 3) len = 0;
        if (largest && i % 400 == 9) len = pcap_maximum_snaplen;
        data.assign(len, 0);
        for (size_t j = 0; j < len; ++j) data[j] = static_cast<uint8_t>(i * 13 + j);
        f.record(1'700'000'000 + i, i, data);
    }
    return f;
}

// The records of `bytes` (a file's, after its header) as one reader of the whole file sees them:
// each record's data and time, then the status and message it stopped with.
struct Walk {
    std::vector<std::pair<std::vector<uint8_t>, uint64_t>> records;
    PcapReadStatus status = PcapReadStatus::end;
    std::string message;
};
void walk(Bytes bytes, const ClassicPcapLayout& layout, Walk& w, bool stop_at_end = true) {
    PcapRecordReader r(bytes, layout);
    PcapRecord rec;
    PcapReadStatus st;
    while ((st = r.next(rec)) == PcapReadStatus::record) {
        const auto* d = reinterpret_cast<const uint8_t*>(rec.data.data());
        w.records.push_back({std::vector<uint8_t>(d, d + rec.data.size()), rec.ts_ns});
    }
    if (st != PcapReadStatus::end || stop_at_end) {
        w.status = st;
        w.message = r.error_message();
    }
}

UniqueFd open_at_records(const std::string& p) { return UniqueFd(::open(p.c_str(), O_RDONLY | O_CLOEXEC)); }

// The chunks of a feed, read by one reader: every chunk but the last ends where a record ends,
// a record cut by a chunk's end is carried whole into the next, and together the chunks give
// what one reader of the whole file gets, for chunk sizes below, near and above a record's size.
// The records kept with each chunk but the last are the ones a reader of the chunk walks.
TEST_F(PcapFileSourceTest, FeedChunksEndOnRecordBoundaries) {
    const ClassicFile f = varied_file(3000, 7, true);
    const auto p = write_bytes("feed.pcap", f.bytes);
    const auto layout = classic_pcap_layout(Bytes(reinterpret_cast<const std::byte*>(f.bytes.data()), 24),
                                            pcap_maximum_snaplen);
    ASSERT_TRUE(layout);
    Walk whole;
    walk(Bytes(reinterpret_cast<const std::byte*>(f.bytes.data()) + 24, f.bytes.size() - 24), *layout, whole);
    ASSERT_EQ(whole.records.size(), 3000u);
    ASSERT_EQ(whole.status, PcapReadStatus::end);

    for (size_t fill : {size_t{100}, size_t{1500}, size_t{65536}, PcapChunkFeed::default_fill}) {
        for (size_t depth : {size_t{2}, size_t{5}}) {
            PcapChunkFeed feed(open_at_records(p), 24, *layout, 1, fill, depth);
            Walk got;
            uint64_t seq = 0;
            for (;; ++seq) {
                const PcapChunkFeed::Chunk c = feed.get(seq);
                EXPECT_EQ(c.read_errno, 0);
                EXPECT_LE(c.bytes.size(), fill + PcapChunkFeed::largest_record);
                Walk part;
                walk(c.bytes, *layout, part);
                EXPECT_EQ(part.status, PcapReadStatus::end) << "chunk " << seq << " fill " << fill;
                // The records the feed kept for the chunk's readers are the walk's, but for the
                // last chunk, which its readers walk.
                if (c.last) {
                    EXPECT_TRUE(c.records.empty());
                } else {
                    Walk kept;
                    for (const ChunkRecord& r : c.records) {
                        ASSERT_LE(size_t{r.offset} + r.caplen, c.bytes.size());
                        const auto* d = reinterpret_cast<const uint8_t*>(c.bytes.data()) + r.offset;
                        kept.records.push_back({std::vector<uint8_t>(d, d + r.caplen), r.ts_ns});
                    }
                    EXPECT_EQ(kept.records, part.records) << "chunk " << seq << " fill " << fill;
                }
                got.records.insert(got.records.end(), part.records.begin(), part.records.end());
                feed.release(seq);
                if (c.last) break;
            }
            EXPECT_EQ(got.records, whole.records) << "fill " << fill;
            EXPECT_EQ(feed.chunks_read(), seq + 1);
            EXPECT_GE(seq + 1, (f.bytes.size() - 24) / (fill + PcapChunkFeed::largest_record));
            if (fill == 100) {
                EXPECT_GT(seq, 3000u) << "records larger than a fill are carried";
            }
            const PcapChunkFeed::Chunk past = feed.get(seq + 1);
            EXPECT_TRUE(past.last);
            EXPECT_TRUE(past.bytes.empty());
        }
    }
}

// Damage stops the feed where it stops a reader of the whole file: a record cut by the end of the
// file is in the last chunk, and after a caplen over the maximum nothing more is read.
TEST_F(PcapFileSourceTest, FeedEndsWhereTheDamageIs) {
    ClassicFile cut = varied_file(500, 3);
    cut.bytes.resize(cut.bytes.size() - 100);
    ClassicFile huge = varied_file(300, 4);
    huge.u32(1), huge.u32(0), huge.u32(pcap_maximum_snaplen + 1), huge.u32(pcap_maximum_snaplen + 1);
    const ClassicFile after = varied_file(2000, 5);  // a megabyte of good records behind the damage
    huge.bytes.insert(huge.bytes.end(), after.bytes.begin() + 24, after.bytes.end());

    for (const ClassicFile* f : {&cut, &huge}) {
        const auto p = write_bytes("damaged.pcap", f->bytes);
        const auto layout = classic_pcap_layout(
            Bytes(reinterpret_cast<const std::byte*>(f->bytes.data()), 24), pcap_maximum_snaplen);
        ASSERT_TRUE(layout);
        Walk whole;
        walk(Bytes(reinterpret_cast<const std::byte*>(f->bytes.data()) + 24, f->bytes.size() - 24),
             *layout, whole);
        ASSERT_NE(whole.status, PcapReadStatus::end);

        PcapChunkFeed feed(open_at_records(p), 24, *layout, 1, 4096, 3);
        Walk got;
        uint64_t seq = 0;
        for (;; ++seq) {
            const PcapChunkFeed::Chunk c = feed.get(seq);
            walk(c.bytes, *layout, got, c.last);
            feed.release(seq);
            if (c.last) break;
        }
        EXPECT_EQ(got.records, whole.records);
        EXPECT_EQ(got.status, whole.status);
        EXPECT_EQ(got.message, whole.message);
        EXPECT_EQ(feed.chunks_read(), seq + 1);
        if (f == &huge) {
            EXPECT_LT(seq, 200u) << "the feed stopped at the damage";
        }
    }
}

// A read that fails ends the feed with an empty last chunk carrying the error (a directory
// cannot be read).
TEST_F(PcapFileSourceTest, FeedReadErrorIsTheLastChunk) {
    PcapChunkFeed feed(UniqueFd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)), 24,
                       ClassicPcapLayout{}, 1);
    const PcapChunkFeed::Chunk c = feed.get(0);
    EXPECT_TRUE(c.last);
    EXPECT_TRUE(c.bytes.empty());
    EXPECT_EQ(c.read_errno, EISDIR);
}

// Two readers on their own threads each get every chunk, and the file is read once for both.
// A reader that leaves early does not hold the other back.
TEST_F(PcapFileSourceTest, FeedReadersShareEachChunkAndMayLeave) {
    const ClassicFile f = varied_file(4000, 11);
    const auto p = write_bytes("shared.pcap", f.bytes);
    const auto layout = classic_pcap_layout(Bytes(reinterpret_cast<const std::byte*>(f.bytes.data()), 24),
                                            pcap_maximum_snaplen);
    ASSERT_TRUE(layout);
    auto read_all = [&](PcapChunkFeed& feed, uint64_t stop_after, std::vector<uint8_t>& out) {
        for (uint64_t seq = 0;; ++seq) {
            if (seq == stop_after) {
                feed.leave(seq);
                return;
            }
            const PcapChunkFeed::Chunk c = feed.get(seq);
            const auto* b = reinterpret_cast<const uint8_t*>(c.bytes.data());
            out.insert(out.end(), b, b + c.bytes.size());
            feed.release(seq);
            if (c.last) return;
        }
    };
    const std::vector<uint8_t> records(f.bytes.begin() + 24, f.bytes.end());
    {
        PcapChunkFeed feed(open_at_records(p), 24, *layout, 2, 8192, 3);
        std::vector<uint8_t> a, b;
        std::thread other([&] { read_all(feed, UINT64_MAX, b); });
        read_all(feed, UINT64_MAX, a);
        other.join();
        EXPECT_EQ(a, records);
        EXPECT_EQ(b, records);
        EXPECT_LT(feed.chunks_read(), (records.size() / 8192) * 2) << "read once, not per reader";
        EXPECT_GE(feed.chunks_read(), records.size() / (8192 + PcapChunkFeed::largest_record));
    }
    {
        PcapChunkFeed feed(open_at_records(p), 24, *layout, 2, 8192, 2);
        std::vector<uint8_t> a, b;
        read_all(feed, 1, a);  // takes one chunk and leaves: the other reads on alone
        read_all(feed, UINT64_MAX, b);
        EXPECT_EQ(b, records);
        EXPECT_LT(a.size(), records.size());
    }
}

// Sources sharing a group on their own threads get the same packets as a source reading alone,
// in every mix of files: classic ones read through one feed, pcapng and missing ones that every
// reader skips.
TEST_F(PcapFileSourceTest, SourcesSharingFeedsMatchASourceAlone) {
    const auto big = write_bytes("big.pcap", varied_file(6000, 21, true).bytes);
    const auto ng = write_bytes("one.pcapng", pcapng_one_packet(frame(17, 53, 4, 4), 9));
    const auto small = write_pcap("small.pcap", DLT_EN10MB, {{frame(17, 53, 5, 5), 0, 11}});
    const std::vector<std::string> files = {big, ng, path("missing.pcap"), small, big};

    PcapFileSource alone(files);
    const auto want = drain(alone, 5);
    ASSERT_EQ(want.size(), 12002u);

    for (uint32_t readers : {2u, 3u}) {
        auto group = std::make_shared<PcapFeedGroup>(readers);
        std::vector<std::unique_ptr<PcapFileSource>> sources;
        for (uint32_t i = 0; i < readers; ++i)
            sources.push_back(std::make_unique<PcapFileSource>(files, "", group));
        std::vector<std::vector<Got>> got(readers);
        std::vector<std::thread> threads;
        for (uint32_t i = 0; i < readers; ++i)
            threads.emplace_back([&, i] { got[i] = drain(*sources[i], 3 + 4 * i); });
        for (auto& t : threads) t.join();
        for (uint32_t i = 0; i < readers; ++i) {
            ASSERT_EQ(got[i].size(), want.size()) << i;
            for (size_t k = 0; k < want.size(); ++k) {
                ASSERT_EQ(got[i][k].data, want[k].data) << i << " " << k;
                ASSERT_EQ(got[i][k].frame, want[k].frame);
                ASSERT_EQ(got[i][k].ts_ns, want[k].ts_ns);
                ASSERT_EQ(got[i][k].source, want[k].source);
            }
            EXPECT_EQ(sources[i]->files_read_in_place(), 3u);
            EXPECT_EQ(sources[i]->errors().size(), 1u);
        }
    }
}

// A source that stops early (destroyed in the middle of a file) leaves that file's feed and every
// later one, so the sources that read on are not held back.
TEST_F(PcapFileSourceTest, SourceStoppingEarlyDoesNotHoldTheOthers) {
    const auto a = write_bytes("a.pcap", varied_file(3000, 31).bytes);
    const auto b = write_bytes("b.pcap", varied_file(3000, 32).bytes);
    PcapFileSource alone({a, b, a});
    const auto want = drain(alone, 8);

    for (size_t stop_at : {size_t{1}, size_t{2000}, size_t{3500}}) {
        auto group = std::make_shared<PcapFeedGroup>(2);
        PcapFileSource stays({a, b, a}, "", group);
        size_t seen = 0;
        std::thread other([&] {
            PcapFileSource goes({a, b, a}, "", group);
            std::array<PacketView, 8> views;
            while (seen < stop_at) {
                const size_t n = goes.receive(views);
                if (n == 0) break;
                seen += n;
                goes.release(std::span<const PacketView>(views.data(), n));
            }
        });
        const auto got = drain(stays, 8);
        other.join();
        EXPECT_GE(seen, stop_at);
        ASSERT_EQ(got.size(), want.size()) << stop_at;
        for (size_t k = 0; k < want.size(); ++k) ASSERT_EQ(got[k].data, want[k].data) << k;
    }
}

// A burst of the largest records runs over more chunks than a reader may hold at once: it ends
// early instead of waiting for a chunk the feed cannot read until the burst's own are released.
// Alone and with readers sharing the feeds.
TEST_F(PcapFileSourceTest, BurstOfLargeRecordsEndsAtTheChunksAReaderMayHold) {
    ClassicFile f(false, 0xa1b2c3d4, 0, DLT_EN10MB);
    std::vector<uint8_t> data(pcap_maximum_snaplen);
    for (uint32_t i = 0; i < 40; ++i) {
        data[0] = static_cast<uint8_t>(i);
        f.record(i, 0, data);
    }
    const auto p = write_bytes("jumbo.pcap", f.bytes);
    auto check = [&](PcapFileSource& src) {
        std::vector<PacketView> views(64);
        size_t total = 0, bursts = 0;
        for (size_t n; (n = src.receive(views)) != 0; ++bursts) {
            for (size_t i = 0; i < n; ++i) {
                EXPECT_EQ(views[i].data.size(), pcap_maximum_snaplen);
                EXPECT_EQ(static_cast<uint8_t>(views[i].data[0]), total + i) << "views still hold their bytes";
            }
            total += n;
            src.release(std::span<const PacketView>(views.data(), n));
        }
        EXPECT_EQ(total, 40u);
        EXPECT_GT(bursts, 1u);
        EXPECT_TRUE(src.errors().empty());
    };
    {
        PcapFileSource alone({p});
        check(alone);
    }
    auto group = std::make_shared<PcapFeedGroup>(2);
    PcapFileSource a({p}, "", group), b({p}, "", group);
    std::thread other([&] { check(b); });
    check(a);
    other.join();
}

}  // namespace
}  // namespace frag53
