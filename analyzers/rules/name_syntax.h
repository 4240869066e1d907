// Names as operators write them in rule and zone files, and the Hyperscan expressions they
// become.
#pragma once

#include <string>
#include <string_view>

#include "analyzers/dns/message.h"

namespace frag53::rules {

// Parses a name in presentation form ("www.example.com", trailing dot optional) into wire form,
// lowercased. Master-file escapes are understood: "\DDD" (decimal, 000..255) and "\X" for any
// other character X, so "a\.b.example.com" is the label "a.b" under example.com. The root is
// "." (or the empty string). An unescaped '*' is refused: wildcards are the caller's business.
// On error returns false and sets `error` to a message without position.
bool parse_presentation_name(std::string_view text, dns::Name& out, std::string& error);

// Appends `text` to a Hyperscan (PCRE) expression so that it matches itself literally.
void append_regex_literal(std::string& expr, std::string_view text);

}  // namespace frag53::rules
