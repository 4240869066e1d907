#include "dataplane/tcp_reassembly.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace frag53 {

const char* to_string(TcpEventType t) noexcept {
    switch (t) {
    case TcpEventType::opened: return "opened";
    case TcpEventType::gap: return "gap";
    case TcpEventType::overlap_conflict: return "overlap_conflict";
    case TcpEventType::fin: return "fin";
    case TcpEventType::reset: return "reset";
    case TcpEventType::closed: return "closed";
    }
    return "?";
}

const char* to_string(TcpGapReason r) noexcept {
    switch (r) {
    case TcpGapReason::none: return "none";
    case TcpGapReason::stream_cap: return "stream_cap";
    case TcpGapReason::total_cap: return "total_cap";
    case TcpGapReason::hole_cap: return "hole_cap";
    case TcpGapReason::fin: return "fin";
    case TcpGapReason::reset: return "reset";
    case TcpGapReason::closed: return "closed";
    case TcpGapReason::snap_truncated: return "snap_truncated";
    }
    return "?";
}

const char* to_string(TcpCloseReason r) noexcept {
    switch (r) {
    case TcpCloseReason::none: return "none";
    case TcpCloseReason::fin: return "fin";
    case TcpCloseReason::reset: return "reset";
    case TcpCloseReason::timeout: return "timeout";
    case TcpCloseReason::evicted: return "evicted";
    case TcpCloseReason::drained: return "drained";
    case TcpCloseReason::reused: return "reused";
    }
    return "?";
}

namespace {

constexpr uint32_t kNone = UINT32_MAX;
// A window buffer that grew past this is given back when it empties: out-of-order bursts are
// rare, and keeping 256 KiB per idle stream would defeat the total cap.
constexpr size_t kKeepWindowCapacity = 64 * 1024;

// Distance from `from` to `to` modulo 2^32 (positive: `to` is ahead).
int64_t seq_diff(uint32_t to, uint32_t from) noexcept {
    return static_cast<int32_t>(to - from);
}

// Both directions of a connection must find the same key: the lower (address, port) goes first.
struct Key {
    IpAddress a, b;
    uint16_t pa = 0, pb = 0;
    bool operator==(const Key&) const noexcept = default;
};

Key make_key(const IpAddress& src, uint16_t sport, const IpAddress& dst, uint16_t dport) noexcept {
    const auto c = src <=> dst;
    if (c < 0 || (c == 0 && sport <= dport)) return {src, dst, sport, dport};
    return {dst, src, dport, sport};
}

uint64_t hash_key(const Key& k) noexcept {
    uint64_t h = k.a.hash() * 0x9E3779B97F4A7C15ull + k.b.hash();
    h ^= (static_cast<uint64_t>(k.pa) << 16 | k.pb) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    return h;
}

// Absolute stream offsets, [start, end).
struct Interval {
    uint64_t start = 0, end = 0;
};

struct Stream {
    // Out-of-order window: buf[base + (off - next_offset)] holds stream byte `off`. Advancing
    // moves `base` and compacts lazily, so delivering in front of a far-ahead segment does not
    // memmove the whole window each time.
    std::vector<std::byte> buf;
    size_t base = 0;
    std::vector<Interval> have;  // sorted, disjoint, non-adjacent; all after next_offset
    // Ring of recently delivered bytes: hist[off % size] is stream byte `off`, valid for the
    // last hist_len bytes before next_offset.
    std::vector<std::byte> hist;
    uint64_t hist_len = 0;

    size_t extent() const noexcept { return buf.size() - base; }
};

struct Conn {
    TcpConnection info;
    Key key;
    Stream s[2];
    uint32_t hash_next = kNone, lru_prev = kNone, lru_next = kNone;
    bool in_use = false;
};

struct Compare {
    uint64_t compared = 0, differing = 0;
};

size_t count_diff(const std::byte* a, const std::byte* b, size_t n) noexcept {
    size_t d = 0;
    for (size_t i = 0; i < n; ++i) d += a[i] != b[i];
    return d;
}

}  // namespace

struct TcpReassembler::Impl {
    TcpReassemblyConfig cfg;
    TcpStreamSink& sink;
    std::vector<Conn> conns;
    std::vector<uint32_t> free_slots;
    std::vector<uint32_t> buckets;
    uint64_t mask = 0;
    uint32_t lru_head = kNone, lru_tail = kNone;
    size_t live = 0;
    uint64_t total_buffered = 0;
    uint64_t next_id = 1;
    TcpReassemblyCounters ctr;
    // Time and frame that events and data are stamped with (the packet being processed).
    uint64_t cur_ts = 0, cur_frame = 0;

    Impl(const TcpReassemblyConfig& c, TcpStreamSink& s) : cfg(c), sink(s) {
        if (cfg.max_connections == 0) cfg.max_connections = 1;
        // Reserved once: slots never move, so a TcpConnection reference stays valid through a
        // callback even when a connection is created during it.
        conns.reserve(cfg.max_connections);
        size_t nb = 16;
        while (nb < static_cast<size_t>(cfg.max_connections) * 2) nb <<= 1;
        buckets.assign(nb, kNone);
        mask = nb - 1;
    }

    // --- tables -------------------------------------------------------------------------------

    uint32_t find(const Key& k, uint64_t h) const noexcept {
        for (uint32_t i = buckets[h & mask]; i != kNone; i = conns[i].hash_next)
            if (conns[i].key == k) return i;
        return kNone;
    }

    void lru_unlink(uint32_t i) noexcept {
        Conn& c = conns[i];
        if (c.lru_prev != kNone) conns[c.lru_prev].lru_next = c.lru_next; else lru_head = c.lru_next;
        if (c.lru_next != kNone) conns[c.lru_next].lru_prev = c.lru_prev; else lru_tail = c.lru_prev;
        c.lru_prev = c.lru_next = kNone;
    }

    void lru_append(uint32_t i) noexcept {
        Conn& c = conns[i];
        c.lru_prev = lru_tail;
        c.lru_next = kNone;
        if (lru_tail != kNone) conns[lru_tail].lru_next = i; else lru_head = i;
        lru_tail = i;
    }

    void touch(uint32_t i) noexcept {
        if (lru_tail == i) return;
        lru_unlink(i);
        lru_append(i);
    }

    void release(uint32_t i) noexcept {
        Conn& c = conns[i];
        uint32_t* link = &buckets[hash_key(c.key) & mask];
        while (*link != kNone && *link != i) link = &conns[*link].hash_next;
        if (*link == i) *link = c.hash_next;
        c.hash_next = kNone;
        lru_unlink(i);
        for (Stream& s : c.s) {
            total_buffered -= s.extent();
            s.buf.clear();
            s.base = 0;
            if (s.buf.capacity() > kKeepWindowCapacity) std::vector<std::byte>().swap(s.buf);
            s.have.clear();
            s.hist_len = 0;
        }
        c.in_use = false;
        --live;
        free_slots.push_back(i);
    }

    uint32_t create(const Key& k, uint64_t h) noexcept {
        if (live >= cfg.max_connections && lru_head != kNone) {
            ++ctr.evicted_table_full;
            close(lru_head, TcpCloseReason::evicted);
        }
        uint32_t i;
        if (!free_slots.empty()) {
            i = free_slots.back();
            free_slots.pop_back();
        } else {
            i = static_cast<uint32_t>(conns.size());
            conns.emplace_back();
        }
        Conn& c = conns[i];
        c.info = TcpConnection{};
        c.info.id = next_id++;
        c.info.slot = i;
        c.key = k;
        c.in_use = true;
        c.hash_next = buckets[h & mask];
        buckets[h & mask] = i;
        lru_append(i);
        ++live;
        ++ctr.connections_opened;
        return i;
    }

    // --- emission -----------------------------------------------------------------------------

    TcpEvent event(const Conn& c, TcpEventType t, TcpDir d) const noexcept {
        TcpEvent e;
        e.type = t;
        e.dir = d;
        e.conn = &c.info;
        e.stream_offset = c.info.dir[dir_index(d)].next_offset;
        e.seq = c.info.dir[dir_index(d)].next_seq;
        e.ts_ns = cur_ts;
        e.frame = cur_frame;
        return e;
    }

    void emit_gap(Conn& c, TcpDir d, uint64_t size, TcpGapReason why) noexcept {
        if (size == 0) return;
        TcpEvent e = event(c, TcpEventType::gap, d);
        e.gap_reason = why;
        e.size = size;
        ++ctr.gaps;
        ctr.gap_bytes += size;
        c.info.dir[dir_index(d)].gap_bytes += size;
        // The history must end exactly at next_offset; after a hole it no longer does.
        c.s[dir_index(d)].hist_len = 0;
        sink.on_event(e);
    }

    void emit_conflict(Conn& c, TcpDir d, uint64_t offset, uint32_t seq, Compare cmp) noexcept {
        TcpEvent e = event(c, TcpEventType::overlap_conflict, d);
        e.stream_offset = offset;
        e.seq = seq;
        e.size = cmp.compared;
        e.differing = cmp.differing;
        ++ctr.overlap_conflicts;
        sink.on_event(e);
    }

    void remember(Stream& s, uint64_t offset, Bytes data) noexcept {
        if (cfg.retransmit_check_bytes == 0) return;
        if (s.hist.empty()) s.hist.resize(cfg.retransmit_check_bytes);
        const size_t H = s.hist.size();
        if (data.size() > H) {
            offset += data.size() - H;
            data = data.last(H);
        }
        const size_t at = static_cast<size_t>(offset % H);
        const size_t first = std::min(data.size(), H - at);
        std::memcpy(s.hist.data() + at, data.data(), first);
        std::memcpy(s.hist.data(), data.data() + first, data.size() - first);
        s.hist_len = std::min<uint64_t>(H, s.hist_len + data.size());
    }

    void deliver(Conn& c, TcpDir d, Bytes data) noexcept {
        if (data.empty()) return;
        TcpDirectionState& st = c.info.dir[dir_index(d)];
        TcpData out;
        out.conn = &c.info;
        out.dir = d;
        out.data = data;
        out.stream_offset = st.next_offset;
        out.ts_ns = cur_ts;
        out.frame = cur_frame;
        sink.on_data(out);
        // Before advance(): `data` may point into the window that advance() compacts.
        remember(c.s[dir_index(d)], st.next_offset, data);
        st.delivered += data.size();
        ctr.bytes_delivered += data.size();
    }

    // Moves the stream start forward by n delivered or skipped bytes.
    void advance(Conn& c, TcpDir d, uint64_t n) noexcept {
        TcpDirectionState& st = c.info.dir[dir_index(d)];
        Stream& s = c.s[dir_index(d)];
        st.next_seq += static_cast<uint32_t>(n);
        st.next_offset += n;
        const size_t ext = s.extent();
        if (n >= ext) {
            total_buffered -= ext;
            s.buf.clear();
            s.base = 0;
            if (s.buf.capacity() > kKeepWindowCapacity) std::vector<std::byte>().swap(s.buf);
        } else {
            s.base += static_cast<size_t>(n);
            total_buffered -= n;
        }
        size_t drop = 0;
        while (drop < s.have.size() && s.have[drop].end <= st.next_offset) ++drop;
        if (drop) s.have.erase(s.have.begin(), s.have.begin() + static_cast<ptrdiff_t>(drop));
        if (!s.have.empty() && s.have.front().start < st.next_offset)
            s.have.front().start = st.next_offset;
        st.buffered = static_cast<uint32_t>(s.extent());
    }

    // Delivers buffered bytes that now continue the stream.
    void deliver_ready(Conn& c, TcpDir d) noexcept {
        TcpDirectionState& st = c.info.dir[dir_index(d)];
        Stream& s = c.s[dir_index(d)];
        while (!s.have.empty() && s.have.front().start == st.next_offset) {
            const size_t n = static_cast<size_t>(s.have.front().end - st.next_offset);
            deliver(c, d, Bytes(s.buf.data() + s.base, n));
            advance(c, d, n);
        }
    }

    // Gives up on every hole in the direction: gap, buffered bytes, gap, ... until empty.
    void flush(Conn& c, TcpDir d, TcpGapReason why) noexcept {
        TcpDirectionState& st = c.info.dir[dir_index(d)];
        Stream& s = c.s[dir_index(d)];
        while (!s.have.empty()) {
            const uint64_t hole = s.have.front().start - st.next_offset;
            emit_gap(c, d, hole, why);
            advance(c, d, hole);
            deliver_ready(c, d);
        }
    }

    Compare compare_history(const Stream& s, const TcpDirectionState& st, int64_t rel,
                            Bytes data) const noexcept {
        Compare r;
        const size_t H = s.hist.size();
        if (H == 0 || s.hist_len == 0) return r;
        // data[i] is stream byte next_offset + rel + i; comparable when within hist_len back.
        const uint64_t back0 = static_cast<uint64_t>(-rel);
        const uint64_t skip = back0 > s.hist_len ? back0 - s.hist_len : 0;
        for (uint64_t i = skip; i < data.size(); ++i) {
            const uint64_t off = st.next_offset - (back0 - i);
            r.differing += s.hist[static_cast<size_t>(off % H)] != data[static_cast<size_t>(i)];
            ++r.compared;
        }
        return r;
    }

    TcpGapReason cap_check(const Stream& s, const TcpDirectionState& st, uint64_t a,
                           uint64_t b) const noexcept {
        const uint64_t rel_end = b - st.next_offset;
        if (rel_end > cfg.max_stream_buffered) return TcpGapReason::stream_cap;
        const uint64_t ext = s.extent();
        const uint64_t growth = rel_end > ext ? rel_end - ext : 0;
        if (total_buffered + growth > cfg.max_total_buffered) return TcpGapReason::total_cap;
        if (s.have.size() >= cfg.max_stream_holes) {
            bool touches = false;
            for (const Interval& iv : s.have) touches |= iv.start <= b && iv.end >= a;
            if (!touches) return TcpGapReason::hole_cap;
        }
        return TcpGapReason::none;
    }

    // Stores stream bytes [a, b) ahead of next_offset; first data wins where bytes are held.
    Compare buffer_piece(Conn& c, TcpDir d, uint64_t a, Bytes data) noexcept {
        TcpDirectionState& st = c.info.dir[dir_index(d)];
        Stream& s = c.s[dir_index(d)];
        const uint64_t b = a + data.size();
        const size_t rel_end = static_cast<size_t>(b - st.next_offset);
        const size_t ext = s.extent();
        if (s.base + rel_end > s.buf.size()) {
            if (s.base > 0) {
                std::memmove(s.buf.data(), s.buf.data() + s.base, ext);
                s.buf.resize(ext);
                s.base = 0;
            }
            if (rel_end > ext) {
                s.buf.resize(rel_end);
                total_buffered += rel_end - ext;
            }
        }
        auto at = [&](uint64_t off) { return s.buf.data() + s.base + (off - st.next_offset); };
        auto src = [&](uint64_t off) { return data.data() + (off - a); };

        Compare cmp;
        uint64_t cur = a;
        size_t pos = 0;  // first interval that may overlap
        while (pos < s.have.size() && s.have[pos].end < a) ++pos;
        for (size_t i = pos; i < s.have.size() && s.have[i].start < b; ++i) {
            const Interval& iv = s.have[i];
            if (cur < iv.start) {
                std::memcpy(at(cur), src(cur), static_cast<size_t>(iv.start - cur));
                cur = iv.start;
            }
            const uint64_t ov_end = std::min(b, iv.end);
            if (cur < ov_end) {
                const size_t n = static_cast<size_t>(ov_end - cur);
                cmp.compared += n;
                cmp.differing += count_diff(at(cur), src(cur), n);
                cur = ov_end;
            }
        }
        if (cur < b) std::memcpy(at(cur), src(cur), static_cast<size_t>(b - cur));

        // Merge [a, b) with every interval it overlaps or touches.
        size_t last = pos;
        Interval merged{a, b};
        while (last < s.have.size() && s.have[last].start <= b) {
            merged.start = std::min(merged.start, s.have[last].start);
            merged.end = std::max(merged.end, s.have[last].end);
            ++last;
        }
        if (last > pos) {
            s.have[pos] = merged;
            s.have.erase(s.have.begin() + static_cast<ptrdiff_t>(pos + 1),
                         s.have.begin() + static_cast<ptrdiff_t>(last));
        } else {
            s.have.insert(s.have.begin() + static_cast<ptrdiff_t>(pos), merged);
        }
        st.buffered = static_cast<uint32_t>(s.extent());
        return cmp;
    }

    // --- segment handling ---------------------------------------------------------------------

    void segment_data(Conn& c, TcpDir d, uint32_t seq, Bytes data, uint32_t wire_len) noexcept {
        TcpDirectionState& st = c.info.dir[dir_index(d)];
        Stream& s = c.s[dir_index(d)];
        bool first = true;
        uint32_t cur = seq;
        Bytes rest = data;
        while (!rest.empty()) {
            const int64_t rel = seq_diff(cur, st.next_seq);
            if (rel < 0) {
                // Bytes already delivered: compare with history, keep what was delivered.
                const size_t old = static_cast<size_t>(
                    std::min<uint64_t>(rest.size(), static_cast<uint64_t>(-rel)));
                const Compare cmp = compare_history(s, st, rel, rest.first(old));
                const bool whole = first && old == rest.size();
                if (cmp.differing) {
                    const uint64_t back = static_cast<uint64_t>(-rel);
                    emit_conflict(c, d, st.next_offset >= back ? st.next_offset - back : 0, cur,
                                  cmp);
                } else if (whole) {
                    ++ctr.retransmissions;
                    ctr.retransmitted_bytes += old;
                }
                if (!whole) ++ctr.overlaps;
                ctr.unverified_bytes += old - cmp.compared;
                cur += static_cast<uint32_t>(old);
                rest = rest.subspan(old);
                first = false;
                continue;
            }
            if (st.fin) {
                ++ctr.late_segments;
                return;
            }
            if (rel == 0) {
                if (!s.have.empty() && s.have.front().start == st.next_offset) {
                    const size_t ov = static_cast<size_t>(
                        std::min<uint64_t>(rest.size(), s.have.front().end - st.next_offset));
                    Compare cmp;
                    cmp.compared = ov;
                    cmp.differing = count_diff(s.buf.data() + s.base, rest.data(), ov);
                    if (cmp.differing) emit_conflict(c, d, st.next_offset, st.next_seq, cmp);
                    else if (first && ov == rest.size()) {
                        ++ctr.retransmissions;
                        ctr.retransmitted_bytes += ov;
                    }
                    if (!(first && ov == rest.size())) ++ctr.overlaps;
                    cur += static_cast<uint32_t>(ov);
                    rest = rest.subspan(ov);
                    deliver_ready(c, d);
                    first = false;
                    continue;
                }
                size_t direct = rest.size();
                if (!s.have.empty())
                    direct = static_cast<size_t>(
                        std::min<uint64_t>(direct, s.have.front().start - st.next_offset));
                deliver(c, d, rest.first(direct));
                advance(c, d, direct);
                cur += static_cast<uint32_t>(direct);
                rest = rest.subspan(direct);
                first = false;
                continue;
            }
            // Ahead of a hole: buffer it, or give up on the first hole when a cap says so.
            const uint64_t a = st.next_offset + static_cast<uint64_t>(rel);
            const uint64_t b = a + rest.size();
            const TcpGapReason why = cap_check(s, st, a, b);
            if (why == TcpGapReason::none) {
                const Compare cmp = buffer_piece(c, d, a, rest);
                if (cmp.differing) emit_conflict(c, d, a, cur, cmp);
                else if (first && cmp.compared == rest.size()) {
                    ++ctr.retransmissions;
                    ctr.retransmitted_bytes += cmp.compared;
                }
                if (cmp.compared > 0 && !(first && cmp.compared == rest.size())) ++ctr.overlaps;
                if (first && cmp.compared < rest.size()) ++ctr.out_of_order_segments;
                break;
            }
            if (why == TcpGapReason::stream_cap) ++ctr.stream_cap_hits;
            else if (why == TcpGapReason::total_cap) ++ctr.total_cap_hits;
            else ++ctr.hole_cap_hits;
            uint64_t skip = static_cast<uint64_t>(rel);
            if (!s.have.empty()) skip = std::min(skip, s.have.front().start - st.next_offset);
            emit_gap(c, d, skip, why);
            advance(c, d, skip);
            deliver_ready(c, d);
            first = false;
        }
        deliver_ready(c, d);

        // The uncaptured tail of a snap-truncated segment is known lost: skip it now when the
        // stream has reached it, instead of waiting for a cap or the end of the connection.
        if (wire_len > data.size() && !st.fin) {
            const uint32_t tail = seq + static_cast<uint32_t>(data.size());
            if (seq_diff(tail, st.next_seq) == 0) {
                uint64_t missing = wire_len - data.size();
                if (!s.have.empty())
                    missing = std::min(missing, s.have.front().start - st.next_offset);
                emit_gap(c, d, missing, TcpGapReason::snap_truncated);
                advance(c, d, missing);
                deliver_ready(c, d);
            }
        }
    }

    // Returns false when the connection was closed (and must not be touched again).
    bool handle_fin(uint32_t slot, TcpDir d, uint32_t fin_seq) noexcept {
        Conn& c = conns[slot];
        TcpDirectionState& st = c.info.dir[dir_index(d)];
        if (st.fin) return true;
        // The FIN says where the stream ends: holes before it will not be filled from here on.
        flush(c, d, TcpGapReason::fin);
        const int64_t rel = seq_diff(fin_seq, st.next_seq);
        if (rel > 0) {
            emit_gap(c, d, static_cast<uint64_t>(rel), TcpGapReason::fin);
            advance(c, d, static_cast<uint64_t>(rel));
        }
        st.fin = true;
        ++ctr.fins;
        sink.on_event(event(c, TcpEventType::fin, d));
        if (c.info.dir[0].fin && c.info.dir[1].fin) {
            ++ctr.closed_fin;
            close(slot, TcpCloseReason::fin);
            return false;
        }
        return true;
    }

    void handle_rst(uint32_t slot, TcpDir d, uint32_t seq) noexcept {
        Conn& c = conns[slot];
        const TcpDirectionState& st = c.info.dir[dir_index(d)];
        // A passive observer cannot check the receive window, but a RST far from anything the
        // sender has used is more likely spoofed or stale than real.
        if (st.initialized) {
            const int64_t rel = seq_diff(seq, st.next_seq);
            const int64_t slack = static_cast<int64_t>(cfg.max_stream_buffered) + 65536;
            if (rel > slack || rel < -slack) {
                ++ctr.rst_ignored;
                return;
            }
        }
        flush(c, TcpDir::to_server, TcpGapReason::reset);
        flush(c, TcpDir::to_client, TcpGapReason::reset);
        c.info.dir[dir_index(d)].reset = true;
        ++ctr.resets;
        sink.on_event(event(c, TcpEventType::reset, d));
        close(slot, TcpCloseReason::reset);
    }

    void close(uint32_t slot, TcpCloseReason why) noexcept {
        Conn& c = conns[slot];
        if (why != TcpCloseReason::fin && why != TcpCloseReason::reset) {
            flush(c, TcpDir::to_server, TcpGapReason::closed);
            flush(c, TcpDir::to_client, TcpGapReason::closed);
        }
        TcpEvent e = event(c, TcpEventType::closed, TcpDir::to_server);
        e.close_reason = why;
        sink.on_event(e);
        release(slot);
    }

    static void init_dir(TcpDirectionState& st, uint32_t next, bool syn, bool midstream) noexcept {
        st.initialized = true;
        st.syn = syn;
        st.midstream = midstream;
        st.isn = syn ? next - 1 : next;
        st.next_seq = next;
    }

    static bool has_data(const TcpConnection& ci) noexcept {
        return ci.dir[0].next_offset || ci.dir[1].next_offset || ci.dir[0].buffered ||
               ci.dir[1].buffered;
    }

    Result process(const DecodedPacket& p, uint64_t ts, uint64_t frame) noexcept {
        if (p.transport != Transport::tcp) return Result::not_tcp;
        if (!cfg.ports[p.sport] && !cfg.ports[p.dport]) return Result::not_selected;
        expire(ts);
        cur_ts = ts;
        cur_frame = frame;
        ++ctr.segments;

        const bool syn = p.tcp_flags & tcp_flag::syn;
        const bool ack = p.tcp_flags & tcp_flag::ack;
        const bool fin = p.tcp_flags & tcp_flag::fin;
        const bool rst = p.tcp_flags & tcp_flag::rst;
        Bytes payload = p.payload;
        // A TCP payload is below 64 KiB even from GRO/TSO; anything claiming more is not a
        // segment we can reason about, so only what fits in the sequence space half is used.
        if (payload.size() > (1u << 30)) payload = payload.first(1u << 30);
        uint32_t wire_len = std::max<uint32_t>(p.payload_wire_len,
                                               static_cast<uint32_t>(payload.size()));
        wire_len = std::min<uint32_t>(wire_len, 1u << 30);

        const Key k = make_key(p.src, p.sport, p.dst, p.dport);
        const uint64_t h = hash_key(k);
        uint32_t slot = find(k, h);

        if (slot != kNone && syn && !ack && !rst) {
            Conn& c = conns[slot];
            const bool from_client = p.src == c.info.client && p.sport == c.info.client_port;
            const TcpDirectionState& cs = c.info.dir[dir_index(TcpDir::to_server)];
            if (from_client && cs.syn && cs.isn == p.tcp_seq) {
                ++ctr.syn_retransmissions;
                touch(slot);
                return Result::accepted;
            }
            if (!from_client || cs.syn || has_data(c.info) || c.info.dir[0].fin ||
                c.info.dir[1].fin) {
                // A new ISN: port reuse once the old connection is finished or idle without
                // data; otherwise more likely a stray or spoofed SYN, which must not wipe state.
                if (has_data(c.info) && !c.info.dir[0].fin && !c.info.dir[1].fin) {
                    ++ctr.syn_ignored;
                    touch(slot);
                    return Result::accepted;
                }
                ++ctr.reused;
                close(slot, TcpCloseReason::reused);
                slot = kNone;
            }
        }

        bool created = false;
        if (slot == kNone) {
            if ((!syn && payload.empty()) || rst) {
                ++ctr.no_connection;
                return Result::no_connection;
            }
            bool sender_is_client = true;
            if (syn) {
                sender_is_client = !ack;
            } else {
                const bool ds = cfg.ports[p.dport], ss = cfg.ports[p.sport];
                if (ss && !ds) sender_is_client = false;
            }
            slot = create(k, h);
            Conn& c = conns[slot];
            c.info.client = sender_is_client ? p.src : p.dst;
            c.info.server = sender_is_client ? p.dst : p.src;
            c.info.client_port = sender_is_client ? p.sport : p.dport;
            c.info.server_port = sender_is_client ? p.dport : p.sport;
            c.info.midstream = !syn;
            c.info.first_ts_ns = ts;
            if (!syn) ++ctr.midstream_pickups;
            created = true;
        }

        Conn& c = conns[slot];
        touch(slot);
        c.info.last_ts_ns = std::max(c.info.last_ts_ns, ts);
        c.info.last_frame = frame;
        const TcpDir d = (p.src == c.info.client && p.sport == c.info.client_port)
                             ? TcpDir::to_server
                             : TcpDir::to_client;
        if (created) sink.on_event(event(c, TcpEventType::opened, d));
        TcpDirectionState& st = c.info.dir[dir_index(d)];

        if (rst) {
            handle_rst(slot, d, p.tcp_seq);
            return Result::accepted;
        }

        uint32_t data_seq = p.tcp_seq;
        if (syn) {
            data_seq = p.tcp_seq + 1;  // the SYN occupies one sequence number
            if (!st.initialized) {
                init_dir(st, data_seq, true, false);
            } else if (!st.syn && st.next_seq == data_seq) {
                st.syn = true;  // the ISN was inferred from the peer's ACK; now confirmed
                st.isn = p.tcp_seq;
            } else if (st.syn && st.isn == p.tcp_seq) {
                ++ctr.syn_retransmissions;
            } else if (!has_data(c.info)) {
                init_dir(st, data_seq, true, false);
            } else {
                ++ctr.syn_ignored;
            }
            if (ack) {
                c.info.syn_ack_seen = true;
                // The SYN-ACK acknowledges the client's ISN + 1: where its stream starts, even
                // when the SYN itself is missing from the capture.
                TcpDirectionState& peer = c.info.dir[dir_index(reverse(d))];
                if (!peer.initialized) init_dir(peer, p.tcp_ack, false, false);
            } else {
                c.info.syn_seen = true;
            }
        } else {
            if (!st.initialized) init_dir(st, p.tcp_seq, false, true);
            if (c.info.midstream || (ack && d == TcpDir::to_server && c.info.syn_ack_seen))
                c.info.established = true;
        }

        if (wire_len > 0) segment_data(c, d, data_seq, payload, wire_len);
        if (fin && !handle_fin(slot, d, data_seq + wire_len)) return Result::accepted;
        return Result::accepted;
    }

    void expire(uint64_t now) noexcept {
        const uint64_t saved_ts = cur_ts, saved_frame = cur_frame;
        cur_ts = now;
        cur_frame = 0;
        // LRU order is touch order; with capture time (nearly) monotonic it is also time order,
        // so only the head needs checking.
        while (lru_head != kNone) {
            const Conn& c = conns[lru_head];
            if (now < c.info.last_ts_ns || now - c.info.last_ts_ns < cfg.idle_timeout_ns) break;
            ++ctr.evicted_timeout;
            close(lru_head, TcpCloseReason::timeout);
        }
        cur_ts = saved_ts;
        cur_frame = saved_frame;
    }

    void drain(uint64_t now) noexcept {
        cur_ts = now;
        cur_frame = 0;
        while (lru_head != kNone) {
            ++ctr.evicted_drain;
            close(lru_head, TcpCloseReason::drained);
        }
    }
};

TcpReassembler::TcpReassembler(const TcpReassemblyConfig& config, TcpStreamSink& sink)
    : impl_(std::make_unique<Impl>(config, sink)) {}

TcpReassembler::~TcpReassembler() = default;

TcpReassembler::Result TcpReassembler::process(const DecodedPacket& pkt, uint64_t ts_ns,
                                               uint64_t frame) noexcept {
    return impl_->process(pkt, ts_ns, frame);
}

void TcpReassembler::expire(uint64_t now_ns) noexcept { impl_->expire(now_ns); }
void TcpReassembler::drain(uint64_t now_ns) noexcept { impl_->drain(now_ns); }
uint64_t TcpReassembler::next_expiry() const noexcept {
    if (impl_->lru_head == kNone) return UINT64_MAX;
    // expire() forgets the head once now >= last_ts and now - last_ts >= the timeout.
    const uint64_t last = impl_->conns[impl_->lru_head].info.last_ts_ns;
    const uint64_t idle = impl_->cfg.idle_timeout_ns;
    return last > UINT64_MAX - idle ? UINT64_MAX : last + idle;
}
const TcpReassemblyCounters& TcpReassembler::counters() const noexcept { return impl_->ctr; }
size_t TcpReassembler::connections() const noexcept { return impl_->live; }
uint64_t TcpReassembler::buffered_bytes() const noexcept { return impl_->total_buffered; }
const TcpReassemblyConfig& TcpReassembler::config() const noexcept { return impl_->cfg; }

}  // namespace frag53
