#include "prober/probe/echo.h"

#include <gtest/gtest.h>

#include <vector>

namespace frag53::probe {
namespace {

TEST(Echo, Edns) {
    EchoSeen e = parse_echo_text("edns=4096 do=1 ver=0 opts=3,10,12 tcp=0 src=198.18.1.2");
    ASSERT_TRUE(e.valid);
    EXPECT_TRUE(e.edns);
    EXPECT_EQ(e.udp_size, 4096);
    EXPECT_TRUE(e.do_bit);
    EXPECT_EQ(e.option_count, 3);
}

TEST(Echo, NoOptions) {
    EchoSeen e = parse_echo_text("edns=1232 do=0 ver=0 opts=none tcp=1 src=2001:db8:0:1::2");
    ASSERT_TRUE(e.valid);
    EXPECT_EQ(e.udp_size, 1232);
    EXPECT_FALSE(e.do_bit);
    EXPECT_EQ(e.option_count, 0);
}

TEST(Echo, NoEdns) {
    EchoSeen e = parse_echo_text("edns=none tcp=0 src=198.18.1.2");
    ASSERT_TRUE(e.valid);
    EXPECT_FALSE(e.edns);
}

TEST(Echo, CutOptionList) {
    EchoSeen e = parse_echo_text("edns=512 do=0 ver=0 opts=3,10+ tcp=0 src=198.18.1.2");
    ASSERT_TRUE(e.valid);
    EXPECT_EQ(e.option_count, 3);  // two listed and at least one more
}

TEST(Echo, Malformed) {
    EXPECT_FALSE(parse_echo_text("").valid);
    EXPECT_FALSE(parse_echo_text("hello world").valid);
    EXPECT_FALSE(parse_echo_text("edns=70000 do=0 opts=none").valid);
    EXPECT_FALSE(parse_echo_text("edns=4096 do=2 opts=none").valid);
    EXPECT_FALSE(parse_echo_text("edns=4096 do=0 opts=3,x").valid);
    EXPECT_FALSE(parse_echo_text("edns=4096 opts=none").valid);  // DO missing
    EXPECT_FALSE(parse_echo_text("do=0 opts=none").valid);       // EDNS missing
}

std::vector<std::byte> answer_with_txt(const std::string& text) {
    std::vector<uint8_t> m = {0x12, 0x34, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0,
                              1, 'p', 0, 0, 16, 0, 1,
                              0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 0};
    const uint16_t rdlen = static_cast<uint16_t>(text.size() + 1);
    m.push_back(static_cast<uint8_t>(rdlen >> 8));
    m.push_back(static_cast<uint8_t>(rdlen));
    m.push_back(static_cast<uint8_t>(text.size()));
    m.insert(m.end(), text.begin(), text.end());
    std::vector<std::byte> out;
    for (uint8_t b : m) out.push_back(static_cast<std::byte>(b));
    return out;
}

TEST(Echo, FoundInTheFirstTxtRecord) {
    auto msg = answer_with_txt("edns=4096 do=0 ver=0 opts=none tcp=0 src=198.18.1.2");
    EchoSeen e = find_echo(msg);
    ASSERT_TRUE(e.valid);
    EXPECT_EQ(e.udp_size, 4096);
}

TEST(Echo, TruncatedMessageHasNone) {
    auto msg = answer_with_txt("edns=4096 do=0 ver=0 opts=none tcp=0 src=198.18.1.2");
    msg.resize(msg.size() - 20);  // RDATA cut
    EXPECT_FALSE(find_echo(msg).valid);
    msg.resize(10);
    EXPECT_FALSE(find_echo(msg).valid);
}

}  // namespace
}  // namespace frag53::probe
