#include <CLI/CLI.hpp>

#include <cstdio>

#include "prober/command.h"

namespace frag53::probe {

Subcommand add_responder_command(CLI::App& app) {
    Subcommand s;
    s.app = app.add_subcommand("responder", "authoritative responder for probe names (not built yet)");
    s.run = [] {
        std::fprintf(stderr, "frag53 responder: not available in this build\n");
        return 2;
    };
    return s;
}

}  // namespace frag53::probe
