// What `frag53 probe` prints and writes: the human table, the JSON document, the configuration
// lines for common DNS servers and the exit status.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "prober/probe/engine.h"

namespace frag53::probe {

struct RunInfo {
    std::string target;
    uint16_t port = 53;
    std::string zone;
    std::string interface_name;  // of the capture; empty without
    double elapsed_s = 0;
    uint32_t srtt_us = 0;
    uint64_t capture_drops = 0;
};

// Exit status: 0 the path carries answers up to the ceiling (UDP as servers send them and
// TCP), 1 it breaks answers larger than 1232 bytes somewhere, 2 the gate failed (no
// verdict), 3 inconclusive (path.lossy).
int exit_status(const EngineReport& r) noexcept;

struct ConfigLine {
    const char* key;     // "bind", "unbound", "knot", "powerdns"
    const char* server;  // "BIND", ...
    std::string line;    // "options { edns-udp-size 1232; max-udp-size 1232; };"
};
// The configuration that makes each server use `bufsize` for EDNS (sending and receiving).
std::vector<ConfigLine> config_lines(uint16_t bufsize);

std::string human_report(const EngineReport& r, const RunInfo& info);
// The JSON document (docs/probe.md, "Prober"). Throws std::runtime_error when it cannot be
// written.
std::string json_report(const EngineReport& r, const RunInfo& info);

}  // namespace frag53::probe
