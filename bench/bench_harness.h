// bench_harness.h - what every benchmark binary shares: command-line sizes, the timing rule and
// the output format, so figures from different binaries (and engines that cannot share a
// process, like Lua 5.4 and LuaJIT) are measured and reported the same way.
//
// Output: one line per measurement, `name<TAB>metric<TAB>value<TAB>count`, where count is the
// number of matches the engine found (already verified against the truth). bench/run.sh
// collects these lines from every binary and tabulates them.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "bench/bench_data.h"

namespace crm::bench {

struct Options {
  size_t records = 1'000'000;    // benchmark 1
  size_t profiles = 10'000'000;  // benchmark 2
  int reps = 5;                  // timed repetitions after one warm-up; the best one counts
  std::string only;              // run only the benchmark groups whose name contains this
  bool wants(const char* group) const { return only.empty() || std::string(group).find(only) != std::string::npos; }
};

inline void usage_and_exit(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--smoke] [--records=N] [--profiles=N] [--reps=N] [--only=GROUP]\n"
               "  --smoke   tiny sizes for CI (10k records, 100k profiles, 2 reps)\n"
               "  --only    compile, predicate, audience, streaming, durable, conflicts, timers or first_event\n",
               argv0);
  std::exit(1);
}

inline Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      size_t n = std::strlen(flag);
      return std::strncmp(a, flag, n) == 0 && a[n] == '=' ? a + n + 1 : nullptr;
    };
    if (std::strcmp(a, "--smoke") == 0) {
      o.records = 10'000;
      o.profiles = 100'000;
      o.reps = 2;
    } else if (const char* v = value("--records")) {
      o.records = std::strtoull(v, nullptr, 10);
    } else if (const char* v = value("--profiles")) {
      o.profiles = std::strtoull(v, nullptr, 10);
    } else if (const char* v = value("--reps")) {
      o.reps = std::atoi(v);
    } else if (const char* v = value("--only")) {
      o.only = v;
    } else {
      usage_and_exit(argv[0]);
    }
  }
  if (o.records == 0 || o.profiles == 0 || o.reps < 1) usage_and_exit(argv[0]);
  return o;
}

// Tells the compiler that memory may have changed, so a loop whose result it already knows from
// an earlier repetition cannot be hoisted out or folded away.
inline void clobber_memory() { asm volatile("" ::: "memory"); }

// Runs `run` once to warm caches, the JIT and branch predictors, then `reps` timed times; every
// run's count is checked against `expected`. Returns the best (smallest) wall time in seconds:
// on a shared VM noise only ever adds time, so the minimum is the most repeatable figure.
inline double best_seconds(const std::string& name, int reps, uint64_t expected,
                           const std::function<uint64_t()>& run) {
  using clock = std::chrono::steady_clock;
  clobber_memory();
  verify_count(name, run(), expected);
  double best = 1e300;
  for (int i = 0; i < reps; ++i) {
    clobber_memory();
    auto t0 = clock::now();
    uint64_t got = run();
    auto t1 = clock::now();
    verify_count(name, got, expected);
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

struct Result {
  std::string name;    // engine/variant, e.g. "native/interned"
  std::string metric;  // "ns_per_eval" (benchmark 1) or "profiles_per_s" (benchmark 2)
  double value;
  uint64_t count;      // matches found, equal to the truth
};

inline Result per_eval(std::string name, double seconds, size_t n, uint64_t count) {
  return {std::move(name), "ns_per_eval", seconds * 1e9 / static_cast<double>(n), count};
}

inline Result per_second(std::string name, double seconds, size_t n, uint64_t count) {
  return {std::move(name), "profiles_per_s", static_cast<double>(n) / seconds, count};
}

inline void emit(const Result& r) {
  std::printf("%s\t%s\t%.6g\t%llu\n", r.name.c_str(), r.metric.c_str(), r.value,
              static_cast<unsigned long long>(r.count));
  std::fflush(stdout);  // run.sh reads lines as they come; a crash later must not lose them
}

}  // namespace crm::bench
