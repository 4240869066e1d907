#include "analyzers/rules/pattern_database.h"

#include "frag53_config.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

#if FRAG53_HAVE_HYPERSCAN
#include <hs.h>
#endif

namespace frag53::rules {

PatternDatabase::PatternDatabase() noexcept = default;
PatternDatabase::~PatternDatabase() = default;
PatternDatabase::PatternDatabase(PatternDatabase&&) noexcept = default;
PatternDatabase& PatternDatabase::operator=(PatternDatabase&&) noexcept = default;

#if FRAG53_HAVE_HYPERSCAN

namespace {

struct CompileErrorFree {
    void operator()(hs_compile_error_t* e) const noexcept { hs_free_compile_error(e); }
};
using CompileError = std::unique_ptr<hs_compile_error_t, CompileErrorFree>;

// hs_expression_info allocates with the misc allocator, malloc unless changed.
struct InfoFree {
    void operator()(hs_expr_info_t* p) const noexcept { std::free(p); }
};
using ExprInfo = std::unique_ptr<hs_expr_info_t, InfoFree>;

// Generated name expressions are literals over a lowercased match form: exact case, and no flag
// that would make Hyperscan compile them as anything but literals. Operators' regexes are caseless,
// so one written with upper-case letters or classes ([A-Z]) is not silently dead.
unsigned flags_for(PatternDatabase::Syntax s) noexcept {
    return s == PatternDatabase::Syntax::regex ? HS_FLAG_SINGLEMATCH | HS_FLAG_CASELESS
                                               : HS_FLAG_SINGLEMATCH;
}

struct ScanState {
    ExpressionMatchFn fn;
    void* ctx;
};

int on_hs_match(unsigned int id, unsigned long long, unsigned long long, unsigned int, void* ctx) noexcept {
    auto* st = static_cast<ScanState*>(ctx);
    return st->fn(st->ctx, id) ? 0 : 1;
}

}  // namespace

bool hyperscan_available() noexcept { return hs_valid_platform() == HS_SUCCESS; }

void HsDatabaseFree::operator()(hs_database* db) const noexcept { hs_free_database(db); }
void HsScratchFree::operator()(hs_scratch* s) const noexcept { hs_free_scratch(s); }

bool PatternDatabase::compile(std::span<const Expression> expressions, std::vector<Diagnostic>& errors,
                              size_t max_errors) {
    db_.reset();
    prototype_.reset();
    database_bytes_ = scratch_bytes_ = 0;
    compiled_ = false;
    if (!hyperscan_available()) {
        errors.push_back({0, "Hyperscan cannot run on this CPU (it needs SSSE3)"});
        return false;
    }
    if (expressions.size() > 0xFFFFFFFFu) {
        errors.push_back({0, "too many expressions"});
        return false;
    }

    // Hyperscan wants NUL-terminated strings; the texts are views into the callers' rules.
    std::vector<std::string> texts;
    std::vector<const char*> ptrs;
    std::vector<unsigned> flags, ids;
    texts.reserve(expressions.size());
    ptrs.reserve(expressions.size());
    flags.reserve(expressions.size());
    ids.reserve(expressions.size());
    for (size_t i = 0; i < expressions.size(); ++i) {
        texts.emplace_back(expressions[i].text);
        flags.push_back(flags_for(expressions[i].syntax));
        ids.push_back(expressions[i].id);
    }
    for (const auto& t : texts) ptrs.push_back(t.c_str());

    // Each regex alone first: a bad one is reported with its own line, and all of them are.
    const size_t errors_before = errors.size();
    for (size_t i = 0; i < expressions.size() && errors.size() - errors_before < max_errors; ++i) {
        if (expressions[i].syntax != Syntax::regex) continue;
        if (texts[i].find('\0') != std::string::npos) {
            errors.push_back({expressions[i].line, "NUL byte in the regex"});
            continue;
        }
        hs_expr_info_t* raw_info = nullptr;
        hs_compile_error_t* raw_err = nullptr;
        const hs_error_t rc = hs_expression_info(ptrs[i], flags[i], &raw_info, &raw_err);
        ExprInfo info(raw_info);
        CompileError err(raw_err);
        if (rc != HS_SUCCESS) {
            errors.push_back({expressions[i].line,
                              "invalid regex: " + std::string(err ? err->message : "rejected by Hyperscan")});
        } else if (info && info->min_width == 0) {
            errors.push_back({expressions[i].line, "regex matches the empty string: it would match every name"});
        }
    }
    if (errors.size() != errors_before) return false;

    if (!expressions.empty()) {
        hs_database_t* raw_db = nullptr;
        hs_compile_error_t* raw_err = nullptr;
        const hs_error_t rc = hs_compile_multi(ptrs.data(), flags.data(), ids.data(),
                                               static_cast<unsigned>(ptrs.size()), HS_MODE_BLOCK,
                                               nullptr, &raw_db, &raw_err);
        HsDatabase db(raw_db);
        CompileError err(raw_err);
        if (rc != HS_SUCCESS) {
            const std::string msg = err ? err->message : "Hyperscan compile failed";
            if (err && err->expression >= 0 && static_cast<size_t>(err->expression) < expressions.size()) {
                const Expression& e = expressions[static_cast<size_t>(err->expression)];
                errors.push_back({e.line, (e.syntax == Syntax::regex ? "invalid regex: " : "cannot compile: ") + msg});
            } else {
                errors.push_back({0, "cannot compile the rules: " + msg});
            }
            return false;
        }
        hs_scratch_t* raw_scratch = nullptr;
        if (hs_alloc_scratch(db.get(), &raw_scratch) != HS_SUCCESS) {
            errors.push_back({0, "cannot allocate Hyperscan scratch space"});
            return false;
        }
        prototype_.reset(raw_scratch);
        size_t n = 0;
        if (hs_database_size(db.get(), &n) == HS_SUCCESS) database_bytes_ = n;
        if (hs_scratch_size(prototype_.get(), &n) == HS_SUCCESS) scratch_bytes_ = n;
        db_ = std::move(db);
    }
    compiled_ = true;
    return true;
}

HsScratch PatternDatabase::make_scratch() const {
    if (!prototype_) return {};
    hs_scratch_t* raw = nullptr;
    if (hs_clone_scratch(prototype_.get(), &raw) != HS_SUCCESS)
        throw std::runtime_error("cannot allocate Hyperscan scratch space");
    return HsScratch(raw);
}

bool PatternDatabase::scan(std::string_view data, hs_scratch* scratch, ExpressionMatchFn fn,
                           void* ctx) const noexcept {
    if (!db_ || data.empty()) return true;  // no expression matches the empty string
    if (!scratch || data.size() > 0xFFFFFFFFu) return false;
    ScanState st{fn, ctx};
    const hs_error_t rc = hs_scan(db_.get(), data.data(), static_cast<unsigned>(data.size()), 0,
                                  scratch, on_hs_match, &st);
    return rc == HS_SUCCESS || rc == HS_SCAN_TERMINATED;
}

#else  // !FRAG53_HAVE_HYPERSCAN

bool hyperscan_available() noexcept { return false; }

// No handle can exist without Hyperscan; unique_ptr never calls these with null.
void HsDatabaseFree::operator()(hs_database*) const noexcept {}
void HsScratchFree::operator()(hs_scratch*) const noexcept {}

bool PatternDatabase::compile(std::span<const Expression>, std::vector<Diagnostic>& errors, size_t) {
    errors.push_back({0, std::string(no_hyperscan_message)});
    return false;
}

HsScratch PatternDatabase::make_scratch() const { return {}; }

bool PatternDatabase::scan(std::string_view, hs_scratch*, ExpressionMatchFn, void*) const noexcept {
    return false;
}

#endif

}  // namespace frag53::rules
