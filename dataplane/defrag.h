// IPv4 / IPv6 fragment reassembly: one FragmentTable per worker, bounded in every dimension,
// driven by packet time, reporting anomalies as data.
//
// Use (per worker, run to completion):
//
//     table.expire(burst_ts, on_incomplete);          // once per burst, before add()
//     for each decoded packet p with p.is_fragment:
//         AddResult r = table.add(p, ts, frame);
//         for (const FragmentAnomaly& a : table.anomalies()) report(a);
//         if (r.status == AddStatus::complete) {
//             decode_ip(r.datagram, r.wire_len, whole);   // then handle as unfragmented
//             if (r.info.conflict) report ip.fragment_conflict evidence ...
//         }
//     table.drain(on_incomplete);                      // end of input
//
// Views handed out (AddResult::datagram, AddResult::info.fragments, IncompleteDatagram::head,
// anomalies()) point into the table and stay valid until the next call on it.
//
// Policies (Suricata calls these "defrag policies"; ours is fixed and explicit):
//  * Overlaps, IPv4: "first" (BSD-right / Suricata `first`): every byte keeps the value of the
//    fragment that brought it first; later bytes at the same place are compared, never written.
//    Every overlap is reported: `overlap` when the bytes agree, `conflict` when they differ. A
//    conflicted datagram is still reassembled (first-arrival bytes) and delivered with
//    info.conflict set, so the analyzer can report ip.fragment_conflict next to what the
//    receiver most likely saw; with FragmentTableConfig::deliver_conflicted = false it is
//    discarded instead. Exact duplicates (same offset, same length, same bytes) are not
//    overlaps: they are counted and dropped.
//  * Overlaps, IPv6: RFC 5722 — any overlap (identical or not, exact duplicates excepted per
//    RFC 8200 4.5) discards the whole datagram; the anomaly is still reported, and later
//    fragments of it are swallowed until its timeout so they do not start a bogus new one.
//  * A fragment that disagrees with the datagram's established end (a second, different last
//    fragment, or data past the end) is a `conflict`; the first claim wins and the fragment is
//    dropped (IPv6: the datagram is discarded).
//  * `tiny`: a non-last fragment whose offset-0 part lacks the full transport header (UDP 8,
//    TCP 20, ICMP 8; IPv6: the header chain cannot be followed, RFC 7112), or any non-last
//    fragment carrying fewer than tiny_fragment_bytes (default 256: no real link today has an
//    MTU that small, overlap attacks need them). Reported only; the data is still used. An
//    empty non-last fragment is reported as tiny and dropped.
//  * `oversize`: a fragment that would put the datagram past 65,535 bytes (IPv4 total length;
//    IPv6 payload length) is reported and dropped, never buffered (ping of death).
//  * `limit`: fragments per datagram (the datagram is discarded), datagrams in flight (the
//    oldest datagram is evicted), buffered bytes (oldest datagrams are evicted until the new
//    bytes fit). Each is an event carrying what the victim held, and counted.
//  * Timeouts run from the datagram's FIRST fragment, in packet time (Linux / DPDK).
//  * A completed datagram's key lingers for `linger_ns` so that late copies of its fragments
//    (mirror ports duplicate packets) are counted as duplicates instead of opening a datagram
//    that would later be reported incomplete. A fragment that does not match one of the
//    finished fragments exactly is taken as IP ID reuse and starts a new datagram.
//  * A fragment cut by the capture's snap length still counts for completion (by its wire
//    length); the delivered datagram then holds the captured prefix and wire_len says how long
//    it was, so decode_ip() reports snap_truncated exactly as for an unfragmented packet.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "dataplane/decode.h"
#include "dataplane/ip_address.h"
#include "dataplane/wire_reader.h"

namespace frag53 {

struct FragmentTableConfig {
    uint32_t max_fragments_per_datagram = 64;
    uint32_t max_datagrams = 8192;            // slots, allocated up front
    uint64_t max_bytes = 256ull << 20;        // data buffers, in use and pooled for reuse
    uint64_t timeout_v4_ns = 30'000'000'000;  // from the first fragment, packet time
    uint64_t timeout_v6_ns = 60'000'000'000;
    uint64_t linger_ns = 2'000'000'000;       // completed keys kept to absorb late copies
    uint32_t tiny_fragment_bytes = 256;       // non-last fragments below this are `tiny`; 0: off
    bool deliver_conflicted = true;           // IPv4 conflict: deliver flagged (true) or discard
};

// IPv4: (src, dst, protocol, id). IPv6: (src, dst, id, fragment header's next header).
struct FragmentKey {
    IpAddress src, dst;
    uint32_t id = 0;
    uint8_t proto = 0;
    uint8_t ip_version = 0;
    bool operator==(const FragmentKey&) const noexcept = default;
};

// One accepted fragment. Kept sorted by offset; arrival order is the frame order.
struct FragmentRecord {
    uint64_t frame = 0;
    uint32_t offset = 0;    // payload offset in bytes
    uint16_t length = 0;    // payload length on the wire
    uint16_t captured = 0;  // payload bytes the capture held (< length: cut by snap length)
};

// What is known about a datagram, complete or not.
struct DatagramInfo {
    FragmentKey key;
    std::span<const FragmentRecord> fragments;  // sorted by offset
    uint64_t first_ts_ns = 0, last_ts_ns = 0;
    uint64_t first_frame = 0, last_frame = 0;  // first / last to arrive
    uint32_t bytes_received = 0;   // distinct payload bytes covered (wire)
    uint32_t payload_length = 0;   // known once the last fragment came (else highest end seen)
    uint32_t first_ip_length = 0;  // IP length field of the offset-0 fragment, 0 if it never came
    uint32_t duplicates = 0;
    uint16_t holes = 0;            // gaps below the highest end seen, +1 if the end is unknown
    uint8_t ip_version = 0;
    bool dont_fragment = false;    // IPv4 DF of the offset-0 fragment
    bool have_first = false, have_last = false;
    bool overlap = false, conflict = false, tiny = false, oversize = false;
    bool snap_truncated = false;   // some fragment was cut by the capture
};

enum class AddStatus : uint8_t { need_more, complete, dropped, not_fragment };

enum class DropReason : uint8_t {
    none,
    malformed,      // no usable IP header
    empty,          // non-last fragment without data
    duplicate,      // exact copy of a fragment already held (or of a finished datagram's)
    oversize,       // would reassemble past 65,535 bytes
    conflict,       // disagrees with the established end, or conflict with deliver_conflicted off
    ipv6_overlap,   // RFC 5722: the datagram is discarded
    discarded,      // belongs to a datagram already discarded
    fragment_limit, // max_fragments_per_datagram: the datagram is discarded
    byte_limit,     // max_bytes could not be met even after evicting every other datagram
    no_memory,      // the allocator said no
};
const char* to_string(DropReason r) noexcept;

struct AddResult {
    AddStatus status = AddStatus::not_fragment;
    DropReason reason = DropReason::none;
    // complete: the rebuilt datagram (IPv4: first fragment's header, MF=0, offset 0, length and
    // checksum fixed; IPv6: unfragmentable part, fragment header removed, next header and
    // payload length fixed). Holds the captured prefix; wire_len is its full length.
    Bytes datagram;
    uint32_t wire_len = 0;
    DatagramInfo info;  // complete: everything; otherwise key and ip_version only
};

enum class FragmentAnomalyKind : uint8_t { overlap, conflict, tiny, oversize, limit, incomplete };
const char* to_string(FragmentAnomalyKind k) noexcept;

enum class FragmentLimit : uint8_t { none, fragments, datagrams, bytes };
const char* to_string(FragmentLimit l) noexcept;

struct FragmentAnomaly {
    FragmentAnomalyKind kind = FragmentAnomalyKind::overlap;
    FragmentLimit limit = FragmentLimit::none;
    FragmentKey key;             // the datagram concerned (limit: the victim)
    uint32_t offset = 0;         // the fragment that raised it: payload offset and wire length
    uint32_t length = 0;
    uint64_t frame = 0;          // ... and its frame
    uint32_t other_offset = 0;   // overlap/conflict: overlapped range; end conflict: known end
    uint32_t other_length = 0;
    uint64_t other_frame = 0;    // overlap/conflict: earliest overlapped fragment; limit /
                                 // incomplete: the victim's first fragment
    uint64_t last_frame = 0;     // limit / incomplete: the victim's last fragment
    uint32_t fragments = 0;      // limit / incomplete: what the victim held
    uint32_t bytes = 0;
};

// An expired or drained datagram, valid during the callback.
struct IncompleteDatagram {
    DatagramInfo info;
    // If the offset-0 fragment arrived: the rebuilt head (header fixed as for a complete
    // datagram of head_wire_len bytes) followed by the payload bytes contiguous from offset 0,
    // so decode_ip(head, head_wire_len) shows ports and the DNS header (snap_truncated set).
    Bytes head;
    uint32_t head_wire_len = 0;
    bool drained = false;  // handed over by drain() rather than by timeout
};

struct FragmentCounters {
    uint64_t fragments = 0;       // fragments offered to add()
    uint64_t not_fragments = 0;   // add() called on something that is not a fragment
    uint64_t malformed = 0;
    uint64_t datagrams = 0;       // datagrams opened
    uint64_t reassembled = 0;
    uint64_t reassembled_flagged = 0;  // delivered with overlap or conflict set
    uint64_t duplicates = 0;
    uint64_t duplicates_after_complete = 0;
    uint64_t ids_reused = 0;      // a lingering finished key replaced by a new datagram
    // Per anomaly kind (one per event, including events lost for want of room).
    uint64_t overlap = 0, conflict = 0, tiny = 0, oversize = 0, limit = 0, incomplete = 0;
    uint64_t limit_fragments = 0, limit_datagrams = 0, limit_bytes = 0;
    uint64_t expired = 0;         // incomplete by timeout (expire() or found stale by add())
    uint64_t drained = 0;         // incomplete at end of input
    uint64_t discarded = 0;       // datagrams discarded (RFC 5722, conflict policy, fragment cap)
    uint64_t discarded_fragments = 0;  // later fragments swallowed by a discarded datagram
    uint64_t evicted = 0;         // live datagrams evicted by a cap (datagrams or bytes)
    uint64_t lingering_evicted = 0;    // finished / discarded keys dropped early for room
    uint64_t buffer_allocations = 0;   // data buffers obtained from the allocator
    uint64_t buffers_freed = 0;        // returned to it (pool trimmed for the byte cap)
    uint64_t no_memory = 0;
    uint64_t events_lost = 0;     // anomalies beyond the per-call event list (still counted above)
};

class FragmentTable {
public:
    static constexpr size_t kMaxEvents = 32;  // anomalies kept per add() call

    // Allocates the slots and their fragment records; throws on bad config or no memory
    // (start-up only).
    explicit FragmentTable(const FragmentTableConfig& config = {});
    ~FragmentTable();
    FragmentTable(const FragmentTable&) = delete;
    FragmentTable& operator=(const FragmentTable&) = delete;

    // Offers one decoded fragment (ts_ns: packet time). Clears and refills anomalies().
    AddResult add(const DecodedPacket& p, uint64_t ts_ns, uint64_t frame) noexcept;

    // Anomalies raised by the last add() (or by the stale datagram it replaced).
    std::span<const FragmentAnomaly> anomalies() const noexcept {
        return {events_.data(), event_count_};
    }

    // Whether expire(now_ns) has anything to do: a finished datagram to put away, or a list whose
    // oldest entry's deadline has come. Inline, from the lists' head deadlines kept beside them:
    // it is asked once per packet.
    bool due(uint64_t now_ns) const noexcept {
        return pending_ != kNil || head_deadline_[0] <= now_ns || head_deadline_[1] <= now_ns ||
               head_deadline_[2] <= now_ns;
    }

    // Hands every datagram whose timeout has run out at now_ns to fn(const IncompleteDatagram&).
    template <class Fn>
    size_t expire(uint64_t now_ns, Fn&& fn) noexcept {
        if (!due(now_ns)) return 0;  // the common case, once per packet: nothing to do
        size_t n = 0;
        IncompleteDatagram d;
        while (take_incomplete(now_ns, false, d)) {
            fn(static_cast<const IncompleteDatagram&>(d));
            ++n;
        }
        release_pending();
        return n;
    }
    // End of input: every datagram still open, the same way.
    template <class Fn>
    size_t drain(Fn&& fn) noexcept {
        size_t n = 0;
        IncompleteDatagram d;
        while (take_incomplete(UINT64_MAX, true, d)) {
            fn(static_cast<const IncompleteDatagram&>(d));
            ++n;
        }
        release_pending();
        return n;
    }

    const FragmentCounters& counters() const noexcept { return counters_; }
    const FragmentTableConfig& config() const noexcept { return config_; }
    size_t datagrams_in_flight() const noexcept;  // open datagrams (not lingering keys)
    size_t slots_in_use() const noexcept { return slots_in_use_; }
    uint64_t bytes_buffered() const noexcept { return bytes_total_; }  // in use + pooled
    uint64_t bytes_pooled() const noexcept { return bytes_pooled_; }

private:
    struct Slot;
    struct Buffer {
        std::byte* data = nullptr;
        uint32_t capacity = 0;
    };
    enum class Pending : uint8_t { none, linger, release };
    static constexpr uint32_t kNil = UINT32_MAX;
    static constexpr int kSizeClasses = 7;  // 2 KiB .. 128 KiB: any datagram plus its header

    bool take_incomplete(uint64_t now_ns, bool all, IncompleteDatagram& out) noexcept;
    void release_pending() noexcept;

    uint32_t find(const FragmentKey& key, uint64_t hash) const noexcept;
    uint32_t open_slot(const FragmentKey& key, uint64_t hash, uint64_t ts_ns, uint64_t frame,
                       uint16_t header_room) noexcept;
    void free_slot(uint32_t s) noexcept;
    void to_lingering(uint32_t s, uint64_t deadline_ns) noexcept;
    void discard(uint32_t s) noexcept;
    bool evict_oldest(uint32_t keep, FragmentLimit why, const DecodedPacket* p, uint64_t frame) noexcept;
    uint32_t oldest_open(uint32_t keep) const noexcept;
    bool reserve(uint32_t s, uint32_t header_room, uint32_t extent, const DecodedPacket& p,
                 uint64_t frame, DropReason& why) noexcept;
    bool take_buffer(uint32_t capacity, Buffer& out, uint32_t keep, const DecodedPacket& p,
                     uint64_t frame) noexcept;
    void give_buffer(Buffer& b) noexcept;
    bool trim_pool() noexcept;
    Bytes rebuild(uint32_t s, uint32_t payload_wire_len, uint32_t payload_captured) noexcept;
    void fill_info(uint32_t s, DatagramInfo& info) const noexcept;
    FragmentAnomaly* event(FragmentAnomalyKind kind, const FragmentKey& key) noexcept;
    void victim_event(uint32_t s, FragmentAnomalyKind kind, FragmentLimit why,
                      const DecodedPacket* p, uint64_t frame) noexcept;

    void list_push(int list, uint32_t s) noexcept;
    void list_remove(uint32_t s) noexcept;

    FragmentTableConfig config_;
    FragmentCounters counters_;
    // Frees a table from big_table_alloc / sparse_table_alloc (the slots and the records).
    struct FreeTable {
        size_t bytes;  // value-initialised to 0 by unique_ptr
        void operator()(void* p) const noexcept;
    };
    std::unique_ptr<Slot[], FreeTable> slots_;
    uint32_t fresh_ = 0;  // slots [fresh_, max_datagrams) have never been used
    // max_fragments_per_datagram per slot, zeroed by big_table_alloc: the pages of slots never
    // used (most of them; free slots are reused most recent first) are never written.
    std::unique_ptr<FragmentRecord[], FreeTable> records_;
    std::vector<uint32_t> buckets_;
    uint64_t bucket_mask_ = 0;
    uint32_t free_head_ = kNil;
    // Lists in opening order: 0 open IPv4, 1 open IPv6, 2 lingering (finished or discarded).
    std::array<uint32_t, 3> list_head_{kNil, kNil, kNil};
    // The deadline of each list's head (UINT64_MAX when empty), kept by list_push and list_remove.
    std::array<uint64_t, 3> head_deadline_{UINT64_MAX, UINT64_MAX, UINT64_MAX};
    std::array<uint32_t, 3> list_tail_{kNil, kNil, kNil};
    size_t slots_in_use_ = 0;
    std::array<size_t, 3> list_size_{};
    std::array<std::vector<std::byte*>, kSizeClasses> pool_;
    uint64_t bytes_total_ = 0;
    uint64_t bytes_pooled_ = 0;
    uint32_t pending_ = kNil;
    Pending pending_action_ = Pending::none;
    uint64_t pending_deadline_ = 0;
    std::array<FragmentAnomaly, kMaxEvents> events_{};
    size_t event_count_ = 0;
};

}  // namespace frag53
