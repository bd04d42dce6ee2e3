// Recorded steps: one function of fixed-shape tensors run many times, which a GPU backend records
// once (a CUDA graph) and replays, so the host's per-op launch work is paid once instead of every
// denoising step (Backend::record_step).
//
//   StepFn fn: inputs (tensors of the shapes given at recording) -> outputs. Everything fn reads
//   besides its inputs must stay the same for the recording's life (weights, a prepared
//   conditioning, scalars it closes over), because a replay reuses the recorded ops as they were:
//   fn may not read host memory that changes, synchronise, or decide anything from tensor values.
//   StepGraph::run(inputs) -> fn(inputs) for new inputs of the same shapes, as fresh tensors that
//   later runs do not overwrite. A StepGraph keeps fn, and so every tensor fn holds, for its life:
//   the tensors the recorded ops read must not be freed (their memory handed out again) while the
//   recording can still run; tensors fn reaches another way (a model's weights) must outlive it.
//
// The default here (the CPU backend, and any backend that does not record) calls fn on every run:
// the ops run as they would have without a recording. A backend that records and fails to (a
// capture error, a profiler that cannot be captured) returns this default and says why.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor.h"

namespace pixart {

using StepFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

class StepGraph {
 public:
  virtual ~StepGraph() = default;
  // Throws kInvalidArgument when the inputs' count or shapes differ from the recording's.
  virtual std::vector<Tensor> run(const std::vector<Tensor>& inputs) = 0;
  // True when the ops were recorded on the device and run() replays them; false when run() calls fn.
  virtual bool recorded() const = 0;
};

// The default: run() checks the shapes and calls fn.
std::unique_ptr<StepGraph> make_direct_step_graph(std::vector<Shape> input_shapes, StepFn fn);
// run()'s argument check, shared by every StepGraph: `inputs` against the recorded shapes.
void check_step_inputs(const std::vector<Shape>& recorded, const std::vector<Tensor>& inputs);

}  // namespace pixart
