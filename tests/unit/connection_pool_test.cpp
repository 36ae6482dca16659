// SPDX-License-Identifier: MIT
#include "connection_pool.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace hellod {
namespace {

TEST(ConnectionPoolTest, AReleasedConnectionsMemoryServesTheNextOne) {
  LoopContext loop;
  ConnectionPool pool(4);
  Connection* first = pool.make(loop);
  pool.destroy(first);
  EXPECT_EQ(pool.kept(), 1U);
  Connection* second = pool.make(loop);
  EXPECT_EQ(second, first);
  EXPECT_EQ(pool.kept(), 0U);
  EXPECT_FALSE(second->closing());  // constructed afresh in the old memory
  pool.destroy(second);
}

TEST(ConnectionPoolTest, KeepsNoMoreThanItsBoundAfterABurst) {
  LoopContext loop;
  ConnectionPool pool(2);
  std::vector<Connection*> burst;
  for (int i = 0; i < 5; ++i) burst.push_back(pool.make(loop));
  for (Connection* connection : burst) pool.destroy(connection);
  EXPECT_EQ(pool.kept(), 2U);
}

}  // namespace
}  // namespace hellod
