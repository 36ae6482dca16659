// SPDX-License-Identifier: MIT
#include "output_batch.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <string_view>

#include "nocancel.hpp"

namespace hellod {
namespace {

// Built in place rather than with uv_buf_init, a call into libuv per
// buffer: on Unix a uv_buf_t is { base, len } (asserted below).
uv_buf_t as_buf(std::string_view bytes) {
  return uv_buf_t{const_cast<char*>(bytes.data()), bytes.size()};
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

// uv_buf_t is laid out as struct iovec on Unix (libuv documents it), so the
// batch goes to the kernel as it is.
static_assert(sizeof(uv_buf_t) == sizeof(iovec) &&
              offsetof(uv_buf_t, base) == offsetof(iovec, iov_base) &&
              offsetof(uv_buf_t, len) == offsetof(iovec, iov_len));

// sendmsg(2) rather than writev(2): a socket call skips the VFS layer
// (rw_verify_area, fsnotify) that writev goes through, and MSG_NOSIGNAL
// turns a closed peer into EPIPE instead of SIGPIPE. One buffer (a lone
// response with a small body, see Response) goes with send(2), which copies
// no msghdr and no iovec array in.
ssize_t OutputBatch::try_write(int fd, Then then) {
  // MSG_MORE holds the bytes until close(2) or shutdown(2) adds the FIN to
  // them (a Unix socket ignores it).
  const int flags = then == Then::fin ? MSG_NOSIGNAL | MSG_MORE : MSG_NOSIGNAL;
  msghdr message{};
  message.msg_iov = reinterpret_cast<iovec*>(bufs_.data());
  message.msg_iovlen = bufs_.size();
  ssize_t written = 0;
  do {
    written = bufs_.size() == 1 ? send_bytes(fd, bufs_[0].base, bufs_[0].len, flags)
                                : send_message(fd, &message, flags);
  } while (written < 0 && errno == EINTR);
  if (written >= 0) return written;
  return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;  // libuv's codes are -errno on Unix
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
