#include "thread_pool.h"

#include <algorithm>

namespace pixart {

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < std::max(1, threads); i++) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    std::pair<int64_t, int64_t> chunk;
    const std::function<void(int64_t, int64_t)>* job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (index >= static_cast<int>(chunks_.size())) continue;
      chunk = chunks_[index];
      job = job_;
    }
    std::exception_ptr err;
    try {
      (*job)(chunk.first, chunk.second);
    } catch (...) {
      err = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (err && !error_) error_ = err;
      if (--pending_ == 0) done_cv_.notify_all();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t max_parts = std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk));
  const int parts = static_cast<int>(std::min<int64_t>(size(), max_parts));
  if (parts <= 1) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> run(run_mu_);
  std::vector<std::pair<int64_t, int64_t>> chunks(parts);
  for (int i = 0; i < parts; i++) chunks[i] = {n * i / parts, n * (i + 1) / parts};
  {
    std::lock_guard<std::mutex> lock(mu_);
    chunks_ = chunks;
    job_ = &fn;
    pending_ = parts - 1;
    error_ = nullptr;
    generation_++;
  }
  cv_.notify_all();
  std::exception_ptr mine;
  try {
    fn(chunks[0].first, chunks[0].second);
  } catch (...) {
    mine = std::current_exception();
  }
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return pending_ == 0; });
  job_ = nullptr;
  auto err = mine ? mine : error_;
  if (err) std::rethrow_exception(err);
}

}  // namespace pixart
