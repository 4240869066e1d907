// DNSSEC primitives on real signed answers from BIND 9 (tests/analyzers/dnssec/data/answers.pcap,
// made by scripts/make-dnssec-fixtures: RSA keys are 1024 bits for algorithms 5 and 7, 2048 bits
// for 8 and 10). Files are found under $FRAG53_SOURCE_ROOT, else relative to the current
// directory (the source root or the build directory's parent).
#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analyzers/dns/message.h"
#include "analyzers/dnssec/algorithms.h"
#include "analyzers/dnssec/canonical.h"
#include "analyzers/dnssec/ds.h"
#include "analyzers/dnssec/key_cache.h"
#include "analyzers/dnssec/keytag.h"
#include "analyzers/dnssec/nsec3.h"
#include "analyzers/dnssec/verify.h"
#include "dataplane/decode.h"
#include "dataplane/pcap_file_source.h"

namespace {

using frag53::Bytes;
using namespace frag53::dnssec;
namespace dns = frag53::dns;

struct Answer {
    std::vector<uint8_t> wire;
    std::unique_ptr<dns::MessageView> view;
    std::string qname;
    uint16_t qtype = 0;
};

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "dnssec_bench: %s\n", why.c_str());
    std::exit(1);
}

std::string fixture_path() {
    const std::string rel = "tests/analyzers/dnssec/data/answers.pcap";
    std::vector<std::string> candidates;
    if (const char* root = std::getenv("FRAG53_SOURCE_ROOT")) candidates.push_back(std::string(root) + "/" + rel);
    candidates.push_back(rel);
    candidates.push_back("../" + rel);
    for (const auto& p : candidates)
        if (std::ifstream(p)) return p;
    die(rel + " not found; set FRAG53_SOURCE_ROOT to the source tree or run scripts/make-dnssec-fixtures");
}

const std::vector<std::unique_ptr<Answer>>& answers() {
    static const auto all = [] {
        std::vector<std::unique_ptr<Answer>> out;
        frag53::PcapFileSource src({fixture_path()});
        std::array<frag53::PacketView, 16> views;
        frag53::DecodedPacket d;
        for (size_t n; (n = src.receive(views)) > 0;) {
            for (size_t i = 0; i < n; ++i) {
                frag53::decode_frame(views[i], d);
                if (d.status != frag53::DecodeStatus::ok || d.transport != frag53::Transport::udp ||
                    d.sport != 53)
                    continue;
                auto a = std::make_unique<Answer>();
                const auto* p = reinterpret_cast<const uint8_t*>(d.payload.data());
                a->wire.assign(p, p + d.payload.size());
                a->view = std::make_unique<dns::MessageView>();
                if (a->view->parse(frag53::as_bytes(a->wire.data(), a->wire.size())) !=
                    dns::ParseError::none)
                    die("a fixture answer does not parse");
                dns::Name q;
                uint16_t qclass = 0;
                a->view->first_question(q, a->qtype, qclass);
                a->qname = q.to_string();
                for (char& c : a->qname) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                out.push_back(std::move(a));
            }
            src.release(std::span<const frag53::PacketView>(views.data(), n));
        }
        return out;
    }();
    return all;
}

const Answer& answer(const std::string& qname, uint16_t qtype) {
    for (const auto& a : answers())
        if (a->qname == qname && a->qtype == qtype) return *a;
    die("no answer for " + qname);
}

const dns::Record& rrsig_over(const Answer& a, uint16_t type) {
    for (const auto& r : a.view->records())
        if (auto v = a.view->rrsig(r); v && v->type_covered == type) return r;
    die("no RRSIG in the answer for " + a.qname);
}

dns::DnskeyView zone_key(const std::string& zone, uint16_t tag) {
    const Answer& a = answer(zone + ".", dns::rrtype::DNSKEY);
    for (const auto& r : a.view->records())
        if (auto k = a.view->dnskey(r); k && key_tag(k->rdata) == tag) return *k;
    die("no key " + std::to_string(tag) + " in " + zone);
}

std::string zone_of(uint8_t alg) { return "alg" + std::to_string(alg) + ".test"; }

// Signed data, signature and key of the zone's SOA RRSIG, checked valid once.
struct Case {
    std::vector<uint8_t> data;
    Bytes signature;
    std::optional<PublicKey> key;
    dns::DnskeyView dnskey{};
    uint8_t algorithm = 0;
};
Case soa_case(uint8_t alg) {
    Case c;
    const Answer& a = answer(zone_of(alg) + ".", dns::rrtype::SOA);
    const dns::Record& r = rrsig_over(a, dns::rrtype::SOA);
    const auto sig = *a.view->rrsig(r);
    if (signed_data(*a.view, r, c.data) != CanonicalStatus::ok) die("signed_data failed");
    c.signature = sig.signature;
    c.dnskey = zone_key(zone_of(alg), sig.key_tag);
    c.key = PublicKey::from_dnskey(c.dnskey);
    c.algorithm = alg;
    if (!c.key || verify(*c.key, alg, frag53::as_bytes(c.data.data(), c.data.size()), c.signature) !=
                      VerifyStatus::valid)
        die("fixture signature does not verify for algorithm " + std::to_string(alg));
    return c;
}

void BM_Verify(benchmark::State& state) {
    const Case c = soa_case(static_cast<uint8_t>(state.range(0)));
    const Bytes data = frag53::as_bytes(c.data.data(), c.data.size());
    for (auto _ : state) benchmark::DoNotOptimize(verify(*c.key, c.algorithm, data, c.signature));
    state.SetLabel(std::string(algorithm_info(c.algorithm).name) + " " +
                   std::to_string(c.key->bits()) + " bits");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Verify)->Arg(5)->Arg(7)->Arg(8)->Arg(10)->Arg(13)->Arg(14)->Arg(15)->Arg(16);

void BM_KeyParse(benchmark::State& state) {
    const Case c = soa_case(static_cast<uint8_t>(state.range(0)));
    for (auto _ : state) benchmark::DoNotOptimize(PublicKey::from_dnskey(c.dnskey));
    state.SetLabel(algorithm_info(c.algorithm).name);
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_KeyParse)->Arg(8)->Arg(13)->Arg(14)->Arg(15)->Arg(16);

void BM_KeyCacheHit(benchmark::State& state) {
    const Case c = soa_case(13);
    KeyCache cache(1024);
    const dns::Name owner = [] {
        dns::Name n;
        const uint8_t w[] = {5, 'a', 'l', 'g', '1', '3', 4, 't', 'e', 's', 't', 0};
        std::copy(std::begin(w), std::end(w), n.wire.begin());
        n.length = sizeof w;
        return n;
    }();
    cache.get(owner, c.dnskey);
    for (auto _ : state) benchmark::DoNotOptimize(cache.get(owner, c.dnskey));
    if (cache.stats().misses != 1) die("key cache missed");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_KeyCacheHit);

// Signed data of typical RRsets: SOA (2 names), MX (2 records, compressed names), TXT (4
// records out of canonical order), DNSKEY (2 RSA keys).
void BM_SignedData(benchmark::State& state, const char* qname, uint16_t qtype) {
    const Answer& a = answer(qname, qtype);
    const dns::Record& r = rrsig_over(a, qtype);
    std::vector<uint8_t> out;
    for (auto _ : state) {
        benchmark::DoNotOptimize(signed_data(*a.view, r, out));
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK_CAPTURE(BM_SignedData, soa, "alg8.test.", dns::rrtype::SOA);
BENCHMARK_CAPTURE(BM_SignedData, mx, "alg8.test.", dns::rrtype::MX);
BENCHMARK_CAPTURE(BM_SignedData, txt4, "txt.alg8.test.", dns::rrtype::TXT);
BENCHMARK_CAPTURE(BM_SignedData, dnskey_rsa2048, "alg8.test.", dns::rrtype::DNSKEY);

// The whole check of one answer: signed data, cached key, verify (ECDSA P-256).
void BM_SignedDataAndVerify(benchmark::State& state) {
    const Answer& a = answer("txt.alg13.test.", dns::rrtype::TXT);
    const dns::Record& r = rrsig_over(a, dns::rrtype::TXT);
    const auto sig = *a.view->rrsig(r);
    const auto key = PublicKey::from_dnskey(zone_key("alg13.test", sig.key_tag));
    std::vector<uint8_t> out;
    for (auto _ : state) {
        signed_data(*a.view, r, out);
        benchmark::DoNotOptimize(
            verify(*key, sig.algorithm, frag53::as_bytes(out.data(), out.size()), sig.signature));
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SignedDataAndVerify);

void BM_KeyTag(benchmark::State& state) {
    const Case c = soa_case(8);
    for (auto _ : state) benchmark::DoNotOptimize(key_tag(c.dnskey.rdata));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.dnskey.rdata.size()));
}
BENCHMARK(BM_KeyTag);

void BM_DsDigest(benchmark::State& state) {
    const Case c = soa_case(13);
    dns::Name owner;
    const uint8_t w[] = {5, 'a', 'l', 'g', '1', '3', 4, 't', 'e', 's', 't', 0};
    std::copy(std::begin(w), std::end(w), owner.wire.begin());
    owner.length = sizeof w;
    std::array<uint8_t, 48> d{};
    size_t n = 0;
    const auto type = static_cast<uint8_t>(state.range(0));
    for (auto _ : state) benchmark::DoNotOptimize(ds_digest(owner, c.dnskey.rdata, type, d, n));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_DsDigest)->Arg(2)->Arg(1)->Arg(4);

void BM_Nsec3Hash(benchmark::State& state) {
    dns::Name name;
    const uint8_t w[] = {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0};
    std::copy(std::begin(w), std::end(w), name.wire.begin());
    name.length = sizeof w;
    const std::array<uint8_t, 4> salt{0xAA, 0xBB, 0xCC, 0xDD};
    std::array<uint8_t, 20> h{};
    const auto iterations = static_cast<uint16_t>(state.range(0));
    for (auto _ : state)
        benchmark::DoNotOptimize(nsec3_hash(name, frag53::as_bytes(salt.data(), salt.size()), iterations, h));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Nsec3Hash)->Arg(0)->Arg(10)->Arg(100);

void BM_Base32Hex(benchmark::State& state) {
    const std::array<uint8_t, 20> h{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    for (auto _ : state) benchmark::DoNotOptimize(base32hex(frag53::as_bytes(h.data(), h.size())));
}
BENCHMARK(BM_Base32Hex);

}  // namespace

BENCHMARK_MAIN();
