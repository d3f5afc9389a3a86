// A minimal fork-join pool: run(fn) calls fn(t) for t in [0, size()), each on a worker thread of its own, and
// returns when all are done; the caller waits. Workers sleep on a condition variable between calls. The first
// exception thrown by any fn is rethrown by run(). (The caller does not take t = 0 itself: the Node thread-pool
// thread that calls it ran its share measurably slower than a worker, and the batch waited for it.)
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace engine {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()); }
  void run(const std::function<void(int)>& fn);

 private:
  void worker_loop(int t);
  void stop();  // wakes the workers to return and joins them

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* job_ = nullptr;
  unsigned long generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace engine
