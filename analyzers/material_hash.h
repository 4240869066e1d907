// The hash by which the pipeline tells a DNSSEC answer it has already handed over to the
// cross-flow checks from one it has not.
//
// What it covers: the message without its ID and without its records' TTLs, and without the order
// of its records. Servers rotate the records of an RRset from one answer to the next (BIND's
// default), and resolvers count TTLs down; neither changes what the DNSSEC checks see
// (signatures cover the canonical, sorted form) nor their verdicts. Each record (section, owner
// bytes as they stand, type, class, RDLENGTH, RDATA) is hashed on its own and the record hashes
// are summed; the header without its ID and the question are hashed in order, and so are the
// bytes past the last record the parser kept.
//
// Two implementations of one definition: one with the x86 AES round instruction (16 bytes per
// instruction, four lanes), chosen at run time where the CPU has it, and a portable one (two
// 64x64->128 multiply lanes, byte_hash.h). They give different values; a process uses one.
// Neither is meant to resist someone who knows it: a collision costs a DNSSEC check that is not
// repeated, never memory.
#pragma once

#include <cstdint>
#include <span>

#include "analyzers/dns/message.h"
#include "dataplane/packet.h"

namespace frag53 {

// `records` are the message's parsed records, in wire order, each inside `wire`; bytes of `wire`
// past the last of them are hashed as they are. With no records, the whole message but its ID.
uint64_t material_hash(uint64_t seed, Bytes wire, std::span<const dns::Record> records) noexcept;

// Each implementation on its own (tests, benchmarks). material_hash_aes may only be called when
// material_hash_aes_available().
uint64_t material_hash_portable(uint64_t seed, Bytes wire,
                                std::span<const dns::Record> records) noexcept;
uint64_t material_hash_aes(uint64_t seed, Bytes wire, std::span<const dns::Record> records) noexcept;
bool material_hash_aes_available() noexcept;

}  // namespace frag53
