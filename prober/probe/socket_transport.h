// ProbeTransport over real sockets: probe requests become probe names for a frag53 responder,
// answers are checked (size, TC, RCODE), echoes read and capture observations attached.
#pragma once

#include <string>

#include "prober/probe/engine.h"
#include "prober/probe/exchange.h"

namespace frag53::probe {

class SocketTransport final : public ProbeTransport {
public:
    SocketTransport(ExchangeRunner& runner, std::string zone, PathCapture* capture) noexcept
        : runner_(runner), zone_(std::move(zone)), capture_(capture) {}

    std::vector<ProbeResult> run(std::span<const ProbeRequest> batch) override;
    CaptureFacts capture_facts() const override;

    // The exchange a request becomes (exposed for tests).
    static Exchange exchange_for(const ProbeRequest& r, const std::string& zone, uint64_t cookie);
    // Judges an exchange's answer against the request.
    static ProbeResult judge(const ProbeRequest& r, const Exchange& x);

private:
    ExchangeRunner& runner_;
    std::string zone_;
    PathCapture* capture_;
};

// Whether the responder must answer `r` with TC=1 (docs/probe.md: th / ta).
constexpr bool expects_tc(const ProbeRequest& r) noexcept {
    if (r.mode == Mode::tcp) return false;
    return r.trunc == TruncMode::always || (r.trunc == TruncMode::honour && r.size > r.edns_size);
}

}  // namespace frag53::probe
