// frag53-metrics.so: the /metrics endpoint on cpp-httplib (see metrics_module.h).
#include "cli/metrics_module.h"

#include <httplib.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

class Server {
public:
    explicit Server(const std::string& listen) {
        std::string host = "127.0.0.1", port = listen;
        if (!listen.empty() && listen.front() == '[') {
            auto close = listen.find(']');
            if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
                throw std::runtime_error("--metrics: expected [ADDR]:PORT, got " + listen);
            host = listen.substr(1, close - 1);
            port = listen.substr(close + 2);
        } else if (auto colon = listen.rfind(':'); colon != std::string::npos) {
            host = listen.substr(0, colon);
            port = listen.substr(colon + 1);
        }
        try {
            port_ = std::stoi(port);
        } catch (const std::exception&) {
            throw std::runtime_error("--metrics: bad port in " + listen);
        }
        if (port_ <= 0 || port_ > 65535) throw std::runtime_error("--metrics: bad port in " + listen);
        address_ = host;
        server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(mutex_);
            res.set_content(text_, "text/plain; version=0.0.4");
        });
        if (!server_.bind_to_port(host.c_str(), port_))
            throw std::runtime_error("--metrics: cannot listen on " + listen);
        thread_ = std::thread([this] { server_.listen_after_bind(); });
    }
    ~Server() {
        server_.stop();
        if (thread_.joinable()) thread_.join();
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void publish(std::string text) {
        std::lock_guard<std::mutex> lock(mutex_);
        text_ = std::move(text);
    }
    const std::string& address() const noexcept { return address_; }
    int port() const noexcept { return port_; }

private:
    httplib::Server server_;
    std::thread thread_;
    std::mutex mutex_;  // once a second against a scrape, never on the packet path
    std::string text_;
    std::string address_;
    int port_ = 0;
};

// `s` into `out` (`size` bytes), cut to fit and NUL-terminated.
void put(const std::string& s, char* out, size_t size) {
    if (out == nullptr || size == 0) return;
    const size_t n = std::min(s.size(), size - 1);
    std::memcpy(out, s.data(), n);
    out[n] = '\0';
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* frag53_metrics_start(const char* listen, char* address,
                                                                   size_t address_size, int* port,
                                                                   char* error, size_t error_size) {
    try {
        auto s = std::make_unique<Server>(listen);
        put(s->address(), address, address_size);
        if (port != nullptr) *port = s->port();
        return s.release();
    } catch (const std::exception& e) {
        put(e.what(), error, error_size);
    } catch (...) {
        put("--metrics: cannot start the server", error, error_size);
    }
    return nullptr;
}

__attribute__((visibility("default"))) void frag53_metrics_publish(void* server, const char* text,
                                                                    size_t size) {
    try {
        static_cast<Server*>(server)->publish(std::string(text, size));
    } catch (...) {
        // Out of memory: the scrape keeps serving the previous snapshot.
    }
}

__attribute__((visibility("default"))) void frag53_metrics_stop(void* server) {
    delete static_cast<Server*>(server);
}
}
