// The files frag53 loads or runs only for the modes that need them (frag53-metrics.so for
// --metrics, frag53-dpdk for `frag53 dpdk`): each brings libraries whose loading and
// initialization cost every other run several milliseconds.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace frag53 {

// Where to look for companion `name`, in order: beside frag53's own executable (a build tree, or
// an install that keeps them together), then the directory the build installs them to.
std::vector<std::string> companion_paths(std::string_view name);

}  // namespace frag53
