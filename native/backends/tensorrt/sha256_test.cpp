// SHA-256 (sha256.h): the FIPS 180-4 / NIST example vectors on both the SHA-extension and the
// portable path, streaming in odd pieces, the two paths against each other, and file hashing.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "sha256.h"
#include "test_util.h"

using namespace pixart;
using namespace pixart::trt;

namespace {

// Runs fn once per available block implementation (portable, then SHA extensions if the CPU has them).
template <class Fn>
void on_each_path(Fn&& fn) {
  const bool had = set_sha256_acceleration(false);
  {
    INFO("portable path");
    fn();
  }
  if (set_sha256_acceleration(true), sha256_accelerated()) {
    INFO("SHA-extension path");
    fn();
  } else {
    MESSAGE("this CPU has no SHA extensions: only the portable path was checked");
  }
  set_sha256_acceleration(had);
}

}  // namespace

TEST_CASE("sha256: NIST example vectors") {
  on_each_path([] {
    CHECK(sha256_hex(std::string("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex(std::string("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex(std::string("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_hex(std::string("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                                 "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")) ==
          "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    CHECK(sha256_hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  });
}

TEST_CASE("sha256: streaming in odd pieces equals one call; padding edges 55/56/63/64 bytes") {
  std::mt19937 g(7);
  std::vector<uint8_t> data(10000);
  for (auto& b : data) b = uint8_t(g());
  on_each_path([&] {
    const std::string whole = sha256_hex(data.data(), data.size());
    Sha256 h;
    size_t at = 0;
    for (size_t piece = 1; at < data.size(); piece = piece * 3 % 127 + 1) {
      const size_t n = std::min(piece, data.size() - at);
      h.update(data.data() + at, n);
      at += n;
    }
    CHECK(h.finish_hex() == whole);
    // finish() starts over: the same object hashes again from scratch.
    h.update(std::string("abc"));
    CHECK(h.finish_hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
  // Around the padding boundaries the two paths must agree byte for byte.
  if (set_sha256_acceleration(true), sha256_accelerated()) {
    for (size_t n : {0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000}) {
      set_sha256_acceleration(true);
      const std::string fast = sha256_hex(data.data(), n);
      set_sha256_acceleration(false);
      CHECK(sha256_hex(data.data(), n) == fast);
    }
    set_sha256_acceleration(true);
  }
}

TEST_CASE("sha256_file hashes a file; a missing file is a kModelLoad error") {
  test::TempDir dir;
  test::write_file(dir / "a.bin", std::string(5 << 20, 'a') + "tail");  // more than one 4 MiB read
  CHECK(sha256_file(dir / "a.bin") == sha256_hex(std::string(5 << 20, 'a') + "tail"));
  test::check_fails([&] { sha256_file(dir / "none.bin"); }, StatusCode::kModelLoad, "none.bin");
}

TEST_CASE("is_sha256_hex accepts 64 lowercase hex digits only") {
  CHECK(is_sha256_hex(std::string(64, 'a')));
  CHECK(is_sha256_hex(sha256_hex(std::string("x"))));
  CHECK_FALSE(is_sha256_hex(std::string(63, 'a')));
  CHECK_FALSE(is_sha256_hex(std::string(64, 'A')));
  CHECK_FALSE(is_sha256_hex(std::string(63, 'a') + "g"));
}
