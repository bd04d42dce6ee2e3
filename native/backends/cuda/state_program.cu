#include "cuda_common.cuh"
#include "state_program.cuh"

namespace pixart::cuda {

namespace {

// Every thread runs the whole (short) program for its elements; all threads read the same
// instruction at a time, a broadcast from the cache. The registers live in a per-thread array.
__global__ void state_program_kernel(const StateInstr* __restrict__ code, int32_t ncode, StateTensors t, int64_t n) {
  float r[kStateMaxRegisters];
  PIXART_GRID_STRIDE(i, n) {
    for (int32_t k = 0; k < ncode; k++) {
      const StateInstr ins = code[k];
      switch (ins.op) {
        case StateOp::kLoad: r[ins.dst] = t.in[ins.a][i]; break;
        case StateOp::kStore: t.out[ins.dst][i] = r[ins.a]; break;
        default: r[ins.dst] = state_apply(ins.op, r[ins.a], r[ins.b], ins.c, ins.d);
      }
    }
  }
}

}  // namespace

void launch_state_program(const StateInstr* code, int32_t ncode, const StateTensors& t, int64_t n, cudaStream_t s) {
  if (n == 0 || ncode == 0) return;
  state_program_kernel<<<grid_for(n), kThreads, 0, s>>>(code, ncode, t, n);
  check_launch("run_state_program");
}

}  // namespace pixart::cuda
