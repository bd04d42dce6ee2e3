// One engine thread per backend: long jobs run here, not on Node's small libuv pool, and the
// event loop never waits. Jobs complete on the JS thread through one thread-safe function.
#pragma once
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "core/status.h"

namespace pixart::addon {

// A unit of work: Execute() runs on the engine thread; Complete() runs on the JS thread and
// settles the promise. The job owns everything Execute() reads (the "baton").
class Job {
 public:
  explicit Job(Napi::Env env) : deferred_(Napi::Promise::Deferred::New(env)) {}
  virtual ~Job() = default;
  virtual void Execute() = 0;                  // engine thread; throws EngineError
  virtual Napi::Value Result(Napi::Env env) = 0;  // JS thread, after a successful Execute()
  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Run() { status_ = guarded([this] { Execute(); }); }
  void Settle(Napi::Env env);

 protected:
  Status status_;

 private:
  Napi::Promise::Deferred deferred_;
};

class EngineThread : public std::enable_shared_from_this<EngineThread> {
 public:
  EngineThread(Napi::Env env, const std::string& name);
  ~EngineThread();
  // Queues a job and returns its promise. Jobs run one at a time, in order.
  Napi::Promise Submit(Napi::Env env, std::unique_ptr<Job> job);
  size_t pending() const { return pending_.load(); }
  // Stops the thread after the queued jobs; safe to call twice.
  void Shutdown();

 private:
  void Loop();
  Napi::ThreadSafeFunction tsfn_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  std::atomic<size_t> pending_{0};
  bool stop_ = false;
  bool joined_ = false;
};

// A JS Error carrying `.code` ("ERR_PIXART_*").
Napi::Error MakeError(Napi::Env env, const Status& s);

}  // namespace pixart::addon
