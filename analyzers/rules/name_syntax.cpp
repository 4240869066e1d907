#include "analyzers/rules/name_syntax.h"

#include <cstdint>

namespace frag53::rules {

bool parse_presentation_name(std::string_view text, dns::Name& out, std::string& error) {
    out = dns::Name{};
    if (text == "." || text.empty()) {
        out.wire[0] = 0;
        out.length = 1;
        return true;
    }
    if (text.front() == '.') {
        error = "empty label (a name cannot start with '.')";
        return false;
    }
    size_t length = 0;      // wire bytes written so far
    size_t label_at = 0;    // where the current label's length byte goes
    size_t label_len = 0;
    bool label_open = false;

    // The finished name is `length` bytes plus the root label, at most 255.
    auto put = [&](uint8_t c) -> bool {
        if (label_open && label_len == 63) {
            error = "label longer than 63 bytes";
            return false;
        }
        if (length + (label_open ? 1u : 2u) > 254) {
            error = "name longer than 255 bytes";
            return false;
        }
        if (!label_open) {
            label_at = length++;
            label_len = 0;
            label_open = true;
        }
        if (c >= 'A' && c <= 'Z') c = static_cast<uint8_t>(c + ('a' - 'A'));
        out.wire[length++] = c;
        ++label_len;
        return true;
    };

    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '.') {
            if (!label_open) {
                error = "empty label ('..')";
                return false;
            }
            out.wire[label_at] = static_cast<uint8_t>(label_len);
            label_open = false;
            continue;
        }
        if (c == '*') {
            error = "'*' is only allowed as the whole first label (*.zone or **.zone); write \\* "
                    "for a literal star, or use a /regex/";
            return false;
        }
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7F) {
            error = "names are written in ASCII without spaces or control characters (use \\DDD "
                    "escapes, and the xn-- form of internationalised names)";
            return false;
        }
        if (c != '\\') {
            if (!put(static_cast<uint8_t>(c))) return false;
            continue;
        }
        if (i + 1 >= text.size()) {
            error = "dangling '\\' at the end of the name";
            return false;
        }
        const char e = text[i + 1];
        if (e >= '0' && e <= '9') {
            if (i + 3 >= text.size() || text[i + 2] < '0' || text[i + 2] > '9' || text[i + 3] < '0' ||
                text[i + 3] > '9') {
                error = "a numeric escape is \\DDD with exactly three decimal digits";
                return false;
            }
            const unsigned v = static_cast<unsigned>(e - '0') * 100 +
                               static_cast<unsigned>(text[i + 2] - '0') * 10 +
                               static_cast<unsigned>(text[i + 3] - '0');
            if (v > 255) {
                error = "numeric escape above \\255";
                return false;
            }
            if (!put(static_cast<uint8_t>(v))) return false;
            i += 3;
        } else {
            if (static_cast<unsigned char>(e) <= 0x20 || static_cast<unsigned char>(e) >= 0x7F) {
                error = "'\\' must be followed by a printable character or three digits";
                return false;
            }
            if (!put(static_cast<uint8_t>(e))) return false;
            i += 1;
        }
    }
    if (label_open) out.wire[label_at] = static_cast<uint8_t>(label_len);
    out.wire[length++] = 0;
    out.length = static_cast<uint8_t>(length);
    return true;
}

void append_regex_literal(std::string& expr, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
            c == '-') {
            expr += c;
        } else if (c == '.') {
            expr += "\\.";
        } else {
            expr += "\\x";
            expr += hex[u >> 4];
            expr += hex[u & 0xF];
        }
    }
}

}  // namespace frag53::rules
