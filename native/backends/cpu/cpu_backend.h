// The CPU backend: fp32, multithreaded, vectorised. The reference for every other backend and
// the default where there is no GPU. GEMMs go through OpenBLAS (sgemm); everything else is
// here, parallelised over rows with the backend's thread pool.
#pragma once
#include <memory>

#include "../../core/backend.h"
#include "../../core/thread_pool.h"

namespace pixart::cpu {

class CpuBackend final : public Backend {
 public:
  // threads <= 0: one per hardware thread
  explicit CpuBackend(int threads = 0);
  std::string name() const override { return "cpu"; }
  int threads() const { return pool_->size(); }
  // Host memory either way; the switch lets a CPU run take the models' host-table path (as a GPU
  // backend does) so that path is checked against the ordinary one.
  bool host_embedding_tables() const override { return host_tables_; }
  void set_host_embedding_tables(bool on) { host_tables_ = on; }

  Tensor empty(const Shape& shape) override;
  Tensor from_host(const float* data, const Shape& shape) override;
  void to_host(const Tensor& t, float* out) override;
  Tensor load_weight(const WeightView& w) override;

  Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias, Activation act,
                const Tensor* residual) override;
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                   const Tensor* pos_bias, const Tensor* key_bias) override;

  Tensor add(const Tensor& a, const Tensor& b) override;
  Tensor mul(const Tensor& a, const Tensor& b) override;
  Tensor scale(const Tensor& a, float s) override;
  Tensor activation(const Tensor& x, Activation act) override;
  Tensor gated_gelu(const Tensor& gate, const Tensor& up) override;

  Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) override;
  Tensor layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps) override;
  Tensor modulate(const Tensor& x, const Tensor& mod, int shift_idx, int scale_idx) override;
  Tensor gated_residual(const Tensor& x, const Tensor& y, const Tensor& mod, int gate_idx) override;
  Tensor group_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, int groups, float eps,
                    bool silu) override;

  Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, int stride, int pad_top, int pad_left,
                int pad_bottom, int pad_right) override;
  Tensor upsample_nearest2x(const Tensor& x) override;
  Tensor nchw_to_nlc(const Tensor& x) override;
  Tensor nlc_to_nchw(const Tensor& x, int64_t h, int64_t w) override;
  Tensor patchify(const Tensor& x, int p) override;
  Tensor unpatchify(const Tensor& x, int64_t h, int64_t w, int p, int c) override;
  Tensor slice_channels(const Tensor& x, int64_t start, int64_t count) override;
  Tensor embedding(const Tensor& table, const int32_t* ids, int64_t n) override;

 private:
  void apply_activation(float* data, int64_t n, Activation act);
  std::unique_ptr<ThreadPool> pool_;
  bool host_tables_ = false;
};

}  // namespace pixart::cpu
