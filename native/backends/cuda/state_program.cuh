// A scheduler step on the device: core/state_program.h's register program run by one thread per
// element over float32 state tensors (the latents, the model output, the solver history), with
// the arithmetic of state_apply(), so the step gives the bits the TypeScript host step gives.
// Backs CudaBackend::run_state_program.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../../core/state_program.h"

namespace pixart::cuda {

// The tensors of one program: device pointers to n floats each.
struct StateTensors {
  const float* in[kStateMaxTensors];
  float* out[kStateMaxTensors];
};

// code: `ncode` instructions in device memory (checked by check_state_program).
void launch_state_program(const StateInstr* code, int32_t ncode, const StateTensors& t, int64_t n, cudaStream_t s);

}  // namespace pixart::cuda
