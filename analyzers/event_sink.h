// Findings as JSON lines (docs/events.md), one object per line.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "analyzers/findings.h"

namespace frag53 {

// Renders one finding as a JSON object (no trailing newline).
std::string finding_to_json(const Finding& f);

class JsonLinesSink final : public FindingSink {
public:
    // Does not take ownership of `out`. Lines are written to it in batches of about
    // `batch_bytes`: one stdio call per batch instead of one per line (a line is ~500 bytes and
    // a large capture makes hundreds of thousands). flush() and the destructor write the rest.
    static constexpr size_t batch_bytes = size_t{64} << 10;
    explicit JsonLinesSink(std::FILE* out);
    ~JsonLinesSink() override;
    void on_finding(const Finding& f) override;
    // Writes the lines held and flushes `out`.
    void flush() noexcept;
    uint64_t written() const noexcept { return written_; }
    bool failed() const noexcept { return failed_; }

private:
    void write_batch() noexcept;
    struct Scratch;  // buffers reused for every line (rapidjson stays out of this header)
    std::FILE* out_;
    std::unique_ptr<Scratch> scratch_;
    uint64_t written_ = 0;
    bool failed_ = false;
};

}  // namespace frag53
