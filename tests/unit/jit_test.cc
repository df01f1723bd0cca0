// jit_test.cc - the LLVM JIT (runtime/jit) on its own: faults with the VM's texts, lazy and
// eager compilation, code memory, the IR it emits. Its agreement with the VMs and the
// reference evaluator on random programs is tests/unit/differential_test.cc.
#include <gtest/gtest.h>

#include "compile_helpers.h"
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <filesystem>
#include <fstream>

#include "bytecode/operations.h"
#include "runtime/jit/jit.h"
#include "runtime/jit/jit_executor.h"

namespace {

const char* kProgram = R"(
profile { age: Int  score: Decimal  bonus: Int?  city: String }
segment adult = age >= 18
segment big = age * 1000000000000 > 5
segment ratio = score / age > 1.5
segment plus = (bonus ?? 0) + age > 100
segment named = city == "Shanghai" or age > 60
)";

struct Case {
  const char* segment;
  std::vector<int64_t> profile;
  std::vector<uint8_t> present;
};

uint32_t unit_of(const crm::bytecode::Program& p, const std::string& name, bool batch = false) {
  for (const auto& s : p.segments)
    if (s.name == name) return batch ? s.batch_unit : s.unit;
  ADD_FAILURE() << "no segment " << name;
  return 0;
}

std::string show(const crm::vm::Result& r) {
  return r.status == crm::vm::Status::Ok ? std::to_string(r.value) : std::string("error: ") + r.error;
}

// kProgram compiled, with its strings ("Shanghai" interned), a JIT and a VM over it.
struct Scalar {
  crm::testing::Compiled c = crm::testing::compile_text(kProgram);
  const crm::bytecode::Program& p = c.program();
  crm::vm::StringPool strings{p.strings};
  int64_t shanghai = strings.intern("Shanghai");
  std::string error;
  std::unique_ptr<crm::jit::Jit> jit = crm::jit::Jit::create(p, error);
  crm::vm::VM vm{p};
};

TEST(Jit, ScalarCodeGivesTheVmsValuesAndFaults) {
  Scalar k0;
  ASSERT_TRUE(k0.c.ok && k0.jit) << k0.c.diagnostics << k0.error;
  auto& [c, p, strings, shanghai, error, jit, vm] = k0;
  const int64_t M = 1000000;
  std::vector<Case> cases = {
      {"adult", {0, 20, 0, 0, shanghai}, {1, 1, 1, 0, 1}},
      {"adult", {0, 17, 0, 0, shanghai}, {1, 1, 1, 0, 1}},
      {"adult", {0, 20, 0, 0, shanghai}, {1, 0, 1, 0, 1}},             // age missing: a required field
      {"big", {0, 20000000, 0, 0, shanghai}, {1, 1, 1, 0, 1}},         // overflow
      {"big", {0, 2, 0, 0, shanghai}, {1, 1, 1, 0, 1}},
      {"ratio", {0, 0, 3 * M, 0, shanghai}, {1, 1, 1, 0, 1}},          // division by zero
      {"ratio", {0, 1, 3 * M, 0, shanghai}, {1, 1, 1, 0, 1}},
      {"plus", {0, 50, 0, 60, shanghai}, {1, 1, 1, 1, 1}},
      {"plus", {0, 50, 0, 60, shanghai}, {1, 1, 1, 0, 1}},             // bonus absent: 0
      {"plus", {0, INT64_MAX, 0, 1, shanghai}, {1, 1, 1, 1, 1}},       // overflow
      {"named", {0, 0, 0, 0, shanghai}, {1, 0, 1, 0, 1}},              // short-circuit: age never read
      {"named", {0, 0, 0, 0, 0}, {1, 0, 1, 0, 1}},                     // ... but read here: a fault
  };
  for (const auto& k : cases) {
    crm::vm::Context ctx;
    ctx.profile = k.profile.data();
    ctx.profile_present = k.present.data();
    ctx.profile_size = k.profile.size();
    ctx.strings = &strings;
    vm.prepare(ctx);
    uint32_t u = unit_of(p, k.segment);
    std::string expect = show(vm.run(u, ctx));
    EXPECT_EQ(show(jit->run(u, ctx)), expect) << k.segment << " age " << k.profile[1];
  }
  // The faults are the VM's texts, not look-alikes.
  crm::vm::Context ctx;
  std::vector<int64_t> prof = {0, 0, 3 * M, 0, shanghai};
  ctx.profile = prof.data();
  ctx.profile_size = prof.size();
  ctx.strings = &strings;
  EXPECT_STREQ(jit->run(unit_of(p, "ratio"), ctx).error, "division by zero");
  auto s = jit->stats();
  EXPECT_EQ(s.scalar_units, 5u);  // compiled lazily, each on first use
  EXPECT_GT(s.code_bytes, 0u);
}

// Straight-line scalar code reads profile fields with plain loads only after one test finds every
// field it reads inside the row and present; every other row goes to the general code. Each
// segment, on rows with no presence bytes, with each field absent in turn, and cut short at
// every length, against the VM.
TEST(Jit, StraightLineCodeAgreesOnEveryMissingOrShortField) {
  Scalar k0;
  ASSERT_TRUE(k0.c.ok && k0.jit) << k0.c.diagnostics << k0.error;
  auto& [c, p, strings, shanghai, error, jit, vm] = k0;
  const std::vector<int64_t> prof = {0, 70, 3000000, 60, shanghai};
  size_t runs = 0;
  for (const char* seg : {"adult", "big", "ratio", "plus", "named"}) {
    uint32_t u = unit_of(p, seg);
    // absent: -1 = no presence bytes, else the field marked absent (0: none of them)
    for (int absent = -1; absent < static_cast<int>(prof.size()); ++absent)
      for (size_t size = 0; size <= prof.size(); ++size) {
        std::vector<uint8_t> present(prof.size(), 1);
        if (absent > 0) present[absent] = 0;
        crm::vm::Context ctx;
        ctx.profile = prof.data();
        ctx.profile_present = absent < 0 ? nullptr : present.data();
        ctx.profile_size = size;
        ctx.strings = &strings;
        vm.prepare(ctx);
        EXPECT_EQ(show(jit->run(u, ctx)), show(vm.run(u, ctx))) << seg << " absent " << absent << " size " << size;
        ++runs;
      }
  }
  EXPECT_EQ(runs, 5u * 6u * 6u);
}

// kProgram's profile as columns of `rows` rows (age (i * age_step) % 90, absent every 37th row;
// bonus absent every 3rd and INT64_MAX every 7th; every 5th city Shanghai), for the batch tests.
struct Columns {
  Columns(size_t rows, size_t age_step, crm::vm::StringPool& strings)
      : age(rows), score(rows), bonus(rows), city(rows), bonus_present(rows), age_present(rows) {
    for (size_t i = 0; i < rows; ++i) {
      age[i] = static_cast<int64_t>((i * age_step) % 90);
      age_present[i] = i % 37 != 0;
      score[i] = static_cast<int64_t>(i) * 50000;
      bonus[i] = i % 7 == 0 ? INT64_MAX : static_cast<int64_t>(i % 60);
      bonus_present[i] = i % 3 != 0;
      city[i] = strings.intern(i % 5 ? "Beijing" : "Shanghai");
    }
    cols[1] = {age.data(), 8, age_present.data()};
    cols[2] = {score.data(), 8, nullptr};
    cols[3] = {bonus.data(), 8, bonus_present.data()};
    cols[4] = {city.data(), 8, nullptr};
  }
  // Rows not set: the caller says how many to read.
  crm::vm::BatchInput input(crm::vm::StringPool& strings) {
    crm::vm::BatchInput in;
    in.columns = cols.data();
    in.column_count = cols.size();
    in.strings = &strings;
    return in;
  }
  std::vector<int64_t> age, score, bonus, city;
  std::vector<uint8_t> bonus_present, age_present;
  std::vector<crm::vm::Column> cols = std::vector<crm::vm::Column>(5);
};

TEST(Jit, BatchCodeCountsAsTheBatchVm) {
  auto c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  crm::vm::StringPool strings(p.strings);
  const size_t rows = 1000;  // several blocks and a short last one
  Columns data(rows, 1, strings);
  crm::vm::BatchInput in = data.input(strings);
  in.rows = rows;
  std::string error;
  auto jit = crm::jit::Jit::create(p, error);
  ASSERT_TRUE(jit) << error;
  ASSERT_TRUE(jit->compile_all(error)) << error;
  crm::vm::BatchVM bvm(p);
  for (const char* name : {"adult", "big", "ratio", "plus", "named"}) {
    uint32_t u = unit_of(p, name, true);
    std::vector<int64_t> jv, bv;
    auto jr = jit->run_batch(u, in, &jv);
    auto br = bvm.run(u, in, &bv);
    EXPECT_EQ(jr.matches, br.matches) << name;
    EXPECT_EQ(jr.errors, br.errors) << name;
    EXPECT_EQ(jv, bv) << name;
  }
  // Code is specialised for the columns' layout: 4-byte ages without a presence column too.
  std::vector<int32_t> age32(data.age.begin(), data.age.end());
  data.cols[1] = {age32.data(), 4, nullptr};
  for (const char* name : {"adult", "big", "ratio", "plus", "named"}) {
    uint32_t u = unit_of(p, name, true);
    std::vector<int64_t> jv, bv;
    auto jr = jit->run_batch(u, in, &jv);
    auto br = bvm.run(u, in, &bv);
    EXPECT_EQ(jr.matches, br.matches) << name << " (4-byte ages)";
    EXPECT_EQ(jr.errors, br.errors) << name << " (4-byte ages)";
    EXPECT_EQ(jv, bv) << name << " (4-byte ages)";
  }
  // The executor's selection code: bitmap words equal to the VM executor's, counts included.
  crm::engine::VmExecutor vm_exec(p);
  auto jit_exec = crm::jit::JitExecutor::create(p, error);
  ASSERT_TRUE(jit_exec) << error;
  for (const char* name : {"adult", "big", "ratio", "plus", "named"}) {
    uint32_t u = unit_of(p, name, true);
    crm::engine::BatchSelection js, vs;
    js.bitmaps = vs.bitmaps = true;
    jit_exec->run_batch(u, in, js);
    vm_exec.run_batch(u, in, vs);
    EXPECT_EQ(js.matches, vs.matches) << name;
    EXPECT_EQ(js.faults, vs.faults) << name;
    EXPECT_EQ(js.selected, vs.selected) << name;
    EXPECT_EQ(js.faulted, vs.faulted) << name;
    crm::engine::BatchSelection counts;  // without bitmaps: the same counts
    jit_exec->run_batch(u, in, counts);
    EXPECT_EQ(counts.matches, vs.matches) << name;
    EXPECT_EQ(counts.faults, vs.faults) << name;
  }
  // A scalar unit (with jumps) has no batch code: an error naming it.
  crm::jit::BatchFn fn = jit->batch(unit_of(p, "named"), error);
  EXPECT_EQ(fn, nullptr);
  EXPECT_NE(error.find("segment named"), std::string::npos) << error;
}

// Selection code runs over every row in one call: full 64-row words and a short last word with
// bitmaps, 2,048-row chunks and the rows left for counts only. Each row count at and around
// those edges gives the VM executor's bitmaps and counts, faults included.
TEST(Jit, SelectionOverWholeColumnsAgreesAtEveryBlockEdge) {
  auto c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  crm::vm::StringPool strings(p.strings);
  const size_t max_rows = 2 * 2048 + 64 + 3;
  Columns data(max_rows, 7, strings);
  crm::vm::BatchInput in = data.input(strings);
  std::string error;
  auto jit = crm::jit::Jit::create(p, error);
  ASSERT_TRUE(jit) << error;
  crm::vm::BatchVM bvm(p);
  crm::engine::VmExecutor vm_exec(p);
  auto jit_exec = crm::jit::JitExecutor::create(p, error);
  ASSERT_TRUE(jit_exec) << error;
  size_t faults_seen = 0, matches_seen = 0;
  for (size_t rows : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{2047}, size_t{2048}, size_t{2049},
                      size_t{4096}, max_rows}) {
    in.rows = rows;
    for (const char* name : {"adult", "big", "ratio", "plus", "named"}) {
      uint32_t u = unit_of(p, name, true);
      std::string at = std::string(name) + ", " + std::to_string(rows) + " rows";
      crm::engine::BatchSelection js, vs, counts;
      js.bitmaps = vs.bitmaps = true;
      jit_exec->run_batch(u, in, js);
      vm_exec.run_batch(u, in, vs);
      EXPECT_EQ(js.matches, vs.matches) << at;
      EXPECT_EQ(js.faults, vs.faults) << at;
      EXPECT_EQ(js.selected, vs.selected) << at;
      EXPECT_EQ(js.faulted, vs.faulted) << at;
      jit_exec->run_batch(u, in, counts);  // counts only: the chunked loop
      EXPECT_EQ(counts.matches, vs.matches) << at;
      EXPECT_EQ(counts.faults, vs.faults) << at;
      auto jr = jit->run_batch(u, in);
      auto br = bvm.run(u, in);
      EXPECT_EQ(jr.matches, br.matches) << at;
      EXPECT_EQ(jr.errors, br.errors) << at;
      faults_seen += vs.faults;
      matches_seen += vs.matches;
    }
  }
  EXPECT_GT(faults_seen, 0u);  // the inputs do fault (overflow, missing ages), and do select
  EXPECT_GT(matches_seen, 0u);
}

TEST(Jit, EmitsOptimisedIrWithTheOperationsInlined) {
  auto c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  std::string ir, error;
  ASSERT_TRUE(crm::jit::emit_llvm(c.program(), ir, error)) << error;
  EXPECT_NE(ir.find("define"), std::string::npos);
  EXPECT_NE(ir.find("@crm_unit_" + std::to_string(unit_of(c.program(), "adult"))), std::string::npos);
  EXPECT_NE(ir.find("@crm_batch_" + std::to_string(unit_of(c.program(), "adult", true))), std::string::npos);
  // bytecode/operations.h is inlined: no call to an arithmetic wrapper is left, and checked
  // arithmetic became LLVM's overflow intrinsics.
  EXPECT_EQ(ir.find("call i8 @crm_jit_add"), std::string::npos);
  EXPECT_EQ(ir.find("call i8 @crm_jit_mul_int"), std::string::npos);
  EXPECT_NE(ir.find("with.overflow"), std::string::npos);
}

TEST(Jit, AUnitOutsideTheProgramIsAnErrorNamingIt) {
  auto c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  std::string error;
  auto jit = crm::jit::Jit::create(c.program(), error);
  ASSERT_TRUE(jit) << error;
  uint32_t bad = static_cast<uint32_t>(c.program().units.size() + 3);
  EXPECT_EQ(jit->scalar(bad, error), nullptr);
  EXPECT_NE(error.find("unit " + std::to_string(bad)), std::string::npos) << error;
  crm::vm::Context ctx;
  auto r = jit->run(bad, ctx);
  EXPECT_EQ(r.status, crm::vm::Status::Error);
  EXPECT_NE(std::string(r.error).find("unit " + std::to_string(bad)), std::string::npos);
}

// A context over one profile's values and presence flags (and the strings, when the units
// compare text).
crm::vm::Context profile_context(const std::vector<int64_t>& prof, const std::vector<uint8_t>& present,
                                 crm::vm::StringPool* strings = nullptr) {
  crm::vm::Context ctx;
  ctx.profile = prof.data();
  ctx.profile_present = present.data();
  ctx.profile_size = prof.size();
  ctx.strings = strings;
  return ctx;
}

// A one-shot gate between the test and the Jit's background thread: open() (any number of
// times, from any thread) releases every wait(). OpenOnExit opens it when a test returns, also
// early from an ASSERT, so a thread held in it lets ~Jit join.
struct Gate {
  std::promise<void> promise;
  std::shared_future<void> future = promise.get_future().share();
  std::once_flag once;
  void open() {
    std::call_once(once, [&] { promise.set_value(); });
  }
  void wait() const { future.wait(); }
  template <class D>
  bool wait_for(D d) const {
    return future.wait_for(d) == std::future_status::ready;
  }
  struct OpenOnExit {
    Gate& gate;
    ~OpenOnExit() { gate.open(); }
  };
};

// A fresh object-cache directory of one test, removed when the test ends (an ASSERT that returns
// early included).
struct CacheDir {
  std::filesystem::path path;
  explicit CacheDir(const char* stem)
      : path(std::filesystem::temp_directory_path() /
             (stem + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()))) {}
  ~CacheDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Every segment of `prog` on one profile, as "name=result " text, through `run(unit, ctx)`
// (a Jit's or a prepared VM's): what the object-cache tests compare.
template <class Run>
std::string segment_results(const crm::bytecode::Program& prog, const std::vector<int64_t>& prof,
                            const std::vector<uint8_t>& present, crm::vm::StringPool& strings, Run run) {
  std::string out;
  for (const auto& s : prog.segments) {
    crm::vm::Context ctx = profile_context(prof, present, &strings);
    out += s.name + "=" + show(run(s.unit, ctx)) + " ";
  }
  return out;
}

// The object cache: a second Jit of the same program loads every module from the cache and
// gives identical results; a changed program misses.
TEST(Jit, ObjectCacheHitsForTheSameProgramAndMissesForAChangedOne) {
  namespace fs = std::filesystem;
  CacheDir cache("crm_jit_cache_test_");
  const fs::path& dir = cache.path;
  auto c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  crm::vm::StringPool strings(p.strings);
  std::vector<int64_t> prof = {0, 70, 3000000, 40, strings.intern("Shanghai")};
  std::vector<uint8_t> present = {1, 1, 1, 1, 1};
  auto results = [&](crm::jit::Jit& jit, const crm::bytecode::Program& prog) {
    return segment_results(prog, prof, present, strings, [&](uint32_t u, crm::vm::Context& ctx) { return jit.run(u, ctx); });
  };
  crm::jit::Options opts;
  opts.cache_dir = dir.string();
  std::string error, first;
  {
    auto jit = crm::jit::Jit::create(p, error, opts);
    ASSERT_TRUE(jit) << error;
    ASSERT_TRUE(jit->compile_all(error, 2)) << error;
    auto s = jit->stats();
    EXPECT_EQ(s.cache_hits, 0u);
    EXPECT_GE(s.cache_misses, 2u);
    first = results(*jit, p);
  }
  size_t files = std::distance(fs::directory_iterator(dir), fs::directory_iterator());
  EXPECT_GE(files, 2u);
  {
    auto jit = crm::jit::Jit::create(p, error, opts);
    ASSERT_TRUE(jit) << error;
    ASSERT_TRUE(jit->compile_all(error, 2)) << error;
    auto s = jit->stats();
    EXPECT_EQ(s.cache_misses, 0u);
    EXPECT_EQ(s.cache_hits, files);
    EXPECT_EQ(results(*jit, p), first);
    crm::vm::VM vm(p);  // and the VM's
    const std::string expect = segment_results(p, prof, present, strings, [&](uint32_t u, crm::vm::Context& ctx) {
      vm.prepare(ctx);
      return vm.run(u, ctx);
    });
    EXPECT_EQ(first, expect);
  }
  {  // one constant changed: a different program, compiled afresh, with its own result
    std::string changed = kProgram;
    changed.replace(changed.find("age >= 18"), 9, "age >= 80");
    auto c2 = crm::testing::compile_text(changed);
    ASSERT_TRUE(c2.ok) << c2.diagnostics;
    auto jit = crm::jit::Jit::create(c2.program(), error, opts);
    ASSERT_TRUE(jit) << error;
    ASSERT_TRUE(jit->compile_all(error, 2)) << error;
    auto s = jit->stats();
    EXPECT_EQ(s.cache_hits, 0u);
    EXPECT_GE(s.cache_misses, 2u);
    std::string r = results(*jit, c2.program());
    EXPECT_NE(r, first);
    EXPECT_NE(r.find("adult=0 "), std::string::npos) << r;
    EXPECT_NE(first.find("adult=1 "), std::string::npos) << first;
  }
}

// A cache file that is damaged (torn, a flipped byte in its object, garbage) or that holds
// another key's object is never linked: it is compiled afresh (Stats::cache_rejected), its
// results are the VM's, and the replaced file is a hit next time. Before, a damaged object was
// linked and every evaluation failed ("not a valid object file"), or a foreign one ran.
TEST(Jit, ObjectCacheRecompilesADamagedOrForeignFileAndReplacesIt) {
  namespace fs = std::filesystem;
  CacheDir cache("crm_jit_cache_damaged_");
  auto c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  crm::vm::StringPool strings(p.strings);
  std::vector<int64_t> prof = {0, 70, 3000000, 40, strings.intern("Shanghai")};
  std::vector<uint8_t> present = {1, 1, 1, 1, 1};
  std::string expect;
  {
    crm::vm::VM vm(p);
    expect = segment_results(p, prof, present, strings, [&](uint32_t u, crm::vm::Context& ctx) {
      vm.prepare(ctx);
      return vm.run(u, ctx);
    });
  }
  crm::jit::Options opts;
  opts.cache_dir = cache.path.string();
  auto load = [&](crm::jit::Stats& s) {
    std::string error, out;
    auto jit = crm::jit::Jit::create(p, error, opts);
    EXPECT_TRUE(jit) << error;
    if (!jit) return out;
    EXPECT_TRUE(jit->compile_all(error, 1)) << error;
    out = segment_results(p, prof, present, strings, [&](uint32_t u, crm::vm::Context& ctx) { return jit->run(u, ctx); });
    s = jit->stats();
    return out;
  };
  crm::jit::Stats first;
  EXPECT_EQ(load(first), expect);
  EXPECT_EQ(first.cache_rejected, 0u);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(cache.path)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 5u);
  ASSERT_EQ(files.size(), first.cache_misses);
  auto read = [](const fs::path& f) {
    std::ifstream in(f, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto write = [](const fs::path& f, const std::string& bytes) {
    std::ofstream(f, std::ios::binary | std::ios::trunc) << bytes;
  };
  const std::string a = read(files[0]), b = read(files[1]);
  write(files[0], a.substr(0, a.size() / 2));  // torn
  std::string flipped = b;
  flipped[flipped.size() - 40] ^= 0x10;  // one bit of the object
  write(files[1], flipped);
  write(files[2], std::string(200, 'x'));  // not a cache file at all
  write(files[3], a);                      // another piece's file, under this one's name
  write(files[4], "");                     // empty
  crm::jit::Stats second;
  EXPECT_EQ(load(second), expect);
  EXPECT_EQ(second.cache_rejected, 5u);
  EXPECT_EQ(second.cache_misses, 5u);
  EXPECT_EQ(second.cache_hits, files.size() - 5);
  EXPECT_EQ(read(files[0]), a);  // replaced by the compile's own file
  crm::jit::Stats third;
  EXPECT_EQ(load(third), expect);
  EXPECT_EQ(third.cache_rejected, 0u);
  EXPECT_EQ(third.cache_misses, 0u);
  EXPECT_EQ(third.cache_hits, files.size());
}

// A candidate list's first sight (Jit::clauses, not hot yet) compiles the list's units that
// have no code in bulk, compile_all()'s way, so that the engine evaluating them one clause at a
// time meanwhile compiles no module per unit; the code gives the VM's results, and the list's
// second sight still has its dispatcher compiled (in the background), which the third runs
// once it is published.
TEST(Jit, AListsFirstSightCompilesItsUnitsInBulk) {
  Scalar k0;
  ASSERT_TRUE(k0.c.ok && k0.jit) << k0.c.diagnostics << k0.error;
  auto& [c, p, strings, shanghai, error, jit, vm] = k0;
  const auto u = [&](const char* name) { return static_cast<int32_t>(unit_of(p, name)); };
  // Three strategies' who/where/if slots, 8 of them units (Jit::kMinFusedUnits counts only units, not the -1),
  // each segment's unit once or more.
  const std::vector<int32_t> list = {u("adult"), u("big"),   u("ratio"), u("plus"), u("named"),
                                     u("adult"), u("big"),   -1,         u("plus")};
  std::vector<crm::jit::ClausesFn> chunks;
  EXPECT_FALSE(jit->clauses(list.data(), 3, chunks));
  crm::jit::Stats s = jit->stats();
  EXPECT_EQ(s.list_units, 5u);
  EXPECT_EQ(s.scalar_units, 5u);
  EXPECT_EQ(s.first_use_scalar_units, 0u);
  EXPECT_EQ(s.dispatchers, 0u);
  std::vector<int64_t> prof = {0, 70, 3000000, 40, shanghai};
  std::vector<uint8_t> present = {1, 1, 1, 1, 1};
  for (const auto& seg : p.segments) {
    crm::vm::Context ctx = profile_context(prof, present, &strings);
    std::string jr = show(jit->run(seg.unit, ctx));
    vm.prepare(ctx);
    EXPECT_EQ(jr, show(vm.run(seg.unit, ctx))) << seg.name;
  }
  s = jit->stats();
  EXPECT_EQ(s.first_use_scalar_units, 0u);  // every segment's unit was in the list
  EXPECT_EQ(s.scalar_units, 5u);
  EXPECT_FALSE(jit->clauses(list.data(), 3, chunks));  // second sight: the dispatcher compiles (in the background)
  jit->wait_for_dispatchers();
  EXPECT_TRUE(jit->clauses(list.data(), 3, chunks));
  EXPECT_EQ(chunks.size(), 1u);
  s = jit->stats();
  EXPECT_EQ(s.dispatchers, 1u);
  EXPECT_EQ(s.background_dispatchers, 1u);
  EXPECT_EQ(s.pending_dispatchers, 0u);
  EXPECT_EQ(s.list_units, 5u);
}

// The list's second sight does not compile its dispatcher on the caller's thread
// (Options::background_dispatchers): clauses() returns while the compile is held at a gate on
// the Jit's thread, the list is declined (per clause) meanwhile, and once the gate opens the
// dispatcher is published and runs the VM's verdicts. With synchronous compilation (as
// before) the hook is never called and the dispatcher exists when clauses() returns: the
// test fails on `dispatchers` and `pending_dispatchers`.
TEST(Jit, ListsDispatchersCompileOffTheCallersThread) {
  crm::testing::Compiled c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  Gate gate;
  std::atomic<int> compiles_on_caller{0}, compiles{0};
  const std::thread::id caller = std::this_thread::get_id();
  crm::jit::Options options;
  options.before_background_compile = [&] {
    ++compiles;
    if (std::this_thread::get_id() == caller) ++compiles_on_caller;
    gate.wait();  // no timeout: what is asserted below must not depend on the machine's speed
  };
  std::string error;
  auto jit = crm::jit::Jit::create(p, error, options);
  ASSERT_TRUE(jit) << error;
  Gate::OpenOnExit opener{gate};  // destroyed before `jit`: an early ASSERT return cannot hang ~Jit
  const auto u = [&](const char* name) { return static_cast<int32_t>(unit_of(p, name)); };
  const std::vector<int32_t> list = {u("adult"), u("big"),   u("ratio"), u("plus"), u("named"),
                                     u("adult"), u("big"),   -1,         u("plus")};
  std::vector<crm::jit::ClausesFn> chunks;
  EXPECT_FALSE(jit->clauses(list.data(), 3, chunks));  // first sight: units in bulk
  EXPECT_FALSE(jit->clauses(list.data(), 3, chunks));  // second: the dispatcher is queued
  crm::jit::Stats s = jit->stats();
  EXPECT_EQ(s.dispatchers, 0u);  // held at the gate, so not compiled yet
  EXPECT_EQ(s.pending_dispatchers, 1u);
  EXPECT_FALSE(jit->clauses(list.data(), 3, chunks));  // still per clause, no second compile queued
  EXPECT_EQ(jit->stats().pending_dispatchers, 1u);
  gate.open();
  jit->wait_for_dispatchers();
  EXPECT_EQ(compiles.load(), 1);
  EXPECT_EQ(compiles_on_caller.load(), 0);
  s = jit->stats();
  EXPECT_EQ(s.dispatchers, 1u);
  EXPECT_EQ(s.background_dispatchers, 1u);
  EXPECT_EQ(s.pending_dispatchers, 0u);
  ASSERT_TRUE(jit->clauses(list.data(), 3, chunks));
  ASSERT_EQ(chunks.size(), 1u);
  // The published dispatcher gives the VM's verdicts, unit by unit in order (Executor's
  // reference loop), faults included.
  crm::vm::StringPool strings{p.strings};
  const int64_t shanghai = strings.intern("Shanghai");
  crm::engine::VmExecutor vm(p);
  std::vector<crm::engine::ClauseGroup> groups(3);
  for (size_t g = 0; g < 3; ++g)
    for (size_t k = 0; k < 3; ++k) groups[g].units[k] = list[3 * g + k];
  for (int64_t age : {int64_t{70}, int64_t{0}, int64_t{20000000}}) {
    std::vector<int64_t> prof = {0, age, 3000000, 40, shanghai};
    std::vector<uint8_t> present = {1, 1, 1, 1, 1};
    crm::vm::Context ctx = profile_context(prof, present, &strings);
    vm.prepare(ctx);
    std::vector<crm::engine::ClauseVerdict> want(3);
    vm.run_clauses_by_unit(groups.data(), 3, ctx, want.data());
    const crm::support::ZoneRules* zones[3] = {nullptr, nullptr, nullptr};
    uint8_t out[3] = {9, 9, 9};
    chunks[0](&ctx, zones, out);
    for (size_t g = 0; g < 3; ++g) {
      SCOPED_TRACE("age " + std::to_string(age) + ", group " + std::to_string(g));
      EXPECT_EQ(out[g] == 1, want[g].matched);
      EXPECT_EQ(out[g] >= 2, want[g].faulted);
      if (want[g].faulted) {
        EXPECT_STREQ(crm::bytecode::ops::fault_text(static_cast<crm::bytecode::ops::Fault>(out[g] >> 1)), want[g].error);
      }
    }
  }
}

// A Jit destroyed while dispatchers are queued and one is being compiled in the background
// stops and joins its thread first (run under ASan/TSan, and in a loop, to see a race). The
// hook holds the first compile until the test has seen it start with the others queued, so
// the destruction does meet a compile in progress, on any machine.
TEST(Jit, DestroyedWhileDispatchersCompileInTheBackground) {
  crm::testing::Compiled c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  const auto u = [&](const char* name) { return static_cast<int32_t>(unit_of(p, name)); };
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    Gate started, gate;
    std::atomic<int> compiles{0};
    crm::jit::Options options;
    options.before_background_compile = [&] {
      if (compiles++ == 0) started.open();
      gate.wait();
    };
    std::string error;
    auto jit = crm::jit::Jit::create(p, error, options);
    ASSERT_TRUE(jit) << error;
    Gate::OpenOnExit opener{gate};
    std::vector<crm::jit::ClausesFn> chunks;
    // Several distinct lists made hot at once: several queued dispatchers.
    for (int k = 0; k < 4; ++k) {
      std::vector<int32_t> list = {u("adult"), u("big"), u("ratio"), u("plus"), u("named"),
                                   u("adult"), u("big"), -1,         u("plus")};
      for (int r = 0; r < k; ++r) list.push_back(u("adult")), list.push_back(-1), list.push_back(u("big"));
      for (int sight = 0; sight < 2; ++sight) EXPECT_FALSE(jit->clauses(list.data(), list.size() / 3, chunks));
    }
    ASSERT_TRUE(started.wait_for(std::chrono::seconds(120))) << "no dispatcher compile started in the background";
    EXPECT_EQ(jit->stats().pending_dispatchers, 4u);  // one being compiled (held), three queued
    EXPECT_EQ(jit->stats().dispatchers, 0u);
    gate.open();  // the held compile goes on while the Jit is destroyed
    if (round % 2) std::this_thread::sleep_for(std::chrono::milliseconds(20 * round));
    jit.reset();  // must not crash, hang or leak a running thread
  }
}

// Whatever fails on the background thread (here the hook throws, as an allocation could) fails
// that dispatcher only: counted with its reason, the list evaluated per clause for good (and
// never queued again), and the process goes on (an exception leaving the thread would end it).
TEST(Jit, ABackgroundDispatcherThatFailsLeavesItsListPerClause) {
  crm::testing::Compiled c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  std::atomic<int> compiles{0};
  crm::jit::Options options;
  options.before_background_compile = [&] {
    ++compiles;
    throw std::runtime_error("simulated failure");
  };
  std::string error;
  auto jit = crm::jit::Jit::create(p, error, options);
  ASSERT_TRUE(jit) << error;
  const auto u = [&](const char* name) { return static_cast<int32_t>(unit_of(p, name)); };
  const std::vector<int32_t> list = {u("adult"), u("big"),   u("ratio"), u("plus"), u("named"),
                                     u("adult"), u("big"),   -1,         u("plus")};
  std::vector<crm::jit::ClausesFn> chunks;
  EXPECT_FALSE(jit->clauses(list.data(), 3, chunks));
  EXPECT_FALSE(jit->clauses(list.data(), 3, chunks));  // queued, fails in the background
  jit->wait_for_dispatchers();
  crm::jit::Stats s = jit->stats();
  EXPECT_EQ(compiles.load(), 1);
  EXPECT_EQ(s.failed_dispatchers, 1u);
  EXPECT_EQ(s.dispatchers, 0u);
  EXPECT_EQ(s.pending_dispatchers, 0u);
  EXPECT_NE(s.last_dispatcher_error.find("simulated failure"), std::string::npos) << s.last_dispatcher_error;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(jit->clauses(list.data(), 3, chunks));
  jit->wait_for_dispatchers();
  EXPECT_EQ(compiles.load(), 1);  // per clause for good: not tried again
  // The units themselves still run natively.
  std::string unit_error;
  EXPECT_NE(jit->scalar(u("adult"), unit_error), nullptr) << unit_error;
}

// The operations' bitcode is inlined into every object, so the cache key includes its hash: the
// same program, units and translator version with another bitcode hash (a build whose
// bytecode/operations.h changed) misses and compiles; with this build's hash it hits again.
TEST(Jit, ObjectCacheMissesForChangedOperationsBitcode) {
  CacheDir cache("crm_jit_ops_cache_test_");
  const std::filesystem::path& dir = cache.path;
  auto c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  const uint64_t built = crm::jit::ops_bitcode_hash();
  EXPECT_NE(built, 0u);
  EXPECT_EQ(crm::jit::ops_bitcode_hash(), built);  // computed once, stable
  auto compile_all = [&](uint64_t hash) {
    crm::jit::Options opts;
    opts.cache_dir = dir.string();
    opts.ops_bitcode_hash = hash;
    std::string error;
    auto jit = crm::jit::Jit::create(p, error, opts);
    EXPECT_TRUE(jit) << error;
    if (!jit) return crm::jit::Stats{};
    EXPECT_TRUE(jit->compile_all(error, 2)) << error;
    return jit->stats();
  };
  crm::jit::Stats first = compile_all(0);  // 0: this build's hash
  EXPECT_EQ(first.cache_hits, 0u);
  ASSERT_GE(first.cache_misses, 2u);
  crm::jit::Stats same = compile_all(built);  // the same hash given explicitly: every module hits
  EXPECT_EQ(same.cache_misses, 0u);
  EXPECT_EQ(same.cache_hits, first.cache_misses);
  crm::jit::Stats changed = compile_all(built ^ 1);  // another bitcode: nothing loaded
  EXPECT_EQ(changed.cache_hits, 0u);
  EXPECT_EQ(changed.cache_misses, first.cache_misses);
}

}  // namespace

// A C++ exception thrown by host code that native code calls (here the aggregate source,
// reached through the inlined crm_jit_agg) unwinds through the JIT's frames to the caller's
// catch, as it does through the VM: the public API turns it into an internal error. Run in a
// child process, so that a std::terminate fails this test, not the run. It does not guard the
// unwind tables and -fexceptions bitcode (runtime/jit/CMakeLists.txt): with both removed it
// still passed on LLVM 16, which kept unwind information for this unit anyway.
struct ThrowingAggregates final : crm::vm::AggregateSource {
  crm::bytecode::AggValue aggregate(uint32_t, int64_t) override { throw std::length_error("test: the host failed"); }
};

TEST(Jit, AnExceptionFromTheHostUnwindsThroughNativeCode) {
  auto c = crm::testing::compile_text(R"(
profile { age: Int }
event Order { amount: Money(CNY) }
resource coupon c { discount: 5 CNY }
strategy s { who: count(Order within 30 days) >= 2 when: on Order what: grant c via App }
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const crm::bytecode::Program& p = c.program();
  ASSERT_EQ(p.strategies.size(), 1u);
  ASSERT_GE(p.strategies[0].who, 0);
  const auto unit = static_cast<uint32_t>(p.strategies[0].who);
  for (bool eager : {false, true}) {
    EXPECT_EXIT(
        {
          std::string error;
          auto jit = crm::jit::Jit::create(p, error);
          if (!jit || (eager && !jit->compile_all(error))) std::_Exit(4);
          ThrowingAggregates source;
          std::vector<int64_t> prof = {30};
          crm::vm::Context ctx;
          ctx.profile = prof.data();
          ctx.profile_size = prof.size();
          ctx.aggregates = &source;
          try {
            jit->run(unit, ctx);
          } catch (const std::length_error& e) {
            std::_Exit(std::string(e.what()) == "test: the host failed" ? 0 : 5);
          }
          std::_Exit(3);
        },
        ::testing::ExitedWithCode(0), "")
        << (eager ? "compile_all() code" : "code compiled on first use");
  }
}

// compile_all() gives units with the same code (registers and instructions) one native
// function, and each still gives the VM's result; a unit that differs only in a constant (here
// 18 and 19) gets an entry point of its own (since session 17 calling a shape it shares with
// `a`, with its own constants: see the next tests).
TEST(Jit, UnitsWithTheSameCodeShareNativeCodeAndUnitsDifferingInAConstantDoNot) {
  auto c = crm::testing::compile_text(R"(
profile { age: Int  bonus: Int? }
segment a = age >= 18 and (bonus ?? 0) < 5
segment b = age >= 18 and (bonus ?? 0) < 5
segment other = age >= 19 and (bonus ?? 0) < 5
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  const uint32_t ua = unit_of(p, "a"), ub = unit_of(p, "b"), uo = unit_of(p, "other");
  ASSERT_NE(ua, ub);
  std::string error;
  auto jit = crm::jit::Jit::create(p, error);
  ASSERT_TRUE(jit) << error;
  ASSERT_TRUE(jit->compile_all(error)) << error;
  crm::jit::Stats st = jit->stats();
  EXPECT_GE(st.shared_units, 1u);
  crm::jit::ScalarFn fa = jit->scalar(ua, error), fb = jit->scalar(ub, error), fo = jit->scalar(uo, error);
  ASSERT_TRUE(fa && fb && fo) << error;
  EXPECT_EQ(fa, fb);
  EXPECT_NE(fa, fo);
  // Compiled once: asking again compiles nothing more.
  EXPECT_EQ(jit->stats().modules, st.modules);
  crm::vm::VM vm(p);
  size_t differ = 0;
  for (int64_t age : {17, 18, 19, 40})
    for (int64_t bonus : {0, 4, 5, -1})
      for (uint8_t has_bonus : {0, 1}) {
        std::vector<int64_t> prof = {0, age, bonus};  // [0] is the user's id
        std::vector<uint8_t> present = {1, 1, has_bonus};
        for (uint32_t u : {ua, ub, uo}) {
          crm::vm::Context ctx = profile_context(prof, present);
          vm.prepare(ctx);
          const std::string expect = show(vm.run(u, ctx));
          EXPECT_EQ(show(jit->run(u, ctx)), expect) << "unit " << u << ", age " << age << ", bonus " << bonus;
        }
        crm::vm::Context ctx = profile_context(prof, present);
        differ += show(jit->run(ua, ctx)) != show(jit->run(uo, ctx));
      }
  EXPECT_GT(differ, 0u);  // age 18: a and other disagree, so they cannot be one function
}

// CRM_JIT_EAGER (a measurement switch) accepts exactly PIPELINE,CODEGEN,SHARE with the
// documented words; anything else makes compile_all() fail with an error naming it. In a
// re-executed child, since the variable is read once per process.
TEST(Jit, AMalformedEagerSwitchIsAnErrorNotAGuess) {
  auto c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const crm::bytecode::Program& p = c.program();
  const std::string style = GTEST_FLAG_GET(death_test_style);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  struct Case {
    const char* value;
    int code;  // 0: compile_all() succeeded; 1: it failed naming CRM_JIT_EAGER
  };
  for (Case k : {Case{"o1,less,0", 0}, Case{"min,none,1", 0}, Case{"min,none,2", 0}, Case{"min,none,3", 1}, Case{"o1", 1}, Case{"min,none,1,", 1},
                 Case{"o1,fast,1", 1}, Case{"less,o1,1", 1}, Case{"min,none,yes", 1}, Case{"O1,less,0", 1}}) {
    EXPECT_EXIT(
        {
          setenv("CRM_JIT_EAGER", k.value, 1);
          std::string error;
          auto jit = crm::jit::Jit::create(p, error);
          if (!jit) std::_Exit(4);
          if (jit->compile_all(error)) std::_Exit(0);
          std::_Exit(error.find("CRM_JIT_EAGER") != std::string::npos ? 1 : 5);
        },
        ::testing::ExitedWithCode(k.code), "")
        << k.value;
  }
  GTEST_FLAG_SET(death_test_style, style);
}

// compile_all() gives units whose code differs only in the constants it reads one shape: a
// native function reading those constants from a table, called by an entry per unit with the
// unit's own (docs/performance.md §7, session 17). Each unit keeps its own entry point and its
// own result, faults included: the overflow of a product whose factor is a constant, a missing
// required field, a Decimal and a string constant.
TEST(Jit, UnitsDifferingOnlyInConstantsShareAShapeAndEachGivesItsOwnResult) {
  auto c = crm::testing::compile_text(R"(
profile { age: Int  bonus: Int?  score: Decimal  city: String }
segment a18 = age >= 18 and (bonus ?? 0) < 5
segment a30 = age >= 30 and (bonus ?? 1) < 7
segment a65 = age >= 65 and (bonus ?? 0) < 0
segment big1 = age * 1000000000000 > 5
segment big2 = age * 3000000000000 > -7
segment ratio1 = score > 1.5
segment ratio2 = score > 2.25
segment paris = city == "Paris"
segment lyon = city == "Lyon"
segment alone = age + 1 > 3 and city == "Nice"
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto& p = c.program();
  const char* names[] = {"a18", "a30", "a65", "big1", "big2", "ratio1", "ratio2", "paris", "lyon", "alone"};
  std::vector<uint32_t> units;
  for (const char* n : names) units.push_back(unit_of(p, n));
  crm::vm::StringPool strings{p.strings};
  const int64_t paris = strings.intern("Paris"), lyon = strings.intern("Lyon"), nice = strings.intern("Nice");
  std::string error;
  auto jit = crm::jit::Jit::create(p, error);
  ASSERT_TRUE(jit) << error;
  ASSERT_TRUE(jit->compile_all(error)) << error;
  const crm::jit::Stats st = jit->stats();
  // a18/a30/a65, big1/big2, ratio1/ratio2, paris/lyon: four shapes of two or three members.
  EXPECT_GE(st.shapes, 4u);
  EXPECT_GE(st.shape_units, 9u);
  std::set<crm::jit::ScalarFn> entries;
  for (uint32_t u : units) {
    crm::jit::ScalarFn f = jit->scalar(u, error);
    ASSERT_TRUE(f) << error;
    entries.insert(f);
  }
  EXPECT_EQ(entries.size(), units.size());  // an entry per unit, whatever they share
  crm::vm::VM vm(p);
  const int64_t M = 1000000;
  std::map<std::string, size_t> faults;
  size_t differ = 0;  // rows where two members of one shape (a18 and a30, paris and lyon) disagree
  for (int64_t age : {int64_t{0}, int64_t{2}, int64_t{17}, int64_t{18}, int64_t{30}, int64_t{64}, int64_t{65}, int64_t{20000000}})
    for (int64_t bonus : {-1, 0, 4, 6})
      for (uint8_t has_bonus : {0, 1})
        for (uint8_t has_age : {0, 1})
          for (int64_t score : {int64_t{0}, 3 * M / 2, 2 * M, 9 * M / 4, 3 * M})
            for (int64_t city : {paris, lyon, nice}) {
              std::vector<int64_t> prof = {0, age, bonus, score, city};
              std::vector<uint8_t> present = {1, has_age, has_bonus, 1, 1};
              std::vector<std::string> results;
              for (size_t i = 0; i < units.size(); ++i) {
                crm::vm::Context ctx = profile_context(prof, present, &strings);
                vm.prepare(ctx);
                const std::string expect = show(vm.run(units[i], ctx));
                const std::string got = show(jit->run(units[i], ctx));
                ASSERT_EQ(got, expect) << names[i] << ", age " << age << (has_age ? "" : " (absent)") << ", bonus " << bonus
                                       << (has_bonus ? "" : " (absent)") << ", score " << score << ", city " << city;
                if (got.rfind("error", 0) == 0) ++faults[got];
                results.push_back(got);
              }
              differ += (results[0] != results[1]) + (results[7] != results[8]);
            }
  // Both faults were met (so a shape's fault path was exercised), and the members of one shape
  // do give different results (they do not all run the first member's constants).
  EXPECT_GT(differ, 0u);
  EXPECT_EQ(faults.size(), 2u);
  for (const auto& [text, n] : faults) EXPECT_GT(n, 0u) << text;
  EXPECT_EQ(jit->stats().first_use_scalar_units, 0u);
  EXPECT_EQ(jit->stats().modules, st.modules);
}

// compile_all()'s modules are sized by what they cost to compile: a shape costs as much as a
// unit, so many small shapes spread over modules (and so over the compile threads) instead of
// filling one module with their entries. Six shapes of two members each, chunk 2: a module
// takes one shape (its copy and two entries); before, all twelve entries went into one module.
TEST(Jit, ManySmallShapesAreSpreadOverModules) {
  std::string text = "profile { a: Int  b: Int  c: Int  d: Int  e: Int  f: Int }\n";
  for (const char* field : {"a", "b", "c", "d", "e", "f"})
    for (int k : {1, 2}) text += "segment " + std::string(field) + std::to_string(k) + " = " + field + " >= " + std::to_string(k) + "\n";
  auto c = crm::testing::compile_text(text);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  std::string error;
  auto jit = crm::jit::Jit::create(c.program(), error);
  ASSERT_TRUE(jit) << error;
  ASSERT_TRUE(jit->compile_all(error, 2)) << error;
  const crm::jit::Stats st = jit->stats();
  EXPECT_EQ(st.shapes, 6u);
  EXPECT_EQ(st.shape_units, 12u);
  EXPECT_EQ(st.modules, 6u);
}

// A shape is shared only by units of the same result type: two units `LOAD_CONST; RET` whose
// constants are an Int and a Decimal get code of their own each, while a third returning an
// Int shares the first's shape. (Bytecode written by hand: the compiler has no two such units.)
TEST(Jit, UnitsWhoseConstantsDifferInTypeDoNotShareAShape) {
  using crm::bytecode::Instr;
  using crm::bytecode::Kind;
  using crm::bytecode::Op;
  crm::bytecode::Program p;
  p.constants = {5, 5000000, 7, 2500000};
  p.profile.push_back({});
  p.profile[0].name = "user";
  p.profile[0].kind = Kind::String;
  auto unit = [&](const char* name, Kind kind, uint32_t k) {
    crm::bytecode::Unit u;
    u.name = name;
    u.registers = 1;
    u.result = kind;
    u.code = {Instr{Op::LOAD_CONST, 0, k, 0, 0}, Instr{Op::RET, 0, 0, 0, 0}};
    p.units.push_back(u);
  };
  unit("int five", Kind::Int, 0);
  unit("decimal five", Kind::Decimal, 1);
  unit("int seven", Kind::Int, 2);
  std::string error;
  ASSERT_TRUE(crm::bytecode::verify(p, error)) << error;
  auto jit = crm::jit::Jit::create(p, error);
  ASSERT_TRUE(jit) << error;
  ASSERT_TRUE(jit->compile_all(error)) << error;
  const crm::jit::Stats st = jit->stats();
  EXPECT_EQ(st.shapes, 1u);
  EXPECT_EQ(st.shape_units, 2u);  // the two Ints
  EXPECT_EQ(st.scalar_units, 3u);
  EXPECT_EQ(st.shared_units, 0u);
  crm::vm::VM vm(p);
  for (uint32_t u = 0; u < 3; ++u) {
    crm::vm::Context ctx;
    vm.prepare(ctx);
    EXPECT_EQ(show(jit->run(u, ctx)), show(vm.run(u, ctx))) << p.units[u].name;
    EXPECT_EQ(show(jit->run(u, ctx)), std::to_string(p.constants[u])) << p.units[u].name;
  }
  // Adding a Decimal of another value makes the Decimals a shape of their own.
  unit("decimal two and a half", Kind::Decimal, 3);
  auto jit2 = crm::jit::Jit::create(p, error);
  ASSERT_TRUE(jit2 && jit2->compile_all(error)) << error;
  EXPECT_EQ(jit2->stats().shapes, 2u);
  EXPECT_EQ(jit2->stats().shape_units, 4u);
  crm::vm::Context ctx;
  EXPECT_EQ(show(jit2->run(3, ctx)), "2500000");
  EXPECT_EQ(show(jit2->run(1, ctx)), "5000000");
}
