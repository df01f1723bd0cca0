// bytecode_test.cc - the .crmc format (round trip, rejection of foreign, corrupt, truncated and
// other-version files) and the verifier.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "compile_helpers.h"

namespace {

using crm::bytecode::Instr;
using crm::bytecode::Op;
using crm::bytecode::Program;

const crm::testing::Compiled& spend_spike() {
  static const crm::testing::Compiled c =
      crm::testing::compile_inputs({{std::string(CRM_SOURCE_DIR) + "/examples/spend_spike.crm", std::nullopt}});
  return c;
}

const crm::testing::Compiled& double11() {
  static const crm::testing::Compiled c =
      crm::testing::compile_inputs({{std::string(CRM_SOURCE_DIR) + "/examples/double11.crm", std::nullopt}});
  return c;
}

bool load(const std::string& bytes, std::string& err) {
  Program p;
  return crm::bytecode::deserialize(bytes, p, err);
}

// Header: "CRMC", u32 version, i64 payload size, u64 checksum; then the payload at byte 24.
constexpr size_t kHeader = 24;

}  // namespace

TEST(Bytecode, RoundTripKeepsTheDisassembly) {
  for (const auto* c : {&spend_spike(), &double11()}) {
    ASSERT_TRUE(c->ok) << c->diagnostics;
    std::string bytes = crm::bytecode::serialize(c->program());
    Program back;
    std::string err;
    ASSERT_TRUE(crm::bytecode::deserialize(bytes, back, err)) << err;
    EXPECT_EQ(crm::bytecode::disassemble(back), crm::bytecode::disassemble(c->program()));
    // Everything the disassembly does not show survives too: a second trip is byte-identical.
    EXPECT_EQ(crm::bytecode::serialize(back), bytes);
    EXPECT_EQ(back.strategies.size(), c->program().strategies.size());
    EXPECT_EQ(back.resources.size(), c->program().resources.size());
    EXPECT_EQ(back.policies.size(), c->program().policies.size());
  }
}

TEST(Bytecode, FlippedPayloadByteFailsTheChecksum) {
  ASSERT_TRUE(spend_spike().ok);
  std::string bytes = crm::bytecode::serialize(spend_spike().program());
  ASSERT_GT(bytes.size(), kHeader + 100);
  for (size_t at : {kHeader, kHeader + 57, bytes.size() / 2, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    std::string err;
    EXPECT_FALSE(load(bad, err)) << "flipped byte " << at;
    EXPECT_EQ(err, "checksum mismatch: the file is corrupt");
  }
}

TEST(Bytecode, WrongMagicIsRejected) {
  std::string bytes = crm::bytecode::serialize(spend_spike().program());
  std::string err;
  std::string bad = bytes;
  bad[0] = 'X';
  EXPECT_FALSE(load(bad, err));
  EXPECT_EQ(err, "not a compiled crm program (missing the CRMC header)");
  err.clear();
  EXPECT_FALSE(load("{\"type\":\"Order\"}", err));
  EXPECT_EQ(err, "not a compiled crm program (missing the CRMC header)");
  err.clear();
  EXPECT_FALSE(load("", err));
  EXPECT_NE(err.find("CRMC"), std::string::npos);
}

TEST(Bytecode, OtherVersionIsRejectedWithAHint) {
  std::string bytes = crm::bytecode::serialize(spend_spike().program());
  bytes[4] = static_cast<char>(crm::bytecode::kFormatVersion + 1);
  std::string err;
  EXPECT_FALSE(load(bytes, err));
  EXPECT_NE(err.find(fmt::format("format version {}", crm::bytecode::kFormatVersion + 1)), std::string::npos) << err;
  EXPECT_NE(err.find("recompile"), std::string::npos) << err;
}

TEST(Bytecode, TruncatedOrPaddedFilesAreRejected) {
  std::string bytes = crm::bytecode::serialize(spend_spike().program());
  std::string err;
  EXPECT_FALSE(load(bytes.substr(0, bytes.size() - 1), err));
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  EXPECT_FALSE(load(bytes.substr(0, bytes.size() / 2), err));
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  EXPECT_FALSE(load(bytes.substr(0, 10), err));  // cut inside the header
  EXPECT_FALSE(err.empty());
  EXPECT_FALSE(load(bytes + "x", err));
  EXPECT_NE(err.find("padded"), std::string::npos) << err;
}

// A payload that passes the checksum but is structurally wrong still fails (the checksum is
// recomputed here, as a hand-edited file would have it).
TEST(Bytecode, ConsistentChecksumButMalformedPayloadIsRejected) {
  std::string bytes = crm::bytecode::serialize(spend_spike().program());
  std::string payload = bytes.substr(kHeader, bytes.size() - kHeader - 3);  // drop the tail
  auto fnv = [](const std::string& s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) { h ^= c; h *= 1099511628211ull; }
    return h;
  };
  std::string head = bytes.substr(0, 4 + 4);
  auto put64 = [&](uint64_t v) { for (int i = 0; i < 8; ++i) head.push_back(static_cast<char>(v >> (8 * i))); };
  put64(payload.size());
  put64(fnv(payload));
  std::string err;
  EXPECT_FALSE(load(head + payload, err));
  EXPECT_EQ(err, "malformed program payload");
}

// ---- verify ------------------------------------------------------------------------------------

namespace {

Program tiny() {
  Program p;
  p.constants = {1, 0};
  crm::bytecode::Unit u;
  u.name = "segment t";
  u.registers = 2;
  u.code = {
      Instr{Op::LOAD_CONST, 0, 0},
      Instr{Op::JUMP_IF_FALSE, 0, 0, 3},
      Instr{Op::LOAD_CONST, 0, 1},
      Instr{Op::RET, 0, 0},
  };
  p.units.push_back(u);
  // The batch form of the same segment: jump-free.
  crm::bytecode::Unit b;
  b.name = "segment t";
  b.registers = 1;
  b.code = {Instr{Op::LOAD_CONST, 0, 0}, Instr{Op::RET, 0, 0}};
  p.units.push_back(b);
  p.segments.push_back({"t", 0, 1});
  crm::bytecode::Field user;
  user.name = "user";
  user.kind = crm::bytecode::Kind::String;
  p.profile.push_back(user);
  return p;
}

}  // namespace

TEST(Verify, AcceptsAWellFormedUnit) {
  std::string err;
  EXPECT_TRUE(crm::bytecode::verify(tiny(), err)) << err;
  ASSERT_TRUE(spend_spike().ok);
  EXPECT_TRUE(crm::bytecode::verify(spend_spike().program(), err)) << err;
}

TEST(Verify, RejectsABackwardJump) {
  Program p = tiny();
  p.units[0].code[1] = Instr{Op::JUMP_IF_FALSE, 0, 0, 0};  // back to instruction 0
  std::string err;
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("instruction 1 (JUMP_IF_FALSE)"), std::string::npos) << err;
  EXPECT_NE(err.find("`T`"), std::string::npos) << err;
  p.units[0].code[1] = Instr{Op::JUMP, 0, 1};  // to itself: an endless loop
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("JUMP"), std::string::npos) << err;
  p.units[0].code[1] = Instr{Op::JUMP, 0, 4};  // past the end
  EXPECT_FALSE(crm::bytecode::verify(p, err));
}

TEST(Verify, RejectsAnOutOfRangeRegister) {
  Program p = tiny();
  p.units[0].code[2] = Instr{Op::LOAD_CONST, 2, 1};  // only r0, r1 exist
  std::string err;
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("operand `D` = 2 out of range"), std::string::npos) << err;
  p = tiny();
  p.units[0].code[3] = Instr{Op::RET, 0, 7};
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("operand `A` = 7 out of range"), std::string::npos) << err;
  // A CALL's argument block must fit in the registers as well.
  p = tiny();
  p.units[0].code[2] = Instr{Op::CALL, 0, 0, 1, 2};
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("CALL"), std::string::npos) << err;
  // Constants, aggregates and sets are range-checked too.
  p = tiny();
  p.units[0].code[2] = Instr{Op::LOAD_CONST, 0, 9};
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("operand `K`"), std::string::npos) << err;
  p.units[0].code[2] = Instr{Op::LOAD_AGG, 0, 0};
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("operand `G`"), std::string::npos) << err;
}

TEST(Verify, RejectsAUnitWithoutRet) {
  Program p = tiny();
  p.units[0].code.pop_back();
  std::string err;
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_EQ(err, "unit 0 does not end in RET");
  p.units[0].code.clear();
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_EQ(err, "unit 0 does not end in RET");
}

TEST(Verify, RejectsDanglingReferences) {
  Program p = tiny();
  p.segments.push_back({"ghost", 5});
  std::string err;
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_EQ(err, "segment refers to a missing unit");
}

// deserialize() runs verify(): a file whose code was tampered with (and re-checksummed) is refused.
TEST(Verify, DeserializeRunsTheVerifier) {
  Program p = tiny();
  p.units[0].code[1] = Instr{Op::JUMP, 0, 0};
  std::string bytes = crm::bytecode::serialize(p);
  std::string err;
  EXPECT_FALSE(load(bytes, err));
  EXPECT_NE(err.find("out of range"), std::string::npos) << err;
}

// ---- forged programs -----------------------------------------------------------------------------
// A forger can compute the checksum (bytecode::seal), so the verifier is what stands between a
// hostile `.crmc` and the VM and engine. Each test edits one field of a well-formed program the
// way a forger would, re-serializes it with a valid checksum, and expects the load to be refused
// (before: several of these crashed `crm run` with SIGFPE or out-of-range reads).

namespace {

const char* kForgeBase = R"(
profile { age: Int, tier: String, tags: Set<String>? }
event Order { amount: Money(CNY), coupon: String? }
resource coupon c10 {
  discount: 10 CNY
  threshold: 100 CNY
  claim: between 2026-01-01T00:00Z and 2026-12-01T00:00Z
  use: within 7 days after claim
}
resource push hello { title: "hi" body: "hello" }
segment big = sum(Order.amount within 30 days) > 100 CNY and count(Order last 5) >= 1
strategy on_order for business "b" {
  who: age >= 18 and hash_bucket(tier, 4) == 1
  when: on Order between 2026-01-01T00:00Z and 2026-06-01T00:00Z if amount > 50 CNY
  what: grant c10 via App
  how much: budget 1000 CNY, stock 50, per user 1 per day, per user 2 per 7 days, pacing even
  split: control 10%
  zone: "Asia/Shanghai"
}
strategy daily for business "c" {
  who: big
  when: every 1 day at 10:00 between 2026-01-01T00:00Z and 2026-03-01T00:00Z
  what: send hello via Push
}
policy p {
  same resource type once per 1 day;
  unredeemed coupons per user <= 3;
  Push <= 2 per 1 day;
  quiet between 22:00 and 08:00;
}
)";

const Program& forge_base() {
  static const crm::testing::Compiled c = crm::testing::compile_text(kForgeBase);
  EXPECT_TRUE(c.ok) << c.diagnostics;
  return c.program();
}

// Serializes the edited program (with a valid checksum) and loads it back.
std::string forged_load_error(const std::function<void(Program&)>& edit) {
  Program p = forge_base();
  edit(p);
  std::string bytes = crm::bytecode::serialize(p), err;
  Program back;
  if (crm::bytecode::deserialize(bytes, back, err)) return "(loaded)";
  return err;
}

#define EXPECT_FORGERY_REFUSED(edit, words)                          \
  do {                                                               \
    std::string e = forged_load_error(edit);                         \
    EXPECT_NE(e, "(loaded)") << #edit;                               \
    EXPECT_NE(e.find(words), std::string::npos) << #edit << ": " << e; \
  } while (0)

crm::bytecode::Strategy& named(Program& p, const std::string& name) {
  for (auto& s : p.strategies)
    if (s.name == name) return s;
  ADD_FAILURE() << "no strategy " << name;
  return p.strategies[0];
}

}  // namespace

TEST(Forged, TheBaseProgramLoadsAndRoundTrips) {
  EXPECT_EQ(forged_load_error([](Program&) {}), "(loaded)");
}

TEST(Forged, ZeroOrNegativePeriodsAreRefused) {
  using crm::bytecode::PeriodKind;
  // The SIGFPE of issue 9 was a calendar cap of 0 microseconds; calendar periods are now units
  // (the reader refuses unknown ones), and a sliding window of 0 or less is refused.
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").per_user[1].period.micros = 0; }, "per-user limit");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").per_user[1].period.micros = -5; }, "per-user limit");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").per_user[1].period.micros = INT64_MAX; }, "per-user limit");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").per_user[0].count = 0; }, "per-user limit");
  EXPECT_FORGERY_REFUSED(
      ([](Program& p) { p.policies[0].same_type = {PeriodKind::Sliding, crm::bytecode::CalendarUnit::Day, 0}; }),
      "same-type period");
  EXPECT_FORGERY_REFUSED(
      ([](Program& p) { p.policies[0].channel_caps[0].cap.period = {PeriodKind::Sliding, crm::bytecode::CalendarUnit::Day, -1}; }),
      "channel cap");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.policies[0].channel_caps[0].channel = 99; }, "channel cap");
  // A campaign-long period has no length: 0 is its normal value.
  Program p = forge_base();
  named(p, "on_order").per_user[0].period = {PeriodKind::Campaign, crm::bytecode::CalendarUnit::Day, 0};
  std::string err;
  EXPECT_TRUE(crm::bytecode::verify(p, err)) << err;
}

TEST(Forged, SchedulesAreRefusedOutsideTheirBounds) {
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "daily").every = 0; }, "schedule");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "daily").every = 1; }, "schedule");  // 1 us: a busy loop
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "daily").every = INT64_MAX; }, "schedule");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "daily").at = -1; }, "schedule");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "daily").at = 86'400'000'000; }, "schedule");
  EXPECT_FORGERY_REFUSED([](Program& p) { std::swap(named(p, "daily").from, named(p, "daily").to); }, "window");
}

TEST(Forged, PacingSplitStockAndBudgetAreRefusedOutOfRange) {
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").has_window = false; }, "paced without a window");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").to = named(p, "on_order").from; }, "window");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").control_basis_points = 10000; }, "control share");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").control_basis_points = -1; }, "control share");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").stock = -7; }, "stock");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").budget = 0; }, "budget");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").zone.initial_offset = 30LL * 3600 * 1'000'000; }, "zone");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "daily").name = "on_order"; }, "defined twice");
}

// A delayed trigger only on an event, within the longest span; its cancelling event and keys
// name events and fields that exist (the engine indexes them at every event).
TEST(Forged, DelayedTriggersAreRefusedOutOfRange) {
  constexpr int64_t kHour = 3'600'000'000;
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "daily").delay = kHour; }, "delay");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").delay = -1; }, "delay");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").delay = INT64_MAX; }, "delay");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").cancel_event = 0; }, "cancelling event");
  EXPECT_FORGERY_REFUSED(([](Program& p) {
    named(p, "on_order").delay = kHour;
    named(p, "on_order").cancel_event = int32_t(p.events.size());
  }), "cancelling event");
  EXPECT_FORGERY_REFUSED(([](Program& p) {
    named(p, "on_order").delay = kHour;
    named(p, "on_order").cancel_keys = {{0, 0}};
  }), "cancelling event");
  EXPECT_FORGERY_REFUSED(([](Program& p) {
    named(p, "on_order").delay = kHour;
    named(p, "on_order").cancel_event = 0;
    named(p, "on_order").cancel_keys = {{0, 99}};
  }), "cancelling keys");
  EXPECT_EQ(forged_load_error([](Program& p) {
    named(p, "on_order").delay = kHour;
    named(p, "on_order").cancel_event = 0;
    named(p, "on_order").cancel_keys = {{1, 1}};
  }), "(loaded)");
}

TEST(Forged, ResourceAndPolicyValuesAreRefusedOutOfRange) {
  EXPECT_FORGERY_REFUSED([](Program& p) { p.resources[0].discount = -1; }, "negative amount");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.resources[0].decay = 2'000'000; }, "decay");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.resources[0].claim_to = p.resources[0].claim_from; }, "claim or use window");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.resources[0].use_after_claim = INT64_MAX; }, "use period");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.policies[0].quiet_from = 1440; }, "quiet hours");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.policies[0].quiet_to = p.policies[0].quiet_from; }, "quiet hours");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.policies[0].max_unredeemed = -2; }, "unredeemed");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.policies[0].unredeemed_kind = "apples"; }, "unredeemed");
}

// A budget is charged face values and message costs as numbers: a .crmc whose budget (the
// strategy's own or its pool's) is in another currency than what it pays for is refused, as the
// checker refuses the source (E0402). Before, one compiled when the checker did not yet compare a
// pool with message costs loaded and charged 0.05 USD a message to a CNY pool as 0.05 CNY.
TEST(Forged, BudgetsInAnotherCurrencyThanWhatTheyPayForAreRefused) {
  auto cny_pool = [](Program& p, const std::string& strategy) {
    p.pools.push_back({"pp", true, 100'000'000, "CNY", -1});
    named(p, strategy).pool = int32_t(p.pools.size() - 1);
  };
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").budget_currency = "USD"; }, "budget is in `USD`");
  EXPECT_FORGERY_REFUSED(([&](Program& p) {
                           cny_pool(p, "on_order");
                           p.pools.back().budget_currency = "USD";
                         }),
                         "pool `pp` has a budget in `USD` but resource `c10` is in `CNY`");
  EXPECT_FORGERY_REFUSED(([&](Program& p) {
                           cny_pool(p, "daily");
                           p.resources[1].cost = 50'000;
                           p.resources[1].currency = "USD";
                         }),
                         "pool `pp` has a budget in `CNY` but resource `hello` is in `USD`");
  // In one currency, or a message that costs nothing, it loads.
  EXPECT_EQ(forged_load_error([&](Program& p) { cny_pool(p, "on_order"); }), "(loaded)");
  EXPECT_EQ(forged_load_error([&](Program& p) { cny_pool(p, "daily"); }), "(loaded)");
}

TEST(Forged, IndicesOutOfRangeAreRefused) {
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").actions[0].resource = 9; }, "missing resource");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").actions[0].channel = -3; }, "channel");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").actions[0].channel = 50; }, "channel");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").who = 999; }, "missing unit");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").event = 7; }, "missing event");
  EXPECT_FORGERY_REFUSED([](Program& p) { named(p, "on_order").index_field = -2; }, "index");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.aggregates[0].field = 40; }, "aggregate");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.aggregates[0].event = 3; }, "aggregate");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.segments[0].batch_unit = 1000; }, "missing unit");
}

TEST(Forged, AggregateWindowsMustBePositive) {
  for (auto& a : forge_base().aggregates) ASSERT_GT(a.window_value, 0) << a.text;
  EXPECT_FORGERY_REFUSED([](Program& p) { p.aggregates[0].window_value = 0; }, "window of 0");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.aggregates[1].window_value = -1; }, "window of -1");
}

TEST(Forged, SchemaShapesTheEngineReliesOnAreRefused) {
  EXPECT_FORGERY_REFUSED([](Program& p) { p.profile.clear(); }, "user");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.profile[0].kind = crm::bytecode::Kind::Int; }, "user");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.events[0].fields.resize(2); }, "id: String, user: String, time: Time");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.events[0].fields[2].kind = crm::bytecode::Kind::Int; }, "time: Time");
  EXPECT_FORGERY_REFUSED([](Program& p) { p.profile[3].elem = crm::bytecode::Kind::Set; }, "collection of collections");
}

TEST(Forged, CodeShapesTheVmReliesOnAreRefused) {
  // A builtin called with fewer argument registers than it reads would read past its block.
  EXPECT_FORGERY_REFUSED(
      [](Program& p) {
        for (auto& u : p.units)
          for (auto& in : u.code)
            if (in.op == Op::CALL) in.c = 0;
      },
      "arguments");
  // The batch VM runs jump-free code only.
  EXPECT_FORGERY_REFUSED([](Program& p) { p.segments[0].batch_unit = p.segments[0].unit; }, "jumps");
  EXPECT_FORGERY_REFUSED(
      [](Program& p) {
        p.sets.push_back({5, 3});
      },
      "not sorted");
}

// Format v16: a constant list keeps its order and duplicates through a .crmc, and may be unsorted
// where a set may not; IN_SET (which bisects) must name a set.
TEST(Bytecode, ConstantListsRoundTripAndInSetNeedsASet) {
  auto c = crm::testing::compile_text(R"(
profile { tier: String  recent: List<Int> = [3, 1, 2, 3]  seen: Set<Int> = {3, 1, 2, 3} }
segment vip = tier in {"gold", "silver"} and len(recent) == 4
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const Program& p = c.program();
  auto default_of = [&](const char* name) { return size_t(p.profile[size_t(p.find_profile_field(name))].default_value); };
  ASSERT_TRUE(p.is_list(default_of("recent")));
  EXPECT_EQ(p.sets[default_of("recent")], (std::vector<int64_t>{3, 1, 2, 3}));
  EXPECT_FALSE(p.is_list(default_of("seen")));
  EXPECT_EQ(p.sets[default_of("seen")], (std::vector<int64_t>{1, 2, 3}));
  std::string err;
  Program back;
  ASSERT_TRUE(crm::bytecode::deserialize(crm::bytecode::serialize(p), back, err)) << err;
  EXPECT_EQ(back.sets, p.sets);
  ASSERT_EQ(back.lists.size(), back.sets.size());
  for (size_t i = 0; i < p.sets.size(); ++i) EXPECT_EQ(back.is_list(i), p.is_list(i)) << i;
  EXPECT_NE(crm::bytecode::disassemble(back).find("list S" + std::to_string(default_of("recent")) + " = [3, 1, 2, 3]"),
            std::string::npos);
  // Every set marked a list: the IN_SET of `vip` then names a list, refused; more flags than sets too.
  Program forged = p;
  forged.lists.assign(forged.sets.size(), 1);
  EXPECT_FALSE(crm::bytecode::deserialize(crm::bytecode::serialize(forged), back, err));
  EXPECT_NE(err.find("IN_SET"), std::string::npos) << err;
  forged = p;
  forged.lists.push_back(0);
  forged.lists.resize(forged.sets.size() + 1);
  EXPECT_FALSE(crm::bytecode::verify(forged, err));
  EXPECT_NE(err.find("list flags"), std::string::npos) << err;
}

// What a forged file did before: load, then run until the division by a zero-length period.
TEST(Forged, ARunOfAForgedProgramNeverStarts) {
  Program p = forge_base();
  named(p, "on_order").per_user[1].period.micros = 0;
  std::string bytes = crm::bytecode::seal(crm::bytecode::serialize(p).substr(kHeader)), err;
  Program back;
  EXPECT_FALSE(crm::bytecode::deserialize(bytes, back, err));
  EXPECT_NE(err.find("on_order"), std::string::npos) << err;
}
