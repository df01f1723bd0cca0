// bench_data.h - the benchmarks' shared, deterministic input data and the truth they are checked
// against. Every engine (native C++, SQLite, Lua 5.4, LuaJIT, the crm VM) reads the data made
// here, so all of them see exactly the same records; a fixed-seed splitmix64 (never a
// std::*_distribution, whose output differs between standard libraries) makes the data, and so
// the expected counts, identical on every machine and run.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace crm::bench {

// ---- random numbers ----------------------------------------------------------------------------

// splitmix64: tiny, fast, statistically fine for test data, and fully specified.
struct SplitMix64 {
  uint64_t state;
  explicit SplitMix64(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n). The modulo bias for n < 2^16 is below 2^-48: irrelevant here.
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
  // Uniform in [lo, hi], both inclusive.
  int32_t between(int32_t lo, int32_t hi) { return lo + static_cast<int32_t>(below(hi - lo + 1)); }
  // Skewed towards 0 (density ~ 1/sqrt(x)), like the popularity of airports or cities: a few
  // values are very common and there is a long tail. Uses only integer arithmetic on purpose.
  uint32_t skewed_below(uint32_t n) {
    uint64_t u = next() >> 32;  // 32 random bits
    return static_cast<uint32_t>(((u * u) >> 32) * n >> 32);
  }
};

inline constexpr uint64_t kRecordSeed = 0x00C0FFEE2024ull;
inline constexpr uint64_t kProfileSeed = 0x00BADA55C0DEull;

// ---- benchmark 1: a per-event predicate --------------------------------------------------------
//
//   (origin == "MOW" or country == "RU") and (value >= 100 or adults == 1)

// Origin airports (IATA city/airport codes). Index 0 is the most frequent (skewed_below), so
// "MOW" matches ~14% of records and the branchy evaluators meet real mispredictions.
inline constexpr std::array<std::string_view, 50> kOrigins = {
    "MOW", "LED", "IST", "DXB", "LON", "PAR", "FRA", "AMS", "MAD", "BCN",  //
    "ROM", "MIL", "VIE", "PRG", "BER", "MUC", "ZRH", "GVA", "CPH", "OSL",  //
    "STO", "HEL", "WAW", "BUD", "ATH", "LIS", "DUB", "BRU", "NYC", "LAX",  //
    "CHI", "MIA", "SFO", "YTO", "MEX", "GRU", "BUE", "TYO", "SEL", "BJS",  //
    "SHA", "HKG", "SIN", "BKK", "DEL", "BOM", "SYD", "TLV", "CAI", "KZN"};

// Customer countries (ISO 3166-1 alpha-2). Index 0 is the most frequent: "RU" ~16%.
inline constexpr std::array<std::string_view, 40> kCountries = {
    "RU", "TR", "AE", "DE", "GB", "FR", "IT", "ES", "NL", "CH",  //
    "AT", "CZ", "PL", "HU", "GR", "PT", "IE", "BE", "DK", "NO",  //
    "SE", "FI", "US", "CA", "MX", "BR", "AR", "JP", "KR", "CN",  //
    "HK", "SG", "TH", "IN", "AU", "IL", "EG", "KZ", "AM", "GE"};

// Interned ids of the predicate's string constants, by construction of the tables above.
inline constexpr uint32_t kOriginMOW = 0;
inline constexpr uint32_t kCountryRU = 0;
static_assert(kOrigins[kOriginMOW] == "MOW" && kCountries[kCountryRU] == "RU");

// Looks a string up in its table, as a host interns a predicate's constants once, before
// evaluating; the interned benchmarks use this rather than kOriginMOW so that the ids are not
// compile-time constants the optimiser could exploit.
inline uint32_t intern(std::span<const std::string_view> table, std::string_view s) {
  for (size_t i = 0; i < table.size(); ++i)
    if (table[i] == s) return static_cast<uint32_t>(i);
  std::fprintf(stderr, "BENCH FAILURE: cannot intern \"%.*s\"\n", int(s.size()), s.data());
  std::exit(2);
}

inline constexpr int32_t kMinValue = 100;  // value >= 100
inline constexpr int32_t kOneAdult = 1;    // adults == 1

// One event as a host would hand it over with interned strings: 16 bytes, the layout the LuaJIT
// FFI bench declares too (keep them in sync: lua_bench.cc, kFfiRecordDecl).
struct Record {
  uint32_t origin_id, country_id;  // indices into kOrigins / kCountries
  int32_t value;                   // 0..200
  int32_t adults;                  // 1..4, mostly 2
};
static_assert(sizeof(Record) == 16);

// The same event with materialised strings, for the std::string baseline.
struct StringRecord {
  std::string origin, country;
  int32_t value, adults;
};

// The skew matters: on uniformly drawn codes the first test almost always fails, and branchy
// evaluators (native short-circuit code, LuaJIT traces) run 2-6x faster than on this data.
inline std::vector<Record> make_records(size_t n, uint64_t seed = kRecordSeed) {
  SplitMix64 rng(seed);
  std::vector<Record> out(n);
  for (Record& r : out) {
    r.origin_id = rng.skewed_below(kOrigins.size());
    r.country_id = rng.skewed_below(kCountries.size());
    r.value = rng.between(0, 200);
    uint32_t a = rng.below(100);  // 1: 30%, 2: 45%, 3: 15%, 4: 10%
    r.adults = a < 30 ? 1 : a < 75 ? 2 : a < 90 ? 3 : 4;
  }
  return out;
}

inline std::vector<StringRecord> materialise_strings(const std::vector<Record>& recs) {
  std::vector<StringRecord> out;
  out.reserve(recs.size());
  for (const Record& r : recs)
    out.push_back({std::string(kOrigins[r.origin_id]), std::string(kCountries[r.country_id]),
                   r.value, r.adults});
  return out;
}

// Truth for benchmark 1, written as plainly as possible (no cleverness to get wrong).
inline uint64_t expected_predicate_matches(const std::vector<Record>& recs) {
  uint64_t n = 0;
  for (const Record& r : recs) {
    bool where = kOrigins[r.origin_id] == "MOW" || kCountries[r.country_id] == "RU";
    bool what = r.value >= 100 || r.adults == 1;
    if (where && what) ++n;
  }
  return n;
}

// ---- benchmark 2: an audience scan over a columnar profile store -------------------------------
//
//   age between 18 and 35 and city in {5 cities} and member_level >= 2
//   and orders_30d == 0 and days_since_last_order > 30

inline constexpr int kNumCities = 300;
inline constexpr int32_t kAgeLo = 18, kAgeHi = 35;
// A mix of big (low id, frequent) and small cities, so the set test is not just "city < 5".
inline constexpr std::array<int32_t, 5> kSegmentCities = {0, 3, 7, 42, 150};
inline constexpr int32_t kMinMemberLevel = 2;
inline constexpr int32_t kMinDaysSinceOrder = 30;  // strictly greater

// Struct of arrays, one int32 column per attribute as a simple columnar store (and the crm
// batch VM) keeps them. The width matters, since a good scan is bound by memory bandwidth: with
// 4-byte columns the native branch-free scan lands near the reference 1.3G profiles/s, while
// uint8/uint16 columns would make it ~2.5x faster.
struct Profiles {
  size_t size = 0;
  std::vector<int32_t> age;                    // 16..70, peak in the 30s-40s
  std::vector<int32_t> city;                   // 0..299, skewed: few big cities
  std::vector<int32_t> member_level;           // 0..5, most at 0-1
  std::vector<int32_t> orders_30d;             // 0..20, ~70% zero
  std::vector<int32_t> days_since_last_order;  // 0..365, consistent with orders_30d
  std::vector<int64_t> spend_total_cents;      // not in the segment: the width a real row has
};

inline Profiles make_profiles(size_t n, uint64_t seed = kProfileSeed) {
  SplitMix64 rng(seed);
  Profiles p;
  p.size = n;
  p.age.resize(n);
  p.city.resize(n);
  p.member_level.resize(n);
  p.orders_30d.resize(n);
  p.days_since_last_order.resize(n);
  p.spend_total_cents.resize(n);
  for (size_t i = 0; i < n; ++i) {
    p.age[i] = static_cast<int32_t>(16 + rng.below(28) + rng.below(28));  // triangular 16..70
    p.city[i] = static_cast<int32_t>(rng.skewed_below(kNumCities));
    uint32_t l = rng.below(100);  // 0: 40%, 1: 25%, 2: 15%, 3: 10%, 4: 6%, 5: 4%
    p.member_level[i] = l < 40 ? 0 : l < 65 ? 1 : l < 80 ? 2 : l < 90 ? 3 : l < 96 ? 4 : 5;
    // Most customers did not order this month; those who did, mostly once or twice.
    uint32_t o = rng.below(100);
    int32_t orders = o < 70 ? 0 : o < 85 ? 1 : o < 93 ? 2 : rng.between(3, 20);
    p.orders_30d[i] = orders;
    // An order in the last 30 days implies a recent last order, and vice versa.
    p.days_since_last_order[i] = orders > 0 ? rng.between(0, 29) : rng.between(30, 365);
    p.spend_total_cents[i] = static_cast<int64_t>(rng.below(5'000'000)) * (1 + p.member_level[i]);
  }
  return p;
}

inline bool in_segment_cities(int32_t city) {
  for (int32_t c : kSegmentCities)
    if (city == c) return true;
  return false;
}

// Truth for benchmark 2.
inline uint64_t expected_audience_matches(const Profiles& p) {
  uint64_t n = 0;
  for (size_t i = 0; i < p.size; ++i) {
    bool in = p.age[i] >= kAgeLo && p.age[i] <= kAgeHi && in_segment_cities(p.city[i]) &&
              p.member_level[i] >= kMinMemberLevel && p.orders_30d[i] == 0 &&
              p.days_since_last_order[i] > kMinDaysSinceOrder;
    if (in) ++n;
  }
  return n;
}

// ---- verification ------------------------------------------------------------------------------

// A benchmark that computes the wrong answer measures nothing: abort, loudly, with both numbers.
inline void verify_count(const std::string& name, uint64_t got, uint64_t expected) {
  if (got == expected) return;
  std::fprintf(stderr, "BENCH FAILURE: %s counted %llu matches, expected %llu\n", name.c_str(),
               static_cast<unsigned long long>(got), static_cast<unsigned long long>(expected));
  std::fflush(stderr);
  std::exit(2);
}

}  // namespace crm::bench
