// SPDX-License-Identifier: MIT
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "access_log_queue.hpp"
#include "deadlines.hpp"
#include "input_set.hpp"
#include "metrics.hpp"
#include "output_batch.hpp"
#include "peer_addresses.hpp"
#include "response.hpp"
#include "snapshot.hpp"

namespace hellod {

class Connection;

// Per-worker counters, written by the worker only and read by the
// supervisor for STATUS= and logs.
struct WorkerCounters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bad_requests{0};
  std::atomic<std::uint32_t> open{0};
};

// Only the owning worker writes its counters, so a relaxed load and store is
// enough and avoids a locked instruction per request.
template <typename T>
void bump(std::atomic<T>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// Who frees a connection once its handle has closed (the worker).
class ConnectionOwner {
 public:
  virtual void release(Connection* connection) = 0;

 protected:
  ConnectionOwner() = default;
  ConnectionOwner(const ConnectionOwner&) = default;
  ConnectionOwner& operator=(const ConnectionOwner&) = default;
  ~ConnectionOwner() = default;
};

// What a connection sees of its event loop: the narrow part of a worker it
// needs, so connections know nothing of threads, listeners or reloads. Lives
// on the worker's thread only.
struct LoopContext {
  uv_loop_t* loop = nullptr;
  ConnectionOwner* owner = nullptr;
  // Where connections wait for input (InputSet): read by hellod itself.
  InputSet inputs;
  // One read takes at most this much; shared by all of a loop's connections,
  // since a read callback finishes before the next one starts.
  std::vector<char> read_buffer;
  OutputBatch batch;
  // The configuration in force, and this loop's copy of its responses, whose
  // Date bytes the loop's timer rewrites once a second.
  std::shared_ptr<const Snapshot> snapshot;
  std::unique_ptr<ResponseSet> responses;
  Deadlines deadlines;
  WorkerCounters counters;
  // This loop's counters for the configuration in force (never null), and
  // its access-log queue while log.access is on (else null).
  WorkerMetrics* metrics = nullptr;
  AccessLogQueue* access_log = nullptr;
  // Its TCP clients' addresses, for the access log.
  PeerAddresses peers;
  // Responses in batch whose duration is observed when it is written.
  std::uint32_t batched = 0;
  bool draining = false;        // shutting down: every response says close
  bool health_failing = false;  // the drain period before it: health routes answer 503
};

}  // namespace hellod
