#include "analyzers/rules/config_text.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace frag53::rules {
namespace {

constexpr bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }

struct FileClose {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileClose>;

}  // namespace

std::string Diagnostic::format(std::string_view source) const {
    std::string s(source);
    if (line != 0) {
        s += ':';
        s += std::to_string(line);
    }
    s += ": ";
    s += message;
    return s;
}

bool read_config_file(const std::string& path, size_t max_size, std::string& out, Diagnostic& error) {
    out.clear();
    error = {};
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        error.message = "cannot open: " + std::string(std::strerror(errno));
        return false;
    }
    if (S_ISDIR(st.st_mode)) {
        error.message = "is a directory";
        return false;
    }
    if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > max_size) {
        error.message = "larger than " + std::to_string(max_size) + " bytes";
        return false;
    }
    File f(std::fopen(path.c_str(), "rb"));
    if (!f) {
        error.message = "cannot open: " + std::string(std::strerror(errno));
        return false;
    }
    // Read in chunks with the cap checked as we go: a FIFO or a file that grows while we read
    // must not make us hold more than the cap.
    char buf[65536];
    for (;;) {
        const size_t n = std::fread(buf, 1, sizeof buf, f.get());
        if (n > max_size - out.size()) {
            error.message = "larger than " + std::to_string(max_size) + " bytes";
            out.clear();
            return false;
        }
        out.append(buf, n);
        if (n < sizeof buf) break;
    }
    if (std::ferror(f.get())) {
        error.message = "read error";
        out.clear();
        return false;
    }
    return true;
}

size_t find_invalid_utf8(std::string_view s) noexcept {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t n = 0;
        uint32_t cp = 0, min = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1, cp = c & 0x1Fu, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, cp = c & 0x0Fu, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, cp = c & 0x07u, min = 0x10000;
        } else {
            return i;  // continuation byte, overlong 0xC0/0xC1, or 0xF5..0xFF
        }
        if (n > s.size() - i - 1) return i;
        for (size_t k = 1; k <= n; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return i;
            cp = cp << 6 | (cc & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n + 1;
    }
    return std::string_view::npos;
}

ConfigLines::ConfigLines(std::string_view text, size_t max_line_length) noexcept
    : text_(text), max_line_length_(max_line_length) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
}

ConfigLines::Status ConfigLines::next(uint32_t& number, std::string_view& content, std::string& error) {
    while (pos_ < text_.size()) {
        const size_t nl = text_.find('\n', pos_);
        const size_t end = nl == std::string_view::npos ? text_.size() : nl;
        std::string_view line = text_.substr(pos_, end - pos_);
        pos_ = nl == std::string_view::npos ? text_.size() : nl + 1;
        number = ++line_;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

        if (line.size() > max_line_length_) {
            error = "line longer than " + std::to_string(max_line_length_) + " bytes";
            return Status::error;
        }
        for (size_t i = 0; i < line.size(); ++i) {
            const auto c = static_cast<unsigned char>(line[i]);
            if (c == 0) {
                error = "NUL byte at column " + std::to_string(i + 1);
                return Status::error;
            }
            if ((c < 0x20 && c != '\t') || c == 0x7F) {
                char hex[8];
                std::snprintf(hex, sizeof hex, "0x%02x", c);
                error = "control character " + std::string(hex) + " at column " + std::to_string(i + 1);
                return Status::error;
            }
        }
        if (const size_t bad = find_invalid_utf8(line); bad != std::string_view::npos) {
            error = "invalid UTF-8 at column " + std::to_string(bad + 1);
            return Status::error;
        }

        size_t b = 0, e = line.size();
        while (b < e && is_blank(line[b])) ++b;
        while (e > b && is_blank(line[e - 1])) --e;
        if (b == e || line[b] == '#') continue;
        content = line.substr(b, e - b);
        return Status::line;
    }
    return Status::end;
}

size_t split_fields(std::string_view line, std::string_view* fields, size_t max) noexcept {
    size_t n = 0, i = 0;
    while (i < line.size()) {
        while (i < line.size() && is_blank(line[i])) ++i;
        if (i == line.size()) break;
        if (n == max) {
            fields[n++] = line.substr(i);
            break;
        }
        const size_t start = i;
        while (i < line.size() && !is_blank(line[i])) ++i;
        fields[n++] = line.substr(start, i - start);
    }
    return n;
}

}  // namespace frag53::rules
