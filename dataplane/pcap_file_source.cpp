#include "dataplane/pcap_file_source.h"

#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "dataplane/pcap_handle.h"
#include "dataplane/pcap_records.h"

namespace frag53 {

namespace {

// stdio's default buffer is one 4 KiB block, so libpcap reads a large capture with a read(2)
// per 4 KiB (100,000 system calls for 400 MB). A larger buffer is one per MiB.
constexpr size_t read_buffer_size = size_t{1} << 20;

using FileHeader = std::array<std::byte, pcap_file_header_size>;

// The file header of the regular file open on `fd` when it is a classic pcap file, read without
// moving the file offset (libpcap reads from there next). Anything else is left to libpcap.
bool read_classic_header(int fd, FileHeader& header) noexcept {
    struct stat st{};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
    if (pread(fd, header.data(), header.size(), 0) != static_cast<ssize_t>(header.size()))
        return false;
    return classic_pcap_layout(header, pcap_maximum_snaplen).has_value();
}

}  // namespace

struct PcapFileSource::Impl {
    std::unique_ptr<char[]> read_buffer;  // the open file's stdio buffer: outlives `pcap`
    PcapHandle pcap;                      // the open file, when libpcap reads its records

    // The open file, when its records are read in place: chunks from its feed, records handed
    // out as views into them.
    std::shared_ptr<PcapChunkFeed> feed;
    ClassicPcapLayout layout;
    uint64_t seq = 0;                 // the chunk being read
    PcapChunkFeed::Chunk chunk;       // chunk `seq`, once taken
    bool have_chunk = false;
    bool chunk_in_burst = false;      // `chunk` has views in the burst being built
    PcapRecordReader reader;          // over `chunk`, when it came without its records
    size_t next_record = 0;           // of chunk.records, when it came with them
    // Earlier chunks that views of the burst being built, or last returned, point into. They
    // are released once the next receive() starts. Fewer than the feed's max_held() of the open
    // file (read_in_place() ends a burst there), and one per earlier file the burst ran through.
    std::vector<std::pair<std::shared_ptr<PcapChunkFeed>, uint64_t>> retired;
    bool burst_cut = false;  // the burst being built ended early, at the chunks a reader may hold

    BpfProgram filter;
    size_t file_index = 0;
    uint16_t link_type = 0;
    uint64_t records = 0;    // records read from the current file, filtered out ones included
    uint64_t delivered = 0;  // packets handed out from the current file
    uint64_t next_frame = 1;
    // One buffer per burst slot, never shrunk: after warm-up a burst allocates nothing.
    std::vector<std::vector<std::byte>> slots;

    bool file_open() const noexcept { return pcap || feed; }

    // Lets go of the current chunk: released now, or at the next receive() when views of this
    // burst point into it.
    void retire_chunk() {
        if (!have_chunk) return;
        if (chunk_in_burst)
            retired.emplace_back(feed, seq);
        else
            feed->release(seq);
        have_chunk = false;
        chunk_in_burst = false;
        chunk = {};  // its records are not to be read on (take_chunk() starts the next's at 0)
        ++seq;
    }

    // Moves on to the next chunk. False at the end of the file's chunks.
    bool take_chunk() {
        if (have_chunk) {
            if (chunk.last) return false;
            retire_chunk();
        }
        chunk = feed->get(seq);
        have_chunk = true;
        // A chunk with its records (all of them, to its end) is read from them; the reader then
        // starts at the end and only says so.
        next_record = 0;
        reader = PcapRecordReader(chunk.records.empty() ? chunk.bytes : chunk.bytes.last(0), layout);
        return true;
    }

    void release_retired() noexcept {
        for (auto& [f, r] : retired) f->release(r);
        retired.clear();
    }

    // Done with the file's feed. Its current chunk is retired; before its last chunk, the
    // chunks still to come are left to the other readers.
    void drop_feed() {
        if (!feed) return;
        const bool finished = have_chunk && chunk.last;
        retire_chunk();
        if (!finished) feed->leave(seq);
        feed.reset();
        reader = PcapRecordReader();
    }
};

PcapFileSource::PcapFileSource(std::vector<std::string> files, std::string bpf_filter,
                               std::shared_ptr<PcapFeedGroup> feeds)
    : files_(std::move(files)),
      filter_(std::move(bpf_filter)),
      feeds_(feeds ? std::move(feeds) : std::make_shared<PcapFeedGroup>(1)),
      impl_(std::make_unique<Impl>()) {}

PcapFileSource::~PcapFileSource() {
    Impl& s = *impl_;
    s.chunk_in_burst = false;  // no views outlive the source
    s.drop_feed();
    s.release_retired();
    if (next_file_ < files_.size()) feeds_->depart(next_file_);
}

bool PcapFileSource::open_next() noexcept {
    Impl& s = *impl_;
    while (next_file_ < files_.size()) {
        const size_t index = next_file_++;
        const std::string& name = files_[index];
        auto skip = [&](std::string message) {
            errors_.push_back(SourceError{name, 0, std::move(message), true});
            feeds_->skip(index);
        };

        char errbuf[PCAP_ERRBUF_SIZE] = {};
        // Nanosecond precision (both opens below) so ts_ns is exact for nanosecond files and
        // scaled for the rest.
        std::unique_ptr<char[]> buffer;  // declared first: outlives `p` on every path
        FileHeader header{};
        bool classic = false;  // a regular classic pcap file: its records are read in place
        PcapHandle p;
        if (name != "-") {
            // Opened here so its stdio buffer can be set before libpcap reads; pcap_close
            // closes the FILE. Anything unusual is left to pcap_open_offline and its messages.
            if (std::FILE* fp = std::fopen(name.c_str(), "rb")) {
                // libpcap reads no more than the header of a classic file: no big buffer.
                classic = read_classic_header(fileno(fp), header);
                if (!classic) {
                    buffer = std::make_unique_for_overwrite<char[]>(read_buffer_size);
                    std::setvbuf(fp, buffer.get(), _IOFBF, read_buffer_size);
                }
                p.reset(pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf));
                if (!p) {
                    std::fclose(fp);
                    buffer.reset();
                    classic = false;
                }
            }
        }
        if (!p)
            p.reset(pcap_open_offline_with_tstamp_precision(name.c_str(), PCAP_TSTAMP_PRECISION_NANO,
                                                            errbuf));
        if (!p) {
            skip(name + ": cannot open: " + errbuf);
            continue;
        }
        const int dlt = pcap_datalink(p.get());
        if (!link_type_supported(dlt)) {
            skip(name + ": unsupported link type " + std::to_string(dlt) + " (" +
                 link_type_name(dlt) + ")");
            continue;
        }
        // The filter is applied here rather than with pcap_setfilter so that records it rejects
        // still count: frame numbers then match the capture's own (what Wireshark shows).
        s.filter.reset();
        if (!filter_.empty()) {
            if (pcap_compile(p.get(), s.filter.get(), filter_.c_str(), 1,
                             PCAP_NETMASK_UNKNOWN) != 0) {
                skip(name + ": bad filter '" + filter_ + "': " + pcap_geterr(p.get()));
                continue;
            }
            s.filter.set_compiled();
        }
        s.pcap = std::move(p);  // closes the previous file before its buffer goes
        s.read_buffer = std::move(buffer);
        if (!classic) {
            feeds_->skip(index);
        } else {
            // libpcap has checked the header; the layout takes the snapshot libpcap made of its
            // snaplen.
            const auto layout =
                classic_pcap_layout(header, static_cast<uint32_t>(pcap_snapshot(s.pcap.get())));
            if (layout && pcap_records_verbatim(dlt, layout->swapped)) {
                s.feed = feeds_->attach(index, fileno(pcap_file(s.pcap.get())),
                                        pcap_file_header_size, *layout, static_cast<uint16_t>(dlt));
            } else {
                feeds_->skip(index);
            }
            if (s.feed) {
                // The file is then read through the feed, and libpcap's handle goes. When the
                // feed could not be started, libpcap reads on.
                s.layout = *layout;
                s.seq = 0;
                s.have_chunk = false;
                s.reader = PcapRecordReader();  // empty: the first next() takes a chunk
                s.pcap.reset();
                ++files_read_in_place_;
            }
        }
        s.file_index = index;
        s.link_type = static_cast<uint16_t>(dlt);
        s.records = 0;
        s.delivered = 0;
        return true;
    }
    return false;
}

size_t PcapFileSource::receive(std::span<PacketView> out) {
    Impl& s = *impl_;
    // This call ends the previous burst's views, so the chunks they point into can be reused.
    s.release_retired();
    s.chunk_in_burst = false;
    s.burst_cut = false;
    if (out.empty()) return 0;

    size_t n = 0;
    while (n < out.size() && !s.burst_cut) {
        if (!s.file_open() && !open_next()) break;
        n = s.feed ? read_in_place(out, n) : read_copied(out, n);
    }
    return n;
}

// Fills out[n..] from the classic file's chunks until the burst is full or the file ends.
size_t PcapFileSource::read_in_place(std::span<PacketView> out, size_t n) {
    Impl& s = *impl_;
    PcapRecord rec;
    while (n < out.size()) {
        PcapReadStatus status;
        uint32_t shard = PacketView::no_shard;
        if (s.next_record < s.chunk.records.size()) {
            const ChunkRecord& r = s.chunk.records[s.next_record++];
            // The cutter walked these bytes on the feed's core: ask for the bytes of a record
            // a few ahead, as the reader's own walk would have.
            if (s.next_record + 4 < s.chunk.records.size())
                __builtin_prefetch(s.chunk.bytes.data() + s.chunk.records[s.next_record + 4].offset);
            rec.data = s.chunk.bytes.subspan(r.offset, r.caplen);
            rec.wire_len = r.wire_len;
            rec.ts_ns = r.ts_ns;
            if (s.chunk.shards != 0) shard = r.shard;
            status = PcapReadStatus::record;
        } else {
            status = s.reader.next(rec);
        }
        if (status != PcapReadStatus::record) {
            // Every chunk but the last ends where a record does. A burst of large records could
            // run over more chunks than a reader may hold: it ends early instead (the chunks it
            // holds are released at the next receive()).
            if (status == PcapReadStatus::end) {
                if (s.have_chunk && !s.chunk.last && s.chunk_in_burst &&
                    s.retired.size() + 2 > s.feed->max_held()) {
                    s.burst_cut = true;
                    break;
                }
                if (s.take_chunk()) continue;
            }
            if (s.have_chunk && s.chunk.read_errno != 0) {
                // libpcap's words for a failed read.
                report_damage(std::string("error reading dump file: ") +
                              std::strerror(s.chunk.read_errno));
            } else if (status != PcapReadStatus::end) {
                report_damage(s.reader.error_message());
            }
            close_file();
            break;
        }
        ++s.records;
        const uint64_t frame = s.next_frame++;
        const auto caplen = static_cast<uint32_t>(rec.data.size());
        if (s.filter.compiled()) {
            // The filter reads only the lengths and the bytes; the stamp is filled for form.
            pcap_pkthdr h{};
            h.ts.tv_sec = static_cast<time_t>(rec.ts_ns / 1'000'000'000ull);
            h.ts.tv_usec = static_cast<suseconds_t>(rec.ts_ns % 1'000'000'000ull);
            h.caplen = caplen;
            h.len = rec.wire_len;
            // libpcap's C interface takes packet bytes as u_char.
            const auto* bytes = reinterpret_cast<const u_char*>(rec.data.data());
            if (pcap_offline_filter(s.filter.get(), &h, bytes) == 0) continue;
        }
        deliver(out[n++], rec.data, std::max(rec.wire_len, caplen), rec.ts_ns, frame, shard);
        s.chunk_in_burst = true;
    }
    return n;
}

// Fills out[n..] through libpcap until the burst is full or the file ends, copying each packet
// into its slot: libpcap's buffer is reused by the next read.
size_t PcapFileSource::read_copied(std::span<PacketView> out, size_t n) {
    Impl& s = *impl_;
    if (s.slots.size() < out.size()) s.slots.resize(out.size());
    while (n < out.size()) {
        pcap_pkthdr* hdr = nullptr;
        const u_char* data = nullptr;
        const int rc = pcap_next_ex(s.pcap.get(), &hdr, &data);
        if (rc != 1) {
            // Damaged or cut short: what came before was delivered; say where it broke.
            if (rc != PCAP_ERROR_BREAK) report_damage(pcap_geterr(s.pcap.get()));
            close_file();
            break;
        }

        ++s.records;
        const uint64_t frame = s.next_frame++;
        if (s.filter.compiled() && pcap_offline_filter(s.filter.get(), hdr, data) == 0) continue;

        std::vector<std::byte>& buf = s.slots[n];
        if (buf.size() < hdr->caplen) buf.resize(hdr->caplen);
        std::memcpy(buf.data(), data, hdr->caplen);
        // With nanosecond precision tv_usec holds nanoseconds.
        const uint64_t ts_ns = static_cast<uint64_t>(hdr->ts.tv_sec) * 1'000'000'000ull +
                               static_cast<uint64_t>(hdr->ts.tv_usec);
        deliver(out[n++], Bytes(buf.data(), hdr->caplen), std::max(hdr->len, hdr->caplen), ts_ns,
                frame);
    }
    return n;
}

void PcapFileSource::deliver(PacketView& v, Bytes data, uint32_t wire_len, uint64_t ts_ns,
                             uint64_t frame, uint32_t shard) noexcept {
    Impl& s = *impl_;
    v.data = data;
    v.wire_len = wire_len;
    v.shard = shard;
    v.ts_ns = ts_ns;
    v.frame = frame;
    v.link_type = s.link_type;
    v.source = static_cast<uint16_t>(s.file_index);
    ++s.delivered;
    ++packets_;
    bytes_ += data.size();
}

// `what` is libpcap's message, or the same words from PcapRecordReader.
void PcapFileSource::report_damage(const std::string& what) {
    Impl& s = *impl_;
    const std::string& name = files_[s.file_index];
    std::string message =
        name + ": damaged after " + std::to_string(s.records) + " packets: " + what;
    errors_.push_back(SourceError{name, s.delivered, std::move(message), false});
}

void PcapFileSource::close_file() {
    Impl& s = *impl_;
    s.pcap.reset();
    // Views of this burst may point into its last chunk: kept until the next receive().
    s.drop_feed();
    s.filter.reset();
    ++files_read_;
}

void PcapFileSource::release(std::span<const PacketView>) noexcept {
    // Burst slots and chunks are reused only once the next receive() starts, so there is
    // nothing to hand back: a view stays valid exactly until the next receive().
}

}  // namespace frag53
