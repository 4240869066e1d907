// Serves /metrics (Prometheus text format) from a snapshot the capture loop refreshes.
//
// The server itself is in frag53-metrics.so (metrics_module.h), loaded by the first
// MetricsServer: frag53 runs without cpp-httplib and OpenSSL's TLS library unless --metrics is
// given.
#pragma once

#include <string>

namespace frag53 {

class MetricsServer {
public:
    // `listen`: "PORT" (loopback), "ADDR:PORT" or "[ADDR6]:PORT". Throws std::runtime_error when
    // the module cannot be loaded or the server cannot bind.
    explicit MetricsServer(const std::string& listen);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    void publish(const std::string& text);
    const std::string& address() const noexcept { return address_; }
    int port() const noexcept { return port_; }

private:
    void* server_ = nullptr;
    std::string address_;
    int port_ = 0;
};

}  // namespace frag53
