// SPDX-License-Identifier: MIT
#pragma once

// Lets a consumer thread sleep with no timeout while producers that publish
// work pay no system call as long as it is awake: a producer rings after
// publishing, and only a consumer that armed the bell is woken.
//
// Why it cannot miss work: the consumer arms, then looks for work once more
// before it sleeps; a producer publishes, then swaps the arm off. Both are
// read-modify-writes of one atomic, so one comes first: if the consumer's,
// the producer finds the bell armed and rings; if the producer's, the
// consumer's swap reads what the producer wrote (acquire after release), so
// its look for work sees the work published before it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace hellod {

class Doorbell {
 public:
  // A producer, after publishing its work: one atomic swap while the
  // consumer is not sleeping on the bell. (A plain load would not do: it
  // could miss an arm that the consumer's look for work already followed.)
  void ring() {
    if (armed_.exchange(false, std::memory_order_acq_rel)) wake();
  }

  // Ends the consumer's current or next wait, armed or not (a stop, a flush).
  void wake() {
    {
      std::lock_guard lock(mutex_);
      woken_ = true;
    }
    condition_.notify_one();
  }

  // The consumer: waits until woken, or for at most timeout. Producers do
  // not ring for this wait: the consumer polls.
  void wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    condition_.wait_for(lock, timeout, [this] { return woken_; });
    woken_ = false;
  }

  // The consumer: arms the bell and sleeps until a producer rings or wake()
  // is called, unless nothing_waiting() (called once armed) says work is
  // already there.
  template <typename NothingWaiting>
  void sleep(NothingWaiting&& nothing_waiting) {
    armed_.exchange(true, std::memory_order_acq_rel);
    if (nothing_waiting()) {
      std::unique_lock lock(mutex_);
      condition_.wait(lock, [this] { return woken_; });
      woken_ = false;
    }
    armed_.store(false, std::memory_order_relaxed);
  }

 private:
  std::atomic<bool> armed_{false};
  std::mutex mutex_;
  std::condition_variable condition_;
  bool woken_ = false;  // guarded by mutex_
};

}  // namespace hellod
