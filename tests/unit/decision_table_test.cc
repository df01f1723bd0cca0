// decision_table_test.cc - outcomes and reasons are defined once (runtime/engine/decisions.def):
// every name maps back to its enum, names are unique, and the names the state layer gives quota
// refusals are the table's.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "runtime/engine/decision.h"
#include "runtime/state/state_store.h"

namespace {

using crm::engine::Outcome;
using crm::engine::Reason;

TEST(DecisionTable, EveryNameMapsBackToItsEnum) {
  std::set<std::string> seen;
  for (size_t i = 0; i < crm::engine::all_outcomes().size(); ++i) {
    const auto& row = crm::engine::all_outcomes()[i];
    Outcome o;
    ASSERT_TRUE(crm::engine::outcome_from_name(row.name, o)) << row.name;
    EXPECT_EQ(size_t(o), i);
    EXPECT_STREQ(crm::engine::outcome_name(o), row.name);
    EXPECT_TRUE(seen.insert(row.name).second) << "outcome named twice: " << row.name;
  }
  seen.clear();
  for (size_t i = 0; i < crm::engine::all_reasons().size(); ++i) {
    const auto& row = crm::engine::all_reasons()[i];
    Reason r;
    ASSERT_TRUE(crm::engine::reason_from_name(row.name, r)) << row.name;
    EXPECT_EQ(size_t(r), i + 1);  // after Reason::None
    EXPECT_STREQ(crm::engine::reason_name(r), row.name);
    EXPECT_TRUE(seen.insert(row.name).second) << "reason named twice: " << row.name;
    // Every reason says which outcomes carry it, and those are outcomes of the table.
    std::string outcomes = row.outcomes;
    ASSERT_FALSE(outcomes.empty()) << row.name;
    for (size_t a = 0; a < outcomes.size();) {
      size_t b = outcomes.find(", ", a);
      if (b == std::string::npos) b = outcomes.size();
      Outcome o;
      EXPECT_TRUE(crm::engine::outcome_from_name(outcomes.substr(a, b - a), o)) << row.name << ": " << outcomes;
      a = b + 2;
    }
  }
  Reason none;
  EXPECT_TRUE(crm::engine::reason_from_name("", none));
  EXPECT_EQ(none, Reason::None);
  EXPECT_STREQ(crm::engine::reason_name(Reason::None), "");
  Outcome o;
  EXPECT_FALSE(crm::engine::outcome_from_name("granted ", o));
  Reason r;
  EXPECT_FALSE(crm::engine::reason_from_name("Stock", r));
}

TEST(DecisionTable, QuotaRefusalsUseTheTablesNames) {
  using crm::state::QuotaCheck;
  EXPECT_STREQ(crm::state::quota_reason(QuotaCheck::Fits), "");
  for (auto [check, reason] : {std::pair{QuotaCheck::Stock, Reason::Stock}, std::pair{QuotaCheck::Budget, Reason::Budget},
                               std::pair{QuotaCheck::Pacing, Reason::Pacing}})
    EXPECT_STREQ(crm::state::quota_reason(check), crm::engine::reason_name(reason));
}

}  // namespace
