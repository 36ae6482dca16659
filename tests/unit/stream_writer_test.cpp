// SPDX-License-Identifier: MIT
#include "stream_writer.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <string>

#include <gtest/gtest.h>

namespace hellod {
namespace {

using std::chrono::milliseconds;

constexpr int kSmallPipe = 4096;

// Both ends of a pipe whose reader reads only when the test says so.
struct Pipe {
  Pipe() {
    std::array<int, 2> ends{};
    EXPECT_EQ(::pipe2(ends.data(), O_CLOEXEC), 0);
    reader = UniqueFd(ends[0]);
    writer = UniqueFd(ends[1]);
    EXPECT_GE(::fcntl(writer.get(), F_SETPIPE_SZ, kSmallPipe), kSmallPipe);
  }
  UniqueFd reader;
  UniqueFd writer;
};

bool blocking(int fd) {
  return (::fcntl(fd, F_GETFL) & O_NONBLOCK) == 0;
}

TEST(StreamWriterTest, AStalledPipeIsGivenUpAfterThePatienceAndStaysBlockingForOthers) {
  Pipe pipe;
  const StreamWriter writer(pipe.writer.get());
  const std::string data(std::size_t{kSmallPipe} * 4, 'x');
  const auto start = std::chrono::steady_clock::now();
  const StreamWriter::Progress progress = writer.write(data, milliseconds{50});
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds{50});
  EXPECT_TRUE(progress.stalled);
  EXPECT_GT(progress.bytes, 0U);
  EXPECT_LT(progress.bytes, data.size());
  // The descriptor other processes share is as it was.
  EXPECT_TRUE(blocking(pipe.writer.get()));
}

TEST(StreamWriterTest, APipeThatIsReadTakesEverything) {
  Pipe pipe;
  const StreamWriter writer(pipe.writer.get());
  const std::string data(std::size_t{kSmallPipe} * 4, 'y');
  EXPECT_EQ(writer.write(data.substr(0, kSmallPipe), milliseconds{50}).bytes,
            std::size_t{kSmallPipe});
  std::string read(data.size(), '\0');
  EXPECT_EQ(::read(pipe.reader.get(), read.data(), read.size()), kSmallPipe);
  EXPECT_EQ(writer.write(data.substr(kSmallPipe, kSmallPipe), milliseconds{50}).bytes,
            std::size_t{kSmallPipe});
}

TEST(StreamWriterTest, AClosedPipeFailsAtOnceWithoutCountingAsStalled) {
  static_cast<void>(std::signal(SIGPIPE, SIG_IGN));  // as hellod does: EPIPE instead
  Pipe pipe;
  const StreamWriter writer(pipe.writer.get());
  pipe.reader.reset();
  const StreamWriter::Progress progress = writer.write("line\n", milliseconds{10'000});
  EXPECT_FALSE(progress.stalled);
  EXPECT_EQ(progress.bytes, 0U);
}

TEST(StreamWriterTest, AStalledSocketIsGivenUpAfterThePatienceAndStaysBlockingForOthers) {
  std::array<int, 2> ends{};
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends.data()), 0);
  const UniqueFd reader(ends[0]);
  const UniqueFd stream(ends[1]);
  const StreamWriter writer(stream.get());
  const std::string data(std::size_t{4} << 20, 'z');  // more than any socket buffer
  const StreamWriter::Progress progress = writer.write(data, milliseconds{50});
  EXPECT_TRUE(progress.stalled);
  EXPECT_GT(progress.bytes, 0U);
  EXPECT_LT(progress.bytes, data.size());
  EXPECT_TRUE(blocking(stream.get()));
}

TEST(StreamWriterTest, ARegularFileIsWrittenAsIs) {
  char path[] = "/tmp/stream_writer_test.XXXXXX";
  const UniqueFd file(::mkstemp(path));
  ASSERT_TRUE(file.valid());
  ::unlink(path);
  const StreamWriter writer(file.get());
  EXPECT_EQ(writer.write("line\n", milliseconds{0}).bytes, 5U);
  EXPECT_EQ(::lseek(file.get(), 0, SEEK_CUR), 5);
}

}  // namespace
}  // namespace hellod
