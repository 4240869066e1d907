// libFuzzer target for PcapChunkFeed. The input is a whole pcap file. It is cut into chunks with
// a small fill (1 to 4,096 bytes, chosen by the input's size, so records are cut at every place
// and carried over several chunks), and the records of the chunks, one after the other, must be
// those a PcapRecordReader finds walking the whole file at once: the same bytes, lengths and time
// stamps, every chunk but the last ending where a record does, and the last ending with the same
// status and message. The records the cutter keeps for a chunk's readers (every chunk's but the
// last) must be the ones that walk finds in the chunk. Any difference traps.
//
// Every input is cut by a PcapChunkCutter on this thread, into 2 to 4 buffers used in turn, as the
// feed's slots are. One input in 64 is also read through a PcapChunkFeed with its own thread: a
// thread and its hand-overs cost milliseconds under ASan (context switches, and the TLB
// shoot-downs of ASan's madvise), the cutting microseconds; at one in 16 the threads were most of
// the run. The feed's threading has its own tests (TSan in scripts/test).
//
// The same inputs as pcap_records_fuzz (whole small pcap files), so its corpus seeds this one.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/decode.h"
#include "dataplane/packet.h"
#include "dataplane/pcap_chunk_feed.h"
#include "dataplane/pcap_records.h"
#include "dataplane/unique_fd.h"

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

struct Seen {
    std::vector<uint8_t> bytes;
    uint32_t wire_len;
    uint64_t ts_ns;
    bool operator==(const Seen&) const = default;
};

// Walks `bytes` to the end or an error; returns the status it stopped with.
frag53::PcapReadStatus walk(frag53::Bytes bytes, const frag53::ClassicPcapLayout& layout,
                            std::vector<Seen>& out, std::string& message) {
    frag53::PcapRecordReader r(bytes, layout);
    frag53::PcapRecord rec;
    frag53::PcapReadStatus st;
    while ((st = r.next(rec)) == frag53::PcapReadStatus::record) {
        const auto* d = reinterpret_cast<const uint8_t*>(rec.data.data());
        out.push_back({std::vector<uint8_t>(d, d + rec.data.size()), rec.wire_len, rec.ts_ns});
    }
    message = r.error_message();
    return st;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < frag53::pcap_file_header_size) return 0;
    const frag53::Bytes file = frag53::as_bytes(data, size);
    // Records longer than the snapshot are cut to it: one input in three.
    const uint32_t snapshot = size % 3 == 0 ? 64 : frag53::pcap_maximum_snaplen;
    const auto layout = frag53::classic_pcap_layout(file, snapshot);
    if (!layout) return 0;

    std::vector<Seen> want;
    std::string want_message;
    const frag53::PcapReadStatus want_status =
        walk(file.subspan(frag53::pcap_file_header_size), *layout, want, want_message);

    frag53::UniqueFd fd(memfd_create("pcap_chunk_feed_fuzz", MFD_CLOEXEC));
    if (!fd) return 0;
    for (size_t done = 0; done < size;) {
        const ssize_t n = write(fd.get(), data + done, size - done);
        if (n <= 0) return 0;
        done += static_cast<size_t>(n);
    }
    const uint32_t mix = static_cast<uint32_t>(size * 2654435761u);
    const size_t fill = 1 + mix % 4096;
    const size_t depth = 2 + size % 3;

    // The records of each chunk, in turn, against the whole file's.
    std::vector<Seen> got;
    std::string message;
    frag53::PcapReadStatus status = frag53::PcapReadStatus::end;
    auto take = [&](frag53::Bytes bytes, bool last, uint64_t seq) {
        check(bytes.size() <= fill + frag53::PcapChunkFeed::largest_record);
        status = walk(bytes, *layout, got, message);
        if (!last) check(status == frag53::PcapReadStatus::end);
        check(seq < size + 2);  // every chunk but the last reads at least one byte
    };
    auto compare = [&] {
        check(got == want);
        check(status == want_status);
        check(message == want_message);
        got.clear();
        message.clear();
    };

    {
        // Every other input has its records' shares worked out (of 2 or 3, over Ethernet or a
        // raw IP link), each checked against pair_shard of the record's bytes.
        frag53::RecordSharding sharding;
        if (mix % 2 == 0) {
            sharding.link_type = static_cast<uint16_t>(mix % 3 == 0 ? frag53::LinkType::raw
                                                                    : frag53::LinkType::ethernet);
            sharding.shards = 2 + (mix >> 8) % 2;
        }
        frag53::PcapChunkCutter cutter(fd.get(), frag53::pcap_file_header_size, *layout, fill,
                                       sharding);
        // Allocated once, for the largest fill (a fresh 260 KB buffer per input costs more than
        // the input). Each chunk ends where its buffer does, so ASan sees a write past capacity().
        constexpr size_t most = 4096 + frag53::PcapChunkFeed::largest_record;
        static std::vector<std::unique_ptr<std::byte[]>> bufs = [] {
            std::vector<std::unique_ptr<std::byte[]>> v;
            for (int i = 0; i < 4; ++i) v.emplace_back(new std::byte[most]);
            return v;
        }();
        // The records the cutter keeps must be those its readers would walk.
        static std::vector<frag53::ChunkRecord> records;
        if (records.capacity() < cutter.max_records()) records.reserve(cutter.max_records());
        for (uint64_t seq = 0;; ++seq) {
            std::byte* b = bufs[seq % depth].get() + (most - cutter.capacity());
            const frag53::PcapChunkCutter::Cut c = cutter.cut(b, &records);
            check(c.read_errno == 0);
            const size_t before = got.size();
            take(frag53::Bytes(b, c.len), c.last, seq);
            if (c.last) {
                check(records.empty());
                break;
            }
            check(records.size() == got.size() - before);
            for (size_t i = 0; i < records.size(); ++i) {
                const frag53::ChunkRecord& r = records[i];
                const Seen& w = got[before + i];
                check(size_t{r.offset} + r.caplen <= c.len);
                const auto* d = reinterpret_cast<const uint8_t*>(b) + r.offset;
                check(std::vector<uint8_t>(d, d + r.caplen) == w.bytes);
                check(r.wire_len == w.wire_len && r.ts_ns == w.ts_ns);
                frag53::PacketView v;
                v.data = frag53::Bytes(b + r.offset, r.caplen);
                v.link_type = sharding.link_type;
                check(r.shard == (sharding.on() ? frag53::pair_shard(v, sharding.shards) : 0));
            }
        }
        compare();
    }

    if ((mix >> 16) % 64 == 0) {
        frag53::PcapChunkFeed feed(std::move(fd), frag53::pcap_file_header_size, *layout, 1, fill,
                                   depth);
        for (uint64_t seq = 0;; ++seq) {
            const frag53::PcapChunkFeed::Chunk c = feed.get(seq);
            check(c.read_errno == 0);
            const size_t before = got.size();
            take(c.bytes, c.last, seq);
            check(c.last ? c.records.empty() : c.records.size() == got.size() - before);
            feed.release(seq);
            if (c.last) break;
        }
        compare();
    }
    return 0;
}
