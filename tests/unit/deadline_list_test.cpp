// SPDX-License-Identifier: MIT
#include "deadline_list.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace hellod {
namespace {

struct Item : DeadlineEntry {
  explicit Item(int item_id) : id(item_id) {}
  int id;
};

// The ids front to back, walking next().
std::vector<int> ids(const DeadlineList& list) {
  std::vector<int> out;
  for (const DeadlineEntry* entry = list.front(); entry != nullptr;
       entry = DeadlineList::next(*entry)) {
    out.push_back(static_cast<const Item*>(entry)->id);
  }
  return out;
}

TEST(DeadlineListTest, StartsEmpty) {
  DeadlineList list;
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.size(), 0U);
  EXPECT_EQ(list.front(), nullptr);
  Item item(1);
  EXPECT_EQ(item.list(), nullptr);
}

TEST(DeadlineListTest, PushBackKeepsInsertionOrder) {
  DeadlineList list;
  Item a(1);
  Item b(2);
  Item c(3);
  list.push_back(a, 0, 100);
  list.push_back(b, 0, 200);
  list.push_back(c, 0, 300);
  EXPECT_EQ(ids(list), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(list.size(), 3U);
  EXPECT_FALSE(list.empty());
  EXPECT_EQ(list.front(), &a);
  EXPECT_EQ(a.deadline(), 100U);
  EXPECT_EQ(c.deadline(), 300U);
  EXPECT_EQ(b.list(), &list);
}

TEST(DeadlineListTest, PushingAgainMovesToBackWithNewDeadline) {
  DeadlineList list;
  Item a(1);
  Item b(2);
  list.push_back(a, 0, 100);
  list.push_back(b, 0, 200);
  list.push_back(a, 0, 300);
  EXPECT_EQ(ids(list), (std::vector<int>{2, 1}));
  EXPECT_EQ(list.size(), 2U);
  EXPECT_EQ(a.deadline(), 300U);
  EXPECT_EQ(list.front()->deadline(), 200U);
}

TEST(DeadlineListTest, RemoveFromFrontMiddleAndBack) {
  DeadlineList list;
  std::array<Item, 5> items{Item(0), Item(1), Item(2), Item(3), Item(4)};
  for (Item& item : items) list.push_back(item, 0, static_cast<std::uint64_t>(item.id));
  DeadlineList::remove(items[2]);
  EXPECT_EQ(ids(list), (std::vector<int>{0, 1, 3, 4}));
  DeadlineList::remove(items[0]);
  EXPECT_EQ(ids(list), (std::vector<int>{1, 3, 4}));
  DeadlineList::remove(items[4]);
  EXPECT_EQ(ids(list), (std::vector<int>{1, 3}));
  EXPECT_EQ(list.size(), 2U);
  EXPECT_EQ(items[4].list(), nullptr);
  // Appending after removing the tail must link from the new tail.
  list.push_back(items[4], 0, 9);
  EXPECT_EQ(ids(list), (std::vector<int>{1, 3, 4}));
  DeadlineList::remove(items[1]);
  DeadlineList::remove(items[3]);
  DeadlineList::remove(items[4]);
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.size(), 0U);
  EXPECT_EQ(list.front(), nullptr);
}

TEST(DeadlineListTest, RemovingAnUnlistedEntryDoesNothing) {
  DeadlineList list;
  Item a(1);
  Item b(2);
  list.push_back(a, 0, 1);
  DeadlineList::remove(b);
  DeadlineList::remove(a);
  DeadlineList::remove(a);
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.size(), 0U);
}

TEST(DeadlineListTest, PushBackMovesBetweenLists) {
  DeadlineList header;
  DeadlineList keepalive;
  Item a(1);
  Item b(2);
  Item c(3);
  header.push_back(a, 0, 10);
  header.push_back(b, 0, 20);
  header.push_back(c, 0, 30);
  keepalive.push_back(b, 0, 70);
  EXPECT_EQ(ids(header), (std::vector<int>{1, 3}));
  EXPECT_EQ(ids(keepalive), (std::vector<int>{2}));
  EXPECT_EQ(header.size(), 2U);
  EXPECT_EQ(keepalive.size(), 1U);
  EXPECT_EQ(b.list(), &keepalive);
  EXPECT_EQ(b.deadline(), 70U);
  keepalive.push_back(a, 0, 80);
  keepalive.push_back(c, 0, 90);
  EXPECT_TRUE(header.empty());
  EXPECT_EQ(header.front(), nullptr);
  EXPECT_EQ(ids(keepalive), (std::vector<int>{2, 1, 3}));
  header.push_back(b, 0, 100);
  EXPECT_EQ(ids(keepalive), (std::vector<int>{1, 3}));
  EXPECT_EQ(ids(header), (std::vector<int>{2}));
}

// Expiry only looks at the front: appending now + timeout keeps the list
// sorted, and popping expired fronts leaves the rest in order.
TEST(DeadlineListTest, ExpiringFrontsInOrder) {
  DeadlineList list;
  std::array<Item, 4> items{Item(0), Item(1), Item(2), Item(3)};
  for (Item& item : items) list.push_back(item, 0, 1000 + static_cast<std::uint64_t>(item.id) * 10);
  std::vector<int> expired;
  const std::uint64_t now = 1015;
  while (!list.empty() && list.front()->deadline() <= now) {
    DeadlineEntry* front = list.front();
    DeadlineList::remove(*front);
    expired.push_back(static_cast<Item*>(front)->id);
  }
  EXPECT_EQ(expired, (std::vector<int>{0, 1}));
  EXPECT_EQ(ids(list), (std::vector<int>{2, 3}));
  EXPECT_EQ(list.size(), 2U);
}

// A lowered timeout moves every waiting entry's deadline to when it began
// waiting plus the new timeout, unless it was due sooner anyway; the list
// stays in deadline order.
TEST(DeadlineListTest, LoweringTheTimeoutClampsEveryWaitFromItsStart) {
  DeadlineList list;
  std::array<Item, 3> items{Item(0), Item(1), Item(2)};
  // Began waiting at 0, 100, 200 with a 60000 timeout.
  for (Item& item : items) {
    const auto started = static_cast<std::uint64_t>(item.id) * 100;
    list.push_back(item, started, started + 60'000);
  }
  list.lower_timeout(1000);
  EXPECT_EQ(items[0].deadline(), 1000U);
  EXPECT_EQ(items[1].deadline(), 1100U);
  EXPECT_EQ(items[2].deadline(), 1200U);
  EXPECT_TRUE(list.ordered());
  // A later, longer timeout is no reason to postpone: lowering again to a
  // value above the current deadlines changes nothing.
  list.lower_timeout(5000);
  EXPECT_EQ(items[0].deadline(), 1000U);
  EXPECT_EQ(items[2].started(), 200U);
}

TEST(DeadlineListTest, RaisedTimeoutAppliesToNewWaitsOnly) {
  DeadlineList list;
  Item before(1);
  Item after(2);
  list.push_back(before, 0, 1000);     // old timeout 1000
  list.push_back(after, 500, 30'500);  // new timeout 30000, began later
  EXPECT_EQ(before.deadline(), 1000U);
  EXPECT_TRUE(list.ordered());
}

}  // namespace
}  // namespace hellod
