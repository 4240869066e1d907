// libFuzzer target for the prober's parsers of untrusted bytes: the responder's echo (as text
// and inside a DNS answer) and the capture's attribution of decoded packets.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataplane/decode.h"
#include "prober/probe/echo.h"
#include "prober/probe/path_capture.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace frag53;
    const Bytes bytes = as_bytes(data, size);
    (void)probe::parse_echo_text({reinterpret_cast<const char*>(data), size});
    (void)probe::find_echo(bytes);

    // The lab's server and client: fuzzed packets from or quoting them reach every branch.
    static const std::byte server[4] = {std::byte{198}, std::byte{18}, std::byte{0}, std::byte{1}};
    static const std::byte self[4] = {std::byte{198}, std::byte{18}, std::byte{1}, std::byte{2}};
    static probe::ArrivalTable table(IpAddress::v4(server), IpAddress::v4(self));
    DecodedPacket p;
    decode_ip(bytes, static_cast<uint32_t>(size), p);
    table.add(p);
    return 0;
}
