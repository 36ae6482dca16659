// SPDX-License-Identifier: MIT
#include "journal_writer.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace hellod {
namespace {

using std::chrono::milliseconds;
using Outcome = JournalWriter::Outcome;

sockaddr_un address_of(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  return address;
}

// A stand-in for journald's socket, in a directory of its own, read only
// when the test says so.
class FakeJournal {
 public:
  FakeJournal() {
    std::array<char, 32> directory{"/tmp/journal_writer.XXXXXX"};
    EXPECT_NE(::mkdtemp(directory.data()), nullptr);
    directory_ = directory.data();
    path = directory_ + "/socket";
    bind();
  }
  ~FakeJournal() {
    socket_.reset();
    ::unlink(path.c_str());
    ::rmdir(directory_.c_str());
  }
  FakeJournal(const FakeJournal&) = delete;
  FakeJournal& operator=(const FakeJournal&) = delete;

  // A journald that restarted: a new socket at the same path.
  void replace() {
    socket_.reset();
    EXPECT_EQ(::unlink(path.c_str()), 0);
    bind();
  }

  // One datagram's bytes, and the descriptor it came with (or -1).
  struct Received {
    std::string data;
    UniqueFd fd;
  };
  Received receive() const {
    Received received;
    received.data.resize(std::size_t{1} << 16);
    iovec part{received.data.data(), received.data.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    const ssize_t size = ::recvmsg(socket_.get(), &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    EXPECT_GE(size, 0);
    received.data.resize(size < 0 ? 0 : static_cast<std::size_t>(size));
    if (const cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
      received.fd.reset(fd);
    }
    return received;
  }

  // Queues entries of the test's own until the socket takes no more. A
  // sender's own buffer may fill before the queue does
  // (net.unix.max_dgram_qlen: 10 by default, 512 under systemd), so fresh
  // senders send until the first entry of one is refused.
  void fill() const {
    for (int senders = 0; senders < 64; ++senders) {
      if (send_until_refused() == 0) return;
    }
    FAIL() << "the socket never filled";
  }

  std::string path;

 private:
  // How many entries one fresh sender got in.
  int send_until_refused() const {
    const UniqueFd filler(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    const sockaddr_un address = address_of(path);
    int sent = 0;
    while (sent < 1 << 16 &&
           ::sendto(filler.get(), "X=1\n", 4, 0, reinterpret_cast<const sockaddr*>(&address),
                    sizeof address) == 4) {
      ++sent;
    }
    EXPECT_EQ(errno, EAGAIN);
    return sent;
  }

  void bind() {
    socket_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    const sockaddr_un address = address_of(path);
    ASSERT_EQ(::bind(socket_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address),
              0);
  }

  std::string directory_;
  UniqueFd socket_;
};

std::string read_all(int fd) {
  std::string data;
  std::array<char, 4096> chunk{};
  for (off_t offset = 0;;) {
    const ssize_t n = ::pread(fd, chunk.data(), chunk.size(), offset);
    if (n <= 0) return data;
    data.append(chunk.data(), static_cast<std::size_t>(n));
    offset += n;
  }
}

TEST(JournalEntryTest, AFieldIsALineUnlessItsValueHoldsANewline) {
  std::string entry;
  append_journal_field(entry, "PRIORITY=6");
  append_journal_field(entry, "MESSAGE=two\nlines");
  const std::string size("\x09\0\0\0\0\0\0\0", 8);  // 9, little-endian
  EXPECT_EQ(entry, "PRIORITY=6\nMESSAGE\n" + size + "two\nlines\n");
}

TEST(JournalWriterTest, AnEntryArrivesAsOneDatagram) {
  const FakeJournal journal;
  JournalWriter writer(journal.path);
  EXPECT_EQ(writer.send("MESSAGE=hello\nPRIORITY=6\n", milliseconds{50}), Outcome::sent);
  EXPECT_EQ(journal.receive().data, "MESSAGE=hello\nPRIORITY=6\n");
}

TEST(JournalWriterTest, AStalledJournalIsGivenUpAfterThePatience) {
  const FakeJournal journal;
  JournalWriter writer(journal.path);
  journal.fill();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(writer.send("MESSAGE=waits\n", milliseconds{50}), Outcome::stalled);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds{50});
  // Once journald reads, the entry goes.
  static_cast<void>(journal.receive());
  EXPECT_EQ(writer.send("MESSAGE=goes\n", milliseconds{50}), Outcome::sent);
}

TEST(JournalWriterTest, NoJournaldFailsAtOnceWithoutCountingAsStalled) {
  JournalWriter writer("/nonexistent/journal/socket");
  EXPECT_EQ(writer.send("MESSAGE=lost\n", milliseconds{5'000}), Outcome::failed);
}

TEST(JournalWriterTest, AJournaldThatRestartedIsReachedAgain) {
  FakeJournal journal;
  JournalWriter writer(journal.path);
  EXPECT_EQ(writer.send("MESSAGE=first\n", milliseconds{50}), Outcome::sent);
  journal.replace();
  EXPECT_EQ(writer.send("MESSAGE=second\n", milliseconds{50}), Outcome::sent);
  EXPECT_EQ(journal.receive().data, "MESSAGE=second\n");
}

// The largest send buffer a socket can ask for (SO_SNDBUF, which the
// kernel doubles); a datagram must fit in its socket's.
std::size_t largest_send_buffer() {
  std::ifstream file("/proc/sys/net/core/wmem_max");
  std::size_t bytes = 0;
  file >> bytes;
  EXPECT_GT(bytes, 0U);
  return 2 * bytes;
}

TEST(JournalWriterTest, AnEntryLargerThanADatagramArrivesInASealedMemfd) {
  const FakeJournal journal;
  JournalWriter writer(journal.path);
  const std::string entry = "MESSAGE=" + std::string(largest_send_buffer() + 1024, 'x') + "\n";
  EXPECT_EQ(writer.send(entry, milliseconds{50}), Outcome::sent);
  const FakeJournal::Received received = journal.receive();
  EXPECT_TRUE(received.data.empty());
  ASSERT_TRUE(received.fd.valid());
  const int seals = ::fcntl(received.fd.get(), F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE),
            F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  EXPECT_EQ(read_all(received.fd.get()), entry);
}

}  // namespace
}  // namespace hellod
