// SPDX-License-Identifier: MIT
#pragma once

#include <cassert>
#include <cstdint>

namespace hellod {

class DeadlineList;

// A node that can sit in one DeadlineList. Connections derive from it, so
// waiting for a timeout costs two pointers and two numbers instead of a
// uv_timer_t (152 bytes) per connection.
class DeadlineEntry {
 public:
  DeadlineEntry() = default;
  DeadlineEntry(const DeadlineEntry&) = delete;
  DeadlineEntry& operator=(const DeadlineEntry&) = delete;
  ~DeadlineEntry() = default;

  [[nodiscard]] std::uint64_t started() const { return started_; }
  [[nodiscard]] std::uint64_t deadline() const { return deadline_; }
  [[nodiscard]] const DeadlineList* list() const { return list_; }

 private:
  friend class DeadlineList;
  DeadlineEntry* prev_ = nullptr;
  DeadlineEntry* next_ = nullptr;
  DeadlineList* list_ = nullptr;
  std::uint64_t started_ = 0;  // when the wait began
  std::uint64_t deadline_ = 0;
};

// Entries that all wait for the same timeout. Appending started + timeout
// keeps the list ordered by deadline, so expiry only ever looks at the front
// and every operation but lower_timeout is O(1), like h2o's per-timeout lists.
// Invariant: deadlines never decrease from front to back.
class DeadlineList {
 public:
  DeadlineList() = default;
  DeadlineList(const DeadlineList&) = delete;
  DeadlineList& operator=(const DeadlineList&) = delete;
  ~DeadlineList() = default;

  // Moves the entry (from whatever list holds it) to the back of this one.
  void push_back(DeadlineEntry& entry, std::uint64_t started, std::uint64_t deadline) {
    remove(entry);
    assert(tail_ == nullptr || tail_->deadline_ <= deadline);
    entry.started_ = started;
    entry.deadline_ = deadline;
    entry.list_ = this;
    entry.prev_ = tail_;
    if (tail_ != nullptr) {
      tail_->next_ = &entry;
    } else {
      head_ = &entry;
    }
    tail_ = &entry;
    ++size_;
  }

  // Unlinks the entry from the list that holds it, if any.
  static void remove(DeadlineEntry& entry) {
    DeadlineList* list = entry.list_;
    if (list == nullptr) return;
    (entry.prev_ != nullptr ? entry.prev_->next_ : list->head_) = entry.next_;
    (entry.next_ != nullptr ? entry.next_->prev_ : list->tail_) = entry.prev_;
    entry.prev_ = entry.next_ = nullptr;
    entry.list_ = nullptr;
    --list->size_;
  }

  // A lowered timeout applies to the entries already waiting, counted from
  // when each began to wait. Entries are in the order they began, so the
  // clamped deadlines stay ordered (the minimum of two ordered sequences).
  void lower_timeout(std::uint64_t timeout) {
    for (DeadlineEntry* entry = head_; entry != nullptr; entry = entry->next_) {
      if (entry->started_ + timeout < entry->deadline_)
        entry->deadline_ = entry->started_ + timeout;
    }
  }

  [[nodiscard]] DeadlineEntry* front() const { return head_; }
  [[nodiscard]] static DeadlineEntry* next(const DeadlineEntry& entry) { return entry.next_; }
  [[nodiscard]] bool empty() const { return head_ == nullptr; }
  [[nodiscard]] std::uint32_t size() const { return size_; }

  // For assertions: deadlines never decrease from front to back.
  [[nodiscard]] bool ordered() const {
    for (const DeadlineEntry* entry = head_; entry != nullptr && entry->next_ != nullptr;
         entry = entry->next_) {
      if (entry->deadline_ > entry->next_->deadline_) return false;
    }
    return true;
  }

 private:
  DeadlineEntry* head_ = nullptr;
  DeadlineEntry* tail_ = nullptr;
  std::uint32_t size_ = 0;
};

}  // namespace hellod
