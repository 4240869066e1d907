#include "analyzers/rules/rule_set.h"

#include <stdexcept>
#include <utility>

namespace frag53::rules {

RuleSet::LoadResult RuleSet::load_file(const std::string& path, const RuleLimits& limits) {
    LoadResult res;
    std::string text;
    Diagnostic err;
    if (!read_config_file(path, limits.max_file_size, text, err)) {
        res.errors.push_back(std::move(err));
        return res;
    }
    return from_text(text, limits);
}

RuleSet::LoadResult RuleSet::from_text(std::string_view text, const RuleLimits& limits) {
    ParsedRules parsed = parse_rules(text, limits);
    if (!parsed.ok()) {
        LoadResult res;
        res.errors = std::move(parsed.errors);
        res.warnings = std::move(parsed.warnings);
        return res;
    }
    LoadResult res = compile(std::move(parsed.rules), limits);
    res.warnings.insert(res.warnings.begin(), parsed.warnings.begin(), parsed.warnings.end());
    return res;
}

RuleSet::LoadResult RuleSet::compile(std::vector<Rule> rules, const RuleLimits& limits) {
    LoadResult res;
    if (rules.size() > limits.max_rules) {
        res.errors.push_back({0, "more than " + std::to_string(limits.max_rules) + " rules"});
        return res;
    }
    std::shared_ptr<RuleSet> set(new RuleSet());
    set->rules_ = std::move(rules);
    // The name expressions own their text; the regexes are views into the rules.
    std::vector<std::string> name_texts;
    std::vector<PatternDatabase::Expression> names, regexes;
    for (uint32_t id = 0; id < set->rules_.size(); ++id) {
        const Rule& r = set->rules_[id];
        if (r.kind == PatternKind::regex) {
            regexes.push_back({r.regex, PatternDatabase::Syntax::regex, r.line, id});
            continue;
        }
        for (std::string& e : name_expressions(r.kind, r.name)) {
            name_texts.push_back(std::move(e));
            names.push_back({{}, PatternDatabase::Syntax::name, r.line, id});
        }
    }
    for (size_t i = 0; i < names.size(); ++i) names[i].text = name_texts[i];
    // Regexes first: their errors are the ones an operator can make.
    if (!set->regexes_.compile(regexes, res.errors, limits.max_errors)) return res;
    if (!set->names_.compile(names, res.errors, limits.max_errors)) return res;
    res.rules = std::move(set);
    return res;
}

RuleMatcher::RuleMatcher(std::shared_ptr<const RuleSet> rules) : rules_(std::move(rules)) {
    if (!rules_) throw std::invalid_argument("RuleMatcher needs a rule set");
    name_scratch_ = rules_->name_database().make_scratch();
    regex_scratch_ = rules_->regex_database().make_scratch();
}

size_t RuleMatcher::scan(ExpressionMatchFn fn, void* ctx) noexcept {
    struct Counting {
        ExpressionMatchFn fn;
        void* ctx;
        size_t n;
    } st{fn, ctx, 0};
    const ExpressionMatchFn counting = [](void* c, uint32_t id) noexcept {
        auto* s = static_cast<Counting*>(c);
        ++s->n;
        return s->fn(s->ctx, id);
    };
    ++counters_.names;
    bool ok = rules_->name_database().scan(form_.framed(), name_scratch_.get(), counting, &st);
    ok &= rules_->regex_database().scan(form_.form(), regex_scratch_.get(), counting, &st);
    if (!ok) ++counters_.scan_errors;
    if (st.n != 0) {
        ++counters_.matched_names;
        counters_.matches += st.n;
    }
    return st.n;
}

}  // namespace frag53::rules
