// The form in which qnames meet rule patterns.
//
// Rules are matched against a name's presentation form, lowercased, without the trailing dot.
// The presentation must be unambiguous, or a name could spoof a rule: with the usual master-file
// escaping a label holding a dot is written "x\.example", so the one-label-under-com name
// "x\.example.com" would end in ".example.com" and satisfy "*.example.com". The match form
// therefore writes every byte that is not a plain printable character as a three-digit decimal
// escape, the dot and the backslash included:
//   - 'A'..'Z' become 'a'..'z';
//   - bytes 0x21..0x7E other than '.' and '\' are written as they are;
//   - '.', '\', space, control bytes and bytes >= 0x7F are written "\DDD" (always 3 digits);
//   - labels are joined with '.', the root name alone is ".".
// So in a match-form string '.' always separates labels and '\' always starts a "\DDD" escape:
// a suffix ".example.com" means exactly "the last two labels are example and com".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "analyzers/dns/message.h"

namespace frag53::rules {

// Longest match form: 255 wire bytes, at worst 4 characters per byte.
inline constexpr size_t max_match_form_length = 4 * 255;

// Writes the match form of the wire-form name `wire[0..length)` into `out` (which must hold
// max_match_form_length characters) and returns its length. A name that is not well formed
// (length 0, a label running past `length`, no root label) yields 0: no name has an empty match
// form, the root being ".".
size_t write_match_form(const uint8_t* wire, size_t length, char* out) noexcept;

// Name patterns are compiled as plain literals over the match form framed by two bytes no match
// form contains, so that "is exactly this name" and "ends at a label boundary" need no anchors
// (anchored expressions make Hyperscan compile some 30 times slower): the framed form of
// www.example.com is "\x01www.example.com\x02".
inline constexpr char frame_begin = '\x01';
inline constexpr char frame_end = '\x02';

// A per-worker buffer holding one name in match form, framed. No allocation.
class MatchName {
public:
    // Renders a decoded name; returns its match form (empty when the name is not well formed).
    std::string_view render(const dns::Name& name) noexcept {
        return set_length(write_match_form(name.wire.data(), name.length, buf_.data() + 1));
    }
    // Takes a name already in match form (any case), lowercases it and checks that it is one:
    // non-empty labels of bytes 0x21..0x7e joined by '.', every '\' starting a \DDD escape of at
    // most 255, or "." alone. Returns the lowercased form, empty when `form` is not a match form.
    std::string_view assign(std::string_view form) noexcept;

    // The last name rendered or assigned, without and with the frame bytes.
    std::string_view form() const noexcept { return {buf_.data() + 1, length_}; }
    std::string_view framed() const noexcept { return {buf_.data(), length_ == 0 ? 0 : length_ + 2}; }

private:
    std::string_view set_length(size_t n) noexcept {
        length_ = n;
        buf_[0] = frame_begin;
        buf_[n + 1] = frame_end;
        return form();
    }

    std::array<char, max_match_form_length + 2> buf_;  // written before it is read
    size_t length_ = 0;
};

}  // namespace frag53::rules
