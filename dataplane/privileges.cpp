#include "dataplane/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace frag53 {
namespace {

[[noreturn]] void fail(const std::string& user, const std::string& what, int err = 0) {
    std::string message = "cannot drop privileges to user '" + user + "': " + what;
    if (err != 0) message += ": " + std::string(std::strerror(err));
    throw std::runtime_error(message);
}

struct UserIds {
    uid_t uid;
    gid_t gid;
};

UserIds lookup(const std::string& user) {
    long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(hint > 0 ? static_cast<size_t>(hint) : 16384);
    passwd pw{};
    passwd* result = nullptr;
    for (;;) {
        const int rc = getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &result);
        if (rc == ERANGE && buf.size() < (1u << 20)) {
            buf.resize(buf.size() * 2);
            continue;
        }
        if (rc != 0) fail(user, "user lookup failed", rc);
        break;
    }
    if (result == nullptr) fail(user, "no such user");
    return {pw.pw_uid, pw.pw_gid};
}

// glibc has no wrapper for capset/capget; libcap would be a dependency for two system calls.
bool set_capabilities_empty() noexcept {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    return syscall(SYS_capset, &header, data) == 0;
}

bool has_capabilities() noexcept {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (syscall(SYS_capget, &header, data) != 0) return true;  // cannot tell: assume the worst
    for (const auto& d : data) {
        if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0) return true;
    }
    return false;
}

bool ids_are(uid_t uid, gid_t gid) noexcept {
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0) return false;
    return ruid == uid && euid == uid && suid == uid && rgid == gid && egid == gid && sgid == gid;
}

}  // namespace

void drop_privileges(const std::string& user) {
    const UserIds ids = lookup(user);
    if (ids.uid == 0) fail(user, "it is root (uid 0); choose an unprivileged user");

    // Started directly as that user (with file capabilities, say): there are no ids to switch,
    // and initgroups would be refused; the capabilities are still cleared below.
    const bool already = geteuid() != 0 && ids_are(ids.uid, ids.gid);
    if (!already) {
        // Groups first: once the uid is gone the process may no longer change them.
        if (initgroups(user.c_str(), ids.gid) != 0) {
            fail(user, "initgroups (needs root or CAP_SETGID)", errno);
        }
        if (setresgid(ids.gid, ids.gid, ids.gid) != 0) fail(user, "setresgid", errno);
        if (setresuid(ids.uid, ids.uid, ids.uid) != 0) fail(user, "setresuid", errno);
    }
    // Leaving uid 0 clears the capability sets already; this also covers file capabilities
    // and SECBIT_KEEP_CAPS.
    if (!set_capabilities_empty()) fail(user, "clearing capabilities", errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(user, "PR_SET_NO_NEW_PRIVS", errno);

    // Verify rather than trust: every id switched, nothing left to regain root with.
    if (!ids_are(ids.uid, ids.gid)) fail(user, "ids did not all change");
    if (has_capabilities()) fail(user, "capabilities remain after the switch");
    if (setuid(0) == 0) fail(user, "setuid(0) still succeeds; root could be regained");
    if (ids.gid != 0 && setgid(0) == 0) fail(user, "setgid(0) still succeeds");
}

}  // namespace frag53
