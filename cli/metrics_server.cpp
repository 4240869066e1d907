#include "cli/metrics_server.h"

#include <dlfcn.h>

#include <array>
#include <stdexcept>

#include "cli/companions.h"
#include "cli/metrics_module.h"

namespace frag53 {
namespace {

struct Module {
    decltype(&frag53_metrics_start) start = nullptr;
    decltype(&frag53_metrics_publish) publish = nullptr;
    decltype(&frag53_metrics_stop) stop = nullptr;
};

// Loaded once and kept for the life of the process (servers may outlive each other).
const Module& module() {
    static const Module m = [] {
        std::string tried;
        for (const std::string& path : companion_paths("frag53-metrics.so")) {
            void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
            if (h == nullptr) {
                const char* why = dlerror();
                tried += "\n  " + (why != nullptr ? std::string(why) : path);
                continue;
            }
            Module found;
            found.start = reinterpret_cast<decltype(found.start)>(dlsym(h, "frag53_metrics_start"));
            found.publish = reinterpret_cast<decltype(found.publish)>(dlsym(h, "frag53_metrics_publish"));
            found.stop = reinterpret_cast<decltype(found.stop)>(dlsym(h, "frag53_metrics_stop"));
            if (found.start != nullptr && found.publish != nullptr && found.stop != nullptr) return found;
            tried += "\n  " + path + ": not a frag53 metrics module";
            dlclose(h);
        }
        throw std::runtime_error("--metrics: cannot load frag53-metrics.so:" + tried);
    }();
    return m;
}

}  // namespace

MetricsServer::MetricsServer(const std::string& listen) {
    const Module& m = module();
    std::array<char, 256> address{}, error{};
    server_ = m.start(listen.c_str(), address.data(), address.size(), &port_, error.data(), error.size());
    if (server_ == nullptr) throw std::runtime_error(error.data());
    address_ = address.data();
}

MetricsServer::~MetricsServer() {
    if (server_ != nullptr) module().stop(server_);
}

void MetricsServer::publish(const std::string& text) {
    module().publish(server_, text.data(), text.size());
}

}  // namespace frag53
