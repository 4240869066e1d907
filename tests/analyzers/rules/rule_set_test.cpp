#include "analyzers/rules/rule_set.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <cstdint>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "analyzers/rules/name_syntax.h"
#include "tests/analyzers/rules/rules_test_util.h"

namespace frag53::rules {
namespace {

using testing::dump;
using testing::name_of;
using testing::TempFile;

std::shared_ptr<const RuleSet> load(std::string_view text) {
    auto r = RuleSet::from_text(text);
    EXPECT_TRUE(r.ok()) << dump(r.errors);
    return r.rules;
}

// Tags of the rules `name` matches, sorted.
std::vector<std::string> tags(RuleMatcher& m, std::string_view name) {
    std::vector<std::string> out;
    const size_t n = m.match(name, [&](uint32_t id) noexcept { out.push_back(m.rules().rule(id).tag); });
    EXPECT_EQ(n, out.size());
    std::sort(out.begin(), out.end());
    return out;
}
std::vector<std::string> tags(RuleMatcher& m, const dns::Name& name) {
    std::vector<std::string> out;
    m.match(name, [&](uint32_t id) noexcept { out.push_back(m.rules().rule(id).tag); });
    std::sort(out.begin(), out.end());
    return out;
}
using Tags = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// Without Hyperscan

TEST(RuleSetWithoutHyperscan, LoadingSaysHyperscanIsMissing) {
    if (FRAG53_HAVE_HYPERSCAN) GTEST_SKIP() << "built with Hyperscan";
    auto r = RuleSet::from_text("www.example.com t info\n");
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].message, "qname rules need Hyperscan, which this build does not have");
    EXPECT_EQ(r.errors[0].line, 0u);
    EXPECT_FALSE(hyperscan_available());
    // Syntax errors are still found, with their lines.
    auto bad = RuleSet::from_text("www.example.com t info\nx.example t nope\n");
    ASSERT_EQ(bad.errors.size(), 1u);
    EXPECT_EQ(bad.errors[0].line, 2u);
}

// ---------------------------------------------------------------------------------------------
// Semantics

TEST(RuleSet, LiteralMatchesExactlyThatNameInAnyCase) {
    FRAG53_REQUIRE_HYPERSCAN();
    RuleMatcher m(load("www.example.com. lit info\n"));
    EXPECT_EQ(tags(m, "www.example.com"), Tags{"lit"});
    EXPECT_EQ(tags(m, "WWW.Example.COM"), Tags{"lit"});
    EXPECT_EQ(tags(m, name_of({"WwW", "EXAMPLE", "com"})), Tags{"lit"});
    EXPECT_TRUE(tags(m, "example.com").empty());
    EXPECT_TRUE(tags(m, "a.www.example.com").empty());
    EXPECT_TRUE(tags(m, "www.example.com.evil").empty());
    EXPECT_TRUE(tags(m, "www.example.co").empty());
    EXPECT_TRUE(tags(m, "wwwxexample.com").empty());  // '.' in the pattern is not "any byte"
    EXPECT_TRUE(tags(m, "www.example.com.").empty());  // match forms have no trailing dot
    EXPECT_TRUE(tags(m, std::string_view("www.example.com\x02", 16)).empty());
    // Frame bytes inside the string cannot forge a name: control bytes are not a match form.
    EXPECT_TRUE(tags(m, std::string_view("x\x02\x01www.example.com", 18)).empty());
    EXPECT_EQ(m.counters().invalid_names, 3u);
}

TEST(RuleSet, BelowWildcardExcludesTheApexAndLookalikes) {
    FRAG53_REQUIRE_HYPERSCAN();
    RuleMatcher m(load("*.example.com below info\n"));
    EXPECT_EQ(tags(m, "www.example.com"), Tags{"below"});
    EXPECT_EQ(tags(m, "a.b.c.example.com"), Tags{"below"});
    EXPECT_EQ(tags(m, "X.EXAMPLE.COM"), Tags{"below"});
    EXPECT_TRUE(tags(m, "example.com").empty());
    EXPECT_TRUE(tags(m, "badexample.com").empty());
    EXPECT_TRUE(tags(m, "www.badexample.com").empty());
    EXPECT_TRUE(tags(m, "www.example.com.evil.net").empty());
    EXPECT_TRUE(tags(m, "www.example.comm").empty());
    EXPECT_TRUE(tags(m, ".example.com").empty());  // not a match form: no empty labels
    EXPECT_TRUE(tags(m, "a..example.com").empty());
    EXPECT_EQ(m.counters().invalid_names, 2u);
}

TEST(RuleSet, LabelsWithDotsCannotSpoofAWildcard) {
    FRAG53_REQUIRE_HYPERSCAN();
    RuleMatcher m(load("*.example.com below info\nwww.example.com lit info\n"));
    // One label "x.example" under com: not below example.com.
    EXPECT_TRUE(tags(m, name_of({"x.example", "com"})).empty());
    // One label "www.example.com" at the top: not www.example.com.
    EXPECT_TRUE(tags(m, name_of({"www.example.com"})).empty());
    // A label ending in a backslash, then example.com: below it.
    EXPECT_EQ(tags(m, name_of({"x\\", "example", "com"})), Tags{"below"});
    // The label "a.b" under example.com is below example.com.
    EXPECT_EQ(tags(m, name_of({"a.b", "example", "com"})), Tags{"below"});
    // Binary bytes are escaped and still below.
    EXPECT_EQ(tags(m, name_of({std::string_view("\x00\xff\n", 3), "example", "com"})), Tags{"below"});
}

TEST(RuleSet, ApexAndBelow) {
    FRAG53_REQUIRE_HYPERSCAN();
    RuleMatcher m(load("**.example.com both info\n"));
    EXPECT_EQ(tags(m, "example.com"), Tags{"both"});
    EXPECT_EQ(tags(m, "www.example.com"), Tags{"both"});
    EXPECT_EQ(tags(m, "a.b.example.com"), Tags{"both"});
    EXPECT_TRUE(tags(m, "badexample.com").empty());
    EXPECT_TRUE(tags(m, "com").empty());
}

TEST(RuleSet, LiteralOfALabelWithADot) {
    FRAG53_REQUIRE_HYPERSCAN();
    RuleMatcher m(load("a\\.b.example.com dotted info\n"));
    EXPECT_EQ(tags(m, name_of({"a.b", "example", "com"})), Tags{"dotted"});
    EXPECT_TRUE(tags(m, name_of({"a", "b", "example", "com"})).empty());
}

TEST(RuleSet, Regex) {
    FRAG53_REQUIRE_HYPERSCAN();
    RuleMatcher m(load("/^[a-z0-9]{30,}\\.tunnel\\.example$/ tunnel high\n"
                       "/^[A-Z]+\\.upper$/ caseless info\n"
                       "/\\\\046/ dot-in-label low\n"
                       "/xn--/ idn info\n"));
    EXPECT_EQ(tags(m, std::string(30, 'a') + ".tunnel.example"), Tags{"tunnel"});
    EXPECT_EQ(tags(m, std::string(29, 'a') + "7.TUNNEL.example"), Tags{"tunnel"});
    EXPECT_TRUE(tags(m, std::string(29, 'a') + ".tunnel.example").empty());
    EXPECT_TRUE(tags(m, std::string(30, 'a') + ".x.tunnel.example").empty());
    EXPECT_EQ(tags(m, "abc.upper"), Tags{"caseless"});  // regexes are caseless, names lowercased
    EXPECT_EQ(tags(m, name_of({"a.b", "example"})), Tags{"dot-in-label"});
    EXPECT_TRUE(tags(m, name_of({"a", "b", "example"})).empty());
    EXPECT_EQ(tags(m, "www.xn--bcher-kva.example"), Tags{"idn"});  // regexes search, unanchored
}

TEST(RuleSet, SeveralRulesMatchOneName) {
    FRAG53_REQUIRE_HYPERSCAN();
    auto set = load("www.example.com lit info\n"
                    "*.example.com below low\n"
                    "**.example.com both medium\n"
                    "/^www\\./ www high\n"
                    "*.com tld info\n"
                    "*.example.net other info\n"
                    "www.example.com lit2 critical\n");
    RuleMatcher m(set);
    EXPECT_EQ(tags(m, "www.example.com"), (Tags{"below", "both", "lit", "lit2", "tld", "www"}));
    EXPECT_EQ(tags(m, "example.com"), (Tags{"both", "tld"}));
    EXPECT_EQ(m.counters().names, 2u);
    EXPECT_EQ(m.counters().matched_names, 2u);
    EXPECT_EQ(m.counters().matches, 8u);
    EXPECT_EQ(m.counters().scan_errors, 0u);
    // The report of a match: pattern, tag, severity and line.
    std::vector<uint32_t> ids;
    m.match("www.example.com", [&](uint32_t id) noexcept { ids.push_back(id); });
    std::sort(ids.begin(), ids.end());
    ASSERT_EQ(ids.size(), 6u);
    const Rule& last = set->rule(ids.back());
    EXPECT_EQ(last.pattern, "www.example.com");
    EXPECT_EQ(last.tag, "lit2");
    EXPECT_EQ(last.severity, RuleSeverity::critical);
    EXPECT_EQ(last.line, 7u);
}

TEST(RuleSet, EmptyRuleSetMatchesNothing) {
    FRAG53_REQUIRE_HYPERSCAN();
    auto r = RuleSet::from_text("# none\n");
    ASSERT_TRUE(r.ok()) << dump(r.errors);
    ASSERT_EQ(r.warnings.size(), 1u);
    RuleMatcher m(r.rules);
    EXPECT_EQ(m.match("www.example.com", [](uint32_t) noexcept {}), 0u);
    EXPECT_EQ(m.counters().scan_errors, 0u);
}

TEST(RuleSet, UndecodedNameIsCountedNotMatched) {
    FRAG53_REQUIRE_HYPERSCAN();
    RuleMatcher m(load("/./ any info\n"));
    dns::Name undecoded;
    EXPECT_EQ(m.match(undecoded, [](uint32_t) noexcept {}), 0u);
    EXPECT_EQ(m.counters().invalid_names, 1u);
    EXPECT_EQ(m.match("", [](uint32_t) noexcept {}), 0u);
    EXPECT_EQ(m.match("a\\256.b", [](uint32_t) noexcept {}), 0u);  // \DDD above 255
    EXPECT_EQ(m.match("a\\04.b", [](uint32_t) noexcept {}), 0u);   // short escape
    EXPECT_EQ(m.counters().invalid_names, 4u);
    EXPECT_EQ(m.counters().names, 0u);
    EXPECT_EQ(m.match(".", [](uint32_t) noexcept {}), 1u);
    EXPECT_EQ(m.match("a\\255.b", [](uint32_t) noexcept {}), 1u);
}

// ---------------------------------------------------------------------------------------------
// Compile errors carry the line of the rule

TEST(RuleSetErrors, InvalidRegexReportsItsLine) {
    FRAG53_REQUIRE_HYPERSCAN();
    auto r = RuleSet::from_text("# header\n"
                                "www.example.com a info\n"
                                "\n"
                                "/ok[0-9]+/ b info\n"
                                "# more\n"
                                "/a(b/ c info\n"
                                "*.example.net d info\n");
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
    EXPECT_EQ(r.errors[0].line, 6u);
    EXPECT_NE(r.errors[0].message.find("invalid regex"), std::string::npos) << r.errors[0].message;
}

TEST(RuleSetErrors, EveryBadRegexIsReported) {
    FRAG53_REQUIRE_HYPERSCAN();
    auto r = RuleSet::from_text("/(a)\\1/ backref info\n"      // backreferences: not in Hyperscan
                                "/good/ g info\n"
                                "/x{2,1}/ bad-range info\n"
                                "/a*/ empty info\n"            // matches the empty string
                                "/[z-a]/ bad-class info\n");
    ASSERT_FALSE(r.ok());
    std::vector<uint32_t> lines;
    for (const auto& e : r.errors) lines.push_back(e.line);
    EXPECT_EQ(lines, (std::vector<uint32_t>{1, 3, 4, 5})) << dump(r.errors);
    EXPECT_NE(r.errors[2].message.find("empty string"), std::string::npos) << r.errors[2].message;
}

TEST(RuleSetErrors, CompileOfRulesBuiltInCode) {
    FRAG53_REQUIRE_HYPERSCAN();
    Rule ok, bad;
    std::string error;
    ASSERT_TRUE(parse_pattern("*.example.com", ok, error));
    ASSERT_TRUE(parse_pattern("/(?<=x)+/", bad, error));
    ok.tag = bad.tag = "t";
    ok.line = 10;
    bad.line = 20;
    auto r = RuleSet::compile({ok, bad});
    ASSERT_FALSE(r.ok());
    ASSERT_FALSE(r.errors.empty());
    EXPECT_EQ(r.errors[0].line, 20u) << dump(r.errors);
}

TEST(PatternDatabaseErrors, WholeCompileErrorsMapBackThroughTheExpressionIndex) {
    FRAG53_REQUIRE_HYPERSCAN();
    // Generated expressions skip the one-by-one check, so this error only shows in
    // hs_compile_multi, which names the failing expression by index.
    const PatternDatabase::Expression exprs[] = {
        {"^abc\\z", PatternDatabase::Syntax::name, 7, 0},
        {"^ab\\.cd\\z", PatternDatabase::Syntax::name, 8, 5},
        {"x$y", PatternDatabase::Syntax::name, 9, 2},
    };
    PatternDatabase db;
    std::vector<Diagnostic> errors;
    EXPECT_FALSE(db.compile(exprs, errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].line, 9u);
    EXPECT_NE(errors[0].message.find("cannot compile"), std::string::npos) << errors[0].message;
    EXPECT_FALSE(db.compiled());
    // The same database object compiles again cleanly.
    errors.clear();
    ASSERT_TRUE(db.compile(std::span(exprs, 2), errors)) << dump(errors);
    auto scratch = db.make_scratch();
    uint32_t seen = 99;
    EXPECT_TRUE(db.scan("ab.cd", scratch.get(), [](void* ctx, uint32_t id) noexcept {
        *static_cast<uint32_t*>(ctx) = id;
        return true;
    }, &seen));
    EXPECT_EQ(seen, 5u);  // the expression's id, not its index
}

// ---------------------------------------------------------------------------------------------
// Files

TEST(RuleSetFile, LoadsAFile) {
    FRAG53_REQUIRE_HYPERSCAN();
    TempFile f("*.example.com t high\r\nwww.example.com t high\r\nwww.example.com t high\r\n");
    auto r = RuleSet::load_file(f.path());
    ASSERT_TRUE(r.ok()) << dump(r.errors);
    EXPECT_EQ(r.rules->size(), 2u);
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_EQ(r.warnings[0].line, 3u);
    EXPECT_GT(r.rules->database_bytes(), 0u);
    EXPECT_GT(r.rules->scratch_bytes(), 0u);
}

TEST(RuleSetFile, MissingDirectoryAndOversizedFiles) {
    auto missing = RuleSet::load_file("/nonexistent/frag53/rules.txt");
    ASSERT_EQ(missing.errors.size(), 1u);
    EXPECT_NE(missing.errors[0].message.find("cannot open"), std::string::npos);
    auto dir = RuleSet::load_file("/");
    ASSERT_EQ(dir.errors.size(), 1u);
    EXPECT_EQ(dir.errors[0].message, "is a directory");
    TempFile f(std::string(5000, '#'));
    RuleLimits limits;
    limits.max_file_size = 4096;
    auto big = RuleSet::load_file(f.path(), limits);
    ASSERT_EQ(big.errors.size(), 1u);
    EXPECT_EQ(big.errors[0].message, "larger than 4096 bytes");
    // A character device has no size: the cap holds while reading.
    auto dev = RuleSet::load_file("/dev/zero", limits);
    ASSERT_EQ(dev.errors.size(), 1u);
    EXPECT_EQ(dev.errors[0].message, "larger than 4096 bytes");
}

// ---------------------------------------------------------------------------------------------
// Differential: Hyperscan against a direct implementation of the documented semantics.

struct Rng {
    uint64_t s;
    uint64_t next() {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

std::string random_label(Rng& rng) {
    static const char* common[] = {"www", "example", "com", "net", "a", "b", "x-1", "tunnel",
                                   "badexample", "mail", "cdn", "A.B", "WWW", "Example"};
    if (rng.below(4) != 0) return common[rng.below(std::size(common))];
    std::string l;
    const size_t len = 1 + rng.below(40);
    for (size_t i = 0; i < len; ++i) l += "abcdefghijklmnopqrstuvwxyz0123456789-"[rng.below(37)];
    return l;
}

dns::Name random_name(Rng& rng) {
    std::vector<std::string> labels;
    const size_t n = rng.below(5);
    for (size_t i = 0; i < n; ++i) labels.push_back(random_label(rng));
    dns::Name name;
    size_t at = 0;
    for (const auto& l : labels) {
        name.wire[at++] = static_cast<uint8_t>(l.size());
        for (char c : l) name.wire[at++] = static_cast<uint8_t>(c);
    }
    name.wire[at++] = 0;
    name.length = static_cast<uint8_t>(at);
    return name;
}

TEST(RuleSetDifferential, AgreesWithADirectImplementation) {
    FRAG53_REQUIRE_HYPERSCAN();
    Rng rng{42};
    std::string text;
    static const char* regexes[] = {
        "/^[a-z0-9]{20,}\\./", "/tunnel\\.(com|net)$/", "/^(?:[a-z]+-){1}[0-9]+\\./",
        "/\\\\046/", "/^www\\.[^.]+\\.com$/", "/(^|\\.)mail\\./", "/[0-9]{3}/",
    };
    for (int i = 0; i < 300; ++i) {
        const size_t kind = rng.below(10);
        // Labels holding dots are written escaped in rules.
        std::string written;
        const size_t labels = 1 + rng.below(2);
        for (size_t k = 0; k < labels; ++k) {
            if (k) written += '.';
            for (char c : random_label(rng)) {
                if (c == '.') written += '\\';
                written += c;
            }
        }
        if (kind < 4) text += written;
        else if (kind < 7) text += "*." + written;
        else if (kind < 9) text += "**." + written;
        else text += regexes[rng.below(std::size(regexes))];
        text += " r" + std::to_string(i) + " info\n";
    }
    auto r = RuleSet::from_text(text);
    ASSERT_TRUE(r.ok()) << dump(r.errors);
    RuleMatcher m(r.rules);

    // The reference: suffix comparisons on the match form, std::regex for regexes.
    struct Ref {
        PatternKind kind;
        std::string zone;
        std::regex re;
    };
    std::vector<Ref> refs;
    for (const Rule& rule : r.rules->rules()) {
        Ref ref{rule.kind, {}, {}};
        if (rule.kind == PatternKind::regex) {
            ref.re = std::regex(rule.regex, std::regex::ECMAScript | std::regex::icase);
        } else {
            std::string_view p = rule.pattern;
            if (p.starts_with("**.")) p.remove_prefix(3);
            else if (p.starts_with("*.")) p.remove_prefix(2);
            dns::Name zn;
            std::string error;
            ASSERT_TRUE(parse_presentation_name(p, zn, error)) << error;
            MatchName buf;
            ref.zone = std::string(buf.render(zn));
        }
        refs.push_back(std::move(ref));
    }
    size_t total = 0;
    for (int i = 0; i < 3000; ++i) {
        const dns::Name name = random_name(rng);
        MatchName buf;
        const std::string form(buf.render(name));
        std::set<uint32_t> want;
        for (uint32_t id = 0; id < refs.size(); ++id) {
            const Ref& ref = refs[id];
            const bool below = form.size() > ref.zone.size() + 1 && form.ends_with("." + ref.zone);
            bool hit = false;
            switch (ref.kind) {
            case PatternKind::literal: hit = form == ref.zone; break;
            case PatternKind::below: hit = below; break;
            case PatternKind::apex_and_below: hit = below || form == ref.zone; break;
            case PatternKind::regex: hit = std::regex_search(form, ref.re); break;
            }
            if (hit) want.insert(id);
        }
        std::set<uint32_t> got;
        m.match(name, [&](uint32_t id) noexcept { got.insert(id); });
        ASSERT_EQ(got, want) << "name " << form;
        total += got.size();
    }
    EXPECT_GT(total, 1000u);  // the generator makes names that do match
}

// ---------------------------------------------------------------------------------------------
// One database, one scratch per thread

TEST(RuleMatcher, WorkersShareTheDatabaseWithTheirOwnScratch) {
    FRAG53_REQUIRE_HYPERSCAN();
    auto set = load("*.example.com a info\n/^[0-9]+\\./ b info\n**.example.net c info\n");
    std::vector<std::string> names;
    for (int i = 0; i < 2000; ++i)
        names.push_back(std::to_string(i) + (i % 3 == 0 ? ".example.com" : i % 3 == 1 ? ".example.net" : ".org"));
    auto run = [&](uint64_t& matches) {
        RuleMatcher m(set);
        for (int round = 0; round < 20; ++round)
            for (const auto& n : names) matches += m.match(n, [](uint32_t) noexcept {});
    };
    uint64_t a = 0, b = 0, single = 0;
    std::thread t1(run, std::ref(a)), t2(run, std::ref(b));
    t1.join();
    t2.join();
    run(single);
    EXPECT_EQ(a, single);
    EXPECT_EQ(b, single);
    // 667 names in example.com: a, b; 667 in example.net: b, c; 666 .org: b.
    EXPECT_EQ(single, 20u * (667 * 2 + 667 * 2 + 666));
}

}  // namespace
}  // namespace frag53::rules
