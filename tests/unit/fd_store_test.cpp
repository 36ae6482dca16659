// SPDX-License-Identifier: MIT
#include "fd_store.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config.hpp"

namespace hellod::fd_store {
namespace {

ListenAddress tcp4(std::string host, std::uint16_t port) {
  return ListenAddress{ListenAddress::Kind::tcp4, std::move(host), port, {}};
}
ListenAddress tcp6(std::string host, std::uint16_t port) {
  return ListenAddress{ListenAddress::Kind::tcp6, std::move(host), port, {}};
}
ListenAddress unix_path(std::string path) {
  return ListenAddress{ListenAddress::Kind::unix_path, {}, 0, std::move(path)};
}

// What systemd's fdname_is_valid() accepts: printable ASCII but ':', at
// most 255 characters.
bool valid_fdname(const std::string& name) {
  if (name.size() > kMaxNameLength) return false;
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == ':') return false;
  }
  return true;
}

Passed stored(const ListenAddress& address, unsigned index, std::optional<std::string> bound) {
  return Passed{stored_name(address, index), std::move(bound),
                address.kind == ListenAddress::Kind::unix_path};
}

std::vector<std::size_t> released_indexes(const StartPlan& plan) {
  std::vector<std::size_t> out;
  for (const Release& release : plan.released) out.push_back(release.passed);
  return out;
}

// --- names ----------------------------------------------------------------

TEST(StoredName, SpellsTheAddressWithColonsEncoded) {
  EXPECT_EQ(stored_name(tcp4("0.0.0.0", 8080), 0), "hellod-0-0.0.0.0%3A8080");
  EXPECT_EQ(stored_name(tcp4("127.0.0.1", 0), 3), "hellod-3-127.0.0.1%3A0");
  EXPECT_EQ(stored_name(tcp6("::1", 8080), 1), "hellod-1-[%3A%3A1]%3A8080");
  EXPECT_EQ(stored_name(unix_path("/run/hellod/hellod.sock"), 0),
            "hellod-0-unix%3A/run/hellod/hellod.sock");
}

TEST(StoredName, EncodesWhatSystemdRefusesAndTheEscapeItself) {
  EXPECT_EQ(stored_name(unix_path("/run/a b%c:d\x01\xc3\xa9"), 0),
            "hellod-0-unix%3A/run/a%20b%25c%3Ad%01%C3%A9");
}

TEST(StoredName, AlwaysAValidFdnameAndDistinctPerAddressAndIndex) {
  const std::vector<ListenAddress> addresses{
      tcp4("0.0.0.0", 8080),
      tcp4("0.0.0.0", 8081),
      tcp4("127.0.0.1", 8080),
      tcp6("::", 8080),
      tcp6("::ffff:1.2.3.4", 80),
      unix_path("/a:b"),
      unix_path("/a%3Ab"),
      unix_path("/a-b"),
      unix_path("/" + std::string(106, ':')),  // encoded it would exceed 255
      unix_path("/" + std::string(105, ':') + "x"),
      unix_path("/" + std::string(106, '\xff')),
  };
  std::set<std::string> names;
  for (const ListenAddress& address : addresses) {
    for (const unsigned index : {0U, 1U, 255U}) {
      const std::string name = stored_name(address, index);
      EXPECT_TRUE(valid_fdname(name)) << name;
      EXPECT_EQ(origin_of(name), Origin::store) << name;
      EXPECT_TRUE(names.insert(name).second) << "two addresses named " << name;
    }
  }
}

TEST(StoredName, TooLongForSystemdCarriesAHash) {
  const std::string name = stored_name(unix_path("/" + std::string(106, ':')), 7);
  EXPECT_EQ(name.rfind("hellod-7-#", 0), 0U) << name;
  EXPECT_EQ(name.size(), std::string("hellod-7-#").size() + 16);
  EXPECT_EQ(name, stored_name(unix_path("/" + std::string(106, ':')), 7));  // stable
}

TEST(OriginOf, ToldApartByName) {
  EXPECT_EQ(origin_of("http"), Origin::socket_unit);
  EXPECT_EQ(origin_of("hellod.socket"), Origin::socket_unit);
  EXPECT_EQ(origin_of("unknown"), Origin::socket_unit);  // no LISTEN_FDNAMES
  EXPECT_EQ(origin_of("stored"), Origin::socket_unit);   // FDSTORE=1 without FDNAME=
  EXPECT_EQ(origin_of("metrics"), Origin::reserved);
  EXPECT_EQ(origin_of("hellod-0-0.0.0.0%3A8080"), Origin::store);
  EXPECT_EQ(origin_of("hellod-12-x"), Origin::store);
  for (const char* other : {"hellod-", "hellod-0", "hellod-0-", "hellod--x", "hellod-x-y",
                            "hellod-1234-x", "hellod-+1-x", "hellod-metrics", "xhellod-0-x"}) {
    EXPECT_EQ(origin_of(other), Origin::socket_unit) << other;
  }
}

// --- plans ----------------------------------------------------------------

TEST(PlanStart, NothingPassed) {
  const StartPlan plan = plan_start({}, {tcp4("0.0.0.0", 8080)});
  EXPECT_TRUE(plan.activated.empty());
  EXPECT_TRUE(plan.released.empty());
  EXPECT_TRUE(plan.reserved.empty());
  ASSERT_EQ(plan.adopted.size(), 1U);
  EXPECT_TRUE(plan.adopted[0].empty());
}

TEST(PlanStart, AdoptsMatchingSocketsPerEntryByIndex) {
  const ListenAddress a = tcp4("0.0.0.0", 8080);
  const ListenAddress b = unix_path("/run/hellod/hellod.sock");
  const std::vector<Passed> passed{stored(a, 1, "0.0.0.0:8080"),
                                   stored(b, 0, "unix:/run/hellod/hellod.sock"),
                                   stored(a, 0, "0.0.0.0:8080")};
  const StartPlan plan = plan_start(passed, {b, a});
  EXPECT_TRUE(plan.released.empty());
  EXPECT_TRUE(plan.activated.empty());
  ASSERT_EQ(plan.adopted.size(), 2U);
  ASSERT_EQ(plan.adopted[0].size(), 1U);
  EXPECT_EQ(plan.adopted[0][0].passed, 1U);
  ASSERT_EQ(plan.adopted[1].size(), 2U);
  EXPECT_EQ(plan.adopted[1][0].passed, 2U);
  EXPECT_EQ(plan.adopted[1][0].index, 0U);
  EXPECT_EQ(plan.adopted[1][1].passed, 0U);
  EXPECT_EQ(plan.adopted[1][1].index, 1U);
}

TEST(PlanStart, MoreStoredThanWorkersAreAllAdopted) {
  const ListenAddress a = tcp4("127.0.0.1", 8080);
  std::vector<Passed> passed;
  for (unsigned i = 0; i < 4; ++i) passed.push_back(stored(a, i, "127.0.0.1:8080"));
  const StartPlan plan = plan_start(passed, {a});
  EXPECT_EQ(plan.adopted[0].size(), 4U);
  EXPECT_TRUE(plan.released.empty());
}

TEST(PlanStart, ReleasesWhatListenNoLongerHas) {
  const std::vector<Passed> passed{stored(tcp4("0.0.0.0", 8080), 0, "0.0.0.0:8080")};
  const StartPlan plan = plan_start(passed, {tcp4("0.0.0.0", 8081)});
  EXPECT_TRUE(plan.adopted[0].empty());
  ASSERT_EQ(plan.released.size(), 1U);
  EXPECT_EQ(plan.released[0].reason, "no listen: entry has this name");
}

TEST(PlanStart, ReleasesASocketNotBoundWhereItsNameSays) {
  const ListenAddress a = tcp4("127.0.0.1", 8080);
  const std::vector<Passed> passed{stored(a, 0, "127.0.0.1:9090"), stored(a, 1, "0.0.0.0:8080"),
                                   Passed{stored_name(a, 2), "unix:/x", true}};
  const StartPlan plan = plan_start(passed, {a});
  EXPECT_TRUE(plan.adopted[0].empty());
  EXPECT_EQ(released_indexes(plan), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(plan.released[0].reason, "it is bound to 127.0.0.1:9090, not to 127.0.0.1:8080");
}

TEST(PlanStart, ReleasesWhatIsNotAListeningStreamSocket) {
  const ListenAddress a = tcp4("127.0.0.1", 8080);
  const StartPlan plan = plan_start({stored(a, 0, std::nullopt)}, {a});
  EXPECT_TRUE(plan.adopted[0].empty());
  ASSERT_EQ(plan.released.size(), 1U);
  EXPECT_EQ(plan.released[0].reason, "it is not a listening stream socket");
}

TEST(PlanStart, PortZeroTakesAnyPortButOneForAllItsSockets) {
  const ListenAddress a = tcp4("127.0.0.1", 0);
  const std::vector<Passed> passed{stored(a, 0, "127.0.0.1:41000"), stored(a, 1, "127.0.0.1:41001"),
                                   stored(a, 2, "127.0.0.1:41000"), stored(a, 3, "127.0.0.2:41000"),
                                   stored(a, 4, "127.0.0.1:0")};
  const StartPlan plan = plan_start(passed, {a});
  ASSERT_EQ(plan.adopted[0].size(), 2U);
  EXPECT_EQ(plan.adopted[0][0].passed, 0U);
  EXPECT_EQ(plan.adopted[0][1].passed, 2U);
  EXPECT_EQ(released_indexes(plan), (std::vector<std::size_t>{1, 3, 4}));
}

TEST(PlanStart, PortZeroOnIpv6) {
  const ListenAddress a = tcp6("::1", 0);
  const StartPlan plan = plan_start({stored(a, 0, "[::1]:41000")}, {a});
  EXPECT_EQ(plan.adopted[0].size(), 1U);
}

TEST(PlanStart, AUnixSocketIsStoredOnce) {
  const ListenAddress a = unix_path("/run/hellod/hellod.sock");
  const StartPlan plan = plan_start({stored(a, 1, "unix:/run/hellod/hellod.sock")}, {a});
  EXPECT_TRUE(plan.adopted[0].empty());
  ASSERT_EQ(plan.released.size(), 1U);
}

TEST(PlanStart, AUnixSocketWhoseFileIsGoneIsReleased) {
  const ListenAddress a = unix_path("/run/hellod/hellod.sock");
  Passed gone = stored(a, 0, "unix:/run/hellod/hellod.sock");
  gone.file_gone = true;
  const StartPlan plan = plan_start({gone}, {a});
  EXPECT_TRUE(plan.adopted[0].empty());
  ASSERT_EQ(plan.released.size(), 1U);
  EXPECT_EQ(plan.released[0].reason, "its socket file is gone, so no client can reach it");
}

TEST(PlanStart, ASecondSocketWithTheSameNameIsReleased) {
  const ListenAddress a = tcp4("127.0.0.1", 8080);
  const StartPlan plan =
      plan_start({stored(a, 0, "127.0.0.1:8080"), stored(a, 0, "127.0.0.1:8080")}, {a});
  ASSERT_EQ(plan.adopted[0].size(), 1U);
  EXPECT_EQ(plan.adopted[0][0].passed, 0U);
  EXPECT_EQ(released_indexes(plan), (std::vector<std::size_t>{1}));
  EXPECT_EQ(plan.released[0].reason, "another stored socket has this name");
}

TEST(PlanStart, SocketUnitSocketsWinOverStoredOnes) {
  const ListenAddress a = tcp4("0.0.0.0", 8080);
  const std::vector<Passed> passed{Passed{"http", "0.0.0.0:80", false},
                                   stored(a, 0, "0.0.0.0:8080")};
  const StartPlan plan = plan_start(passed, {a});
  EXPECT_EQ(plan.activated, (std::vector<std::size_t>{0}));
  EXPECT_TRUE(plan.adopted[0].empty());
  ASSERT_EQ(plan.released.size(), 1U);
  EXPECT_EQ(plan.released[0].passed, 1U);
  EXPECT_EQ(plan.released[0].reason, "the socket unit's sockets are served instead");
}

TEST(PlanStart, SocketUnitSocketsAreActivatedWhateverTheyAre) {
  // Whether they can be served is start-up's error to report, not a release.
  const StartPlan plan = plan_start({Passed{"http", std::nullopt, false}}, {});
  EXPECT_EQ(plan.activated, (std::vector<std::size_t>{0}));
  EXPECT_TRUE(plan.released.empty());
}

TEST(PlanStart, MetricsIsLeftAlone) {
  const ListenAddress a = tcp4("0.0.0.0", 8080);
  const std::vector<Passed> passed{Passed{"metrics", "0.0.0.0:9100", false},
                                   stored(a, 0, "0.0.0.0:8080")};
  const StartPlan plan = plan_start(passed, {a});
  EXPECT_EQ(plan.reserved, (std::vector<std::size_t>{0}));
  EXPECT_TRUE(plan.activated.empty());
  EXPECT_TRUE(plan.released.empty());
  EXPECT_EQ(plan.adopted[0].size(), 1U);
}

// The metrics listener's stored sockets have names of their own: a public
// and a metrics address, even spelled alike (port 0), never take each
// other's socket.
TEST(StoredMetricsName, DistinctFromTheListenersAndValid) {
  const ListenAddress m = tcp4("127.0.0.1", 9464);
  EXPECT_EQ(stored_metrics_name(m), "hellod-metrics-0-127.0.0.1%3A9464");
  EXPECT_TRUE(is_metrics_name(stored_metrics_name(m)));
  EXPECT_FALSE(is_metrics_name(stored_name(m, 0)));
  EXPECT_EQ(origin_of(stored_metrics_name(m)), Origin::store);
  const std::string long_name = stored_metrics_name(unix_path("/" + std::string(240, 'a')));
  EXPECT_TRUE(valid_fdname(long_name)) << long_name;
  EXPECT_TRUE(is_metrics_name(long_name));
}

TEST(PlanStart, MetricsSocketsAreAdoptedForMetricsEntriesOnly) {
  const ListenAddress pub = tcp4("127.0.0.1", 0);
  const ListenAddress met = tcp4("127.0.0.1", 0);
  const std::vector<Passed> passed{
      stored(pub, 0, "127.0.0.1:4000"),
      Passed{stored_metrics_name(met), "127.0.0.1:5000", false},
  };
  const StartPlan plan = plan_start(passed, {pub}, {met});
  EXPECT_TRUE(plan.released.empty());
  ASSERT_EQ(plan.adopted[0].size(), 1U);
  EXPECT_EQ(plan.adopted[0][0].passed, 0U);
  ASSERT_EQ(plan.adopted_metrics.size(), 1U);
  ASSERT_EQ(plan.adopted_metrics[0].size(), 1U);
  EXPECT_EQ(plan.adopted_metrics[0][0].passed, 1U);
  // Without metrics.listen the stored metrics socket is released.
  const StartPlan off = plan_start(passed, {pub});
  ASSERT_EQ(off.released.size(), 1U);
  EXPECT_EQ(off.released[0].passed, 1U);
  EXPECT_EQ(off.released[0].reason, "no metrics.listen entry has this name");
}

// A socket unit's "metrics" socket serves the metrics: a stored metrics
// socket (from a run without it) would only hold its port, so it goes back.
TEST(PlanStart, StoredMetricsSocketsGoWhenTheSocketUnitPassesMetrics) {
  const ListenAddress pub = tcp4("127.0.0.1", 0);
  const ListenAddress met = tcp4("127.0.0.1", 0);
  const std::vector<Passed> passed{
      stored(pub, 0, "127.0.0.1:4000"),
      Passed{stored_metrics_name(met), "127.0.0.1:5000", false},
      Passed{"metrics", "127.0.0.1:9100", false},
  };
  const StartPlan plan = plan_start(passed, {pub}, {met});
  EXPECT_EQ(plan.reserved, (std::vector<std::size_t>{2}));
  ASSERT_EQ(plan.adopted[0].size(), 1U);  // the public listener's stay
  EXPECT_TRUE(plan.adopted_metrics[0].empty());
  ASSERT_EQ(plan.released.size(), 1U);
  EXPECT_EQ(plan.released[0].passed, 1U);
  EXPECT_EQ(plan.released[0].reason, "the socket unit's \"metrics\" socket is served instead");
}

}  // namespace
}  // namespace hellod::fd_store
