// Checked cursor over untrusted wire bytes.
//
// Every read checks against what is left; a read past the end returns zero, consumes nothing and
// sets a sticky error, so a header can be read straight-line and checked once with ok().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace frag53 {

using Bytes = std::span<const std::byte>;

class WireReader {
public:
    constexpr WireReader() noexcept = default;
    constexpr explicit WireReader(Bytes data, size_t pos = 0) noexcept
        : data_(data), pos_(pos <= data.size() ? pos : data.size()), ok_(pos <= data.size()) {}

    constexpr uint8_t u8() noexcept {
        if (remaining() < 1) return fail0();
        return static_cast<uint8_t>(data_[pos_++]);
    }
    constexpr uint16_t u16() noexcept {
        if (remaining() < 2) return fail0();
        uint16_t v = static_cast<uint16_t>((static_cast<unsigned>(data_[pos_]) << 8) |
                                           static_cast<unsigned>(data_[pos_ + 1]));
        pos_ += 2;
        return v;
    }
    constexpr uint32_t u32() noexcept {
        if (remaining() < 4) return fail0();
        uint32_t v = (static_cast<uint32_t>(data_[pos_]) << 24) |
                     (static_cast<uint32_t>(data_[pos_ + 1]) << 16) |
                     (static_cast<uint32_t>(data_[pos_ + 2]) << 8) |
                     static_cast<uint32_t>(data_[pos_ + 3]);
        pos_ += 4;
        return v;
    }
    // Little-endian reads, for capture headers (SLL2 has none, BSD null has host order).
    constexpr uint32_t u32le() noexcept {
        if (remaining() < 4) return fail0();
        uint32_t v = static_cast<uint32_t>(data_[pos_]) |
                     (static_cast<uint32_t>(data_[pos_ + 1]) << 8) |
                     (static_cast<uint32_t>(data_[pos_ + 2]) << 16) |
                     (static_cast<uint32_t>(data_[pos_ + 3]) << 24);
        pos_ += 4;
        return v;
    }
    // n bytes as a view; empty and an error if fewer are left.
    constexpr Bytes bytes(size_t n) noexcept {
        if (n > remaining()) {
            ok_ = false;
            return {};
        }
        Bytes v = data_.subspan(pos_, n);
        pos_ += n;
        return v;
    }
    constexpr void skip(size_t n) noexcept {
        if (n > remaining()) {
            ok_ = false;
            return;
        }
        pos_ += n;
    }
    constexpr Bytes rest() const noexcept { return data_.subspan(pos_); }
    constexpr size_t remaining() const noexcept { return data_.size() - pos_; }
    constexpr size_t pos() const noexcept { return pos_; }
    constexpr bool ok() const noexcept { return ok_; }
    constexpr void fail() noexcept { ok_ = false; }
    constexpr Bytes data() const noexcept { return data_; }

private:
    constexpr uint8_t fail0() noexcept {
        ok_ = false;
        return 0;
    }

    Bytes data_{};
    size_t pos_ = 0;
    bool ok_ = true;
};

// Helpers to build byte spans in tests and tools.
inline Bytes as_bytes(const void* p, size_t n) noexcept {
    return {static_cast<const std::byte*>(p), n};
}

}  // namespace frag53
