// Convolutions through cuDNN 9 (its legacy convolution API), loaded at run time with dlopen:
// the CUDA backend works without cuDNN (im2col + cuBLASLt, conv2d.cu) and uses it when
// libcudnn.so.9 can be loaded (PIXART_CUDNN_LIBRARY names a file; PIXART_CUDA_CUDNN=0 turns it
// off). Used for f16/bf16 with symmetric padding (f32 keeps the exact im2col path so that the
// float32 mode matches the CPU backend to float32 rounding).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
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

  // Runs y = conv(x, w) (no bias) if cuDNN is loaded and takes this case; false otherwise
  // (nothing launched). Per-shape algorithm choice is cached.
  bool run(DT dt, const ConvArgs& a, int pad_bottom, int pad_right, MemoryPool& pool, cudaStream_t s);
  bool available() const { return handle_ != nullptr; }
  // Why cuDNN is not used (empty when it is).
  const std::string& why_not() const { return why_not_; }

 private:
  struct Plan;
  void* handle_ = nullptr;  // cudnnHandle_t
  std::string why_not_;
  std::map<std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int, int>,
           std::unique_ptr<Plan>>
      plans_;
};

}  // namespace pixart::cuda
