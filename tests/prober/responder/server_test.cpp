#include "prober/responder/server.h"

#include <gtest/gtest.h>

namespace frag53::probe {
namespace {

TEST(ListenAddress, ParsesBothFamiliesWithAndWithoutPort) {
    auto a = parse_listen_address("198.18.0.1");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->family, AddressFamily::ipv4);
    EXPECT_EQ(a->port, 53);
    EXPECT_EQ(a->to_string(), "198.18.0.1:53");

    a = parse_listen_address("198.18.0.1:5300");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->port, 5300);

    a = parse_listen_address("[2001:db8::1]:53");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->family, AddressFamily::ipv6);
    EXPECT_EQ(a->to_string(), "[2001:db8::1]:53");

    a = parse_listen_address("[::]");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->to_string(), "[::]:53");

    a = parse_listen_address("2001:db8::1", 5353);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->port, 5353);
    EXPECT_EQ(a->addr[0], 0x20);
    EXPECT_EQ(a->addr[15], 1);
}

TEST(ListenAddress, RejectsMalformed) {
    for (const char* s : {"", "198.18.0.1:", "198.18.0.1:0", "198.18.0.1:65536", "198.18.0.1:53x",
                          "198.18.0.256", "[2001:db8::1", "[2001:db8::1]53", "[2001:db8::1]:",
                          "[198.18.0.1]:53", "example.net:53", "2001:db8::g"})
        EXPECT_FALSE(parse_listen_address(s)) << s;
}

}  // namespace
}  // namespace frag53::probe
