#include "analyzers/rules/match_form.h"

namespace frag53::rules {

size_t write_match_form(const uint8_t* wire, size_t length, char* out) noexcept {
    if (length == 0 || length > 255) return 0;
    if (wire[0] == 0) {
        if (length != 1) return 0;
        out[0] = '.';
        return 1;
    }
    size_t n = 0;
    size_t i = 0;
    for (;;) {
        const size_t len = wire[i++];
        if (len == 0) return i == length ? n : 0;
        if (len > 63 || len >= length - i) return 0;  // the root label must still follow
        if (n != 0) out[n++] = '.';
        for (const size_t end = i + len; i < end; ++i) {
            uint8_t c = wire[i];
            if (c >= 'A' && c <= 'Z') c = static_cast<uint8_t>(c + ('a' - 'A'));
            if (c > 0x20 && c < 0x7F && c != '.' && c != '\\') {
                out[n++] = static_cast<char>(c);
            } else {
                out[n++] = '\\';
                out[n++] = static_cast<char>('0' + c / 100);
                out[n++] = static_cast<char>('0' + c / 10 % 10);
                out[n++] = static_cast<char>('0' + c % 10);
            }
        }
    }
}

std::string_view MatchName::assign(std::string_view form) noexcept {
    if (form.empty() || form.size() > max_match_form_length) return set_length(0);
    if (form == ".") {
        buf_[1] = '.';
        return set_length(1);
    }
    char* out = buf_.data() + 1;
    bool label_empty = true;
    for (size_t i = 0; i < form.size(); ++i) {
        char c = form[i];
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7F) return set_length(0);
        if (c == '.') {
            if (label_empty) return set_length(0);
            label_empty = true;
        } else {
            label_empty = false;
            if (c == '\\') {
                if (form.size() - i <= 3) return set_length(0);
                const char a = form[i + 1], b = form[i + 2], d = form[i + 3];
                if (a < '0' || a > '2' || b < '0' || b > '9' || d < '0' || d > '9' ||
                    (a - '0') * 100 + (b - '0') * 10 + (d - '0') > 255)
                    return set_length(0);
                out[i] = c;
                out[i + 1] = a;
                out[i + 2] = b;
                out[i + 3] = d;
                i += 3;
                continue;
            }
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
        }
        out[i] = c;
    }
    if (label_empty) return set_length(0);  // trailing '.'
    return set_length(form.size());
}

}  // namespace frag53::rules
