#include "engine_thread.h"

namespace pixart::addon {

Napi::Error MakeError(Napi::Env env, const Status& s) {
  Napi::Error e = Napi::Error::New(env, s.message());
  e.Set("code", Napi::String::New(env, status_code_name(s.code())));
  return e;
}

void Job::Settle(Napi::Env env) {
  Napi::HandleScope scope(env);
  if (!status_.ok()) {
    deferred_.Reject(MakeError(env, status_).Value());
    return;
  }
  try {
    deferred_.Resolve(Result(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

EngineThread::EngineThread(Napi::Env env, const std::string& name) {
  // The TSFN is unreferenced while idle so an idle engine never keeps the process alive.
  tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function(), name, 0, 1);
  tsfn_.Unref(env);
  thread_ = std::thread([this] { Loop(); });
}

EngineThread::~EngineThread() { Shutdown(); }

void EngineThread::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (joined_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    // The last reference can drop on the engine thread itself while Node tears down.
    if (thread_.get_id() == std::this_thread::get_id()) thread_.detach();
    else thread_.join();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    joined_ = true;
  }
  tsfn_.Release();
}

Napi::Promise EngineThread::Submit(Napi::Env env, std::unique_ptr<Job> job) {
  Napi::Promise p = job->Promise();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
      d.Reject(MakeError(env, Status(StatusCode::kInvalidArgument, "the engine was disposed")).Value());
      return d.Promise();
    }
    if (pending_++ == 0) tsfn_.Ref(env);
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return p;
}

void EngineThread::Loop() {
  for (;;) {
    std::unique_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job->Run();
    Job* raw = job.release();
    // The callback holds the engine thread alive until the JS side has seen the result.
    std::shared_ptr<EngineThread> self = shared_from_this();
    auto st = tsfn_.NonBlockingCall([self, raw](Napi::Env env, Napi::Function) {
      std::unique_ptr<Job> owned(raw);
      owned->Settle(env);
      if (--self->pending_ == 0) self->tsfn_.Unref(env);
    });
    if (st != napi_ok) delete raw;  // the environment is shutting down
  }
}

}  // namespace pixart::addon
