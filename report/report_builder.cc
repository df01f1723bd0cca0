// report_builder.cc - crm::report::build(): one streamed pass over the ledger, one over the
// event log (docs/indicators.md).
//
// Ledger rows are read in order with one SQLite statement and never kept: what is kept is per
// (strategy, user) pair (its group, its first decision, its deliveries) and per indicator row
// (counts and the sets of users it counts once). The events are then read line by line; each
// event of a known user is attributed to that user's pairs.
#include <crm/report.h>
#include <crm/runtime.h>

#include <sqlite3.h>
#include <sys/mman.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <istream>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <stdexcept>
#include <tuple>

#include "support/line_reader.h"
#include "support/statistics.h"
#include "bytecode/program.h"
#include "runtime/engine/event_id_window.h"
#include "runtime/engine/json_line.h"
#include "runtime/engine/program_identity.h"
#include "runtime/state/ledger_names.h"
#include "runtime/state/ledger_sqlite.h"
#include "runtime/state/state_store.h"
#include "support/civil_time.h"
#include "support/time_zone.h"
#include "support/decimal.h"
#include "support/json_text.h"

namespace crm::report {
namespace {

// The ledger's file of a state spec, read by the one parser of specs (runtime/state/state_store.h):
// `sqlite:PATH?max_pages=N` is the file PATH, as for `crm run`. False with `error` for a spec that
// names no SQLite ledger.
bool ledger_file(const std::string& spec, std::string& path, std::string& error) {
  state::StateSpec parsed;
  if (spec.rfind("sqlite:", 0) != 0) {
    error = fmt::format("state `{}`: a report reads a SQLite ledger, `sqlite:PATH`", spec);
    return false;
  }
  if (!state::parse_state_spec(spec, parsed, error)) return false;
  path = parsed.path;
  return true;
}

// The statistics are the engine's too (the automatic roll-out decides with them).
using support::ChiSquare;
using support::MeanDifference;
using support::ProportionDifference;
using support::Relative;
using support::chi_square_fit;
using support::newcombe;
using support::relative_uplift;
using support::welch;
Interval interval(const support::Interval& i) { return {i.low, i.high}; }

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kDay = 86'400'000'000LL;
constexpr uint32_t kAll = 0xffffffffu;  // an indicator row's "all channels" or "all days"

double ratio(double a, double b) { return b != 0 ? a / b : kNaN; }

int64_t floor_day(int64_t micros) { return micros >= 0 ? micros / kDay : -((-micros + kDay - 1) / kDay); }

// The allocator of the big per-pair and per-user arrays: blocks of 4 MiB and more are asked
// for in transparent huge pages (madvise), since the report's time at millions of users goes to
// random accesses into them and to their page faults (perf, 10M rows: a third of the time in
// the TLB and the kernel's fault path with 4 KiB pages).
template <class T>
struct BigAllocator {
  using value_type = T;
  static constexpr size_t kHuge = size_t(2) << 20;
  BigAllocator() = default;
  template <class U>
  BigAllocator(const BigAllocator<U>&) {}
  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < 2 * kHuge) return std::allocator<T>().allocate(n);
    void* p = std::aligned_alloc(kHuge, (bytes + kHuge - 1) / kHuge * kHuge);
    if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);  // a hint: without it the pages are ordinary ones
#endif
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < 2 * kHuge) std::allocator<T>().deallocate(p, n);
    else std::free(p);
  }
  template <class U>
  bool operator==(const BigAllocator<U>&) const { return true; }
};
template <class T>
using BigVector = std::vector<T, BigAllocator<T>>;

// One delivery of a pair: a granted row's time, channel and code (one entry per distinct
// (time, channel, code): the per-code rows need the code of what reached the user). The
// (channel, code) is one 32-bit id into Builder::routes, so an entry is 16 bytes (there are
// millions; with a channel and a code id of their own it was 24) without a limit on the number
// of channels or codes below the 4 billion deliveries. While the ledger is read, `tag` is the
// pair's index (deliveries are appended in ledger order, one flat array for all pairs); the
// array is then grouped by pair and `tag` holds what the events found.
struct Delivery {
  int64_t at;
  uint32_t route;  // Builder::routes: its channel and code (kAll: none)
  uint32_t tag;
};
static_assert(sizeof(Delivery) == 16);
constexpr uint32_t kVisited = 1, kConverted = 2;  // Delivery::tag after grouping

// One strategy and one user.
// 64 bytes (its flags in one byte; there are millions of pairs).
struct Pair {
  uint32_t strategy, user;
  uint32_t next_of_user = UINT32_MAX;  // the user's next pair (a chain through `pairs`)
  uint32_t first = 0, count = 0;       // its deliveries: [first, first + count) once grouped;
                                       // while reading, `first` is the latest one's index
  bool treated : 1 = false, control : 1 = false;
  bool rollout : 1 = false;  // decided after a roll-out for the rest of the audience (not randomized)
  // From the events.
  bool has_order_before : 1 = false;
  bool visited : 1 = false, converted : 1 = false;    // in a window after a delivery
  bool exp_visit : 1 = false, exp_order : 1 = false;  // in the window after the first decision
  uint32_t arm = UINT32_MAX;  // the A/B/n arm its decisions name (arm_ids)
  uint32_t exp_orders = 0;
  int64_t first_decision = INT64_MAX;
  int64_t cost = 0;                       // subsidy of the user's redemptions and cost of its messages
  int64_t last_order_before = INT64_MIN;  // the latest order before the first delivery
  int64_t exp_spend = 0;
};
static_assert(sizeof(Pair) <= 64);

struct Acc {
  Indicators row;
  std::map<std::string, int64_t, std::less<>> by_funder;  // subsidy by funder (resource `funded:`)
};

// Lookups by string_view without building a std::string per ledger row.
struct TextHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Ids = std::unordered_map<std::string, uint32_t, TextHash, std::equal_to<>>;

// An interned name and the last one looked up: consecutive ledger rows mostly repeat the
// strategy and the channel. For the few strategies and channels of a ledger.
struct Interner {
  Ids ids;
  std::vector<std::string>* names = nullptr;
  std::string last;
  uint32_t last_id = UINT32_MAX;
  uint32_t operator()(std::string_view s) {
    if (last_id != UINT32_MAX && s == last) return last_id;
    auto it = ids.find(s);
    if (it == ids.end()) {
      it = ids.emplace(std::string(s), static_cast<uint32_t>(ids.size())).first;
      if (names) names->emplace_back(s);
    }
    last.assign(s);
    return last_id = it->second;
  }
};

// The users: millions of names, one looked up per ledger row. An open-addressing table of
// (hash tag, id) words over the names packed in one arena costs one probe into a flat table
// and one compare, where std::unordered_map costs a bucket, a node and its string, and a
// heap block per name (perf: the map was a quarter of a report's time at 10M rows).
class UserTable {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;
  uint32_t size() const { return static_cast<uint32_t>(ends_.size()); }
  uint32_t find(std::string_view s) const {
    if (slots_.empty()) return kNone;
    size_t slot;
    return probe(s, hash(s), slot);
  }
  uint32_t intern(std::string_view s) {
    if ((size_t(size()) + 1) * 2 > slots_.size()) grow();
    const uint64_t h = hash(s);
    size_t slot;
    uint32_t id = probe(s, h, slot);
    if (id != kNone) return id;
    id = size();
    if (id == kNone - 1) throw std::length_error("more than 4 billion users");
    arena_.append(s);
    ends_.push_back(arena_.size());
    slots_[slot] = (h & 0xffffffff00000000ULL) | (uint64_t(id) + 1);
    return id;
  }

 private:
  BigVector<uint64_t> slots_;  // (hash >> 32) << 32 | (id + 1); 0 is empty
  std::string arena_;
  BigVector<size_t> ends_;     // where each id's name ends in the arena
  static uint64_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
  std::string_view name(uint32_t id) const {
    const size_t b = id ? ends_[id - 1] : 0;
    return std::string_view(arena_).substr(b, ends_[id] - b);
  }
  uint32_t probe(std::string_view s, uint64_t h, size_t& slot) const {
    const size_t mask = slots_.size() - 1;
    const uint64_t tag = h & 0xffffffff00000000ULL;
    for (slot = size_t(h) & mask;; slot = (slot + 1) & mask) {
      const uint64_t v = slots_[slot];
      if (v == 0) return kNone;
      if ((v & 0xffffffff00000000ULL) == tag && name(uint32_t(v) - 1) == s) return uint32_t(v) - 1;
    }
  }
  void grow() {
    slots_.assign(std::max<size_t>(1024, slots_.size() * 2), 0);
    const size_t mask = slots_.size() - 1;
    for (uint32_t id = 0; id < size(); ++id) {
      const uint64_t h = hash(name(id));
      size_t slot = size_t(h) & mask;
      while (slots_[slot] != 0) slot = (slot + 1) & mask;
      slots_[slot] = (h & 0xffffffff00000000ULL) | (uint64_t(id) + 1);
    }
  }
};

struct Builder {
  const Options& o;
  // Money sums are exact int64 millionths (about 9.2 trillion units of a currency): a sum past
  // that is an error of the report, never a wrapped negative amount.
  bool money_overflow = false;
  void add_money(int64_t& sum, int64_t v) {
    if (__builtin_add_overflow(sum, v, &sum)) money_overflow = true;
  }
  support::ZoneRules zone;  // Options::zone: the per-day rows are its local days
  int64_t day_of(int64_t at) const { return zone.transitions.empty() ? floor_day(at + zone.initial_offset) : zone.local_day(at); }
  Report& r;
  Interner strategy_ids, channel_ids, reason_ids, arm_ids, code_ids;
  std::vector<std::string> arms, codes;
  std::vector<std::string> reasons;
  std::unordered_map<uint64_t, int64_t> rejections;  // strategy << 33 | held << 32 | reason -> rows
  UserTable users;
  std::vector<std::string> strategies, channels;
  BigVector<Pair> pairs;
  BigVector<uint32_t> first_pair_of_user;  // a chain through Pair::next_of_user
  BigVector<Delivery> deliveries;          // see Delivery
  // An indicator row's key: strategy << 32 | channel + 1 (0: all channels), and its day
  // (INT64_MIN: all days). Two words, so no number of strategies or channels collides.
  struct AccKey {
    uint64_t strategy_channel;
    int64_t day;
    bool operator==(const AccKey&) const = default;
  };
  struct AccKeyHash {
    size_t operator()(const AccKey& k) const {
      return std::hash<uint64_t>{}(k.strategy_channel * 0x9e3779b97f4a7c15ULL ^ uint64_t(k.day));
    }
  };
  std::unordered_map<AccKey, Acc, AccKeyHash> accs;  // see key(); references stay valid as it grows
  std::unordered_map<uint64_t, Acc> code_accs;  // per strategy << 32 | code: the per-code rows

  // Each strategy's split as the ledger recorded it (read_recorded_splits).
  struct RecordedSplit {
    bool recorded = false;         // false: a ledger older than schema version 4
    int32_t control_basis_points = 0;
    int32_t decided_basis_points = 10000;  // the control group and the arms (`;variants:...`), or all users
    bool changed = false;          // the programs that recorded the ledger configured it differently
    std::string malformed;         // a recorded split crm could not have written (then unused)
  };
  std::unordered_map<std::string, RecordedSplit> recorded_splits;

  Builder(const Options& options, Report& report) : o(options), r(report) {
    strategy_ids.names = &strategies;
    channel_ids.names = &channels;
    arm_ids.names = &arms;
    reason_ids.names = &reasons;
    code_ids.names = &codes;
  }
  void finish_rejections() {
    for (const auto& [k, rows] : rejections)
      r.rejections.push_back({strategies[k >> 33], std::string((k >> 32) & 1 ? state::outcome::Held : state::outcome::Rejected), reasons[uint32_t(k)], rows});
    std::sort(r.rejections.begin(), r.rejections.end(), [](const Rejection& a, const Rejection& b) {
      return std::tie(a.strategy, a.outcome, a.reason) < std::tie(b.strategy, b.outcome, b.reason);
    });
  }
  static AccKey key(uint32_t s, uint32_t ch, int64_t day, bool by_day) {
    return {(uint64_t(s) << 32) | (ch == kAll ? 0 : uint64_t(ch) + 1), by_day ? day : INT64_MIN};
  }
  // The (channel, code) of deliveries, each once: Delivery::route indexes `routes`.
  std::vector<std::pair<uint32_t, uint32_t>> routes;
  std::unordered_map<uint64_t, uint32_t> route_ids;
  // The last route looked up, by a flag and not a sentinel key: every key is possible, also
  // UINT64_MAX, a delivery with neither a channel nor a code (kAll, kAll), which was taken for
  // the remembered route 0 before any was added (another route's row counted it, or with no
  // other route the report read past `routes` and crashed).
  bool have_last_route = false;
  uint64_t last_route_key = 0;
  uint32_t last_route = 0;
  uint32_t route_of(uint32_t ch, uint32_t code) {
    const uint64_t k = (uint64_t(ch) << 32) | code;
    if (have_last_route && k == last_route_key) return last_route;
    have_last_route = true;
    auto [it, added] = route_ids.try_emplace(k, static_cast<uint32_t>(routes.size()));
    if (added) routes.emplace_back(ch, code);
    last_route_key = k;
    return last_route = it->second;
  }
  uint32_t channel_of(const Delivery& d) const { return routes[d.route].first; }
  uint32_t code_of(const Delivery& d) const { return routes[d.route].second; }
  Acc& acc(uint32_t s, uint32_t ch, int64_t day, bool by_day) {
    auto [it, added] = accs.try_emplace(key(s, ch, day, by_day));
    if (added) {
      it->second.row.strategy = strategies[s];
      if (ch != kAll) it->second.row.channel = channels[ch];
      if (by_day) it->second.row.day = support::format_date(static_cast<int32_t>(day));
    }
    return it->second;
  }
  Acc& code_acc(uint32_t s, uint32_t code) {
    auto [it, added] = code_accs.try_emplace((uint64_t(s) << 32) | code);
    if (added) {
      it->second.row.strategy = strategies[s];
      it->second.row.code = codes[code];
    }
    return it->second;
  }
  // The four rows a ledger row counts in: the strategy, its channel (none without a channel),
  // its day, its code (none without a code); remembered for the next row, which mostly has the
  // same four.
  struct Rows {
    uint32_t s = kAll, ch = kAll, code = kAll;
    int64_t day = 0;
    Acc *all = nullptr, *channel = nullptr, *daily = nullptr, *coded = nullptr;
  } rows_memo;
  const Rows& rows(uint32_t s, uint32_t ch, int64_t day, uint32_t code) {
    Rows& m = rows_memo;
    if (m.all && m.s == s && m.ch == ch && m.day == day && m.code == code) return m;
    m = {s,
         ch,
         code,
         day,
         &acc(s, kAll, 0, false),
         ch != kAll ? &acc(s, ch, 0, false) : nullptr,
         &acc(s, kAll, day, true),
         code != kAll ? &code_acc(s, code) : nullptr};
    return m;
  }
  template <class F>
  void each(uint32_t s, uint32_t ch, int64_t day, uint32_t code, F f) {
    const Rows& m = rows(s, ch, day, code);
    f(*m.all);
    if (m.channel) f(*m.channel);
    f(*m.daily);
    if (m.coded) f(*m.coded);
  }
  uint64_t last_pair_key = UINT64_MAX;
  uint32_t last_pair = 0;
  // A user's pairs are found by a walk along the user's (few) strategies: no map keyed by pair.
  Pair& pair(uint32_t s, uint32_t u) {
    const uint64_t k = (uint64_t(s) << 32) | u;
    if (k == last_pair_key) return pairs[last_pair];
    if (first_pair_of_user.size() <= u)
      first_pair_of_user.resize(std::max<size_t>(u + 1, first_pair_of_user.size() * 2), UINT32_MAX);
    uint32_t* link = &first_pair_of_user[u];
    while (*link != UINT32_MAX && pairs[*link].strategy != s) link = &pairs[*link].next_of_user;
    uint32_t found = *link;
    if (found == UINT32_MAX) {
      if (pairs.size() >= UINT32_MAX - 1) throw std::length_error("more than 4 billion (strategy, user) pairs");
      found = *link = static_cast<uint32_t>(pairs.size());
      pairs.emplace_back();  // may move the pairs: `link` is not used after this
      pairs.back().strategy = s;
      pairs.back().user = u;
    }
    last_pair_key = k;
    last_pair = found;
    return pairs[found];
  }
  // Who funds each resource's subsidy, from the program (`funded:`); without one, or for a
  // resource that declares none, the whole subsidy is "undeclared". The split of an amount is
  // floor(amount x share) for each funder, and what rounding leaves goes to the first funder
  // listed, so the parts add up to the subsidy exactly.
  std::unordered_map<std::string, std::vector<bytecode::Resource::Funder>, TextHash, std::equal_to<>> funders;
  std::vector<std::pair<std::string_view, int64_t>> split_parts;
  const std::vector<std::pair<std::string_view, int64_t>>& split_by_funder(std::string_view resource, int64_t amount) {
    split_parts.clear();
    auto it = funders.find(resource);
    if (it == funders.end() || it->second.empty()) {
      split_parts.emplace_back("undeclared", amount);
      return split_parts;
    }
    int64_t left = amount;
    for (const auto& f : it->second) {
      const int64_t part = static_cast<int64_t>(static_cast<__int128>(amount) * f.share / 1'000'000);
      split_parts.emplace_back(f.name, part);
      left -= part;
    }
    split_parts.front().second += left;
    return split_parts;
  }
  uint32_t user_of(std::string_view name) {
    if (last_user_id != UserTable::kNone && name == last_user_name) return last_user_id;
    last_user_name.assign(name);
    return last_user_id = users.intern(name);
  }
  std::string last_user_name;
  uint32_t last_user_id = UserTable::kNone;

  bool read_ledger() {
    std::string path;
    if (!ledger_file(o.state, path, r.error)) return false;
    sqlite3* db = nullptr;
    // A directory as `crm run` names it (SQLite says "disk I/O error").
    if (std::error_code ec; std::filesystem::is_directory(path, ec)) {
      r.error = fmt::format("cannot open state `{}`: it is a directory", path);
      return false;
    }
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      r.error = fmt::format("cannot open state `{}`: {}", path, db ? sqlite3_errmsg(db) : "out of memory");
      sqlite3_close(db);
      return false;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* st = nullptr;
    // A ledger of a schema version this crm does not know (a newer crm's) is refused as `crm run`
    // refuses it: its rows may mean what this report cannot tell (docs/semantics.md, "Errors").
    if (sqlite3_prepare_v2(db, "SELECT value FROM crm_meta WHERE key = 'schema_version'", -1, &st, nullptr) == SQLITE_OK) {
      std::string version;
      if (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char* t = sqlite3_column_text(st, 0);
        version.assign(t ? reinterpret_cast<const char*>(t) : "", size_t(sqlite3_column_bytes(st, 0)));
        if (version.empty()) version = "''";  // a row crm never writes empty
      }
      if (!state::readable_schema_version(version)) r.error = state::schema_version_error(path, support::json_escape(version));
    }
    sqlite3_finalize(st);
    st = nullptr;
    if (!r.error.empty()) {
      sqlite3_close(db);
      return false;
    }
    // Where units start (crm_units.first_seq, schema version 8; none before): a delivery ends at
    // each, so two adjacent units with one id (an id used again after the dedup window) count two
    // deliveries, as LocalQuotas::rebuild counts them when a run restarts.
    // Its numbers are checked as `crm run` checks them when it opens the ledger (one rule,
    // state::foreign_unit_number): a text first_seq read as 0 would end no delivery.
    std::vector<int64_t> starts;
    if (sqlite3_prepare_v2(db, "SELECT seq, first_seq, at FROM crm_units ORDER BY seq", -1, &st, nullptr) == SQLITE_OK)
      while (sqlite3_step(st) == SQLITE_ROW) {
        const state::LedgerNumber first = state::ledger_number(st, 1);
        if (const char* bad = state::foreign_unit_number(first, state::ledger_number(st, 2))) {
          const unsigned char* t = sqlite3_column_text(st, *bad == 'f' ? 1 : 2);
          r.error = fmt::format("state `{}`: unit row {} has {} `{}`, which crm never writes; the ledger was changed "
                                "outside crm, and its figures would be wrong",
                                path, sqlite3_column_int64(st, 0), bad,
                                support::json_escape(t ? reinterpret_cast<const char*>(t) : ""));
          break;
        }
        if (!first.null()) starts.push_back(first.value);
      }
    sqlite3_finalize(st);
    st = nullptr;
    if (!r.error.empty()) {
      sqlite3_close(db);
      return false;
    }
    std::sort(starts.begin(), starts.end());
    size_t next_start = 0;
    // Ledgers before version 4 have no `arm` column: no A/B/n arms. A message's row says what it
    // cost in its record's `cost` (docs/semantics.md, "Message texts and costs"), and its
    // `amount` is that cost; `,"cost":` cannot occur inside a JSON string (its quotes would be
    // escaped), so finding it marks a message.
    // Ledgers before version 7 have no `rollout` column, before version 4 no `arm` either.
    bool ok = false;
    for (const char* columns : {"arm, rollout", "arm, NULL", "NULL, NULL"}) {
      const std::string sql = fmt::format(
          "SELECT unit, kind, user, strategy, outcome, reason, channel, amount, sales, at, {}, "
          "instr(json, ',\"cost\":') > 0, resource, code, seq, granted_at FROM crm_ledger ORDER BY seq",
          columns);
      sqlite3_finalize(st);
      st = nullptr;
      if ((ok = sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK)) break;
    }
    if (!ok) {
      // A database without crm's tables is the wrong input (exit 1); a file SQLite cannot read
      // (not a database, a directory, no permission, I/O) is a ledger that cannot be opened (3).
      const int code = sqlite3_errcode(db) & 0xff;
      r.error = code == SQLITE_ERROR ? fmt::format("state `{}` is not a crm ledger: {}", path, sqlite3_errmsg(db))
                                     : fmt::format("cannot read state `{}`: {}", path, sqlite3_errmsg(db));
      sqlite3_close(db);
      return false;
    }
    auto text = [&](int i) {
      const unsigned char* t = sqlite3_column_text(st, i);
      return std::string_view(t ? reinterpret_cast<const char*>(t) : "", size_t(sqlite3_column_bytes(st, i)));
    };
    // The delivery being read: its rows are consecutive (one unit decides a user and a strategy once).
    std::string last_unit;
    int last_kind = -1;
    uint32_t last_user = kAll, last_strategy = kAll;
    std::vector<uint32_t> delivery_channels, delivery_codes;
    int rc;
    // The ledger's outcome names (runtime/engine/decisions.def), each compared once per row; a
    // row with another outcome or reason was not written by crm, and the report would count it
    // as nothing: it is refused as the engine refuses it at open (docs/semantics.md).
    enum class Kind { Granted, Rejected, Held, Control, Redeemed, Rollout, Other };
    auto kind_of = [](std::string_view o) {
      namespace n = state::outcome;
      return o == n::Granted ? Kind::Granted : o == n::Rejected ? Kind::Rejected : o == n::Held ? Kind::Held
             : o == n::Control ? Kind::Control : o == n::Redeemed ? Kind::Redeemed : o == n::Rollout ? Kind::Rollout
                               : Kind::Other;
    };
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      ++r.ledger_rows;
      bool crossed = false;
      for (const int64_t seq = sqlite3_column_int64(st, 15); next_start < starts.size() && starts[next_start] <= seq; ++next_start)
        crossed = true;
      if (crossed) last_strategy = kAll;  // a unit starts here: the delivery read ends
      std::string_view outcome_text = text(4);
      const Kind outcome = kind_of(outcome_text);
      const std::string_view reason_text = text(5);
      const bool integer_kind = sqlite3_column_type(st, 1) == SQLITE_INTEGER;  // before any conversion
      if (const char* bad = state::foreign_column(integer_kind, sqlite3_column_int64(st, 1), outcome_text, reason_text)) {
        // Shown JSON-escaped: control characters in it reach no terminal raw.
        r.error = fmt::format("state `{}`: ledger row {} has {} `{}`, which crm never writes (runtime/engine/decisions.def); "
                              "the ledger was changed outside crm, and its figures would be wrong",
                              path, sqlite3_column_int64(st, 15), bad,
                              support::json_escape(*bad == 'k' ? text(1) : *bad == 'o' ? outcome_text : reason_text));
        break;
      }
      // Numbers crm could not have written (a time out of the years 0001-9999, a text or negative
      // amount) would count as some other figure: refused likewise, naming the row, by the rule
      // `crm run` applies when it opens the ledger (state::foreign_number).
      // (The types are read before any value: a conversion leaves sqlite3_column_type undefined.)
      if (const char* bad = state::foreign_number(state::ledger_number(st, 9), state::ledger_number(st, 7),
                                                  state::ledger_number(st, 8), state::ledger_number(st, 16))) {
        const std::string_view b = bad;
        const int i = b == "at" ? 9 : b == "amount" ? 7 : b == "sales" ? 8 : 16;
        r.error = fmt::format("state `{}`: ledger row {} has {} `{}`, which crm never writes; the ledger was changed "
                              "outside crm, and its figures would be wrong",
                              path, sqlite3_column_int64(st, 15), bad, support::json_escape(text(i)));
        break;
      }
      std::string_view strategy = text(3);
      if (strategy.empty()) continue;  // a redemption of nothing this program granted
      // A roll-out's choice is no user's decision (its numbers are in its JSON); the rows decided
      // for the rest of the audience after it are treated rows of the strategy like any other.
      if (outcome == Kind::Rollout) {
        last_strategy = kAll;
        continue;
      }
      const uint32_t s = strategy_ids(strategy);
      const uint32_t u = user_of(text(2));
      std::string_view ch_text = text(6);
      const uint32_t ch = ch_text.empty() ? kAll : channel_ids(ch_text);
      std::string_view code_text = text(14);
      const uint32_t cd = code_text.empty() ? kAll : code_ids(code_text);
      const int64_t amount = sqlite3_column_int64(st, 7), sales = sqlite3_column_int64(st, 8), at = sqlite3_column_int64(st, 9);
      const int64_t day = day_of(at);
      const bool message = sqlite3_column_int(st, 12) != 0;
      const bool granted = outcome == Kind::Granted;
      const bool decision = granted || outcome == Kind::Rejected || outcome == Kind::Held || outcome == Kind::Control;
      if (decision) {
        Pair& p = pair(s, u);
        if (p.first_decision == INT64_MAX) p.first_decision = at;
        if (outcome == Kind::Control) p.control = true;
        else p.treated = true;
        if (std::string_view arm = text(10); !arm.empty() && outcome != Kind::Control) p.arm = arm_ids(arm);
        if (!text(11).empty()) p.rollout = true;
      }
      if (granted) {
        std::string_view unit = text(0);
        int kind = sqlite3_column_int(st, 1);
        bool same = last_strategy == s && last_user == u && last_kind == kind && last_unit == unit;
        const Rows& m = rows(s, ch, day, cd);
        if (!same) {
          last_unit.assign(unit);
          last_kind = kind;
          last_user = u;
          last_strategy = s;
          delivery_channels.clear();
          delivery_codes.clear();
          m.all->row.deliveries++;
          m.daily->row.deliveries++;
        }
        if (ch != kAll && std::find(delivery_channels.begin(), delivery_channels.end(), ch) == delivery_channels.end()) {
          delivery_channels.push_back(ch);
          m.channel->row.deliveries++;
        }
        if (cd != kAll && std::find(delivery_codes.begin(), delivery_codes.end(), cd) == delivery_codes.end()) {
          delivery_codes.push_back(cd);
          m.coded->row.deliveries++;
        }
        each(s, ch, day, cd, [&](Acc& a) {
          a.row.granted++;
          if (amount > 0 && message) {
            add_money(a.row.message_cost, amount);
            add_money(a.row.budget_spent, amount);
          } else if (amount > 0) {
            a.row.redeemable++;
            add_money(a.row.budget_spent, amount);
          }
        });
        if (message) add_money(pair(s, u).cost, amount);
        // The pair's deliveries, one per (time, channel, code): several actions on one channel
        // with one code are one (repeats that are not consecutive go when they are grouped).
        Pair& p = pair(s, u);
        const uint32_t route = route_of(ch, cd);
        if (p.count == 0 || deliveries[p.first].at != at || deliveries[p.first].route != route) {
          if (deliveries.size() >= UINT32_MAX) throw std::length_error("more than 4 billion deliveries");
          p.first = static_cast<uint32_t>(deliveries.size());
          p.count++;
          deliveries.push_back({at, route, last_pair});
        }
      } else {
        last_strategy = kAll;  // another row ends the delivery
        if (outcome == Kind::Rejected || outcome == Kind::Held) {
          const bool held = outcome == Kind::Held;
          each(s, ch, day, cd, [&](Acc& a) {
            (held ? a.row.held : a.row.rejected)++;
            // A held message's cost is reserved (and spent) when it is held; its release costs nothing again.
            if (held && message) {
              add_money(a.row.message_cost, amount);
              add_money(a.row.budget_spent, amount);
            }
          });
          if (held && message) add_money(pair(s, u).cost, amount);
          const uint32_t why = reason_ids(reason_text);
          rejections[(uint64_t(s) << 33) | (uint64_t(held) << 32) | why]++;
        }
        else if (outcome == Kind::Control) each(s, ch, day, cd, [](Acc& a) { a.row.control++; });
        else if (outcome == Kind::Redeemed) {
          const std::vector<std::pair<std::string_view, int64_t>>& parts = split_by_funder(text(13), amount);
          each(s, ch, day, cd, [&](Acc& a) {
            a.row.redeemed++;
            add_money(a.row.subsidy, amount);
            add_money(a.row.redemption_sales, sales);
            for (const auto& [funder, part] : parts) {
              auto it = a.by_funder.find(funder);
              if (it == a.by_funder.end()) it = a.by_funder.emplace(std::string(funder), 0).first;
              add_money(it->second, part);
            }
          });
          add_money(pair(s, u).cost, amount);
        }
      }
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) r.error = fmt::format("cannot read state `{}`: {}", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (r.error.empty()) group_deliveries();
    return r.error.empty();
  }

  // The deliveries, appended in ledger order, grouped by pair: a stable counting sort into a
  // second array (its writes do not wait on each other; an in-place permutation chases one
  // cache miss after another and took three times as long), then each pair's sorted by time
  // (then channel and code) with repeats of a (time, channel, code) removed.
  void group_deliveries() {
    BigVector<uint32_t> cursor(pairs.size());
    uint32_t offset = 0;
    for (size_t i = 0; i < pairs.size(); ++i) {
      pairs[i].first = cursor[i] = offset;
      offset += pairs[i].count;
    }
    {
      BigVector<Delivery> grouped(deliveries.size());
      for (const Delivery& d : deliveries) grouped[cursor[d.tag]++] = d;
      deliveries.swap(grouped);
    }
    BigVector<uint32_t>().swap(cursor);
    for (Pair& p : pairs) {
      auto b = deliveries.begin() + p.first, e = b + p.count;
      auto by_time = [](const Delivery& x, const Delivery& y) {
        return std::tie(x.at, x.route) < std::tie(y.at, y.route);
      };
      if (!std::is_sorted(b, e, by_time)) std::sort(b, e, by_time);
      e = std::unique(b, e, [](const Delivery& x, const Delivery& y) {
        return x.at == y.at && x.route == y.route;
      });
      p.count = static_cast<uint32_t>(e - b);
      for (auto d = b; d != e; ++d) d->tag = 0;
    }
  }

  std::vector<uint32_t> order_channels, order_codes;  // read_events: an order's delivery's channels and codes
  // read_events: the event ids met (the dedup window), and what the lines were.
  engine::EventIdWindow seen_ids{o.dedup_window_micros};
  int64_t latest_event = INT64_MIN;
  size_t used_lines = 0;        // lines of the visit or order type
  size_t lines_without_id = 0;  // ... refused by `crm run` for their id: not counted
  size_t repeated_ids = 0;      // ... retries: counted once
  size_t matched_lines = 0;     // ... of a user the ledger decided about
  // The dedup rule for a line of id `id` at `t`, as `crm run` applies it to every event it takes
  // (any type, any user): true when it is a retry. Otherwise the id is remembered and the clock
  // moves; the watermark is the latest time of the lines before (no lateness: the report does
  // not know the run's).
  bool remember_id(std::string_view id, int64_t t) {
    if (latest_event != INT64_MIN) seen_ids.advance(latest_event);
    if (seen_ids.repeat(id, t)) return true;
    latest_event = std::max(latest_event, t);
    return false;
  }
  bool read_events() {
    if (!o.events) return true;
    std::string line;
    std::vector<engine::JsonMember> m;
    std::string err;
    size_t n = 0;
    const int64_t W = o.window_micros;
    support::LineReader reader(*o.events);  // a byte order mark, CRLF and read errors as `crm run` reads them
    while (reader.next(line)) {
      n = reader.line();
      if (line.empty()) continue;
      auto fail = [&](const std::string& what) {
        r.error = fmt::format("{}:{}: {}", o.events_name, n, what);
        return false;
      };
      m.clear();
      if (!engine::parse_json_object(line, m, err)) return fail(err);
      ++r.events;
      const engine::JsonValue *type = nullptr, *user = nullptr, *time = nullptr, *amount = nullptr, *id = nullptr;
      const engine::JsonMember *type_m = nullptr, *user_m = nullptr, *time_m = nullptr, *amount_m = nullptr,
                               *id_m = nullptr;
      for (const auto& x : m) {
        // A member read here given twice is refused, as `crm run` refuses the line (the decoder).
        const engine::JsonMember** seen = x.key == "type"             ? &type_m
                                          : x.key == "user"           ? &user_m
                                          : x.key == "time"           ? &time_m
                                          : x.key == "id"             ? &id_m
                                          : x.key == o.amount_field   ? &amount_m
                                                                      : nullptr;
        if (!seen) continue;
        if (*seen) return fail(engine::duplicate_member_error(x.key, (*seen)->at, x.at));
        *seen = &x;
      }
      if (type_m) type = &type_m->value;
      if (user_m) user = &user_m->value;
      if (time_m) time = &time_m->value;
      if (amount_m) amount = &amount_m->value;
      if (id_m) id = &id_m->value;
      if (!type || type->kind != engine::JsonValue::Kind::String) return fail("`type` must be a string");
      const bool is_order = type->text == o.order_type;
      // A line with an id (required, a non-empty string) is an event `crm run` decided and whose
      // id it remembers, whatever its type or user: a later line of that id within the dedup
      // window is a retry answered from the ledger, not decided again.
      const bool has_id = id && id->kind == engine::JsonValue::Kind::String && !id->text.empty();
      if (!is_order && type->text != o.visit_type) {
        if (!has_id || !time || time->kind != engine::JsonValue::Kind::String) continue;  // refused by `crm run`
        if (auto other_t = engine::parse_event_time(time->text)) remember_id(id->text, *other_t);
        continue;
      }
      ++used_lines;
      if (!user || user->kind != engine::JsonValue::Kind::String) return fail("`user` must be a string");
      // Times as the engine reads them (a bare date is midnight UTC).
      if (!time || time->kind != engine::JsonValue::Kind::String) return fail("`time` must be an ISO-8601 time string");
      auto t = engine::parse_event_time(time->text);
      if (!t) return fail(fmt::format("`time` `{}` is not an ISO-8601 time", support::json_escape(time->text)));
      // A line `crm run` refuses for its id (the decoder: required, a non-empty string) was never
      // decided: it is not counted (a note says how many) and does not move the clock.
      const uint32_t uid = users.find(std::string_view(user->text));
      if (uid == UserTable::kNone || uid >= first_pair_of_user.size()) {  // no decision about this user
        // Not counted, but its id is remembered: `crm run` took the line, so a line of another
        // user with this id is a retry of it (tester: counted while the run answered it).
        if (has_id) remember_id(id->text, *t);
        continue;
      }
      int64_t value = 0;
      if (is_order) {
        if (!amount || (amount->kind != engine::JsonValue::Kind::Number && amount->kind != engine::JsonValue::Kind::String))
          return fail(fmt::format("an {} needs `{}`", o.order_type, o.amount_field));
        auto d = support::Decimal::parse_json(amount->text);
        if (!d) return fail(fmt::format("`{}` `{}` is not an exact amount", o.amount_field, amount->text));
        value = d->units();
      }
      if (!has_id) {
        ++lines_without_id;
        continue;
      }
      // A retry (an id met again within the dedup window, by the runtime's rule) is decided once
      // by `crm run` with a ledger, and counted once here.
      if (remember_id(id->text, *t)) {
        ++repeated_ids;
        continue;
      }
      ++matched_lines;
      for (uint32_t pi = first_pair_of_user[uid]; pi != UINT32_MAX; pi = pairs[pi].next_of_user) {
        Pair& p = pairs[pi];
        // Experiment: the window after the user's first decision of the strategy.
        if (p.first_decision != INT64_MAX && *t > p.first_decision && *t <= p.first_decision + W) {
          p.exp_visit = true;
          if (is_order) {
            p.exp_order = true;
            p.exp_orders++;
            add_money(p.exp_spend, value);
          }
        }
        if (p.count == 0) continue;
        const auto b = deliveries.begin() + p.first, e = b + p.count;
        const int64_t first = b->at;
        if (*t < first) {
          if (is_order) {
            p.has_order_before = true;
            p.last_order_before = std::max(p.last_order_before, *t);
            if (*t >= first - W) {
              auto& a = acc(p.strategy, kAll, 0, false).row;
              a.orders_before++;
              add_money(a.sales_before, value);
            }
          }
          continue;
        }
        // The latest delivery strictly before the event, if the event is in its window.
        auto it = std::lower_bound(b, e, *t, [](const Delivery& d, int64_t v) { return d.at < v; });
        if (it == b) continue;
        const int64_t at = std::prev(it)->at;
        if (*t - at > W) continue;
        p.visited = true;
        if (is_order) p.converted = true;
        // Every channel and code of that delivery (its entries share `at`), and its day. Users
        // visited and converted per channel, code and day are counted from these marks at the
        // end; an order counts once per channel and once per code of the delivery.
        const uint32_t mark = is_order ? kVisited | kConverted : kVisited;
        if (is_order) {
          const int64_t day = day_of(at);
          for (Acc* a : {&acc(p.strategy, kAll, 0, false), &acc(p.strategy, kAll, day, true)}) {
            a->row.orders_after++;
            add_money(a->row.sales_after, value);
          }
          order_channels.clear();
          order_codes.clear();
        }
        for (auto d = std::prev(it);; --d) {
          if (d->at != at) break;
          d->tag |= mark;
          const uint32_t ch = channel_of(*d), code = code_of(*d);
          if (is_order && ch != kAll && std::find(order_channels.begin(), order_channels.end(), ch) == order_channels.end()) {
            order_channels.push_back(ch);
            auto& a = acc(p.strategy, ch, 0, false).row;
            a.orders_after++;
            add_money(a.sales_after, value);
          }
          if (is_order && code != kAll && std::find(order_codes.begin(), order_codes.end(), code) == order_codes.end()) {
            order_codes.push_back(code);
            auto& a = code_acc(p.strategy, code).row;
            a.orders_after++;
            add_money(a.sales_after, value);
          }
          if (d == b) break;
        }
      }
    }
    if (o.events->bad()) {
      r.error = fmt::format("cannot read {}", o.events_name);
      return false;
    }
    return true;
  }

  // What the event log's lines were, when some were not counted or none could be.
  void event_notes() {
    if (!o.events) return;
    const std::string& log = o.events_name;
    if (repeated_ids > 0)
      r.notes.push_back(fmt::format("{}: {} {} or {} line{} repeated an event id met within the dedup window ({}): "
                                    "counted once, as `crm run` with a ledger decides a retry once",
                                    log, repeated_ids, o.visit_type, o.order_type, repeated_ids == 1 ? "" : "s",
                                    o.dedup_window_micros == INT64_MAX ? std::string("forever")
                                                                       : support::format_duration(o.dedup_window_micros)));
    if (lines_without_id > 0)
      r.notes.push_back(fmt::format("{}: {} {} or {} line{} without a non-empty string `id`, which `crm run` refuses: "
                                    "not counted",
                                    log, lines_without_id, o.visit_type, o.order_type, lines_without_id == 1 ? "" : "s"));
    // A log that matched nothing (a type name that is not the log's, another data set) would
    // read as a measured null result: zeros with tight intervals.
    if (used_lines == 0)
      r.notes.push_back(fmt::format("{}: no event of the types `{}` or `{}` (--visit-type, --order-type): visits, "
                                    "orders and experiment outcomes were not measured",
                                    log, o.visit_type, o.order_type));
    else if (matched_lines == 0 && users.size() > 0)
      r.notes.push_back(fmt::format("{}: none of its {} and {} events is of a user the ledger decided about (another "
                                    "data set?): visits, orders and experiment outcomes were not measured",
                                    log, o.visit_type, o.order_type));
  }

  void finish_indicators() {
    // Users reached, visited and converted: per strategy from the pair, per day, channel and code
    // from the pair's deliveries (in time order, so its days come in order), each user once per row.
    std::vector<std::pair<uint32_t, uint32_t>> by_channel, by_code;  // channel (code), marks of any of its deliveries
    auto add_marks = [](std::vector<std::pair<uint32_t, uint32_t>>& to, uint32_t id, uint32_t tag) {
      auto c = std::find_if(to.begin(), to.end(), [&](const auto& x) { return x.first == id; });
      if (c == to.end()) to.push_back({id, tag});
      else c->second |= tag;
    };
    for (const Pair& p : pairs) {
      if (p.count == 0) continue;
      auto& a = acc(p.strategy, kAll, 0, false).row;
      a.reached++;
      a.visited += p.visited;
      a.converted += p.converted;
      const auto b = deliveries.begin() + p.first, e = b + p.count;
      const int64_t first = b->at;
      if (!p.has_order_before) {
        a.new_customers++;
        if (p.converted) a.new_converted++;
      } else if (p.last_order_before < first - o.silent_micros) {
        a.silent++;
        if (p.converted) a.recalled++;
      }
      by_channel.clear();
      by_code.clear();
      for (auto d = b; d != e;) {
        const int64_t day = day_of(d->at);
        uint32_t marks = 0;
        for (; d != e && day_of(d->at) == day; ++d) {
          marks |= d->tag;
          if (const uint32_t ch = channel_of(*d); ch != kAll) add_marks(by_channel, ch, d->tag);
          if (const uint32_t code = code_of(*d); code != kAll) add_marks(by_code, code, d->tag);
        }
        auto& row = acc(p.strategy, kAll, day, true).row;
        row.reached++;
        row.visited += (marks & kVisited) != 0;
        row.converted += (marks & kConverted) != 0;
      }
      for (const auto& [ch, marks] : by_channel) {
        auto& row = acc(p.strategy, ch, 0, false).row;
        row.reached++;
        row.visited += (marks & kVisited) != 0;
        row.converted += (marks & kConverted) != 0;
      }
      for (const auto& [code, marks] : by_code) {
        auto& row = code_acc(p.strategy, code).row;
        row.reached++;
        row.visited += (marks & kVisited) != 0;
        row.converted += (marks & kConverted) != 0;
      }
    }
    std::vector<std::pair<AccKey, Acc*>> order;
    for (auto& [k, a] : accs) order.push_back({k, &a});
    // By strategy name, then the strategy row, its channels by name, its days in order.
    std::sort(order.begin(), order.end(), [&](const auto& x, const auto& y) {
      const Indicators &a = x.second->row, &b = y.second->row;
      auto rank = [](const Indicators& i) { return i.channel.empty() && i.day.empty() ? 0 : !i.channel.empty() ? 1 : 2; };
      return std::make_tuple(a.strategy, rank(a), a.channel, a.day) < std::make_tuple(b.strategy, rank(b), b.channel, b.day);
    });
    // The per-code rows: by strategy name, then code.
    std::vector<std::pair<uint64_t, Acc*>> by_code_order;
    for (auto& [k, a] : code_accs) by_code_order.push_back({k, &a});
    std::sort(by_code_order.begin(), by_code_order.end(), [](const auto& x, const auto& y) {
      return std::tie(x.second->row.strategy, x.second->row.code) < std::tie(y.second->row.strategy, y.second->row.code);
    });
    for (auto& [k, a] : by_code_order) r.codes.push_back(derive(*a, false));
    for (auto& [k, a] : order) r.indicators.push_back(derive(*a, a->row.channel.empty() && a->row.day.empty()));
  }

  // The derived indicators of a row (docs/indicators.md); the per-user history only on a
  // strategy's own row.
  Indicators derive(Acc& acc, bool strategy_row) {
    Indicators i = std::move(acc.row);
    for (auto& [funder, amount] : acc.by_funder) i.subsidy_by_funder.push_back({funder, amount});
    i.redemption_rate = ratio(double(i.redeemed), double(i.redeemable));
    i.reach_rate = ratio(double(i.visited), double(i.reached));
    i.order_conversion_rate = ratio(double(i.converted), double(i.visited));
    i.aov_after = ratio(double(i.sales_after), double(i.orders_after));
    if (__builtin_add_overflow(i.subsidy, i.message_cost, &i.cost)) money_overflow = true;
    i.cost_per_reached = ratio(double(i.cost), double(i.reached));
    i.roi = i.cost > 0 ? (double(i.sales_after) - double(i.cost)) / double(i.cost) : kNaN;
    if (strategy_row) {
      i.new_customer_conversion_rate = ratio(double(i.new_converted), double(i.new_customers));
      i.recall_rate = ratio(double(i.recalled), double(i.silent));
      i.aov_before = ratio(double(i.sales_before), double(i.orders_before));
    } else {
      // Per-user history is kept per strategy only.
      i.new_customers = i.new_converted = i.silent = i.recalled = i.orders_before = i.sales_before = -1;
      i.new_customer_conversion_rate = i.recall_rate = i.aov_before = kNaN;
    }
    return i;
  }

  void finish_experiments(const bytecode::Program* program) {
    struct Sums {
      Arm arm;
      double sum = 0, squares = 0;  // spend per user in money units
    };
    std::vector<Sums> t(strategies.size()), c(strategies.size());
    std::vector<int64_t> cross(strategies.size()), cost(strategies.size());
    std::vector<bool> has_control(strategies.size());
    std::vector<std::map<uint32_t, Sums>> by_arm(strategies.size());  // A/B/n arms, treated users
    std::vector<int64_t> rolled(strategies.size());
    for (const Pair& p : pairs) {
      // The test is its randomized split: users the roll-out reached afterwards were in no group
      // (their first decision is later and not comparable with the control group's; counted as
      // treated they make every successful roll-out a sample-ratio mismatch).
      if (p.rollout) {
        rolled[p.strategy]++;
        continue;
      }
      if (p.control) has_control[p.strategy] = true;
      if (p.treated && p.control) {
        cross[p.strategy]++;
        continue;
      }
      if (!p.treated && !p.control) continue;
      Sums& g = p.treated ? t[p.strategy] : c[p.strategy];
      if (p.treated) add_money(cost[p.strategy], p.cost);
      auto add = [&](Sums& g) {
        g.arm.users++;
        g.arm.visitors += p.exp_visit;
        g.arm.converters += p.exp_order;
        g.arm.orders += p.exp_orders;
        add_money(g.arm.spend, p.exp_spend);
        const double x = double(p.exp_spend) / 1e6;
        g.sum += x;
        g.squares += x * x;
      };
      add(g);
      if (p.treated && p.arm != UINT32_MAX) add(by_arm[p.strategy][p.arm]);
    }
    std::vector<uint32_t> by_name(strategies.size());
    for (uint32_t i = 0; i < by_name.size(); ++i) by_name[i] = i;
    std::sort(by_name.begin(), by_name.end(), [&](uint32_t a, uint32_t b) { return strategies[a] < strategies[b]; });
    for (uint32_t s : by_name) {
      if (!has_control[s] && by_arm[s].empty()) continue;
      Experiment e;
      e.strategy = strategies[s];
      e.crossovers = cross[s];
      e.rollout_users = rolled[s];
      if (e.rollout_users)
        r.notes.push_back(fmt::format("strategy `{}`: {} user{} reached by the automatic roll-out after the test {} left "
                                      "out of the experiment (not randomized); the indicators count their rows",
                                      e.strategy, e.rollout_users, e.rollout_users == 1 ? "" : "s",
                                      e.rollout_users == 1 ? "is" : "are"));
      auto finish = [](Sums& g, const std::string& name) {
        Arm& a = g.arm;
        a.name = name;
        const double n = double(a.users);
        a.visit_rate = ratio(double(a.visitors), n);
        a.conversion_rate = ratio(double(a.converters), n);
        a.spend_per_user = ratio(g.sum, n) * 1e6;
        a.spend_variance = a.users > 1 ? (g.squares - g.sum * g.sum / n) / (n - 1) * 1e12 : kNaN;
        if (a.spend_variance < 0) a.spend_variance = 0;  // rounding of an all-equal group
        return a;
      };
      e.treatment = finish(t[s], e.strategy);
      e.control = finish(c[s], "control");
      const Arm& C = e.control;
      // The uplifts of a treated group T (the whole treatment, or one A/B/n arm) against control.
      auto uplifts = [&](const Arm& T, const std::string& arm, std::vector<Uplift>& out) {
        auto proportion = [&](const char* metric, int64_t xt, int64_t xc) {
          ProportionDifference d = newcombe(xt, T.users, xc, C.users, o.confidence);
          Relative rel = relative_uplift(d.p1, d.p1 * (1 - d.p1), T.users, d.p2, d.p2 * (1 - d.p2), C.users, o.confidence);
          out.push_back({arm, metric, "newcombe_wilson", d.p1, d.p2, d.difference, interval(d.interval), rel.uplift,
                         interval(rel.interval), d.p_value});
        };
        proportion("visit_rate", T.visitors, C.visitors);
        proportion("conversion_rate", T.converters, C.converters);
        // Money units (dollars, not millionths) for the statistics; results back in millionths.
        const double mt = T.spend_per_user / 1e6, mc = C.spend_per_user / 1e6;
        const double vt = T.spend_variance / 1e12, vc = C.spend_variance / 1e12;
        MeanDifference d = welch(mt, vt, T.users, mc, vc, C.users, o.confidence);
        Relative rel = relative_uplift(mt, vt, T.users, mc, vc, C.users, o.confidence);
        out.push_back({arm, "spend_per_user", "welch", T.spend_per_user, C.spend_per_user, d.difference * 1e6,
                       {d.interval.low * 1e6, d.interval.high * 1e6}, rel.uplift, interval(rel.interval), d.p_value});
      };
      const Arm& T = e.treatment;
      uplifts(T, "", e.uplifts);
      std::vector<std::pair<std::string, Sums*>> named;
      for (auto& [id, sums] : by_arm[s]) named.emplace_back(arms[id], &sums);
      std::sort(named.begin(), named.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& [name, sums] : named) {
        e.variants.push_back(finish(*sums, name));
        uplifts(e.variants.back(), name, e.variant_uplifts);
      }
      e.incremental_sales = (T.spend_per_user - C.spend_per_user) * double(T.users);
      e.cost = cost[s];
      e.incremental_roi = e.cost > 0 ? (e.incremental_sales - double(e.cost)) / double(e.cost) : kNaN;
      e.configured_control_share = e.srm_chi_square = e.srm_p_value = kNaN;
      // The configured split: the program's when one is given (what the caller asks to check
      // against), else the one the ledger recorded with the program that last ran the strategy.
      // With A/B/n arms, users beyond the last arm are not decided: the decided users are the
      // control group and the arms' buckets, and the control share is taken of them.
      int32_t basis_points = 0, decided = 10000;
      if (program) {
        auto it = std::find_if(program->strategies.begin(), program->strategies.end(),
                               [&](const bytecode::Strategy& x) { return x.name == e.strategy; });
        if (it == program->strategies.end())
          r.notes.push_back(fmt::format("strategy `{}` is not in the program: its sample ratio is not checked", e.strategy));
        else if ((basis_points = it->control_basis_points) > 0) {
          e.srm_split_from = "program";
          if (!it->arms.empty()) {
            decided = it->control_basis_points;
            for (const auto& arm : it->arms) decided += arm.basis_points;
          }
        }
      } else if (auto it = recorded_splits.find(e.strategy); it != recorded_splits.end()) {
        if (!it->second.recorded)
          r.notes.push_back(fmt::format("strategy `{}`: the ledger predates recorded splits (schema version 4): its "
                                        "sample ratio is checked only given the program",
                                        e.strategy));
        else if (!it->second.malformed.empty())
          r.notes.push_back(fmt::format("strategy `{}`: the ledger's recorded split `{}` is not one crm writes "
                                        "(crm_strategies.split): its sample ratio is checked only given the program",
                                        e.strategy, support::json_escape(it->second.malformed)));
        else if ((basis_points = it->second.control_basis_points) > 0) {
          e.srm_split_from = "ledger";
          decided = it->second.decided_basis_points;
        }
        if (it->second.changed)
          r.notes.push_back(fmt::format("strategy `{}`: its split changed between the programs that recorded the ledger; "
                                        "the sample ratio is checked against the latest",
                                        e.strategy));
      }
      if (basis_points > 0 && basis_points < decided) {
        const double share = double(basis_points) / double(decided);
        ChiSquare chi = chi_square_fit({T.users, C.users}, {1 - share, share});
        e.srm_checked = true;
        e.configured_control_share = share;
        e.srm_chi_square = chi.statistic;
        e.srm_p_value = chi.p_value;
        e.srm_mismatch = chi.p_value < o.srm_p_threshold;
      } else {
        e.srm_split_from.clear();
      }
      r.experiments.push_back(std::move(e));
    }
  }
};

// The program's bytecode through its public form (the .crmc bytes): the report sits above the
// public API's CompiledProgram and needs only its strategies' splits.
bool program_of(const CompiledProgram& p, bytecode::Program& out, std::string& error) {
  return bytecode::deserialize(p.serialize(), out, error);
}

// Strategies of `program` that differ from the ones that recorded the ledger (by hash).
void compare_with_ledger(const std::string& state, const bytecode::Program& program, std::vector<std::string>& notes) {
  sqlite3* db = nullptr;
  std::string path, error;
  if (!ledger_file(state, path, error)) return;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return;
  }
  sqlite3_stmt* st = nullptr;
  std::unordered_map<std::string, std::string> recorded;
  if (sqlite3_prepare_v2(db,
                         "SELECT name, hash FROM crm_strategies WHERE program = (SELECT max(id) FROM crm_programs)", -1,
                         &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW)
      recorded[reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] =
          reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (recorded.empty()) return;
  for (const auto& s : engine::program_identity(program).strategies) {
    auto it = recorded.find(s.name);
    if (it != recorded.end() && it->second != s.hash)
      notes.push_back(fmt::format("strategy `{}` of the program differs from the one that last recorded the ledger: the "
                                  "sample-ratio check uses the program's split",
                                  s.name));
  }
}

// Each strategy's configured split as recorded in the ledger with the programs that ran it
// (crm_strategies.split, docs/semantics.md "Program identity"): the latest program's, and
// whether an earlier one differed. A ledger older than schema version 4 has no such column.
void read_recorded_splits(const std::string& state, std::unordered_map<std::string, Builder::RecordedSplit>& out) {
  sqlite3* db = nullptr;
  std::string path, error;
  if (!ledger_file(state, path, error)) return;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  const bool has_split =
      sqlite3_prepare_v2(db, "SELECT name, split FROM crm_strategies ORDER BY program", -1, &st, nullptr) == SQLITE_OK;
  if (!has_split) {
    sqlite3_finalize(st);
    st = nullptr;
    sqlite3_prepare_v2(db, "SELECT name, NULL FROM crm_strategies ORDER BY program", -1, &st, nullptr);
  }
  while (st && sqlite3_step(st) == SQLITE_ROW) {
    const char* name = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    if (!name) continue;
    Builder::RecordedSplit now;
    if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
      now.recorded = true;
      std::string_view split(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)), size_t(sqlite3_column_bytes(st, 1)));
      // Basis points, 0 .. 10000, as ProgramIdentity writes them; anything else was not written by
      // crm: the split is not used (a note says so), never read as 0.
      auto points = [](std::string_view t, int32_t& out) {
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
        return ec == std::errc() && end == t.data() + t.size() && out >= 0 && out <= 10000;
      };
      bool ok = split.rfind("control:", 0) == 0;
      std::string_view rest = ok ? split.substr(8) : std::string_view();
      const size_t v = rest.find(";variants:");
      ok = ok && points(rest.substr(0, v), now.control_basis_points);
      // `control:B;variants:A:b,B:b,...` with A/B/n arms (ledger schema 5).
      if (ok && v != std::string_view::npos) {
        now.decided_basis_points = now.control_basis_points;
        std::string_view arms = rest.substr(v + 10);
        ok = !arms.empty();
        while (ok && !arms.empty()) {
          const size_t comma = std::min(arms.find(','), arms.size());
          std::string_view arm = arms.substr(0, comma);
          const size_t colon = arm.rfind(':');
          int32_t b = 0;
          ok = colon != std::string_view::npos && colon > 0 && points(arm.substr(colon + 1), b);
          now.decided_basis_points += b;
          arms.remove_prefix(std::min(comma + 1, arms.size()));
        }
      }
      if (!ok) {
        now.malformed = std::string(split);
        now.control_basis_points = 0;
        now.decided_basis_points = 10000;
      }
    }
    auto [it, added] = out.try_emplace(name, now);
    if (!added) {
      now.changed = it->second.changed || (it->second.recorded && now.recorded &&
                                           (it->second.control_basis_points != now.control_basis_points ||
                                            it->second.decided_basis_points != now.decided_basis_points));
      it->second = now;
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace

namespace {
// Options::zone resolved, or nullopt with `error`: what check_zone() and build() both accept.
std::optional<support::ZoneRules> load_report_zone(const std::string& zone, std::string& error) {
  if (zone.empty()) {
    error = "an empty name is no time zone (UTC is `UTC`)";
    return std::nullopt;
  }
  return support::load_zone(zone, error);
}
}  // namespace

bool check_zone(const std::string& zone, std::string& error) { return load_report_zone(zone, error).has_value(); }

Report build(const Options& options) {
  Report r;
  r.options = options;
  r.options.events = nullptr;
  r.options.program = nullptr;
  try {
    bytecode::Program program;
    const bytecode::Program* prog = nullptr;
    if (options.program) {
      if (!options.program->valid() || !program_of(*options.program, program, r.error)) {
        if (r.error.empty()) r.error = "the program is not valid";
        return r;
      }
      prog = &program;
    }
    if (!(options.confidence > 0 && options.confidence < 1)) {
      r.error = "the confidence level must be between 0 and 1";
      return r;
    }
    if (options.window_micros <= 0 || options.silent_micros <= 0) {
      r.error = "the attribution window and the silent period must be positive";
      return r;
    }
    std::string zone_error;
    std::optional<support::ZoneRules> zone = load_report_zone(options.zone, zone_error);
    if (!zone) {
      r.error = "--zone: " + zone_error;
      return r;
    }
    r.options.zone = zone->name;
    Builder b(options, r);
    b.zone = std::move(*zone);
    if (prog)
      for (const auto& res : prog->resources) b.funders[res.name] = res.funders;
    if (!b.read_ledger() || !b.read_events()) return r;
    if (!prog) read_recorded_splits(options.state, b.recorded_splits);
    b.finish_indicators();
    b.finish_experiments(prog);
    b.finish_rejections();
    if (b.money_overflow) {
      r.error = fmt::format("a sum of money in the report (sales, spend, subsidy or cost) exceeds the largest amount "
                            "it holds exactly, 9223372036854.775807 units of a currency: look for amounts in {} that "
                            "are wrong by orders of magnitude",
                            options.events_name.empty() ? "the events" : options.events_name);
      return r;
    }
    if (prog) {
      for (const auto& s : prog->strategies)
        if (s.has_budget) r.budgets.push_back({s.name, s.budget, s.paced});
      std::sort(r.budgets.begin(), r.budgets.end(), [](const Budget& a, const Budget& b) { return a.strategy < b.strategy; });
    }
    if (prog) compare_with_ledger(options.state, *prog, r.notes);
    if (!options.events) r.notes.push_back("no event log: visits, orders and experiment outcomes are not measured");
    b.event_notes();
    r.ok = true;
  } catch (const std::exception& e) {
    r = Report{};
    r.error = std::string("internal error: ") + e.what();
  }
  return r;
}

}  // namespace crm::report
