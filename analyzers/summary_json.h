// The summary contract of DESIGN.md as one JSON object.
#pragma once

#include <string>

#include "analyzers/pipeline.h"
#include "analyzers/report.h"

namespace frag53 {

std::string summary_json(const RunInfo& run, const PipelineCounters& c, size_t pending_capacity,
                         const Aggregator* servers = nullptr);

}  // namespace frag53
