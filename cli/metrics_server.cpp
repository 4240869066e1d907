#include "cli/metrics_server.h"

#include <httplib.h>

#include <stdexcept>

namespace frag53 {

MetricsServer::MetricsServer(const std::string& listen) : server_(std::make_unique<httplib::Server>()) {
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
    server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        std::lock_guard<std::mutex> lock(mutex_);
        res.set_content(text_, "text/plain; version=0.0.4");
    });
    if (!server_->bind_to_port(host.c_str(), port_))
        throw std::runtime_error("--metrics: cannot listen on " + listen);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
}

MetricsServer::~MetricsServer() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
}

void MetricsServer::publish(std::string text) {
    std::lock_guard<std::mutex> lock(mutex_);
    text_ = std::move(text);
}

}  // namespace frag53
