// differential_test.cc - the bytecode VMs and the JIT against the reference AST evaluator.
//
// A deterministic generator writes well-typed random expressions (depth-limited) over a fixed
// schema that has a field of every scalar type, optional variants, an event type with every
// kind of history aggregate and window, helper functions with parameters and nested segments.
// Each expression becomes `segment sN = <Bool>` or `fn fN(): T = <T>` (evaluated through a
// segment that is pointed at the call after checking, so every type's value is compared, not
// just Bool). Random users with random profiles (some fields missing) and histories are then
// evaluated by every engine, which must agree on the value and on whether evaluation failed:
// the reference evaluator, the scalar VM, the batch VM and, when built with the JIT
// (CRM_HAVE_JIT), its scalar code (both compiled on first use and by compile_all()) and batch code. CRM_DIFF_EXTRA_SEEDS=N adds N seed pairs (the
// long run: docs/performance.md records one of over 1,000,000 comparisons).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <random>
#include <set>

#include "compile_helpers.h"
#include "history_helpers.h"
#include "compiler/format/formatter.h"
#include "tests/reference/ast_evaluator.h"
#include "runtime/vm/batch_vm.h"
#if CRM_HAVE_JIT
#include "runtime/jit/jit.h"
#include "runtime/jit/jit_executor.h"
#endif

namespace {

#if CRM_HAVE_JIT
// The engine's aggregates of one user, asked for by JIT code through its context.
struct EngineAggregates : crm::vm::AggregateSource {
  std::function<crm::bytecode::AggValue(uint32_t, int64_t)> get;
  crm::bytecode::AggValue aggregate(uint32_t g, int64_t now) override { return get(g, now); }
};

// Batch JIT code over `in`: per row, the value or "error" (the lane's fault bit).
std::vector<std::string> batch_jit_rows(crm::jit::Jit& jit, uint32_t unit, const crm::vm::BatchInput& in) {
  std::string error;
  crm::jit::BatchFn fn = jit.batch(unit, error);
  EXPECT_NE(fn, nullptr) << error;
  std::vector<std::string> rows;
  if (!fn) return rows;
  crm::vm::Context ctx;
  ctx.now = in.now;
  ctx.zone = in.zone;
  ctx.strings = in.strings;
  ctx.collections = in.collections;
  int64_t out[crm::vm::kBlock];
  uint8_t err[crm::vm::kBlock];
  for (size_t base = 0; base < in.rows; base += crm::vm::kBlock) {
    size_t n = std::min(crm::vm::kBlock, in.rows - base);
    fn(&in, &ctx, base, n, out, err);
    for (size_t i = 0; i < n; ++i) rows.push_back(err[i] ? std::string("error") : std::to_string(out[i]));
  }
  return rows;
}
#endif

enum Ty { B, I, D, M, S, E, TM, DT, DU, kTyCount };

const char* kTypeName[] = {"Bool", "Int", "Decimal", "Money(CNY)", "String", "Tier", "Time", "Date", "Duration"};
// Profile and event fields, non-optional and optional, one per type (same order as Ty).
const char* kProfile[] = {"vip", "age", "score", "balance", "city", "tier", "joined", "birthday", "wait"};
const char* kProfileOpt[] = {"flag", "bonus", "rate", "credit", "nick", "tier2", "seen", "anniv", "grace"};
const char* kEvent[] = {"paid", "items", "ratio", "amount", "shop", "rank", "time", "day", "spent"};
const char* kEventOpt[] = {"gift", "pts", "tax", "tip", "note", "grade", "shipped", "due", "delay"};

const char* kHeader = R"(
enum Tier { Bronze, Silver, Gold }
profile {
  vip: Bool  age: Int  score: Decimal  balance: Money(CNY)  city: String  tier: Tier
  joined: Time  birthday: Date  wait: Duration
  flag: Bool?  bonus: Int?  rate: Decimal?  credit: Money(CNY)?  nick: String?  tier2: Tier?
  seen: Time?  anniv: Date?  grace: Duration?
}
event Order {
  paid: Bool  items: Int  ratio: Decimal  amount: Money(CNY)  shop: String  rank: Tier  day: Date  spent: Duration
  gift: Bool?  pts: Int?  tax: Decimal?  tip: Money(CNY)?  note: String?  grade: Tier?  shipped: Time?  due: Date?  delay: Duration?
  coupon: String?
}
resource coupon dc { discount: 5 CNY  use: within 10 days after claim }
resource push dp { body: "x" }
strategy ds1 for business "d" {
  who: paid  when: on Order  what: grant dc via App code "DC", send dp via Push  how much: per user 1 per 7 days  priority: 2
}
strategy ds2 for business "d" { who: items > 3  when: on Order  what: send dp via Push code "DP"  priority: 1 }
fn recent(n: Int = 2, w: Duration = 30 days): Bool = count(Order within w) >= n
fn spend(w: Duration = 90 days): Money(CNY) = sum(Order.amount within w)
fn scaled(x: Decimal, k: Int = 2): Decimal = x * k
fn avg_or(dflt: Money(CNY) = 0 CNY): Money(CNY) = avg(Order.amount previous) ?? dflt
segment big = sum(Order.amount) > 300 CNY
segment loyal = big and count(Order) >= 3
segment vip_loyal = loyal and vip
)";

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  bool event_scope = false;  // inside an aggregate's `where`: event fields, no history
  // received(...) / redeemed(...): off where a value is compared in the middle of a unit, whose
  // deliveries up to that strategy the reference cannot see (docs/semantics.md, "Delivery history").
  bool delivery_history = true;

  uint64_t r(uint64_t n) { return rng_() % n; }
  bool coin(int pct) { return r(100) < static_cast<uint64_t>(pct); }
  template <size_t N>
  const char* pick(const char* const (&a)[N]) { return a[r(N)]; }

  std::string lit(Ty t) {
    static const char* ints[] = {"0", "1", "2", "3", "7", "10", "42", "100", "-5", "4611686018427387904"};
    static const char* decs[] = {"0.5", "1.5", "2.25", "0.000001", "3.333333", "100.0", "1.0", "9000000000000.5"};
    static const char* money[] = {"0 CNY", "1 CNY", "12.5 CNY", "99.99 CNY", "300 CNY", "0.01 CNY", "9000000000000 CNY"};
    static const char* strs[] = {"\"a\"", "\"ab\"", "\"B\"", "\"Shanghai\"", "\"\"", "\"sh\"", "\"MÜNCHEN\"", "\"αθηνα\""};
    static const char* tiers[] = {"Tier.Bronze", "Tier.Silver", "Tier.Gold"};
    static const char* times[] = {"2026-01-15T10:00Z", "2026-02-01T00:00Z", "2026-03-10T08:30+08:00", "2025-12-31T23:59Z"};
    static const char* dates[] = {"2026-01-15", "2026-02-28", "2000-02-29", "1990-07-04"};
    static const char* durs[] = {"3 days", "36 hours", "1 week", "90 minutes", "30 seconds", "400 days"};
    switch (t) {
      case B: return coin(50) ? "true" : "false";
      case I: return coin(85) ? ints[r(9)] : ints[9];
      case D: return coin(85) ? decs[r(7)] : decs[7];
      case M: return coin(85) ? money[r(6)] : money[6];
      case S: return pick(strs);
      case E: return pick(tiers);
      case TM: return pick(times);
      case DT: return pick(dates);
      case DU: return pick(durs);
      default: return "true";
    }
  }

  std::string field(Ty t, bool opt) {
    if (event_scope) return opt ? kEventOpt[t] : kEvent[t];
    return opt ? kProfileOpt[t] : kProfile[t];
  }

  std::string filter() {
    if (coin(60)) return "";
    bool saved = event_scope;
    event_scope = true;
    std::string f = " where " + g(B, static_cast<int>(r(3)));
    event_scope = saved;
    return f;
  }

  std::string window() {
    switch (r(9)) {
      case 0: return " within 30 days";
      case 1: return " within 36 hours";
      case 2: return " within 1 week";
      case 3: return " last " + std::to_string(1 + r(4));
      case 4: return " previous";
      case 5: return " previous " + std::to_string(1 + r(3));
      case 6: return " since 2026-02-01T00:00Z";
      default: return "";
    }
  }

  // A history aggregate of type t (optional when `opt`), or "" when none has that type.
  // The user's delivery history (received / redeemed), over the header's two strategies.
  std::string history() {
    static const char* args[] = {"",     "ds1",          "ds2",           "dc",          "dp",
                                 "resource: dp", "channel: Push", "channel: App", "code: \"DC\"", "ds1, channel: Push",
                                 "ds2, resource: dc", "ds1, code: \"DC\""};
    std::string source = coin(70) ? "received(" : "redeemed(";
    std::string a = source == "received(" ? pick(args) : (coin(50) ? "dc" : coin(50) ? "ds1" : "");
    return source + a + ")";
  }

  std::string aggregate(Ty t, bool opt) {
    if (event_scope) return "";
    if (delivery_history && !opt && (t == I || t == B) && coin(25)) {
      std::string h = history();
      if (t == B && coin(30)) return h;
      return std::string(t == I ? "count(" : "exists(") + h + window() + ")";
    }
    std::string fw = filter() + window();
    if (!opt) {
      if (t == I && coin(50)) return "count(Order" + fw + ")";
      if (t == B) return "exists(Order" + fw + ")";
      if (t == I) return std::string("sum(Order.") + (coin(50) ? "items" : "pts") + fw + ")";
      if (t == D) return std::string("sum(Order.") + (coin(50) ? "ratio" : "tax") + fw + ")";
      if (t == M) return std::string("sum(Order.") + (coin(50) ? "amount" : "tip") + fw + ")";
      if (t == DU) return std::string("sum(Order.") + (coin(50) ? "spent" : "delay") + fw + ")";
      return "";
    }
    bool optf = coin(40);
    std::string f = optf ? kEventOpt[t] : kEvent[t];
    int k = static_cast<int>(r(4));
    if (k == 0 && (t == D || t == M)) {  // avg
      static const char* dsrc[] = {"items", "ratio", "pts", "tax"};
      std::string src = t == M ? (coin(50) ? "amount" : "tip") : pick(dsrc);
      return "avg(Order." + src + fw + ")";
    }
    if (k == 1 && t != B && t != S && t != E) return std::string(coin(50) ? "min" : "max") + "(Order." + f + fw + ")";
    if (k == 2) return std::string(coin(50) ? "first" : "last") + "(Order" + fw + ")." + f;
    return std::string(coin(50) ? "first" : "last") + "(Order." + f + fw + ")";
  }

  std::string leaf(Ty t) {
    int k = static_cast<int>(r(10));
    if (k < 4) return lit(t);
    if (k < 8 || event_scope) {
      if (!event_scope && t == TM && coin(30)) return "now()";
      if (!event_scope && t == DT && coin(30)) return "today()";
      return field(t, false);
    }
    std::string a = aggregate(t, false);
    return a.empty() ? field(t, false) : a;
  }

  std::string opt(Ty t, int d) {
    if (d <= 0 || coin(50)) {
      std::string a = coin(50) ? aggregate(t, true) : "";
      return a.empty() ? field(t, true) : a;
    }
    if (coin(50)) return "(if " + g(B, d - 1) + " then " + opt(t, d - 1) + " else " + (coin(50) ? g(t, d - 1) : opt(t, d - 1)) + ")";
    return "(" + opt(t, d - 1) + " ?? " + opt(t, d - 1) + ")";
  }

  std::string bin(const std::string& a, const char* op, const std::string& b) { return "(" + a + " " + op + " " + b + ")"; }
  Ty ordered() { static const Ty ts[] = {I, D, M, S, TM, DT, DU}; return ts[r(7)]; }
  Ty any() { return static_cast<Ty>(r(kTyCount)); }

  std::string g(Ty t, int d) {
    if (d <= 0 || coin(20)) return leaf(t);
    int d1 = d - 1;
    auto cond = [&] { return g(B, d1); };
    if (coin(8)) return "(if " + cond() + " then " + g(t, d1) + " else " + g(t, d1) + ")";
    if (coin(8) && t != B) return "(" + opt(t, d1) + " ?? " + g(t, d1) + ")";
    switch (t) {
      case B: {
        static const char* cmp[] = {"<", "<=", ">", ">=", "==", "!="};
        switch (r(17)) {
          case 0: case 1: { Ty u = ordered(); return bin(g(u, d1), pick(cmp), g(u, d1)); }
          case 2: return coin(50) ? bin(g(I, d1), pick(cmp), g(D, d1)) : bin(g(D, d1), pick(cmp), g(I, d1));
          case 3: { Ty u = any(); return bin(opt(u, d1), coin(50) ? "==" : "!=", coin(50) ? g(u, d1) : opt(u, d1)); }
          case 4: return bin(opt(I, d1), coin(50) ? "==" : "!=", g(D, d1));  // Int? against Decimal
          case 5: return bin(g(B, d1), "and", g(B, d1));
          case 6: return bin(g(B, d1), "or", g(B, d1));
          case 7: return "(not " + g(B, d1) + ")";
          case 8: {
            static const Ty ts[] = {I, D, S, E};
            Ty u = ts[r(4)];
            std::string set = "{" + lit(u) + ", " + lit(u) + (coin(50) ? ", " + lit(u) : "") + "}";
            std::string x = coin(30) ? opt(u, d1) : g(u, d1);
            if (u == D && coin(40)) x = g(I, d1);  // Int against a Decimal set
            if (u == I && coin(30)) x = g(D, d1);  // Decimal against an Int set (issue 9 item 20)
            return "(" + x + (coin(70) ? " in " : " not in ") + set + ")";
          }
          case 9: {
            Ty u = coin(50) ? I : any();
            if (u == B) u = S;
            return "(" + g(u, d1) + (coin(70) ? " in {" : " not in {") + g(u, d1) + ", " + g(u, d1) + "})";
          }
          case 10: {
            Ty u = ordered();
            return "(" + g(u, d1) + (coin(70) ? " between " : " not between ") + g(u, d1) + " and " + g(u, d1) + ")";
          }
          case 11: return std::string(coin(50) ? "contains(" : "starts_with(") + g(S, d1) + ", " + g(S, d1) + ")";
          case 12: return "(" + opt(B, d1) + " ?? " + g(B, d1) + ")";
          case 13: {
            if (event_scope) return field(B, false);
            static const char* calls[] = {"big", "loyal", "vip_loyal", "recent()", "recent(1)", "recent(w: 7 days)",
                                          "recent(n: 3, w: 60 days)", "recent(0, 1 week)"};
            return pick(calls);
          }
          case 14: return bin(opt(E, d1), coin(50) ? "==" : "!=", g(E, d1));
          // A constant right operand never hides a fault on the left (issue 9 item 21).
          case 15: return bin(g(B, d1), coin(50) ? "or" : "and", coin(50) ? "true" : "false");
          default: return leaf(B);
        }
      }
      case I: {
        switch (r(12)) {
          case 0: return bin(g(I, d1), "+", g(I, d1));
          case 1: return bin(g(I, d1), "-", g(I, d1));
          case 2: return bin(g(I, d1), "*", g(I, d1));
          case 3: return "(-" + g(I, d1) + ")";
          case 4: return "abs(" + g(I, d1) + ")";
          case 5: return "days(" + g(DU, d1) + ")";
          case 6: return "len(" + g(S, d1) + ")";
          case 7: return "hash_bucket(" + g(S, d1) + ", " + std::to_string(1 + r(100)) + ")";
          case 8: return "hour(" + g(TM, d1) + ")";
          case 9: return "weekday(" + (coin(50) ? g(DT, d1) : g(TM, d1)) + ")";
          case 10: return "days_to_anniversary(" + g(DT, d1) + ")";
          default: return leaf(I);
        }
      }
      case D: {
        switch (r(16)) {
          case 0: return bin(g(D, d1), "+", g(D, d1));
          case 1: return coin(50) ? bin(g(D, d1), "-", g(I, d1)) : bin(g(I, d1), "+", g(D, d1));
          case 2: return bin(g(D, d1), "*", g(D, d1));
          case 3: return coin(50) ? bin(g(D, d1), "*", g(I, d1)) : bin(g(I, d1), "*", g(D, d1));
          case 4: return bin(g(I, d1), "/", g(I, d1));
          case 5: return bin(g(D, d1), "/", coin(50) ? g(D, d1) : g(I, d1));
          case 6: return bin(g(M, d1), "/", g(M, d1));
          case 7: return bin(g(DU, d1), "/", g(DU, d1));
          case 8: return "(-" + g(D, d1) + ")";
          case 9: return "abs(" + g(D, d1) + ")";
          case 10: return "decimal(" + (coin(50) ? g(M, d1) : g(I, d1)) + ")";
          case 11: return "(" + opt(I, d1) + " ?? " + g(D, d1) + ")";  // Int? ?? Decimal
          case 12: return "(" + opt(D, d1) + " ?? " + g(I, d1) + ")";
          case 13: return "(if " + g(B, d1) + " then " + (coin(50) ? g(I, d1) : g(D, d1)) + " else " + g(I, d1) + ")";
          case 14: if (!event_scope) return coin(50) ? "scaled(" + g(D, d1) + ")" : "scaled(" + g(I, d1) + ", 3)";
                   [[fallthrough]];
          default: return leaf(D);
        }
      }
      case M: {
        switch (r(12)) {
          case 0: return bin(g(M, d1), "+", g(M, d1));
          case 1: return bin(g(M, d1), "-", g(M, d1));
          case 2: return coin(50) ? bin(g(M, d1), "*", g(I, d1)) : bin(g(I, d1), "*", g(M, d1));
          case 3: return coin(50) ? bin(g(M, d1), "*", g(D, d1)) : bin(g(D, d1), "*", g(M, d1));
          case 4: return bin(g(M, d1), "/", coin(50) ? g(I, d1) : g(D, d1));
          case 5: return "(-" + g(M, d1) + ")";
          case 6: return "abs(" + g(M, d1) + ")";
          case 7: if (!event_scope) return coin(50) ? "spend()" : "spend(14 days)";
                  [[fallthrough]];
          case 8: if (!event_scope) return coin(50) ? "avg_or()" : "avg_or(" + g(M, d1) + ")";
                  [[fallthrough]];
          default: return leaf(M);
        }
      }
      case S: {
        switch (r(5)) {
          case 0: return bin(g(S, d1), "+", g(S, d1));
          case 1: return "lower(" + g(S, d1) + ")";
          case 2: return "upper(" + g(S, d1) + ")";
          default: return leaf(S);
        }
      }
      case E: return leaf(E);
      case TM: {
        switch (r(5)) {
          case 0: return bin(g(TM, d1), "+", g(DU, d1));
          case 1: return bin(g(TM, d1), "-", g(DU, d1));
          case 2: return bin(g(DU, d1), "+", g(TM, d1));
          default: return leaf(TM);
        }
      }
      case DT: {
        switch (r(6)) {
          case 0: return bin(g(DT, d1), "+", g(DU, d1));
          case 1: return bin(g(DT, d1), "-", g(DU, d1));
          case 2: return bin(g(DU, d1), "+", g(DT, d1));
          case 3: return "date(" + g(TM, d1) + ")";
          default: return leaf(DT);
        }
      }
      case DU: {
        switch (r(12)) {
          case 0: return bin(g(DU, d1), "+", g(DU, d1));
          case 1: return bin(g(DU, d1), "-", g(DU, d1));
          case 2: return coin(50) ? bin(g(DU, d1), "*", g(I, d1)) : bin(g(I, d1), "*", g(DU, d1));
          case 3: return bin(g(DU, d1), "*", g(D, d1));
          case 4: return bin(g(DU, d1), "/", coin(50) ? g(I, d1) : g(D, d1));
          case 5: return bin(g(TM, d1), "-", g(TM, d1));
          case 6: return bin(g(DT, d1), "-", g(DT, d1));
          case 7: return "(-" + g(DU, d1) + ")";
          case 8: return "abs(" + g(DU, d1) + ")";
          default: return leaf(DU);
        }
      }
      default: return leaf(t);
    }
  }

 private:
  std::mt19937_64 rng_;
};

struct Decl {
  std::string text;     // the declaration
  std::string segment;  // the segment whose unit is compared
  bool value = false;   // a `vN` segment to be pointed at `fN()` after checking
};

// A declaration is accepted when the program with it alone checks with no diagnostic at all.
// Rejections that are not the generator's fault (constant overflow, constant conditions) are
// retried; anything else is a generator bug and fails the test.
bool clean(const std::string& decl, std::string& diags) {
  crm::DriverOptions o;
  std::unique_ptr<crm::Compilation> c;
  try {
    c = crm::compile({{"diff.crm", std::string(kHeader) + decl}}, o);
  } catch (const std::exception& e) {
    diags = std::string("the checker threw: ") + e.what() + "\n";
    return false;
  }
  if (c->sink.diagnostics().empty()) return true;
  diags = crm::diag::render_text(c->sink.diagnostics(), c->program.sources, {false});
  return false;
}

// E0413: a constant subexpression overflows or divides by zero; W0101: a constant condition.
bool tolerated(const std::string& diags) {
  size_t codes = 0;
  for (size_t at = diags.find("error["); at != std::string::npos; at = diags.find("error[", at + 1), ++codes)
    if (diags.compare(at + 6, 5, "E0413") != 0) return false;
  for (size_t at = diags.find("warning["); at != std::string::npos; at = diags.find("warning[", at + 1), ++codes)
    if (diags.compare(at + 8, 5, "W0101") != 0) return false;
  return codes > 0;
}

std::string json_time(int64_t micros) { return crm::support::format_time(micros); }

struct Totals {
  size_t comparisons = 0, errors = 0, mismatches = 0, varying = 0, exprs = 0;
  size_t range_errors = 0;  // of errors: a time or date left the years 0001-9999
  // Every pair of engines compared on one expression and user (or row) counts once.
  size_t jit_comparisons = 0, jit_mismatches = 0, batch_comparisons = 0, batch_mismatches = 0;
  double jit_compile_seconds = 0;
  size_t shared_units = 0;
  size_t shape_units = 0, shapes = 0;  // compile_all()'s units run through a shape (session 17)
};

// `zone`: the program's default zone (a module-level declaration), "" for UTC. The date
// built-ins (today(), date(), hour(), weekday(), days_to_anniversary()) read it in all three
// evaluators.
void run_differential(uint64_t gen_seed, uint64_t data_seed, Totals& total, const std::string& zone = "") {
  constexpr int kExprs = 300, kUsers = 50, kDepth = 4;
  Gen gen(gen_seed);
  std::vector<Decl> decls;
  int retries = 0;
  for (int n = 0; n < kExprs; ++n) {
    for (int attempt = 0;; ++attempt) {
      ASSERT_LT(attempt, 200) << "cannot generate a clean expression " << n;
      Decl d;
      if (gen.coin(50)) {
        d.segment = "s" + std::to_string(n);
        d.text = "segment " + d.segment + " = " + gen.g(B, kDepth) + "\n";
      } else {
        Ty t = static_cast<Ty>(gen.r(kTyCount));
        bool optional = gen.coin(20);
        std::string body = optional ? gen.opt(t, kDepth) : gen.g(t, kDepth);
        std::string f = "f" + std::to_string(n);
        d.segment = "v" + std::to_string(n);
        d.value = true;
        d.text = "fn " + f + "(): " + kTypeName[t] + (optional ? "?" : "") + " = " + body + "\nsegment " + d.segment +
                 " = " + f + "() == " + f + "()\n";
      }
      std::string diags;
      if (clean(d.text, diags)) {
        decls.push_back(d);
        break;
      }
      ++retries;
      ASSERT_TRUE(tolerated(diags)) << "the generator wrote a program the checker rejects:\n" << d.text << diags;
    }
  }

  std::string source = zone.empty() ? std::string() : "zone \"" + zone + "\"\n";
  source += kHeader;
  for (const auto& d : decls) source += d.text;
  crm::DriverOptions o;
  auto front = crm::compile({{"diff.crm", source}}, o);
  ASSERT_TRUE(front->sink.diagnostics().empty())
      << crm::diag::render_text(front->sink.diagnostics(), front->program.sources, {false});
  // Point each value segment at its `fN()` call, so its unit computes the function's value.
  std::map<std::string, const crm::ast::Expr*> expr_of;
  for (auto& m : front->program.modules) {
    if (m.is_std) continue;
    for (crm::ast::Decl* d : m.ast->decls) {
      if (d->kind != crm::ast::DeclKind::Segment) continue;
      auto* s = static_cast<crm::ast::SegmentDecl*>(d);
      if (s->name[0] == 'v') s->value = static_cast<crm::ast::BinaryExpr*>(s->value)->lhs;
      expr_of[s->name] = s->value;
    }
  }
  crm::codegen::Output compiled = crm::codegen::generate(front->program);
  ASSERT_EQ(compiled.error, "");
  std::string verr;
  ASSERT_TRUE(crm::bytecode::verify(compiled.program, verr)) << verr;
  const auto& prog = compiled.program;
  std::map<std::string, uint32_t> unit_of, batch_unit_of;
  for (const auto& s : prog.segments) unit_of[s.name] = s.unit;
  for (const auto& s : prog.segments) batch_unit_of[s.name] = s.batch_unit;
#if CRM_HAVE_JIT
  // Both ways a user's program reaches native code: `jit` compiles each unit on its first use
  // (O2, what `crm run --jit` and CompiledProgram::with_jit() run), `eager_jit` compiles every
  // scalar unit up front with compile_all()'s cheap pipeline and FastISel, sharing code between
  // identical units (what with_jit(error, true) runs). Each is compared with the VM.
  std::string jit_error;
  auto jit = crm::jit::Jit::create(prog, jit_error);
  ASSERT_TRUE(jit) << jit_error;
  auto eager_jit = crm::jit::Jit::create(prog, jit_error);
  ASSERT_TRUE(eager_jit) << jit_error;
  ASSERT_TRUE(eager_jit->compile_all(jit_error)) << jit_error;
#endif
  size_t jit_comparisons = 0, jit_mismatches = 0;

  // Data: profiles (some users without one, some with missing optionals) and histories.
  crm::engine::Engine eng(prog);
  std::mt19937_64 rng(data_seed);
  auto r = [&](uint64_t n) { return rng() % n; };
  auto money = [&] {
    static const char* v[] = {"0", "0.01", "12.5", "99.99", "300", "1234.567891", "-20", "9000000000000",
                              "-9223372036854.775808"};
    return std::string(v[r(9)]);
  };
  auto dec = [&] {
    static const char* v[] = {"0", "0.5", "1.5", "-2.25", "0.000001", "3.333333", "100", "9000000000000.5",
                              "-9223372036854.775808"};
    return std::string(v[r(9)]);
  };
  auto integer = [&] {
    // The extremes are ordinary values (issue 9 item 19: INT64_MIN once meant "missing").
    static const char* v[] = {"0", "1", "2", "5", "-3", "42", "100", "4611686018427387904", "-9223372036854775807",
                              "-9223372036854775808"};
    return std::string(v[r(10)]);
  };
  auto str = [&] {
    static const char* v[] = {"a", "ab", "B", "Shanghai", "", "sh", "SH", "münchen", "ΑΘΗΝΑ", "\\ud83d\\ude00"};
    return "\"" + std::string(v[r(10)]) + "\"";
  };
  auto tier = [&] { static const char* v[] = {"Bronze", "Silver", "Gold"}; return "\"" + std::string(v[r(3)]) + "\""; };
  int64_t base = crm::testing::T("2026-01-01T00:00:00Z");
  const int64_t hour = 3600LL * 1000000;
  auto time_ = [&] { return "\"" + json_time(base + static_cast<int64_t>(r(24 * 120)) * hour) + "\""; };
  auto date = [&] {
    static const char* v[] = {"2026-01-15", "2026-02-28", "2000-02-29", "1990-07-04", "2026-03-31", "1970-01-01"};
    return "\"" + std::string(v[r(6)]) + "\"";
  };
  // The longest durations carry any time or date out of the years 0001-9999: a fault in every engine alike.
  auto dur = [&] {
    static const char* v[] = {"0", "60", "86400", "259200", "-3600", "1.5", "315537897600", "-315537897600"};
    return std::string(v[r(8)]);
  };
  auto boolean = [&] { return std::string(r(2) ? "true" : "false"); };

  std::vector<std::string> users;
  for (int u = 0; u < kUsers; ++u) users.push_back("u" + std::to_string(u));
  for (int u = 0; u < kUsers; ++u) {
    if (u % 10 == 9) continue;  // known from events only: defaults and missing fields
    auto maybe = [&](const char* name, const std::string& v) { return r(3) ? std::string(",\"") + name + "\":" + v : std::string(); };
    std::string line = "{\"user\":\"" + users[u] + "\",\"vip\":" + boolean() + ",\"age\":" + integer() + ",\"score\":" + dec() +
                       ",\"balance\":" + money() + ",\"city\":" + str() + ",\"tier\":" + tier() + ",\"joined\":" + time_() +
                       ",\"birthday\":" + date() + ",\"wait\":" + dur() + maybe("flag", boolean()) + maybe("bonus", integer()) +
                       maybe("rate", dec()) + maybe("credit", money()) + maybe("nick", str()) + maybe("tier2", tier()) +
                       maybe("seen", time_()) + maybe("anniv", date()) + maybe("grace", dur()) + "}";
    std::string err;
    ASSERT_TRUE(eng.load_profile_line(line, err)) << line << ": " << err;
  }
  struct Ev { int64_t time; std::string line; };
  std::vector<Ev> events;
  int id = 0;
  for (int u = 0; u < kUsers; ++u) {
    if (u % 10 == 8) continue;  // profile only, no history
    int n = static_cast<int>(r(12));
    for (int k = 0; k < n; ++k) {
      int64_t t = base + static_cast<int64_t>(r(24 * 90)) * hour;
      auto maybe = [&](const char* name, const std::string& v) {
        int x = static_cast<int>(r(3));
        return x == 0 ? std::string(",\"") + name + "\":" + v : x == 1 ? std::string(",\"") + name + "\":null" : std::string();
      };
      std::string line = "{\"type\":\"Order\",\"id\":\"e" + std::to_string(id++) + "\",\"user\":\"" + users[u] + "\",\"time\":\"" +
                         json_time(t) + "\",\"paid\":" + boolean() + ",\"items\":" + integer() + ",\"ratio\":" + dec() +
                         ",\"amount\":" + money() + ",\"shop\":" + str() + ",\"rank\":" + tier() + ",\"day\":" + date() +
                         ",\"spent\":" + dur() + maybe("gift", boolean()) + maybe("pts", integer()) + maybe("tax", dec()) +
                         maybe("tip", money()) + maybe("note", str()) + maybe("grade", tier()) + maybe("shipped", time_()) +
                         maybe("due", date()) + maybe("delay", dur()) +
                         (r(4) == 0 ? std::string(",\"coupon\":\"") + (r(2) ? "DC" : "dc") + "\"" : std::string()) + "}";
      events.push_back({t, line});
    }
  }
  std::stable_sort(events.begin(), events.end(), [](const Ev& a, const Ev& b) { return a.time < b.time; });
  // Events are decided by the header's strategies, so users have a delivery history; the
  // reference evaluator counts it from the decisions themselves (one record per delivery: the
  // granted or held actions of one strategy at one event; one per redemption).
  std::map<std::string, std::vector<crm::vm::HistoryRecord>> history;
  size_t deliveries = 0, redemptions = 0;
  for (const auto& e : events) {
    crm::engine::Event ev;
    std::string err;
    ASSERT_TRUE(eng.parse_event(e.line, ev, err)) << e.line << ": " << err;
    std::vector<crm::engine::Decision> out;
    ASSERT_TRUE(eng.process(ev, out, err)) << err;
    auto n = crm::testing::record_history(prog, out, history);
    deliveries += n.deliveries;
    redemptions += n.redemptions;
  }
  EXPECT_GT(deliveries, 0u);
  EXPECT_GT(redemptions, 0u);
  users.push_back("stranger");  // neither profile nor history

  int64_t now = crm::testing::T("2026-04-01T00:00:00Z");
  crm::vm::AstEvaluator ast(front->program, compiled);
  std::vector<int64_t> default_profile;
  std::vector<uint8_t> default_present;
  for (const auto& f : prog.profile) {
    default_profile.push_back(f.has_default ? f.default_value : 0);
    default_present.push_back(f.has_default || default_present.empty());
  }
  size_t comparisons = 0, errors = 0, mismatches = 0;
  std::map<std::string, size_t> error_kinds;
  std::vector<std::set<std::string>> outcomes(decls.size());  // distinct results per expression
  for (const auto& user : users) {
    std::vector<int64_t> stranger_profile = default_profile;
    crm::vm::AstEnv env;
    const auto profile = eng.profile_of(user);
    const auto profile_present = eng.profile_present_of(user);
    env.profile = profile ? &*profile : nullptr;
    env.profile_present = profile_present ? &*profile_present : nullptr;
    if (!env.profile) {
      stranger_profile[0] = eng.strings().intern(user);
      env.profile = &stranger_profile;
      env.profile_present = &default_present;
    }
    env.now = now;
    env.zone = &prog.zone;
    env.strings = &eng.strings();
    env.collections = &eng.collections();
    env.aggregate = [&](uint32_t g) { return eng.aggregate_of(user, g, now); };
    static const std::vector<crm::vm::HistoryRecord> kNoHistory;
    env.history = history.count(user) ? &history[user] : &kNoHistory;
#if CRM_HAVE_JIT
    // The scalar JIT in the context the engine gives the VM for a segment.
    crm::vm::Context jctx;
    jctx.profile = env.profile->data();
    jctx.profile_present = env.profile_present ? env.profile_present->data() : nullptr;
    jctx.profile_size = env.profile->size();
    jctx.now = now;
    jctx.zone = &prog.zone;
    jctx.strings = &eng.strings();
    jctx.collections = &eng.collections();
    EngineAggregates jagg;
    jagg.get = [&](uint32_t g, int64_t at) { return eng.aggregate_of(user, g, at); };
    jctx.aggregates = &jagg;
#endif
    for (size_t di = 0; di < decls.size(); ++di) {
      const Decl& d = decls[di];
      int64_t vm_value = 0, ast_value = 0;
      bool vm_has = true, ast_has = true;
      std::string vm_err, ast_err;
      bool vm_ok = eng.evaluate(unit_of.at(d.segment), user, now, vm_value, vm_err, &vm_has);
      bool ast_ok = ast.eval(expr_of.at(d.segment), env, ast_value, ast_err, &ast_has);
      ++comparisons;
      if (!vm_ok) { ++errors; ++error_kinds[vm_err]; }
      auto show = [](bool ok, bool has, int64_t v, const std::string& e) {
        return !ok ? "error: " + e : has ? std::to_string(v) : std::string("none");
      };
      outcomes[di].insert(show(vm_ok, vm_has, vm_value, vm_err));
      bool same = show(vm_ok, vm_has, vm_value, vm_err) == show(ast_ok, ast_has, ast_value, ast_err);
      if (!same && ++mismatches <= 15)
        ADD_FAILURE() << "user " << user << ", " << d.text << "  VM:  " << show(vm_ok, vm_has, vm_value, vm_err)
                      << "\n  AST: " << show(ast_ok, ast_has, ast_value, ast_err);
#if CRM_HAVE_JIT
      for (crm::jit::Jit* j : {jit.get(), eager_jit.get()}) {
        crm::vm::Result jr = j->run(unit_of.at(d.segment), jctx);
        bool jit_ok = jr.status == crm::vm::Status::Ok;
        ++jit_comparisons;
        if (show(jit_ok, jr.present, jr.value, jit_ok ? "" : jr.error) != show(vm_ok, vm_has, vm_value, vm_err) &&
            ++jit_mismatches <= 15)
          ADD_FAILURE() << "user " << user << ", " << d.text << "  VM:  " << show(vm_ok, vm_has, vm_value, vm_err)
                        << "\n  JIT (" << (j == jit.get() ? "compiled on first use" : "compile_all") << "): "
                        << show(jit_ok, jr.present, jr.value, jit_ok ? "" : jr.error);
      }
#endif
    }
  }
  // The batch VM (used for audiences) must agree with the scalar VM user by user; compared
  // through the counts of users for whom each segment is non-zero (faults count as no match).
  {
    std::map<std::string, int64_t> scalar_counts;
    for (const auto& user : eng.users()) {  // audiences cover exactly the known users
      for (const Decl& d : decls) {
        int64_t v = 0;
        std::string e;
        if (eng.evaluate(unit_of.at(d.segment), user, now, v, e) && v != 0) ++scalar_counts[d.segment];
      }
    }
    size_t batch_mismatches = 0;
    std::map<std::string, std::string> text_of;
    for (const Decl& d : decls) text_of[d.segment] = d.text;
    for (const auto& [name, count] : eng.audience(now)) {
      if (!text_of.count(name)) continue;  // the fixed helper segments
      int64_t expected = scalar_counts.count(name) ? scalar_counts[name] : 0;
      if (count != expected && ++batch_mismatches <= 10)
        ADD_FAILURE() << "batch VM counts " << count << " users for " << name << ", scalar VM " << expected << ": "
                      << text_of[name];
    }
    EXPECT_EQ(batch_mismatches, 0u);
  }
#if CRM_HAVE_JIT
  // The batch JIT over the known users' profile columns: row by row against the scalar VM, and
  // unit by unit against the batch VM (matches, errors and every row's value).
  {
    const auto& us = eng.users();
    size_t rows = us.size(), nf = prog.profile.size();
    std::vector<std::vector<int64_t>> colv(nf, std::vector<int64_t>(rows));
    std::vector<std::vector<uint8_t>> colp(nf, std::vector<uint8_t>(rows, 1));
    for (size_t i = 0; i < rows; ++i) {
      const auto pv = eng.profile_of(us[i]);
      const auto pp = eng.profile_present_of(us[i]);
      for (size_t f = 0; f < nf; ++f) {
        colv[f][i] = f < pv->size() ? (*pv)[f] : 0;
        colp[f][i] = pp && f < pp->size() ? (*pp)[f] : 1;
      }
    }
    std::vector<crm::vm::Column> cols(nf);
    for (size_t f = 0; f < nf; ++f) cols[f] = {colv[f].data(), 8, colp[f].data()};
    struct AggCtx { crm::engine::Engine* eng; const std::vector<std::string>* users; };
    AggCtx actx{&eng, &us};
    crm::vm::BatchInput in;
    in.columns = cols.data();
    in.column_count = cols.size();
    in.rows = rows;
    in.now = now;
    in.zone = &prog.zone;
    in.strings = &eng.strings();
    in.collections = &eng.collections();
    in.aggregate_state = &actx;
    in.aggregate = [](void* st, size_t row, uint32_t g, int64_t at) {
      auto* a = static_cast<AggCtx*>(st);
      return a->eng->aggregate_of((*a->users)[row], g, at);
    };
    crm::vm::BatchVM bvm(prog);
    crm::engine::VmExecutor vm_exec(prog);
    std::string exec_error;
    auto jit_exec = crm::jit::JitExecutor::create(prog, exec_error);
    ASSERT_TRUE(jit_exec) << exec_error;
    size_t bm = 0;
    for (const Decl& d : decls) {
      uint32_t bu = batch_unit_of.at(d.segment);
      std::vector<std::string> jit_rows = batch_jit_rows(*jit, bu, in);
      ASSERT_EQ(jit_rows.size(), rows);
      for (size_t i = 0; i < rows; ++i) {
        int64_t v = 0;
        bool has = true;
        std::string e;
        bool ok = eng.evaluate(unit_of.at(d.segment), us[i], now, v, e, &has);
        std::string expect = ok ? std::to_string(has ? v : 0) : std::string("error");
        ++total.batch_comparisons;
        if (jit_rows[i] != expect && ++bm <= 10)
          ADD_FAILURE() << "user " << us[i] << ", " << d.text << "  scalar VM: " << expect << "\n  batch JIT: " << jit_rows[i];
      }
      std::vector<int64_t> jv, bv;
      crm::vm::BatchResult jr = jit->run_batch(bu, in, &jv), br = bvm.run(bu, in, &bv);
      total.batch_comparisons += rows;
      if ((jr.matches != br.matches || jr.errors != br.errors || jv != bv) && ++bm <= 10)
        ADD_FAILURE() << d.text << "  batch VM: " << br.matches << " matches, " << br.errors << " errors\n  batch JIT: "
                      << jr.matches << " matches, " << jr.errors << " errors";
      // The executor's selection code (bitmap words per block) against the VM executor's.
      crm::engine::BatchSelection js, vs;
      js.bitmaps = vs.bitmaps = true;
      jit_exec->run_batch(bu, in, js);
      vm_exec.run_batch(bu, in, vs);
      total.batch_comparisons += rows;
      if ((js.matches != vs.matches || js.faults != vs.faults || js.selected != vs.selected || js.faulted != vs.faulted) &&
          ++bm <= 10)
        ADD_FAILURE() << d.text << "  VM executor: " << vs.matches << " selected, " << vs.faults
                      << " faulted\n  JIT executor: " << js.matches << " selected, " << js.faults << " faulted";
    }
    total.batch_mismatches += bm;
    EXPECT_EQ(bm, 0u);
  }
  // compile_all() compiled scalar code only, and every segment's unit ran that code above: no
  // scalar unit of the eager Jit was compiled on its first use (which would have been O2 code,
  // the lazy Jit's, and left compile_all()'s code unchecked). The lazy Jit compiled every unit
  // it ran that way.
  {
    crm::jit::Stats es = eager_jit->stats();
    EXPECT_GT(es.scalar_units, 0u);
    EXPECT_EQ(es.first_use_scalar_units, 0u) << "the eager Jit compiled units on first use, not compile_all()'s code";
    EXPECT_EQ(es.batch_units, 0u);
    EXPECT_GT(jit->stats().first_use_scalar_units, 0u);
    total.jit_compile_seconds += jit->stats().compile_seconds + es.compile_seconds;
    total.shared_units += es.shared_units;
    total.shape_units += es.shape_units;
    total.shapes += es.shapes;
  }
#endif
  size_t varying = 0;
  for (const auto& o : outcomes) varying += o.size() > 1;
  std::cout << "[ differential ] seed " << gen_seed << "/" << data_seed << ": " << decls.size() << " expressions (" << retries << " regenerated), " << users.size()
            << " users, " << events.size() << " events, " << prog.aggregates.size() << " aggregates: " << comparisons
            << " comparisons, " << errors << " evaluation errors, " << mismatches << " mismatches; " << varying << " expressions vary across users\n";
  for (const auto& [k, n] : error_kinds) std::cout << "[ differential ]   " << n << " x " << k << "\n";
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(comparisons, decls.size() * users.size());
  EXPECT_EQ(jit_mismatches, 0u);
  total.jit_comparisons += jit_comparisons;
  total.jit_mismatches += jit_mismatches;
  total.comparisons += comparisons;
  total.errors += errors;
  for (auto f : {crm::bytecode::ops::Fault::TimeRange, crm::bytecode::ops::Fault::DateRange})
    if (auto it = error_kinds.find(crm::bytecode::ops::fault_text(f)); it != error_kinds.end()) total.range_errors += it->second;
  total.mismatches += mismatches;
  total.varying += varying;
  total.exprs += decls.size();
}

}  // namespace

// One seed pair per test, so ctest runs them side by side and bounds each (the whole sweep was
// one test of 4-7 minutes, the longest of the suite by far). The first three pairs run again in
// zones east and west of UTC (one with daylight saving, changing within the data's months), so
// zone-dependent built-ins are compared too. CRM_DIFF_EXTRA_SEEDS=N, set when the tests are
// listed (gtest_discover_tests) or when the binary is run by hand, adds N pairs (long hunts).
namespace {

struct DiffSeed {
  uint64_t generator, data;
  std::string zone;  // "" for UTC
};

// What ctest lists after a test's name (gtest prints the object's bytes otherwise).
void PrintTo(const DiffSeed& s, std::ostream* os) {
  *os << s.generator << "/" << s.data << " " << (s.zone.empty() ? "UTC" : s.zone);
}

std::vector<DiffSeed> diff_seeds() {
  std::vector<DiffSeed> seeds = {{20260101, 7, ""},
                                 {42, 1234, ""},
                                 {977, 5, ""},
                                 {20260101, 7, "Asia/Shanghai"},
                                 {42, 1234, "America/New_York"},
                                 {977, 5, "-09:30"}};
  if (const char* extra = std::getenv("CRM_DIFF_EXTRA_SEEDS"))
    for (uint64_t i = 0, n = std::strtoull(extra, nullptr, 10); i < n; ++i) seeds.push_back({1000 + i, 5000 + i, ""});
  return seeds;
}

class DifferentialSeeds : public ::testing::TestWithParam<DiffSeed> {};

}  // namespace

TEST_P(DifferentialSeeds, VmAgreesWithTheAstEvaluator) {
  const DiffSeed& s = GetParam();
  Totals total;
  run_differential(s.generator, s.data, total, s.zone);
  if (HasFatalFailure()) return;
  std::cout << "[ differential ] total: " << total.exprs << " expressions, " << total.comparisons << " comparisons ("
            << total.errors << " agreed evaluation errors), " << total.mismatches << " mismatches\n";
#if CRM_HAVE_JIT
  std::cout << "[ differential ] JIT: " << total.jit_comparisons << " scalar JIT / scalar VM comparisons, "
            << total.jit_mismatches << " mismatches (half code compiled on first use, half compile_all()'s, "
            << total.shared_units << " units of which shared another's code, " << total.shape_units << " ran a shape of "
            << total.shapes << " with their own constants); " << total.batch_comparisons
            << " batch JIT / scalar VM and batch VM comparisons, " << total.batch_mismatches << " mismatches; "
            << "JIT compile " << total.jit_compile_seconds << " s\n";
  std::cout << "[ differential ] all engines: " << total.comparisons + total.jit_comparisons + total.batch_comparisons
            << " comparisons\n";
  EXPECT_EQ(total.jit_comparisons, 2 * total.comparisons);
  // The random programs have units differing only in constants, so the comparisons above
  // covered compile_all()'s shapes as well as units compiled with their constants.
  EXPECT_GT(total.shape_units, 0u);
#endif
  // The test must not pass on nothing: most expressions have to depend on the data.
  EXPECT_GE(total.comparisons, 300u * 51);
  EXPECT_GT(total.varying, total.exprs / 3);
  EXPECT_LT(total.errors, total.comparisons / 4);
  // Times and dates carried out of the years 0001-9999 by the data's longest durations.
  EXPECT_GT(total.range_errors, 0u);
}

INSTANTIATE_TEST_SUITE_P(Differential, DifferentialSeeds, ::testing::ValuesIn(diff_seeds()),
                         [](const ::testing::TestParamInfo<DiffSeed>& info) {
                           std::string name = "Seed" + std::to_string(info.param.generator) + "_" +
                                              std::to_string(info.param.data);
                           for (char c : info.param.zone.empty() ? std::string("_UTC") : "_" + info.param.zone)
                             name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

// ---- fixed cases -------------------------------------------------------------------------------
//
// Value-semantics cases found by replaying a peer's conformance suite (issue 9, items 19-21),
// each with the outcome every evaluator must give: the reference evaluator, the scalar VM, the
// batch VM (run here on a one-row block per user, so a fault is seen per segment) and, when
// built with it, the JIT's scalar and batch code.

namespace {

const char* kFixedHeader = R"(
enum Tier { Bronze, Silver, Gold }
profile {
  two: Int  zero: Int  i: Int  d: Decimal  half: Decimal  m: Money(CNY)  b: Bool  city: String  tier: Tier
  ints: Set<Int>  decs: Set<Decimal>  big: Set<Int>  names: Set<String>
  o: Int?  od: Decimal?  om: Money(CNY)?  odu: Duration?  mn: Int = 0
  li: List<Int> = []  ls: List<String> = []  ld: List<Int> = [3, 1, 2, 3]  sd: Set<Int> = {3, 1, 2, 3}
}
event Order { amount: Money(CNY)  tip: Money(CNY)? }
)";

struct FixedCase {
  const char* expr;
  const char* expected;  // "true", "false" or "error"
};

std::string outcome(bool ok, int64_t v) { return !ok ? "error" : v ? "true" : "false"; }

// `profile_line` may be empty (a user known only from events); `events` are Order lines of "u".
void run_fixed(const std::vector<FixedCase>& cases, const std::string& profile_line,
               const std::vector<std::string>& events = {}, const std::string& decls = "") {
  std::string source = std::string(kFixedHeader) + decls;
  for (size_t k = 0; k < cases.size(); ++k) source += "segment c" + std::to_string(k) + " = " + cases[k].expr + "\n";
  auto c = crm::testing::compile_text(source);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  crm::engine::Engine eng(c.program());
  std::string err;
  if (!profile_line.empty()) {
    ASSERT_TRUE(eng.load_profile_line(profile_line, err)) << err;
  }
  for (const auto& line : events) {
    crm::engine::Event ev;
    ASSERT_TRUE(eng.parse_event(line, ev, err)) << line << ": " << err;
    ASSERT_TRUE(eng.observe(ev, err)) << err;
  }
  const std::string user = "u";
  ASSERT_TRUE(eng.has_user(user));
  int64_t now = crm::testing::T("2026-04-01T00:00:00Z");
  crm::vm::AstEvaluator ast(c.front->program, c.out);
  crm::vm::AstEnv env;
  const auto profile = eng.profile_of(user);
  const auto profile_present = eng.profile_present_of(user);
  env.profile = &*profile;
  env.profile_present = &*profile_present;
  env.now = now;
  env.strings = &eng.strings();
  env.collections = &eng.collections();
  env.aggregate = [&](uint32_t g) { return eng.aggregate_of(user, g, now); };
  std::map<std::string, const crm::ast::Expr*> expr_of;
  for (auto& m : c.front->program.modules)
    if (!m.is_std)
      for (crm::ast::Decl* d : m.ast->decls)
        if (d->kind == crm::ast::DeclKind::Segment) expr_of[d->name] = static_cast<crm::ast::SegmentDecl*>(d)->value;
  // One-row columns of the user's profile for the batch VM.
  const auto& row = *profile;
  const auto& has = *profile_present;
  std::vector<crm::vm::Column> cols(row.size());
  for (size_t f = 0; f < row.size(); ++f) cols[f] = {&row[f], 8, &has[f]};
  crm::vm::BatchInput in;
  in.columns = cols.data();
  in.column_count = cols.size();
  in.rows = 1;
  in.now = now;
  in.strings = &eng.strings();
  in.collections = &eng.collections();
  struct AggCtx { crm::engine::Engine* eng; const std::string* user; };
  AggCtx actx{&eng, &user};
  in.aggregate_state = &actx;
  in.aggregate = [](void* st, size_t, uint32_t g, int64_t at) {
    auto* a = static_cast<AggCtx*>(st);
    return a->eng->aggregate_of(*a->user, g, at);
  };
  crm::vm::BatchVM batch(c.program());
#if CRM_HAVE_JIT
  std::string jit_error;
  auto jit = crm::jit::Jit::create(c.program(), jit_error);
  ASSERT_TRUE(jit) << jit_error;
  crm::vm::Context jctx;
  jctx.profile = row.data();
  jctx.profile_present = has.data();
  jctx.profile_size = row.size();
  jctx.now = now;
  jctx.zone = &c.program().zone;
  jctx.strings = &eng.strings();
  jctx.collections = &eng.collections();
  EngineAggregates jagg;
  jagg.get = [&](uint32_t g, int64_t at) { return eng.aggregate_of(user, g, at); };
  jctx.aggregates = &jagg;
#endif
  for (size_t k = 0; k < cases.size(); ++k) {
    SCOPED_TRACE(std::string(cases[k].expr) + " with " + profile_line);
    std::string name = "c" + std::to_string(k);
    const crm::bytecode::Segment* seg = nullptr;
    for (const auto& s : c.program().segments) if (s.name == name) seg = &s;
    ASSERT_NE(seg, nullptr);
    int64_t v = 0;
    std::string e;
    bool ok = eng.evaluate(seg->unit, user, now, v, e);
    EXPECT_EQ(outcome(ok, v), cases[k].expected) << "scalar VM " << e;
    std::string ae;
    ok = ast.eval(expr_of.at(name), env, v, ae);
    EXPECT_EQ(outcome(ok, v), cases[k].expected) << "reference evaluator " << ae;
    std::vector<int64_t> values;
    auto r = batch.run(seg->batch_unit, in, &values);
    EXPECT_EQ(r.errors ? std::string("error") : outcome(true, values.at(0)), cases[k].expected) << "batch VM";
#if CRM_HAVE_JIT
    crm::vm::Result jr = jit->run(seg->unit, jctx);
    EXPECT_EQ(jr.status != crm::vm::Status::Ok ? std::string("error") : outcome(true, jr.value), cases[k].expected)
        << "scalar JIT " << (jr.error ? jr.error : "");
    std::vector<std::string> rows = batch_jit_rows(*jit, seg->batch_unit, in);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0] == "error" ? rows[0] : outcome(true, std::stoll(rows[0])), cases[k].expected) << "batch JIT";
#endif
  }
}

const char* kProfileLine =
    R"({"user":"u","two":2,"zero":0,"i":3,"d":3.0,"half":2.5,"m":3,"b":true,"city":"sh","tier":"Silver",)"
    R"("ints":[1,3,5],"decs":[1.5,3.0],"big":[1,9223372036854775807],"names":["a","sh"],)"
    R"("li":[3,1,2,3,3],"ls":["b","a","b"]})";

}  // namespace

// `and`/`or` evaluate left to right; an error on the left is an error, whatever the right side
// is, constant or not - in the checker's folding as in every evaluator.
TEST(Differential, FaultsUnderAndOrIfFollowEvaluationOrder) {
  run_fixed({{"(if two / zero > 3 then false else true) or true", "error"},
             {"(if two / zero > 3 then false else true) or b", "error"},
             {"(two / zero > 3) and false", "error"},
             {"(two / zero > 3) or 1 > 0", "error"},
             {"true or two / zero > 3", "true"},
             {"false and two / zero > 3", "false"},
             {"b or two / zero > 3", "true"},
             {"not b and two / zero > 3", "false"},
             {"b and two / zero > 3", "error"},
             {"if b then true else two / zero > 3", "true"},
             {"if not b then true else two / zero > 3", "error"},
             {"(if b then two else two / zero) > 1", "true"}},
            kProfileLine);
}

// Date and time arithmetic far outside the calendar: a time or date carried out of the years
// 0001-9999 is an error in every evaluator (before, `now() + 100000000 days` was year 275,000 and
// a Date - Date of two such dates overflowed a Duration), and the instants up to the bounds are
// values.
TEST(Differential, DateAndTimeArithmeticOutsideTheCalendarIsAnError) {
  run_fixed({{"date(now() + 100000000 days) - date(now() - 100000000 days) > 0 days", "error"},
             {"date(now() - 100000000 days) - date(now() + 100000000 days) < 0 days", "error"},
             {"date(now() + 100000000 days) - today() > 0 days", "error"},
             {"today() - date(now() - 100000000 days) > 0 days", "error"},
             {"today() + 100000000 days > today()", "error"},
             {"today() - 100000000 days < today()", "error"},
             {"now() + 2930000 days > now()", "error"},
             {"now() - 740000 days < now()", "error"},
             {"today() + 2930000 days > today()", "error"},
             {"today() - 740000 days < today()", "error"},
             {"now() + 2900000 days > now()", "true"},
             {"now() - 700000 days < now()", "true"},
             {"today() + 2900000 days > today()", "true"},
             {"date(now() + 2900000 days) - date(now() - 700000 days) > 0 days", "true"}},
            kProfileLine);
}

// Membership is `==` against each element, for every pair of types the checker accepts.
TEST(Differential, MembershipComparesAsEquality) {
  run_fixed({{"d in [5, 4, 3, 2, 1]", "true"},
             {"d == 3", "true"},
             {"d not in [5, 4, 3, 2, 1]", "false"},
             {"i in [1.5, 3.0]", "true"},
             {"i == 3.0", "true"},
             {"half in {1, 2, 3}", "false"},
             {"half in {2.5, 7}", "true"},
             {"d in [two + 1, 7]", "true"},
             {"i in [d, 7.5]", "true"},
             {"d in ints", "true"},
             {"half in ints", "false"},
             {"i in decs", "true"},
             {"two in decs", "false"},
             {"d in big", "error"},
             {"d == 9223372036854775807", "error"},
             {"d in [1, 9223372036854775807]", "error"},
             {"i in big", "false"},
             {"m in [3 CNY, 4 CNY]", "true"},
             {"m in [3.5 CNY]", "false"},
             {"city in names", "true"},
             {"city in {\"SH\", \"bj\"}", "false"},
             {"tier in {Silver, Gold}", "true"},
             {"o in [1, 2]", "false"},
             {"od in [1, 2]", "false"},
             {"o not in [1, 2]", "true"}},
            kProfileLine);
}

// A List<T> keeps duplicates (from JSON, a default or a literal): len counts every element, in
// every evaluator; a Set<T> counts each value once. The reference evaluator makes its own
// constant lists and sets from the checked tree, apart from the VMs' collection store.
TEST(Differential, ListsCountDuplicatesAndSetsDoNot) {
  run_fixed({{"len(li) == 5", "true"},
             {"len(ls) == 3", "true"},
             {"len(ld) == 4", "true"},
             {"len(sd) == 3", "true"},
             {"len([3, 1, 2, 3]) == 4", "true"},
             {"len({3, 1, 2, 3}) == 3", "true"},
             {"len([1, 1.0, 2.5]) == 3", "true"},
             {"len({1, 1.0, 2.5}) == 2", "true"},
             // An untyped `len([])` is E0426 (no element type); a `[]` typed by `in` still runs.
             {"len(li) == 5 and 2 not in []", "true"},
             {"2 in li", "true"},
             {"4 in li", "false"},
             {"i in li", "true"},
             {"d in li", "true"},
             {"half in li", "false"},
             {"\"a\" in ls", "true"},
             {"city not in ls", "true"},
             {"3 not in ld", "false"},
             {"1 in sd", "true"}},
            kProfileLine);
}

// `==`/`!=` with an empty `{}`/`[]` typed by the other operand is an emptiness test, alike in
// the reference evaluator, the VM and the JIT (it was E0426, "element type cannot be known").
TEST(Differential, ComparingWithAnEmptyCollectionTestsEmptiness) {
  run_fixed({{"ints == {}", "true"},
             {"{} == ints", "true"},
             {"ints != {}", "false"},
             {"names == {}", "false"},
             {"{} != names", "true"},
             {"li == []", "true"},
             {"ld == []", "false"},
             {"[] != ld", "true"},
             {"sd == {}", "false"},
             {"ints == {} and names != {} and not (ls != [])", "true"}},
            R"({"user":"u","two":2,"zero":0,"i":3,"d":3.0,"half":2.5,"m":3,"b":true,"city":"sh","tier":"Silver",)"
            R"("ints":[],"decs":[1.5],"big":[1],"names":["a"]})");
}

// Presence is never encoded in the value: INT64_MIN (and the most negative Decimal, Money and
// Duration) is an ordinary value of a present field, and an absent field equals no value.
TEST(Differential, TheMostNegativeValueIsAValueNotAMissingOne) {
  auto cases_present = std::vector<FixedCase>{
      {"(o ?? 20) == 20", "false"},
      {"(o ?? 20) < 0", "true"},
      {"o == -9223372036854775807 - 1", "true"},
      {"o == mn", "true"},
      {"o in [1, -9223372036854775807 - 1]", "true"},
      {"mn == -9223372036854775807 - 1", "true"},
      {"mn < 0", "true"},
      {"-mn > 0", "error"},
      {"(od ?? 1.5) < 0", "true"},
      {"od == od", "true"},
      {"(om ?? 1 CNY) < 0 CNY", "true"},
      {"(odu ?? 1 second) < 0 seconds", "true"},
      {"(if b then o else 3) == mn", "true"},
      {"(o ?? od) == od", "error"},  // widening INT64_MIN to a Decimal overflows
  };
  run_fixed(cases_present,
            R"({"user":"u","two":2,"zero":0,"i":3,"d":3.0,"half":2.5,"m":3,"b":true,"city":"sh","tier":"Silver",)"
            R"("ints":[1],"decs":[1.5],"big":[1],"names":["a"],"o":-9223372036854775808,"od":"-9223372036854.775808",)"
            R"("om":"-9223372036854.775808","odu":-9223372036854.775808,"mn":-9223372036854775808})");
  auto cases_absent = std::vector<FixedCase>{
      {"(o ?? 20) == 20", "true"},
      {"o == -9223372036854775807 - 1", "false"},
      {"o == mn", "false"},
      {"o != mn", "true"},
      {"o in [1, -9223372036854775807 - 1]", "false"},
      {"o not in [1, 2]", "true"},
      {"o == od", "true"},  // absent equals absent
      {"(od ?? 1.5) == 1.5", "true"},
      {"(o ?? od) == od", "true"},
      {"((o ?? od) ?? 2) == 2", "true"},
      {"(if b then o else 3) == mn", "false"},
      {"mn == -9223372036854775807 - 1", "true"},
  };
  run_fixed(cases_absent,
            R"({"user":"u","two":2,"zero":0,"i":3,"d":3.0,"half":2.5,"m":3,"b":true,"city":"sh","tier":"Silver",)"
            R"("ints":[1],"decs":[1.5],"big":[1],"names":["a"],"mn":-9223372036854775808})");
}

// A user known only from events: required fields without a default have no value (an error to
// read), defaults and optionals behave as written; aggregates of values at the extremes.
TEST(Differential, AggregatesAndUsersKnownOnlyFromEventsKeepPresenceApart) {
  auto order = [](int n, const char* amount, const char* tip) {
    return std::string(R"({"type":"Order","id":"e)") + std::to_string(n) + R"(","user":"u","time":"2026-03-0)" +
           std::to_string(n) + R"(T00:00:00Z","amount":)" + amount + (tip ? std::string(R"(,"tip":)") + tip : "") + "}";
  };
  run_fixed({{"two == 2", "error"},
             {"(o ?? 20) == 20", "true"},
             {"mn == 0", "true"},
             {"(last(Order).amount ?? 5 CNY) == 10 CNY", "true"},
             {"(last(Order where amount > 10 CNY).amount ?? 5 CNY) == 5 CNY", "true"},
             {"(min(Order.tip) ?? 5 CNY) == 5 CNY", "true"},
             {"(avg(Order.tip) ?? 5 CNY) == 5 CNY", "true"},
             {"count(Order) == 1", "true"}},
            "", {order(1, "10", nullptr)});
  run_fixed({{"(last(Order).amount ?? 5 CNY) < 0 CNY", "true"},
             {"(first(Order).tip ?? 5 CNY) < 0 CNY", "true"},
             {"(last(Order).tip ?? 5 CNY) == 5 CNY", "true"},
             {"(min(Order.amount) ?? 5 CNY) < 0 CNY", "true"},
             {"(max(Order.tip) ?? 5 CNY) < 0 CNY", "true"},
             {"last(Order.tip) == first(Order.tip)", "false"},
             {"sum(Order.amount) < 0 CNY", "error"},  // overflows: an error, not a value
             {"(avg(Order.tip) ?? 0 CNY) < 0 CNY", "true"},
             {"count(Order) == 2", "true"}},
            "", {order(1, "\"-9223372036854.775808\"", "\"-9223372036854.775808\""), order(2, "-1", nullptr)});
}

// A field compared with itself: the checker folded `two == two` to `true` (and `two > two` to
// `false`), so a user known only from events, who has no `two` (required, no default), was
// selected where every evaluator reads the field and fails. It folds only where every user has
// a value (`mn` has a default, `o` is optional: absent equals absent), and every evaluator agrees.
TEST(Differential, AFieldComparedWithItselfFailsWhereReadingTheFieldFails) {
  const std::string visit = R"({"type":"Order","id":"e1","user":"u","time":"2026-03-01T00:00:00Z","amount":10})";
  run_fixed({{"two == two", "error"},
             {"two >= two", "error"},
             {"two <= two", "error"},
             {"two != two", "error"},
             {"two > two", "error"},
             {"city == city", "error"},
             {"not (tier != tier)", "error"},
             {"two == two or true", "error"},
             {"false and two == two", "false"},
             {"mn == mn", "true"},
             {"mn > mn", "false"},
             {"o == o", "true"},
             {"o != o", "false"}},
            "", {visit});
  run_fixed({{"two == two", "true"}, {"two > two", "false"}, {"city != city", "false"}, {"tier == tier", "true"}},
            kProfileLine);
}

// A function's arguments are evaluated before its body, so one that fails fails the call, read
// or not: dead-code elimination dropped the load of an argument the body never read (`ignore(two)`
// was true for a user without `two`), and the batch VM and the JIT dropped the fault of one read
// only in an untaken `if` branch or on the right of an `and`.
TEST(Differential, AFunctionsFailingArgumentFailsTheCallReadOrNot) {
  const std::string visit = R"({"type":"Order","id":"e1","user":"u","time":"2026-03-01T00:00:00Z","amount":10})";
  const std::string fns =
      "fn ignore(x: Int): Bool = true\n"
      "fn pick(x: Int, c: Bool): Int = if c then x else 0\n"
      "fn guard(c: Bool, x: Int): Bool = c and x > 1\n"
      "fn widen(x: Decimal): Bool = true\n"
      "fn twice(x: Int): Bool = ignore(x) and true\n";
  run_fixed({{"ignore(two)", "error"},
             {"pick(two, false) == 0", "error"},
             {"guard(false, two)", "error"},
             {"twice(two)", "error"},
             {"ignore(mn)", "true"},
             {"pick(mn, false) == 0", "true"},
             {"widen(two / zero)", "error"},
             {"ignore(1)", "true"}},
            "", {visit}, fns);
  run_fixed({{"ignore(two)", "true"}, {"pick(two, false) == 0", "true"}, {"guard(false, two)", "false"},
             {"widen(two / zero)", "error"}, {"widen(two * 5000000000000)", "error"},
             {"widen(two)", "true"}},
            kProfileLine, {}, fns);
}

// ---- strategy values -----------------------------------------------------------------------
//
// `value:` (issue 13 item 8) is an expression of the strategy, evaluated per user and trigger
// event by the engine's executor. Random Money and Decimal values (over the profile, history and
// the trigger event's fields) are decided by engines on the VM and, when built with it, on the
// JIT; every decision's value, and every strategy left out by a fault in its value, must be
// what the reference evaluator computes for that user and event.

namespace {

void run_value_differential(uint64_t seed, Ty type, size_t& compared, size_t& faults) {
  constexpr int kValues = 40, kUsers = 30;
  Gen gen(seed);
  gen.delivery_history = false;
  const std::string resource = "resource points p { amount: 1 }\n";
  std::vector<std::string> strategies;
  for (int n = 0; n < kValues; ++n) {
    for (int attempt = 0;; ++attempt) {
      ASSERT_LT(attempt, 200) << "cannot generate a clean value " << n;
      std::string x = gen.g(type, 3);
      // The trigger event's fields: bare names under `on Order`.
      switch (gen.r(4)) {
        case 0: x = "(" + x + ") + " + (type == M ? "amount" : "ratio"); break;
        case 1: x = "(" + x + ") - " + (type == M ? "amount" : "ratio") + " * ratio"; break;
        case 2: x = "(" + x + ") * (items / 3)"; break;
        default: break;
      }
      std::string text = "strategy v" + std::to_string(n) + " { who: true  when: on Order  what: grant p  value: " + x + " }\n";
      std::string diags;
      if (clean(resource + text, diags)) {
        strategies.push_back(text);
        break;
      }
      // A Decimal from the generator may come out as an all-Int expression (E0520): regenerated.
      if (diags.find("error[E0520]") != std::string::npos && diags.find("found `Int`") != std::string::npos) continue;
      ASSERT_TRUE(tolerated(diags)) << "the generator wrote a value the checker rejects:\n" << text << diags;
    }
  }
  std::string source = std::string(kHeader) + resource;
  for (const auto& s : strategies) source += s;
  crm::DriverOptions o;
  auto front = crm::compile({{"diff.crm", source}}, o);
  ASSERT_FALSE(front->sink.has_errors()) << crm::diag::render_text(front->sink.diagnostics(), front->program.sources, {false});
  std::map<std::string, const crm::ast::Expr*> value_of;
  for (auto& m : front->program.modules) {
    if (m.is_std) continue;
    for (crm::ast::Decl* d : m.ast->decls)
      if (d->kind == crm::ast::DeclKind::Strategy)
        for (const crm::ast::Clause* c : static_cast<crm::ast::StrategyDecl*>(d)->clauses)
          if (c->kind == crm::ast::ClauseKind::Value) value_of[d->name] = c->expr;
  }
  crm::codegen::Output compiled = crm::codegen::generate(front->program);
  ASSERT_EQ(compiled.error, "");
  const auto& prog = compiled.program;
  std::vector<std::shared_ptr<crm::engine::Executor>> executors{nullptr};
#if CRM_HAVE_JIT
  std::string jit_error;
  // Dispatchers compiled on the deciding thread: the run then surely goes through them from
  // the list's third sight on (in the background it could end before they are published).
  crm::jit::Options sync;
  sync.background_dispatchers = false;
  auto jit = crm::jit::JitExecutor::create(prog, jit_error, false, sync);
  ASSERT_TRUE(jit) << jit_error;
  executors.push_back(jit);
#endif
  for (const auto& ex : executors) {
    crm::engine::Engine eng(prog, {ex});
    crm::vm::AstEvaluator ast(front->program, compiled);
    std::mt19937_64 rng(seed * 31 + 7);
    auto r = [&](uint64_t n) { return rng() % n; };
    static const char* money[] = {"0", "12.5", "99.99", "300", "-20", "9000000000000"};
    static const char* dec[] = {"0", "0.5", "1.5", "-2.25", "3.333333", "9000000000000.5"};
    static const char* ints[] = {"0", "1", "2", "5", "-3", "4611686018427387904"};
    int64_t t = crm::testing::T("2026-03-01T00:00:00Z");
    int id = 0;
    for (int u = 0; u < kUsers; ++u) {
      std::string user = "u" + std::to_string(u), err;
      if (u % 5 != 4) {
        ASSERT_TRUE(eng.load_profile_line("{\"user\":\"" + user + "\",\"vip\":true,\"age\":" + ints[r(6)] + ",\"score\":" + dec[r(6)] +
                                              ",\"balance\":" + money[r(6)] + ",\"city\":\"a\",\"tier\":\"Gold\",\"joined\":"
                                              "\"2026-01-01T00:00:00Z\",\"birthday\":\"2000-02-29\",\"wait\":60}",
                                          err))
            << err;
      }
      for (int k = 0, n = static_cast<int>(r(4)) + 1; k < n; ++k) {
        t += 3600LL * 1000000;
        std::string line = "{\"type\":\"Order\",\"id\":\"e" + std::to_string(id++) + "\",\"user\":\"" + user + "\",\"time\":\"" +
                           json_time(t) + "\",\"paid\":true,\"items\":" + ints[r(6)] + ",\"ratio\":" + dec[r(6)] +
                           ",\"amount\":" + money[r(6)] + ",\"shop\":\"a\",\"rank\":\"Gold\",\"day\":\"2026-01-15\",\"spent\":60" +
                           (r(2) ? ",\"tip\":" + std::string(money[r(6)]) : "") + "}";
        crm::engine::Event ev;
        ASSERT_TRUE(eng.parse_event(line, ev, err)) << line << ": " << err;
        std::vector<crm::engine::Decision> out;
        ASSERT_TRUE(eng.process(ev, out, err)) << err;
        std::map<std::string, const crm::engine::Decision*> decided;
        for (const auto& d : out) decided[prog.strategies[d.strategy].name] = &d;
        // The reference, in the context the engine decided in: the event applied, at its time.
        std::vector<int64_t> stranger(prog.profile.size(), 0);
        std::vector<uint8_t> stranger_present(prog.profile.size(), 0);
        crm::vm::AstEnv env;
        const auto profile = eng.profile_of(user);
        const auto profile_present = eng.profile_present_of(user);
        env.profile = profile ? &*profile : nullptr;
        env.profile_present = profile_present ? &*profile_present : nullptr;
        if (!env.profile) {
          stranger[0] = eng.strings().intern(user);
          stranger_present[0] = 1;
          for (size_t f = 0; f < prog.profile.size(); ++f)
            if (prog.profile[f].has_default) stranger[f] = prog.profile[f].default_value, stranger_present[f] = 1;
          env.profile = &stranger;
          env.profile_present = &stranger_present;
        }
        env.event = &ev.fields;
        env.event_present = &ev.present;
        env.now = ev.time;
        env.zone = &prog.zone;
        env.strings = &eng.strings();
        env.collections = &eng.collections();
        env.aggregate = [&](uint32_t g) { return eng.aggregate_of(user, g, ev.time); };
        for (const auto& [name, expr] : value_of) {
          int64_t v = 0;
          std::string e;
          bool ok = ast.eval(expr, env, v, e);
          auto it = decided.find(name);
          std::string engine_says = it == decided.end() ? "no decision" : it->second->has_value ? std::to_string(it->second->value) : "no value";
          std::string reference = ok ? std::to_string(v) : "no decision";
          ++compared;
          faults += !ok;
          EXPECT_EQ(engine_says, reference) << (ex ? ex->name() : "vm") << ", user " << user << ", event " << ev.id << ", " << name
                                            << ": " << crm::format::format_expr(expr) << (ok ? "" : " (reference: " + e + ")");
        }
      }
    }
  }
}

}  // namespace

TEST(Differential, StrategyValuesAgreeWithTheAstEvaluator) {
  size_t compared = 0, faults = 0;
  for (uint64_t seed : {11u, 12u, 13u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    run_value_differential(seed, M, compared, faults);
    run_value_differential(seed + 100, D, compared, faults);
  }
  std::cout << "[ differential ] strategy values: " << compared << " comparisons, " << faults << " agreed faults\n";
  EXPECT_GT(compared, 1000u);
  EXPECT_GT(faults, 0u);          // faults leave strategies out, and are compared too
  EXPECT_LT(faults, compared / 2);
}
