// IP fragment reassembly. See defrag.h for the policies; the comments here say why the code is
// shaped the way it is.
//
// Memory: slots and their fragment records are allocated once by the constructor. Data buffers
// come from a per-table pool of power-of-two size classes and go back to it when a datagram
// ends, so steady-state traffic (DNS answers of a few KiB) allocates nothing. Every byte the
// buffers hold, in use or pooled, counts against max_bytes; pooled buffers are freed before any
// live datagram is evicted to make room.
//
// Each buffer is laid out as [header room][payload]: the IP header is copied right-aligned
// against the payload, so the rebuilt datagram is one contiguous view and never needs a second
// copy (DPDK's mbuf headroom, for the same reason).
#include "dataplane/defrag.h"
#include "dataplane/big_table.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <type_traits>

namespace frag53 {

namespace {

constexpr uint32_t kIpv4MaxHeader = 60;
constexpr uint32_t kIpv6Header = 40;
constexpr uint32_t kIpMax = 65535;
constexpr uint32_t kMinBufferShift = 11;  // 2 KiB: the smallest class; a 1500-MTU pair fits 4 KiB

constexpr uint8_t kProtoIcmp4 = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmp6 = 58;
constexpr uint8_t kExtAh = 51;

enum class SlotState : uint8_t { free, open, finished, discarded };
constexpr uint8_t kNoList = 0xff;
constexpr int kListV4 = 0, kListV6 = 1, kListLingering = 2;

uint64_t key_hash(const FragmentKey& k) noexcept {
    uint64_t h = k.src.hash() * 0x9E3779B97F4A7C15ull;
    h ^= k.dst.hash() + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
    h ^= (static_cast<uint64_t>(k.id) << 16) | (static_cast<uint64_t>(k.proto) << 8) | k.ip_version;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    return h;
}

uint64_t saturating_add(uint64_t a, uint64_t b) noexcept {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

// Largest payload the rebuilt datagram can carry: its length field is 16 bits (IPv4 total
// length, IPv6 payload length covering the unfragmentable extension headers too).
uint32_t payload_limit(uint8_t version, uint32_t header_len) noexcept {
    const uint32_t inside = version == 4 ? header_len : header_len - kIpv6Header;
    return inside >= kIpMax ? 0 : kIpMax - inside;
}

// RFC 7112 / tiny-fragment attacks: the first fragment must carry the whole transport header,
// or a filter looking at ports can be bypassed by the second fragment.
bool holds_transport_header(const DecodedPacket& p) noexcept {
    const uint8_t proto = p.ip_version == 4 ? p.ip_proto : p.frag_next_header;
    uint32_t need = 0;
    switch (proto) {
    case kProtoUdp: need = 8; break;
    case kProtoTcp: need = 20; break;
    case kProtoIcmp4:
        if (p.ip_version == 4) need = 8;
        break;
    case kProtoIcmp6:
        if (p.ip_version == 6) need = 8;
        break;
    default:
        // IPv6 extension headers in the fragmentable part: only the decoder walked them. A
        // chain that could not be followed (not merely cut by the capture) is the tiny case.
        if (p.ip_version == 6 && p.transport == Transport::none && !p.snap_truncated) return false;
        return true;
    }
    return p.l3_payload_wire_len >= need;
}

void put_u16(std::byte* at, uint32_t v) noexcept {
    at[0] = static_cast<std::byte>((v >> 8) & 0xff);
    at[1] = static_cast<std::byte>(v & 0xff);
}

uint16_t ipv4_checksum(const std::byte* h, size_t len) noexcept {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (static_cast<uint32_t>(h[i]) << 8) | static_cast<uint32_t>(h[i + 1]);
    }
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum & 0xffff);
}

uint32_t class_size(int c) noexcept { return 1u << (kMinBufferShift + static_cast<uint32_t>(c)); }

int class_for(uint32_t need, int classes) noexcept {
    for (int c = 0; c < classes; ++c) {
        if (class_size(c) >= need) return c;
    }
    return -1;
}

}  // namespace

struct FragmentTable::Slot {
    FragmentKey key;
    uint64_t hash = 0;
    uint64_t first_ts = 0, last_ts = 0, deadline = 0;
    uint64_t first_frame = 0, last_frame = 0;
    uint32_t hnext = kNil, prev = kNil, next = kNil;
    uint32_t total = 0;      // payload length, once the last fragment came
    uint32_t max_end = 0;    // highest wire end seen
    uint32_t extent = 0;     // highest captured end written into the buffer
    uint32_t first_ip_length = 0;
    uint32_t duplicates = 0;
    uint16_t nfrags = 0;
    uint16_t header_room = 0;
    uint16_t header_len = 0;  // 0 until the offset-0 fragment came
    SlotState state = SlotState::free;
    uint8_t list = kNoList;
    bool have_last = false, df = false;
    bool overlap = false, conflict = false, tiny = false, oversize = false, snap = false;
    Buffer buf;
};

namespace {

struct Coverage {
    uint32_t bytes = 0;   // distinct wire bytes
    uint32_t end = 0;     // contiguous from 0 (wire)
    uint32_t max_end = 0;
    uint16_t holes = 0;   // gaps below max_end
};

Coverage coverage(std::span<const FragmentRecord> recs) noexcept {
    Coverage c;
    uint32_t cursor = 0;
    bool contiguous = true;
    for (const FragmentRecord& r : recs) {
        const uint32_t end = r.offset + r.length;
        if (r.offset > cursor) {
            ++c.holes;
            contiguous = false;
        }
        if (end > cursor) c.bytes += end - std::max(cursor, r.offset);
        cursor = std::max(cursor, end);
        if (contiguous) c.end = cursor;
    }
    c.max_end = cursor;
    return c;
}

// Bytes valid in the buffer from offset 0: fragments cut by the snap length leave gaps that
// the wire coverage does not show.
uint32_t captured_prefix(std::span<const FragmentRecord> recs) noexcept {
    uint32_t cursor = 0;
    for (const FragmentRecord& r : recs) {
        if (r.offset > cursor) break;
        cursor = std::max(cursor, r.offset + r.captured);
    }
    return cursor;
}

}  // namespace

const char* to_string(DropReason r) noexcept {
    switch (r) {
    case DropReason::none: return "none";
    case DropReason::malformed: return "malformed";
    case DropReason::empty: return "empty";
    case DropReason::duplicate: return "duplicate";
    case DropReason::oversize: return "oversize";
    case DropReason::conflict: return "conflict";
    case DropReason::ipv6_overlap: return "ipv6_overlap";
    case DropReason::discarded: return "discarded";
    case DropReason::fragment_limit: return "fragment_limit";
    case DropReason::byte_limit: return "byte_limit";
    case DropReason::no_memory: return "no_memory";
    }
    return "unknown";
}

const char* to_string(FragmentAnomalyKind k) noexcept {
    switch (k) {
    case FragmentAnomalyKind::overlap: return "overlap";
    case FragmentAnomalyKind::conflict: return "conflict";
    case FragmentAnomalyKind::tiny: return "tiny";
    case FragmentAnomalyKind::oversize: return "oversize";
    case FragmentAnomalyKind::limit: return "limit";
    case FragmentAnomalyKind::incomplete: return "incomplete";
    }
    return "unknown";
}

const char* to_string(FragmentLimit l) noexcept {
    switch (l) {
    case FragmentLimit::none: return "none";
    case FragmentLimit::fragments: return "fragments";
    case FragmentLimit::datagrams: return "datagrams";
    case FragmentLimit::bytes: return "bytes";
    }
    return "unknown";
}

FragmentTable::FragmentTable(const FragmentTableConfig& config) : config_(config) {
    if (config_.max_fragments_per_datagram == 0 || config_.max_fragments_per_datagram > 0xffff) {
        throw std::invalid_argument("defrag: max_fragments_per_datagram must be 1..65535");
    }
    if (config_.max_datagrams == 0 || config_.max_datagrams >= (1u << 30)) {
        throw std::invalid_argument("defrag: max_datagrams must be 1..2^30");
    }
    const uint64_t nrecords =
        static_cast<uint64_t>(config_.max_datagrams) * config_.max_fragments_per_datagram;
    if (nrecords > (1ull << 32)) throw std::invalid_argument("defrag: too many fragment records");

    // Zeroed pages never written until a slot is first used (a Slot is an aggregate of
    // trivially copyable members, so the bytes hold objects that open_slot() assigns a fresh
    // Slot{}). Setting up 8,192 slots by hand wrote a MiB and took a page fault per 4 KiB on
    // every start, for a capture with a handful of fragments.
    static_assert(std::is_aggregate_v<Slot> && std::is_trivially_copyable_v<Slot> &&
                  std::is_trivially_destructible_v<Slot>);
    const size_t slot_bytes = static_cast<size_t>(config_.max_datagrams) * sizeof(Slot);
    slots_ = std::unique_ptr<Slot[], FreeTable>(static_cast<Slot*>(sparse_table_alloc(slot_bytes)),
                                                FreeTable{slot_bytes});
    // All-zero bytes are a value-initialised FragmentRecord, and it is an implicit-lifetime
    // type, so zeroed memory holds valid records without writing to them.
    static_assert(std::is_trivially_copyable_v<FragmentRecord> && std::is_trivially_destructible_v<FragmentRecord>);
    const size_t record_bytes = static_cast<size_t>(nrecords) * sizeof(FragmentRecord);
    records_ = std::unique_ptr<FragmentRecord[], FreeTable>(
        static_cast<FragmentRecord*>(big_table_alloc(record_bytes)), FreeTable{record_bytes});
    // Chains of about one slot per bucket at most.
    size_t nbuckets = 1;
    while (nbuckets < static_cast<size_t>(config_.max_datagrams) * 2) nbuckets <<= 1;
    buckets_.assign(nbuckets, kNil);
    bucket_mask_ = nbuckets - 1;
    // Slots never used yet are taken in order (fresh_) once the free list, a stack, is empty: the
    // slot reused next is the one whose cache lines are warm.
    // Pool stacks never grow on the packet path: a buffer with no room left is freed instead.
    for (int c = 0; c < kSizeClasses; ++c) {
        const uint64_t fit = config_.max_bytes / class_size(c);
        pool_[static_cast<size_t>(c)].reserve(
            static_cast<size_t>(std::min<uint64_t>(fit, config_.max_datagrams)) + 1);
    }
}

void FragmentTable::FreeTable::operator()(void* p) const noexcept { big_table_free(p, bytes); }

FragmentTable::~FragmentTable() {
    for (uint32_t i = 0; i < fresh_; ++i) delete[] slots_[i].buf.data;
    for (auto& stack : pool_) {
        for (std::byte* b : stack) delete[] b;
    }
}

size_t FragmentTable::datagrams_in_flight() const noexcept {
    // A datagram just delivered stays in its list until the next call only to keep its views.
    const size_t delivered = pending_ != kNil && pending_action_ == Pending::linger ? 1 : 0;
    return list_size_[kListV4] + list_size_[kListV6] - delivered;
}

// ---- lists, hash, slots ------------------------------------------------------------------

void FragmentTable::list_push(int list, uint32_t s) noexcept {
    Slot& d = slots_[s];
    const size_t l = static_cast<size_t>(list);
    d.list = static_cast<uint8_t>(list);
    d.next = kNil;
    d.prev = list_tail_[l];
    if (d.prev != kNil) {
        slots_[d.prev].next = s;
    } else {
        list_head_[l] = s;
        head_deadline_[l] = d.deadline;
    }
    list_tail_[l] = s;
    ++list_size_[l];
}

void FragmentTable::list_remove(uint32_t s) noexcept {
    Slot& d = slots_[s];
    if (d.list == kNoList) return;
    const size_t l = d.list;
    if (d.prev != kNil) {
        slots_[d.prev].next = d.next;
    } else {
        list_head_[l] = d.next;
        head_deadline_[l] = d.next != kNil ? slots_[d.next].deadline : UINT64_MAX;
    }
    if (d.next != kNil) {
        slots_[d.next].prev = d.prev;
    } else {
        list_tail_[l] = d.prev;
    }
    d.prev = d.next = kNil;
    d.list = kNoList;
    --list_size_[l];
}

uint32_t FragmentTable::find(const FragmentKey& key, uint64_t hash) const noexcept {
    for (uint32_t s = buckets_[hash & bucket_mask_]; s != kNil; s = slots_[s].hnext) {
        if (slots_[s].hash == hash && slots_[s].key == key) return s;
    }
    return kNil;
}

uint32_t FragmentTable::open_slot(const FragmentKey& key, uint64_t hash, uint64_t ts_ns,
                                  uint64_t frame, uint16_t header_room) noexcept {
    if (free_head_ == kNil && fresh_ == config_.max_datagrams) {
        // Lingering keys are only bookkeeping: give them up before any datagram in progress.
        if (list_head_[kListLingering] != kNil) {
            ++counters_.lingering_evicted;
            free_slot(list_head_[kListLingering]);
        } else if (!evict_oldest(kNil, FragmentLimit::datagrams, nullptr, frame)) {
            return kNil;
        }
    }
    uint32_t s = free_head_;
    if (s != kNil) free_head_ = slots_[s].next;
    else s = fresh_++;
    Slot& d = slots_[s];
    d = Slot{};
    d.key = key;
    d.hash = hash;
    d.state = SlotState::open;
    d.first_ts = d.last_ts = ts_ns;
    d.first_frame = d.last_frame = frame;
    d.deadline = saturating_add(
        ts_ns, key.ip_version == 4 ? config_.timeout_v4_ns : config_.timeout_v6_ns);
    d.header_room = header_room;
    const size_t b = hash & bucket_mask_;
    d.hnext = buckets_[b];
    buckets_[b] = s;
    list_push(key.ip_version == 4 ? kListV4 : kListV6, s);
    ++slots_in_use_;
    ++counters_.datagrams;
    return s;
}

void FragmentTable::free_slot(uint32_t s) noexcept {
    Slot& d = slots_[s];
    uint32_t* link = &buckets_[d.hash & bucket_mask_];
    while (*link != kNil && *link != s) link = &slots_[*link].hnext;
    if (*link == s) *link = d.hnext;
    list_remove(s);
    give_buffer(d.buf);
    d.state = SlotState::free;
    d.hnext = kNil;
    d.next = free_head_;
    free_head_ = s;
    --slots_in_use_;
}

void FragmentTable::to_lingering(uint32_t s, uint64_t deadline_ns) noexcept {
    Slot& d = slots_[s];
    list_remove(s);
    give_buffer(d.buf);
    d.state = SlotState::finished;
    d.deadline = deadline_ns;
    list_push(kListLingering, s);
}

void FragmentTable::discard(uint32_t s) noexcept {
    Slot& d = slots_[s];
    list_remove(s);
    give_buffer(d.buf);
    d.state = SlotState::discarded;  // deadline stays: the datagram's own timeout
    list_push(kListLingering, s);
    ++counters_.discarded;
}

uint32_t FragmentTable::oldest_open(uint32_t keep) const noexcept {
    uint32_t best = kNil;
    for (int l : {kListV4, kListV6}) {
        uint32_t s = list_head_[static_cast<size_t>(l)];
        if (s == keep && s != kNil) s = slots_[s].next;
        if (s == kNil) continue;
        if (best == kNil || slots_[s].first_ts < slots_[best].first_ts) best = s;
    }
    return best;
}

bool FragmentTable::evict_oldest(uint32_t keep, FragmentLimit why, const DecodedPacket* p,
                                 uint64_t frame) noexcept {
    const uint32_t victim = oldest_open(keep);
    if (victim == kNil) return false;
    victim_event(victim, FragmentAnomalyKind::limit, why, p, frame);
    ++counters_.evicted;
    free_slot(victim);
    return true;
}

// ---- buffers -----------------------------------------------------------------------------

void FragmentTable::give_buffer(Buffer& b) noexcept {
    if (b.data == nullptr) return;
    const int c = class_for(b.capacity, kSizeClasses);
    auto& stack = pool_[static_cast<size_t>(c)];
    if (stack.size() < stack.capacity()) {
        stack.push_back(b.data);
        bytes_pooled_ += b.capacity;
    } else {
        delete[] b.data;
        bytes_total_ -= b.capacity;
        ++counters_.buffers_freed;
    }
    b = Buffer{};
}

bool FragmentTable::trim_pool() noexcept {
    for (int c = kSizeClasses; c-- > 0;) {
        auto& stack = pool_[static_cast<size_t>(c)];
        if (stack.empty()) continue;
        delete[] stack.back();
        stack.pop_back();
        bytes_total_ -= class_size(c);
        bytes_pooled_ -= class_size(c);
        ++counters_.buffers_freed;
        return true;
    }
    return false;
}

bool FragmentTable::take_buffer(uint32_t need, Buffer& out, uint32_t keep, const DecodedPacket& p,
                                uint64_t frame) noexcept {
    const int c = class_for(need, kSizeClasses);
    if (c < 0) return false;
    const uint32_t size = class_size(c);
    auto& stack = pool_[static_cast<size_t>(c)];
    for (;;) {
        if (!stack.empty()) {
            out = Buffer{stack.back(), size};
            stack.pop_back();
            bytes_pooled_ -= size;
            return true;
        }
        if (bytes_total_ + size <= config_.max_bytes) break;
        if (trim_pool()) continue;
        if (!evict_oldest(keep, FragmentLimit::bytes, &p, frame)) return false;
    }
    std::byte* data = new (std::nothrow) std::byte[size];
    if (data == nullptr) {
        ++counters_.no_memory;
        return false;
    }
    bytes_total_ += size;
    ++counters_.buffer_allocations;
    out = Buffer{data, size};
    return true;
}

bool FragmentTable::reserve(uint32_t s, uint32_t header_room, uint32_t extent,
                            const DecodedPacket& p, uint64_t frame, DropReason& why) noexcept {
    Slot& d = slots_[s];
    const uint32_t need = header_room + extent;
    if (d.buf.data != nullptr && d.buf.capacity >= need && header_room == d.header_room) {
        return true;
    }
    Buffer nb;
    const uint64_t no_memory_before = counters_.no_memory;
    if (!take_buffer(need, nb, s, p, frame)) {
        why = counters_.no_memory != no_memory_before ? DropReason::no_memory
                                                      : DropReason::byte_limit;
        return false;
    }
    if (d.buf.data != nullptr) {
        std::memcpy(nb.data + header_room - d.header_len, d.buf.data + d.header_room - d.header_len,
                    d.header_len);
        std::memcpy(nb.data + header_room, d.buf.data + d.header_room, d.extent);
        give_buffer(d.buf);
    }
    d.buf = nb;
    d.header_room = static_cast<uint16_t>(header_room);
    return true;
}

// ---- events ------------------------------------------------------------------------------

FragmentAnomaly* FragmentTable::event(FragmentAnomalyKind kind, const FragmentKey& key) noexcept {
    switch (kind) {
    case FragmentAnomalyKind::overlap: ++counters_.overlap; break;
    case FragmentAnomalyKind::conflict: ++counters_.conflict; break;
    case FragmentAnomalyKind::tiny: ++counters_.tiny; break;
    case FragmentAnomalyKind::oversize: ++counters_.oversize; break;
    case FragmentAnomalyKind::limit: ++counters_.limit; break;
    case FragmentAnomalyKind::incomplete: ++counters_.incomplete; break;
    }
    if (event_count_ == events_.size()) {
        ++counters_.events_lost;
        return nullptr;
    }
    FragmentAnomaly& e = events_[event_count_++];
    e = FragmentAnomaly{};
    e.kind = kind;
    e.key = key;
    return &e;
}

void FragmentTable::victim_event(uint32_t s, FragmentAnomalyKind kind, FragmentLimit why,
                                 const DecodedPacket* p, uint64_t frame) noexcept {
    const Slot& d = slots_[s];
    switch (why) {
    case FragmentLimit::fragments: ++counters_.limit_fragments; break;
    case FragmentLimit::datagrams: ++counters_.limit_datagrams; break;
    case FragmentLimit::bytes: ++counters_.limit_bytes; break;
    case FragmentLimit::none: break;
    }
    FragmentAnomaly* e = event(kind, d.key);
    if (e == nullptr) return;
    e->limit = why;
    if (p != nullptr) {
        e->offset = p->frag_offset;
        e->length = p->l3_payload_wire_len;
    }
    e->frame = frame;
    e->other_frame = d.first_frame;
    e->last_frame = d.last_frame;
    e->fragments = d.nfrags;
    const std::span<const FragmentRecord> recs(
        records_.get() + static_cast<size_t>(s) * config_.max_fragments_per_datagram, d.nfrags);
    e->bytes = coverage(recs).bytes;
}

// ---- output ------------------------------------------------------------------------------

Bytes FragmentTable::rebuild(uint32_t s, uint32_t payload_wire_len,
                             uint32_t payload_captured) noexcept {
    Slot& d = slots_[s];
    std::byte* h = d.buf.data + d.header_room - d.header_len;
    const uint32_t hlen = d.header_len;
    if (d.key.ip_version == 4) {
        put_u16(h + 2, std::min(kIpMax, hlen + payload_wire_len));
        // Keep the reserved bit and DF; clear MF and the offset.
        h[6] &= std::byte{0xc0};
        h[7] = std::byte{0};
        h[10] = h[11] = std::byte{0};
        put_u16(h + 10, ipv4_checksum(h, hlen));
    } else {
        put_u16(h + 4, std::min(kIpMax, hlen - kIpv6Header + payload_wire_len));
        // The decoder stopped the unfragmentable part right before the fragment header, so the
        // last next-header field of this chain is the one that pointed at it.
        size_t nh_pos = 6;
        uint8_t nh = static_cast<uint8_t>(h[6]);
        size_t pos = kIpv6Header;
        while (hlen - pos >= 2) {
            const size_t len_field = static_cast<size_t>(h[pos + 1]);
            const size_t len = nh == kExtAh ? (len_field + 2) * 4 : (len_field + 1) * 8;
            nh_pos = pos;
            nh = static_cast<uint8_t>(h[pos]);
            if (len > hlen - pos) break;
            pos += len;
        }
        h[nh_pos] = static_cast<std::byte>(d.key.proto);
    }
    return {h, hlen + payload_captured};
}

void FragmentTable::fill_info(uint32_t s, DatagramInfo& info) const noexcept {
    const Slot& d = slots_[s];
    const std::span<const FragmentRecord> recs(
        records_.get() + static_cast<size_t>(s) * config_.max_fragments_per_datagram, d.nfrags);
    const Coverage c = coverage(recs);
    info.key = d.key;
    info.fragments = recs;
    info.first_ts_ns = d.first_ts;
    info.last_ts_ns = d.last_ts;
    info.first_frame = d.first_frame;
    info.last_frame = d.last_frame;
    info.bytes_received = c.bytes;
    info.payload_length = d.have_last ? d.total : d.max_end;
    info.first_ip_length = d.first_ip_length;
    info.duplicates = d.duplicates;
    info.holes = static_cast<uint16_t>(c.holes + (!d.have_last || c.max_end < d.total ? 1 : 0));
    info.ip_version = d.key.ip_version;
    info.dont_fragment = d.df;
    info.have_first = d.header_len != 0;
    info.have_last = d.have_last;
    info.overlap = d.overlap;
    info.conflict = d.conflict;
    info.tiny = d.tiny;
    info.oversize = d.oversize;
    info.snap_truncated = d.snap;
}

void FragmentTable::release_pending() noexcept {
    if (pending_ == kNil) return;
    const uint32_t s = pending_;
    pending_ = kNil;
    if (pending_action_ == Pending::linger && config_.linger_ns != 0) {
        to_lingering(s, pending_deadline_);
    } else {
        free_slot(s);
    }
    pending_action_ = Pending::none;
}

bool FragmentTable::take_incomplete(uint64_t now_ns, bool all, IncompleteDatagram& out) noexcept {
    release_pending();
    // Lingering keys are kept in the order they stopped; finished and discarded ones have
    // different lifetimes, so a few may outlive their deadline until the ones ahead go.
    while (list_head_[kListLingering] != kNil &&
           (all || slots_[list_head_[kListLingering]].deadline <= now_ns)) {
        free_slot(list_head_[kListLingering]);
    }
    uint32_t s = kNil;
    for (int l : {kListV4, kListV6}) {
        const uint32_t h = list_head_[static_cast<size_t>(l)];
        if (h == kNil || (!all && slots_[h].deadline > now_ns)) continue;
        if (s == kNil || slots_[h].deadline < slots_[s].deadline) s = h;
    }
    if (s == kNil) return false;

    const Slot& d = slots_[s];
    out = IncompleteDatagram{};
    fill_info(s, out.info);
    out.drained = all;
    if (d.header_len != 0 && d.buf.data != nullptr) {
        const uint32_t wire = out.info.payload_length;
        const uint32_t prefix = std::min(captured_prefix(out.info.fragments), wire);
        out.head = rebuild(s, wire, prefix);
        out.head_wire_len = d.header_len + wire;
    }
    ++counters_.incomplete;
    if (all) {
        ++counters_.drained;
    } else {
        ++counters_.expired;
    }
    pending_ = s;
    pending_action_ = Pending::release;
    return true;
}

// ---- the packet path ---------------------------------------------------------------------

AddResult FragmentTable::add(const DecodedPacket& p, uint64_t ts_ns, uint64_t frame) noexcept {
    release_pending();
    event_count_ = 0;
    AddResult res;
    if (!p.is_fragment) {
        ++counters_.not_fragments;
        return res;
    }
    ++counters_.fragments;
    res.status = AddStatus::dropped;

    const uint8_t v = p.ip_version;
    const size_t hlen_wire = p.ip_header.size();
    if ((v != 4 && v != 6) || hlen_wire == 0 || (v == 4 && hlen_wire > kIpv4MaxHeader) ||
        (v == 6 && (hlen_wire < kIpv6Header || hlen_wire > kIpMax))) {
        ++counters_.malformed;
        res.reason = DropReason::malformed;
        return res;
    }
    const uint32_t hlen = static_cast<uint32_t>(hlen_wire);
    FragmentKey key;
    key.src = p.src;
    key.dst = p.dst;
    key.id = p.frag_id;
    // IPv6 fragments after the first carry only the fragment header's next header; the
    // decoder's ip_proto for the first one may have walked further down the chain.
    key.proto = v == 4 ? p.ip_proto : p.frag_next_header;
    key.ip_version = v;
    res.info.key = key;
    res.info.ip_version = v;

    const uint32_t off = p.frag_offset;
    const uint32_t len = std::min(p.l3_payload_wire_len, kIpMax);
    const uint32_t cap = static_cast<uint32_t>(std::min<size_t>(p.l3_payload.size(), len));
    const uint32_t end = off + len;
    const bool more = p.more_fragments;
    const std::byte* data = p.l3_payload.data();

    auto fragment_event = [&](FragmentAnomalyKind kind) noexcept {
        FragmentAnomaly* e = event(kind, key);
        if (e != nullptr) {
            e->offset = off;
            e->length = len;
            e->frame = frame;
        }
        return e;
    };

    const uint64_t hash = key_hash(key);
    uint32_t s = find(key, hash);
    if (s != kNil && slots_[s].state == SlotState::open && ts_ns >= slots_[s].deadline) {
        // Nobody called expire() since this one ran out: it must not absorb a datagram that
        // only shares its key (IDs wrap), so it is reported here and a new one starts.
        victim_event(s, FragmentAnomalyKind::incomplete, FragmentLimit::none, &p, frame);
        ++counters_.expired;
        free_slot(s);
        s = kNil;
    }

    if (end > payload_limit(v, hlen)) {
        fragment_event(FragmentAnomalyKind::oversize);
        if (s != kNil && slots_[s].state == SlotState::open) slots_[s].oversize = true;
        res.reason = DropReason::oversize;
        return res;
    }

    if (s != kNil && slots_[s].state == SlotState::discarded) {
        ++counters_.discarded_fragments;
        res.reason = DropReason::discarded;
        return res;
    }
    if (s != kNil && slots_[s].state == SlotState::finished) {
        const FragmentRecord* recs =
            records_.get() + static_cast<size_t>(s) * config_.max_fragments_per_datagram;
        for (uint16_t i = 0; i < slots_[s].nfrags; ++i) {
            if (recs[i].offset == off && recs[i].length == len) {
                ++counters_.duplicates_after_complete;
                res.reason = DropReason::duplicate;
                return res;
            }
        }
        ++counters_.ids_reused;
        free_slot(s);
        s = kNil;
    }

    const bool tiny =
        more && (len < config_.tiny_fragment_bytes || (off == 0 && !holds_transport_header(p)));
    if (more && len == 0) {
        fragment_event(FragmentAnomalyKind::tiny);
        res.reason = DropReason::empty;
        return res;
    }

    if (s == kNil) {
        const uint32_t room = v == 4 ? kIpv4MaxHeader : hlen;
        s = open_slot(key, hash, ts_ns, frame, static_cast<uint16_t>(room));
        if (s == kNil) {  // unreachable with max_datagrams >= 1, kept for safety
            res.reason = DropReason::byte_limit;
            return res;
        }
    }
    Slot& d = slots_[s];
    FragmentRecord* recs = records_.get() + static_cast<size_t>(s) * config_.max_fragments_per_datagram;
    // A datagram opened for this fragment and then refused it must not linger empty. The caller
    // then returns `res`: every return of add() is `return res;`, so the result is built in place
    // (one return of another object made every return copy its 160 bytes, a third of add()).
    auto refuse = [&](DropReason why) noexcept {
        if (d.nfrags == 0) free_slot(s);
        res.reason = why;
    };
    d.tiny = d.tiny || tiny;
    d.last_ts = std::max(d.last_ts, ts_ns);
    d.last_frame = frame;
    const std::byte* held = d.buf.data != nullptr ? d.buf.data + d.header_room : nullptr;

    // Exact duplicates are common on mirror ports; they are neither overlaps nor news.
    for (uint16_t i = 0; i < d.nfrags; ++i) {
        const FragmentRecord& r = recs[i];
        if (r.offset != off || r.length != len) continue;
        const size_t n = std::min<uint32_t>(r.captured, cap);
        if (n == 0 || std::memcmp(held + off, data, n) == 0) {
            ++counters_.duplicates;
            ++d.duplicates;
            res.status = AddStatus::need_more;
            res.reason = DropReason::duplicate;
            return res;
        }
        break;  // same place, other bytes: a conflict, handled below
    }
    if (tiny) fragment_event(FragmentAnomalyKind::tiny);

    // The end of the datagram is claimed by the last fragment; the first claim wins.
    const bool end_conflict = d.have_last ? (end > d.total || (!more && end != d.total))
                                          : (!more && d.max_end > end);
    if (end_conflict) {
        FragmentAnomaly* e = fragment_event(FragmentAnomalyKind::conflict);
        if (e != nullptr) e->other_offset = d.have_last ? d.total : d.max_end;
        d.conflict = true;
        if (v == 6 || !config_.deliver_conflicted) {
            if (d.nfrags != 0) discard(s);
            refuse(v == 6 ? DropReason::ipv6_overlap : DropReason::conflict);
            return res;
        }
        refuse(DropReason::conflict);
        return res;
    }

    if (d.nfrags >= config_.max_fragments_per_datagram) {
        victim_event(s, FragmentAnomalyKind::limit, FragmentLimit::fragments, &p, frame);
        discard(s);
        res.reason = DropReason::fragment_limit;
        return res;
    }

    // Overlaps: compare against what is held (first arrival), never write over it.
    bool overlapped = false, differ = false;
    uint32_t ov_lo = UINT32_MAX, ov_hi = 0;
    uint64_t ov_frame = UINT64_MAX;
    for (uint16_t i = 0; i < d.nfrags; ++i) {
        const FragmentRecord& r = recs[i];
        const uint32_t lo = std::max(off, r.offset);
        const uint32_t hi = std::min(end, r.offset + r.length);
        if (lo >= hi) continue;
        overlapped = true;
        ov_lo = std::min(ov_lo, lo);
        ov_hi = std::max(ov_hi, hi);
        ov_frame = std::min(ov_frame, r.frame);
        // Bytes neither capture holds cannot be compared; they are an overlap, not a conflict.
        const uint32_t chi = std::min({hi, off + cap, r.offset + r.captured});
        if (!differ && lo < chi && std::memcmp(held + lo, data + (lo - off), chi - lo) != 0) {
            differ = true;
        }
    }
    if (overlapped) {
        FragmentAnomaly* e =
            fragment_event(differ ? FragmentAnomalyKind::conflict : FragmentAnomalyKind::overlap);
        if (e != nullptr) {
            e->other_offset = ov_lo;
            e->other_length = ov_hi - ov_lo;
            e->other_frame = ov_frame;
        }
        d.overlap = true;
        d.conflict = d.conflict || differ;
        if (v == 6) {  // RFC 5722
            discard(s);
            res.reason = DropReason::ipv6_overlap;
            return res;
        }
        if (differ && !config_.deliver_conflicted) {
            discard(s);
            res.reason = DropReason::conflict;
            return res;
        }
    }

    // IPv6 room is sized from the first fragment seen; an offset-0 one with a longer
    // unfragmentable part (odd, but legal to receive) moves the payload once.
    uint32_t room = d.header_room;
    if (off == 0 && d.header_len == 0 && hlen > room) room = hlen;
    // Size the first buffer for what is coming, not only for what came: a fragment with MF
    // set is followed by at least as much again (a 2-fragment DNS answer then fits the first
    // buffer instead of growing through two size classes). Later growth takes exactly what
    // it needs; the power-of-two classes already amortise it.
    const uint32_t expect =
        d.buf.data != nullptr ? 0
                              : std::min(more ? end + len : end, payload_limit(v, hlen));
    DropReason why = DropReason::none;
    if (!reserve(s, room, std::max({d.extent, off + cap, expect}), p, frame, why)) {
        if (d.nfrags == 0) {
            FragmentAnomaly* e = fragment_event(FragmentAnomalyKind::limit);
            if (e != nullptr) e->limit = FragmentLimit::bytes;
            ++counters_.limit_bytes;
            refuse(why);
            return res;
        }
        victim_event(s, FragmentAnomalyKind::limit, FragmentLimit::bytes, &p, frame);
        discard(s);
        res.reason = why;
        return res;
    }
    std::byte* buf = d.buf.data + d.header_room;

    // First arrival wins: copy only the captured bytes no earlier fragment brought. Records
    // are sorted by offset, so one sweep finds the gaps.
    {
        uint32_t cursor = off;
        const uint32_t wend = off + cap;
        for (uint16_t i = 0; i < d.nfrags && cursor < wend; ++i) {
            const uint32_t rs = recs[i].offset;
            const uint32_t re = rs + recs[i].captured;
            if (re <= cursor) continue;
            if (rs >= wend) break;
            if (rs > cursor) std::memcpy(buf + cursor, data + (cursor - off), rs - cursor);
            cursor = std::max(cursor, re);
        }
        if (cursor < wend) std::memcpy(buf + cursor, data + (cursor - off), wend - cursor);
    }
    uint16_t at = d.nfrags;
    while (at > 0 && recs[at - 1].offset > off) {
        recs[at] = recs[at - 1];
        --at;
    }
    recs[at] = FragmentRecord{frame, off, static_cast<uint16_t>(len), static_cast<uint16_t>(cap)};
    ++d.nfrags;
    d.extent = std::max(d.extent, off + cap);
    d.max_end = std::max(d.max_end, end);
    d.snap = d.snap || cap < len;
    if (!more) {
        d.have_last = true;
        d.total = end;
    }
    if (off == 0 && d.header_len == 0) {
        std::memcpy(d.buf.data + d.header_room - hlen, p.ip_header.data(), hlen);
        d.header_len = static_cast<uint16_t>(hlen);
        d.first_ip_length = p.ip_length;
        d.df = p.dont_fragment;
    }

    res.status = AddStatus::need_more;
    if (!d.have_last || d.header_len == 0) return res;
    const std::span<const FragmentRecord> sorted(recs, d.nfrags);
    const Coverage c = coverage(sorted);
    if (c.holes != 0 || c.end < d.total) return res;

    // The offset-0 fragment's header decides the final length, and may be longer than the
    // header of the fragment that checked the limit on arrival.
    if (d.total > payload_limit(v, d.header_len)) {
        fragment_event(FragmentAnomalyKind::oversize);
        d.oversize = true;
        discard(s);
        res.status = AddStatus::dropped;
        res.reason = DropReason::oversize;
        return res;
    }
    res.status = AddStatus::complete;
    res.datagram = rebuild(s, d.total, std::min(captured_prefix(sorted), d.total));
    res.wire_len = d.header_len + d.total;
    fill_info(s, res.info);
    ++counters_.reassembled;
    if (d.overlap || d.conflict) ++counters_.reassembled_flagged;
    pending_ = s;
    pending_action_ = Pending::linger;
    pending_deadline_ = saturating_add(ts_ns, config_.linger_ns);
    return res;
}

}  // namespace frag53
