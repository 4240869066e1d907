#include "analyzers/dnssec/nsec3.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "tests/analyzers/dnssec/fixtures.h"

namespace frag53::dnssec {
namespace {

using testing::find_answers;
using testing::from_hex;
using testing::make_name;
using testing::owner_of;
using testing::read_fields;
using testing::zones;

Bytes bytes_of(const std::vector<uint8_t>& v) { return as_bytes(v.data(), v.size()); }
Bytes bytes_of(const std::array<uint8_t, 20>& v) { return as_bytes(v.data(), v.size()); }

TEST(Nsec3Hash, MatchesBindNsec3hash) {
    const auto lines = read_fields("nsec3hash.txt");
    ASSERT_EQ(lines.size(), 48u);
    for (const auto& f : lines) {
        ASSERT_EQ(f.size(), 4u);
        SCOPED_TRACE(f[0] + " " + f[1] + " " + f[2]);
        const std::vector<uint8_t> salt = f[0] == "-" ? std::vector<uint8_t>{} : from_hex(f[0]);
        std::array<uint8_t, 20> h{};
        ASSERT_TRUE(nsec3_hash(make_name(f[2]), bytes_of(salt),
                               static_cast<uint16_t>(std::stoi(f[1])), h));
        EXPECT_EQ(base32hex(bytes_of(h)), f[3]);
    }
}

// The names of every fixture zone (scripts/make-dnssec-fixtures write_zone), empty
// non-terminals included: NSEC3 chains hash those too.
std::vector<std::string> zone_names(const std::string& zone) {
    std::vector<std::string> out{zone};
    for (const char* n : {"ns1", "ns2", "mail", "mx2", "mixed", "txt", "*.wild", "wild"})
        out.push_back(std::string(n) + "." + zone);
    return out;
}

TEST(Nsec3Hash, OwnersOfTheNsec3RecordsDnssecSignzoneMade) {
    size_t zones_checked = 0;
    for (const auto& z : zones()) {
        if (z.denial.rfind("nsec3", 0) != 0) continue;
        SCOPED_TRACE(z.name + " " + z.denial);
        const auto nx = find_answers("nonexistent." + z.name, 1);
        ASSERT_EQ(nx.size(), 1u);
        const dns::MessageView& m = *nx[0]->view;
        size_t nsec3s = 0;
        for (const dns::Record& rr : m.records()) {
            const auto v = m.nsec3(rr);
            if (!v) continue;
            ++nsec3s;
            // The owner's first label is base32hex(hash of one of the zone's names).
            const dns::Name owner = owner_of(m, rr);
            const Bytes label = as_bytes(owner.wire.data() + 1, owner.wire[0]);
            std::array<uint8_t, 20> from_owner{};
            size_t n = 0;
            ASSERT_TRUE(base32hex_decode(label, from_owner, n));
            ASSERT_EQ(n, 20u);
            std::set<std::string> hashes;
            for (const auto& name : zone_names(z.name)) {
                std::array<uint8_t, 20> h{};
                ASSERT_TRUE(nsec3_hash(make_name(name), v->salt, v->iterations, h));
                hashes.insert(base32hex(bytes_of(h)));
            }
            EXPECT_TRUE(hashes.count(base32hex(bytes_of(from_owner))))
                << owner.to_string() << " is no hash of a zone name";
            // And the NSEC3 parameters are the ones the zone was signed with.
            const std::string expect = z.denial.substr(6);
            const std::string salt = v->salt.empty() ? "-" : testing::to_hex(
                reinterpret_cast<const uint8_t*>(v->salt.data()), v->salt.size());
            std::string lower = salt;
            for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            EXPECT_EQ(lower + ":" + std::to_string(v->iterations), expect);
        }
        EXPECT_GE(nsec3s, 2u);
        ++zones_checked;
    }
    EXPECT_EQ(zones_checked, 3u);
}

TEST(Nsec3Hash, CaseInsensitiveAndBounded) {
    const std::vector<uint8_t> salt{0xAA, 0xBB};
    std::array<uint8_t, 20> a{}, b{};
    ASSERT_TRUE(nsec3_hash(make_name("WWW.Example.TEST"), bytes_of(salt), 3, a));
    ASSERT_TRUE(nsec3_hash(make_name("www.example.test"), bytes_of(salt), 3, b));
    EXPECT_EQ(a, b);
    ASSERT_TRUE(nsec3_hash(make_name("www.example.test"), bytes_of(salt), 4, b));
    EXPECT_NE(a, b);

    EXPECT_TRUE(nsec3_hash(make_name("x.test"), {}, max_nsec3_iterations, a));
    EXPECT_FALSE(nsec3_hash(make_name("x.test"), {}, max_nsec3_iterations + 1, a));
    EXPECT_FALSE(nsec3_hash(make_name("x.test"), {}, 65535, a));
    const std::vector<uint8_t> long_salt(256, 1);
    EXPECT_FALSE(nsec3_hash(make_name("x.test"), bytes_of(long_salt), 0, a));
    EXPECT_FALSE(nsec3_hash(dns::Name{}, {}, 0, a));
}

TEST(Base32Hex, Rfc4648Vectors) {
    // RFC 4648 section 10 (base32hex), without the padding DNS leaves out.
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""}, {"f", "CO"}, {"fo", "CPNG"}, {"foo", "CPNMU"}, {"foob", "CPNMUOG"},
        {"fooba", "CPNMUOJ1"}, {"foobar", "CPNMUOJ1E8"},
    };
    for (const auto& [plain, encoded] : vectors) {
        const std::string p(plain);
        EXPECT_EQ(base32hex(as_bytes(p.data(), p.size())), encoded);
        std::array<uint8_t, 16> out{};
        size_t n = 99;
        ASSERT_TRUE(base32hex_decode(std::string_view(encoded), out, n)) << encoded;
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(out.data()), n), p);
        std::string lower(encoded);
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        ASSERT_TRUE(base32hex_decode(std::string_view(lower), out, n));
        EXPECT_EQ(n, p.size());
    }
}

TEST(Base32Hex, DecodeRejectsWhatNoEncoderMakes) {
    std::array<uint8_t, 20> out{};
    size_t n = 0;
    EXPECT_FALSE(base32hex_decode(std::string_view("CPNMUOJ1E8W"), out, n));  // W: not in the alphabet
    EXPECT_FALSE(base32hex_decode(std::string_view("C"), out, n));            // 1 char: no byte
    EXPECT_FALSE(base32hex_decode(std::string_view("CPN"), out, n));          // 3: impossible length
    EXPECT_FALSE(base32hex_decode(std::string_view("CP"), out, n));           // trailing bits set
    EXPECT_FALSE(base32hex_decode(std::string_view("CO=="), out, n));         // padding
    std::array<uint8_t, 2> small{};
    EXPECT_FALSE(base32hex_decode(std::string_view("CPNMU"), small, n));      // 3 bytes into 2
    EXPECT_EQ(n, 0u);
}

}  // namespace
}  // namespace frag53::dnssec
