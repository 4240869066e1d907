// DNS message parsing on real DNSSEC answers from BIND 9 (scripts/make-bench-data regenerates
// bench/data/). Files are found under $FRAG53_SOURCE_ROOT, else relative to the current
// directory (the source root or the build directory's parent).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "analyzers/dns/message.h"

namespace {

using frag53::Bytes;
using frag53::dns::MessageView;
using frag53::dns::Name;
using frag53::dns::ParseError;

std::vector<uint8_t> load(const std::string& file) {
    std::vector<std::string> candidates;
    if (const char* root = std::getenv("FRAG53_SOURCE_ROOT"))
        candidates.push_back(std::string(root) + "/bench/data/" + file);
    candidates.push_back("bench/data/" + file);
    candidates.push_back("../bench/data/" + file);
    for (const auto& path : candidates) {
        std::ifstream in(path, std::ios::binary);
        if (in) return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    std::fprintf(stderr,
                 "dns_parser_bench: bench/data/%s not found; set FRAG53_SOURCE_ROOT to the source "
                 "tree or run scripts/make-bench-data\n",
                 file.c_str());
    std::exit(1);
}

// Loaded once, checked once: a benchmark of a message that fails to parse would measure the
// error path, not the parser.
const std::vector<uint8_t>& message(const std::string& file) {
    static std::vector<std::pair<std::string, std::vector<uint8_t>>> cache;
    for (const auto& [name, bytes] : cache)
        if (name == file) return bytes;
    auto bytes = load(file);
    auto view = std::make_unique<MessageView>();
    if (view->parse(frag53::as_bytes(bytes.data(), bytes.size())) != ParseError::none) {
        std::fprintf(stderr, "dns_parser_bench: %s does not parse: %s at %zu\n", file.c_str(),
                     frag53::dns::to_string(view->error()), view->error_offset());
        std::exit(1);
    }
    cache.emplace_back(file, std::move(bytes));
    return cache.back().second;
}

void BM_Parse(benchmark::State& state, const char* file) {
    const auto& bytes = message(file);
    const Bytes wire = frag53::as_bytes(bytes.data(), bytes.size());
    auto view = std::make_unique<MessageView>();  // reused, as a worker does
    for (auto _ : state) {
        benchmark::DoNotOptimize(view->parse(wire));
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
    state.counters["records"] = static_cast<double>(view->records_seen());
}

void BM_ParseAndDecodeOwners(benchmark::State& state, const char* file) {
    const auto& bytes = message(file);
    const Bytes wire = frag53::as_bytes(bytes.data(), bytes.size());
    auto view = std::make_unique<MessageView>();
    Name name;
    for (auto _ : state) {
        view->parse(wire);
        for (const auto& q : view->questions())
            benchmark::DoNotOptimize(frag53::dns::decode_name(wire, q.name_offset, name));
        for (const auto& rr : view->records())
            benchmark::DoNotOptimize(frag53::dns::decode_name(wire, rr.name_offset, name));
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
}

BENCHMARK_CAPTURE(BM_Parse, dnskey_response, "dnskey_response.bin");
BENCHMARK_CAPTURE(BM_Parse, nsec3_nxdomain_response, "nsec3_nxdomain_response.bin");
BENCHMARK_CAPTURE(BM_ParseAndDecodeOwners, dnskey_response, "dnskey_response.bin");
BENCHMARK_CAPTURE(BM_ParseAndDecodeOwners, nsec3_nxdomain_response, "nsec3_nxdomain_response.bin");

}  // namespace

BENCHMARK_MAIN();
