// `frag53 probe TARGET`: wiring only; the plan is engine.h, the sockets exchange.h, the capture
// path_capture.h, the output report.h.
#include <CLI/CLI.hpp>

#include <netinet/in.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "prober/command.h"
#include "prober/probe/engine.h"
#include "prober/probe/exchange.h"
#include "prober/probe/path_capture.h"
#include "prober/probe/report.h"
#include "prober/probe/server_probe.h"
#include "prober/probe/socket_transport.h"

namespace frag53::probe {

namespace {

struct Options {
    std::string target;
    std::string zone;
    std::string name;
    uint16_t port = 53;
    bool v4 = false, v6 = false;
    std::string json;
    std::string interface_name;
    bool no_capture = false;
    uint32_t timeout_ms = 1000;
    unsigned retries = 2;
    unsigned parallel = 16;
    uint32_t max_size = 4096;
    bool quiet = false;
};

IpAddress ip_of(const Endpoint& e) {
    if (e.addr.ss_family == AF_INET)
        return IpAddress::v4(reinterpret_cast<const std::byte*>(&reinterpret_cast<const sockaddr_in*>(&e.addr)->sin_addr));
    return IpAddress::v6(reinterpret_cast<const std::byte*>(&reinterpret_cast<const sockaddr_in6*>(&e.addr)->sin6_addr));
}

bool write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
    f.close();
    return static_cast<bool>(f);
}

int run(const Options& o) {
    const auto start = std::chrono::steady_clock::now();
    const std::optional<Endpoint> server = parse_endpoint(o.target, o.port);
    if (!server) {
        std::fprintf(stderr, "frag53 probe: %s is not an IPv4 or IPv6 address\n", o.target.c_str());
        return 2;
    }
    if ((o.v4 && server->family != Family::v4) || (o.v6 && server->family != Family::v6)) {
        std::fprintf(stderr, "frag53 probe: %s is not an %s address\n", o.target.c_str(), o.v4 ? "IPv4" : "IPv6");
        return 2;
    }
    if (o.zone.empty() == o.name.empty()) {
        std::fprintf(stderr, "frag53 probe: give --zone (a frag53 responder's zone) or --name "
                             "(a zone the server answers for), not both\n");
        return 2;
    }
    Endpoint self;
    std::string route_if;
    if (!route_source(*server, self, route_if)) {
        std::fprintf(stderr, "frag53 probe: no route to %s\n", o.target.c_str());
        return 2;
    }
    std::unique_ptr<PathCapture> capture;
    std::string capture_if;
    if (!o.no_capture) {
        capture_if = o.interface_name.empty() ? route_if : o.interface_name;
        if (capture_if.empty()) {
            std::fprintf(stderr, "frag53 probe: warning: no interface holds the route's source "
                                 "address; capture off (use --interface)\n");
        } else {
            try {
                capture = std::make_unique<PathCapture>(capture_if, ip_of(*server), ip_of(self));
            } catch (const std::exception& e) {
                std::fprintf(stderr, "frag53 probe: warning: capture on %s unavailable (%s); "
                                     "fragment and ICMP attribution off\n", capture_if.c_str(), e.what());
                capture_if.clear();
            }
        }
    }
    TimingPolicy timing;
    timing.initial_timeout_us = o.timeout_ms * 1000;
    timing.max_timeout_us = std::max(timing.max_timeout_us, timing.initial_timeout_us);
    timing.retries = o.retries;
    ExchangeRunner runner(*server, timing, o.parallel, capture.get());

    RunInfo info;
    info.target = o.target;
    info.port = o.port;
    info.interface_name = capture_if;

    if (!o.name.empty()) {
        ServerProbeConfig sc;
        sc.name = o.name;
        sc.family = server->family;
        ServerProbeReport sr = run_server_probe(runner, sc, capture.get());
        info.zone = o.name;
        info.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        info.srtt_us = runner.rtt().srtt_us();
        if (!o.quiet) std::fputs(server_human_report(sr, info).c_str(), stdout);
        if (!o.json.empty() && !write_file(o.json, server_json_report(sr, info))) {
            std::fprintf(stderr, "frag53 probe: cannot write %s\n", o.json.c_str());
            return 2;
        }
        return server_exit_status(sr);
    }

    SocketTransport transport(runner, o.zone, capture.get());
    EngineConfig ec;
    ec.family = server->family;
    ec.max_size = o.max_size;
    ec.parallel = o.parallel;
    ec.edns_size = static_cast<uint16_t>(std::max<uint32_t>(4096, o.max_size));
    EngineReport rep = run_engine(transport, ec);
    info.zone = o.zone;
    info.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    info.srtt_us = runner.rtt().srtt_us();
    if (capture) info.capture_drops = capture->kernel_drops();
    if (!o.quiet) std::fputs(human_report(rep, info).c_str(), stdout);
    if (!o.json.empty() && !write_file(o.json, json_report(rep, info))) {
        std::fprintf(stderr, "frag53 probe: cannot write %s\n", o.json.c_str());
        return 2;
    }
    return exit_status(rep);
}

}  // namespace

Subcommand add_probe_command(CLI::App& app) {
    auto o = std::make_shared<Options>();
    Subcommand s;
    CLI::App* c = app.add_subcommand(
        "probe", "measure the largest DNS answer a path carries (UDP unfragmented, fragmented, TCP) and what breaks it");
    s.app = c;
    c->add_option("TARGET", o->target, "IPv4 or IPv6 address of the server")->required();
    c->add_option("--zone", o->zone, "zone of a frag53 responder on TARGET (sized probe answers)");
    c->add_option("--name", o->name, "without a responder: a zone TARGET serves; its DNSKEY and an NXDOMAIN under it are asked for");
    c->add_option("--port", o->port, "server port")->capture_default_str();
    auto* f4 = c->add_flag("-4", o->v4, "TARGET must be an IPv4 address");
    c->add_flag("-6", o->v6, "TARGET must be an IPv6 address")->excludes(f4);
    c->add_option("--json", o->json, "write the result as JSON to PATH");
    c->add_option("--interface", o->interface_name, "interface to capture on (default: the route's)");
    c->add_flag("--no-capture", o->no_capture, "no libpcap capture (no fragment or ICMP attribution)");
    c->add_option("--timeout-ms", o->timeout_ms, "first timeout before an RTT is measured (then SRTT + 4 RTTVAR, at least 150 ms)")
        ->capture_default_str()->check(CLI::Range(10u, 60000u));
    c->add_option("--retries", o->retries, "retries of a lost probe, each with a new ID and port")
        ->capture_default_str()->check(CLI::Range(0u, 10u));
    c->add_option("--parallel", o->parallel, "probes in flight at once")
        ->capture_default_str()->check(CLI::Range(1u, 256u));
    c->add_option("--max-size", o->max_size, "largest DNS answer to try")
        ->capture_default_str()->check(CLI::Range(1280u, 65000u));
    c->add_flag("--quiet,-q", o->quiet, "no table on stdout");
    s.run = [o] {
        try {
            return run(*o);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "frag53 probe: %s\n", e.what());
            return 2;
        }
    };
    return s;
}

}  // namespace frag53::probe
