#include "dataplane/pcap_shard.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "dataplane/decode.h"
#include "dataplane/ip_address.h"
#include "dataplane/pcap_chunk_feed.h"
#include "dataplane/pcap_file_source.h"
#include "dataplane/pcap_writer.h"

namespace frag53 {
namespace {

// Ethernet / IPv4 / UDP from 198.18.0.a to 198.18.1.b (or back), or an ARP frame.
std::vector<std::byte> frame(uint8_t a, uint8_t b, bool back, bool arp = false) {
    std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, arp ? uint8_t{0x06} : uint8_t{0x00}};
    if (arp) {
        f.resize(f.size() + 28, 0x11);
    } else {
        const std::array<uint8_t, 4> x{198, 18, 0, a}, y{198, 18, 1, b};
        const auto& src = back ? y : x;
        const auto& dst = back ? x : y;
        std::vector<uint8_t> ip = {0x45, 0, 0, 20 + 8 + 4, 0, 1, 0, 0, 64, 17, 0, 0};
        ip.insert(ip.end(), src.begin(), src.end());
        ip.insert(ip.end(), dst.begin(), dst.end());
        f.insert(f.end(), ip.begin(), ip.end());
        const std::vector<uint8_t> udp = {0x9c, 0x40, 0, 53, 0, 12, 0, 0, 1, 2, 3, 4};
        f.insert(f.end(), udp.begin(), udp.end());
    }
    std::vector<std::byte> out(f.size());
    for (size_t i = 0; i < f.size(); ++i) out[i] = std::byte{f[i]};
    return out;
}

class PcapShardTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() / ("frag53_shard_test_" + std::to_string(getpid()));
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // Two files of random flows (both directions) and a few ARP frames; the second file starts
    // earlier than the first ends.
    std::vector<std::string> write_files(size_t per_file) {
        std::vector<std::string> paths;
        std::mt19937 rng(3);
        for (int file = 0; file < 2; ++file) {
            const std::string path = (dir_ / ("f" + std::to_string(file) + ".pcap")).string();
            PcapWriter w(path, 1);
            for (size_t i = 0; i < per_file; ++i) {
                const auto bytes = frame(static_cast<uint8_t>(rng() % 40), static_cast<uint8_t>(rng() % 3), rng() % 2,
                                         i % 97 == 0);
                PacketView v;
                v.data = Bytes(bytes.data(), bytes.size());
                v.wire_len = static_cast<uint32_t>(bytes.size());
                v.ts_ns = 1'000'000'000ull * (file == 0 ? 100 : 10) + i * 1000;
                w.write(v);
            }
            EXPECT_TRUE(w.flush());
            paths.push_back(path);
        }
        return paths;
    }
    std::filesystem::path dir_;
};

struct Seen {
    uint64_t frame;
    uint64_t ts_ns;
    bool mine;
    uint32_t owner;  // the shard of the frame's address pair (0 without one)
};

std::vector<Seen> read_all(PcapShard& s, uint32_t count, uint64_t max_frame_step = 0) {
    std::vector<Seen> out;
    std::array<PacketView, 64> views;
    std::array<bool, 64> mine;
    uint64_t max_frame = max_frame_step ? max_frame_step : ~uint64_t{0};
    for (;;) {
        ReplayShard::Stop why;
        const size_t n = s.next(views, mine, max_frame, why);
        for (size_t i = 0; i < n; ++i) {
            EXPECT_LE(views[i].frame, max_frame);
            out.push_back({views[i].frame, views[i].ts_ns, mine[i], PcapShard::shard_of(views[i], count)});
        }
        s.release({views.data(), n});
        if (why == ReplayShard::Stop::end) {
            EXPECT_EQ(n, 0u);
            break;
        }
        if (why == ReplayShard::Stop::ahead) max_frame += max_frame_step;  // the others caught up
    }
    return out;
}

// Every shard reads every frame, in order and numbered alike, and owns exactly the frames of its
// address pairs; together the shards own every frame once.
TEST_F(PcapShardTest, EveryShardReadsEverythingAndOwnsItsShare) {
    const auto files = write_files(3000);
    for (uint32_t count : {1u, 2u, 3u}) {
        std::vector<std::vector<Seen>> seen;
        for (uint32_t i = 0; i < count; ++i) {
            PcapShard s(files, "", i, count);
            seen.push_back(read_all(s, count, i == 1 ? 100 : 0));
            EXPECT_EQ(s.packets_read(), 6000u);
            EXPECT_TRUE(s.errors().empty());
        }
        std::vector<size_t> owned(count, 0);
        for (uint32_t i = 0; i < count; ++i) {
            ASSERT_EQ(seen[i].size(), 6000u) << count;
            for (size_t k = 0; k < seen[i].size(); ++k) {
                EXPECT_EQ(seen[i][k].frame, k + 1);
                EXPECT_EQ(seen[i][k].ts_ns, seen[0][k].ts_ns);
                EXPECT_EQ(seen[i][k].mine, seen[i][k].owner == i);
                owned[i] += seen[i][k].mine;
            }
        }
        size_t total = 0;
        for (size_t o : owned) total += o;
        EXPECT_EQ(total, 6000u);
        if (count > 1) {
            for (size_t o : owned) EXPECT_GT(o, 300u) << "pairs spread over the shards";
        }
    }
}

// Both directions of a pair belong to one shard; a frame without IP addresses to shard 0.
TEST_F(PcapShardTest, PairsStayTogetherAndNonIpGoesToShardZero) {
    for (uint8_t a = 0; a < 50; ++a) {
        for (uint32_t count : {2u, 3u, 4u}) {
            const auto there = frame(a, 1, false), back = frame(a, 1, true);
            PacketView v1, v2;
            v1.data = Bytes(there.data(), there.size());
            v2.data = Bytes(back.data(), back.size());
            EXPECT_EQ(PcapShard::shard_of(v1, count), PcapShard::shard_of(v2, count));
            IpAddress s, d;
            ASSERT_TRUE(frame_addresses(v1, s, d));
            EXPECT_EQ(PcapShard::shard_of(v1, count), symmetric_pair_hash(s, d) % count);
        }
    }
    const auto arp = frame(0, 0, false, true);
    PacketView v;
    v.data = Bytes(arp.data(), arp.size());
    EXPECT_EQ(PcapShard::shard_of(v, 3), 0u);
}

// The feed works each record's share out as it cuts the chunks: the views a source hands out carry
// pair_shard of their bytes for the group's shard count, and no share without one. A file's last
// chunk is left to its readers (it may end in damage), so its frames carry none either.
TEST_F(PcapShardTest, TheFeedWorksOutEachFramesShare) {
    const auto files = write_files(40000);  // 2.4 MB each: two whole chunks and a last one
    for (uint32_t shards : {0u, 2u, 3u}) {
        PcapFileSource source(files, "", std::make_shared<PcapFeedGroup>(1, shards));
        std::array<PacketView, 64> views;
        size_t seen = 0, with = 0, nonzero = 0;
        for (size_t n; (n = source.receive(views)) != 0;) {
            for (size_t i = 0; i < n; ++i, ++seen) {
                if (views[i].shard == PacketView::no_shard) continue;
                ++with;
                ASSERT_EQ(views[i].shard, pair_shard(views[i], shards)) << views[i].frame;
                nonzero += views[i].shard != 0;
            }
        }
        EXPECT_EQ(seen, 80000u);
        EXPECT_EQ(source.files_read_in_place(), 2u);
        if (shards == 0) {
            EXPECT_EQ(with, 0u);
        } else {
            EXPECT_GT(with, 60000u) << "all but the last chunk of each file";
            EXPECT_LT(with, 80000u);
            EXPECT_GT(nonzero, with / 4) << "shares other than 0";
        }
    }
}

// Shares worked out for another shard count are not taken: the shard works its own out.
TEST_F(PcapShardTest, SharesOfAnotherCountAreNotTaken) {
    const auto files = write_files(2000);
    for (uint32_t i = 0; i < 2; ++i) {
        PcapShard s(files, "", i, 2, std::make_shared<PcapFeedGroup>(1, 3));
        for (const Seen& x : read_all(s, 2)) EXPECT_EQ(x.mine, x.owner == i) << x.frame;
    }
}

// A frame bound stops the shard before the frame, and reading resumes there.
TEST_F(PcapShardTest, StopsAtTheFrameBound) {
    const auto files = write_files(500);
    PcapShard s(files, "", 0, 2);
    std::array<PacketView, 64> views;
    std::array<bool, 64> mine;
    ReplayShard::Stop why;
    size_t got = 0;
    while (got < 10) {
        const size_t n = s.next(views, mine, 10, why);
        got += n;
        if (why == ReplayShard::Stop::ahead) break;
    }
    EXPECT_EQ(got, 10u);
    EXPECT_EQ(why, ReplayShard::Stop::ahead);
    EXPECT_EQ(s.next(views, mine, 10, why), 0u);
    EXPECT_EQ(why, ReplayShard::Stop::ahead);
    const size_t n = s.next(views, mine, 11, why);
    ASSERT_EQ(n, 1u);
    EXPECT_EQ(views[0].frame, 11u);
}

// A missing file is reported as the plain source reports it, by every shard; the rest is read.
TEST_F(PcapShardTest, ErrorsAreThoseOfTheFiles) {
    auto files = write_files(10);
    files.insert(files.begin() + 1, (dir_ / "missing.pcap").string());
    for (uint32_t i = 0; i < 2; ++i) {
        PcapShard s(files, "", i, 2);
        const auto seen = read_all(s, 2);
        EXPECT_EQ(seen.size(), 20u);
        ASSERT_EQ(s.errors().size(), 1u);
        EXPECT_NE(s.errors()[0].message.find("missing.pcap"), std::string::npos);
    }
}

}  // namespace
}  // namespace frag53
