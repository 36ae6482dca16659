// SPDX-License-Identifier: MIT
// Access-log formatters on hostile bytes, the SPSC queue's drop behaviour,
// and the logger thread writing to a real pipe.
#include "access_log.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "access_log_queue.hpp"
#include "access_logger.hpp"

namespace hellod {
namespace {

using namespace std::string_view_literals;

// Every byte value, in order: the most hostile field there is.
std::string all_bytes() {
  std::string bytes;
  for (int b = 0; b < 256; ++b) bytes += static_cast<char>(b);
  return bytes;
}

AccessRecord sample_record() {
  AccessRecord record;
  record.time_ns = 1'700'000'000'123'456'789;
  record.duration_ns = 45'678;
  record.bytes_sent = 154;
  record.status = 200;
  record.http_major = 1;
  record.http_minor = 1;
  record.client.family = AF_INET;
  record.client.port = 54321;
  inet_pton(AF_INET, "192.0.2.7", record.client.bytes.data());
  record.method = "GET";
  record.target = "/a?b=c";
  record.route = "default";
  record.user_agent = "curl/7.88.1";
  return record;
}

std::string text_of(const AccessRecord& record) {
  std::string out;
  append_text_line(out, record);
  return out;
}

std::string json_of(const AccessRecord& record) {
  std::string out;
  append_json_line(out, record);
  return out;
}

std::string json_string(std::string_view bytes) {
  std::string out;
  append_json_string(out, bytes);
  return out;
}

TEST(AccessLogText, Line) {
  EXPECT_EQ(text_of(sample_record()),
            "2023-11-14T22:13:20.123456Z 192.0.2.7 54321 \"GET /a?b=c HTTP/1.1\" 200 154 0.000045 "
            "default \"curl/7.88.1\" -\n");
}

TEST(AccessLogText, UnixClientAndUnknownVersion) {
  AccessRecord record = sample_record();
  record.client = ClientAddress{};
  record.client.family = AF_UNIX;
  record.http_major = 0;
  record.route = "";
  record.user_agent.reset();
  record.referer = "";
  EXPECT_EQ(text_of(record),
            "2023-11-14T22:13:20.123456Z unix - \"GET /a?b=c -\" 200 154 0.000045 "
            "- - \"\"\n");
}

TEST(AccessLogText, Ipv6Client) {
  AccessRecord record = sample_record();
  record.client.family = AF_INET6;
  inet_pton(AF_INET6, "2001:db8::1", record.client.bytes.data());
  EXPECT_NE(text_of(record).find(" 2001:db8::1 54321 "), std::string::npos);
}

// Whatever the client sent, the line is one line of printable ASCII.
TEST(AccessLogText, HostileBytesStayOnePrintableLine) {
  const std::string hostile = all_bytes();
  AccessRecord record = sample_record();
  record.method = hostile;
  record.target = hostile;
  record.route = hostile;
  record.user_agent = hostile;
  record.referer = hostile;
  const std::string line = text_of(record);
  ASSERT_EQ(line.back(), '\n');
  const std::string_view body(line.data(), line.size() - 1);
  EXPECT_TRUE(std::all_of(body.begin(), body.end(), [](char c) { return c >= 0x20 && c < 0x7f; }))
      << line;
}

TEST(AccessLogText, Escapes) {
  std::string out;
  append_text_escaped(out, "a b\"c\\d\x01\x7f\xff\n", false);
  EXPECT_EQ(out, R"(a b\"c\\d\x01\x7f\xff\x0a)");
  out.clear();
  append_text_escaped(out, "/a b", true);  // unquoted fields: a space would split them
  EXPECT_EQ(out, R"(/a\x20b)");
}

// RFC 3339 as gmtime(3) and printf give it, for the timestamps below.
std::string reference_rfc3339(std::int64_t time_ns) {
  const std::time_t seconds = time_ns / 1'000'000'000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 40> text{};
  const int length =
      std::snprintf(text.data(), text.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                    utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                    utc.tm_sec, static_cast<int>(time_ns % 1'000'000'000 / 1000));
  return {text.data(), static_cast<std::size_t>(length)};
}

// In this order: within one second, across seconds, days, a leap day and a
// year, and back in time, so a time formatted before is never assumed.
TEST(AccessLogTime, MatchesGmtimeAcrossBoundaries) {
  constexpr std::int64_t kSecond = 1'000'000'000;
  const std::vector<std::int64_t> times{
      0,
      999'999'999,
      kSecond,
      1'700'000'000 * kSecond + 123'456'789,
      1'700'000'000 * kSecond + 999'999'999,
      1'700'000'001 * kSecond,
      1'700'000'001 * kSecond + 1'000,
      1'709'251'199 * kSecond + 999'999'000,  // 2024-02-29T23:59:59.999999
      1'709'251'200 * kSecond,                // 2024-03-01
      1'735'689'599 * kSecond + 500'000'000,  // 2024-12-31T23:59:59.5
      1'735'689'600 * kSecond,                // 2025-01-01
      946'684'800 * kSecond + 7'000,          // 2000-01-01, back in time
      1'735'689'600 * kSecond,
      4'102'444'800 * kSecond + 42'000,  // 2100-01-01
  };
  for (const std::int64_t time_ns : times) {
    std::string out = "x";
    append_rfc3339(out, time_ns);
    EXPECT_EQ(out, "x" + reference_rfc3339(time_ns)) << time_ns;
  }
}

TEST(AccessLogText, LargestNumbers) {
  AccessRecord record = sample_record();
  record.bytes_sent = UINT64_MAX;
  record.status = 999;
  record.client.port = 65535;
  record.duration_ns = 123'456'789'012'345'678;
  EXPECT_EQ(text_of(record),
            "2023-11-14T22:13:20.123456Z 192.0.2.7 65535 \"GET /a?b=c HTTP/1.1\" 999 "
            "18446744073709551615 123456789.012345 default \"curl/7.88.1\" -\n");
  record.client.port = 0;
  inet_pton(AF_INET, "255.255.255.255", record.client.bytes.data());
  EXPECT_NE(json_of(record).find(R"("client_address":"255.255.255.255","client_port":0,)"),
            std::string::npos);
  EXPECT_NE(json_of(record).find(R"("status":999,"bytes_sent":18446744073709551615,)"
                                 R"("duration_seconds":123456789.012345,)"),
            std::string::npos);
}

// Every byte value against the rule itself: printable ASCII as it is,
// except '"' and '\\', and a space only where spaces are allowed.
TEST(AccessLogText, AllBytesAsTheRuleSays) {
  for (const bool escape_space : {false, true}) {
    std::string expected;
    for (int b = 0; b < 256; ++b) {
      if (b == '"' || b == '\\') {
        expected += '\\';
        expected += static_cast<char>(b);
      } else if ((b > 0x20 && b < 0x7f) || (b == 0x20 && !escape_space)) {
        expected += static_cast<char>(b);
      } else {
        std::array<char, 8> hex{};
        std::snprintf(hex.data(), hex.size(), "\\x%02x", b);
        expected += hex.data();
      }
    }
    std::string out;
    append_text_escaped(out, all_bytes(), escape_space);
    EXPECT_EQ(out, expected) << escape_space;
  }
}

TEST(AccessLogJson, Line) {
  AccessRecord record = sample_record();
  record.referer = "http://x/";
  EXPECT_EQ(json_of(record),
            R"({"time":"2023-11-14T22:13:20.123456Z","client_address":"192.0.2.7",)"
            R"("client_port":54321,"method":"GET","target":"/a?b=c","http_version":"HTTP/1.1",)"
            R"("status":200,"bytes_sent":154,"duration_seconds":0.000045,"route":"default",)"
            R"("user_agent":"curl/7.88.1","referer":"http://x/"})"
            "\n");
}

TEST(AccessLogJson, AbsentHeadersAreNullAndUnixHasNoPort) {
  AccessRecord record = sample_record();
  record.user_agent.reset();
  record.client = ClientAddress{};
  record.client.family = AF_UNIX;
  const std::string line = json_of(record);
  EXPECT_NE(line.find(R"("client_address":"unix","client_port":null)"), std::string::npos);
  EXPECT_NE(line.find(R"("user_agent":null,"referer":null})"), std::string::npos);
}

TEST(AccessLogJson, ControlQuoteAndBackslash) {
  EXPECT_EQ(json_string("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_string("\b\f\n\r\t"), R"("\b\f\n\r\t")");
  EXPECT_EQ(json_string("\x01\x1f\x7f"sv), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(json_string(std::string_view("a\0b", 3)), R"("a\u0000b")");
}

TEST(AccessLogJson, ValidUtf8IsKept) {
  EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(json_string("\xef\xbf\xbf"), "\"\xef\xbf\xbf\"");  // U+FFFF is a valid scalar
}

// Each byte outside a valid sequence becomes U+FFFD: lone continuation
// bytes, truncated sequences, overlong forms, surrogates, beyond U+10FFFF.
TEST(AccessLogJson, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(json_string("\x80"), R"("\ufffd")");
  EXPECT_EQ(json_string("a\xff"
                        "b"),
            R"("a\ufffdb")");
  EXPECT_EQ(json_string("\xc3"), R"("\ufffd")");            // truncated
  EXPECT_EQ(json_string("\xc0\xaf"), R"("\ufffd\ufffd")");  // overlong "/"
  EXPECT_EQ(json_string("\xe0\x80\xaf"), R"("\ufffd\ufffd\ufffd")");
  EXPECT_EQ(json_string("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // a UTF-16 surrogate
  EXPECT_EQ(json_string("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  EXPECT_EQ(json_string("\xe2\x82"
                        "a"),
            R"("\ufffd\ufffda")");
}

// The whole JSON output of every byte value is ASCII plus valid UTF-8, with
// no raw control character: what RFC 8259 §7 allows in a string.
TEST(AccessLogJson, AllBytes) {
  const std::string out = json_string(all_bytes());
  EXPECT_TRUE(std::none_of(out.begin(), out.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  }));
  EXPECT_EQ(out.substr(0, 13), R"("\u0000\u0001)");
  EXPECT_NE(out.find(R"( !\"#)"), std::string::npos);
  EXPECT_NE(out.find(R"(Z[\\]^)"), std::string::npos);
  // 0x80..0xff alone are never valid UTF-8: 128 replacement characters.
  std::size_t replacements = 0;
  for (std::size_t at = out.find("\\ufffd"); at != std::string::npos;
       at = out.find("\\ufffd", at + 1)) {
    ++replacements;
  }
  EXPECT_EQ(replacements, 128U);
}

TEST(AccessLogJournal, Fields) {
  AccessRecord record = sample_record();
  record.target = "/a\nb";
  const std::vector<std::string> fields = journal_fields(record);
  const auto has = [&](const std::string& field) {
    return std::find(fields.begin(), fields.end(), field) != fields.end();
  };
  EXPECT_TRUE(has("HTTP_STATUS=200"));
  EXPECT_TRUE(has("HTTP_METHOD=GET"));
  EXPECT_TRUE(has("HTTP_TARGET=/a\\x0ab"));
  EXPECT_TRUE(has("HTTP_VERSION=HTTP/1.1"));
  EXPECT_TRUE(has("HTTP_ROUTE=default"));
  EXPECT_TRUE(has("CLIENT_ADDRESS=192.0.2.7"));
  EXPECT_TRUE(has("CLIENT_PORT=54321"));
  EXPECT_TRUE(has("BYTES_SENT=154"));
  EXPECT_TRUE(has("DURATION_USEC=45"));
  EXPECT_TRUE(has("HTTP_USER_AGENT=curl/7.88.1"));
  EXPECT_TRUE(has("PRIORITY=6"));
  EXPECT_TRUE(has("SYSLOG_IDENTIFIER=hellod"));
  EXPECT_TRUE(has("MESSAGE_ID=" + std::string(kAccessMessageId)));
  EXPECT_TRUE(
      has("MESSAGE=192.0.2.7 54321 \"GET /a\\x0ab HTTP/1.1\" 200 154 0.000045 default "
          "\"curl/7.88.1\" -"));
  EXPECT_FALSE(std::any_of(fields.begin(), fields.end(),
                           [](const std::string& f) { return f.starts_with("HTTP_REFERER="); }));
}

TEST(AccessLogQueue, RoundTrip) {
  AccessLogQueue queue(std::size_t{64} << 10);
  AccessRecord record = sample_record();
  const std::string hostile = all_bytes();
  record.referer = "";
  record.method = {};  // a rejected request's: an empty view with a null data()
  record.target = hostile;
  ASSERT_TRUE(queue.try_push(record));
  std::vector<std::string> lines;
  EXPECT_EQ(queue.drain([&](const AccessRecord& r) { lines.push_back(json_of(r)); }), 1U);
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(lines[0], json_of(record));
  EXPECT_EQ(queue.drain([&](const AccessRecord&) { FAIL(); }), 0U);
}

TEST(AccessLogQueue, LongFieldsAreCut) {
  AccessLogQueue queue(std::size_t{64} << 10);
  AccessRecord record = sample_record();
  const std::string long_target(100'000, 'x');
  record.target = long_target;
  ASSERT_TRUE(queue.try_push(record));
  queue.drain(
      [](const AccessRecord& r) { EXPECT_EQ(r.target.size(), AccessLogQueue::kMaxFieldBytes); });
}

// Full: new records are dropped and counted, nothing blocks; once drained
// there is room again, and records wrap around the ring's end intact.
TEST(AccessLogQueue, DropsWhenFullAndWraps) {
  AccessLogQueue queue(std::size_t{64} << 10);
  AccessRecord record = sample_record();
  const std::string target(1000, 't');
  record.target = target;
  std::size_t pushed = 0;
  while (queue.try_push(record)) ++pushed;
  EXPECT_GT(pushed, 40U);
  EXPECT_LT(pushed, 70U);
  EXPECT_EQ(queue.dropped(), 1U);
  EXPECT_FALSE(queue.try_push(record));
  EXPECT_EQ(queue.dropped(), 2U);
  for (int round = 0; round < 5; ++round) {
    std::size_t seen = 0;
    queue.drain([&](const AccessRecord& r) {
      EXPECT_EQ(r.target, target);
      EXPECT_EQ(r.status, 200);
      ++seen;
    });
    EXPECT_GT(seen, 0U);
    for (std::size_t i = 0; i < pushed / 2 + 7; ++i) EXPECT_TRUE(queue.try_push(record));
  }
  EXPECT_EQ(queue.dropped(), 2U);
}

// One producer, one consumer on two threads (TSan checks the handover):
// every record is either delivered in order or counted as dropped.
TEST(AccessLogQueue, ConcurrentProducerAndConsumer) {
  AccessLogQueue queue(std::size_t{64} << 10);
  constexpr std::uint64_t kRecords = 50'000;
  std::atomic<bool> done{false};
  std::uint64_t delivered = 0;
  std::uint64_t last = 0;
  std::thread consumer([&] {
    const auto take = [&](const AccessRecord& r) {
      EXPECT_GT(r.bytes_sent, last);
      last = r.bytes_sent;
      ++delivered;
    };
    while (!done.load()) queue.drain(take);
    queue.drain(take);
  });
  AccessRecord record = sample_record();
  for (std::uint64_t i = 1; i <= kRecords; ++i) {
    record.bytes_sent = i;
    static_cast<void>(queue.try_push(record));
  }
  done.store(true);
  consumer.join();
  EXPECT_EQ(delivered + queue.dropped(), kRecords);
}

class Pipe {
 public:
  Pipe() {
    EXPECT_EQ(::pipe2(fds_.data(), O_CLOEXEC), 0);
    EXPECT_EQ(::fcntl(fds_[0], F_SETFL, O_NONBLOCK), 0);
  }
  ~Pipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  [[nodiscard]] int write_end() const { return fds_[1]; }
  std::string read_all() {
    std::string out;
    std::array<char, 65536> buf{};
    for (ssize_t n = 0; (n = ::read(fds_[0], buf.data(), buf.size())) > 0;)
      out.append(buf.data(), static_cast<std::size_t>(n));
    return out;
  }

 private:
  std::array<int, 2> fds_{};
};

TEST(AccessLogger, WritesEveryWorkersRecordsInTheirFormat) {
  Pipe pipe;
  AccessLogger logger(2, AccessLogger::Options{AccessLogger::Sink::stream, pipe.write_end(),
                                               std::size_t{64} << 10});
  AccessRecord record = sample_record();
  ASSERT_TRUE(logger.queue(0)->try_push(record));
  record.format = AccessLogFormat::json;
  ASSERT_TRUE(logger.queue(1)->try_push(record));
  logger.flush();
  EXPECT_EQ(pipe.read_all(), text_of(sample_record()) + json_of(record));
}

// A logger writing to fd that looks at its queues every idle_poll while
// records came within sleep_after, and sleeps otherwise.
AccessLogger::Options polling_options(int fd, std::chrono::milliseconds idle_poll,
                                      std::chrono::milliseconds sleep_after) {
  AccessLogger::Options options{AccessLogger::Sink::stream, fd, std::size_t{64} << 10};
  options.idle_poll = idle_poll;
  options.sleep_after = sleep_after;
  return options;
}

// Idle, the logger sleeps with no timeout: each record must wake it by
// itself (polling here would take an hour). One record at a time, so the
// push races the logger going to sleep every time.
TEST(AccessLogger, EachRecordWakesASleepingLogger) {
  Pipe pipe;
  AccessLogger logger(
      1, polling_options(pipe.write_end(), std::chrono::hours(1), std::chrono::milliseconds(0)));
  AccessLogQueue* queue = logger.queue(0);
  const std::string line = text_of(sample_record());
  std::string written;
  for (int i = 1; i <= 200; ++i) {
    ASSERT_TRUE(queue->try_push(sample_record()));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (written.size() < line.size() * static_cast<std::size_t>(i)) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "record " << i << " was not written";
      written += pipe.read_all();
      std::this_thread::yield();
    }
  }
  EXPECT_EQ(written.size(), line.size() * 200);
}

// How often the thread named name has blocked (voluntary context switches,
// from /proc): -1 when no thread of this process has that name.
long times_blocked(const std::string& name) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::string comm;
    std::getline(std::ifstream(task.path() / "comm"), comm);
    if (comm != name) continue;
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("voluntary_ctxt_switches:")) return std::stol(line.substr(24));
    }
  }
  return -1;
}

// A logger that has had no record yet sleeps from the start, as one idle
// for sleep_after does: a hellod with its access log off never wakes up
// for it. (It used to poll for sleep_after after starting: 100 wake-ups in
// a hellod's first second.) Polling every millisecond would block about
// 200 times in the 200 ms watched here.
TEST(AccessLogger, AFreshLoggerSleepsUntilItsFirstRecord) {
  Pipe pipe;
  AccessLogger logger(
      1, polling_options(pipe.write_end(), std::chrono::milliseconds(1), std::chrono::hours(1)));
  AccessLogQueue* queue = logger.queue(0);  // starts the thread, as a worker's use does
  long before = -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((before = times_blocked("hellod-logger")) < 1) {  // named, and asleep once
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no sleeping logger thread";
    std::this_thread::yield();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_LE(times_blocked("hellod-logger") - before, 2);
  // And the first record still wakes it.
  ASSERT_TRUE(queue->try_push(sample_record()));
  logger.flush();
  EXPECT_EQ(pipe.read_all(), text_of(sample_record()));
}

// A sink that takes nothing (a full pipe) blocks only the logger thread:
// the worker side keeps returning at once and drops.
TEST(AccessLogger, ASlowSinkNeverBlocksTheProducer) {
  Pipe pipe;
  ASSERT_EQ(::fcntl(pipe.write_end(), F_SETPIPE_SZ, 4096), 4096);
  AccessLogger logger(1, AccessLogger::Options{AccessLogger::Sink::stream, pipe.write_end(),
                                               std::size_t{64} << 10});
  AccessLogQueue* queue = logger.queue(0);
  AccessRecord record = sample_record();
  const std::string target(1000, 't');
  record.target = target;
  const auto start = std::chrono::steady_clock::now();
  std::size_t accepted = 0;
  for (int i = 0; i < 2000; ++i) accepted += queue->try_push(record) ? 1U : 0U;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_GT(queue->dropped(), 0U);
  EXPECT_EQ(accepted + queue->dropped(), 2000U);
  // Drain the pipe so the logger can finish; everything it accepted arrives.
  std::string written;
  while (std::count(written.begin(), written.end(), '\n') < static_cast<long>(accepted)) {
    written += pipe.read_all();
    std::this_thread::yield();
  }
  EXPECT_EQ(std::count(written.begin(), written.end(), '\n'), static_cast<long>(accepted));
}

}  // namespace
}  // namespace hellod
