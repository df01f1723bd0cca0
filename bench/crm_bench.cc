// crm_bench.cc - the crm side of the benchmarks: the same data and truth as the baselines
// (bench_data.h), measured the way an embedder uses crm, printed in the shared line format so
// bench/run.sh can put them next to native C++, Lua 5.4, LuaJIT and SQLite.
//
//   1. predicate: one VM call per record through the embedding API (profile row in, Bool out)
//   2. audience:  the segment over 10M profiles, one VM call per profile (scalar path)
//   3. streaming: events through the engine against 10 .. 10,000 strategies
//   4. compile:   10,000 generated strategies checked and compiled; time and peak memory
//   5. conflicts: `crm check` of 10,000 strategies of one business (conflict analysis on), and
//                 the front end + code generation that `crm run` does before its first event
//   6. first_event: with the JIT, the latency of the first events that reach 1,000 and 10,000
//                 strategies (each unit compiled on its first use), next to the VM's
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/baselines_native_sqlite.h"
#include "bench/bench_harness.h"
#include "compiler/codegen/codegen.h"
#include "compiler/driver.h"
#include "runtime/engine/engine.h"
#include "runtime/state/state_store.h"
#include "runtime/vm/batch_vm.h"
#include "runtime/vm/vm.h"
#include "support/civil_time.h"
#if CRM_HAVE_JIT
#include "runtime/jit/jit.h"
#include "runtime/jit/jit_executor.h"
#endif

namespace {

using namespace crm;
using namespace crm::bench;

[[maybe_unused]] [[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "BENCH FAILURE: %s\n", why.c_str());
  std::exit(2);
}

struct Compiled {
  std::unique_ptr<Compilation> front;
  codegen::Output out;
};

Compiled compile(const std::string& source) {
  Compiled c;
  DriverOptions d;
  d.load.parse.max_file_bytes = size_t(1) << 30;  // 10,000 generated strategies are ~1.6 MB
  d.generate = true;
  c.front = crm::compile({{"bench.crm", source}}, d);
  if (c.front->sink.has_errors()) {
    for (const auto& d : c.front->sink.diagnostics()) std::fprintf(stderr, "%s\n", d.message.c_str());
    std::fprintf(stderr, "BENCH FAILURE: bench program does not check (%zu errors)\n", c.front->sink.error_count());
    std::exit(2);
  }
  if (!c.front->generated) {
    std::fprintf(stderr, "BENCH FAILURE: %s%s\n", c.front->codegen_error.c_str(), c.front->verify_error.c_str());
    std::exit(2);
  }
  c.out = std::move(c.front->code);
  return c;
}

#if CRM_HAVE_JIT
// CRM_BENCH_JIT_DUMP=DIR: the predicate and audience JITs keep their object code in DIR (the
// JIT's object cache), to read with objdump; the code and what is timed are the same.
jit::Options dump_options() {
  jit::Options jo;
  if (const char* dir = std::getenv("CRM_BENCH_JIT_DUMP")) jo.cache_dir = dir;
  return jo;
}

// Benchmark 1's predicate written by hand in the shape of the JIT's straight-line code for it
// (one test that the row covers the four fields and has no presence bytes, four loads, the
// test), reached through a function pointer the way Jit::run reaches native code: the
// `native/per_record_call` row, what any code behind one indirect call per record costs in the
// benchmark's loop. Not a general unit: it aborts on a row the benchmark never passes.
struct HandUnit {
  size_t of, cf, vf, af, need;
  int64_t mow, ru;
};
HandUnit g_hand;
[[gnu::noinline]] jit::ScalarOut hand_unit(const vm::Context* ctx) {
  const HandUnit& h = g_hand;
  if (ctx->profile_size < h.need || ctx->profile_present) std::abort();
  const int64_t* p = ctx->profile;
  bool where = (p[h.of] == h.mow) | (p[h.cf] == h.ru);
  bool what = (p[h.vf] >= kMinValue) | (p[h.af] == kOneAdult);
  return {int64_t(where & what), jit::ScalarOut::kPresent};
}
// volatile: loaded and called indirectly every record, the compiler cannot see which function
// it calls (so, as behind Jit::run, it assumes the call may write memory).
jit::ScalarFn volatile g_hand_fn = hand_unit;
#endif

uint32_t segment_unit(const bytecode::Program& p, const std::string& name) {
  for (const auto& s : p.segments) if (s.name == name) return s.unit;
  std::fprintf(stderr, "BENCH FAILURE: no segment %s\n", name.c_str());
  std::exit(2);
}

// Benchmark 1's loop: for each record the host writes the four fields into its row and makes one
// call. Its pointers and field indices are values held by the loop, as in an embedder's own loop:
// written inline in a lambda capturing by reference, g++ reloaded every capture after each call it
// cannot see into (28 loads and 5 stores a record around the JIT's 8), which is the harness's cost,
// not the evaluation's (docs/performance.md §7, session 12). All three rows that call through
// this loop (VM, JIT, hand-written C++ through a pointer) pay the same.
struct PredicateLoop {
  const std::vector<Record>& recs;
  int64_t* row;
  const int64_t* origin_id;
  const int64_t* country_id;
  int of, cf, vf, af;
  template <class Call>
  [[gnu::noinline]] uint64_t run(Call call) const {
    const Record* r = recs.data();
    const Record* end = r + recs.size();
    // Copied out of *this: the call may write any memory the compiler cannot rule out, so
    // members read through `this` would be reloaded every record.
    int64_t* const w = row;
    const int64_t* const oid = origin_id;
    const int64_t* const cid = country_id;
    const int o = of, c = cf, v = vf, a = af;
    uint64_t n = 0;
    for (; r != end; ++r) {
      w[o] = oid[r->origin_id];
      w[c] = cid[r->country_id];
      w[v] = r->value;
      w[a] = r->adults;
      n += call();
    }
    return n;
  }
};

void bench_predicate(const Options& o) {
  auto recs = make_records(o.records);
  uint64_t truth = expected_predicate_matches(recs);
  Compiled c = compile(R"(
profile { origin: String  country: String  value: Int  adults: Int }
segment s = (origin == "MOW" or country == "RU") and (value >= 100 or adults == 1)
)");
  const auto& prog = c.out.program;
  vm::VM vm(prog);
  vm::StringPool pool(prog.strings);
  vm::Context ctx;
  ctx.strings = &pool;
  vm.prepare(ctx);
  // The host interns its strings once (as it would keep ids for its own codes).
  std::vector<int64_t> origin_id, country_id;
  for (auto s : kOrigins) origin_id.push_back(pool.intern(s));
  for (auto s : kCountries) country_id.push_back(pool.intern(s));
  uint32_t unit = segment_unit(prog, "s");
  int of = prog.find_profile_field("origin"), cf = prog.find_profile_field("country");
  int vf = prog.find_profile_field("value"), af = prog.find_profile_field("adults");
  std::vector<int64_t> row(prog.profile.size(), 0);
  ctx.profile = row.data();
  ctx.profile_size = row.size();
  const PredicateLoop loop{recs, row.data(), origin_id.data(), country_id.data(), of, cf, vf, af};
  double secs = best_seconds("crm/vm_per_record", o.reps, truth, [&] {
    return loop.run([vmp = &vm, unit, &ctx] { return vmp->run(unit, ctx).value != 0; });
  });
  emit(per_eval("crm/vm_per_record", secs, recs.size(), truth));
#if CRM_HAVE_JIT
  // The same loop through the JIT's native code for the unit (compiled before timing).
  std::string jerr;
  auto jit = jit::Jit::create(prog, jerr, dump_options());
  if (!jit || !jit->scalar(unit, jerr)) fail(jerr);
  secs = best_seconds("crm/jit_per_record", o.reps, truth, [&] {
    return loop.run([j = jit.get(), unit, &ctx] { return j->run(unit, ctx).value != 0; });
  });
  emit(per_eval("crm/jit_per_record", secs, recs.size(), truth));
  emit(native_interned(recs, truth, o.reps));  // the same records, same process, right after
  // The same loop again, the call going to hand_unit through a function pointer: the floor of
  // this loop for any code reached by one indirect call per record (docs/performance.md §7).
  g_hand = {size_t(of), size_t(cf), size_t(vf), size_t(af), size_t(std::max({of, cf, vf, af})) + 1, pool.intern("MOW"),
            pool.intern("RU")};
  secs = best_seconds("native/per_record_call", o.reps, truth, [&] {
    return loop.run([&ctx] {
      jit::ScalarOut out = g_hand_fn(&ctx);
      return (out.flags & 0xff) == 0 && out.value != 0;
    });
  });
  emit(per_eval("native/per_record_call", secs, recs.size(), truth));
#endif
}

void bench_audience(const Options& o) {
  Profiles p = make_profiles(o.profiles);
  uint64_t truth = expected_audience_matches(p);
  std::string cities;
  for (size_t i = 0; i < kSegmentCities.size(); ++i) cities += (i ? ", " : "") + std::to_string(kSegmentCities[i]);
  Compiled c = compile(fmt::format(R"(
profile {{ age: Int  city: Int  member_level: Int  orders_30d: Int  days_since_last_order: Int }}
segment s = age between {} and {} and city in {{{}}} and member_level >= {} and orders_30d == 0
            and days_since_last_order > {}
)",
                                   kAgeLo, kAgeHi, cities, kMinMemberLevel, kMinDaysSinceOrder));
  const auto& prog = c.out.program;
  vm::VM vm(prog);
  vm::StringPool pool(prog.strings);
  vm::Context ctx;
  ctx.strings = &pool;
  vm.prepare(ctx);
  uint32_t unit = segment_unit(prog, "s");
  int fa = prog.find_profile_field("age"), fc = prog.find_profile_field("city");
  int fm = prog.find_profile_field("member_level"), fo = prog.find_profile_field("orders_30d");
  int fd = prog.find_profile_field("days_since_last_order");
  std::vector<int64_t> row(prog.profile.size(), 0);
  ctx.profile = row.data();
  ctx.profile_size = row.size();
  double secs = best_seconds("crm/vm_scalar_scan", o.reps, truth, [&] {
    uint64_t n = 0;
    for (size_t i = 0; i < p.size; ++i) {
      row[fa] = p.age[i];
      row[fc] = p.city[i];
      row[fm] = p.member_level[i];
      row[fo] = p.orders_30d[i];
      row[fd] = p.days_since_last_order[i];
      n += vm.run(unit, ctx).value != 0;
    }
    return n;
  });
  emit(per_second("crm/vm_scalar_scan", secs, p.size, truth));

  // The batch VM over the same int32 columns, block at a time: how audiences are counted.
  vm::BatchVM batch(prog);
  std::vector<vm::Column> cols(prog.profile.size());
  cols[fa] = {p.age.data(), 4};
  cols[fc] = {p.city.data(), 4};
  cols[fm] = {p.member_level.data(), 4};
  cols[fo] = {p.orders_30d.data(), 4};
  cols[fd] = {p.days_since_last_order.data(), 4};
  vm::BatchInput in;
  in.columns = cols.data();
  in.column_count = cols.size();
  in.rows = p.size;
  in.strings = &pool;
  uint32_t batch_unit = 0;
  for (const auto& s : prog.segments) if (s.name == "s") batch_unit = s.batch_unit;
  double bsecs = best_seconds("crm/batch_vm", o.reps, truth, [&] { return batch.run(batch_unit, in).matches; });
  emit(per_second("crm/batch_vm", bsecs, p.size, truth));
#if CRM_HAVE_JIT
  // The batch JIT over the same columns (compiled before timing).
  std::string jerr;
  auto jit = jit::Jit::create(prog, jerr, dump_options());
  if (!jit || !jit->batch(batch_unit, jerr)) fail(jerr);
  double jsecs = best_seconds("crm/jit_batch", o.reps, truth, [&] { return jit->run_batch(batch_unit, in).matches; });
  emit(per_second("crm/jit_batch", jsecs, p.size, truth));
  // Native branch-free code over the same columns in the same process, right after: the
  // figure the JIT's is compared with (bench_baselines' own run is another process, another time
  // on a shared machine; bench/run.sh keeps the first figure of a name).
  emit(native_audience_branch_free(p, truth, o.reps));
#endif
}

// N strategies triggered by Order, each targeting its own store (out of 100,000) and one of 4
// channels: the shape of a large catalogue of local campaigns. Events are orders from random
// stores, so at most a few strategies concern any one event, whatever N is; a good engine's
// per-event cost follows those few, not the size of the catalogue.
constexpr uint32_t kCities = 100000;

// The profile, event and coupon every streaming catalogue's strategies use.
constexpr const char* kCatalogueHeader = R"(
profile { member_level: Int = 0 }
event Order { amount: Money(CNY)  city: String  channel: Channel }
resource coupon c { discount: 5 CNY  threshold: 50 CNY }
)";

// n strategies, each with a `where` of its own; their `who` is one of three (so compile_all()
// shares most `who` units), or with `distinct_who` a different threshold each (every unit's
// code differs: nothing to share but the `if`-less strategies' common shapes).
std::string strategies_program(size_t n, bool distinct_who = false) {
  std::string s = kCatalogueHeader;
  static const char* kChannels[] = {"App", "Web", "MiniProgram", "WeChat"};
  for (size_t i = 0; i < n; ++i)
    s += fmt::format(
        "strategy s{} {{ who: count(Order within 30 days) >= {} when: on Order where: city == \"c{}\" and channel == {} "
        "what: grant c via App how much: per user 1 per day }}\n",
        i, distinct_who ? 1 + i : 1 + i % 3, i, kChannels[i % 4]);
  return s;
}

// The VM, counting the scalar evaluations the engine asks for: how much of a streaming event's
// cost any faster evaluator (the JIT) could remove at all.
class CountingExecutor final : public engine::Executor {
 public:
  explicit CountingExecutor(const bytecode::Program& p) : vm_(p) {}
  std::string_view name() const override { return "vm-counting"; }
  const bytecode::Program& program() const override { return vm_.program(); }
  void prepare(vm::Context& ctx) const override { vm_.prepare(ctx); }
  vm::Result run(uint32_t unit, vm::Context& ctx) const override {
    ++runs;
    return vm_.run(unit, ctx);
  }
  void run_batch(uint32_t unit, const vm::BatchInput& in, engine::BatchSelection& out) const override {
    ++batch_runs;
    vm_.run_batch(unit, in, out);
  }
  mutable size_t runs = 0, batch_runs = 0;

 private:
  engine::VmExecutor vm_;
};

// The same catalogue with nothing to index: each strategy's `where:` compares the amount
// with a threshold of its own that no order reaches, so every event evaluates every strategy's
// clause (and none decides). Not a catalogue shape to recommend; the shape in which evaluation,
// the one part of the engine a faster evaluator changes, is most of the work.
std::string unindexed_program(size_t n) {
  std::string s = kCatalogueHeader;
  for (size_t i = 0; i < n; ++i)
    s += fmt::format(
        "strategy s{} {{ who: member_level >= 0 when: on Order where: amount >= {} CNY and city != \"c{}\" "
        "what: grant c via App how much: per user 1 per day }}\n",
        i, 100000 + i, i);
  return s;
}

void bench_streaming(const Options& o) {
  // The same event stream for every catalogue size, so per-event costs compare directly.
  // Spread over four weeks, in time order as a log is.
  size_t events = o.records;
  SplitMix64 rng(7);
  std::vector<std::string> lines;
  lines.reserve(events);
  const int64_t start = *support::parse_time("2026-11-01T00:00:00Z");
  const int64_t step = 28 * support::kMicrosPerDay / int64_t(events);
  static const char* kChannels[] = {"App", "Web", "MiniProgram", "WeChat"};
  for (size_t i = 0; i < events; ++i)
    lines.push_back(fmt::format(
        R"({{"id":"e{}","type":"Order","user":"u{}","time":"{}","amount":{}.5,"city":"c{}","channel":"{}"}})",
        i, rng.below(20000), support::format_time(start + int64_t(i) * step), 10 + rng.below(300), rng.below(kCities),
        kChannels[rng.below(4)]));
  std::vector<engine::Event> parsed(events);

  // One timed pass over the stream by a fresh engine. Events are parsed by that engine first,
  // untimed: parsing interns strings into the engine's own pool, so parsed events are not
  // portable between engines.
  auto pass = [&](const bytecode::Program& prog, std::shared_ptr<engine::Executor> executor, size_t count,
                  size_t& decisions) {
    engine::EngineOptions eo;
    if (executor) eo.executor = std::move(executor);
    engine::Engine eng(prog, eo);
    std::string err;
    for (size_t i = 0; i < count; ++i)
      if (!eng.parse_event(lines[i], parsed[i], err)) fail(err);
    std::vector<engine::Decision> out;
    decisions = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < count; ++i) {
      out.clear();
      if (!eng.process(parsed[i], out, err)) fail(err);
      decisions += out.size();
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto report = [&](const std::string& name, double secs, size_t count, size_t decisions) {
    emit({name, "events_per_s", double(count) / secs, decisions});
    emit({name, "ns_per_event", secs * 1e9 / double(count), decisions});
  };

  struct Catalogue { size_t n; bool indexed; };
  for (auto [n, indexed] : {Catalogue{10, true}, Catalogue{100, true}, Catalogue{1000, true}, Catalogue{10000, true},
                            Catalogue{100, false}, Catalogue{1000, false}}) {
    Compiled c = compile(indexed ? strategies_program(n) : unindexed_program(n));
    const std::string shape = indexed ? "" : "_unindexed";
    // Every event evaluates every clause of an unindexed catalogue: a fifth of the stream.
    const size_t m = indexed ? events : std::max<size_t>(events / 5, 1);
    std::shared_ptr<engine::Executor> jit_executor;
#if CRM_HAVE_JIT
    // At 1,000 strategies, and for the unindexed catalogues, the JIT behind the engine's executor
    // too, as `crm run --jit` makes it: each unit (and clause dispatcher) compiled on its first
    // use, at O2 (dispatchers O1). One untimed pass first compiles what the stream reaches, so
    // the timed passes run native code; the compile cost is crm/jit_compile_* and
    // crm/jit_startup_*.
    if (n == 1000 || !indexed) {
      std::string jerr;
      // CRM_BENCH_SYNC_DISPATCH=1: dispatchers compiled on the warm pass's thread, as before
      // session 16 (Options::background_dispatchers = false), to compare the steady state.
      jit::Options jo;
      const char* sync = std::getenv("CRM_BENCH_SYNC_DISPATCH");
      jo.background_dispatchers = !(sync && std::string(sync) == "1");
      auto ex = jit::JitExecutor::create(c.out.program, jerr, false, jo);
      if (!ex) fail(jerr);
      jit_executor = ex;
      size_t warm = 0;
      pass(c.out.program, jit_executor, m, warm);
      // The dispatchers the warm pass made hot compile in the background: the timed passes
      // measure the steady state, once they are published.
      ex->jit().wait_for_dispatchers();
    }
#endif
    // Best of o.reps fresh engines, the VM's and the JIT's passes alternating, so that both see
    // the same machine (one pass each used to move by ±30 % between invocations here).
    double vm_best = 1e300, jit_best = 1e300;
    size_t vm_decisions = 0, jit_decisions = 0;
    for (int rep = 0; rep < std::max(o.reps, 1); ++rep) {
      vm_best = std::min(vm_best, pass(c.out.program, nullptr, m, vm_decisions));
      if (jit_executor) jit_best = std::min(jit_best, pass(c.out.program, jit_executor, m, jit_decisions));
    }
    // One more, untimed pass that counts the units evaluated: the share of the work that
    // evaluation is (the rest is decoding, per-user state and aggregates, candidates, limits).
    auto counting = std::make_shared<CountingExecutor>(c.out.program);
    size_t counted_decisions = 0;
    double counted_secs = pass(c.out.program, counting, m, counted_decisions);
    std::fprintf(stderr, "# crm/streaming_%zu_strategies%s: %zu scalar unit evaluations over %zu events (%.3f per event), %zu batch runs; %.0f ns per event with counting\n",
                 n, shape.c_str(), counting->runs, m, double(counting->runs) / double(m), counting->batch_runs,
                 counted_secs * 1e9 / double(m));
    report(fmt::format("crm/streaming_{}_strategies{}", n, shape), vm_best, m, vm_decisions);
    if (jit_executor) {
      if (jit_decisions != vm_decisions)
        fail(fmt::format("streaming: the JIT made {} decisions, the VM {}", jit_decisions, vm_decisions));
      report(fmt::format("crm/streaming_{}_strategies{}_jit", n, shape), jit_best, m, jit_decisions);
    }
  }
}

// Decisions with enforcement on: every event reaches exactly one of 1,000 strategies (its store
// is one of theirs), with per-user limits, stock and budget checked, and every decision recorded
// in the ledger: in memory, or in SQLite with group commit (durable when commit returns).
void bench_durable(const Options& o) {
  Compiled c = compile(strategies_program(1000));
  size_t events = std::min<size_t>(o.records, 200'000);
  std::vector<std::string> lines;
  SplitMix64 rng(11);
  const int64_t start = *support::parse_time("2026-11-01T00:00:00Z");
  const int64_t step = 28 * support::kMicrosPerDay / int64_t(events);
  static const char* kChannels[] = {"App", "Web", "MiniProgram", "WeChat"};
  for (size_t i = 0; i < events; ++i) {
    uint32_t store = rng.below(1000);
    lines.push_back(fmt::format(
        R"({{"id":"e{}","type":"Order","user":"u{}","time":"{}","amount":20.5,"city":"c{}","channel":"{}"}})", i,
        rng.below(200000), support::format_time(start + int64_t(i) * step), store, kChannels[store % 4]));
  }
  // Best of o.reps fresh runs, as elsewhere in this harness: noise on a shared VM only adds time.
  auto run = [&](const char* mode, size_t& decisions) {
    std::string path = "/tmp/crm_bench_ledger.db";
    std::remove(path.c_str());
    std::remove((path + "-wal").c_str());
    std::remove((path + "-shm").c_str());
    std::string err;
    auto store = state::open_store(std::string(mode) == "memory" ? "memory" : "sqlite:" + path, err);
    engine::Engine eng(c.out.program);
    if (!store || !eng.attach(store.get(), err)) {
      std::fprintf(stderr, "BENCH FAILURE: %s\n", err.c_str());
      std::exit(2);
    }
    std::vector<engine::Decision> out;
    engine::Event ev;
    decisions = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& line : lines) {
      out.clear();
      if (!eng.parse_event(line, ev, err) || !eng.process(ev, out, err)) {
        std::fprintf(stderr, "BENCH FAILURE: %s\n", err.c_str());
        std::exit(2);
      }
      decisions += out.size();
      if (eng.pending_units() >= 4096 && !eng.commit(err)) {
        std::fprintf(stderr, "BENCH FAILURE: %s\n", err.c_str());
        std::exit(2);
      }
    }
    if (!eng.commit(err)) std::exit(2);
    return double(decisions) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  for (const char* mode : {"memory", "sqlite"}) {
    double best = 0;
    size_t decisions = 0;
    for (int rep = 0; rep < o.reps; ++rep) best = std::max(best, run(mode, decisions));
    emit({fmt::format("crm/decisions_1000_strategies_{}", mode), "decisions_per_s", best, decisions});
  }
}

// Delayed triggers (docs/semantics.md, "Delayed triggers"): N unpaid orders of N/4 users arm N
// timers (`after 2 hours unless Pay where order_id == event.order_id`), on an Order type of 8
// fields. Heap bytes per pending timer (glibc's mallinfo2: allocated bytes, before and after
// arming, the users already known), then arming, cancelling (a Pay for half of them) and firing
// the rest (advance_to) in events or timers per second.
void bench_timers(const Options& o) {
  Compiled c = compile(R"(
event Order { order_id: String  paid: Bool  amount: Money(CNY)  items: Int  category: String }
event Pay { order_id: String }
event Visit {}
resource coupon nudge { discount: 5 CNY }
strategy unpaid for business "mall" {
    who: true
    when: on Order if not paid, after 2 hours unless Pay where order_id == event.order_id
    what: grant nudge via App
}
)");
  size_t n = o.records, users = std::max<size_t>(1, n / 4);
  engine::Engine eng(c.out.program);
  std::string err;
  std::vector<engine::Decision> out;
  auto must = [&](bool ok) {
    if (!ok) {
      std::fprintf(stderr, "BENCH FAILURE: %s\n", err.c_str());
      std::exit(2);
    }
  };
  const int64_t start = *support::parse_time("2026-11-01T00:00:00Z");
  engine::Event ev;
  for (size_t u = 0; u < users; ++u) {
    must(eng.parse_event(fmt::format(R"({{"id":"v{}","type":"Visit","user":"u{}","time":"{}"}})", u, u,
                                     support::format_time(start)),
                         ev, err));
    must(eng.process(ev, out, err));
  }
  std::vector<engine::Event> orders(n), pays(n / 2);
  for (size_t i = 0; i < n; ++i)
    must(eng.parse_event(fmt::format(R"({{"id":"o{}","type":"Order","user":"u{}","time":"{}","order_id":"O{}","paid":false,)"
                                     R"("amount":99.5,"items":3,"category":"apparel"}})",
                                     i, i % users, support::format_time(start + 1'000'000), i),
                         orders[i], err));
  for (size_t i = 0; i < n / 2; ++i)
    must(eng.parse_event(fmt::format(R"({{"id":"p{}","type":"Pay","user":"u{}","time":"{}","order_id":"O{}"}})", 2 * i,
                                     (2 * i) % users, support::format_time(start + 2'000'000), 2 * i),
                         pays[i], err));
  malloc_trim(0);
  size_t before = mallinfo2().uordblks;
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& e : orders) {
    out.clear();
    must(eng.process(e, out, err));
  }
  double arm = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  size_t after = mallinfo2().uordblks;
  emit({"crm/timers_pending", "bytes_per_timer", double(after - before) / double(n), eng.pending_timers()});
  emit({"crm/timers_arm", "events_per_s", double(n) / arm, eng.pending_timers()});
  t0 = std::chrono::steady_clock::now();
  size_t cancelled = 0;
  for (const auto& e : pays) {
    out.clear();
    must(eng.process(e, out, err));
    cancelled += out.size();
  }
  double cancel = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  emit({"crm/timers_cancel", "events_per_s", double(pays.size()) / cancel, cancelled});
  size_t pending = eng.pending_timers();
  out.clear();
  t0 = std::chrono::steady_clock::now();
  must(eng.advance_to(start + 3 * support::kMicrosPerHour, out, err));
  double fire = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  emit({"crm/timers_fire", "timers_per_s", double(pending) / fire, out.size()});
}

void bench_compile(const Options& o) {
  size_t n = o.records >= 1'000'000 ? 10000 : 500;
  std::string src = strategies_program(n);
  auto t0 = std::chrono::steady_clock::now();
  Compiled c = compile(src);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  emit({fmt::format("crm/compile_{}_strategies", n), "seconds", secs, c.out.program.units.size()});
  emit({fmt::format("crm/compile_{}_strategies", n), "peak_rss_mb", double(ru.ru_maxrss) / 1024.0, c.out.program.units.size()});
#if CRM_HAVE_JIT
  // The JIT: start-up (lazy: ready to run, nothing compiled), every unit compiled (modules in
  // parallel, one thread per core), and a restart that loads every module from the object
  // cache the first compile filled.
  std::string jerr;
  std::string cache = fmt::format("/tmp/crm_bench_jit_cache_{}", static_cast<long>(getpid()));
  std::filesystem::remove_all(cache);
  jit::Options jo;
  jo.cache_dir = cache;
  auto j0 = std::chrono::steady_clock::now();
  auto jit = jit::Jit::create(c.out.program, jerr, jo);
  if (!jit) fail(jerr);
  double ready = std::chrono::duration<double>(std::chrono::steady_clock::now() - j0).count();
  if (!jit->compile_all(jerr)) fail(jerr);
  double all = std::chrono::duration<double>(std::chrono::steady_clock::now() - j0).count();
  jit::Stats st = jit->stats();
  size_t units = st.scalar_units + st.batch_units;
  emit({fmt::format("crm/jit_startup_{}", n), "seconds", ready, c.out.program.units.size()});
  emit({fmt::format("crm/jit_compile_{}", n), "seconds", all, units});
  emit({fmt::format("crm/jit_compile_{}", n), "code_mb", double(st.code_bytes) / (1024.0 * 1024.0), units});
  getrusage(RUSAGE_SELF, &ru);
  emit({fmt::format("crm/jit_compile_{}", n), "peak_rss_mb", double(ru.ru_maxrss) / 1024.0, units});
  const size_t compiled = units - st.shared_units;
  // Where the compile time went (thread seconds, summed over the compile threads), and the IR
  // per unit before and after optimisation: a comment line, not a result row.
  std::fprintf(stderr,
               "# jit_compile_%zu: %zu units (%zu sharing another's code, %zu entries of %zu shapes) in %zu modules, thread seconds: IR %.3f, "
               "optimise %.3f, codegen %.3f (%.3f ms per compiled unit); IR instructions per compiled unit %.1f "
               "translated, %.1f optimised\n",
               n, units, st.shared_units, st.shape_units, st.shapes, st.modules, st.ir_seconds, st.optimise_seconds, st.codegen_seconds,
               1e3 * (st.ir_seconds + st.optimise_seconds + st.codegen_seconds) / double(std::max<size_t>(compiled, 1)),
               double(st.ir_instructions) / double(std::max<size_t>(compiled, 1)),
               double(st.optimised_instructions) / double(std::max<size_t>(compiled, 1)));
  jit.reset();
  auto j1 = std::chrono::steady_clock::now();
  auto again = jit::Jit::create(c.out.program, jerr, jo);
  if (!again || !again->compile_all(jerr)) fail(jerr);
  double reload = std::chrono::duration<double>(std::chrono::steady_clock::now() - j1).count();
  jit::Stats st2 = again->stats();
  if (st2.cache_misses != 0 || st2.cache_hits != st.cache_misses) fail("JIT object cache: a reload recompiled");
  emit({fmt::format("crm/jit_reload_{}_cached", n), "seconds", reload, st2.scalar_units + st2.batch_units});
  std::filesystem::remove_all(cache);
  again.reset();
  // The same with a distinct `who` per strategy (strategies_program's distinct_who): what
  // compile_all() costs when units share little code. Compiled with the compiler first (not
  // timed), then the JIT from scratch, no object cache.
  {
    Compiled d = compile(strategies_program(n, true));
    auto d0 = std::chrono::steady_clock::now();
    auto djit = jit::Jit::create(d.out.program, jerr);
    if (!djit || !djit->compile_all(jerr)) fail(jerr);
    double dall = std::chrono::duration<double>(std::chrono::steady_clock::now() - d0).count();
    jit::Stats ds = djit->stats();
    size_t dunits = ds.scalar_units + ds.batch_units;
    emit({fmt::format("crm/jit_compile_{}_distinct_who", n), "seconds", dall, dunits});
    emit({fmt::format("crm/jit_compile_{}_distinct_who", n), "code_mb", double(ds.code_bytes) / (1024.0 * 1024.0), dunits});
    std::fprintf(stderr,
                 "# jit_compile_%zu_distinct_who: %zu units (%zu sharing another's code, %zu entries of %zu shapes) in %zu "
                 "modules, thread seconds: IR %.3f, optimise %.3f, codegen %.3f\n",
                 n, dunits, ds.shared_units, ds.shape_units, ds.shapes, ds.modules, ds.ir_seconds, ds.optimise_seconds,
                 ds.codegen_seconds);
  }
#endif
}

// The first events on the lazy path (`crm run --jit`, CompiledProgram::with_jit()), which no
// other row times: on the unindexed catalogue of n strategies every Order reaches every
// strategy's `who` and `where`, so the first event compiles each of them (since session 15 in
// bulk, as compile_all() does, when the candidate list is first seen; before, a module each at
// O2 on first use, one after another on the event's thread), the second makes the list hot
// and its clause dispatchers compile (Jit::kHotAfter; O1): in the background since session 16
// (rows crm/jit_*: the second and third events run per clause on the units' code meanwhile;
// crm/jit_dispatchers_ready_N is the wall time from the second event's start until every
// dispatcher is published, and the fourth event, after that, runs them), or on the event's
// thread as before (rows crm/jit_sync_*, Options::background_dispatchers = false, where the
// third event runs them). Each event timed once in a fresh engine with a fresh Jit (a one-off
// cost has no best of N), the VM's beside them; the count is the scalar units the JIT had
// compiled (on first use or in bulk) after that event.
void bench_first_event(const Options& o) {
#if CRM_HAVE_JIT
  std::vector<size_t> sizes = {o.records >= 1'000'000 ? size_t(1000) : size_t(100)};
  if (o.records >= 1'000'000) sizes.push_back(10000);
  const int64_t start = *support::parse_time("2026-11-01T00:00:00Z");
  for (size_t n : sizes) {
    Compiled c = compile(unindexed_program(n));
    // The VM; the JIT as `crm run --jit` runs it (dispatchers compiled in the background); the
    // JIT compiling them on the event's thread (Options::background_dispatchers = false, what
    // every build did before session 16).
    for (int mode : {0, 1, 2}) {
      const bool use_jit = mode != 0;
      std::shared_ptr<jit::JitExecutor> ex;
      std::string err;
      engine::EngineOptions eo;
      if (use_jit) {
        jit::Options jo;
        jo.background_dispatchers = mode == 1;
        ex = jit::JitExecutor::create(c.out.program, err, false, jo);
        if (!ex) fail(err);
        eo.executor = ex;
      }
      const char* label = mode == 0 ? "vm" : mode == 1 ? "jit" : "jit_sync";
      engine::Engine eng(c.out.program, eo);
      std::vector<engine::Decision> out;
      static const char* kWhich[] = {"first", "second", "third", "fourth"};
      std::chrono::steady_clock::time_point second_start;
      for (int i = 0; i < 4; ++i) {
        if (i == 3 && mode == 1) {  // the steady state: every dispatcher published
          ex->jit().wait_for_dispatchers();
          emit({fmt::format("crm/jit_dispatchers_ready_{}", n), "seconds",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - second_start).count(),
                ex->jit().stats().dispatchers});
        }
        engine::Event ev;
        std::string line = fmt::format(
            R"({{"id":"f{}","type":"Order","user":"u{}","time":"{}","amount":20.5,"city":"c{}","channel":"App"}})", i,
            i, support::format_time(start + i * support::kMicrosPerSecond), i);
        if (!eng.parse_event(line, ev, err)) fail(err);
        out.clear();
        auto t0 = std::chrono::steady_clock::now();
        if (i == 1) second_start = t0;
        if (!eng.process(ev, out, err)) fail(err);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!out.empty()) fail("first_event: an unindexed strategy decided");
        size_t compiled = 0;
        if (use_jit) {
          jit::Stats st = ex->jit().stats();
          compiled = st.first_use_scalar_units + st.list_units;
        }
        emit({fmt::format("crm/{}_{}_event_{}", label, kWhich[i], n), "seconds", secs, compiled});
      }
      if (use_jit) {
        jit::Stats st = ex->jit().stats();
        std::fprintf(stderr,
                     "# %s_first_event_%zu: %zu scalar units compiled on first use, %zu in lists' bulk compiles (%zu "
                     "sharing another's code), %zu dispatchers (%zu in the background), %zu modules, compile %.3f s, %.2f MB of code\n",
                     label, n, st.first_use_scalar_units, st.list_units, st.shared_units, st.dispatchers, st.background_dispatchers, st.modules,
                     st.compile_seconds,
                     double(st.code_bytes) / (1024.0 * 1024.0));
      }
    }
  }
#else
  (void)o;
#endif
}

// 10,000 strategies of one business in three shapes: one shared window and overlapping audiences
// (every pair conflicts: the analysis stops at the default 100 warnings plus one W0108), a window
// of its own each (no pair overlaps), one city each in a shared window (disjoint audiences).
std::string conflicts_program(size_t n, const std::string& shape) {
  std::string s = R"(
profile { age: Int = 0  city: String = "" }
event Order { amount: Money(CNY) }
resource coupon c { discount: 5 CNY }
)";
  const int64_t jan1 = *support::parse_time("2026-01-01T00:00:00Z");
  for (size_t i = 0; i < n; ++i) {
    std::string who = shape == "own_cities" ? fmt::format("city == \"c{}\"", i) : "age >= 18";
    std::string window = "between 2026-11-01T00:00Z and 2026-12-01T00:00Z";
    if (shape == "own_windows") {
      int64_t from = jan1 + int64_t(i) * 3600 * support::kMicrosPerSecond;
      window = fmt::format("between {} and {}", support::format_time(from),
                           support::format_time(from + 3600 * support::kMicrosPerSecond));
    }
    s += fmt::format("strategy s{} for business \"mall\" {{ who: {}  when: on Order {}  what: grant c }}\n", i, who,
                     window);
  }
  return s;
}

void bench_conflicts(const Options& o) {
  size_t n = o.records >= 1'000'000 ? 10000 : 500;
  for (const char* shape : {"overlapping", "own_windows", "own_cities"}) {
    std::string src = conflicts_program(n, shape);
    // What `crm check` does: the front end with the conflict analysis (default limit of 100).
    uint64_t expected = std::string(shape) == "overlapping" ? 101 : 0;  // 100 W0105 + one W0108
    double secs = best_seconds(fmt::format("crm/check_{}_strategies_{}", n, shape), o.reps, expected, [&] {
      DriverOptions d;
      d.load.parse.max_file_bytes = size_t(1) << 30;
      auto front = crm::compile({{"bench.crm", src}}, d);
      uint64_t reported = 0;
      for (const auto& diag : front->sink.diagnostics())
        reported += diag.code == diag::Code::W0105 || diag.code == diag::Code::W0108;
      return front->sink.has_errors() ? ~uint64_t(0) : reported;
    });
    emit({fmt::format("crm/check_{}_strategies_{}", n, shape), "seconds", secs, expected});
  }
  // What `crm run` does before its first event: the front end without the analysis, then code
  // generation, on the shape that used to cost the most.
  std::string src = conflicts_program(n, "overlapping");
  double secs = best_seconds(fmt::format("crm/run_ready_{}_strategies_overlapping", n), o.reps, n, [&] {
    DriverOptions d;
    d.load.parse.max_file_bytes = size_t(1) << 30;
    d.conflicts = false;
    d.generate = true;
    auto front = crm::compile({{"bench.crm", src}}, d);
    if (front->sink.has_errors() || !front->sink.diagnostics().empty()) return uint64_t(0);
    return front->generated ? uint64_t(front->code.program.strategies.size()) : uint64_t(0);
  });
  emit({fmt::format("crm/run_ready_{}_strategies_overlapping", n), "seconds", secs, n});
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_options(argc, argv);
  // Compile first: its peak memory is the process's, before the data sets are allocated.
  if (o.wants("compile")) bench_compile(o);
  if (o.wants("predicate")) bench_predicate(o);
  if (o.wants("audience")) bench_audience(o);
  if (o.wants("streaming")) bench_streaming(o);
  if (o.wants("durable")) bench_durable(o);
  if (o.wants("conflicts")) bench_conflicts(o);
  if (o.wants("timers")) bench_timers(o);
  if (o.wants("first_event")) bench_first_event(o);
  return 0;
}
