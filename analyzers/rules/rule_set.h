// A compiled qname rule set (one Hyperscan database, shared read-only by all workers) and the
// per-worker matcher that owns a scratch and a name buffer.
//
//   auto loaded = RuleSet::load_file("rules.txt");
//   if (!loaded.ok()) { for (auto& e : loaded.errors) print(e.format("rules.txt")); exit(2); }
//   RuleMatcher m(loaded.rules);                        // one per worker
//   m.match(qname, [&](uint32_t id) noexcept { const Rule& r = m.rules().rule(id); ... });
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "analyzers/dns/message.h"
#include "analyzers/rules/match_form.h"
#include "analyzers/rules/pattern_database.h"
#include "analyzers/rules/rule_file.h"

namespace frag53::rules {

class RuleSet {
public:
    struct LoadResult {
        std::shared_ptr<const RuleSet> rules;  // null when errors is not empty
        std::vector<Diagnostic> errors;
        std::vector<Diagnostic> warnings;
        bool ok() const noexcept { return rules != nullptr; }
    };

    // Reads, parses and compiles a rule file. Errors carry line numbers (Diagnostic::format adds
    // the file name). Without Hyperscan the file is still parsed, so syntax errors are reported,
    // and loading fails with no_hyperscan_message.
    static LoadResult load_file(const std::string& path, const RuleLimits& limits = {});
    static LoadResult from_text(std::string_view text, const RuleLimits& limits = {});
    // Compiles rules built by other means (their `line` is used in errors).
    static LoadResult compile(std::vector<Rule> rules, const RuleLimits& limits = {});

    std::span<const Rule> rules() const noexcept { return rules_; }
    size_t size() const noexcept { return rules_.size(); }
    const Rule& rule(uint32_t id) const { return rules_.at(id); }

    // Literal and wildcard rules are plain literals over the framed match form, which Hyperscan
    // compiles in a fraction of the time anchored expressions take; regexes need the bare form
    // (their ^ and $), so they have a database of their own. Both are scanned for every name.
    const PatternDatabase& name_database() const noexcept { return names_; }
    const PatternDatabase& regex_database() const noexcept { return regexes_; }
    size_t database_bytes() const noexcept { return names_.database_bytes() + regexes_.database_bytes(); }
    size_t scratch_bytes() const noexcept { return names_.scratch_bytes() + regexes_.scratch_bytes(); }

    RuleSet(const RuleSet&) = delete;
    RuleSet& operator=(const RuleSet&) = delete;

private:
    RuleSet() = default;

    std::vector<Rule> rules_;
    PatternDatabase names_;
    PatternDatabase regexes_;
};

class RuleMatcher {
public:
    // Clones the set's scratch: call once per worker at start-up. Throws std::runtime_error if
    // Hyperscan cannot allocate it.
    explicit RuleMatcher(std::shared_ptr<const RuleSet> rules);

    // Calls on_match(rule_id) once for every rule `name` matches (in no particular order) and
    // returns how many did. `name` is a name in match form (match_form.h), in any case; a string
    // that is not one matches nothing and is counted in invalid_names. It is copied (lowercased,
    // framed) into this matcher's buffer. The callback runs inside Hyperscan and must be noexcept.
    template <class F>
    size_t match(std::string_view name, F&& on_match) noexcept {
        if (form_.assign(name).empty()) {
            ++counters_.invalid_names;
            return 0;
        }
        return match_current(std::forward<F>(on_match));
    }

    // The same for a decoded name: rendered into this matcher's buffer, no allocation. A name
    // that is not decoded (length 0) matches nothing and is counted in invalid_names.
    template <class F>
    size_t match(const dns::Name& name, F&& on_match) noexcept {
        if (form_.render(name).empty()) {
            ++counters_.invalid_names;
            return 0;
        }
        return match_current(std::forward<F>(on_match));
    }

    const RuleSet& rules() const noexcept { return *rules_; }

    // Plain per-worker counters, summed by whoever reads them.
    struct Counters {
        uint64_t names = 0;          // names scanned
        uint64_t matched_names = 0;  // names that matched at least one rule
        uint64_t matches = 0;        // rule matches
        uint64_t scan_errors = 0;    // Hyperscan errors (never expected)
        uint64_t invalid_names = 0;  // not a decoded name / not a match form
    };
    const Counters& counters() const noexcept { return counters_; }

private:
    template <class F>
    size_t match_current(F&& on_match) noexcept {
        static_assert(std::is_nothrow_invocable_v<std::remove_reference_t<F>&, uint32_t>,
                      "the match callback runs inside Hyperscan: declare it noexcept");
        using Fn = std::remove_reference_t<F>;
        return scan([](void* ctx, uint32_t id) noexcept {
            (*static_cast<Fn*>(ctx))(id);
            return true;
        }, const_cast<void*>(static_cast<const void*>(std::addressof(on_match))));
    }
    // Scans the name in form_ with both databases.
    size_t scan(ExpressionMatchFn fn, void* ctx) noexcept;

    std::shared_ptr<const RuleSet> rules_;
    HsScratch name_scratch_;
    HsScratch regex_scratch_;
    MatchName form_;
    Counters counters_;
};

}  // namespace frag53::rules
