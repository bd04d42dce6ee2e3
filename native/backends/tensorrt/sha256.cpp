#include "sha256.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "../../core/status.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define PIXART_SHA_X86 1
#endif

namespace pixart::trt {
namespace {

alignas(16) const uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

// FIPS 180-4 section 6.2.2, one 64-byte block at a time.
void blocks_portable(uint32_t s[8], const uint8_t* p, size_t nblocks) {
  for (; nblocks; nblocks--, p += 64) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
      w[t] = uint32_t(p[4 * t]) << 24 | uint32_t(p[4 * t + 1]) << 16 | uint32_t(p[4 * t + 2]) << 8 | p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
      const uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
      const uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    for (int t = 0; t < 64; t++) {
      const uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kRound[t] + w[t];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    s[0] += a, s[1] += b, s[2] += c, s[3] += d, s[4] += e, s[5] += f, s[6] += g, s[7] += h;
  }
}

#ifdef PIXART_SHA_X86
bool cpu_has_sha() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool ssse3 = c & (1u << 9), sse41 = c & (1u << 19);
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return ssse3 && sse41 && (b & (1u << 29));
}

// The SHA extensions keep the state as two vectors (ABEF, CDGH) and do two rounds per
// sha256rnds2; each group of four rounds takes W[4i..4i+3] + K[4i..4i+3] and, while it runs,
// extends the message schedule four words ahead (msg1 three groups early, msg2 one group early).
__attribute__((target("sha,sse4.1,ssse3"))) void blocks_sha_ni(uint32_t s[8], const uint8_t* p, size_t nblocks) {
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s)), 0xB1);  // CDAB
  __m128i st1 = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 4)), 0x1B);  // EFGH
  __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);  // ABEF
  st1 = _mm_blend_epi16(st1, tmp, 0xF0);       // CDGH
  for (; nblocks; nblocks--, p += 64) {
    const __m128i save0 = st0, save1 = st1;
    __m128i w[4];
    for (int i = 0; i < 4; i++)
      w[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i)), bswap);
    for (int i = 0; i < 16; i++) {
      __m128i msg = _mm_add_epi32(w[i & 3], _mm_load_si128(reinterpret_cast<const __m128i*>(kRound + 4 * i)));
      st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
      if (i >= 3 && i < 15) {  // W[4(i+1)..] from W[4(i-3)..] (already through msg1) and the two groups before it
        w[(i + 1) & 3] = _mm_add_epi32(w[(i + 1) & 3], _mm_alignr_epi8(w[i & 3], w[(i - 1) & 3], 4));
        w[(i + 1) & 3] = _mm_sha256msg2_epu32(w[(i + 1) & 3], w[i & 3]);
      }
      msg = _mm_shuffle_epi32(msg, 0x0E);
      st0 = _mm_sha256rnds2_epu32(st0, st1, msg);
      if (i >= 1 && i < 13) w[(i - 1) & 3] = _mm_sha256msg1_epu32(w[(i - 1) & 3], w[i & 3]);
    }
    st0 = _mm_add_epi32(st0, save0);
    st1 = _mm_add_epi32(st1, save1);
  }
  tmp = _mm_shuffle_epi32(st0, 0x1B);     // FEBA
  st1 = _mm_shuffle_epi32(st1, 0xB1);     // DCHG
  st0 = _mm_blend_epi16(tmp, st1, 0xF0);  // DCBA
  st1 = _mm_alignr_epi8(st1, tmp, 8);     // HGFE
  _mm_storeu_si128(reinterpret_cast<__m128i*>(s), st0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(s + 4), st1);
}
std::atomic<bool> g_accel{cpu_has_sha()};
#else
std::atomic<bool> g_accel{false};
#endif

void blocks(uint32_t s[8], const uint8_t* p, size_t nblocks) {
#ifdef PIXART_SHA_X86
  if (g_accel.load(std::memory_order_relaxed)) return blocks_sha_ni(s, p, nblocks);
#endif
  blocks_portable(s, p, nblocks);
}

const char kHex[] = "0123456789abcdef";

}  // namespace

Sha256::Sha256() { reset(); }

void Sha256::reset() {
  static const uint32_t init[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::memcpy(state_, init, sizeof init);
  fill_ = 0;
  total_ = 0;
}

void Sha256::update(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  total_ += n;
  if (fill_) {
    const size_t take = std::min(n, 64 - fill_);
    std::memcpy(block_ + fill_, p, take);
    fill_ += take, p += take, n -= take;
    if (fill_ < 64) return;
    blocks(state_, block_, 1);
    fill_ = 0;
  }
  blocks(state_, p, n / 64);
  p += n / 64 * 64;
  fill_ = n % 64;
  std::memcpy(block_, p, fill_);
}

std::array<uint8_t, 32> Sha256::finish() {
  // Padding: 0x80, zeros to 56 mod 64, then the bit length big-endian.
  const uint64_t bits = total_ * 8;
  uint8_t pad[72] = {0x80};
  const size_t zeros = (fill_ < 56 ? 56 - fill_ : 120 - fill_);
  for (int i = 0; i < 8; i++) pad[zeros + i] = uint8_t(bits >> (56 - 8 * i));
  update(pad, zeros + 8);
  std::array<uint8_t, 32> out;
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 4; j++) out[4 * i + j] = uint8_t(state_[i] >> (24 - 8 * j));
  reset();
  return out;
}

std::string Sha256::finish_hex() {
  const auto d = finish();
  std::string s(64, '0');
  for (int i = 0; i < 32; i++) s[2 * i] = kHex[d[i] >> 4], s[2 * i + 1] = kHex[d[i] & 15];
  return s;
}

std::string sha256_hex(const void* data, size_t n) {
  Sha256 h;
  h.update(data, n);
  return h.finish_hex();
}

std::string sha256_hex(const std::string& s) { return sha256_hex(s.data(), s.size()); }

std::string sha256_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) fail(StatusCode::kModelLoad, path + ": cannot open file to hash it");
  std::vector<uint8_t> buf(4 << 20);
  Sha256 h;
  size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) h.update(buf.data(), got);
  if (std::ferror(f.get())) fail(StatusCode::kModelLoad, path + ": read error while hashing");
  return h.finish_hex();
}

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool sha256_accelerated() { return g_accel.load(); }

bool set_sha256_acceleration(bool on) {
#ifdef PIXART_SHA_X86
  if (on && !cpu_has_sha()) on = false;
#else
  on = false;
#endif
  return g_accel.exchange(on);
}

}  // namespace pixart::trt
