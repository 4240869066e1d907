// Checked cursor for building wire bytes into a fixed buffer.
//
// The mirror of WireReader: every write checks against the room left; a write that does not fit
// writes nothing and sets a sticky error, so a message is written straight-line and checked once
// with ok().
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "dataplane/wire_reader.h"

namespace frag53::probe {

class WireWriter {
public:
    explicit WireWriter(std::span<std::byte> buf) noexcept : buf_(buf) {}

    void u8(uint8_t v) noexcept {
        if (room() < 1) return fail();
        buf_[pos_++] = std::byte{v};
    }
    void u16(uint16_t v) noexcept {
        if (room() < 2) return fail();
        buf_[pos_++] = std::byte(v >> 8);
        buf_[pos_++] = std::byte(v & 0xFF);
    }
    void u32(uint32_t v) noexcept {
        if (room() < 4) return fail();
        for (int shift = 24; shift >= 0; shift -= 8) buf_[pos_++] = std::byte((v >> shift) & 0xFF);
    }
    void bytes(Bytes b) noexcept {
        if (b.size() > room()) return fail();
        if (!b.empty()) std::memcpy(buf_.data() + pos_, b.data(), b.size());
        pos_ += b.size();
    }
    // n copies of `fill`.
    void fill(size_t n, std::byte v) noexcept {
        if (n > room()) return fail();
        std::memset(buf_.data() + pos_, static_cast<int>(v), n);
        pos_ += n;
    }
    // Overwrites two bytes already written (a count or length patched afterwards).
    void patch16(size_t at, uint16_t v) noexcept {
        if (at > pos_ || pos_ - at < 2) return fail();
        buf_[at] = std::byte(v >> 8);
        buf_[at + 1] = std::byte(v & 0xFF);
    }

    size_t pos() const noexcept { return pos_; }
    size_t room() const noexcept { return buf_.size() - pos_; }
    bool ok() const noexcept { return ok_; }
    std::span<std::byte> written() const noexcept { return buf_.first(pos_); }

private:
    void fail() noexcept { ok_ = false; }

    std::span<std::byte> buf_;
    size_t pos_ = 0;
    bool ok_ = true;
};

}  // namespace frag53::probe
