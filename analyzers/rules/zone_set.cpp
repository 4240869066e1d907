#include "analyzers/rules/zone_set.h"

#include <sys/stat.h>

#include <array>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "analyzers/rules/name_syntax.h"
#include "analyzers/rules/rule_file.h"

namespace frag53::rules {
namespace {

// Parses one zone; false with `error` set.
bool make_zone(std::string_view text, uint32_t line, Zone& z, std::string& error) {
    if (text.size() > max_match_form_length) {
        error = "zone longer than " + std::to_string(max_match_form_length) + " bytes";
        return false;
    }
    if (text.starts_with("*")) {
        error = "a zone is written without wildcard: it already covers every name below it";
        return false;
    }
    z.text.assign(text);
    z.line = line;
    if (!parse_presentation_name(text, z.name, error)) return false;
    std::array<char, max_match_form_length> form;
    const size_t n = write_match_form(z.name.wire.data(), z.name.length, form.data());
    z.form.assign(form.data(), n);
    return true;
}

std::string quote(std::string_view s) {
    return "'" + std::string(s.substr(0, 80)) + (s.size() > 80 ? "...'" : "'");
}

}  // namespace

ZoneSet::LoadResult ZoneSet::from_list(std::string_view list, const ZoneLimits& limits) {
    LoadResult res;
    std::vector<Zone> zones;
    uint32_t item = 0;
    size_t pos = 0;
    std::string error;
    while (pos <= list.size()) {
        size_t comma = list.find(',', pos);
        if (comma == std::string_view::npos) comma = list.size();
        std::string_view t = list.substr(pos, comma - pos);
        pos = comma + 1;
        ++item;
        while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
        while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
        if (t.empty()) {
            res.errors.push_back({0, "zone " + std::to_string(item) + " of the list is empty"});
        } else if (zones.size() == limits.max_zones) {
            res.errors.push_back({0, "more than " + std::to_string(limits.max_zones) + " zones"});
            break;
        } else {
            Zone z;
            if (make_zone(t, item, z, error))
                zones.push_back(std::move(z));
            else
                res.errors.push_back({0, "zone " + std::to_string(item) + " " + quote(t) + ": " + error});
        }
        if (res.errors.size() >= limits.max_errors) break;
    }
    if (!res.errors.empty()) return res;
    return build(std::move(zones), {}, limits);
}

ZoneSet::LoadResult ZoneSet::from_text(std::string_view text, const ZoneLimits& limits) {
    LoadResult res;
    std::vector<Zone> zones;
    ConfigLines lines(text, limits.max_line_length);
    uint32_t number = 0;
    std::string_view content;
    std::string error;
    for (;;) {
        const auto status = lines.next(number, content, error);
        if (status == ConfigLines::Status::end) break;
        if (status == ConfigLines::Status::error) {
            res.errors.push_back({number, std::move(error)});
        } else {
            std::array<std::string_view, 2> f;
            const size_t n = split_fields(content, f.data(), 1);
            Zone z;
            if (n == 2 && f[1].front() != '#') {
                res.errors.push_back({number, "one zone a line (unexpected " + quote(f[1]) + ")"});
            } else if (zones.size() == limits.max_zones) {
                res.errors.push_back({number, "more than " + std::to_string(limits.max_zones) + " zones"});
                break;
            } else if (make_zone(f[0], number, z, error)) {
                zones.push_back(std::move(z));
            } else {
                res.errors.push_back({number, std::move(error)});
            }
        }
        if (res.errors.size() >= limits.max_errors) break;
    }
    if (!res.errors.empty()) return res;
    return build(std::move(zones), {}, limits);
}

ZoneSet::LoadResult ZoneSet::load_file(const std::string& path, const ZoneLimits& limits) {
    std::string text;
    Diagnostic err;
    if (!read_config_file(path, limits.max_file_size, text, err)) {
        LoadResult res;
        res.errors.push_back(std::move(err));
        return res;
    }
    return from_text(text, limits);
}

ZoneSet::LoadResult ZoneSet::from_argument(const std::string& arg, const ZoneLimits& limits) {
    struct stat st {};
    if (arg.find('/') != std::string::npos || ::stat(arg.c_str(), &st) == 0) return load_file(arg, limits);
    return from_list(arg, limits);
}

ZoneSet::LoadResult ZoneSet::build(std::vector<Zone> zones, std::vector<Diagnostic> warnings,
                                   const ZoneLimits& limits) {
    LoadResult res;
    res.warnings = std::move(warnings);
    std::shared_ptr<ZoneSet> set(new ZoneSet());
    std::unordered_map<std::string, uint32_t> seen;
    for (Zone& z : zones) {
        if (const auto [it, fresh] = seen.emplace(z.form, z.line); !fresh) {
            res.warnings.push_back({z.line, "zone " + quote(z.text) + " repeats an earlier one, ignored"});
            continue;
        }
        if (z.name.length == 1) set->everything_ = true;
        set->zones_.push_back(std::move(z));
    }
    if (set->zones_.empty()) {
        res.errors.push_back({0, "no zones given"});
        return res;
    }
    // With the root in the set every name is in and the database stays empty; it is still
    // compiled, so a build without Hyperscan refuses every zone set the same way.
    std::vector<std::string> texts;
    std::vector<PatternDatabase::Expression> exprs;
    if (!set->everything_) {
        for (uint32_t id = 0; id < set->zones_.size(); ++id) {
            for (std::string& e : name_expressions(PatternKind::apex_and_below, set->zones_[id].form)) {
                texts.push_back(std::move(e));
                exprs.push_back({{}, PatternDatabase::Syntax::name, set->zones_[id].line, id});
            }
        }
        for (size_t i = 0; i < exprs.size(); ++i) exprs[i].text = texts[i];
    }
    if (!set->db_.compile(exprs, res.errors, limits.max_errors)) return res;
    res.zones = std::move(set);
    return res;
}

ZoneFilter::ZoneFilter(std::shared_ptr<const ZoneSet> zones) : zones_(std::move(zones)) {
    if (!zones_) throw std::invalid_argument("ZoneFilter needs a zone set");
    if (!zones_->contains_everything()) scratch_ = zones_->database().make_scratch();
}

bool ZoneFilter::contains(std::string_view name) noexcept {
    if (form_.assign(name).empty()) return false;
    return contains_current();
}

bool ZoneFilter::contains(const dns::Name& name) noexcept {
    if (form_.render(name).empty()) return false;
    return contains_current();
}

bool ZoneFilter::contains_current() noexcept {
    if (zones_->contains_everything()) return true;
    bool found = false;
    const bool ok = zones_->database().scan(form_.framed(), scratch_.get(), [](void* ctx, uint32_t) noexcept {
        *static_cast<bool*>(ctx) = true;
        return false;  // one zone is enough
    }, &found);
    if (!ok) ++scan_errors_;
    return found;
}

}  // namespace frag53::rules
