// CRC32C (Castagnoli), using the CPU's crc32 instruction when present (SSE4.2), a table
// otherwise. Stored checksums are masked (leveldb's rule): a CRC over data that itself
// contains CRCs is then not degenerate.
#pragma once

#include <cstddef>
#include <cstdint>

namespace saker::crc32c {

// CRC32C of data[0, n) continuing from `init` (the CRC of what came before).
uint32_t Extend(uint32_t init, const char* data, size_t n);
inline uint32_t Value(const char* data, size_t n) { return Extend(0, data, n); }

// True if Extend uses the hardware instruction on this machine.
bool HardwareAccelerated();

constexpr uint32_t kMaskDelta = 0xa282ead8ul;
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return ((rot >> 17) | (rot << 15));
}

}  // namespace saker::crc32c
