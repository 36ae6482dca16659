// SPDX-License-Identifier: MIT
#pragma once

#include <uv.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "config.hpp"
#include "deadline_list.hpp"

namespace hellod {

// What a connection is waiting for; each has its own timeout and list.
// drain: a client that connected just before a graceful shutdown began and
// has sent nothing yet, given a moment for its first request.
enum class Wait : unsigned char { header, keepalive, send, linger, drain };
inline constexpr std::size_t kWaitKinds = 5;

// One event loop's timeouts: a DeadlineList per kind of wait and a single
// uv timer set to the earliest deadline. A connection sits in at most one
// list at a time, so moving it to another wait is O(1).
class Deadlines {
 public:
  // Called for an entry whose deadline passed, after it left its list.
  using Expire = void (*)(DeadlineEntry& entry);

  Deadlines() = default;
  Deadlines(const Deadlines&) = delete;
  Deadlines& operator=(const Deadlines&) = delete;
  ~Deadlines() = default;

  // A libuv status: 0, or the error of uv_timer_init.
  int init(uv_loop_t* loop, Expire expire, const Timeouts& timeouts);
  // Part of the loop's shutdown: closes the timer handle.
  void close();

  // A raised timeout applies to every wait that starts from now on; a
  // lowered one also to the waits in progress, counted from when each began.
  void set_timeouts(const Timeouts& timeouts);

  // (Re)starts entry's wait of this kind: deadline = now + its timeout.
  void wait(DeadlineEntry& entry, Wait wait);
  [[nodiscard]] bool waiting_for(const DeadlineEntry& entry, Wait wait) const {
    return entry.list() == &lists_[static_cast<std::size_t>(wait)];
  }
  static void stop_waiting(DeadlineEntry& entry) { DeadlineList::remove(entry); }

  // Calls f(entry) for every waiting entry; f may end any entry's wait, or
  // restart it. A restarted wait goes to the back of its list, so each list
  // is walked for as many entries as it held when its walk began: an entry
  // f sends to the back of the list being walked is not met again there
  // (which, f restarting it each time, would loop without end).
  template <typename F>
  void for_each(F&& f) {
    for (DeadlineList& list : lists_) {
      DeadlineEntry* entry = list.front();
      for (std::uint32_t left = list.size(); left > 0 && entry != nullptr; --left) {
        DeadlineEntry* next = DeadlineList::next(*entry);
        f(*entry);
        entry = next;
      }
    }
  }
  [[nodiscard]] DeadlineEntry* any() const;

  void on_timer();

 private:
  void schedule(std::uint64_t deadline);
  [[nodiscard]] std::uint64_t now() const { return uv_now(loop_); }

  uv_loop_t* loop_ = nullptr;
  uv_timer_t timer_{};
  Expire expire_ = nullptr;
  std::array<DeadlineList, kWaitKinds> lists_;
  std::array<std::uint64_t, kWaitKinds> timeouts_ms_{};
  std::uint64_t due_ = 0;  // when the timer fires, while armed_
  bool armed_ = false;
};

}  // namespace hellod
