#include "state_program.h"

#include <algorithm>
#include <string>

#include "backend.h"
#include "status.h"

namespace pixart {

namespace {

[[noreturn]] void bad(const std::string& what) { fail(StatusCode::kInvalidArgument, "state program: " + what); }

std::string at(size_t k) { return "instruction " + std::to_string(k) + ": "; }

}  // namespace

void check_state_program(const StateProgram& p, const std::vector<Tensor>& inputs) {
  if (p.num_inputs < 0 || p.num_inputs > kStateMaxTensors || p.num_outputs < 1 || p.num_outputs > kStateMaxTensors)
    bad("needs 0.." + std::to_string(kStateMaxTensors) + " inputs and 1.." + std::to_string(kStateMaxTensors) +
        " outputs, got " + std::to_string(p.num_inputs) + " and " + std::to_string(p.num_outputs));
  if (p.code.empty() || p.code.size() > size_t(kStateMaxCode))
    bad("needs 1.." + std::to_string(kStateMaxCode) + " instructions, got " + std::to_string(p.code.size()));
  for (int64_t d : p.shape)
    if (d < 0) bad("negative dimension in shape " + shape_str(p.shape));
  if (inputs.size() != size_t(p.num_inputs))
    bad("has " + std::to_string(p.num_inputs) + " inputs but was given " + std::to_string(inputs.size()) + " tensors");
  for (size_t k = 0; k < inputs.size(); k++)
    if (!inputs[k].defined() || inputs[k].numel() != numel(p.shape))
      bad("input " + std::to_string(k) + " is " + (inputs[k].defined() ? shape_str(inputs[k].shape) : "undefined") +
          ", not " + std::to_string(numel(p.shape)) + " values like " + shape_str(p.shape));
  std::vector<bool> written(size_t(kStateMaxRegisters), false);
  std::vector<int> stored(size_t(p.num_outputs), 0);
  auto reg = [&](size_t k, int32_t r, bool read) {
    if (r < 0 || r >= kStateMaxRegisters)
      bad(at(k) + "register " + std::to_string(r) + " is outside 0.." + std::to_string(kStateMaxRegisters - 1));
    if (read && !written[size_t(r)]) bad(at(k) + "reads register " + std::to_string(r) + " before it is written");
  };
  for (size_t k = 0; k < p.code.size(); k++) {
    const StateInstr& in = p.code[k];
    switch (in.op) {
      case StateOp::kLoad:
        if (in.a < 0 || in.a >= p.num_inputs) bad(at(k) + "loads input " + std::to_string(in.a) + " of " + std::to_string(p.num_inputs));
        reg(k, in.dst, false);
        break;
      case StateOp::kStore:
        if (in.dst < 0 || in.dst >= p.num_outputs)
          bad(at(k) + "stores output " + std::to_string(in.dst) + " of " + std::to_string(p.num_outputs));
        reg(k, in.a, true);
        stored[size_t(in.dst)]++;
        continue;  // writes no register
      case StateOp::kAdd:
      case StateOp::kSub:
        reg(k, in.b, true);
        [[fallthrough]];
      case StateOp::kScale:
      case StateOp::kDiv:
      case StateOp::kClamp:
        // b is not an operand of these, but the kernel and the host loop still index r[b].
        if (in.op != StateOp::kAdd && in.op != StateOp::kSub) reg(k, in.b, false);
        reg(k, in.a, true);
        reg(k, in.dst, false);
        break;
      default:
        bad(at(k) + "unknown op " + std::to_string(int(in.op)));
    }
    written[size_t(in.dst)] = true;
  }
  for (int32_t o = 0; o < p.num_outputs; o++)
    if (stored[size_t(o)] != 1) bad("output " + std::to_string(o) + " is stored " + std::to_string(stored[size_t(o)]) + " times, not once");
}

void run_state_program_host(const StateProgram& p, const float* const* in, float* const* out) {
  // Instruction by instruction over chunks of elements: the same per-element arithmetic as a GPU
  // thread's loop over the instructions, vectorisable here.
  constexpr int64_t kChunk = 1024;
  const int64_t n = numel(p.shape);
  std::vector<float> regs(size_t(kStateMaxRegisters * kChunk));
  for (int64_t base = 0; base < n; base += kChunk) {
    const int64_t m = std::min(kChunk, n - base);
    for (const StateInstr& ins : p.code) {
      float* dst = regs.data() + ins.dst * kChunk;
      const float* a = regs.data() + ins.a * kChunk;
      const float* b = regs.data() + ins.b * kChunk;
      switch (ins.op) {
        case StateOp::kLoad: std::copy(in[ins.a] + base, in[ins.a] + base + m, dst); break;
        case StateOp::kStore: std::copy(a, a + m, out[ins.dst] + base); break;
        default:
          for (int64_t i = 0; i < m; i++) dst[i] = state_apply(ins.op, a[i], b[i], ins.c, ins.d);
      }
    }
  }
}

std::vector<Tensor> default_run_state_program(Backend& be, const StateProgram& p, const std::vector<Tensor>& inputs) {
  check_state_program(p, inputs);
  const size_t n = size_t(numel(p.shape));
  std::vector<std::vector<float>> host_in(inputs.size()), host_out(size_t(p.num_outputs));
  std::vector<const float*> ins;
  std::vector<float*> outs;
  for (size_t k = 0; k < inputs.size(); k++) {
    host_in[k].resize(n);
    be.state_to_host(inputs[k], host_in[k].data());
    ins.push_back(host_in[k].data());
  }
  for (auto& o : host_out) {
    o.resize(n);
    outs.push_back(o.data());
  }
  run_state_program_host(p, ins.data(), outs.data());
  std::vector<Tensor> result;
  for (auto& o : host_out) result.push_back(be.state_from_host(o.data(), p.shape));
  return result;
}

Shape check_gather_state_rows(const std::vector<StatePart>& parts, const std::vector<std::pair<int32_t, int64_t>>& rows) {
  auto bad_rows = [](const std::string& what) { fail(StatusCode::kInvalidArgument, "gather_state_rows: " + what); };
  if (parts.empty() || rows.empty()) bad_rows("needs at least one part and one row");
  const Tensor& t0 = parts[0].tensor;
  for (size_t k = 0; k < parts.size(); k++) {
    const Tensor& t = parts[k].tensor;
    if (!parts[k].backend || !t.defined() || t.rank() < 1 || t.dim(0) < 1)
      bad_rows("part " + std::to_string(k) + " is not a state tensor of rows");
    if (t.rank() != t0.rank() || !std::equal(t.shape.begin() + 1, t.shape.end(), t0.shape.begin() + 1))
      bad_rows("part " + std::to_string(k) + " is " + shape_str(t.shape) + ", its rows unlike part 0's " + shape_str(t0.shape));
  }
  for (const auto& [p, r] : rows)
    if (p < 0 || size_t(p) >= parts.size() || r < 0 || r >= parts[size_t(p)].tensor.dim(0))
      bad_rows("row " + std::to_string(r) + " of part " + std::to_string(p) + " does not exist");
  Shape out = t0.shape;
  out[0] = int64_t(rows.size());
  return out;
}

Tensor default_gather_state_rows(Backend& be, const std::vector<StatePart>& parts,
                                 const std::vector<std::pair<int32_t, int64_t>>& rows) {
  const Shape out_shape = check_gather_state_rows(parts, rows);
  const size_t row = size_t(numel(out_shape) / out_shape[0]);
  std::vector<std::vector<float>> host(parts.size());
  std::vector<float> out(row * rows.size());
  for (size_t k = 0; k < rows.size(); k++) {
    const auto [p, r] = rows[k];
    std::vector<float>& h = host[size_t(p)];
    if (h.empty()) {
      h.resize(size_t(parts[size_t(p)].tensor.numel()));
      parts[size_t(p)].backend->state_to_host(parts[size_t(p)].tensor, h.data());
    }
    std::copy_n(h.data() + size_t(r) * row, row, out.data() + k * row);
  }
  return be.state_from_host(out.data(), out_shape);
}

}  // namespace pixart
