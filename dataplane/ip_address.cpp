#include "dataplane/ip_address.h"

#include <arpa/inet.h>
#include <sys/socket.h>

namespace frag53 {

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    const int family = version == 4 ? AF_INET : version == 6 ? AF_INET6 : 0;
    if (family == 0 || inet_ntop(family, bytes.data(), buf, sizeof buf) == nullptr) return {};
    return buf;
}

}  // namespace frag53
