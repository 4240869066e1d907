#include <CLI/CLI.hpp>

#include <cstdio>

#include "prober/command.h"

namespace frag53::probe {

Subcommand add_probe_command(CLI::App& app) {
    Subcommand s;
    s.app = app.add_subcommand("probe", "measure the largest DNS answer a path carries (not built yet)");
    s.run = [] {
        std::fprintf(stderr, "frag53 probe: not available in this build\n");
        return 2;
    };
    return s;
}

}  // namespace frag53::probe
