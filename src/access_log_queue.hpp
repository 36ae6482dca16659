// SPDX-License-Identifier: MIT
#pragma once

// A bounded single-producer single-consumer queue of access records: the
// worker pushes (never blocking, never allocating: a record is copied into a
// byte ring), the logger thread drains. When the ring has no room the record
// is dropped and counted; the worker then counts it in its metrics too.
//
// Synchronisation: the producer publishes a record by a release store of
// head_, the consumer frees its bytes by a release store of tail_; each side
// reads the other's index with acquire. Nothing else is shared.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "access_log.hpp"
#include "doorbell.hpp"

namespace hellod {

class AccessLogQueue {
 public:
  // Fields longer than this are cut: a record has a bounded size, so any
  // record fits an empty ring.
  static constexpr std::size_t kMaxFieldBytes = 4096;
  static constexpr std::size_t kDefaultCapacity = std::size_t{1} << 20;

  // capacity: bytes of the ring, a power of two of at least 64 KiB. Each
  // record pushed rings doorbell (when given), for a consumer that sleeps.
  explicit AccessLogQueue(std::size_t capacity = kDefaultCapacity, Doorbell* doorbell = nullptr);
  AccessLogQueue(const AccessLogQueue&) = delete;
  AccessLogQueue& operator=(const AccessLogQueue&) = delete;
  ~AccessLogQueue() = default;

  // Producer (the worker). False when the record was dropped.
  bool try_push(const AccessRecord& record);

  // Consumer (the logger thread): calls visit(const AccessRecord&) for each
  // queued record, oldest first; the record's views are valid only during
  // the call. Returns how many were visited.
  template <typename Visit>
  std::size_t drain(Visit&& visit) {
    const std::uint64_t head = head_.load(std::memory_order_acquire);
    std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    std::size_t visited = 0;
    while (tail != head) {
      AccessRecord record;
      tail += decode(tail, record);
      if (record.status != 0) {
        visit(static_cast<const AccessRecord&>(record));
        ++visited;
      }
    }
    tail_.store(tail, std::memory_order_release);
    return visited;
  }

  // Consumer: nothing is queued.
  [[nodiscard]] bool empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_relaxed);
  }

  // Records dropped so far (any thread).
  [[nodiscard]] std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  // Reads the record at position into record (status 0: a wrap marker);
  // returns how many bytes it takes in the ring.
  std::size_t decode(std::uint64_t position, AccessRecord& record) const;
  bool reserve(std::size_t size, std::uint64_t& position);

  std::size_t capacity_;
  std::unique_ptr<unsigned char[]> ring_;
  Doorbell* doorbell_;
  // Each index on a cache line of its own: the producer writes head_ and
  // dropped_, the consumer tail_.
  alignas(64) std::atomic<std::uint64_t> head_{0};
  std::uint64_t tail_seen_ = 0;  // the producer's last read of tail_
  std::atomic<std::uint64_t> dropped_{0};
  alignas(64) std::atomic<std::uint64_t> tail_{0};
};

}  // namespace hellod
