// SPDX-License-Identifier: MIT
// The worker's own epoll set on real descriptors: each reported event names
// its owner, a removed descriptor is no longer reported, libuv's descriptor
// is reported as neither a connection nor a listener, and connections (only
// they) are edge-triggered, with rearm() and EPOLLRDHUP for what a read
// leaves behind.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <span>

#include "input_set.hpp"
#include "unique_fd.hpp"

namespace hellod {
namespace {

struct SocketPair {
  UniqueFd ours;
  UniqueFd theirs;
};

SocketPair socket_pair() {
  std::array<int, 2> fds{};
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds.data()), 0);
  return SocketPair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void send_byte(const UniqueFd& fd) {
  ASSERT_EQ(::write(fd.get(), "x", 1), 1);
}

// Stand-ins for owners: the set only carries their addresses, never uses them.
alignas(8) std::array<unsigned char, 8> connection_storage;
alignas(8) std::array<unsigned char, 8> listener_storage;
Connection* const kConnection = reinterpret_cast<Connection*>(connection_storage.data());
Listener* const kListener = reinterpret_cast<Listener*>(listener_storage.data());

TEST(InputSet, EachEventNamesItsOwner) {
  SocketPair libuv = socket_pair();
  SocketPair client = socket_pair();
  SocketPair clients = socket_pair();
  InputSet set;
  ASSERT_EQ(set.open(libuv.ours.get()), 0);
  ASSERT_EQ(set.add(client.ours.get(), kConnection), 0);
  ASSERT_EQ(set.add(clients.ours.get(), kListener), 0);
  std::array<epoll_event, 4> events{};
  EXPECT_EQ(set.wait(events, 0), 0);  // nothing to read yet

  send_byte(client.theirs);
  ASSERT_EQ(set.wait(events, 1000), 1);
  EXPECT_EQ(InputSet::owner_of(events[0]).connection, kConnection);
  EXPECT_EQ(InputSet::owner_of(events[0]).listener, nullptr);

  send_byte(clients.theirs);
  send_byte(libuv.theirs);
  // The connection's byte is still unread, but it was reported once.
  ASSERT_EQ(set.wait(events, 1000), 2);
  int connections = 0;
  int listeners = 0;
  int libuv_events = 0;
  for (const epoll_event& event : std::span(events).first(2)) {
    const InputSet::Ready owner = InputSet::owner_of(event);
    connections += owner.connection == kConnection ? 1 : 0;
    listeners += owner.listener == kListener ? 1 : 0;
    libuv_events += owner.connection == nullptr && owner.listener == nullptr ? 1 : 0;
  }
  EXPECT_EQ(connections, 0);
  EXPECT_EQ(listeners, 1);
  EXPECT_EQ(libuv_events, 1);

  // Listeners and libuv's descriptor are level-triggered: still unread, so
  // reported again.
  EXPECT_EQ(set.wait(events, 1000), 2);
}

// A set with libuv's stand-in and one client connection in it.
class OneClient : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(set.open(libuv.ours.get()), 0);
    ASSERT_EQ(set.add(client.ours.get(), kConnection), 0);
  }

  SocketPair libuv = socket_pair();
  SocketPair client = socket_pair();
  InputSet set;
};

TEST_F(OneClient, ARemovedDescriptorIsNotReported) {
  send_byte(client.theirs);
  std::array<epoll_event, 2> events{};
  ASSERT_EQ(set.wait(events, 1000), 1);
  set.remove(client.ours.get());
  EXPECT_EQ(set.wait(events, 0), 0);
  // Watched again, it is reported again: the byte is still there.
  ASSERT_EQ(set.add(client.ours.get(), kConnection), 0);
  EXPECT_EQ(set.wait(events, 1000), 1);
}

TEST_F(OneClient, AConnectionIsReportedOncePerArrival) {
  std::array<epoll_event, 2> events{};
  send_byte(client.theirs);
  ASSERT_EQ(set.wait(events, 1000), 1);
  EXPECT_EQ(set.wait(events, 0), 0);  // unread, but already reported
  send_byte(client.theirs);
  EXPECT_EQ(set.wait(events, 1000), 1);
}

TEST_F(OneClient, ARearmedConnectionIsReportedAgain) {
  std::array<epoll_event, 2> events{};
  send_byte(client.theirs);
  ASSERT_EQ(set.wait(events, 1000), 1);
  ASSERT_EQ(set.rearm(client.ours.get(), kConnection), 0);
  ASSERT_EQ(set.wait(events, 1000), 1);
  EXPECT_EQ(InputSet::owner_of(events[0]).connection, kConnection);
}

TEST_F(OneClient, APeersShutdownIsReportedWithTheInputBeforeIt) {
  send_byte(client.theirs);
  ASSERT_EQ(::shutdown(client.theirs.get(), SHUT_WR), 0);
  std::array<epoll_event, 2> events{};
  ASSERT_EQ(set.wait(events, 1000), 1);
  EXPECT_NE(events[0].events & EPOLLIN, 0U);
  EXPECT_NE(events[0].events & EPOLLRDHUP, 0U);
}

TEST_F(OneClient, AddingADescriptorTwiceFails) {
  EXPECT_EQ(set.add(client.ours.get(), kConnection), -EEXIST);
}

}  // namespace
}  // namespace hellod
