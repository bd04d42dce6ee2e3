#include "cuda_common.cuh"
#include "layout.cuh"

namespace pixart::cuda {

namespace {

template <class T>
__global__ void upsample_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t H, int64_t W) {
  PIXART_GRID_STRIDE(i, n) {
    const int64_t ox = i % (2 * W), oy = (i / (2 * W)) % (2 * H), bc = i / (4 * H * W);
    y[i] = x[(bc * H + oy / 2) * W + ox / 2];
  }
}

// 32x32 tiles through shared memory so both the read and the write are coalesced.
// Grid: x = tile index (row tile * column tiles + column tile), y = batch.
template <class T>
__global__ void transpose_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t R, int64_t C, int64_t ctiles) {
  __shared__ T tile[32][33];
  const int64_t b = blockIdx.y;
  const int64_t r0 = (int64_t(blockIdx.x) / ctiles) * 32, c0 = (int64_t(blockIdx.x) % ctiles) * 32;
  const T* src = in + b * R * C;
  T* dst = out + b * R * C;
  for (int k = threadIdx.y; k < 32; k += blockDim.y) {
    const int64_t r = r0 + k, c = c0 + threadIdx.x;
    if (r < R && c < C) tile[k][threadIdx.x] = src[r * C + c];
  }
  __syncthreads();
  for (int k = threadIdx.y; k < 32; k += blockDim.y) {
    const int64_t c = c0 + k, r = r0 + threadIdx.x;
    if (r < R && c < C) dst[c * R + r] = tile[threadIdx.x][k];
  }
}

template <class T>
__global__ void patchify_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t C, int64_t H,
                                int64_t W, int p) {
  const int64_t h = H / p, w = W / p, F = C * p * p;
  PIXART_GRID_STRIDE(i, n) {
    const int64_t f = i % F, t = i / F;
    const int64_t b = t / (h * w), ti = (t / w) % h, tj = t % w;
    const int64_t c = f / (p * p), u = (f / p) % p, v = f % p;
    y[i] = x[((b * C + c) * H + ti * p + u) * W + tj * p + v];
  }
}

template <class T>
__global__ void unpatchify_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t h, int64_t w, int p,
                                  int c) {
  const int64_t H = h * p, W = w * p;
  PIXART_GRID_STRIDE(i, n) {
    const int64_t ox = i % W, oy = (i / W) % H, ch = (i / (W * H)) % c, b = i / (W * H * c);
    const int64_t t = (b * h + oy / p) * w + ox / p;
    y[i] = x[(t * p * p + (oy % p) * p + ox % p) * c + ch];
  }
}

template <class T>
__global__ void embedding_kernel(const T* __restrict__ table, const int32_t* __restrict__ ids, T* __restrict__ y,
                                 int64_t n, int64_t D) {
  PIXART_GRID_STRIDE(i, n) y[i] = table[int64_t(ids[i / D]) * D + i % D];
}

}  // namespace

void launch_upsample_nearest2x(DT dt, const void* x, void* y, int64_t BC, int64_t H, int64_t W, cudaStream_t s) {
  const int64_t n = BC * 4 * H * W;
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    upsample_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), n, H, W);
  });
  check_launch("upsample_nearest2x");
}

void launch_transpose(DT dt, const void* in, void* out, int64_t B, int64_t R, int64_t C, cudaStream_t s) {
  if (B * R * C == 0) return;
  const int64_t ctiles = (C + 31) / 32, tiles = ((R + 31) / 32) * ctiles;
  if (B > 65535 || tiles > 0x7fffffff) fail(StatusCode::kUnsupported, "cuda transpose: tensor too large");
  const dim3 grid(unsigned(tiles), unsigned(B), 1u), block(32u, 8u, 1u);
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    transpose_kernel<T><<<grid, block, 0, s>>>(static_cast<const T*>(in), static_cast<T*>(out), R, C, ctiles);
  });
  check_launch("layout transpose");
}

void launch_patchify(DT dt, const void* x, void* y, int64_t B, int64_t C, int64_t H, int64_t W, int p, cudaStream_t s) {
  const int64_t n = B * C * H * W;
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    patchify_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), n, C, H, W, p);
  });
  check_launch("patchify");
}

void launch_unpatchify(DT dt, const void* x, void* y, int64_t B, int64_t h, int64_t w, int p, int c, cudaStream_t s) {
  const int64_t n = B * h * w * p * p * c;
  if (n == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    unpatchify_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), n, h, w, p, c);
  });
  check_launch("unpatchify");
}

void launch_embedding(DT dt, const void* table, const int32_t* ids, void* y, int64_t n, int64_t D, cudaStream_t s) {
  const int64_t total = n * D;
  if (total == 0) return;
  dispatch(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    embedding_kernel<T><<<grid_for(total), kThreads, 0, s>>>(static_cast<const T*>(table), ids, static_cast<T*>(y),
                                                             total, D);
  });
  check_launch("embedding");
}

}  // namespace pixart::cuda
