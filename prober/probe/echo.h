// The responder's echo: the first character-string of the first TXT record of a probe answer
// says what EDNS the query carried when it arrived (docs/probe.md), e.g.
//
//     edns=4096 do=1 ver=0 opts=3,10,12 tcp=0 src=198.18.1.2
//     edns=none tcp=0 src=2001:db8:0:1::2
#pragma once

#include <cstdint>
#include <string_view>

#include "dataplane/wire_reader.h"
#include "prober/probe/types.h"

namespace frag53::probe {

// Parses the echo text. `valid` stays false when it does not follow the format.
EchoSeen parse_echo_text(std::string_view text) noexcept;

// Finds the echo in a parsed probe answer (`answer` is the whole DNS message): the first TXT
// record of the answer section. `valid` false when there is none or it does not parse.
EchoSeen find_echo(Bytes answer) noexcept;

}  // namespace frag53::probe
