// The qname rule file: one rule a line, "PATTERN TAG SEVERITY" (docs/rules.md).
//
// Parsing needs no Hyperscan: it checks the syntax of every line, turns literal and wildcard
// patterns into their match form (match_form.h), and leaves regexes to the compiler
// (rule_set.h), which reports their errors against the same line numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "analyzers/rules/config_text.h"

namespace frag53::rules {

enum class RuleSeverity : uint8_t { info, low, medium, high, critical };
std::string_view severity_name(RuleSeverity s) noexcept;
// Accepts the five names in any case.
bool parse_severity(std::string_view text, RuleSeverity& out) noexcept;

enum class PatternKind : uint8_t {
    literal,       // www.example.com: exactly that name
    below,         // *.example.com: every name strictly below example.com, not the apex
    apex_and_below,  // **.example.com: example.com and every name below it
    regex,         // /.../: searched for in the match form of the name
};
std::string_view pattern_kind_name(PatternKind k) noexcept;

struct Rule {
    PatternKind kind = PatternKind::literal;
    RuleSeverity severity = RuleSeverity::info;
    uint32_t line = 0;     // in the file; 0 for rules built in code
    std::string pattern;   // as written
    std::string tag;
    std::string name;      // literal and wildcards: the name or zone, in match form
    std::string regex;     // regex: the body between the slashes
};

// The Hyperscan expressions (literals over the framed match form, match_form.h) for a name
// pattern of kind `kind` naming `form`: one, or two for apex_and_below (the apex and below).
// Empty for PatternKind::regex.
std::vector<std::string> name_expressions(PatternKind kind, std::string_view form);

struct RuleLimits {
    size_t max_rules = 100'000;
    size_t max_line_length = 4096;     // bytes, without the line ending
    size_t max_pattern_length = 1024;  // bytes of the PATTERN field
    size_t max_file_size = 64u << 20;
    size_t max_errors = 20;            // parsing stops after this many
};

inline constexpr size_t max_tag_length = 64;
// [A-Za-z0-9_.-]{1,64}
bool valid_tag(std::string_view tag) noexcept;

// Parses one PATTERN field into kind, pattern and name or regex. False with `error` set when it is
// not a valid pattern (regex bodies are only checked for being non-empty, terminated and ASCII).
bool parse_pattern(std::string_view text, Rule& out, std::string& error,
                   size_t max_pattern_length = RuleLimits{}.max_pattern_length);

struct ParsedRules {
    std::vector<Rule> rules;
    std::vector<Diagnostic> errors;    // empty when the text is valid
    std::vector<Diagnostic> warnings;  // duplicates, an empty rule set
    bool ok() const noexcept { return errors.empty(); }
};

// A rule that repeats an earlier one (same kind, same name or regex, same tag) is dropped with a
// warning naming the line it repeats; the first one's severity stands. Rules with the same
// pattern and different tags are all kept: a name matching it reports every tag.
ParsedRules parse_rules(std::string_view text, const RuleLimits& limits = {});

}  // namespace frag53::rules
