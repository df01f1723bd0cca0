// baselines_native_sqlite.h - the in-process baselines the crm VM is compared with: hand-written
// C++ (the floor any interpreter is measured against) and SQLite (the embedded engine a team
// would otherwise reach for). Lua 5.4 and LuaJIT live in lua_bench.cc, because the two export the
// same symbols and cannot be linked into one process.
//
// Each function times one variant with best_seconds (warm-up, best of `reps`), verifies its count
// against `expected` (aborting on a mismatch) and returns the figure as a Result:
// benchmark 1 in ns_per_eval, benchmark 2 in profiles_per_s.
#pragma once

#include <cstdint>
#include <vector>

#include "bench/bench_data.h"
#include "bench/bench_harness.h"

namespace crm::bench {

// ---- benchmark 1: the predicate, evaluated once per record -------------------------------------

// Strings interned to ids by the host; "MOW"/"RU" are looked up once, then compared as integers.
// Short-circuit evaluation, as a straightforward C++ programmer would write it.
Result native_interned(const std::vector<Record>& recs, uint64_t expected, int reps);
// Same, but every comparison is computed and combined with & and |: no data-dependent branches.
Result native_branch_free(const std::vector<Record>& recs, uint64_t expected, int reps);
// Strings materialised as std::string fields and compared with operator==.
Result native_std_string(const std::vector<StringRecord>& recs, uint64_t expected, int reps);
// One prepared `SELECT <predicate over ?1..?4>` stepped per record, the four fields bound as
// parameters: what it costs to use SQLite as an expression evaluator.
Result sqlite_per_row(const std::vector<Record>& recs, uint64_t expected, int reps);

// ---- benchmark 2: the audience scan over 10M profiles ------------------------------------------

Result native_audience_branchy(const Profiles& p, uint64_t expected, int reps);
// Processes fixed-size blocks so that g++ -O2 (whose "very cheap" vectorizer cost model wants a
// trip count that is a multiple of the vector width) turns the scan into SIMD, as a columnar
// engine's kernel would be.
Result native_audience_branch_free(const Profiles& p, uint64_t expected, int reps);
// The profiles loaded into an in-memory SQLite table (load not timed), then
// `SELECT count(*) FROM profiles WHERE <segment>`.
Result sqlite_audience_count(const Profiles& p, uint64_t expected, int reps);

// Makes the data at the sizes in `opts`, computes the truth, runs every variant above and emits
// one line per variant. `native` and `sqlite` choose which families run.
void run_native_sqlite_baselines(const Options& opts, bool native = true, bool sqlite = true);

}  // namespace crm::bench
