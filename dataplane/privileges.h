// Giving up root once the capture is open.
//
// Capture needs root (or CAP_NET_RAW, CAP_NET_ADMIN for promiscuous mode) only to open the
// packet socket: construct every PcapLiveSource (its filter included) first, then call
// drop_privileges(). Reading, pcap_stats and stop() keep working with no privileges.
#pragma once

#include <string>

namespace frag53 {

// Switches the whole process (every thread: glibc applies set*id to all of them) to `user`:
// supplementary groups (initgroups), then real, effective and saved gid, then uid, clears every
// capability (a non-root start with file capabilities keeps none either) and sets
// PR_SET_NO_NEW_PRIVS, so no later execve of a set-uid or file-capability binary can raise
// privileges again. Then verifies the result: all ids are the user's, no capability is left,
// setuid(0) and setgid(0) fail.
//
// Throws std::runtime_error with a clear message on any failure: unknown user, a user that is
// root itself, a step refused (not running as root). After a failure the process may be
// half-switched and should exit.
void drop_privileges(const std::string& user);

}  // namespace frag53
