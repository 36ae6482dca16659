// SPDX-License-Identifier: MIT
#include "access_log_queue.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>

namespace hellod {
namespace {

constexpr std::size_t kAlignment = 8;
constexpr std::size_t kFields = 5;  // method, target, route, user agent, referer
constexpr std::uint8_t kHasUserAgent = 1;
constexpr std::uint8_t kHasReferer = 2;

// A record in the ring: this header, then the field bytes, padded to 8.
struct PackedHeader {
  std::uint32_t size;  // bytes in the ring, header included; 0: wrap to the start
  std::uint16_t status;
  std::uint16_t client_port;
  std::int64_t time_ns;
  std::uint64_t duration_ns;
  std::uint64_t bytes_sent;
  std::uint8_t http_major;
  std::uint8_t http_minor;
  std::uint8_t format;
  std::uint8_t flags;
  std::uint16_t family;
  std::array<unsigned char, 16> address;
  std::array<std::uint16_t, kFields> lengths;
};

std::size_t round_up(std::size_t size) {
  return (size + kAlignment - 1) / kAlignment * kAlignment;
}

std::string_view cut(std::string_view field) {
  return field.substr(0, AccessLogQueue::kMaxFieldBytes);
}

std::array<std::string_view, kFields> fields_of(const AccessRecord& record) {
  return {cut(record.method), cut(record.target), cut(record.route),
          cut(record.user_agent.value_or("")), cut(record.referer.value_or(""))};
}

PackedHeader header_of(const AccessRecord& record,
                       const std::array<std::string_view, kFields>& fields, std::size_t size) {
  PackedHeader header{};
  header.size = static_cast<std::uint32_t>(size);
  header.status = record.status;
  header.client_port = record.client.port;
  header.time_ns = record.time_ns;
  header.duration_ns = record.duration_ns;
  header.bytes_sent = record.bytes_sent;
  header.http_major = record.http_major;
  header.http_minor = record.http_minor;
  header.format = static_cast<std::uint8_t>(record.format);
  header.flags = static_cast<std::uint8_t>((record.user_agent ? kHasUserAgent : 0U) |
                                           (record.referer ? kHasReferer : 0U));
  header.family = record.client.family;
  header.address = record.client.bytes;
  for (std::size_t i = 0; i < kFields; ++i)
    header.lengths[i] = static_cast<std::uint16_t>(fields[i].size());
  return header;
}

}  // namespace

// The ring is left uninitialised: only bytes a record (or a wrap marker)
// wrote are ever read, and zeroing it would make a mebibyte per worker
// resident even while log.access is off.
AccessLogQueue::AccessLogQueue(std::size_t capacity, Doorbell* doorbell)
    : capacity_(capacity),
      ring_(std::make_unique_for_overwrite<unsigned char[]>(capacity)),
      doorbell_(doorbell) {
  assert(capacity >= (std::size_t{64} << 10) && (capacity & (capacity - 1)) == 0);
}

// Finds room for size contiguous bytes; when the ring's end is too close,
// a wrap marker fills it and the record starts over at offset 0.
bool AccessLogQueue::reserve(std::size_t size, std::uint64_t& position) {
  const std::uint64_t head = head_.load(std::memory_order_relaxed);
  const std::size_t offset = head & (capacity_ - 1);
  const std::size_t to_end = capacity_ - offset;
  const std::size_t needed = size <= to_end ? size : to_end + size;
  if (head + needed - tail_seen_ > capacity_) {
    tail_seen_ = tail_.load(std::memory_order_acquire);
    if (head + needed - tail_seen_ > capacity_) return false;
  }
  if (size > to_end) {
    const std::uint32_t wrap = 0;
    std::memcpy(&ring_[offset], &wrap, sizeof(wrap));
    position = head + to_end;
  } else {
    position = head;
  }
  return true;
}

bool AccessLogQueue::try_push(const AccessRecord& record) {
  const std::array<std::string_view, kFields> fields = fields_of(record);
  std::size_t size = sizeof(PackedHeader);
  for (const std::string_view field : fields) size += field.size();
  size = round_up(size);
  std::uint64_t position = 0;
  if (!reserve(size, position)) {
    dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }
  unsigned char* out = &ring_[position & (capacity_ - 1)];
  const PackedHeader header = header_of(record, fields, size);
  std::memcpy(out, &header, sizeof(header));
  out += sizeof(header);
  for (const std::string_view field : fields) {
    // An empty view may have a null data(), which memcpy must not see.
    if (!field.empty()) std::memcpy(out, field.data(), field.size());
    out += field.size();
  }
  head_.store(position + size, std::memory_order_release);
  if (doorbell_ != nullptr) doorbell_->ring();
  return true;
}

std::size_t AccessLogQueue::decode(std::uint64_t position, AccessRecord& record) const {
  const std::size_t offset = position & (capacity_ - 1);
  std::uint32_t size = 0;
  std::memcpy(&size, &ring_[offset], sizeof(size));
  if (size == 0) return capacity_ - offset;  // a wrap marker: record.status stays 0
  PackedHeader header{};
  std::memcpy(&header, &ring_[offset], sizeof(header));
  record.status = header.status;
  record.client.port = header.client_port;
  record.time_ns = header.time_ns;
  record.duration_ns = header.duration_ns;
  record.bytes_sent = header.bytes_sent;
  record.http_major = header.http_major;
  record.http_minor = header.http_minor;
  record.format = static_cast<AccessLogFormat>(header.format);
  record.client.family = header.family;
  record.client.bytes = header.address;
  const char* field = reinterpret_cast<const char*>(&ring_[offset + sizeof(header)]);
  std::array<std::string_view, kFields> fields;
  for (std::size_t i = 0; i < kFields; ++i) {
    fields[i] = std::string_view(field, header.lengths[i]);
    field += header.lengths[i];
  }
  record.method = fields[0];
  record.target = fields[1];
  record.route = fields[2];
  if ((header.flags & kHasUserAgent) != 0) record.user_agent = fields[3];
  if ((header.flags & kHasReferer) != 0) record.referer = fields[4];
  return size;
}

}  // namespace hellod
