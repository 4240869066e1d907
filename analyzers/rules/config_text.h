// Line-oriented configuration text (rule files, zone files): bounded reading, validation of
// every line, and diagnostics that carry the line number.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace frag53::rules {

// One problem found while loading, at `line` (1-based; 0 when it concerns the whole input).
struct Diagnostic {
    uint32_t line = 0;
    std::string message;

    // "rules.txt:12: bad severity ..." (or "rules.txt: ..." for line 0).
    std::string format(std::string_view source) const;
};

// Reads at most `max_size` bytes of `path`; a larger file is an error, as is anything that is
// not a readable regular file or FIFO. Never holds more than max_size + 1 bytes.
bool read_config_file(const std::string& path, size_t max_size, std::string& out, Diagnostic& error);

// Walks `text` line by line: LF or CRLF endings, a UTF-8 byte order mark at the start skipped,
// blank lines and lines whose first non-blank character is '#' skipped. Every line, comments
// included, must be at most max_line_length bytes (without its ending), hold no NUL or control
// byte other than tab, and be valid UTF-8.
class ConfigLines {
public:
    ConfigLines(std::string_view text, size_t max_line_length) noexcept;

    enum class Status : uint8_t { line, error, end };
    // line: `content` is the line without leading and trailing blanks (space, tab).
    // error: `error` describes the line, the walk goes on with the next one.
    Status next(uint32_t& number, std::string_view& content, std::string& error);

private:
    std::string_view text_;
    size_t pos_ = 0;
    uint32_t line_ = 0;
    size_t max_line_length_;
};

// Splits a line at blanks into at most `max` fields; returns how many it found (up to max + 1,
// the last one then holding everything after the max-th field, for an error message).
size_t split_fields(std::string_view line, std::string_view* fields, size_t max) noexcept;

// Where the first invalid UTF-8 sequence of `s` starts, or npos.
size_t find_invalid_utf8(std::string_view s) noexcept;

}  // namespace frag53::rules
