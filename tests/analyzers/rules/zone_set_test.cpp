#include "analyzers/rules/zone_set.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/analyzers/rules/rules_test_util.h"

namespace frag53::rules {
namespace {

using testing::dump;
using testing::name_of;
using testing::TempFile;

TEST(ZoneSetWithoutHyperscan, LoadingSaysHyperscanIsMissing) {
    if (FRAG53_HAVE_HYPERSCAN) GTEST_SKIP() << "built with Hyperscan";
    for (const char* list : {"example.com", "."}) {
        auto r = ZoneSet::from_list(list);
        EXPECT_FALSE(r.ok()) << list;
        ASSERT_EQ(r.errors.size(), 1u);
        EXPECT_EQ(r.errors[0].message, no_hyperscan_message);
    }
    // Syntax errors are still reported first.
    auto bad = ZoneSet::from_text("example.com\nbad..zone\n");
    ASSERT_EQ(bad.errors.size(), 1u);
    EXPECT_EQ(bad.errors[0].line, 2u);
}

TEST(ZoneFilter, NamesAtAndBelowTheZones) {
    FRAG53_REQUIRE_HYPERSCAN();
    auto r = ZoneSet::from_list(" Example.COM. ,example.net");
    ASSERT_TRUE(r.ok()) << dump(r.errors);
    ASSERT_EQ(r.zones->zones().size(), 2u);
    EXPECT_EQ(r.zones->zones()[1].line, 2u);
    ZoneFilter f(r.zones);
    EXPECT_TRUE(f.contains("example.com"));
    EXPECT_TRUE(f.contains("www.example.com"));
    EXPECT_TRUE(f.contains("a.b.EXAMPLE.net"));
    EXPECT_TRUE(f.contains(name_of({"WWW", "Example", "Com"})));
    EXPECT_FALSE(f.contains("badexample.com"));
    EXPECT_FALSE(f.contains("com"));
    EXPECT_FALSE(f.contains("example.org"));
    EXPECT_FALSE(f.contains("example.com.evil"));
    EXPECT_FALSE(f.contains(name_of({"x.example", "com"})));  // one label "x.example" under com
    EXPECT_TRUE(f.contains(name_of({"x.y", "example", "com"})));
    EXPECT_FALSE(f.contains(dns::Name{}));
    EXPECT_FALSE(f.contains(""));
    EXPECT_EQ(f.scan_errors(), 0u);
}

TEST(ZoneFilter, RootContainsEverything) {
    FRAG53_REQUIRE_HYPERSCAN();
    auto r = ZoneSet::from_list("example.com,.");
    ASSERT_TRUE(r.ok()) << dump(r.errors);
    EXPECT_TRUE(r.zones->contains_everything());
    ZoneFilter f(r.zones);
    EXPECT_TRUE(f.contains("anything.org"));
    EXPECT_TRUE(f.contains(name_of({})));
}

TEST(ZoneSet, FileWithCommentsAndDuplicates) {
    FRAG53_REQUIRE_HYPERSCAN();
    auto r = ZoneSet::from_text("# zones\r\nexample.com\r\n\r\n  example.org   # trailing\nEXAMPLE.COM.\n");
    ASSERT_TRUE(r.ok()) << dump(r.errors);
    EXPECT_EQ(r.zones->zones().size(), 2u);
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_EQ(r.warnings[0].line, 5u);
    ZoneFilter f(r.zones);
    EXPECT_TRUE(f.contains("mail.example.org"));
}

TEST(ZoneSet, ErrorsWithLinesAndItems) {
    auto text = ZoneSet::from_text("example.com\n*.example.net\nexample.org extra\nbad\\\n");
    std::vector<uint32_t> lines;
    for (const auto& e : text.errors) lines.push_back(e.line);
    EXPECT_EQ(lines, (std::vector<uint32_t>{2, 3, 4})) << dump(text.errors);
    EXPECT_FALSE(text.ok());

    auto list = ZoneSet::from_list("example.com,,a..b");
    ASSERT_EQ(list.errors.size(), 2u) << dump(list.errors);
    EXPECT_EQ(list.errors[0].message, "zone 2 of the list is empty");
    EXPECT_NE(list.errors[1].message.find("zone 3 'a..b': empty label"), std::string::npos) << list.errors[1].message;

    auto empty = ZoneSet::from_text("# nothing\n");
    EXPECT_FALSE(empty.ok());
    ASSERT_EQ(empty.errors.size(), 1u);
    EXPECT_EQ(empty.errors[0].message, "no zones given");

    ZoneLimits limits;
    limits.max_zones = 2;
    auto many = ZoneSet::from_list("a.ex,b.ex,c.ex", limits);
    ASSERT_EQ(many.errors.size(), 1u);
    EXPECT_EQ(many.errors[0].message, "more than 2 zones");
    auto nul = ZoneSet::from_text(std::string_view("a.ex\nb\0.ex\n", 11));
    ASSERT_EQ(nul.errors.size(), 1u);
    EXPECT_EQ(nul.errors[0].line, 2u);
}

TEST(ZoneSet, ArgumentIsAFileOrAList) {
    FRAG53_REQUIRE_HYPERSCAN();
    TempFile file("example.com\n");
    auto from_file = ZoneSet::from_argument(file.path());
    ASSERT_TRUE(from_file.ok()) << dump(from_file.errors);
    EXPECT_EQ(from_file.zones->zones()[0].line, 1u);
    auto from_list = ZoneSet::from_argument("example.com,example.net");
    ASSERT_TRUE(from_list.ok()) << dump(from_list.errors);
    EXPECT_EQ(from_list.zones->zones().size(), 2u);
    auto missing = ZoneSet::from_argument("./no-such-zones-file");
    ASSERT_EQ(missing.errors.size(), 1u);
    EXPECT_NE(missing.errors[0].message.find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace frag53::rules
