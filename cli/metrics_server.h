// Serves /metrics (Prometheus text format) from a snapshot the capture loop refreshes.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace frag53 {

class MetricsServer {
public:
    // `listen`: "PORT" (loopback), "ADDR:PORT" or "[ADDR6]:PORT". Throws when it cannot bind.
    explicit MetricsServer(const std::string& listen);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    void publish(std::string text);
    const std::string& address() const noexcept { return address_; }
    int port() const noexcept { return port_; }

private:
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
    std::mutex mutex_;  // once a second against a scrape, never on the packet path
    std::string text_;
    std::string address_;
    int port_ = 0;
};

}  // namespace frag53
