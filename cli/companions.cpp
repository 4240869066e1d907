#include "cli/companions.h"

#include <unistd.h>

#include <array>

#include "frag53_config.h"

namespace frag53 {

std::vector<std::string> companion_paths(std::string_view name) {
    std::vector<std::string> out;
    std::array<char, 4096> exe{};
    const ssize_t n = readlink("/proc/self/exe", exe.data(), exe.size() - 1);
    if (n > 0) {
        std::string dir(exe.data(), static_cast<size_t>(n));
        if (const size_t slash = dir.rfind('/'); slash != std::string::npos) {
            dir.resize(slash + 1);
            out.push_back(dir + std::string(name));
        }
    }
    out.push_back(std::string(FRAG53_COMPANION_DIR) + "/" + std::string(name));
    return out;
}

}  // namespace frag53
