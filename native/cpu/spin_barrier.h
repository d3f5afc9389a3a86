// A barrier for the threads of one ThreadPool::run that meet many times in it (a batch-norm network's step: the
// threads meet at every batch norm, forward and backward). Waiting threads spin, then yield: a meeting costs
// about as long as the slowest thread's lateness, where waking a thread asleep on a condition variable costs tens
// of microseconds each time. What a thread wrote before wait() is visible to every thread after it.
#pragma once

#include <atomic>
#include <thread>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace engine {

class SpinBarrier {
 public:
  explicit SpinBarrier(int threads) : threads_(threads) {}

  void wait() {
    const unsigned generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
      arrived_.store(0, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);  // (publishes the reset with everything before it)
      return;
    }
    // 1,000 pauses (a few to some tens of microseconds, by CPU); past that, give the core to whoever the late thread
    // may be waiting on
    for (int spins = 0; generation_.load(std::memory_order_acquire) == generation; spins++) {
      if (spins < 1000) {
#if defined(__x86_64__) || defined(_M_X64)
        _mm_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  const int threads_;
  std::atomic<int> arrived_{0};
  std::atomic<unsigned> generation_{0};
};

}  // namespace engine
