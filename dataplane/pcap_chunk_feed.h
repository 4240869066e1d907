// Reads a classic pcap file ahead of the readers that walk its records, on a thread of its own,
// in chunks that end on a record boundary.
//
// The kernel's copy of the file into user memory is a fifth of a one-worker `frag53 analyze`.
// With a feed it runs on another core while the worker analyzes the chunk before, and the replay
// workers of `analyze -j N` walk the same chunks instead of each copying the whole file.
//
// Every chunk but the file's last holds whole records: the feed walks each chunk's record headers
// with PcapRecordReader, as its readers do, and carries a record cut by the chunk's end over to
// the front of the next chunk. The last chunk holds all that is left, so a reader meets damage
// where a reader of the whole file would: a record cut by the end of the file, or a caplen over
// the maximum (the feed reads no further). A read that fails ends the feed with an empty last
// chunk that carries the errno.
//
// Bounded: `depth` chunks, each at most fill + largest_record bytes, allocated when first filled. A chunk
// is refilled once every reader has released it, so the readers are at most `depth` chunks apart
// and the feed at most `depth` chunks ahead of the slowest. Every reader must read each chunk and
// release it, or leave().
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "dataplane/pcap_records.h"
#include "dataplane/unique_fd.h"

namespace frag53 {

// A record of a chunk, as PcapRecordReader gave it to the cutter: where its captured bytes sit in
// the chunk, and its lengths and stamp. The cutter has to walk every record header of a chunk to
// find where the chunk ends; it keeps what it read, so the chunk's readers need not walk the
// headers again (that walk was 6 % of a one-worker `frag53 analyze`).
struct ChunkRecord {
    uint32_t offset = 0;    // of the captured bytes, in the chunk
    uint32_t caplen = 0;
    uint32_t wire_len = 0;  // PcapRecord::wire_len
    uint32_t shard = 0;     // with RecordSharding: the frame's share (else 0); fills the padding
    uint64_t ts_ns = 0;     // PcapRecord::ts_ns
};

// The replay workers of `analyze -j N` each read every frame and analyze those of their share of
// address pairs: symmetric_pair_hash(src, dst) % shards, 0 for a frame without IP addresses
// (PcapShard::shard_of). The cutter, which walks every record anyway, works the share out once
// for all of them: on the comparison capture with two workers, 40 M instructions fewer on each
// worker and 64 M more on the feed's thread.
struct RecordSharding {
    uint16_t link_type = 0;
    uint32_t shards = 0;  // 0 or 1: no shares worked out
    bool on() const noexcept { return shards > 1; }
};

// What a PcapChunkFeed does for each chunk, on the caller's thread: reads the next `fill` bytes of
// the file into a buffer, after the start of a record the previous chunk cut, and ends the chunk
// after its last whole record. The feed runs one on its thread; the fuzz target drives one
// directly, so every input tests the cutting without starting a thread.
class PcapChunkCutter {
public:
    PcapChunkCutter(int fd, uint64_t offset, const ClassicPcapLayout& layout, size_t fill,
                    RecordSharding sharding = {});

    // Bytes a chunk's buffer must hold: the fill after the carried start of a record.
    size_t capacity() const noexcept { return capacity_; }

    struct Cut {
        size_t len = 0;      // bytes readers see: whole records, or all that is left if `last`
        bool last = false;   // the file ended, a read failed, or a caplen over the maximum
        int read_errno = 0;  // a read failed (len is then 0)
    };
    // Fills `buf` (capacity() bytes) with the next chunk. The previous chunk's buffer must be
    // another one, unchanged since its cut(): the carried record is copied from its end. After
    // a cut that was `last`, cut() must not be called again.
    //
    // `records`, when given, receives every record of a chunk that is not the last, in order:
    // exactly what a PcapRecordReader over the chunk's `len` bytes gives before its clean end,
    // each with its share when the cutter was given a RecordSharding.
    // The last chunk is left to its readers (it may end in damage): `records` is then empty.
    // Its capacity must be at least max_records(), so that it never allocates; with less it is
    // not filled.
    Cut cut(std::byte* buf, std::vector<ChunkRecord>* records = nullptr) noexcept;
    // The most records a chunk can hold: each takes a 16-byte header at least.
    size_t max_records() const noexcept { return capacity_ / pcap_record_header_size; }
    const RecordSharding& sharding() const noexcept { return sharding_; }

private:
    int fd_;
    uint64_t file_offset_;
    ClassicPcapLayout layout_;
    RecordSharding sharding_;
    size_t fill_, capacity_;
    const std::byte* tail_ = nullptr;  // the start of a record cut by the last chunk's end
    size_t tail_len_ = 0;
};

class PcapChunkFeed {
public:
    // Bytes read from the file per chunk, after the carried start of a record. At least one
    // whole record of the largest size, so every chunk but the last holds a record.
    static constexpr size_t default_fill = size_t{1024} << 10;
    static constexpr size_t default_depth = 4;
    static constexpr size_t largest_record = pcap_record_header_size + pcap_maximum_snaplen;

    struct Chunk {
        Bytes bytes;          // whole records; for the last chunk, whatever follows them too
        bool last = false;    // no chunk follows: the file ended, a read failed, or damage
        int read_errno = 0;   // a read failed (the chunk is then the last, and empty)
        // Every record of `bytes` when the chunk is not the last (see PcapChunkCutter::cut);
        // empty for the last, whose readers walk it themselves.
        std::span<const ChunkRecord> records;
        uint32_t shards = 0;  // the records' shares are of this many (0: not worked out)
    };

    // Reads `fd` from `offset` (the first record) on. `readers` walk the chunks.
    PcapChunkFeed(UniqueFd fd, uint64_t offset, const ClassicPcapLayout& layout, uint32_t readers,
                  size_t fill = default_fill, size_t depth = default_depth,
                  RecordSharding sharding = {});
    ~PcapChunkFeed();  // stops the reading thread
    PcapChunkFeed(const PcapChunkFeed&) = delete;
    PcapChunkFeed& operator=(const PcapChunkFeed&) = delete;

    // Chunk `seq` (0, 1, ... in file order), once it is read. Valid until release(seq). Asking
    // past the last chunk gives an empty last chunk.
    Chunk get(uint64_t seq);
    void release(uint64_t seq) noexcept;
    // A reader stops before the last chunk: the chunks from `next_seq` on that it has not been
    // given count as released by it, and later ones are read for one reader fewer.
    void leave(uint64_t next_seq) noexcept;

    uint64_t chunks_read() const noexcept;
    // Chunks a reader may hold at once (given and not released): fewer than the slots, so the
    // slowest reader can always be given its next chunk.
    size_t max_held() const noexcept { return slots_.size() - 1; }

private:
    struct Slot {
        std::unique_ptr<std::byte[]> buf;
        std::vector<ChunkRecord> records;
        size_t len = 0;  // bytes readers see
        bool last = false;
        int read_errno = 0;
        uint32_t refs = 0;  // readers that have not released it
    };
    void run() noexcept;
    // The last chunk is published (under mu_).
    bool ended() const noexcept {
        return published_ != 0 && slots_[(published_ - 1) % slots_.size()].last;
    }

    UniqueFd fd_;
    PcapChunkCutter cutter_;
    std::vector<Slot> slots_;

    mutable std::mutex mu_;
    std::condition_variable ready_;  // a chunk was published
    std::condition_variable freed_;  // a slot's last reader released it, or stop
    uint32_t readers_;
    uint64_t published_ = 0;         // chunks [0, published_) are readable (or were)
    bool stop_ = false;
    std::thread thread_;
};

// The feeds of one list of files, shared by `readers` PcapFileSources that read that list (the
// replay workers of `analyze -j N`): the first reader to reach a file starts its feed, the others
// attach to it. Every reader says of every file that it attaches to it or skips it (or departs
// before it), so no feed waits for a reader that never comes.
class PcapFeedGroup {
public:
    // `shards` > 1: the feeds work out each record's share of that many (RecordSharding).
    explicit PcapFeedGroup(uint32_t readers, uint32_t shards = 0)
        : readers_(readers == 0 ? 1 : readers), shards_(shards) {}
    uint32_t shards() const noexcept { return shards_; }

    // The feed of file `index`, started by the first reader from a duplicate of `fd`, read from
    // `offset`. Null when it could not be started (no descriptor or thread left), or when a
    // reader skipped the file first: the reader then reads the file without a feed.
    // `link_type`: the file's, for the shares.
    std::shared_ptr<PcapChunkFeed> attach(size_t index, int fd, uint64_t offset,
                                          const ClassicPcapLayout& layout, uint16_t link_type);
    // The reader does not read file `index` through a feed (it could not open it, or libpcap
    // reads it).
    void skip(size_t index);
    // The reader stops before file `next_index`: it skips that file and every later one.
    void depart(size_t next_index);

private:
    struct Entry {
        std::shared_ptr<PcapChunkFeed> feed;
        uint32_t expected = 0;  // readers that reach the file
        uint32_t attached = 0;  // of them, those that attached or skipped
    };
    // The entry of file `index`, created for the readers that have not departed before it.
    Entry& entry(size_t index);
    void done_with(std::map<size_t, Entry>::iterator it);

    std::mutex mu_;
    uint32_t readers_;
    uint32_t shards_;
    std::vector<size_t> departed_;   // next_index of each departed reader
    std::map<size_t, Entry> files_;  // files not every reader is done with yet
};

}  // namespace frag53
