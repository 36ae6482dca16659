// SPDX-License-Identifier: MIT
#include "deadlines.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <exception>

namespace hellod {
namespace {

// Lingering close (see Connection::begin_linger) gives up after this long,
// or after the header timeout when that is shorter.
constexpr std::uint64_t kMaxLingerMs = 5000;
// A request already sent when a shutdown begins arrives within this (its
// bytes were in flight, or the client's thread had not run yet); a client
// that stays silent longer is closed. Shorter than the header timeout, since
// during a restart new clients wait in the backlog until the old process exits.
constexpr std::uint64_t kMaxDrainGraceMs = 1000;

std::uint64_t ms(std::chrono::milliseconds duration) {
  return static_cast<std::uint64_t>(duration.count());
}

std::array<std::uint64_t, kWaitKinds> timeouts_of(const Timeouts& timeouts) {
  return {ms(timeouts.header), ms(timeouts.keepalive), ms(timeouts.send),
          std::min(kMaxLingerMs, ms(timeouts.header)),
          std::min(kMaxDrainGraceMs, ms(timeouts.header))};
}

void on_deadline_timer(uv_timer_t* timer) {
  try {
    static_cast<Deadlines*>(timer->data)->on_timer();
  } catch (const std::exception& error) {
    spdlog::error("expiring timeouts failed: {}", error.what());
  }
}

}  // namespace

int Deadlines::init(uv_loop_t* loop, Expire expire, const Timeouts& timeouts) {
  loop_ = loop;
  expire_ = expire;
  timeouts_ms_ = timeouts_of(timeouts);
  const int status = uv_timer_init(loop, &timer_);
  timer_.data = this;
  return status;
}

void Deadlines::close() {
  auto* handle = reinterpret_cast<uv_handle_t*>(&timer_);
  // A timer whose init failed (or never ran) has no loop: nothing to close.
  if (handle->loop == loop_ && loop_ != nullptr && !uv_is_closing(handle))
    uv_close(handle, nullptr);
}

void Deadlines::set_timeouts(const Timeouts& timeouts) {
  const auto next = timeouts_of(timeouts);
  for (std::size_t i = 0; i < kWaitKinds; ++i) {
    if (next[i] < timeouts_ms_[i]) {
      lists_[i].lower_timeout(next[i]);
      assert(lists_[i].ordered());
      if (!lists_[i].empty()) schedule(lists_[i].front()->deadline());
    }
  }
  timeouts_ms_ = next;
}

void Deadlines::wait(DeadlineEntry& entry, Wait wait) {
  const auto kind = static_cast<std::size_t>(wait);
  DeadlineList& list = lists_[kind];
  const std::uint64_t started = now();
  const std::uint64_t deadline = started + timeouts_ms_[kind];
  list.push_back(entry, started, deadline);
  if (list.front() == &entry) schedule(deadline);
}

DeadlineEntry* Deadlines::any() const {
  for (const DeadlineList& list : lists_) {
    if (!list.empty()) return list.front();
  }
  return nullptr;
}

void Deadlines::schedule(std::uint64_t deadline) {
  if (armed_ && deadline >= due_) return;
  const std::uint64_t current = now();
  // uv_timer_start fails only for a closing handle: the loop is shutting down.
  if (uv_timer_start(&timer_, on_deadline_timer, deadline > current ? deadline - current : 0, 0) ==
      0) {
    armed_ = true;
    due_ = deadline;
  }
}

// Expires the fronts of every list, then sleeps until the earliest
// remaining deadline.
void Deadlines::on_timer() {
  armed_ = false;
  const std::uint64_t current = now();
  std::uint64_t next = 0;
  for (DeadlineList& list : lists_) {
    while (!list.empty() && list.front()->deadline() <= current) {
      DeadlineEntry& entry = *list.front();
      DeadlineList::remove(entry);
      expire_(entry);
    }
    if (!list.empty() && (next == 0 || list.front()->deadline() < next)) {
      next = list.front()->deadline();
    }
  }
  if (next != 0) schedule(next);
}

}  // namespace hellod
