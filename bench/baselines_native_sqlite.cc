// baselines_native_sqlite.cc - native C++ and SQLite baselines; see the header for why each
// variant exists. The kernels are separate noinline functions so that their code can be read in
// a disassembly and cannot be specialised on the data set by the optimiser.
#include "bench/baselines_native_sqlite.h"

#include <sqlite3.h>

#include <array>
#include <string>

namespace crm::bench {
namespace {

// ---- benchmark 1 kernels -----------------------------------------------------------------------

[[gnu::noinline]] uint64_t count_interned(const Record* r, size_t n, uint32_t mow, uint32_t ru) {
  uint64_t c = 0;
  for (size_t i = 0; i < n; ++i)
    if ((r[i].origin_id == mow || r[i].country_id == ru) &&
        (r[i].value >= kMinValue || r[i].adults == kOneAdult))
      ++c;
  return c;
}

[[gnu::noinline]] uint64_t count_branch_free(const Record* r, size_t n, uint32_t mow,
                                             uint32_t ru) {
  uint64_t c = 0;
  for (size_t i = 0; i < n; ++i) {
    // Bitwise operators on bools: every test is evaluated, nothing to mispredict.
    bool where = (r[i].origin_id == mow) | (r[i].country_id == ru);
    bool what = (r[i].value >= kMinValue) | (r[i].adults == kOneAdult);
    c += where & what;
  }
  return c;
}

[[gnu::noinline]] uint64_t count_std_string(const StringRecord* r, size_t n,
                                            const std::string& mow, const std::string& ru) {
  uint64_t c = 0;
  for (size_t i = 0; i < n; ++i)
    if ((r[i].origin == mow || r[i].country == ru) &&
        (r[i].value >= kMinValue || r[i].adults == kOneAdult))
      ++c;
  return c;
}

// ---- benchmark 2 kernels -----------------------------------------------------------------------

[[gnu::noinline]] uint64_t count_audience_branchy(const Profiles& p) {
  const int32_t* age = p.age.data();
  const int32_t* city = p.city.data();
  const int32_t* level = p.member_level.data();
  const int32_t* orders = p.orders_30d.data();
  const int32_t* days = p.days_since_last_order.data();
  uint64_t c = 0;
  for (size_t i = 0; i < p.size; ++i)
    if (age[i] >= kAgeLo && age[i] <= kAgeHi && in_segment_cities(city[i]) &&
        level[i] >= kMinMemberLevel && orders[i] == 0 && days[i] > kMinDaysSinceOrder)
      ++c;
  return c;
}

constexpr bool all_distinct(const std::array<int32_t, 5>& s) {
  for (size_t i = 0; i < s.size(); ++i)
    for (size_t j = i + 1; j < s.size(); ++j)
      if (s[i] == s[j]) return false;
  return true;
}
static_assert(all_distinct(kSegmentCities), "audience_mask spells out a set of five cities");

// One profile's segment test without branches: every test is computed, results combined with &.
inline uint32_t audience_mask(int32_t age, int32_t city, int32_t level, int32_t orders,
                              int32_t days) {
  uint32_t in_age = static_cast<uint32_t>(age - kAgeLo) <= kAgeHi - kAgeLo;  // one unsigned test
  // A sum, not an | chain: g++ rewrites `c == 0 | c == 3 | ...` into a 64-bit bit test that its
  // vectorizer rejects. The members are distinct, so the sum is 0 or 1.
  uint32_t in_city = (city == kSegmentCities[0]) + (city == kSegmentCities[1]) +
                     (city == kSegmentCities[2]) + (city == kSegmentCities[3]) +
                     (city == kSegmentCities[4]);
  return in_age & in_city & (level >= kMinMemberLevel) & (orders == 0) &
         (days > kMinDaysSinceOrder);
}

[[gnu::noinline]] uint64_t count_audience_branch_free(const Profiles& p) {
  const int32_t* age = p.age.data();
  const int32_t* city = p.city.data();
  const int32_t* level = p.member_level.data();
  const int32_t* orders = p.orders_30d.data();
  const int32_t* days = p.days_since_last_order.data();
  // Blocks of a fixed size: the inner trip count is a known multiple of any vector width, the
  // per-block count stays in a 32-bit lane, and a scalar tail handles the rest.
  constexpr size_t kBlock = 2048;
  uint64_t c = 0;
  size_t i = 0;
  for (; i + kBlock <= p.size; i += kBlock) {
    uint32_t block = 0;
    for (size_t j = i; j < i + kBlock; ++j)
      block += audience_mask(age[j], city[j], level[j], orders[j], days[j]);
    c += block;
  }
  for (; i < p.size; ++i) c += audience_mask(age[i], city[i], level[i], orders[i], days[i]);
  return c;
}

// ---- SQLite plumbing ---------------------------------------------------------------------------

[[noreturn]] void sqlite_fail(sqlite3* db, const char* what) {
  std::fprintf(stderr, "BENCH FAILURE: sqlite %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
  std::exit(2);
}

// A private in-memory database. NOMUTEX: a single-threaded embedder would not pay for the
// serialized threading mode, so neither does the baseline.
struct Db {
  sqlite3* db = nullptr;
  Db() {
    if (sqlite3_open_v2(":memory:", &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK)
      sqlite_fail(db, "open");
  }
  ~Db() { sqlite3_close(db); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  void exec(const std::string& sql) {
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      sqlite_fail(db, sql.c_str());
  }
};

struct Stmt {
  sqlite3_stmt* st = nullptr;
  Stmt(Db& d, const std::string& sql) {
    if (sqlite3_prepare_v2(d.db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
      sqlite_fail(d.db, sql.c_str());
  }
  ~Stmt() { sqlite3_finalize(st); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
};

std::string segment_where_sql() {
  std::string cities;
  for (int32_t c : kSegmentCities) cities += (cities.empty() ? "" : ", ") + std::to_string(c);
  return "age BETWEEN " + std::to_string(kAgeLo) + " AND " + std::to_string(kAgeHi) +
         " AND city IN (" + cities + ") AND member_level >= " + std::to_string(kMinMemberLevel) +
         " AND orders_30d = 0 AND days_since_last_order > " + std::to_string(kMinDaysSinceOrder);
}

}  // namespace

// ---- benchmark 1 -------------------------------------------------------------------------------

Result native_interned(const std::vector<Record>& recs, uint64_t expected, int reps) {
  const std::string name = "native/interned";
  uint32_t mow = intern(kOrigins, "MOW"), ru = intern(kCountries, "RU");
  double s = best_seconds(name, reps, expected,
                          [&] { return count_interned(recs.data(), recs.size(), mow, ru); });
  return per_eval(name, s, recs.size(), expected);
}

Result native_branch_free(const std::vector<Record>& recs, uint64_t expected, int reps) {
  const std::string name = "native/branch_free";
  uint32_t mow = intern(kOrigins, "MOW"), ru = intern(kCountries, "RU");
  double s = best_seconds(name, reps, expected,
                          [&] { return count_branch_free(recs.data(), recs.size(), mow, ru); });
  return per_eval(name, s, recs.size(), expected);
}

Result native_std_string(const std::vector<StringRecord>& recs, uint64_t expected, int reps) {
  const std::string name = "native/std_string";
  const std::string mow = "MOW", ru = "RU";
  double s = best_seconds(name, reps, expected,
                          [&] { return count_std_string(recs.data(), recs.size(), mow, ru); });
  return per_eval(name, s, recs.size(), expected);
}

Result sqlite_per_row(const std::vector<Record>& recs, uint64_t expected, int reps) {
  const std::string name = "sqlite/per_row";
  Db db;
  Stmt q(db, "SELECT (?1 = 'MOW' OR ?2 = 'RU') AND (?3 >= " + std::to_string(kMinValue) +
                 " OR ?4 = " + std::to_string(kOneAdult) + ")");
  double s = best_seconds(name, reps, expected, [&] {
    uint64_t c = 0;
    for (const Record& r : recs) {
      std::string_view o = kOrigins[r.origin_id], k = kCountries[r.country_id];
      // SQLITE_STATIC: the tables are static storage, so SQLite need not copy the text.
      sqlite3_bind_text(q.st, 1, o.data(), static_cast<int>(o.size()), SQLITE_STATIC);
      sqlite3_bind_text(q.st, 2, k.data(), static_cast<int>(k.size()), SQLITE_STATIC);
      sqlite3_bind_int(q.st, 3, r.value);
      sqlite3_bind_int(q.st, 4, r.adults);
      if (sqlite3_step(q.st) != SQLITE_ROW) sqlite_fail(db.db, "step");
      c += sqlite3_column_int(q.st, 0) != 0;
      sqlite3_reset(q.st);
    }
    return c;
  });
  return per_eval(name, s, recs.size(), expected);
}

// ---- benchmark 2 -------------------------------------------------------------------------------

Result native_audience_branchy(const Profiles& p, uint64_t expected, int reps) {
  const std::string name = "native/audience_branchy";
  double s = best_seconds(name, reps, expected, [&] { return count_audience_branchy(p); });
  return per_second(name, s, p.size, expected);
}

Result native_audience_branch_free(const Profiles& p, uint64_t expected, int reps) {
  const std::string name = "native/audience_branch_free";
  double s = best_seconds(name, reps, expected, [&] { return count_audience_branch_free(p); });
  return per_second(name, s, p.size, expected);
}

Result sqlite_audience_count(const Profiles& p, uint64_t expected, int reps) {
  const std::string name = "sqlite/audience_count";
  Db db;
  db.exec(
      "CREATE TABLE profiles(age INTEGER, city INTEGER, member_level INTEGER, "
      "orders_30d INTEGER, days_since_last_order INTEGER, spend_total_cents INTEGER)");
  db.exec("BEGIN");
  {
    Stmt ins(db, "INSERT INTO profiles VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    for (size_t i = 0; i < p.size; ++i) {
      sqlite3_bind_int(ins.st, 1, p.age[i]);
      sqlite3_bind_int(ins.st, 2, p.city[i]);
      sqlite3_bind_int(ins.st, 3, p.member_level[i]);
      sqlite3_bind_int(ins.st, 4, p.orders_30d[i]);
      sqlite3_bind_int(ins.st, 5, p.days_since_last_order[i]);
      sqlite3_bind_int64(ins.st, 6, p.spend_total_cents[i]);
      if (sqlite3_step(ins.st) != SQLITE_DONE) sqlite_fail(db.db, "insert");
      sqlite3_reset(ins.st);
    }
  }
  db.exec("COMMIT");
  Stmt q(db, "SELECT count(*) FROM profiles WHERE " + segment_where_sql());
  double s = best_seconds(name, reps, expected, [&] {
    if (sqlite3_step(q.st) != SQLITE_ROW) sqlite_fail(db.db, "count");
    auto c = static_cast<uint64_t>(sqlite3_column_int64(q.st, 0));
    sqlite3_reset(q.st);
    return c;
  });
  return per_second(name, s, p.size, expected);
}

// ---- driver ------------------------------------------------------------------------------------

void run_native_sqlite_baselines(const Options& opts, bool native, bool sqlite) {
  {
    std::vector<Record> recs = make_records(opts.records);
    uint64_t expected = expected_predicate_matches(recs);
    if (native) {
      emit(native_interned(recs, expected, opts.reps));
      emit(native_branch_free(recs, expected, opts.reps));
      emit(native_std_string(materialise_strings(recs), expected, opts.reps));
    }
    if (sqlite) emit(sqlite_per_row(recs, expected, opts.reps));
  }
  Profiles p = make_profiles(opts.profiles);
  uint64_t expected = expected_audience_matches(p);
  if (native) {
    emit(native_audience_branchy(p, expected, opts.reps));
    emit(native_audience_branch_free(p, expected, opts.reps));
  }
  if (sqlite) emit(sqlite_audience_count(p, expected, opts.reps));
}

}  // namespace crm::bench
