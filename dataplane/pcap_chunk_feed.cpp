#include "dataplane/pcap_chunk_feed.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "dataplane/decode.h"

namespace frag53 {

PcapChunkCutter::PcapChunkCutter(int fd, uint64_t offset, const ClassicPcapLayout& layout,
                                 size_t fill, RecordSharding sharding)
    : fd_(fd),
      file_offset_(offset),
      layout_(layout),
      sharding_(sharding),
      fill_(fill == 0 ? 1 : fill),
      // A record cut by a chunk's end is shorter than the largest record, and is carried.
      capacity_(fill_ + PcapChunkFeed::largest_record) {}

PcapChunkCutter::Cut PcapChunkCutter::cut(std::byte* b, std::vector<ChunkRecord>* records) noexcept {
    Cut c;
    if (records != nullptr) {
        records->clear();
        if (records->capacity() < max_records()) records = nullptr;
    }
    if (tail_len_ != 0) std::memcpy(b, tail_, tail_len_);
    size_t len = tail_len_;
    const size_t want = tail_len_ + fill_;
    while (len < want) {
        const ssize_t got = pread(fd_, b + len, want - len, static_cast<off_t>(file_offset_));
        if (got < 0) {
            if (errno == EINTR) continue;
            // As a reader of the whole file: what came before was delivered, the failed read's
            // bytes are not.
            c.read_errno = errno;
            c.last = true;
            tail_len_ = 0;
            return c;
        }
        if (got == 0) {
            c.last = true;
            break;
        }
        len += static_cast<size_t>(got);
        file_offset_ += static_cast<uint64_t>(got);
    }
    c.len = len;
    if (!c.last) {
        PcapRecordReader r(Bytes(b, len), layout_);
        PcapRecord rec;
        PcapReadStatus st;
        PacketView frame;
        frame.link_type = sharding_.link_type;
        while ((st = r.next(rec)) == PcapReadStatus::record) {
            if (records == nullptr) continue;
            uint32_t shard = 0;
            if (sharding_.on()) {
                frame.data = rec.data;
                shard = pair_shard(frame, sharding_.shards);
            }
            records->push_back({static_cast<uint32_t>(rec.data.data() - b),
                                static_cast<uint32_t>(rec.data.size()), rec.wire_len, shard,
                                rec.ts_ns});
        }
        if (st == PcapReadStatus::caplen_too_big)
            c.last = true;  // damage: the readers stop there too
        else
            c.len = r.offset();  // the end, or the start of the cut record
    }
    if (c.last && records != nullptr) records->clear();
    tail_ = b + c.len;
    tail_len_ = len - c.len;
    return c;
}

PcapChunkFeed::PcapChunkFeed(UniqueFd fd, uint64_t offset, const ClassicPcapLayout& layout,
                             uint32_t readers, size_t fill, size_t depth, RecordSharding sharding)
    : fd_(std::move(fd)),
      cutter_(fd_.get(), offset, layout, fill, sharding),
      slots_(depth < 2 ? 2 : depth),
      readers_(readers) {
    // Records are read once, front to back: the kernel may read further ahead.
    (void)posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    if (readers_ == 0) stop_ = true;
    thread_ = std::thread([this] { run(); });
}

PcapChunkFeed::~PcapChunkFeed() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    freed_.notify_all();
    ready_.notify_all();
    thread_.join();
}

void PcapChunkFeed::run() noexcept {
    for (uint64_t seq = 0;; ++seq) {
        Slot& s = slots_[seq % slots_.size()];
        {
            std::unique_lock lock(mu_);
            freed_.wait(lock, [&] { return stop_ || s.refs == 0; });
            if (stop_) return;
        }
        // Until it is published, the slot is the feed's alone. The carried record is in the
        // previous slot, past what its readers see, and only this thread writes slots.
        PcapChunkCutter::Cut c;
        if (!s.buf) {
            s.buf.reset(new (std::nothrow) std::byte[cutter_.capacity()]);
            // Reserved whole once (pages are touched only as records fill them). Without room
            // for it, the chunk's readers walk the records themselves.
            try {
                s.records.reserve(cutter_.max_records());
            } catch (const std::bad_alloc&) {
            }
        }
        if (s.buf) {
            c = cutter_.cut(s.buf.get(), &s.records);
        } else {
            c.read_errno = ENOMEM;
            c.last = true;
        }
        {
            std::lock_guard lock(mu_);
            s.len = c.len;
            s.last = c.last;
            s.read_errno = c.read_errno;
            s.refs = readers_;
            published_ = seq + 1;
        }
        ready_.notify_all();
        if (c.last) return;
    }
}

PcapChunkFeed::Chunk PcapChunkFeed::get(uint64_t seq) {
    std::unique_lock lock(mu_);
    ready_.wait(lock, [&] { return published_ > seq || ended() || stop_; });
    if (seq >= published_) return Chunk{{}, true, 0, {}, 0};
    const Slot& s = slots_[seq % slots_.size()];
    return Chunk{Bytes(s.buf.get(), s.len), s.last, s.read_errno, s.records,
                 cutter_.sharding().on() ? cutter_.sharding().shards : 0};
}

void PcapChunkFeed::release(uint64_t seq) noexcept {
    bool freed = false;
    {
        std::lock_guard lock(mu_);
        if (seq >= published_ || published_ - seq > slots_.size()) return;  // not one it was given
        Slot& s = slots_[seq % slots_.size()];
        freed = s.refs > 0 && --s.refs == 0;
    }
    if (freed) freed_.notify_one();
}

void PcapChunkFeed::leave(uint64_t next_seq) noexcept {
    {
        std::lock_guard lock(mu_);
        const uint64_t oldest = published_ > slots_.size() ? published_ - slots_.size() : 0;
        for (uint64_t seq = std::max(next_seq, oldest); seq < published_; ++seq) {
            Slot& s = slots_[seq % slots_.size()];
            if (s.refs > 0) --s.refs;
        }
        if (readers_ > 0) --readers_;
        if (readers_ == 0) stop_ = true;  // nobody reads on
    }
    freed_.notify_all();
}

uint64_t PcapChunkFeed::chunks_read() const noexcept {
    std::lock_guard lock(mu_);
    return published_;
}

PcapFeedGroup::Entry& PcapFeedGroup::entry(size_t index) {
    auto [it, fresh] = files_.try_emplace(index);
    if (fresh) {
        uint32_t gone = 0;
        for (size_t d : departed_) gone += d <= index;
        it->second.expected = readers_ - std::min(gone, readers_);
    }
    return it->second;
}

void PcapFeedGroup::done_with(std::map<size_t, Entry>::iterator it) {
    if (++it->second.attached >= it->second.expected) files_.erase(it);  // every reader has it
}

std::shared_ptr<PcapChunkFeed> PcapFeedGroup::attach(size_t index, int fd, uint64_t offset,
                                                     const ClassicPcapLayout& layout,
                                                     uint16_t link_type) {
    std::lock_guard lock(mu_);
    Entry& e = entry(index);
    if (e.attached == 0) {
        UniqueFd own(fcntl(fd, F_DUPFD_CLOEXEC, 0));
        if (own) {
            try {
                e.feed = std::make_shared<PcapChunkFeed>(
                    std::move(own), offset, layout, e.expected, PcapChunkFeed::default_fill,
                    PcapChunkFeed::default_depth, RecordSharding{link_type, shards_});
            } catch (const std::exception&) {
                e.feed.reset();  // no thread or memory: read without a feed
            }
        }
    }
    std::shared_ptr<PcapChunkFeed> feed = e.feed;
    done_with(files_.find(index));
    return feed;
}

void PcapFeedGroup::skip(size_t index) {
    std::lock_guard lock(mu_);
    Entry& e = entry(index);
    if (e.feed) e.feed->leave(0);
    done_with(files_.find(index));
}

void PcapFeedGroup::depart(size_t next_index) {
    std::lock_guard lock(mu_);
    for (auto it = files_.lower_bound(next_index); it != files_.end();) {
        auto here = it++;
        if (here->second.feed) here->second.feed->leave(0);
        done_with(here);
    }
    departed_.push_back(next_index);
}

}  // namespace frag53
