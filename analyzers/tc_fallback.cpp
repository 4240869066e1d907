#include "analyzers/tc_fallback.h"

namespace frag53 {

TcFallbackTracker::TcFallbackTracker(size_t capacity) : ring_(capacity ? capacity : 1) {}

void TcFallbackTracker::watch(const TcWatch& w) noexcept {
    if (count_ == ring_.size()) {
        // Full: the oldest watch gives way (counted); the retry it waited for goes unjudged.
        ++evictions_;
        head_ = (head_ + 1) % ring_.size();
        --count_;
    }
    TcWatch& slot = ring_[(head_ + count_) % ring_.size()];
    slot = w;
    slot.active = true;
    ++count_;
}

bool TcFallbackTracker::tcp_question(const IpAddress& client, const IpAddress& server,
                                  const dns::Name& qname, uint16_t qtype, uint16_t qclass) noexcept {
    for (size_t i = 0; i < count_; ++i) {
        TcWatch& w = at(i);
        if (w.active && w.client == client && w.server == server && w.qtype == qtype &&
            w.qclass == qclass && w.qname.equals_ignore_case(qname)) {
            w.active = false;
            trim();
            return true;
        }
    }
    return false;
}

void TcFallbackTracker::tcp_opened(const IpAddress& client, const IpAddress& server,
                                   uint16_t server_port, uint64_t conn_id, uint64_t frame) noexcept {
    for (size_t i = 0; i < count_; ++i) {
        TcWatch& w = at(i);
        if (w.active && w.tcp_conn == 0 && w.client == client && w.server == server &&
            w.server_port == server_port) {
            w.tcp_conn = conn_id;
            w.tcp_frame = frame;
            return;
        }
    }
}

void TcFallbackTracker::trim() noexcept {
    while (count_ > 0 && !ring_[head_].active) {
        head_ = (head_ + 1) % ring_.size();
        --count_;
    }
}

}  // namespace frag53
