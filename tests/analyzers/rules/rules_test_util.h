// Helpers shared by the rule engine tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unistd.h>

#include "analyzers/dns/message.h"
#include "analyzers/rules/config_text.h"
#include "frag53_config.h"

namespace frag53::rules::testing {

// A wire-form name from raw labels (bytes taken as they are, dots and all).
inline dns::Name name_of(std::initializer_list<std::string_view> labels) {
    dns::Name n;
    size_t at = 0;
    for (std::string_view l : labels) {
        n.wire[at++] = static_cast<uint8_t>(l.size());
        for (char c : l) n.wire[at++] = static_cast<uint8_t>(c);
    }
    n.wire[at++] = 0;
    n.length = static_cast<uint8_t>(at);
    return n;
}

// "line N: message" for every diagnostic, for assertion messages.
template <class Diags>
std::string dump(const Diags& ds) {
    std::string s;
    for (const Diagnostic& d : ds) s += d.format("input") + "\n";
    return s;
}

// A file in the temporary directory, removed when the test ends.
class TempFile {
public:
    explicit TempFile(std::string_view contents) {
        const char* dir = std::getenv("TMPDIR");
        path_ = std::string(dir && *dir ? dir : "/tmp") + "/frag53_rules_XXXXXX";
        const int fd = ::mkstemp(path_.data());
        if (fd < 0) throw std::runtime_error("mkstemp failed");
        size_t off = 0;
        while (off < contents.size()) {
            const ssize_t n = ::write(fd, contents.data() + off, contents.size() - off);
            if (n <= 0) break;
            off += static_cast<size_t>(n);
        }
        ::close(fd);
    }
    ~TempFile() { std::remove(path_.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace frag53::rules::testing

// Tests of matching need Hyperscan; a build without it skips them and runs the error-path tests.
#if FRAG53_HAVE_HYPERSCAN
#define FRAG53_REQUIRE_HYPERSCAN() \
    do {                           \
    } while (0)
#else
#define FRAG53_REQUIRE_HYPERSCAN() GTEST_SKIP() << "built without Hyperscan"
#endif
