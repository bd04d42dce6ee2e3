// Convolutions through cuDNN 9 (its legacy convolution API), loaded at run time with dlopen:
// the CUDA backend works without cuDNN (im2col + cuBLASLt, conv2d.cu) and uses it when
// libcudnn.so.9 can be loaded (PIXART_CUDNN_LIBRARY names a file; PIXART_CUDA_CUDNN=0 turns it
// off). Used for f16/bf16 with symmetric padding (f32 keeps the exact im2col path so that the
// float32 mode matches the CPU backend to float32 rounding).
//
// Per convolution shape, on its first use outside CUDA-graph capture, the candidates are timed
// on the stream with CUDA events (a warm-up, then the best of up to two runs) and the fastest is
// kept for that shape:
//   - NCHW: the GEMM-type algorithms (no FFT / Winograd: f16 accuracy) that cuDNN's heuristics
//     rank, at most 4, workspace <= 512 MiB as the heuristics report it; the heuristics' first
//     pick (what is used untuned) is always among them;
//   - NHWC: the weight transposed to OHWI (KRSC) into a temporary on every call, and the output
//     computed in bands of rows: each band's input rows transposed to NHWC (zero rows where the
//     band reaches past the image, so the band convolution has no vertical padding), convolved,
//     and its output rows transposed back into y; bands keep x's and y's NHWC temporaries within
//     256 MiB together. The transposes are part of the time. At most 3 algorithms; chosen only
//     when more than 5% faster than the best NCHW one (the temporaries cost memory on every call).
//     (On an H200 at the VAE decoder's 1024x1024 shapes the NCHW algorithms within the workspace
//     budget were 10-20x slower than this for 128-512 channels at 512x512 and 1024x1024.)
//   - im2col, when the caller passes a function that launches it (run()'s last argument).
// A candidate that fails (cuDNN error, failed launch, out of memory during tuning) is dropped;
// when none is left the shape goes to im2col. Tuning stops trying further candidates of a shape
// after ~300 ms and tunes no new shapes after ~10 s in all (the heuristics' pick is used then).
//
// Environment, read when a CudnnConv is created (the backend creates it at its first conv2d):
//   PIXART_CUDA_CONV_TUNE=0      no timing: the heuristics' first GEMM-type algorithm, NCHW
//                                (the behaviour before tuning)
//   PIXART_CUDA_CONV_LAYOUT=nchw|nhwc  time only candidates of that layout (tests, diagnosis);
//                                the heuristics' NCHW pick remains the fallback
//   PIXART_CUDA_CONV_BAND_BYTES=N  NHWC temporaries per band (default 256 MiB; tests use a small
//                                value to exercise several bands)
//   PIXART_CUDA_VERBOSE=1        one stderr line per timed candidate and one per choice
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "conv2d.cuh"
#include "cuda_types.h"
#include "memory_pool.h"

namespace pixart::cuda {

class CudnnConv {
 public:
  CudnnConv();
  ~CudnnConv();
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;

  // Runs y = conv(x, w) (no bias) if cuDNN is loaded and takes this case; false otherwise (the
  // caller then runs im2col, which overwrites y). Per-shape choice is cached. `im2col`, when
  // given, launches the caller's fallback for the same convolution into a.y on stream s
  // (without the bias); it is then timed against cuDNN when the shape is tuned, and a false
  // return may mean that it won. Throws only what allocating its buffers from `pool` throws
  // outside tuning (out of memory, as the im2col path would).
  bool run(DT dt, const ConvArgs& a, int pad_bottom, int pad_right, MemoryPool& pool, cudaStream_t s,
           const std::function<void()>& im2col = {});
  bool available() const { return handle_ != nullptr; }
  // Why cuDNN is not used (empty when it is).
  const std::string& why_not() const { return why_not_; }

 private:
  struct Plan;
  void tune(Plan& p, DT dt, const ConvArgs& a, MemoryPool& pool, cudaStream_t s, const std::function<void()>& im2col);

  void* handle_ = nullptr;  // cudnnHandle_t
  std::string why_not_;
  bool tune_ = true;   // PIXART_CUDA_CONV_TUNE != 0
  int layout_ = 0;     // PIXART_CUDA_CONV_LAYOUT: 0 both, 1 NCHW only, 2 NHWC only
  double tune_ms_ = 0; // wall time spent tuning so far
  int64_t band_bytes_ = 0;  // NHWC x + y temporaries per band (PIXART_CUDA_CONV_BAND_BYTES)
  std::map<std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int, int>,
           std::unique_ptr<Plan>>
      plans_;
};

}  // namespace pixart::cuda
