// State programs (core/state_program.h) on the CPU backend: the per-element arithmetic against
// JavaScript's, written out in double with one rounding to float32 per op (as storing into a
// Float32Array rounds), the register machine against a direct evaluation of the same
// expression, and the checks that reject malformed programs. lib/pipeline's tests run the
// schedulers' recorded steps through the addon against the host schedulers, bit for bit.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/state_program.h"
#include "core/status.h"

using namespace pixart;

namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

std::vector<float> host(cpu::CpuBackend& be, const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  be.state_to_host(t, v.data());
  return v;
}

}  // namespace

TEST_CASE("state_apply rounds as JavaScript does") {
  const float x = 0.3f, y = -1.7f;
  // c * x[i] stored into a Float32Array: the double product rounded once.
  CHECK(bits_of(state_apply(StateOp::kScale, x, 0, 0.1, 0)) == bits_of(static_cast<float>(0.1 * double(x))));
  // that is not the float32 product of fround(0.1) for every x: check one where they differ
  bool differs = false;
  for (int k = 1; k < 2000 && !differs; k++) {
    const float v = float(k) * 0.37f;
    differs = bits_of(state_apply(StateOp::kScale, v, 0, 0.1, 0)) != bits_of(0.1f * v);
  }
  CHECK(differs);
  CHECK(bits_of(state_apply(StateOp::kDiv, x, 0, 3.0, 0)) == bits_of(static_cast<float>(double(x) / 3.0)));
  CHECK(state_apply(StateOp::kAdd, x, y, 0, 0) == x + y);
  CHECK(state_apply(StateOp::kSub, x, y, 0, 0) == x - y);
  // Math.min(Math.max(v, lo), hi)
  CHECK(state_apply(StateOp::kClamp, 5.f, 0, -1.5, 1.5) == 1.5f);
  CHECK(state_apply(StateOp::kClamp, -5.f, 0, -1.5, 1.5) == -1.5f);
  CHECK(std::isnan(state_apply(StateOp::kClamp, std::nanf(""), 0, -1, 1)));
  CHECK(std::signbit(state_apply(StateOp::kClamp, -0.f, 0, 0.0, 1)) == false);  // Math.max(-0, 0) = +0
  CHECK(std::signbit(state_apply(StateOp::kClamp, -0.f, 0, -0.0, 1)) == true);
  CHECK(state_apply(StateOp::kClamp, 0.5f, 0, 0.1, 0.3) == static_cast<float>(0.3));  // a double bound, rounded
}

TEST_CASE("run_state_program: a DPM-Solver-like step on the CPU backend, bit for bit") {
  cpu::CpuBackend be(2);
  const Shape shape{2, 4, 33, 17};  // not a multiple of the host chunk
  const size_t n = size_t(numel(shape));
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  std::vector<float> xs(n), eps(n), prev(n);
  for (size_t i = 0; i < n; i++) xs[i] = nd(rng), eps[i] = nd(rng), prev[i] = nd(rng);
  const double sigma = 0.8134, alpha = 0.5817, k1 = -0.2718281828, k2 = 1.0 / 3;
  // x0 = (x - sigma * eps) / alpha;  out0 = k1 * x0 + k2 * prev;  out1 = clamp(x0, -1, 1)
  StateProgram p;
  p.shape = shape;
  p.num_inputs = 3;
  p.num_outputs = 2;
  p.code = {state_instr(StateOp::kLoad, 0, 0),
            state_instr(StateOp::kLoad, 1, 1),
            state_instr(StateOp::kScale, 1, 1, 0, -sigma),
            state_instr(StateOp::kAdd, 0, 0, 1),
            state_instr(StateOp::kDiv, 0, 0, 0, alpha),
            state_instr(StateOp::kClamp, 2, 0, 0, -1, 1),
            state_instr(StateOp::kStore, 1, 2),
            state_instr(StateOp::kScale, 0, 0, 0, k1),
            state_instr(StateOp::kLoad, 3, 2),
            state_instr(StateOp::kScale, 3, 3, 0, k2),
            state_instr(StateOp::kAdd, 0, 0, 3),
            state_instr(StateOp::kStore, 0, 0)};
  const std::vector<Tensor> in = {be.state_from_host(xs.data(), shape), be.state_from_host(eps.data(), shape),
                                  be.state_from_host(prev.data(), shape)};
  const std::vector<Tensor> out = be.run_state_program(p, in);
  REQUIRE(out.size() == 2);
  CHECK(out[0].shape == shape);
  const std::vector<float> o0 = host(be, out[0]), o1 = host(be, out[1]);
  size_t mismatches = 0;
  for (size_t i = 0; i < n; i++) {
    const float x0 = static_cast<float>(double(xs[i] + static_cast<float>(-sigma * double(eps[i]))) / alpha);
    const float want0 = static_cast<float>(k1 * double(x0)) + static_cast<float>(k2 * double(prev[i]));
    const float want1 = std::fmin(std::fmax(x0, -1.f), 1.f);
    mismatches += bits_of(o0[i]) != bits_of(want0) || bits_of(o1[i]) != bits_of(want1);
  }
  CHECK(mismatches == 0);
}

TEST_CASE("run_state_program rejects malformed programs with a typed error") {
  cpu::CpuBackend be(1);
  const Shape shape{3};
  const float v[3] = {1, 2, 3};
  const Tensor t = be.state_from_host(v, shape);
  auto code_of = [&](std::vector<StateInstr> code, int32_t inputs = 1, int32_t outputs = 1) {
    StateProgram p;
    p.shape = shape;
    p.num_inputs = inputs;
    p.num_outputs = outputs;
    p.code = std::move(code);
    return p;
  };
  auto rejects = [&](const StateProgram& p, const std::vector<Tensor>& in, const char* why) {
    try {
      be.run_state_program(p, in);
      FAIL("accepted: " << why);
    } catch (const EngineError& e) {
      CHECK(e.code() == StatusCode::kInvalidArgument);
      CHECK_MESSAGE(std::string(e.what()).find(why) != std::string::npos, e.what());
    }
  };
  const StateInstr load = state_instr(StateOp::kLoad, 0, 0), store = state_instr(StateOp::kStore, 0, 0);
  rejects(code_of({state_instr(StateOp::kStore, 0, 5)}), {t}, "before it is written");
  rejects(code_of({state_instr(StateOp::kLoad, 40, 0), store}), {t}, "outside 0..31");
  rejects(code_of({state_instr(StateOp::kLoad, 0, 1), store}), {t}, "loads input 1 of 1");
  rejects(code_of({load, state_instr(StateOp::kStore, 1, 0)}), {t}, "stores output 1 of 1");
  rejects(code_of({load}), {t}, "output 0 is stored 0 times");
  rejects(code_of({load, store, store}), {t}, "output 0 is stored 2 times");
  rejects(code_of({load, state_instr(static_cast<StateOp>(42), 0, 0), store}), {t}, "unknown op 42");
  // A unary op's b is no operand, but the kernel indexes r[b]: out of range is refused too.
  for (StateOp op : {StateOp::kScale, StateOp::kDiv, StateOp::kClamp}) {
    rejects(code_of({load, state_instr(op, 1, 0, 1000), store}), {t}, "register 1000 is outside 0..31");
    rejects(code_of({load, state_instr(op, 1, 0, -1), store}), {t}, "register -1 is outside 0..31");
  }
  rejects(code_of({load, store}), {}, "has 1 inputs but was given 0");
  rejects(code_of({load, store}), {be.state_from_host(v, {2})}, "input 0 is [2]");
  rejects(code_of({}), {t}, "needs 1..1024 instructions");
  rejects(code_of({load, store}, 1, 0), {t}, "1..64 outputs");
}

TEST_CASE("gather_state_rows: rows of parts on two backends, in the order asked, and its checks") {
  cpu::CpuBackend a(1), b(1);
  const float pa[6] = {1, 2, 3, 4, 5, 6}, pb[4] = {7, 8, 9, 10};
  const std::vector<StatePart> parts = {{&a, a.state_from_host(pa, {3, 2})}, {&b, b.state_from_host(pb, {2, 2})}};
  const Tensor out = b.gather_state_rows(parts, {{1, 1}, {0, 2}, {0, 2}, {1, 0}});
  CHECK(out.shape == Shape{4, 2});
  CHECK(host(b, out) == std::vector<float>{9, 10, 5, 6, 5, 6, 7, 8});
  auto code = [&](const std::vector<StatePart>& p, const std::vector<std::pair<int32_t, int64_t>>& r) {
    return guarded([&] { b.gather_state_rows(p, r); }).code();
  };
  CHECK(code(parts, {{0, 3}}) == StatusCode::kInvalidArgument);
  CHECK(code(parts, {{2, 0}}) == StatusCode::kInvalidArgument);
  CHECK(code(parts, {}) == StatusCode::kInvalidArgument);
  const float pc[3] = {1, 2, 3};
  CHECK(code({parts[0], {&a, a.state_from_host(pc, {1, 3})}}, {{0, 0}}) == StatusCode::kInvalidArgument);
}
