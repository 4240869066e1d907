#include "dataplane/pcap_file_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "dataplane/decode.h"

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

TEST_F(PcapFileSourceTest, BurstBuffersAreReused) {
    std::vector<Record> records;
    for (int i = 0; i < 6; ++i) records.push_back({frame(17, 53, 100, static_cast<uint8_t>(i))});
    const auto p = write_pcap("reuse.pcap", DLT_EN10MB, records);
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

}  // namespace
}  // namespace frag53
