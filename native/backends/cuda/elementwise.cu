#include "cuda_common.cuh"
#include "elementwise.cuh"

namespace pixart::cuda {

namespace {

template <class T, bool kMul>
__global__ void binary_bcast_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y, int64_t n,
                                    int64_t nb) {
  PIXART_GRID_STRIDE(i, n) {
    const float x = to_f(a[i]), z = to_f(b[i % nb]);
    y[i] = from_f<T>(kMul ? x * z : x + z);
  }
}

template <class T>
__global__ void add_rows_kernel(const T* __restrict__ x, const T* __restrict__ table, T* __restrict__ y, int64_t n,
                                int64_t M, int64_t D) {
  PIXART_GRID_STRIDE(i, n) {
    const int64_t d = i % D, row = i / D;  // row = b * M + m
    y[i] = from_f<T>(to_f(x[(row / M) * D + d]) + to_f(table[(row % M) * D + d]));
  }
}

template <class T>
__global__ void scale_kernel(const T* __restrict__ a, float k, T* __restrict__ y, int64_t n) {
  PIXART_GRID_STRIDE(i, n) y[i] = from_f<T>(to_f(a[i]) * k);
}

template <class T>
__global__ void activation_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, Act act) {
  PIXART_GRID_STRIDE(i, n) y[i] = from_f<T>(apply_act(to_f(x[i]), act));
}

template <class T>
__global__ void gated_gelu_kernel(const T* __restrict__ g, const T* __restrict__ u, T* __restrict__ y, int64_t n) {
  PIXART_GRID_STRIDE(i, n) y[i] = from_f<T>(act_gelu_tanh(to_f(g[i])) * to_f(u[i]));
}

template <class T>
__global__ void modulate_kernel(const T* __restrict__ x, const T* __restrict__ mod, T* __restrict__ y, int64_t n,
                                int64_t N, int64_t D, int64_t M, int shift_idx, int scale_idx) {
  PIXART_GRID_STRIDE(i, n) {
    const int64_t j = i % D, b = i / (N * D);
    const float sh = to_f(mod[(b * M + shift_idx) * D + j]), sc = to_f(mod[(b * M + scale_idx) * D + j]);
    y[i] = from_f<T>(to_f(x[i]) * (1.f + sc) + sh);
  }
}

template <class T>
__global__ void gated_residual_kernel(const T* __restrict__ x, const T* __restrict__ y, const T* __restrict__ mod,
                                      T* __restrict__ out, int64_t n, int64_t N, int64_t D, int64_t M, int gate_idx) {
  PIXART_GRID_STRIDE(i, n) {
    const int64_t j = i % D, b = i / (N * D);
    out[i] = from_f<T>(to_f(x[i]) + to_f(mod[(b * M + gate_idx) * D + j]) * to_f(y[i]));
  }
}

template <class T>
__global__ void bias_act_residual_kernel(T* __restrict__ y, const T* __restrict__ bias, const T* __restrict__ res,
                                         int64_t n, int64_t N, Act act) {
  PIXART_GRID_STRIDE(i, n) {
    float v = to_f(y[i]);
    if (bias) v += to_f(bias[i % N]);
    v = apply_act(v, act);
    if (res) v += to_f(res[i]);
    y[i] = from_f<T>(v);
  }
}

template <class T>
__global__ void channel_bias_kernel(T* __restrict__ y, const T* __restrict__ bias, int64_t n, int64_t C, int64_t HW) {
  PIXART_GRID_STRIDE(i, n) y[i] = from_f<T>(to_f(y[i]) + to_f(bias[(i / HW) % C]));
}

}  // namespace

void launch_add(DT dt, const void* a, const void* b, void* y, int64_t n, int64_t nb, cudaStream_t s) {
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    binary_bcast_kernel<T, false><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(a), static_cast<const T*>(b),
                                                                   static_cast<T*>(y), n, nb);
  });
  check_launch("add");
}

void launch_add_rows(DT dt, const void* x, const void* table, void* y, int64_t B, int64_t M, int64_t D, cudaStream_t s) {
  const int64_t n = B * M * D;
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    add_rows_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<const T*>(table),
                                                        static_cast<T*>(y), n, M, D);
  });
  check_launch("add_rows");
}

void launch_mul(DT dt, const void* a, const void* b, void* y, int64_t n, int64_t nb, cudaStream_t s) {
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    binary_bcast_kernel<T, true><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(a), static_cast<const T*>(b),
                                                                  static_cast<T*>(y), n, nb);
  });
  check_launch("mul");
}

void launch_scale(DT dt, const void* a, float k, void* y, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    scale_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(a), k, static_cast<T*>(y), n);
  });
  check_launch("scale");
}

void launch_activation(DT dt, const void* x, void* y, int64_t n, Act act, cudaStream_t s) {
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    activation_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), n, act);
  });
  check_launch("activation");
}

void launch_gated_gelu(DT dt, const void* gate, const void* up, void* y, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    gated_gelu_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(gate), static_cast<const T*>(up),
                                                          static_cast<T*>(y), n);
  });
  check_launch("gated_gelu");
}

void launch_modulate(DT dt, const void* x, const void* mod, void* y, int64_t B, int64_t N, int64_t D, int64_t M,
                     int shift_idx, int scale_idx, cudaStream_t s) {
  const int64_t n = B * N * D;
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    modulate_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<const T*>(mod),
                                                        static_cast<T*>(y), n, N, D, M, shift_idx, scale_idx);
  });
  check_launch("modulate");
}

void launch_gated_residual(DT dt, const void* x, const void* y, const void* mod, void* out, int64_t B, int64_t N,
                           int64_t D, int64_t M, int gate_idx, cudaStream_t s) {
  const int64_t n = B * N * D;
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    gated_residual_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<const T*>(y),
                                                              static_cast<const T*>(mod), static_cast<T*>(out), n, N, D,
                                                              M, gate_idx);
  });
  check_launch("gated_residual");
}

void launch_bias_act_residual(DT dt, void* y, const void* bias, const void* res, int64_t rows, int64_t N, Act act,
                              cudaStream_t s) {
  const int64_t n = rows * N;
  if (n == 0 || (!bias && !res && act == Act::kNone)) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    bias_act_residual_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<T*>(y), static_cast<const T*>(bias),
                                                                 static_cast<const T*>(res), n, N, act);
  });
  check_launch("linear epilogue");
}

void launch_channel_bias(DT dt, void* y, const void* bias, int64_t B, int64_t C, int64_t HW, cudaStream_t s) {
  const int64_t n = B * C * HW;
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    channel_bias_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<T*>(y), static_cast<const T*>(bias), n, C, HW);
  });
  check_launch("conv2d bias");
}

}  // namespace pixart::cuda
