// SPDX-License-Identifier: MIT
#include "output_batch.hpp"

#include <string_view>

namespace hellod {
namespace {

uv_buf_t as_buf(std::string_view bytes) {
  return uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
}

}  // namespace

OutputBatch::OutputBatch() {
  bufs_.reserve(kMaxBuffers);
  bodies_.reserve(kMaxBuffers);
}

void OutputBatch::add(const ResponseBytes& bytes) {
  bufs_.push_back(as_buf(bytes.head));
  bodies_.push_back(nullptr);
  if (!bytes.body.empty()) {
    bufs_.push_back(as_buf(bytes.body));
    bodies_.push_back(bytes.body_owner);
  }
  bytes_ += bytes.size();
}

ssize_t OutputBatch::try_write(uv_stream_t* stream) {
  const int written = uv_try_write(stream, bufs_.data(), static_cast<unsigned>(bufs_.size()));
  return written == UV_EAGAIN ? 0 : written;
}

void OutputBatch::move_unsent(std::size_t written, OutputQueue& unsent) const {
  std::size_t skip = written;
  for (std::size_t i = 0; i < bufs_.size(); ++i) {
    const std::string_view bytes(bufs_[i].base, bufs_[i].len);
    if (skip >= bytes.size()) {
      skip -= bytes.size();
      continue;
    }
    const std::string_view rest = bytes.substr(skip);
    skip = 0;
    if (bodies_[i] != nullptr) {
      unsent.append_body(*bodies_[i], rest);
    } else {
      unsent.append_copy(rest);
    }
  }
}

void OutputBatch::clear() {
  bufs_.clear();
  bodies_.clear();
  bytes_ = 0;
}

}  // namespace hellod
