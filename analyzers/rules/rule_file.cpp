#include "analyzers/rules/rule_file.h"

#include <array>
#include <unordered_map>

#include "analyzers/rules/match_form.h"
#include "analyzers/rules/name_syntax.h"

namespace frag53::rules {
namespace {

constexpr std::array<std::string_view, 5> severity_names = {"info", "low", "medium", "high", "critical"};

bool equals_ignore_case(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + ('a' - 'A'));
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + ('a' - 'A'));
        if (x != y) return false;
    }
    return true;
}

bool is_ascii(std::string_view s) noexcept {
    for (const char c : s)
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    return true;
}

// A '/' that closes a regex is not escaped: an even number of backslashes precede it.
bool closing_slash_escaped(std::string_view text) noexcept {
    size_t n = 0;
    for (size_t i = text.size() - 1; i > 0 && text[i - 1] == '\\'; --i) ++n;
    return n % 2 == 1;
}

}  // namespace

std::string_view severity_name(RuleSeverity s) noexcept {
    const auto i = static_cast<size_t>(s);
    return i < severity_names.size() ? severity_names[i] : "unknown";
}

bool parse_severity(std::string_view text, RuleSeverity& out) noexcept {
    for (size_t i = 0; i < severity_names.size(); ++i) {
        if (equals_ignore_case(text, severity_names[i])) {
            out = static_cast<RuleSeverity>(i);
            return true;
        }
    }
    return false;
}

std::string_view pattern_kind_name(PatternKind k) noexcept {
    switch (k) {
    case PatternKind::literal: return "literal";
    case PatternKind::below: return "below";
    case PatternKind::apex_and_below: return "apex_and_below";
    case PatternKind::regex: return "regex";
    }
    return "unknown";
}

bool valid_tag(std::string_view tag) noexcept {
    if (tag.empty() || tag.size() > max_tag_length) return false;
    for (const char c : tag) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '_' || c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

bool parse_pattern(std::string_view text, Rule& out, std::string& error, size_t max_pattern_length) {
    out.pattern.assign(text);
    out.name.clear();
    out.regex.clear();
    if (text.empty()) {
        error = "empty pattern";
        return false;
    }
    if (text.size() > max_pattern_length) {
        error = "pattern longer than " + std::to_string(max_pattern_length) + " bytes";
        return false;
    }
    if (!is_ascii(text)) {
        error = "non-ASCII character in the pattern (write internationalised names in their xn-- "
                "form; the match form escapes every byte above 0x7e as \\DDD)";
        return false;
    }
    if (text.front() == '/') {
        if (text.size() < 2 || text.back() != '/' || closing_slash_escaped(text)) {
            error = "unterminated regex: a /regex/ ends with an unescaped '/' and takes no flags";
            return false;
        }
        if (text.size() == 2) {
            error = "empty regex '//'";
            return false;
        }
        out.kind = PatternKind::regex;
        out.regex.assign(text.substr(1, text.size() - 2));
        return true;
    }

    std::string_view zone = text;
    out.kind = PatternKind::literal;
    if (zone.starts_with("**.")) {
        out.kind = PatternKind::apex_and_below;
        zone.remove_prefix(3);
    } else if (zone.starts_with("*.")) {
        out.kind = PatternKind::below;
        zone.remove_prefix(2);
    } else if (zone == "*" || zone == "**") {
        error = "a wildcard needs a zone: *.example.com (below) or **.example.com (apex and below)";
        return false;
    }
    dns::Name name;
    if (!parse_presentation_name(zone, name, error)) return false;
    if (out.kind != PatternKind::literal && name.length == 1) {
        error = "a wildcard needs a zone below the root; to match every name use the regex /./";
        return false;
    }
    if (out.kind == PatternKind::below && name.length + 2 > 255) {
        error = "no name below this zone fits in 255 bytes";
        return false;
    }
    std::array<char, max_match_form_length> form;
    const size_t n = write_match_form(name.wire.data(), name.length, form.data());
    out.name.assign(form.data(), n);
    return true;
}

std::vector<std::string> name_expressions(PatternKind kind, std::string_view form) {
    // In the framed form "\x01" FORM "\x02": the name itself is "\x01" FORM "\x02"; a name
    // strictly below it ends with "." FORM "\x02", and something precedes that dot because no
    // match form starts with '.' (the root "." is never "below" anything).
    std::vector<std::string> out;
    auto literal = [&](char first) {
        std::string e;
        append_regex_literal(e, std::string_view(&first, 1));
        append_regex_literal(e, form);
        append_regex_literal(e, std::string_view(&frame_end, 1));
        out.push_back(std::move(e));
    };
    switch (kind) {
    case PatternKind::literal: literal(frame_begin); break;
    case PatternKind::below: literal('.'); break;
    case PatternKind::apex_and_below:
        literal(frame_begin);
        literal('.');
        break;
    case PatternKind::regex: break;
    }
    return out;
}

ParsedRules parse_rules(std::string_view text, const RuleLimits& limits) {
    ParsedRules res;
    std::unordered_map<std::string, size_t> seen;  // kind + tag + name or regex -> index in rules
    ConfigLines lines(text, limits.max_line_length);
    uint32_t number = 0;
    std::string_view content;
    std::string message;

    auto error = [&](uint32_t line, std::string m) {
        res.errors.push_back({line, std::move(m)});
        return res.errors.size() < limits.max_errors;
    };

    for (;;) {
        const auto status = lines.next(number, content, message);
        if (status == ConfigLines::Status::end) break;
        if (status == ConfigLines::Status::error) {
            if (!error(number, std::move(message))) break;
            continue;
        }

        std::array<std::string_view, 4> f;
        const size_t n = split_fields(content, f.data(), 3);
        if (n < 3) {
            if (!error(number, n == 1 ? "missing TAG and SEVERITY after the pattern (PATTERN TAG SEVERITY)"
                                      : "missing SEVERITY after the tag (PATTERN TAG SEVERITY)"))
                break;
            continue;
        }
        if (n == 4 && f[3].front() != '#') {
            if (!error(number, "unexpected text after the severity: '" + std::string(f[3].substr(0, 40)) +
                                   "' (a comment starts with '#')"))
                break;
            continue;
        }
        Rule rule;
        rule.line = number;
        if (!parse_pattern(f[0], rule, message, limits.max_pattern_length)) {
            if (!error(number, std::move(message))) break;
            continue;
        }
        if (!valid_tag(f[1])) {
            if (!error(number, "bad tag '" + std::string(f[1].substr(0, 80)) +
                                   "' (1 to 64 of A-Z a-z 0-9 _ . -)"))
                break;
            continue;
        }
        if (!parse_severity(f[2], rule.severity)) {
            if (!error(number, "bad severity '" + std::string(f[2].substr(0, 40)) +
                                   "' (info, low, medium, high or critical)"))
                break;
            continue;
        }
        rule.tag.assign(f[1]);

        const std::string& subject = rule.kind == PatternKind::regex ? rule.regex : rule.name;
        std::string key;
        key.reserve(subject.size() + rule.tag.size() + 2);
        key += static_cast<char>('0' + static_cast<int>(rule.kind));
        key += rule.tag;
        key += '\n';  // tags hold no newline: the key is unambiguous
        key += subject;
        if (const auto it = seen.find(key); it != seen.end()) {
            const Rule& first = res.rules[it->second];
            std::string w = "duplicate of line " + std::to_string(first.line) + " (same pattern and tag), ignored";
            if (first.severity != rule.severity)
                w += "; line " + std::to_string(first.line) + "'s severity " +
                     std::string(severity_name(first.severity)) + " stands";
            res.warnings.push_back({number, std::move(w)});
            continue;
        }
        if (res.rules.size() == limits.max_rules) {
            error(number, "more than " + std::to_string(limits.max_rules) + " rules");
            break;
        }
        seen.emplace(std::move(key), res.rules.size());
        res.rules.push_back(std::move(rule));
    }
    if (res.ok()) {
        if (res.rules.empty()) res.warnings.push_back({0, "no rules"});
    } else {
        res.rules.clear();
    }
    return res;
}

}  // namespace frag53::rules
