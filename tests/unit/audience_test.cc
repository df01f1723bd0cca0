// audience_test.cc - the audience of an event strategy's `who:` (runtime/engine/audience.h): an
// audience instant stands for its trigger event arriving then, so `user` is the user counted and
// `time` the instant; a `who:` reading any other event field is not counted. The engine (VM and
// JIT), the C++ and C APIs, and the reference evaluator agree.
#include <gtest/gtest.h>

#include <crm/crm.h>
#include <crm/runtime.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "compile_helpers.h"
#include "runtime/engine/audience.h"
#include "tests/reference/ast_evaluator.h"
#if CRM_HAVE_JIT
#include "runtime/jit/jit_executor.h"
#endif

namespace {

using crm::testing::Compiled;
using crm::testing::compile_text;
using crm::testing::T;

// Arms split by `hash_bucket(user, 3)`, and the built-in fields an audience does supply.
const char* kSupplied = R"(
profile { level: Int = 0 }
event Order { amount: Money(CNY) }
resource push hi { body: "hi" }
segment b0 = hash_bucket(user, 3) == 0
segment b1 = hash_bucket(user, 3) == 1
segment b2 = hash_bucket(user, 3) == 2
strategy arm0 for business "m" { who: hash_bucket(user, 3) == 0  when: on Order  what: send hi via Push }
strategy arm1 for business "m" { who: hash_bucket(user, 3) == 1  when: on Order  what: send hi via Push  priority: 2 }
strategy arm2 for business "m" { who: hash_bucket(user, 3) == 2  when: on Order  what: send hi via Push  priority: 3 }
strategy named for business "n" { who: event.user == profile.user and len(user) > 0  when: on Order  what: send hi via Push }
strategy now_ for business "o" { who: time == now() and time >= 2026-03-02T00:00Z  when: on Order  what: send hi via Push }
strategy u7 for business "p" { who: user == "u7"  when: on Order  what: send hi via Push }
)";

// One `who:` per kind of event field an audience cannot supply. `l` and `tags` have collection
// defaults; the profile's list default [42, 43] is the program's first collection, which a blank
// event read as its empty list (handle 0): `42 in l` once counted every user.
const char* kUnsupplied = R"(
profile { pl: List<Int> = [42, 43] }
event V {
  k: Int = 5
  m: Money(CNY) = 1 CNY
  s: String = "x"
  t: Time = 2026-01-01T00:00Z
  b: Bool = true
  l: List<Int> = []
  tags: Set<String> = {}
  o: Int?
}
resource push p { body: "x" }
strategy ik for business "a" { who: k == 5  when: on V  what: send p via Push }
strategy im for business "b" { who: m > 0 CNY  when: on V  what: send p via Push }
strategy is for business "c" { who: s == ""  when: on V  what: send p via Push }
strategy it for business "d" { who: t < now()  when: on V  what: send p via Push }
strategy ib for business "e" { who: not b  when: on V  what: send p via Push }
strategy il for business "f" { who: 42 in l  when: on V  what: send p via Push }
strategy il0 for business "g" { who: len(l) == 0  when: on V  what: send p via Push }
strategy iset for business "h" { who: "a" in tags  when: on V  what: send p via Push }
strategy io for business "i" { who: o == 3  when: on V  what: send p via Push }
strategy iid for business "j" { who: id != "" and hash_bucket(user, 2) == 0  when: on V  what: send p via Push }
strategy iev for business "k" { who: event.k > 0 or true  when: on V  what: send p via Push }
strategy plain for business "l" { who: 42 in pl  when: on V  what: send p via Push }
)";

std::map<std::string, int64_t> as_map(const std::vector<std::pair<std::string, int64_t>>& v) {
  return {v.begin(), v.end()};
}

// The engines an audience may run on: the VMs, and the JIT when it is built.
std::vector<std::pair<std::string, crm::engine::EngineOptions>> engines(const Compiled& c) {
  std::vector<std::pair<std::string, crm::engine::EngineOptions>> out{{"vm", {}}};
#if CRM_HAVE_JIT
  std::string error;
  auto jit = crm::jit::JitExecutor::create(c.program(), error);
  EXPECT_TRUE(jit) << error;
  if (jit) out.push_back({"jit", {jit}});
#else
  (void)c;
#endif
  return out;
}

void load_users(crm::engine::Engine& eng, int n) {
  std::string err;
  for (int u = 0; u < n; ++u)
    ASSERT_TRUE(eng.load_profile_line(R"({"user":"u)" + std::to_string(u) + R"("})", err)) << err;
}

}  // namespace

TEST(Audience, AnEventStrategysUserIsTheUserCountedAndItsTimeTheInstant) {
  Compiled c = compile_text(kSupplied);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const int64_t at = T("2026-03-02T00:00:00Z");
  for (auto& [name, options] : engines(c)) {
    SCOPED_TRACE(name);
    crm::engine::Engine eng(c.program(), options);
    load_users(eng, 30);
    auto counts = as_map(eng.audience(at));
    // The arms split the users as the segments over the profile's `user` do, and as `crm run`
    // decides them; no user is in two arms, every user in one.
    EXPECT_EQ(counts.at("arm0"), counts.at("b0"));
    EXPECT_EQ(counts.at("arm1"), counts.at("b1"));
    EXPECT_EQ(counts.at("arm2"), counts.at("b2"));
    EXPECT_EQ(counts.at("arm0") + counts.at("arm1") + counts.at("arm2"), 30);
    EXPECT_GT(counts.at("arm0"), 0);
    EXPECT_GT(counts.at("arm1"), 0);
    EXPECT_EQ(counts.at("named"), 30);
    EXPECT_EQ(counts.at("now_"), 30);
    EXPECT_EQ(counts.at("u7"), 1);
    // check --data's evaluation: the same user by user.
    for (const char* arm : {"arm0", "arm1", "arm2", "named", "u7"}) {
      uint32_t s = 0;
      while (c.program().strategies[s].name != arm) ++s;
      int64_t matched = 0;
      for (const auto& user : eng.users()) {
        int64_t v = 0;
        std::string err;
        ASSERT_TRUE(eng.evaluate_who(s, user, at, v, err)) << err;
        matched += v != 0;
      }
      EXPECT_EQ(matched, counts.at(arm)) << arm;
    }
    // And `crm run`: one order per user, the arm it is decided by.
    std::map<std::string, int64_t> decided;
    for (int u = 0; u < 30; ++u) {
      crm::engine::Event ev;
      std::string err;
      ASSERT_TRUE(eng.parse_event(R"({"type":"Order","id":"o)" + std::to_string(u) + R"(","user":"u)" + std::to_string(u) +
                                      R"(","time":"2026-03-02T00:00:00Z","amount":"10"})",
                                  ev, err))
          << err;
      std::vector<crm::engine::Decision> out;
      ASSERT_TRUE(eng.process(ev, out, err)) << err;
      for (const auto& d : out) {
        std::string json = eng.decision_json(d);
        for (const char* arm : {"arm0", "arm1", "arm2"})
          if (json.find(std::string(R"("strategy":")") + arm + "\"") != std::string::npos &&
              json.find(R"("outcome":"granted")") != std::string::npos)
            ++decided[arm];
      }
    }
    for (const char* arm : {"arm0", "arm1", "arm2"}) EXPECT_EQ(decided[arm], counts.at(arm)) << arm;
  }
}

// The reference evaluator, given the event an audience stands for, agrees user by user.
TEST(Audience, TheReferenceEvaluatorAgreesGivenTheAudienceEvent) {
  Compiled c = compile_text(kSupplied);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const int64_t at = T("2026-03-02T00:00:00Z");
  crm::engine::Engine eng(c.program());
  load_users(eng, 30);
  auto counts = as_map(eng.audience(at));
  crm::vm::AstEvaluator ast(c.front->program, c.out);
  std::map<std::string, const crm::ast::Expr*> who;
  for (auto& m : c.front->program.modules)
    for (const crm::ast::Decl* d : m.ast->decls)
      if (d->kind == crm::ast::DeclKind::Strategy)
        for (const crm::ast::Clause* cl : static_cast<const crm::ast::StrategyDecl*>(d)->clauses)
          if (cl->kind == crm::ast::ClauseKind::Who) who[d->name] = cl->expr;
  for (const auto& s : c.program().strategies) {
    SCOPED_TRACE(s.name);
    int64_t matched = 0;
    for (const auto& user : eng.users()) {
      const auto profile = eng.profile_of(user);
      ASSERT_TRUE(profile);
      crm::engine::Event ev;
      crm::engine::audience_event(c.program(), s, (*profile)[0], user, at, ev);
      crm::vm::AstEnv env;
      env.profile = &*profile;
      env.event = &ev.fields;
      env.event_present = &ev.present;
      env.now = at;
      env.zone = &s.zone;
      env.strings = &eng.strings();
      env.collections = &eng.collections();
      int64_t v = 0;
      std::string err;
      ASSERT_TRUE(ast.eval(who.at(s.name), env, v, err)) << err;
      matched += v != 0;
    }
    EXPECT_EQ(matched, counts.at(s.name));
  }
}

TEST(Audience, AWhoReadingAnyOtherEventFieldIsNotCounted) {
  Compiled c = compile_text(kUnsupplied);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const int64_t at = T("2026-01-02T00:00:00Z");
  const std::map<std::string, std::string> field{{"ik", "k"}, {"im", "m"},   {"is", "s"},    {"it", "t"},
                                                 {"ib", "b"}, {"il", "l"},   {"il0", "l"},   {"iset", "tags"},
                                                 {"io", "o"}, {"iid", "id"}, {"iev", "k"}};
  for (auto& [name, options] : engines(c)) {
    SCOPED_TRACE(name);
    crm::engine::Engine eng(c.program(), options);
    load_users(eng, 4);
    auto counts = as_map(eng.audience(at));
    for (const auto& [s, f] : field) {
      EXPECT_EQ(counts.at(s), crm::engine::kNotCounted) << s;
      const auto& st = *std::find_if(c.program().strategies.begin(), c.program().strategies.end(),
                                     [&](const auto& x) { return x.name == s; });
      EXPECT_EQ(crm::engine::unknown_trigger_field_name(c.program(), st), f) << s;
      int64_t v = 0;
      std::string err;
      EXPECT_FALSE(eng.evaluate_who(static_cast<uint32_t>(&st - c.program().strategies.data()), "u1", at, v, err)) << s;
      EXPECT_NE(err.find("`" + f + "`"), std::string::npos) << err;
    }
    EXPECT_EQ(counts.at("plain"), 4);  // the profile's own list is read as before
    EXPECT_EQ(eng.stats().eval_errors, 0u);
  }
}

// The public APIs say the same: Runtime::audience and crm_runtime_audience give
// kAudienceNotCounted, crm::Audience lists the field.
TEST(Audience, TheApisReportANotCountedStrategyApart) {
  auto compiled = crm::compile_sources({{"t.crm", kUnsupplied}});
  const crm::CompiledProgram& program = compiled.program;
  ASSERT_TRUE(program.valid());
  crm::Error error;
  const int64_t at = T("2026-01-02T00:00:00Z");
  crm::Audience audience(program, at);
  ASSERT_TRUE(audience.load_profile(R"({"user":"a"})", error)) << error.message;
  crm::Audience::Result result;
  ASSERT_TRUE(audience.count(result, error)) << error.message;
  auto counts = as_map(result.counts);
  EXPECT_EQ(counts.at("il"), crm::kAudienceNotCounted);
  EXPECT_EQ(counts.at("plain"), 1);
  ASSERT_EQ(result.not_counted.size(), 11u);
  EXPECT_EQ(result.not_counted.front(), std::make_pair(std::string("ik"), std::string("k")));

  crm::Runtime rt(program);
  std::string err;
  ASSERT_TRUE(rt.load_profile(R"({"user":"a"})", err)) << err;
  EXPECT_EQ(as_map(rt.audience(at)).at("il"), crm::kAudienceNotCounted);
  EXPECT_EQ(crm::kAudienceNotCounted, CRM_AUDIENCE_NOT_COUNTED);
}
