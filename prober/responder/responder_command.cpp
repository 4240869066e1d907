// `frag53 responder`: options, sockets, privileges, run; the work is in server.cpp / answer.cpp.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/privileges.h"
#include "prober/command.h"
#include "prober/responder/server.h"

namespace frag53::probe {

namespace {

struct CommandOptions {
    ResponderOptions r;
    std::vector<std::string> listen;
    std::string rate_limit;  // "N/s" or "N"
    std::string user;
};

// "N/s" or "N": answers per second.
bool parse_rate(const std::string& s, uint32_t& out) {
    std::string n = s;
    if (n.size() > 2 && n.compare(n.size() - 2, 2, "/s") == 0) n.resize(n.size() - 2);
    if (n.empty() || n.size() > 7 || n.find_first_not_of("0123456789") != std::string::npos) return false;
    out = static_cast<uint32_t>(std::stoul(n));
    return true;
}

}  // namespace

Subcommand add_responder_command(CLI::App& app) {
    auto o = std::make_shared<CommandOptions>();
    Subcommand s;
    CLI::App* c = app.add_subcommand(
        "responder", "authoritative server answering probe names with answers of exact sizes (docs/probe.md)");
    c->add_option("--zone", o->r.answer.zone, "zone the probe names live under")->required();
    c->add_option("--listen", o->listen,
                  "ADDR[:PORT], [V6ADDR][:PORT] (port 53 by default); UDP and TCP; repeatable")
        ->required();
    c->add_option("--ttl", o->r.answer.ttl, "TTL of the answer records")->capture_default_str();
    c->add_option("--edns-size", o->r.answer.edns_udp_size, "UDP size advertised in our OPT")
        ->capture_default_str()->check(CLI::Range(512, 65535));
    c->add_option("--rate-limit", o->rate_limit,
                  "UDP answers per second per source (IPv4 address, IPv6 /64), e.g. 20/s; 0 or unset: no limit");
    c->add_option("--rate-limit-burst", o->r.rate_limit.burst, "queries a source may send at once (0: the rate)")
        ->capture_default_str();
    c->add_option("--rate-limit-slip", o->r.rate_limit.slip,
                  "every Nth query over the limit gets a small TC=1 answer (0: never)")
        ->capture_default_str()->check(CLI::Range(0, 100));
    c->add_option("--rate-limit-table", o->r.rate_limit.table_size, "sources tracked by the rate limit")
        ->capture_default_str()->check(CLI::Range(4, 1 << 24));
    c->add_option("--max-tcp-clients", o->r.max_tcp_clients, "TCP connections open at once")
        ->capture_default_str()->check(CLI::Range(1, 65536));
    c->add_option("--tcp-idle-timeout", o->r.tcp_idle_timeout_ms, "milliseconds before an idle TCP connection is closed")
        ->capture_default_str()->check(CLI::Range(100, 3'600'000));
    c->add_option("--max-runtime", o->r.max_runtime_s, "stop after this many seconds (0: run until SIGINT/SIGTERM)")
        ->capture_default_str()->check(CLI::Range(0.0, 1e9));
    c->add_option("--user", o->user, "drop privileges to this user once the sockets are open");
    c->add_flag("--quiet", o->r.quiet, "no line per query on stderr");
    s.app = c;
    s.run = [o] {
        for (const std::string& l : o->listen) {
            auto a = parse_listen_address(l);
            if (!a) {
                std::fprintf(stderr, "frag53 responder: bad --listen '%s' (ADDR[:PORT] or [V6ADDR][:PORT])\n", l.c_str());
                return 2;
            }
            o->r.listen.push_back(*a);
        }
        if (!o->rate_limit.empty() && !parse_rate(o->rate_limit, o->r.rate_limit.rate)) {
            std::fprintf(stderr, "frag53 responder: bad --rate-limit '%s' (N/s)\n", o->rate_limit.c_str());
            return 2;
        }
        Responder responder(o->r);  // throws on a bad zone or a socket that cannot be opened
        if (!o->user.empty()) drop_privileges(o->user);
        const int rc = responder.run();
        print_counters(stdout, responder.counters());
        std::fflush(stdout);
        return rc;
    };
    return s;
}

}  // namespace frag53::probe
