// --only-zones: the zones analysis is restricted to, compiled into their own Hyperscan database
// of zone-suffix expressions (a name is in zone Z when it is Z or ends with "." Z, in the match
// form, so a label boundary is required and "badexample.com" is not in example.com).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analyzers/dns/message.h"
#include "analyzers/rules/match_form.h"
#include "analyzers/rules/pattern_database.h"

namespace frag53::rules {

struct Zone {
    dns::Name name;     // wire form, lowercased
    std::string text;   // as written
    std::string form;   // match form
    uint32_t line = 0;  // in a zone file; in a list, the item's position (1-based)
};

struct ZoneLimits {
    size_t max_zones = 100'000;
    size_t max_line_length = 4096;
    size_t max_file_size = 16u << 20;
    size_t max_errors = 20;
};

class ZoneSet {
public:
    struct LoadResult {
        std::shared_ptr<const ZoneSet> zones;  // null when errors is not empty
        std::vector<Diagnostic> errors;
        std::vector<Diagnostic> warnings;
        bool ok() const noexcept { return zones != nullptr; }
    };

    // "example.com,example.net." (blanks around items allowed). Errors name the item's position
    // as their line.
    static LoadResult from_list(std::string_view list, const ZoneLimits& limits = {});
    // One zone a line; '#' comments and blank lines ignored.
    static LoadResult from_text(std::string_view text, const ZoneLimits& limits = {});
    static LoadResult load_file(const std::string& path, const ZoneLimits& limits = {});
    // The --only-zones argument: a file when it names an existing file or contains a '/',
    // otherwise a comma-separated list.
    static LoadResult from_argument(const std::string& arg, const ZoneLimits& limits = {});

    std::span<const Zone> zones() const noexcept { return zones_; }
    // The root zone was given: every name is in.
    bool contains_everything() const noexcept { return everything_; }
    const PatternDatabase& database() const noexcept { return db_; }

    ZoneSet(const ZoneSet&) = delete;
    ZoneSet& operator=(const ZoneSet&) = delete;

private:
    ZoneSet() = default;
    static LoadResult build(std::vector<Zone> zones, std::vector<Diagnostic> warnings,
                            const ZoneLimits& limits);

    std::vector<Zone> zones_;
    PatternDatabase db_;
    bool everything_ = false;
};

// Per worker: owns a scratch and a name buffer.
class ZoneFilter {
public:
    explicit ZoneFilter(std::shared_ptr<const ZoneSet> zones);  // throws std::runtime_error

    // `name` in match form (case does not matter); a string that is not one is not contained.
    bool contains(std::string_view name) noexcept;
    // A name that is not decoded (length 0) is not contained.
    bool contains(const dns::Name& name) noexcept;

    const ZoneSet& zones() const noexcept { return *zones_; }
    uint64_t scan_errors() const noexcept { return scan_errors_; }

private:
    bool contains_current() noexcept;  // the name in form_

    std::shared_ptr<const ZoneSet> zones_;
    HsScratch scratch_;
    MatchName form_;
    uint64_t scan_errors_ = 0;
};

}  // namespace frag53::rules
