// Whole-pipeline fuzz target: decode, DNS parse, transactions and detectors on hostile frames.
//
// Input: a sequence of records [link type selector:1][time step:1][length:2][frame bytes...].
// Small table caps so evictions and timeouts are exercised (and each input sets up fast).
#include <cstddef>
#include <cstdint>

#include "analyzers/pipeline.h"

namespace {

class CountingSink final : public frag53::FindingSink {
public:
    void on_finding(const frag53::Finding& f) override {
        // Touch what sinks read so ASan sees any bad value.
        total += f.frame_count + f.qname.length + static_cast<uint64_t>(f.code);
    }
    uint64_t total = 0;
};

constexpr uint16_t link_types[] = {1, 101, 113, 276, 0, 108, 228, 229};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static CountingSink sink;
    frag53::PipelineConfig cfg;
    cfg.max_pending = 8;
    cfg.query_timeout_ns = 1'000'000'000ull;
    cfg.fragments.max_datagrams = 8;
    cfg.fragments.max_fragments_per_datagram = 8;
    cfg.fragments.max_bytes = 256 * 1024;
    cfg.tcp_max_connections = 4;
    cfg.tcp_max_buffered = 64 * 1024;
    cfg.tc_watch_capacity = 4;
    frag53::Pipeline pipeline(cfg, sink);

    uint64_t ts = 1'000'000'000ull;
    uint64_t frame = 0;
    size_t pos = 0;
    while (size - pos >= 4) {
        uint8_t lt = data[pos];
        uint8_t step = data[pos + 1];
        size_t len = static_cast<size_t>(data[pos + 2]) << 8 | data[pos + 3];
        pos += 4;
        if (len > size - pos) len = size - pos;
        frag53::PacketView v;
        v.data = {reinterpret_cast<const std::byte*>(data + pos), len};
        // Sometimes pretend the capture cut the frame.
        v.wire_len = static_cast<uint32_t>(len + ((lt & 0x80) ? step : 0));
        ts += static_cast<uint64_t>(step) * 50'000'000ull;
        v.ts_ns = ts;
        v.frame = ++frame;
        v.link_type = link_types[lt % (sizeof link_types / sizeof link_types[0])];
        pipeline.process_packet(v);
        pos += len;
    }
    pipeline.finish();
    return 0;
}
