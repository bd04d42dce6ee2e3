// CudaBackend::record_step: a step captured into a CUDA graph and replayed (core/step_graph.h).
#include <cuda_runtime.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../../core/step_graph.h"
#include "cuda_backend_impl.h"
#include "cuda_common.cuh"

namespace pixart::cuda {

class CudaStepGraph final : public StepGraph {
 public:
  CudaStepGraph(CudaBackend& be, std::vector<Shape> shapes)
      : be_(be), shapes_(std::move(shapes)), device_(be.impl_->device) {}
  ~CudaStepGraph() override {
    // Possibly on another thread (a conditioning disposed from JS): the graph's device, not
    // whichever that thread has current (which would make a context on device 0).
    int cur = -1;
    if (cudaGetDevice(&cur) != cudaSuccess || cur != device_) cudaSetDevice(device_);
    if (exec_) cudaGraphExecDestroy(exec_);  // a launch in flight completes first (freed asynchronously)
    outputs_.clear();
    inputs_.clear();
    fn_ = nullptr;
    if (pool_id_) pool_->release_private(pool_id_);  // later work on the stream runs after the last launch
    cudaGetLastError();
  }

  std::vector<Tensor> run(const std::vector<Tensor>& inputs) override {
    check_step_inputs(shapes_, inputs);
    be_.enter();
    CudaBackend::ProfileScope profile_scope_(be_.impl_.get(), "recorded step");
    cudaStream_t s = be_.impl_->stream;
    const size_t es = dt_size(be_.impl_->dt);
    for (size_t i = 0; i < inputs.size(); i++) {
      const void* src = be_.dev(inputs[i], "recorded step", "input");
      check_cuda(cudaMemcpyAsync(inputs_[i].raw(), src, size_t(inputs[i].numel()) * es, cudaMemcpyDeviceToDevice, s),
                 "recorded step input");
    }
    check_cuda(cudaGraphLaunch(exec_, s), "recorded step (cudaGraphLaunch)");
    // Copies: the next launch overwrites the graph's own outputs.
    std::vector<Tensor> out;
    for (const Tensor& o : outputs_) {
      Tensor t = be_.alloc(o.shape);
      check_cuda(cudaMemcpyAsync(t.raw(), o.raw(), size_t(o.numel()) * es, cudaMemcpyDeviceToDevice, s), "recorded step output");
      out.push_back(std::move(t));
    }
    return out;
  }
  bool recorded() const override { return true; }

  CudaBackend& be_;
  std::vector<Shape> shapes_;
  int device_;
  // What fn closes over (tensors the recorded ops read: a conditioning's text, the size features,
  // the position table) lives as long as the graph, so no block the graph reads is handed out again.
  StepFn fn_;
  std::vector<Tensor> inputs_, outputs_;  // the recorded ops read inputs_ and write outputs_
  cudaGraphExec_t exec_ = nullptr;
  std::shared_ptr<MemoryPool> pool_;
  uint64_t pool_id_ = 0;  // the pool's private set holding the graph's temporaries
};

std::unique_ptr<StepGraph> CudaBackend::record_step(const std::vector<Shape>& input_shapes, StepFn fn, std::string* why_not) {
  enter();
  auto plain = [&](const std::string& why) {
    if (why_not) *why_not = why;
    return make_direct_step_graph(input_shapes, std::move(fn));
  };
  if (!env_flag("PIXART_CUDA_GRAPHS", true)) return plain("PIXART_CUDA_GRAPHS=0: the ops run every step");
  if (impl_->profile) return plain("PIXART_CUDA_PROFILE is on: its per-op events cannot be captured, the ops run every step");
  Impl& m = *impl_;
  auto g = std::make_unique<CudaStepGraph>(*this, input_shapes);
  for (const Shape& sh : input_shapes) g->inputs_.push_back(alloc(sh));  // shared pool: held by the graph
  g->pool_ = m.pool;
  g->pool_id_ = m.pool->begin_private();
  // Held until the capture ends: another engine's gather_state_rows enqueues on this stream
  // (events, waits) and would otherwise land in the graph instead of running now.
  std::unique_lock<std::mutex> capture_lock(m.capture_mu);
  cudaError_t e = cudaStreamBeginCapture(m.stream, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    cudaGetLastError();
    m.pool->end_private();
    return plain(std::string("cudaStreamBeginCapture failed (") + cudaGetErrorString(e) + "): the ops run every step");
  }
  std::string failure;
  try {
    g->outputs_ = fn(g->inputs_);
    for (const Tensor& o : g->outputs_) dev(o, "recorded step", "output");  // compute tensors of this backend
  } catch (const std::exception& ex) {
    failure = ex.what();
  } catch (...) {
    failure = "the step threw a non-standard exception";
  }
  cudaGraph_t graph = nullptr;
  e = cudaStreamEndCapture(m.stream, &graph);
  capture_lock.unlock();
  m.pool->end_private();
  if (failure.empty() && e != cudaSuccess) failure = std::string("cudaStreamEndCapture: ") + cudaGetErrorString(e);
  if (failure.empty()) {
    e = cudaGraphInstantiate(&g->exec_, graph, 0);
    if (e != cudaSuccess) {
      g->exec_ = nullptr;
      failure = std::string("cudaGraphInstantiate: ") + cudaGetErrorString(e);
    }
  }
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();  // capture errors are not sticky; the stream is out of capture mode
  if (!failure.empty()) {
    g.reset();  // its private set back to the shared cache (nothing ran in it)
    return plain("the step could not be captured into a CUDA graph (" + failure + "): the ops run every step");
  }
  g->fn_ = std::move(fn);
  if (why_not) why_not->clear();
  return g;
}

}  // namespace pixart::cuda
