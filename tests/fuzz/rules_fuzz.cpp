// The rule-file and zone-list parsers on arbitrary bytes, the match form on arbitrary wire
// names, and (with Hyperscan, for small rule sets) the compiled matcher against names derived
// from the rules themselves. The checks hold for every input, so logic errors abort as well as
// memory errors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "analyzers/rules/match_form.h"
#include "analyzers/rules/name_syntax.h"
#include "analyzers/rules/rule_set.h"
#include "analyzers/rules/zone_set.h"
#include "frag53_config.h"

using namespace frag53;
using namespace frag53::rules;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

size_t count_lines(std::string_view text) {
    size_t n = 1;
    for (char c : text) n += c == '\n';
    return n;
}

// The match form of the name a rule's pattern names (after any wildcard prefix).
std::string zone_form(const Rule& r) {
    std::string_view p = r.pattern;
    if (r.kind == PatternKind::apex_and_below) p.remove_prefix(3);
    if (r.kind == PatternKind::below) p.remove_prefix(2);
    dns::Name n;
    std::string error;
    check(parse_presentation_name(p, n, error));
    MatchName buf;
    const std::string form(buf.render(n));
    check(!form.empty());
    return form;
}

void check_match_form(std::string_view form) {
    for (size_t i = 0; i < form.size(); ++i) {
        const auto c = static_cast<unsigned char>(form[i]);
        check(c > 0x20 && c < 0x7F);
        check(!(c >= 'A' && c <= 'Z'));
        if (c == '\\') {
            check(form.size() - i > 3);
            const int v = (form[i + 1] - '0') * 100 + (form[i + 2] - '0') * 10 + (form[i + 3] - '0');
            check(form[i + 1] >= '0' && form[i + 1] <= '2' && form[i + 2] >= '0' && form[i + 2] <= '9' &&
                  form[i + 3] >= '0' && form[i + 3] <= '9' && v <= 255);
            i += 3;
        }
    }
}

// Arbitrary bytes as a wire-form name: when they hold one, its match form is well formed and
// reads back as the same lowercased name.
void fuzz_match_form(const uint8_t* data, size_t size) {
    dns::Name name;
    const size_t n = size < 255 ? size : 255;
    for (size_t i = 0; i < n; ++i) name.wire[i] = data[i];
    name.length = static_cast<uint8_t>(n);
    MatchName buf;
    const std::string form(buf.render(name));
    if (form.empty()) return;
    check_match_form(form);
    if (form.find('*') != std::string::npos) return;  // a bare '*' is wildcard syntax in rules
    dns::Name back;
    std::string error;
    check(parse_presentation_name(form, back, error));
    dns::Name lowered = name;
    lowered.to_lower();
    check(back.length == lowered.length);
    for (size_t i = 0; i < back.length; ++i) check(back.wire[i] == lowered.wire[i]);
}

void fuzz_rules(std::string_view text) {
    RuleLimits limits;
    limits.max_rules = 64;
    limits.max_line_length = 512;
    limits.max_pattern_length = 256;
    const ParsedRules p = parse_rules(text, limits);
    const size_t lines = count_lines(text);
    check(p.ok() == p.errors.empty());
    check(p.errors.size() <= limits.max_errors);
    if (!p.ok()) check(p.rules.empty());
    for (const Diagnostic& d : p.errors) check(d.line >= 1 && d.line <= lines && !d.message.empty());
    for (const Diagnostic& d : p.warnings) check(d.line <= lines);
    check(p.rules.size() <= limits.max_rules);

    bool small = p.ok() && !p.rules.empty() && p.rules.size() <= 8;
    uint32_t last_line = 0;
    for (const Rule& r : p.rules) {
        check(r.line > last_line && r.line <= lines);
        last_line = r.line;
        check(valid_tag(r.tag));
        check(static_cast<unsigned>(r.severity) <= static_cast<unsigned>(RuleSeverity::critical));
        check(!r.pattern.empty() && r.pattern.size() <= limits.max_pattern_length);
        if (r.kind == PatternKind::regex) {
            check(r.name.empty() && !r.regex.empty());
            check(r.pattern.size() >= 3 && r.regex == std::string_view(r.pattern).substr(1, r.pattern.size() - 2));
            if (r.regex.size() > 48) small = false;  // keep compiles quick
        } else {
            check(r.regex.empty());
            check(r.name == zone_form(r));
            const auto exprs = name_expressions(r.kind, r.name);
            check(exprs.size() == (r.kind == PatternKind::apex_and_below ? 2u : 1u));
        }
    }

#if FRAG53_HAVE_HYPERSCAN
    if (!small) return;
    auto loaded = RuleSet::compile(p.rules, limits);
    if (!loaded.ok()) {
        check(!loaded.errors.empty());
        for (const Diagnostic& d : loaded.errors) check(d.line <= lines);
        return;
    }
    RuleMatcher m(loaded.rules);
    for (uint32_t id = 0; id < p.rules.size(); ++id) {
        const Rule& r = p.rules[id];
        if (r.kind == PatternKind::regex) {
            // Any outcome is fine; the scan must just work.
            m.match(r.regex, [](uint32_t) noexcept {});
            continue;
        }
        const std::string form = zone_form(r);
        auto hits = [&](const std::string& name) {
            bool hit = false;
            m.match(name, [&](uint32_t got) noexcept { hit |= got == id; });
            return hit;
        };
        const bool apex = hits(form);
        check(apex == (r.kind != PatternKind::below));
        if (form != "." && form.size() + 2 <= max_match_form_length) {
            check(hits("x." + form) == (r.kind != PatternKind::literal));
            // Glued to a longer label it is another name, below nothing the rule names.
            check(!hits("x" + form));
        }
    }
    check(m.counters().scan_errors == 0);

    // The same text as a zone list (commas) when it parses as one.
    auto zones = ZoneSet::from_list(text.substr(0, 256));
    if (zones.ok()) {
        ZoneFilter f(zones.zones);
        for (const Zone& z : zones.zones->zones()) {
            MatchName buf;
            const std::string form(buf.render(z.name));
            check(f.contains(form));
            if (form != ".") check(f.contains("a." + form));
        }
        check(f.scan_errors() == 0);
    }
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    fuzz_match_form(data, size);
    fuzz_rules(text);
    return 0;
}
