// State programs: a scheduler step evaluated on the backend.
//
// The TypeScript schedulers record a step's element-wise float32 arithmetic on engine-resident
// samples (lib/schedulers/sample.ts) and the pipeline compiles it into a StateProgram: a short
// register program run for every element of same-shaped float32 "state" tensors (the latents,
// the model output, the solver history, uploaded noise) in one fused pass. The rounding of each
// op is the host ops' (lib/schedulers/ops.ts), so a step on the device gives the bits the host
// step gives (for every value but NaN, which stays NaN: a GPU writes the canonical NaN where x86
// keeps or makes another payload, invisible to JavaScript, which has one NaN):
//
//   kLoad   r[dst] = input[a][i]
//   kStore  output[dst][i] = r[a]
//   kScale  r[dst] = f32(c * r[a])                c a double (a JS number)
//   kAdd    r[dst] = f32(r[a] + r[b])
//   kSub    r[dst] = f32(r[a] - r[b])
//   kDiv    r[dst] = f32(r[a] / c)               true division by the double c
//   kClamp  r[dst] = f32(min(max(r[a], c), d))   JavaScript's Math.max/Math.min (NaN stays NaN)
//
// Products and quotients are formed in double and rounded once to float32, as JavaScript does
// when it stores `c * x[i]` into a Float32Array; float32 sums rounded through double are the
// correctly rounded float32 sums (53 >= 2 * 24 + 2), so kAdd/kSub are plain float32 adds.
// state_apply() is that arithmetic for one element; backends/cuda/state_program.cu runs the same
// function in its kernel.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor.h"

#ifdef __CUDACC__
#define PIXART_HOST_DEVICE __host__ __device__
#else
#define PIXART_HOST_DEVICE
#endif

namespace pixart {

class Backend;

enum class StateOp : int32_t { kLoad = 0, kStore = 1, kScale = 2, kAdd = 3, kSub = 4, kDiv = 5, kClamp = 6 };

struct StateInstr {
  StateOp op = StateOp::kLoad;
  int32_t dst = 0, a = 0, b = 0;
  double c = 0, d = 0;
};

inline StateInstr state_instr(StateOp op, int32_t dst, int32_t a, int32_t b = 0, double c = 0, double d = 0) {
  StateInstr i;
  i.op = op;
  i.dst = dst;
  i.a = a;
  i.b = b;
  i.c = c;
  i.d = d;
  return i;
}

struct StateProgram {
  Shape shape;  // of every input and output
  int32_t num_inputs = 0, num_outputs = 0;
  std::vector<StateInstr> code;
};

// Limits that keep a program's registers in one small per-thread array on a GPU.
constexpr int32_t kStateMaxRegisters = 32;
constexpr int32_t kStateMaxCode = 1024;
constexpr int32_t kStateMaxTensors = 64;  // inputs, and outputs

// Rejects (kInvalidArgument) a malformed program: unknown ops, registers out of range or read
// before written, loads/stores out of range, an output stored other than exactly once; and
// inputs that are not p.num_inputs tensors of numel(p.shape) values.
void check_state_program(const StateProgram& p, const std::vector<Tensor>& inputs);

// JavaScript's Math.max / Math.min on doubles: NaN if either is NaN; +0 beats -0.
PIXART_HOST_DEVICE inline double js_max(double x, double y) {
  if (x != x || y != y) return x + y;
  if (x > y) return x;
  if (y > x) return y;
  return (x == 0 && 1 / x > 0) ? x : y;  // equal: the +0 of a (+0, -0) pair
}
PIXART_HOST_DEVICE inline double js_min(double x, double y) {
  if (x != x || y != y) return x + y;
  if (x < y) return x;
  if (y < x) return y;
  return (x == 0 && 1 / x < 0) ? x : y;  // equal: the -0 of a (+0, -0) pair
}

// One arithmetic op (kScale..kClamp) on one element.
PIXART_HOST_DEVICE inline float state_apply(StateOp op, float a, float b, double c, double d) {
#ifdef __CUDA_ARCH__
  // The same arithmetic with the roundings spelled out, so no contraction can merge them.
  switch (op) {
    case StateOp::kScale: return __double2float_rn(__dmul_rn(c, static_cast<double>(a)));
    case StateOp::kAdd: return __fadd_rn(a, b);
    case StateOp::kSub: return __fsub_rn(a, b);
    case StateOp::kDiv: return __double2float_rn(__ddiv_rn(static_cast<double>(a), c));
    case StateOp::kClamp: return __double2float_rn(js_min(js_max(static_cast<double>(a), c), d));
    default: return 0.f;
  }
#else
  switch (op) {
    case StateOp::kScale: return static_cast<float>(c * static_cast<double>(a));
    case StateOp::kAdd: return a + b;
    case StateOp::kSub: return a - b;
    case StateOp::kDiv: return static_cast<float>(static_cast<double>(a) / c);
    case StateOp::kClamp: return static_cast<float>(js_min(js_max(static_cast<double>(a), c), d));
    default: return 0.f;
  }
#endif
}

// The host evaluation: in[p.num_inputs] and out[p.num_outputs] arrays of numel(p.shape) floats.
void run_state_program_host(const StateProgram& p, const float* const* in, float* const* out);

// Backend::run_state_program's default: inputs down with state_to_host, the host evaluation,
// outputs up with state_from_host.
std::vector<Tensor> default_run_state_program(Backend& be, const StateProgram& p, const std::vector<Tensor>& inputs);

// A state tensor and the backend that holds it (possibly another engine's, e.g. the text encoder's).
struct StatePart {
  Backend* backend = nullptr;
  Tensor tensor;
};
// Checks Backend::gather_state_rows's arguments (kInvalidArgument) and returns the output shape:
// every part [R_p, ...] with the same trailing dims, every (part, row) in range.
Shape check_gather_state_rows(const std::vector<StatePart>& parts, const std::vector<std::pair<int32_t, int64_t>>& rows);
// Its default: each part read once with its backend's state_to_host, the rows assembled on the
// host, the result uploaded with be.state_from_host.
Tensor default_gather_state_rows(Backend& be, const std::vector<StatePart>& parts,
                                 const std::vector<std::pair<int32_t, int64_t>>& rows);

}  // namespace pixart
