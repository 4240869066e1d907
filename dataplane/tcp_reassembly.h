// TCP stream reassembly: captured segments in, per-direction in-order byte streams out.
//
// Passive and capture-oriented (Suricata stream-tcp / Zeek style): there is no receiver to
// validate against, segments may be missing from the capture for good, and one side may have
// been picked up mid-way. So every hole is eventually skipped and reported as a gap with its
// size rather than waited on forever, and every table is capped with its evictions counted.
//
// Policies (fixed, so replaying a capture always yields the same stream):
//  * Overlaps: FIRST DATA WINS (Suricata "first", old BSD). Bytes already delivered or already
//    buffered are never replaced by a later segment; where a later segment's bytes differ an
//    overlap_conflict event is raised (a classic IDS evasion / injection sign).
//  * Retransmissions of delivered bytes are checked against a short per-direction history of the
//    last `retransmit_check_bytes` delivered bytes; older bytes cannot be compared and are
//    counted as unverified, not as conflicts.
//  * Holes are skipped (gap event, then delivery resumes) when: the per-stream or total buffer
//    cap or the per-stream hole cap would be exceeded, a FIN marks the end of the stream behind
//    the hole, a RST arrives, or the connection times out, is evicted or drained. A segment cut
//    by the snap length leaves a gap for its uncaptured tail.
//  * Sequence numbers compare modulo 2^32 (RFC 1982 style): a segment is "ahead" when
//    (seq - next) as int32 is positive. There is no receive-window check (window scaling is
//    unknown when picked up mid-stream), so a bogus far-ahead segment turns into a gap once the
//    caps are hit.
//  * Client / server: the sender of a SYN is the client (the receiver of a SYN-ACK). For a
//    connection picked up mid-way, the side whose destination port is selected and source port
//    is not is the client; when both or neither are, the first sender is the client.
//  * A connection is forgotten as soon as it is over (RST, or FIN in both directions), after its
//    idle timeout measured in PACKET time, or when the table is full (least recently active
//    first). Segments without payload and without SYN never create a connection, so the final
//    ACKs and retransmitted FINs of a closed connection do not resurrect it.
//
// Threading: one reassembler per worker, no locking. Callbacks run synchronously inside
// process() / expire() / drain() and must not call back into the reassembler. The
// TcpConnection reference handed to a callback is valid only during the call: keep `slot`
// (dense, < max_connections, reused) and `id` (never reused) instead.
#pragma once

#include <bitset>
#include <cstdint>
#include <memory>

#include "dataplane/decode.h"
#include "dataplane/ip_address.h"
#include "dataplane/wire_reader.h"

namespace frag53 {

enum class TcpDir : uint8_t { to_server = 0, to_client = 1 };
constexpr TcpDir reverse(TcpDir d) noexcept {
    return d == TcpDir::to_server ? TcpDir::to_client : TcpDir::to_server;
}
constexpr unsigned dir_index(TcpDir d) noexcept { return static_cast<unsigned>(d); }

struct TcpReassemblyConfig {
    // A segment is tracked when its source or destination port is selected. Empty = nothing.
    std::bitset<65536> ports;
    uint32_t max_connections = 16384;
    // Out-of-order bytes held per direction, measured as the window from the next expected byte
    // to the end of the furthest buffered byte (what the buffer actually occupies).
    uint32_t max_stream_buffered = 256 * 1024;
    uint64_t max_total_buffered = 64ull << 20;
    // Separate holes per direction: bounds the interval bookkeeping against one-byte-apart
    // segment storms.
    uint32_t max_stream_holes = 64;
    // Delivered bytes kept per direction to verify retransmissions (0 disables the check).
    uint32_t retransmit_check_bytes = 2048;
    uint64_t idle_timeout_ns = 60ull * 1'000'000'000ull;

    TcpReassemblyConfig& select_port(uint16_t port) noexcept {
        ports.set(port);
        return *this;
    }
};

struct TcpDirectionState {
    bool syn = false;        // the ISN is known from a SYN (to_server) / SYN-ACK (to_client)
    bool initialized = false;
    bool midstream = false;  // first sequence number taken from the first segment seen
    bool fin = false;        // the sender's FIN was reached: no more data in this direction
    bool reset = false;      // this side sent the RST
    uint32_t isn = 0;
    uint32_t next_seq = 0;       // next sequence number to deliver
    uint64_t next_offset = 0;    // stream offset of next_seq (bytes delivered + gap bytes)
    uint64_t delivered = 0;
    uint64_t gap_bytes = 0;
    uint32_t buffered = 0;       // out-of-order window currently held
};

struct TcpConnection {
    uint64_t id = 0;    // unique for the reassembler's life
    uint32_t slot = 0;  // dense index < max_connections, reused after the connection ends
    IpAddress client, server;
    uint16_t client_port = 0, server_port = 0;
    bool syn_seen = false;      // client SYN
    bool syn_ack_seen = false;  // server SYN-ACK
    bool established = false;   // handshake completed (or assumed: picked up mid-way)
    bool midstream = false;     // no SYN seen when the connection was created
    TcpDirectionState dir[2];
    uint64_t first_ts_ns = 0, last_ts_ns = 0;
    uint64_t last_frame = 0;

    const TcpDirectionState& state(TcpDir d) const noexcept { return dir[dir_index(d)]; }
    bool reset() const noexcept { return dir[0].reset || dir[1].reset; }
};

enum class TcpEventType : uint8_t {
    opened,            // new connection (dir: direction of the segment that created it)
    gap,               // `size` bytes at `stream_offset` will never be delivered
    overlap_conflict,  // a later segment disagreed with bytes already held (first data won)
    fin,               // the direction's stream is complete
    reset,             // RST sent by the side that sends in `dir`
    closed,            // the connection is forgotten; see close_reason
};
const char* to_string(TcpEventType t) noexcept;

enum class TcpGapReason : uint8_t {
    none,
    stream_cap,      // per-direction buffer cap
    total_cap,       // reassembler-wide buffer cap
    hole_cap,        // too many separate holes in one direction
    fin,             // FIN ends the stream behind a hole
    reset,           // RST with a hole
    closed,          // timeout / eviction / drain / reuse with a hole
    snap_truncated,  // segment cut by the capture's snap length
};
const char* to_string(TcpGapReason r) noexcept;

enum class TcpCloseReason : uint8_t { none, fin, reset, timeout, evicted, drained, reused };
const char* to_string(TcpCloseReason r) noexcept;

struct TcpEvent {
    TcpEventType type = TcpEventType::gap;
    TcpDir dir = TcpDir::to_server;
    TcpGapReason gap_reason = TcpGapReason::none;
    TcpCloseReason close_reason = TcpCloseReason::none;
    const TcpConnection* conn = nullptr;
    uint64_t size = 0;           // gap: bytes skipped; overlap_conflict: bytes compared
    uint64_t differing = 0;      // overlap_conflict: bytes that differ
    uint64_t stream_offset = 0;  // where in the direction's stream
    uint32_t seq = 0;            // sequence number at stream_offset
    uint64_t ts_ns = 0;
    uint64_t frame = 0;          // 0 when no packet caused it (expire, drain)
};

struct TcpData {
    const TcpConnection* conn = nullptr;
    TcpDir dir = TcpDir::to_server;
    Bytes data;                  // valid only during the callback
    uint64_t stream_offset = 0;  // offset of data[0] in the direction's stream
    uint64_t ts_ns = 0;          // the segment that made these bytes deliverable
    uint64_t frame = 0;
};

class TcpStreamSink {
public:
    virtual ~TcpStreamSink() = default;
    virtual void on_data(const TcpData& d) noexcept = 0;
    virtual void on_event(const TcpEvent& e) noexcept = 0;
};

struct TcpReassemblyCounters {
    uint64_t segments = 0;                // TCP segments on selected ports
    uint64_t no_connection = 0;           // pure ACK / FIN / RST with no connection: ignored
    uint64_t connections_opened = 0;
    uint64_t midstream_pickups = 0;
    uint64_t bytes_delivered = 0;
    uint64_t out_of_order_segments = 0;   // buffered ahead of a hole
    uint64_t retransmissions = 0;         // whole segment repeats held bytes exactly
    uint64_t retransmitted_bytes = 0;
    uint64_t unverified_bytes = 0;        // old bytes beyond the retransmission history
    uint64_t overlaps = 0;                // segments partially overlapping held bytes
    uint64_t overlap_conflicts = 0;       // ... whose bytes differed
    uint64_t gaps = 0;
    uint64_t gap_bytes = 0;
    uint64_t stream_cap_hits = 0;
    uint64_t total_cap_hits = 0;
    uint64_t hole_cap_hits = 0;
    uint64_t late_segments = 0;           // data past a FIN
    uint64_t syn_retransmissions = 0;
    uint64_t syn_ignored = 0;             // SYN with a new ISN on a connection carrying data
    uint64_t rst_ignored = 0;             // RST far outside the expected sequence space
    uint64_t fins = 0;
    uint64_t resets = 0;
    uint64_t closed_fin = 0;
    uint64_t evicted_timeout = 0;
    uint64_t evicted_table_full = 0;
    uint64_t evicted_drain = 0;
    uint64_t reused = 0;                  // port reuse: a new SYN replaced an old connection
};

class TcpReassembler {
public:
    enum class Result : uint8_t { not_tcp, not_selected, no_connection, accepted };

    // Allocates the connection hash table up front (configuration time: may throw).
    TcpReassembler(const TcpReassemblyConfig& config, TcpStreamSink& sink);
    ~TcpReassembler();
    TcpReassembler(const TcpReassembler&) = delete;
    TcpReassembler& operator=(const TcpReassembler&) = delete;

    // One decoded packet with its capture timestamp and frame number. Expires idle connections
    // against ts_ns first, so time advances with the capture.
    Result process(const DecodedPacket& pkt, uint64_t ts_ns, uint64_t frame) noexcept;
    // Forgets connections idle for at least the timeout at now_ns (skipping their holes).
    void expire(uint64_t now_ns) noexcept;
    // The packet time from which expire() has a connection to forget (UINT64_MAX: none). Only
    // process(), expire() and drain() change it.
    uint64_t next_expiry() const noexcept;
    // End of input: flushes every connection (holes become gaps) and forgets it.
    void drain(uint64_t now_ns = 0) noexcept;

    const TcpReassemblyCounters& counters() const noexcept;
    size_t connections() const noexcept;
    uint64_t buffered_bytes() const noexcept;
    const TcpReassemblyConfig& config() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace frag53
