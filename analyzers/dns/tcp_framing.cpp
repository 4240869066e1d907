#include "analyzers/dns/tcp_framing.h"

#include <algorithm>
#include <cstring>

namespace frag53::dns {

const char* to_string(TcpFramingEventType t) noexcept {
    switch (t) {
    case TcpFramingEventType::empty_message: return "empty_message";
    case TcpFramingEventType::oversize_message: return "oversize_message";
    case TcpFramingEventType::abandoned_message: return "abandoned_message";
    case TcpFramingEventType::resynchronised: return "resynchronised";
    case TcpFramingEventType::incomplete_at_end: return "incomplete_at_end";
    }
    return "?";
}

namespace {
constexpr size_t kPrefixLen = 2;
constexpr size_t kHeaderLen = 12;
}  // namespace

TcpMessageFramer::TcpMessageFramer(TcpFramingConfig config) noexcept : cfg_(config) {}

void TcpMessageFramer::reset() noexcept {
    state_ = State::want_length;
    offset_ = 0;
    msg_offset_ = 0;
    prefix_have_ = 0;
    msg_len_ = 0;
    body_have_ = 0;
    skip_left_ = 0;
    resync_skipped_ = 0;
    frame_count_ = 0;
    frames_omitted_ = 0;
    last_frame_ = 0;
}

void TcpMessageFramer::start_message(uint64_t frame) noexcept {
    msg_offset_ = offset_;
    frame_count_ = 0;
    frames_omitted_ = 0;
    frames_[frame_count_++] = frame;
    last_frame_ = frame;
}

void TcpMessageFramer::add_frame(uint64_t frame) noexcept {
    if (frame_count_ > 0 && frame == last_frame_) return;
    last_frame_ = frame;
    if (frame_count_ < kMaxMessageFrames) {
        frames_[frame_count_++] = frame;
        return;
    }
    // Full: keep the first frames (where the message began) and always the latest one (where it
    // completed), which is what evidence needs.
    frames_[kMaxMessageFrames - 1] = frame;
    ++frames_omitted_;
}

void TcpMessageFramer::emit(Bytes data, bool zero_copy, uint64_t ts_ns, uint64_t frame,
                            TcpMessageSink& sink) noexcept {
    TcpDnsMessage m;
    m.data = data;
    m.stream_offset = msg_offset_;
    m.ts_ns = ts_ns;
    m.frame = frame;
    m.frames = std::span<const uint64_t>(frames_.data(), frame_count_);
    m.frames_omitted = frames_omitted_;
    m.zero_copy = zero_copy;
    ++ctr_.messages;
    ++(zero_copy ? ctr_.zero_copy : ctr_.assembled);
    sink.on_message(m);
}

void TcpMessageFramer::report(TcpFramingEventType t, uint32_t declared, uint64_t bytes,
                              uint64_t offset, uint64_t ts_ns, uint64_t frame,
                              TcpMessageSink& sink) noexcept {
    TcpFramingEvent e;
    e.type = t;
    e.declared_len = declared;
    e.bytes = bytes;
    e.stream_offset = offset;
    e.ts_ns = ts_ns;
    e.frame = frame;
    sink.on_framing_event(e);
}

void TcpMessageFramer::begin_body(Bytes chunk, size_t& pos, uint64_t ts_ns, uint64_t frame,
                                  TcpMessageSink& sink) noexcept {
    prefix_have_ = 0;
    body_have_ = 0;
    if (msg_len_ == 0) {
        ++ctr_.empty;
        report(TcpFramingEventType::empty_message, 0, 0, msg_offset_, ts_ns, frame, sink);
        state_ = State::want_length;
        return;
    }
    if (msg_len_ > cfg_.max_message_len) {
        // The prefix still marks the next boundary, so skipping keeps framing aligned while
        // never buffering more than the cap.
        ++ctr_.oversize;
        report(TcpFramingEventType::oversize_message, msg_len_, msg_len_, msg_offset_, ts_ns,
               frame, sink);
        skip_left_ = msg_len_;
        state_ = State::skipping;
        return;
    }
    if (chunk.size() - pos >= msg_len_) {
        emit(chunk.subspan(pos, msg_len_), true, ts_ns, frame, sink);
        pos += msg_len_;
        offset_ += msg_len_;
        state_ = State::want_length;
        return;
    }
    // Spans chunks: assembled in a buffer that only ever grows to the largest message seen
    // (<= max_message_len) and is reused.
    if (body_.size() < msg_len_) body_.resize(msg_len_);
    state_ = State::want_body;
}

bool TcpMessageFramer::header_plausible(Bytes chunk, size_t pos) const noexcept {
    WireReader r(chunk, pos);
    const uint16_t len = r.u16();
    r.skip(2);  // ID
    const uint16_t flags = r.u16();
    const uint16_t qd = r.u16(), an = r.u16(), ns = r.u16(), ar = r.u16();
    if (!r.ok()) return false;
    if (len < kHeaderLen || len > cfg_.max_message_len) return false;
    const unsigned opcode = (flags >> 11) & 0xFu;
    if (opcode != 0 && opcode != 2 && opcode != 4 && opcode != 5 && opcode != 6) return false;
    if (flags & 0x0040u) return false;      // Z
    if ((flags & 0xFu) > 11) return false;  // header RCODEs stop at 11 (DSOTYPENI)
    if (qd > 1) return false;
    const uint64_t min_len = kHeaderLen + 5ull * qd + 11ull * (uint64_t{an} + ns + ar);
    return min_len <= len;
}

bool TcpMessageFramer::plausible_at(Bytes chunk, size_t pos) const noexcept {
    if (!header_plausible(chunk, pos)) return false;
    const size_t len = (static_cast<size_t>(chunk[pos]) << 8) | static_cast<size_t>(chunk[pos + 1]);
    const size_t end = pos + kPrefixLen + len;
    // Inside a chunk, random bytes pass the header test now and then (a long "length" made of
    // name bytes is typical), so a candidate there must be confirmed by what follows it: the
    // chunk's end or another plausible message. Only at a chunk start, where a sender's write
    // normally begins, may a message run on into later chunks unconfirmed.
    if (end > chunk.size()) return pos == 0;
    if (end == chunk.size()) return true;
    if (end + kPrefixLen + kHeaderLen <= chunk.size()) return header_plausible(chunk, end);
    if (end + kPrefixLen <= chunk.size()) {
        WireReader next(chunk, end);
        return next.u16() >= kHeaderLen;
    }
    return true;
}

void TcpMessageFramer::feed(Bytes chunk, uint64_t ts_ns, uint64_t frame,
                            TcpMessageSink& sink) noexcept {
    size_t pos = 0;
    while (pos < chunk.size()) {
        const size_t left = chunk.size() - pos;
        switch (state_) {
        case State::skipping: {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(skip_left_, left));
            pos += n;
            offset_ += n;
            skip_left_ -= n;
            ctr_.bytes_skipped += n;
            if (skip_left_ == 0) state_ = State::want_length;
            break;
        }
        case State::resync: {
            size_t p = pos;
            bool found = false;
            // Every byte of a resync is a candidate, and garbage on a DNS port is what an
            // attacker controls, so the full header test runs only where QDCOUNT (bytes 6-7 of
            // prefix and header) is 0 or 1. Most positions fail that one raw-byte test.
            const std::byte* const d = chunk.data();
            for (; p + kPrefixLen + kHeaderLen <= chunk.size(); ++p) {
                if (d[p + 6] != std::byte{0} || d[p + 7] > std::byte{1}) continue;
                if (plausible_at(chunk, p)) {
                    found = true;
                    break;
                }
            }
            const size_t n = found ? p - pos : left;
            pos += n;
            offset_ += n;
            resync_skipped_ += n;
            ctr_.bytes_skipped += n;
            if (found) {
                ++ctr_.resyncs;
                report(TcpFramingEventType::resynchronised, 0, resync_skipped_, offset_, ts_ns,
                       frame, sink);
                resync_skipped_ = 0;
                state_ = State::want_length;
            }
            break;
        }
        case State::want_length: {
            if (prefix_have_ == 0) start_message(frame);
            else add_frame(frame);
            if (prefix_have_ == 0 && left >= kPrefixLen) {
                std::memcpy(prefix_.data(), chunk.data() + pos, kPrefixLen);
                pos += kPrefixLen;
                offset_ += kPrefixLen;
            } else {
                prefix_[prefix_have_++] = chunk[pos++];
                ++offset_;
                if (prefix_have_ < kPrefixLen) break;
            }
            msg_len_ = (static_cast<uint32_t>(prefix_[0]) << 8) | static_cast<uint32_t>(prefix_[1]);
            begin_body(chunk, pos, ts_ns, frame, sink);
            break;
        }
        case State::want_body: {
            add_frame(frame);
            if (body_have_ == 0 && left >= msg_len_) {
                // Only the prefix came earlier: the body itself is contiguous here.
                emit(chunk.subspan(pos, msg_len_), true, ts_ns, frame, sink);
                pos += msg_len_;
                offset_ += msg_len_;
                state_ = State::want_length;
                break;
            }
            const size_t n = std::min<size_t>(msg_len_ - body_have_, left);
            std::memcpy(body_.data() + body_have_, chunk.data() + pos, n);
            body_have_ += n;
            pos += n;
            offset_ += n;
            if (body_have_ == msg_len_) {
                emit(Bytes(body_.data(), msg_len_), false, ts_ns, frame, sink);
                body_have_ = 0;
                state_ = State::want_length;
            }
            break;
        }
        }
    }
}

void TcpMessageFramer::gap(uint64_t size, uint64_t ts_ns, uint64_t frame,
                           TcpMessageSink& sink) noexcept {
    if (size == 0) return;
    ctr_.gap_bytes += size;
    switch (state_) {
    case State::want_body: {
        const uint64_t remaining = msg_len_ - body_have_;
        ++ctr_.abandoned;
        report(TcpFramingEventType::abandoned_message, msg_len_, kPrefixLen + body_have_,
               msg_offset_, ts_ns, frame, sink);
        body_have_ = 0;
        if (size <= remaining) {
            // The hole lies inside this message: the next boundary is still known exactly.
            skip_left_ = remaining - size;
            state_ = skip_left_ ? State::skipping : State::want_length;
        } else {
            state_ = State::resync;
            resync_skipped_ = 0;
        }
        break;
    }
    case State::want_length:
        if (prefix_have_ > 0) {
            ++ctr_.abandoned;
            report(TcpFramingEventType::abandoned_message, 0, prefix_have_, msg_offset_, ts_ns,
                   frame, sink);
            prefix_have_ = 0;
        }
        // The hole may hold any number of whole messages: alignment is lost.
        state_ = State::resync;
        resync_skipped_ = 0;
        break;
    case State::skipping:
        if (size <= skip_left_) {
            skip_left_ -= size;
            if (skip_left_ == 0) state_ = State::want_length;
        } else {
            state_ = State::resync;
            resync_skipped_ = 0;
        }
        break;
    case State::resync:
        break;
    }
    offset_ += size;
}

void TcpMessageFramer::finish(uint64_t ts_ns, uint64_t frame, TcpMessageSink& sink) noexcept {
    if (state_ == State::want_body) {
        report(TcpFramingEventType::incomplete_at_end, msg_len_, kPrefixLen + body_have_,
               msg_offset_, ts_ns, frame, sink);
    } else if (state_ == State::want_length && prefix_have_ > 0) {
        report(TcpFramingEventType::incomplete_at_end, 0, prefix_have_, msg_offset_, ts_ns, frame,
               sink);
    }
    reset();
}

}  // namespace frag53::dns
