// operations_test.cc - one definition of every operation (bytecode/operations.h): constant
// folding gives exactly what the VM computes for the same operands, faults included; the
// builtin overload table is well formed; the VMs dispatch every overload.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

#include "bytecode/builtins.h"
#include "bytecode/operations.h"
#include "compile_helpers.h"
#include "compiler/sema/operators.h"
#include "runtime/vm/vm.h"

namespace {

using crm::bytecode::Overload;
namespace ops = crm::bytecode::ops;

struct Outcome {
  bool fault = false;
  int64_t value = 0;
  std::string text;  // for failure messages
};

const crm::ast::Expr* decl_value(const crm::testing::Compiled& c, const std::string& name) {
  for (auto& m : c.front->program.modules)
    for (auto* d : m.ast->decls) {
      if (d->name != name) continue;
      if (d->kind == crm::ast::DeclKind::Const) return static_cast<const crm::ast::ConstDecl*>(d)->value;
      if (d->kind == crm::ast::DeclKind::Segment) return static_cast<const crm::ast::SegmentDecl*>(d)->value;
    }
  return nullptr;
}

int64_t slot_of(const crm::testing::Compiled& c, const crm::ast::Expr* e) {
  std::vector<std::string> strings;
  std::map<std::string, int64_t> ids;
  const auto* v = c.front->program.const_of(e);
  EXPECT_NE(v, nullptr);
  return v ? crm::codegen::encode_value(*v, c.front->program.type_of(e), strings, ids) : 0;
}

// `A op B` folded by the checker: its value as a VM slot, or a fault (E0413).
Outcome folded(const std::string& a, const std::string& op, const std::string& b) {
  auto c = crm::testing::compile_text("const k = " + a + " " + op + " " + b + "\n");
  Outcome o;
  if (!c.ok) {
    o.fault = c.diagnostics.find("E0413") != std::string::npos;
    EXPECT_TRUE(o.fault) << c.diagnostics;
    o.text = c.diagnostics;
    return o;
  }
  o.value = slot_of(c, decl_value(c, "k"));
  return o;
}

// `a op b` computed by the VM with profile fields a and b holding the same constants.
Outcome computed(const std::string& ta, const std::string& tb, const std::string& a, const std::string& op, const std::string& b) {
  auto c = crm::testing::compile_text("profile { a: " + ta + "  b: " + tb + " }\nconst ka = " + a + "\nconst kb = " + b +
                                      "\nsegment s = (a " + op + " b) == (a " + op + " b)\n");
  EXPECT_TRUE(c.ok) << c.diagnostics;
  Outcome o;
  if (!c.ok) return o;
  const auto* seg = static_cast<const crm::ast::BinaryExpr*>(decl_value(c, "s"));
  std::vector<const crm::ast::Expr*> probes{seg->lhs};
  std::vector<int32_t> units;
  auto out = crm::codegen::generate(c.front->program, probes, units);
  EXPECT_EQ(out.error, "");
  EXPECT_GE(units[0], 0);
  std::vector<int64_t> profile{0, slot_of(c, decl_value(c, "ka")), slot_of(c, decl_value(c, "kb"))};
  crm::vm::StringPool pool(out.program.strings);
  crm::vm::Context ctx;
  ctx.profile = profile.data();
  ctx.profile_size = profile.size();
  ctx.strings = &pool;
  crm::vm::VM vm(out.program);
  vm.prepare(ctx);
  auto r = vm.run(static_cast<uint32_t>(units[0]), ctx);
  o.fault = r.status == crm::vm::Status::Error;
  o.value = r.value;
  if (r.error) o.text = r.error;
  return o;
}

struct Case {
  const char *ta, *tb, *a, *op, *b;
};

TEST(Operations, ConstantFoldingComputesWhatTheVmComputes) {
  const Case cases[] = {
      {"Int", "Int", "9223372036854775807", "+", "1"},
      {"Int", "Int", "-9223372036854775807", "-", "2"},
      {"Int", "Int", "4611686018427387904", "*", "2"},
      {"Int", "Int", "7", "/", "2"},
      {"Int", "Int", "7", "/", "0"},
      {"Int", "Int", "9223372036854775807", "/", "0"},
      {"Int", "Decimal", "9223372036854", "/", "0.5"},
      {"Decimal", "Decimal", "1.000001", "*", "1.000001"},
      {"Decimal", "Decimal", "1.5", "/", "0.0"},
      {"Decimal", "Int", "2.5", "+", "9223372036855"},
      {"Decimal", "Int", "0.000001", "*", "10000000000000"},  // exact MUL_INT; folding used to widen the Int and fail
      {"Int", "Decimal", "10000000000000", "*", "0.000001"},
      {"Money(CNY)", "Int", "10 CNY", "*", "3"},
      {"Money(CNY)", "Decimal", "10 CNY", "*", "0.333333"},
      {"Money(CNY)", "Money(CNY)", "10 CNY", "/", "3 CNY"},
      {"Duration", "Duration", "200 days", "/", "1 days"},  // DIV_FIX of micros; folding used to widen them and fail
      {"Duration", "Int", "2 days", "*", "3"},
      {"Duration", "Decimal", "1 days", "*", "1.5"},
      {"Duration", "Int", "1 days", "/", "0"},
      {"Time", "Duration", "2026-03-01T00:00:00Z", "+", "36 hours"},
      {"Time", "Time", "2026-03-01T00:00:00Z", "-", "2026-02-01T00:00:00Z"},
      {"Date", "Duration", "2026-03-01", "+", "3 days"},
      {"Date", "Duration", "2026-03-01", "-", "3 days"},
      {"Date", "Date", "2026-03-01", "-", "2026-02-01"},
      // Leaving the years 0001-9999 is a fault in both (it used to fold to year 10000 or 0).
      {"Time", "Duration", "9999-12-31T23:59:59.999999Z", "+", "1 seconds"},
      {"Time", "Duration", "9999-12-31T23:59:58.999999Z", "+", "1 seconds"},
      {"Time", "Duration", "0001-01-01T00:00:00Z", "-", "1 seconds"},
      {"Duration", "Time", "3652059 days", "+", "2026-01-01T00:00:00Z"},
      {"Time", "Duration", "2026-01-01T00:00:00Z", "-", "3652059 days"},
      {"Date", "Duration", "9999-12-31", "+", "1 days"},
      {"Date", "Duration", "0001-01-01", "-", "1 days"},
      {"Duration", "Date", "3652059 days", "+", "2026-01-01"},
      {"Int", "Decimal", "9223372036854775807", "<", "1.5"},  // INT_TO_FIX faults in a comparison too
      {"Int", "Decimal", "3", "<=", "3.0"},
      {"Decimal", "Int", "3.5", ">", "3"},
      {"String", "String", "\"abc\"", "<", "\"abd\""},
      {"String", "String", "\"b\"", ">=", "\"abc\""},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(std::string(k.a) + " " + k.op + " " + k.b);
    Outcome f = folded(k.a, k.op, k.b);
    Outcome v = computed(k.ta, k.tb, k.a, k.op, k.b);
    EXPECT_EQ(f.fault, v.fault) << "folding: " << f.text << " / VM: " << v.text;
    if (!f.fault && !v.fault && std::string(k.ta) != "String") {
      EXPECT_EQ(f.value, v.value);
    }
  }
}

// Time and date arithmetic on values known only at run time faults when it leaves the years
// 0001-9999, as integer overflow does (before, the VM computed year 10000 or 0, which crm's
// readers refuse); the instants at the bounds are values.
TEST(Operations, TimeArithmeticLeavingCrmsTimeFaultsAtRunTime) {
  const std::string time_range = ops::fault_text(ops::Fault::TimeRange);
  const std::string date_range = ops::fault_text(ops::Fault::DateRange);
  const struct {
    Case c;
    const char* fault;  // nullptr: a value
  } cases[] = {
      {{"Time", "Duration", "9999-12-31T23:59:59.999999Z", "+", "1 seconds"}, time_range.c_str()},
      {{"Time", "Duration", "0001-01-01T00:00:00Z", "-", "1 seconds"}, time_range.c_str()},
      {{"Duration", "Time", "3652059 days", "+", "2026-01-01T00:00:00Z"}, time_range.c_str()},
      {{"Time", "Duration", "2026-01-01T00:00:00Z", "+", "-3652059 days"}, time_range.c_str()},
      {{"Date", "Duration", "9999-12-31", "+", "1 days"}, date_range.c_str()},
      {{"Date", "Duration", "0001-01-01", "-", "1 days"}, date_range.c_str()},
      {{"Time", "Duration", "9999-12-31T23:59:58.999999Z", "+", "1 seconds"}, nullptr},
      {{"Time", "Duration", "0001-01-01T00:00:01Z", "-", "1 seconds"}, nullptr},
      {{"Date", "Duration", "0001-01-02", "-", "1 days"}, nullptr},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(std::string(k.c.a) + " " + k.c.op + " " + k.c.b);
    Outcome v = computed(k.c.ta, k.c.tb, k.c.a, k.c.op, k.c.b);
    EXPECT_EQ(v.fault, k.fault != nullptr) << v.text;
    if (k.fault) {
      EXPECT_EQ(v.text, k.fault);
    }
  }
}

// The operator table (compiler/sema/operators.def): one row per operand-type pair, each naming an
// instruction operations.h computes (string concatenation aside).
TEST(Operations, ArithmeticTableIsWellFormed) {
  std::set<std::tuple<int, int, int>> seen;
  for (const auto& o : crm::sema::all_arith()) {
    EXPECT_TRUE(seen.insert({static_cast<int>(o.op), static_cast<int>(o.left), static_cast<int>(o.right)}).second)
        << "two rows for one pair: " << crm::bytecode::op_name(o.opcode);
    if (o.opcode == crm::bytecode::Op::STR_CONCAT) continue;
    int64_t out = 0;
    EXPECT_NE(ops::apply_arith(o.opcode, 1, 1, out), ops::Fault::NotArithmetic) << crm::bytecode::op_name(o.opcode);
  }
  EXPECT_EQ(crm::sema::find_arith(crm::ast::BinaryOp::Mul, crm::sema::TypeKind::Money, crm::sema::TypeKind::Money), nullptr);
  int64_t out = 0;
  EXPECT_EQ(ops::apply_arith(crm::bytecode::Op::NOT, 1, 1, out), ops::Fault::NotArithmetic);
}

TEST(Operations, FaultsHaveTheirDocumentedTexts) {
  int64_t out = 0;
  EXPECT_EQ(ops::add(INT64_MAX, 1, out), ops::Fault::Overflow);
  EXPECT_EQ(ops::div_fix(1, 0, out), ops::Fault::DivisionByZero);
  EXPECT_EQ(ops::neg(INT64_MIN, out), ops::Fault::Overflow);
  EXPECT_EQ(ops::abs(INT64_MIN, out), ops::Fault::AbsOverflow);
  EXPECT_EQ(ops::decimal_of_int(INT64_MAX, out), ops::Fault::DecimalOverflow);
  EXPECT_EQ(ops::hash_bucket("u1", 0, out), ops::Fault::BadBucketCount);
  EXPECT_STREQ(ops::fault_text(ops::Fault::Overflow), "arithmetic overflow");
  EXPECT_STREQ(ops::fault_text(ops::Fault::DivisionByZero), "division by zero");
  EXPECT_STREQ(ops::fault_text(ops::Fault::AbsOverflow), "overflow in abs()");
  EXPECT_STREQ(ops::fault_text(ops::Fault::DecimalOverflow), "overflow in decimal()");
  EXPECT_STREQ(ops::fault_text(ops::Fault::BadBucketCount), "hash_bucket() needs a positive bucket count");
  EXPECT_EQ(ops::fault_text(ops::Fault::None), nullptr);
  // Half-to-even where a product or quotient needs rounding.
  EXPECT_EQ(ops::mul_fix(1'500'000, 1, out), ops::Fault::None);
  EXPECT_EQ(out, 2);  // 1.5 * 0.000001 = 0.0000015 -> 0.000002
  EXPECT_EQ(ops::div_fix(1, 2'000'000, out), ops::Fault::None);
  EXPECT_EQ(out, 0);  // 0.0000005 -> 0.000000
  EXPECT_EQ(ops::date_add(10, -1, out), ops::Fault::None);
  EXPECT_EQ(out, 9);  // a date minus one microsecond is the day before
  // A date or time outside the years 0001-9999 is a fault (support::in_time_range), also when
  // the sum would not even fit 64 bits; the bounds themselves are crm's.
  EXPECT_EQ(ops::date_add(INT64_MAX, 86'400'000'000, out), ops::Fault::DateRange);
  EXPECT_EQ(ops::date_add(INT64_MIN, -1, out), ops::Fault::DateRange);
  EXPECT_EQ(ops::date_add(crm::support::kLastDay, 86'400'000'000, out), ops::Fault::DateRange);
  EXPECT_EQ(ops::date_add(crm::support::kFirstDay, -1, out), ops::Fault::DateRange);
  EXPECT_EQ(ops::date_add(crm::support::kFirstDay + 1, -1, out), ops::Fault::None);
  EXPECT_EQ(out, crm::support::kFirstDay);
  EXPECT_EQ(ops::time_add(crm::support::kLastInstant, 1, out), ops::Fault::TimeRange);
  EXPECT_EQ(ops::time_add(crm::support::kFirstInstant, -1, out), ops::Fault::TimeRange);
  EXPECT_EQ(ops::time_add(INT64_MAX, 1, out), ops::Fault::TimeRange);
  EXPECT_EQ(ops::time_add(crm::support::kLastInstant - 1, 1, out), ops::Fault::None);
  EXPECT_EQ(out, crm::support::kLastInstant);
  EXPECT_EQ(ops::time_add(crm::support::kFirstInstant + 1, -1, out), ops::Fault::None);
  EXPECT_EQ(out, crm::support::kFirstInstant);
  EXPECT_STREQ(ops::fault_text(ops::Fault::TimeRange), "time outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z");
  EXPECT_STREQ(ops::fault_text(ops::Fault::DateRange), "date outside 0001-01-01 to 9999-12-31");
  EXPECT_EQ(ops::date_diff(3, 1, out), ops::Fault::None);
  EXPECT_EQ(out, 2 * 86'400'000'000);
  EXPECT_EQ(ops::date_diff(106'751'992, 0, out), ops::Fault::Overflow);  // 106,751,992 days > INT64_MAX micros
  EXPECT_EQ(ops::date_diff(106'751'991, 0, out), ops::Fault::None);
  EXPECT_EQ(ops::date_diff(INT64_MIN, 1, out), ops::Fault::Overflow);
  EXPECT_EQ(ops::weekday_of_date(0), 4);  // 1970-01-01 was a Thursday
}

// The overload table: every builtin has overloads, all of one arity, that differ in some
// argument type (so resolution is unambiguous), and the ids of the first fifteen are the ids the
// builtins had in format v6 (stored in compiled programs and printed by --disasm).
TEST(Builtins, OverloadTableIsWellFormed) {
  using crm::bytecode::all_builtins;
  using crm::bytecode::all_overloads;
  for (size_t i = 0; i < all_overloads().size(); ++i) EXPECT_EQ(static_cast<size_t>(all_overloads()[i].id), i);
  for (const auto& b : all_builtins()) {
    SCOPED_TRACE(b.name);
    auto os = b.overloads();
    ASSERT_FALSE(os.empty());
    std::set<std::vector<crm::bytecode::SigType>> shapes;
    for (const auto* o : os) {
      EXPECT_EQ(o->params.size(), b.arity());
      std::vector<crm::bytecode::SigType> shape;
      for (const auto& p : o->params) {
        EXPECT_NE(p.type, crm::bytecode::SigType::Same);
        shape.push_back(p.type);
      }
      EXPECT_TRUE(shapes.insert(shape).second) << "two overloads with the same parameter types";
      if (o->result == crm::bytecode::SigType::Same) {
        EXPECT_FALSE(o->params.empty());
      }
    }
  }
  for (size_t i = 0; i < all_builtins().size(); ++i) {
    const auto& first = *all_builtins()[i].overloads().front();
    EXPECT_EQ(static_cast<size_t>(first.id), i) << all_builtins()[i].name;
  }
  EXPECT_EQ(crm::bytecode::find_overload(static_cast<uint32_t>(all_overloads().size())), nullptr);
}

// Every overload is dispatched by the VM (none falls through to "unknown builtin").
TEST(Builtins, TheVmDispatchesEveryOverload) {
  crm::vm::StringPool pool;
  crm::vm::CollectionStore sets;
  int64_t s = pool.intern("Ab"), set = sets.add({1, 2, 3}, false);
  crm::vm::Context ctx;
  ctx.strings = &pool;
  ctx.collections = &sets;
  for (const auto& o : crm::bytecode::all_overloads()) {
    SCOPED_TRACE(o.signature());
    std::vector<int64_t> args;
    for (const auto& p : o.params)
      args.push_back(p.type == crm::bytecode::SigType::String ? s
                     : p.type == crm::bytecode::SigType::Set || p.type == crm::bytecode::SigType::List ? set
                                                                                                        : 5);
    const char* err = nullptr;
    crm::vm::call_builtin(static_cast<uint32_t>(o.id), args.data(), ctx, &err);
    EXPECT_EQ(err, nullptr) << err;
  }
  const char* err = nullptr;
  crm::vm::call_builtin(static_cast<uint32_t>(crm::bytecode::overload_count()), nullptr, ctx, &err);
  EXPECT_STREQ(err, "unknown builtin");
}

// Calls resolve to the overload of their argument types (no hidden flag arguments).
TEST(Builtins, CallsResolveToTypedOverloads) {
  auto c = crm::testing::compile_text(
      "profile { t: Time  d: Date  i: Int  m: Money(CNY)  tags: Set<String>  s: String }\n"
      "segment a = weekday(t) == weekday(d) and decimal(i) < decimal(m) and len(tags) > len(s) and abs(m) > 0 CNY\n");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  std::multiset<Overload> seen;
  for (const auto& u : c.program().units)
    for (const auto& in : u.code)
      if (in.op == crm::bytecode::Op::CALL) {
        seen.insert(static_cast<Overload>(in.a));
        EXPECT_EQ(in.c, crm::bytecode::find_overload(in.a)->params.size());
      }
  for (Overload o : {Overload::WeekdayOfTime, Overload::WeekdayOfDate, Overload::DecimalOfInt, Overload::DecimalOfMoney,
                     Overload::LenOfSet, Overload::LenOfString, Overload::AbsMoney})
    EXPECT_TRUE(seen.count(o)) << static_cast<int>(o);
}

}  // namespace
