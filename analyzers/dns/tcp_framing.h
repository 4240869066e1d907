// DNS over TCP message framing (RFC 1035 §4.2.2, RFC 7766 §8): each message is preceded by a
// two-byte length. One framer per direction of a connection; it is fed the in-order chunks a
// TcpReassembler delivers and the gaps it reports, and emits whole messages.
//
// Chunk boundaries mean nothing to the framer: a prefix may be split across chunks, one chunk may
// hold many pipelined messages, one message may span many chunks. A message whose bytes lie in one
// chunk is handed out as a view of that chunk (zero copy); one that spans chunks is assembled in
// a per-framer buffer that is kept for the next message (no allocation in steady state).
//
// Anomalies and policies:
//  * Length 0: reported (empty_message) and skipped; framing stays aligned.
//  * Length > max_message_len: reported (oversize_message) and its bytes skipped; the length
//    still says where the next message starts, so framing stays aligned and nothing beyond
//    max_message_len is ever buffered.
//  * Gap inside a message whose length is known, not reaching past its end: the message is
//    reported lost (abandoned_message) and the rest of its bytes are skipped; still aligned.
//  * Any other gap loses the alignment: the partial message is abandoned and the framer
//    resynchronises by heuristic. At each chunk it looks, from the chunk's first byte onwards, for
//    a position where a length prefix is followed by a plausible DNS header:
//      12 <= length <= max_message_len; opcode QUERY/STATUS/NOTIFY/UPDATE/DSO; Z bit clear;
//      RCODE <= 11; QDCOUNT <= 1; 12 + 5*QDCOUNT + 11*(ANCOUNT+NSCOUNT+ARCOUNT) <= length;
//    then, for a candidate past the chunk's first byte, confirmation by what follows: it must end
//    inside the chunk, either exactly at its end or where another plausible message starts.
//    Only a candidate at the chunk start may run on into later chunks, because senders write
//    prefix and message together, so a segment normally starts on a boundary; otherwise the
//    framer waits for the next chunk. Bytes passed over are counted and reported when framing
//    resumes (resynchronised). A false match yields a message the DNS parser will call
//    malformed; it cannot make the framer read out of bounds or buffer beyond the cap.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "dataplane/wire_reader.h"

namespace frag53::dns {

struct TcpFramingConfig {
    // Largest message buffered or emitted. 65,535 is the protocol limit; smaller values bound
    // the per-stream memory (one buffer of this size per direction at most).
    uint32_t max_message_len = 65535;
};

inline constexpr size_t kMaxMessageFrames = 16;

struct TcpDnsMessage {
    Bytes data;                  // the DNS message, without the length prefix; valid in the callback
    uint64_t stream_offset = 0;  // stream offset of the length prefix
    uint64_t ts_ns = 0;          // the chunk that held the last byte
    uint64_t frame = 0;
    // Distinct frames that carried the prefix or message bytes, in stream order; at most
    // kMaxMessageFrames (the first ones kept, the last frame is always `frame`).
    std::span<const uint64_t> frames;
    uint32_t frames_omitted = 0;
    bool zero_copy = false;      // `data` points into the chunk handed to feed()
};

enum class TcpFramingEventType : uint8_t {
    empty_message,      // length prefix 0
    oversize_message,   // length prefix > max_message_len (declared_len says how much)
    abandoned_message,  // a gap destroyed the message being assembled (bytes: what was held)
    resynchronised,     // framing resumed after a gap (bytes: stream bytes passed over)
    incomplete_at_end,  // the stream ended inside a message (bytes: what was held)
};
const char* to_string(TcpFramingEventType t) noexcept;

struct TcpFramingEvent {
    TcpFramingEventType type = TcpFramingEventType::empty_message;
    uint32_t declared_len = 0;   // the length prefix, when known
    uint64_t bytes = 0;
    uint64_t stream_offset = 0;  // where it happened
    uint64_t ts_ns = 0;
    uint64_t frame = 0;
};

class TcpMessageSink {
public:
    virtual ~TcpMessageSink() = default;
    virtual void on_message(const TcpDnsMessage& m) noexcept = 0;
    virtual void on_framing_event(const TcpFramingEvent& e) noexcept = 0;
};

struct TcpFramingCounters {
    uint64_t messages = 0;
    uint64_t zero_copy = 0;
    uint64_t assembled = 0;
    uint64_t empty = 0;
    uint64_t oversize = 0;
    uint64_t abandoned = 0;
    uint64_t resyncs = 0;
    uint64_t bytes_skipped = 0;  // oversize bodies, rest of lost messages, bytes passed in resync
    uint64_t gap_bytes = 0;
};

class TcpMessageFramer {
public:
    explicit TcpMessageFramer(TcpFramingConfig config = {}) noexcept;

    // The next in-order bytes of the stream, with the segment that made them deliverable.
    void feed(Bytes chunk, uint64_t ts_ns, uint64_t frame, TcpMessageSink& sink) noexcept;
    // `size` bytes of the stream are missing here.
    void gap(uint64_t size, uint64_t ts_ns, uint64_t frame, TcpMessageSink& sink) noexcept;
    // End of the stream: reports a message left incomplete, then starts over.
    void finish(uint64_t ts_ns, uint64_t frame, TcpMessageSink& sink) noexcept;
    // Forget everything (a new stream); the buffer is kept for reuse.
    void reset() noexcept;

    const TcpFramingCounters& counters() const noexcept { return ctr_; }
    uint64_t stream_offset() const noexcept { return offset_; }
    size_t buffered() const noexcept { return body_have_; }
    bool resynchronising() const noexcept { return state_ == State::resync; }

private:
    enum class State : uint8_t { want_length, want_body, skipping, resync };

    void start_message(uint64_t frame) noexcept;
    void add_frame(uint64_t frame) noexcept;
    void emit(Bytes data, bool zero_copy, uint64_t ts_ns, uint64_t frame,
              TcpMessageSink& sink) noexcept;
    void report(TcpFramingEventType t, uint32_t declared, uint64_t bytes, uint64_t offset,
                uint64_t ts_ns, uint64_t frame, TcpMessageSink& sink) noexcept;
    // Length known: emit, report, or start assembling / skipping. Consumes from chunk at pos.
    void begin_body(Bytes chunk, size_t& pos, uint64_t ts_ns, uint64_t frame,
                    TcpMessageSink& sink) noexcept;
    bool header_plausible(Bytes chunk, size_t pos) const noexcept;
    bool plausible_at(Bytes chunk, size_t pos) const noexcept;

    TcpFramingConfig cfg_;
    State state_ = State::want_length;
    uint64_t offset_ = 0;      // stream offset of the next byte fed
    uint64_t msg_offset_ = 0;  // stream offset of the current message's prefix
    std::array<std::byte, 2> prefix_{};
    uint8_t prefix_have_ = 0;
    uint32_t msg_len_ = 0;
    std::vector<std::byte> body_;
    size_t body_have_ = 0;
    uint64_t skip_left_ = 0;
    uint64_t resync_skipped_ = 0;
    std::array<uint64_t, kMaxMessageFrames> frames_{};
    uint32_t frame_count_ = 0;
    uint32_t frames_omitted_ = 0;
    uint64_t last_frame_ = 0;
    TcpFramingCounters ctr_;
};

}  // namespace frag53::dns
