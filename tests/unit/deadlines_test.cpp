// SPDX-License-Identifier: MIT
#include "deadlines.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <vector>

namespace hellod {
namespace {

struct Item : DeadlineEntry {
  explicit Item(int item_id) : id(item_id) {}
  int id;
};

void never_expires(DeadlineEntry& /*entry*/) {
  FAIL() << "no deadline passes in these tests";
}

// A loop and its Deadlines, closed and run down at the end of each test.
class DeadlinesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    ASSERT_EQ(deadlines_.init(&loop_, never_expires, Timeouts{}), 0);
  }
  void TearDown() override {
    deadlines_.close();
    EXPECT_EQ(uv_run(&loop_, UV_RUN_DEFAULT), 0);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  uv_loop_t loop_{};
  Deadlines deadlines_;
};

// A graceful stop walks every connection and gives those that have sent
// nothing a grace (Wait::drain), which moves them to the back of the drain
// list. The walk must meet each of them once there, not forever.
TEST_F(DeadlinesTest, ForEachMeetsAnEntryOnceWhenItRestartsItsWait) {
  Item a(1);
  Item b(2);
  Item c(3);
  deadlines_.wait(a, Wait::header);
  deadlines_.wait(b, Wait::header);
  deadlines_.wait(c, Wait::drain);
  std::vector<int> met;
  deadlines_.for_each([&](DeadlineEntry& entry) {
    met.push_back(static_cast<Item&>(entry).id);
    if (met.size() < 10) {
      deadlines_.wait(entry, Wait::drain);  // restarts it at the back of the drain list
    } else {
      Deadlines::stop_waiting(entry);  // ends a walk that would not end by itself
    }
  });
  // a and b once in the header list, then all three once in the drain list.
  EXPECT_EQ(met, (std::vector<int>{1, 2, 3, 1, 2}));
  EXPECT_TRUE(deadlines_.waiting_for(a, Wait::drain));
  EXPECT_TRUE(deadlines_.waiting_for(c, Wait::drain));
  for (Item* item : {&a, &b, &c}) Deadlines::stop_waiting(*item);
}

TEST_F(DeadlinesTest, ForEachMayEndTheWaitOfTheEntryItIsGiven) {
  Item a(1);
  Item b(2);
  deadlines_.wait(a, Wait::keepalive);
  deadlines_.wait(b, Wait::keepalive);
  std::vector<int> met;
  deadlines_.for_each([&](DeadlineEntry& entry) {
    met.push_back(static_cast<Item&>(entry).id);
    Deadlines::stop_waiting(entry);
  });
  EXPECT_EQ(met, (std::vector<int>{1, 2}));
  EXPECT_EQ(deadlines_.any(), nullptr);
}

}  // namespace
}  // namespace hellod
