#include "analyzers/rules/match_form.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "analyzers/rules/name_syntax.h"
#include "tests/analyzers/rules/rules_test_util.h"

namespace frag53::rules {
namespace {

using testing::name_of;

std::string form(const dns::Name& n) {
    MatchName buf;
    return std::string(buf.render(n));
}

TEST(MatchForm, LowercasedWithoutTrailingDot) {
    EXPECT_EQ(form(name_of({"WWW", "Example", "COM"})), "www.example.com");
    EXPECT_EQ(form(name_of({})), ".");
    EXPECT_EQ(form(name_of({"_dmarc", "ex-ample", "com"})), "_dmarc.ex-ample.com");
}

TEST(MatchForm, DotsAndBackslashesInsideLabelsAreNumericEscapes) {
    // The label "x.example" under com is not below example.com, and its match form must not say so.
    EXPECT_EQ(form(name_of({"x.example", "com"})), "x\\046example.com");
    EXPECT_EQ(form(name_of({"a\\", "example", "com"})), "a\\092.example.com");
    // Name::to_string writes the same name with a plain backslash escape.
    EXPECT_EQ(name_of({"x.example", "com"}).to_string(), "x\\.example.com.");
}

TEST(MatchForm, EveryByteValue) {
    for (unsigned b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        const dns::Name n = name_of({std::string_view(&c, 1), "ex"});
        const std::string f = form(n);
        std::string want;
        const unsigned lower = (b >= 'A' && b <= 'Z') ? b + 32 : b;
        if (b > 0x20 && b < 0x7F && b != '.' && b != '\\') {
            want = std::string(1, static_cast<char>(lower));
        } else {
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\%03u", b);
            want = esc;
        }
        EXPECT_EQ(f, want + ".ex") << "byte " << b;
        // The form reads back as the same (lowercased) name. '*' is the exception: the match
        // form writes it as itself, rule syntax reserves a bare '*' for wildcards (\* writes it).
        dns::Name back;
        std::string error;
        const std::string text = b == '*' ? "\\*.ex" : f;
        ASSERT_TRUE(parse_presentation_name(text, back, error)) << "byte " << b << ": " << error;
        dns::Name lowered = n;
        lowered.to_lower();
        ASSERT_EQ(back.length, lowered.length);
        EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(back.wire.data()), back.length),
                  std::string_view(reinterpret_cast<const char*>(lowered.wire.data()), lowered.length))
            << "byte " << b;
    }
}

TEST(MatchForm, LongestNameFitsTheBuffer) {
    // Four 63-byte labels of bytes that all need escaping minus room for the root: 250 bytes.
    dns::Name n;
    size_t at = 0;
    for (size_t len : {63u, 63u, 63u, 61u}) {
        n.wire[at++] = static_cast<uint8_t>(len);
        for (size_t i = 0; i < len; ++i) n.wire[at++] = 0xFF;
    }
    n.wire[at++] = 0;
    n.length = static_cast<uint8_t>(at);
    ASSERT_EQ(n.length, 255);
    const std::string f = form(n);
    EXPECT_EQ(f.size(), 250u * 4 + 3);
    EXPECT_LE(f.size(), max_match_form_length);
}

TEST(MatchForm, MalformedWireYieldsNothing) {
    char out[max_match_form_length];
    const uint8_t no_root[] = {3, 'w', 'w', 'w'};
    EXPECT_EQ(write_match_form(no_root, sizeof no_root, out), 0u);
    const uint8_t past_end[] = {5, 'w', 'w', 0};
    EXPECT_EQ(write_match_form(past_end, sizeof past_end, out), 0u);
    const uint8_t trailing[] = {1, 'a', 0, 1, 'b', 0};
    EXPECT_EQ(write_match_form(trailing, sizeof trailing, out), 0u);
    const uint8_t root_with_junk[] = {0, 1};
    EXPECT_EQ(write_match_form(root_with_junk, sizeof root_with_junk, out), 0u);
    const uint8_t pointer[] = {0xC0, 12, 0};
    EXPECT_EQ(write_match_form(pointer, sizeof pointer, out), 0u);
    EXPECT_EQ(write_match_form(no_root, 0, out), 0u);
    dns::Name undecoded;
    MatchName buf;
    EXPECT_TRUE(buf.render(undecoded).empty());
}

TEST(MatchName, AssignChecksLowercasesAndFrames) {
    MatchName buf;
    EXPECT_EQ(buf.assign("WWW.Example.com"), "www.example.com");
    EXPECT_EQ(buf.framed(), "\x01www.example.com\x02");
    EXPECT_EQ(buf.assign("."), ".");
    EXPECT_EQ(buf.assign("a\\046B.\\255"), "a\\046b.\\255");
    for (std::string_view bad : {"", "..", "a.", ".a", "a..b", "a b", "a\\", "a\\25", "a\\2x5",
                                 "a\\256", "a\\300", "\x01" "a", "a\x7f", "caf\xc3\xa9"}) {
        EXPECT_TRUE(buf.assign(bad).empty()) << bad;
        EXPECT_TRUE(buf.framed().empty()) << bad;
    }
    EXPECT_TRUE(buf.assign(std::string(max_match_form_length + 1, 'a')).empty());
    EXPECT_EQ(buf.assign(std::string(max_match_form_length, 'a')).size(), max_match_form_length);
    // A rendered name reads back through assign unchanged.
    const dns::Name n = name_of({std::string_view("A.\\ \x00\xff", 6), "Ex"});
    const std::string rendered(buf.render(n));
    EXPECT_EQ(buf.assign(rendered), rendered);
}

TEST(PresentationName, EscapesAndCase) {
    dns::Name n;
    std::string error;
    ASSERT_TRUE(parse_presentation_name("A\\.B.\\069xample.com.", n, error)) << error;
    EXPECT_EQ(n.to_string(), "a\\.b.example.com.");
    ASSERT_TRUE(parse_presentation_name("\\*.example", n, error)) << error;
    EXPECT_EQ(n.label_count(), 2);
    EXPECT_EQ(n.wire[1], '*');
    ASSERT_TRUE(parse_presentation_name(".", n, error));
    EXPECT_EQ(n.length, 1);
}

TEST(PresentationName, Errors) {
    dns::Name n;
    std::string error;
    for (std::string_view bad : {"a..b", ".a", "a.b..", "a\\", "a\\1", "a\\12x", "a\\300", "a b", "a\tb",
                                 "w*w.example", "a\\\x01"}) {
        error.clear();
        EXPECT_FALSE(parse_presentation_name(bad, n, error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
        EXPECT_EQ(n.length, 0) << bad;
    }
    // 255 bytes is the most a name may take, root label included.
    std::string max = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                      std::string(61, 'd');
    ASSERT_TRUE(parse_presentation_name(max, n, error)) << error;
    EXPECT_EQ(n.length, 255);
    EXPECT_FALSE(parse_presentation_name(max + "d", n, error));
    EXPECT_FALSE(parse_presentation_name(max + ".e", n, error));
}

TEST(RegexLiteral, EscapesEverythingButWordCharacters) {
    std::string e;
    append_regex_literal(e, "a-b_c.d\\0*+?()[]{}|^$/ ");
    EXPECT_EQ(e, "a-b_c\\.d\\x5c0\\x2a\\x2b\\x3f\\x28\\x29\\x5b\\x5d\\x7b\\x7d\\x7c\\x5e\\x24\\x2f\\x20");
}

}  // namespace
}  // namespace frag53::rules
