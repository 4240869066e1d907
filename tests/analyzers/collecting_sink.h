// A FindingSink that keeps every finding, for tests to count and inspect.
#pragma once

#include <vector>

#include "analyzers/findings.h"

namespace frag53::testing {

class CollectingSink : public FindingSink {
public:
    void on_finding(const Finding& f) override { findings.push_back(f); }
    size_t count(FindingCode c) const {
        size_t n = 0;
        for (const auto& f : findings) n += f.code == c;
        return n;
    }
    const Finding* first(FindingCode c) const {
        for (const auto& f : findings)
            if (f.code == c) return &f;
        return nullptr;
    }
    std::vector<Finding> findings;
};

}  // namespace frag53::testing
