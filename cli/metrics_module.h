// The interface of frag53-metrics.so, the module that serves /metrics for `frag53 live` and
// `frag53 dpdk --metrics`.
//
// The HTTP server brings cpp-httplib, libssl and OpenSSL's initialization with it: linked into
// frag53 they were 1.5 ms of every start, on top of libcrypto, for a feature only the long-running
// capture modes use. frag53 loads the module when --metrics is given (MetricsServer). Plain C
// functions, so nothing of either side's C++ layout crosses the boundary.
#pragma once

#include <cstddef>

extern "C" {

// Starts a server on `listen` ("PORT", "ADDR:PORT" or "[ADDR6]:PORT"; the address defaults to
// 127.0.0.1) that serves what was last published. On success returns the server and writes its
// address (NUL-terminated) and port; otherwise returns null with the reason in `error`.
void* frag53_metrics_start(const char* listen, char* address, size_t address_size, int* port,
                           char* error, size_t error_size);
// What GET /metrics returns from now on (copied).
void frag53_metrics_publish(void* server, const char* text, size_t size);
// Stops the server and frees it.
void frag53_metrics_stop(void* server);
}
