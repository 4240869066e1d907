// How the prober's subcommands plug into the frag53 command line.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace frag53::probe {

struct Subcommand {
    CLI::App* app = nullptr;     // parsed() says whether this subcommand was chosen
    std::function<int()> run;    // runs it with the parsed options; returns the exit status
};

Subcommand add_responder_command(CLI::App& app);  // prober/responder/
Subcommand add_probe_command(CLI::App& app);      // prober/probe/

}  // namespace frag53::probe
