// Records of a classic pcap file read in place, without copying: the counterpart of libpcap's
// pcap_next_ex for file bytes in memory (PcapFileSource reads files in chunks and runs one reader
// per chunk).
//
// The reader gives what libpcap 1.10 (sf-pcap.c, pcap_next_packet) gives for the same bytes: the
// same records with the same captured bytes, lengths and time stamps, and the same error, word for
// word, where a damaged file stops. A capture read through it therefore yields the packets, frame
// numbers and messages a libpcap read yields. tests/dataplane/pcap_records_test.cpp and
// tests/fuzz/pcap_records_fuzz.cpp compare the two on generated and fuzzed files.
//
// Pure parsing: no I/O, no allocation, noexcept. Only error_message() builds a string.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "dataplane/wire_reader.h"

namespace frag53 {

// libpcap's MAXIMUM_SNAPLEN: the largest captured length it accepts for every link type frag53
// decodes (max_snaplen_for_dlt is larger only for D-Bus, USBPcap and EBHSCR).
inline constexpr uint32_t pcap_maximum_snaplen = 262144;
inline constexpr size_t pcap_file_header_size = 24;
inline constexpr size_t pcap_record_header_size = 16;

// Where a record header keeps caplen and len. Version 2.3 swapped the two fields, but some 2.3
// files were written in the old order, so libpcap takes a 2.3 record whose caplen exceeds its len
// as old order; before 2.3, and in DG/UX's 543.0, len comes first.
enum class PcapLengthOrder : uint8_t { caplen_first, len_first, guess };

struct ClassicPcapLayout {
    bool swapped = false;      // written by a host of the other byte order
    bool nanoseconds = false;  // magic 0xa1b23c4d; 0xa1b2c3d4 stamps microseconds
    PcapLengthOrder lengths = PcapLengthOrder::caplen_first;
    uint32_t snapshot = pcap_maximum_snaplen;  // libpcap's pcap_snapshot() for the file
};

// The layout a file header describes, or nullopt when `file` is shorter than a file header or
// does not start with one of the two classic magics in either byte order (pcapng, the patched
// Kuznetzov format and everything else stay with libpcap). The version and snaplen fields are
// libpcap's to check when it opens the file; `snapshot` is what it made of them, because it
// replaces a snaplen of 0 or over the link type's maximum.
std::optional<ClassicPcapLayout> classic_pcap_layout(Bytes file, uint32_t snapshot) noexcept;

// Whether libpcap hands out a file's records exactly as stored, so a view of the file's bytes
// can stand for them. For files from a host of the other byte order it rewrites the SocketCAN
// header behind a Linux cooked header (DLT_LINUX_SLL, DLT_LINUX_SLL2) in its own buffer; those
// files are left to libpcap.
bool pcap_records_verbatim(int dlt, bool swapped) noexcept;

struct PcapRecord {
    Bytes data;             // captured bytes (at most the snapshot), inside the reader's span
    uint32_t wire_len = 0;  // the record's length on the wire as stated (libpcap's len)
    uint64_t ts_ns = 0;     // seconds * 10^9 + the fraction in nanoseconds, as frag53 reads libpcap
};

enum class PcapReadStatus : uint8_t {
    record,            // the output holds the next record
    end,               // no bytes left where a record would start: a clean end
    truncated_header,  // 1 to 15 bytes left where a record header should be
    caplen_too_big,    // caplen over pcap_maximum_snaplen: a damaged or hostile file
    truncated_data,    // the record's captured bytes run past the end
};

class PcapRecordReader {
public:
    PcapRecordReader() noexcept = default;  // reads nothing: end at once
    // `records`: the file's bytes after its file header.
    PcapRecordReader(Bytes records, const ClassicPcapLayout& layout) noexcept;

    // The next record. Once the end or an error is reached, every later call returns it again.
    PcapReadStatus next(PcapRecord& out) noexcept;

    // libpcap's words for the error next() returned (what pcap_geterr says after pcap_next_ex);
    // empty while there is none.
    std::string error_message() const;
    // Bytes of `records` consumed: the start of the next record, or after the end or an error,
    // of the bytes that did not make a whole record (where a chunked reader carries on from).
    size_t offset() const noexcept { return r_.pos(); }

private:
    // Asks the caches for the bytes up to a fixed distance past `pos` that were not asked for
    // yet. Each header says where the next one starts, so the loads cannot overlap by
    // themselves, and a chunk the kernel has just copied is not in the caches: without this,
    // the first read of every record header missed (85 % of the reader's samples, on a 412 MB file).
    void prefetch_ahead(size_t pos) noexcept {
        constexpr size_t distance = 4096;
        const size_t end = std::min(pos + distance, r_.data().size());
        size_t p = std::max(prefetched_, pos & ~size_t{63});
        for (; p < end; p += 64) __builtin_prefetch(r_.data().data() + p);
        prefetched_ = p;
    }
    PcapReadStatus fail(PcapReadStatus status, uint64_t wanted, uint64_t got,
                        size_t record_start) noexcept;

    WireReader r_;
    ClassicPcapLayout layout_;
    PcapReadStatus status_ = PcapReadStatus::record;
    uint64_t wanted_ = 0;  // the error's numbers: bytes libpcap asked for (or the bad caplen)
    uint64_t got_ = 0;     // bytes it got
    size_t prefetched_ = 0;  // bytes of `r_` already asked of the caches (see next())
};

}  // namespace frag53
