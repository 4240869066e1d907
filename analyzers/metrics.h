// Prometheus text exposition of a running analysis (frag53 live --metrics).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "analyzers/findings.h"

namespace frag53 {

// What a scrape shows; assembled on the reader thread about once a second, never per packet.
struct MetricsSnapshot {
    uint64_t packets = 0, bytes = 0;
    uint64_t kernel_drops = 0, interface_drops = 0;
    uint64_t dns_udp = 0, dns_tcp = 0;
    uint64_t pending_queries = 0, pending_capacity = 0, pending_evicted = 0;
    std::array<uint64_t, finding_code_count> findings{};
    std::vector<uint64_t> worker_packets;  // per worker, since start
};

std::string prometheus_text(const MetricsSnapshot& m);

}  // namespace frag53
