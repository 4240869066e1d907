#include "analyzers/rules/rule_file.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "tests/analyzers/rules/rules_test_util.h"

namespace frag53::rules {
namespace {

using testing::dump;

// The single error of parsing `text`, which must fail.
Diagnostic only_error(std::string_view text, const RuleLimits& limits = {}) {
    const ParsedRules p = parse_rules(text, limits);
    EXPECT_TRUE(p.rules.empty());
    EXPECT_EQ(p.errors.size(), 1u) << dump(p.errors);
    return p.errors.empty() ? Diagnostic{} : p.errors.front();
}

void expect_error(std::string_view text, uint32_t line, std::string_view needle,
                  const RuleLimits& limits = {}) {
    const Diagnostic d = only_error(text, limits);
    EXPECT_EQ(d.line, line) << d.message;
    EXPECT_NE(d.message.find(needle), std::string::npos) << "message: " << d.message;
}

// ---------------------------------------------------------------------------------------------
// Accepted files

TEST(ParseRules, EveryKindWithCommentsBlanksTabsAndCrlf) {
    const std::string_view text =
        "# qname rules\r\n"
        "\r\n"
        "www.Example.COM.\tphish_1   HIGH\r\n"
        "   *.example.net   below   medium   # trailing comment\n"
        "\t\n"
        "**.example.org apex.and-below critical\n"
        "/^[a-z0-9]{30,}\\.tunnel\\.example$/ dns-tunnel low\n"
        "   # indented comment\n"
        "xn--bcher-kva.example info-tag info";  // no final newline
    const ParsedRules p = parse_rules(text);
    ASSERT_TRUE(p.ok()) << dump(p.errors);
    EXPECT_TRUE(p.warnings.empty()) << dump(p.warnings);
    ASSERT_EQ(p.rules.size(), 5u);

    EXPECT_EQ(p.rules[0].kind, PatternKind::literal);
    EXPECT_EQ(p.rules[0].line, 3u);
    EXPECT_EQ(p.rules[0].pattern, "www.Example.COM.");
    EXPECT_EQ(p.rules[0].tag, "phish_1");
    EXPECT_EQ(p.rules[0].severity, RuleSeverity::high);
    EXPECT_EQ(p.rules[0].name, "www.example.com");

    EXPECT_EQ(p.rules[1].kind, PatternKind::below);
    EXPECT_EQ(p.rules[1].line, 4u);
    EXPECT_EQ(p.rules[1].severity, RuleSeverity::medium);
    EXPECT_EQ(p.rules[1].name, "example.net");

    EXPECT_EQ(p.rules[2].kind, PatternKind::apex_and_below);
    EXPECT_EQ(p.rules[2].line, 6u);
    EXPECT_EQ(p.rules[2].tag, "apex.and-below");
    EXPECT_EQ(p.rules[2].severity, RuleSeverity::critical);
    EXPECT_EQ(p.rules[2].name, "example.org");

    EXPECT_EQ(p.rules[3].kind, PatternKind::regex);
    EXPECT_EQ(p.rules[3].line, 7u);
    EXPECT_EQ(p.rules[3].regex, "^[a-z0-9]{30,}\\.tunnel\\.example$");
    EXPECT_TRUE(p.rules[3].name.empty());
    EXPECT_EQ(p.rules[3].severity, RuleSeverity::low);

    EXPECT_EQ(p.rules[4].line, 9u);
    EXPECT_EQ(p.rules[4].severity, RuleSeverity::info);
}

TEST(ParseRules, SeveritiesInAnyCase) {
    for (std::string_view s : {"info", "LOW", "Medium", "hIgH", "CRITICAL"}) {
        RuleSeverity out = RuleSeverity::info;
        EXPECT_TRUE(parse_severity(s, out)) << s;
    }
    RuleSeverity out = RuleSeverity::info;
    ASSERT_TRUE(parse_severity("Critical", out));
    EXPECT_EQ(out, RuleSeverity::critical);
    EXPECT_EQ(severity_name(out), "critical");
    EXPECT_FALSE(parse_severity("crit", out));
    EXPECT_FALSE(parse_severity("", out));
    EXPECT_FALSE(parse_severity("warning", out));
}

TEST(ParseRules, ByteOrderMarkAndUtf8CommentsAreAccepted) {
    const ParsedRules p = parse_rules("\xEF\xBB\xBFwww.example.com t info\n# r\xC3\xA8gle \xE2\x9C\x93\n");
    ASSERT_TRUE(p.ok()) << dump(p.errors);
    ASSERT_EQ(p.rules.size(), 1u);
    EXPECT_EQ(p.rules[0].pattern, "www.example.com");
}

TEST(ParseRules, EscapesInNamesAreDecodedIntoTheMatchForm) {
    const ParsedRules p = parse_rules("a\\.b.example.com t info\n\\042.Example.com t2 info\n");
    ASSERT_TRUE(p.ok()) << dump(p.errors);
    ASSERT_EQ(p.rules.size(), 2u);
    // The label "a.b": its dot is a \046 escape in the match form, never a separator.
    EXPECT_EQ(p.rules[0].name, "a\\046b.example.com");
    // \042 is '*': a literal star label, not a wildcard.
    EXPECT_EQ(p.rules[1].kind, PatternKind::literal);
    EXPECT_EQ(p.rules[1].name, "*.example.com");
}

TEST(ParseRules, EmptyFileHasNoRulesAndSaysSo) {
    const ParsedRules p = parse_rules("# nothing yet\n\n");
    EXPECT_TRUE(p.ok());
    EXPECT_TRUE(p.rules.empty());
    ASSERT_EQ(p.warnings.size(), 1u);
    EXPECT_EQ(p.warnings[0].message, "no rules");
}

TEST(ParseRules, RootLiteral) {
    const ParsedRules p = parse_rules(". root info\n");
    ASSERT_TRUE(p.ok()) << dump(p.errors);
    EXPECT_EQ(p.rules[0].name, ".");
}

// ---------------------------------------------------------------------------------------------
// Duplicates

TEST(ParseRules, ExactDuplicateIsDroppedWithAWarningAndTheFirstSeverityStands) {
    const ParsedRules p = parse_rules(
        "www.example.com dup high\n"
        "other.example t info\n"
        "WWW.EXAMPLE.COM. dup low\n"     // same name, same tag: duplicate
        "www.example.com other medium\n"  // same name, other tag: kept
        "*.example.com dup info\n");      // other kind: kept
    ASSERT_TRUE(p.ok()) << dump(p.errors);
    ASSERT_EQ(p.rules.size(), 4u);
    EXPECT_EQ(p.rules[0].severity, RuleSeverity::high);
    EXPECT_EQ(p.rules[2].tag, "other");
    EXPECT_EQ(p.rules[3].kind, PatternKind::below);
    ASSERT_EQ(p.warnings.size(), 1u);
    EXPECT_EQ(p.warnings[0].line, 3u);
    EXPECT_NE(p.warnings[0].message.find("duplicate of line 1"), std::string::npos) << p.warnings[0].message;
    EXPECT_NE(p.warnings[0].message.find("severity high stands"), std::string::npos) << p.warnings[0].message;
}

// ---------------------------------------------------------------------------------------------
// Errors, each with its line

TEST(ParseRulesErrors, BadSeverity) {
    expect_error("# c\nwww.example.com t info\nwww.example.net t severe\n", 3, "bad severity 'severe'");
}

TEST(ParseRulesErrors, BadTag) {
    expect_error("a.example t info\nb.example bad/tag info\n", 2, "bad tag");
    expect_error("b.example t\xC3\xA9 info\n", 1, "bad tag");
    expect_error("b.example " + std::string(65, 't') + " info\n", 1, "bad tag");
    EXPECT_TRUE(parse_rules("b.example " + std::string(64, 't') + " info\n").ok());
}

TEST(ParseRulesErrors, MissingAndExtraFields) {
    expect_error("\nwww.example.com\n", 2, "missing TAG and SEVERITY");
    expect_error("www.example.com tag\n", 1, "missing SEVERITY");
    expect_error("x.example t info extra\n", 1, "unexpected text after the severity: 'extra'");
}

TEST(ParseRulesErrors, Regexes) {
    expect_error("a.example t info\n// t info\n", 2, "empty regex");
    expect_error("/abc t info\n", 1, "unterminated regex");
    expect_error("/ t info\n", 1, "unterminated regex");
    expect_error("/abc/i t info\n", 1, "unterminated regex");
    expect_error("/abc\\/ t info\n", 1, "unterminated regex");  // the closing '/' is escaped
    // An escaped backslash before the closing slash leaves the slash unescaped.
    const ParsedRules p = parse_rules("/abc\\\\/ t info\n");
    ASSERT_TRUE(p.ok()) << dump(p.errors);
    EXPECT_EQ(p.rules[0].regex, "abc\\\\");
    expect_error("/caf\xC3\xA9/ t info\n", 1, "non-ASCII");
}

TEST(ParseRulesErrors, Wildcards) {
    expect_error("* t info\n", 1, "a wildcard needs a zone");
    expect_error("*. t info\n", 1, "below the root");
    expect_error("**. t info\n", 1, "below the root");
    expect_error("www.*.example.com t info\n", 1, "'*' is only allowed");
    expect_error("*foo.example.com t info\n", 1, "'*' is only allowed");
    expect_error("*.*.example.com t info\n", 1, "'*' is only allowed");
}

TEST(ParseRulesErrors, Names) {
    expect_error("www..example.com t info\n", 1, "empty label");
    expect_error(".example.com t info\n", 1, "empty label");
    expect_error(std::string(64, 'a') + ".example t info\n", 1, "label longer than 63");
    std::string long_name;
    for (int i = 0; i < 4; ++i) long_name += std::string(63, 'a') + ".";
    expect_error(long_name + " t info\n", 1, "name longer than 255");
    expect_error("bad\\ t info\n", 1, "dangling");
    expect_error("bad\\25.example t info\n", 1, "three decimal digits");
    expect_error("bad\\256.example t info\n", 1, "above \\255");
    expect_error("b\xC3\xBC" "cher.example t info\n", 1, "non-ASCII");
}

TEST(ParseRulesErrors, TooLongPatternAndLine) {
    RuleLimits limits;
    limits.max_pattern_length = 16;
    expect_error("ok.example t info\n/aaaaaaaaaaaaaaaaa/ t info\n", 2, "pattern longer than 16", limits);
    limits = {};
    limits.max_line_length = 40;
    expect_error("ok.example t info\n# " + std::string(39, 'x') + "\n", 2, "line longer than 40", limits);
    // The limit counts the line without its CRLF.
    EXPECT_TRUE(parse_rules("# " + std::string(38, 'x') + "\r\n", limits).ok());
}

TEST(ParseRulesErrors, NulControlAndInvalidUtf8) {
    expect_error(std::string_view("ok.example t info\nwww.exa\0mple.com t info\n", 41), 2, "NUL byte at column 8");
    expect_error("ok.example t info\x01\n", 1, "control character 0x01");
    expect_error("ok.example t info\rmore\n", 1, "control character 0x0d");
    expect_error("a.example t info\n# caf\xE9\n", 2, "invalid UTF-8 at column 6");    // Latin-1
    expect_error("# \xC0\xAF\n", 1, "invalid UTF-8");                                 // overlong '/'
    expect_error("# \xED\xA0\x80\n", 1, "invalid UTF-8");                             // surrogate
    expect_error("# \xF4\x90\x80\x80\n", 1, "invalid UTF-8");                         // > U+10FFFF
    expect_error("# \xE2\x9C\n", 1, "invalid UTF-8");                                 // truncated
}

TEST(ParseRulesErrors, TooManyRules) {
    RuleLimits limits;
    limits.max_rules = 3;
    EXPECT_TRUE(parse_rules("a.ex t info\nb.ex t info\nc.ex t info\n", limits).ok());
    expect_error("a.ex t info\nb.ex t info\n# c\nc.ex t info\nd.ex t info\n", 5, "more than 3 rules", limits);
    // Dropped duplicates do not count.
    EXPECT_TRUE(parse_rules("a.ex t info\nb.ex t info\nb.ex t info\nc.ex t info\n", limits).ok());
}

TEST(ParseRulesErrors, ManyErrorsAreReportedUpToTheCap) {
    std::string text;
    for (int i = 0; i < 50; ++i) text += "x.example t nope\n";
    RuleLimits limits;
    limits.max_errors = 7;
    const ParsedRules p = parse_rules(text, limits);
    ASSERT_EQ(p.errors.size(), 7u);
    for (uint32_t i = 0; i < 7; ++i) EXPECT_EQ(p.errors[i].line, i + 1);
    EXPECT_TRUE(p.rules.empty());
}

TEST(ParseRulesErrors, ValidLinesAroundErrorsDoNotLeakRules) {
    const ParsedRules p = parse_rules("a.example t info\nb.example t bad\nc.example t info\n");
    EXPECT_FALSE(p.ok());
    EXPECT_TRUE(p.rules.empty());
}

TEST(NameExpressions, FramedLiterals) {
    using V = std::vector<std::string>;
    EXPECT_EQ(name_expressions(PatternKind::literal, "www.example.com"), V{"\\x01www\\.example\\.com\\x02"});
    EXPECT_EQ(name_expressions(PatternKind::below, "example.com"), V{"\\.example\\.com\\x02"});
    EXPECT_EQ(name_expressions(PatternKind::apex_and_below, "a\\046b.example"),
              (V{"\\x01a\\x5c046b\\.example\\x02", "\\.a\\x5c046b\\.example\\x02"}));
    EXPECT_EQ(name_expressions(PatternKind::literal, "."), V{"\\x01\\.\\x02"});
    EXPECT_TRUE(name_expressions(PatternKind::regex, "x").empty());
}

TEST(ValidTag, Charset) {
    EXPECT_TRUE(valid_tag("A-z_0.9"));
    EXPECT_FALSE(valid_tag(""));
    EXPECT_FALSE(valid_tag("a b"));
    EXPECT_FALSE(valid_tag("a#b"));
    EXPECT_FALSE(valid_tag(std::string(65, 'a')));
}

TEST(Diagnostic, Format) {
    EXPECT_EQ((Diagnostic{12, "bad"}).format("rules.txt"), "rules.txt:12: bad");
    EXPECT_EQ((Diagnostic{0, "gone"}).format("rules.txt"), "rules.txt: gone");
}

}  // namespace
}  // namespace frag53::rules
