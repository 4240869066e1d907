#include "analyzers/event_sink.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <string>

#include "analyzers/report.h"

namespace frag53 {
namespace {

Finding rule_finding(std::string_view pattern) {
    Finding f;
    f.code = FindingCode::rule_match;
    f.severity = Severity::info;
    f.ts_ns = 1795455998313108000ull;
    uint8_t a[4] = {192, 0, 2, 1}, b[4] = {198, 51, 100, 7};
    f.set_endpoints(IpAddress::v4(reinterpret_cast<const std::byte*>(a)), 40000,
                    IpAddress::v4(reinterpret_cast<const std::byte*>(b)), 53);
    f.has_id = true;
    f.id = 7;
    f.rule_tag = "tag";
    f.rule_severity = "low";
    f.rule_pattern = pattern;
    f.rule_line = 3;
    f.add_frame(9);
    return f;
}

std::string rapidjson_string(std::string_view v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    return {buf.GetString(), buf.GetSize()};
}

// Every byte value in a string field is escaped exactly as rapidjson escapes it (the events file
// stays byte for byte what it was when rapidjson wrote it). Do not build rapidjson with
// RAPIDJSON_SSE2 for speed: its SSE2 scan (1.1.0) lets 0x1A-0x1F through unescaped, which this
// test catches.
TEST(EventSinkTest, StringsAreEscapedLikeRapidjson) {
    std::string all;
    for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
    // Also long plain runs around the escapes (the word-at-a-time path).
    const std::string pattern = "abcdefghijklmnop" + all + "qrstuvwxyz0123456789\"\\" + all + "tail";
    const std::string json = finding_to_json(rule_finding(pattern));
    const std::string expected = "\"rule_pattern\":" + rapidjson_string(pattern) + ",";
    const size_t at = json.find("\"rule_pattern\":");
    ASSERT_NE(at, std::string::npos);
    EXPECT_EQ(json.substr(at, expected.size()), expected);

    rapidjson::Document d;
    d.Parse(json.c_str(), json.size());
    ASSERT_FALSE(d.HasParseError());
    EXPECT_EQ(std::string(d["rule_pattern"].GetString(), d["rule_pattern"].GetStringLength()), pattern);
    EXPECT_EQ(std::string(d["message"].GetString(), d["message"].GetStringLength()),
              describe_finding(rule_finding(pattern)));
}

// One byte that may need escaping at every position of plain strings of every length up to 48:
// the 16-byte, 8-byte and byte-at-a-time paths and their hand-overs all escape like rapidjson.
TEST(EventSinkTest, EscapesAtEveryPositionAndLength) {
    const unsigned char specials[] = {0x00, 0x01, 0x0A, 0x1A, 0x1F, 0x20, '"', '\\', 0x7F, 0x80, 0xFF};
    for (size_t len = 1; len <= 48; ++len) {
        for (size_t at = 0; at < len; ++at) {
            for (const unsigned char c : specials) {
                std::string pattern(len, 'x');
                pattern[at] = static_cast<char>(c);
                const std::string json = finding_to_json(rule_finding(pattern));
                const std::string expected = "\"rule_pattern\":" + rapidjson_string(pattern) + ",";
                const size_t key = json.find("\"rule_pattern\":");
                ASSERT_NE(key, std::string::npos);
                ASSERT_EQ(json.substr(key, expected.size()), expected) << "length " << len << " at " << at << " byte " << int{c};
            }
        }
    }
}

TEST(EventSinkTest, LineLayout) {
    const std::string json = finding_to_json(rule_finding("x"));
    const std::string head =
        "{\"code\":\"rule.match\",\"severity\":\"info\",\"ts\":\"2026-11-23T17:46:38.313108Z\","
        "\"ts_ns\":1795455998313108000,\"transport\":\"udp\",\"ip_version\":4,\"client\":\"192.0.2.1\",";
    EXPECT_EQ(json.substr(0, head.size()), head);
    EXPECT_NE(json.find("\"frames\":[9],\"message\":"), std::string::npos);
    EXPECT_EQ(json.back(), '}');
}

// A line longer than the writer's first buffer, then a short one: the buffer grows and is reused.
TEST(EventSinkTest, SinkWritesLinesOfAnyLength) {
    std::FILE* out = std::tmpfile();
    ASSERT_NE(out, nullptr);
    JsonLinesSink sink(out);
    const std::string long_pattern(20000, '"');
    sink.on_finding(rule_finding(long_pattern));
    sink.on_finding(rule_finding("short"));
    sink.flush();
    EXPECT_EQ(sink.written(), 2u);
    EXPECT_FALSE(sink.failed());
    std::rewind(out);
    std::string text;
    for (int c; (c = std::fgetc(out)) != EOF;) text += static_cast<char>(c);
    std::fclose(out);
    EXPECT_EQ(text, finding_to_json(rule_finding(long_pattern)) + "\n" + finding_to_json(rule_finding("short")) + "\n");
}

// Lines are batched: more than a batch's worth reaches the file as whole lines, in order, the
// rest on flush(); a file that cannot be written is reported as failed.
TEST(EventSinkTest, BatchesReachTheFileAsWholeLinesInOrder) {
    std::FILE* out = std::tmpfile();
    ASSERT_NE(out, nullptr);
    std::string expected;
    {
        JsonLinesSink sink(out);
        size_t n = 0;
        while (expected.size() < 3 * JsonLinesSink::batch_bytes + 100) {
            const std::string pattern = "p" + std::to_string(n++);  // the finding holds a view of it
            const Finding f = rule_finding(pattern);
            sink.on_finding(f);
            expected += finding_to_json(f) + "\n";
        }
        // One short line more is held whatever the last one did.
        sink.on_finding(rule_finding("last"));
        expected += finding_to_json(rule_finding("last")) + "\n";
        EXPECT_EQ(sink.written(), n + 1);
        std::fflush(out);
        const long before_flush = std::ftell(out);
        EXPECT_GE(before_flush, static_cast<long>(2 * JsonLinesSink::batch_bytes));
        EXPECT_LT(before_flush, static_cast<long>(expected.size()));
        EXPECT_EQ(expected[static_cast<size_t>(before_flush) - 1], '\n');
    }  // the destructor writes what is left
    std::rewind(out);
    std::string text;
    for (int c; (c = std::fgetc(out)) != EOF;) text += static_cast<char>(c);
    std::fclose(out);
    EXPECT_EQ(text, expected);

    std::FILE* ro = std::fopen("/dev/null", "r");
    ASSERT_NE(ro, nullptr);
    JsonLinesSink bad(ro);
    bad.on_finding(rule_finding("x"));
    EXPECT_FALSE(bad.failed());  // still held
    bad.flush();
    EXPECT_TRUE(bad.failed());
    std::fclose(ro);
}

}  // namespace
}  // namespace frag53
