// vm.cc - the interpreter loop and the built-in functions.
#include "runtime/vm/vm.h"

#include <algorithm>

#include "bytecode/builtins.h"
#include "support/civil_time.h"
#include "support/decimal.h"
#include "support/text.h"

namespace crm::vm {

using bytecode::Instr;
using bytecode::Op;

StringPool::StringPool(const std::vector<std::string>& initial) {
  slots_.assign(64, 0);
  for (const auto& s : initial) intern(s);
}

namespace {
uint32_t hash32(std::string_view s) {
  uint64_t h = std::hash<std::string_view>{}(s);
  return static_cast<uint32_t>(h ^ (h >> 32));
}
}  // namespace

// The slot holding s, or the empty slot where it belongs (linear probing; the table is at most
// half full, so a probe sequence ends quickly).
size_t StringPool::slot_of(std::string_view s, uint32_t h) const {
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    uint64_t v = slots_[i];
    if (v == 0) return i;
    if (static_cast<uint32_t>(v >> 32) == h && views_[(v & 0xffffffffu) - 1] == s) return i;
  }
}

void StringPool::grow() {
  std::vector<uint64_t> old(slots_.size() * 2, 0);
  old.swap(slots_);
  size_t mask = slots_.size() - 1;
  for (uint64_t v : old) {
    if (v == 0) continue;
    size_t i = static_cast<uint32_t>(v >> 32) & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = v;
  }
}

int64_t StringPool::intern(std::string_view s) {
  uint32_t h = hash32(s);
  size_t i = slot_of(s, h);
  if (slots_[i] != 0) return static_cast<int64_t>((slots_[i] & 0xffffffffu) - 1);
  if (s.size() > left_) {
    size_t n = std::max<size_t>(s.size(), 64 * 1024);
    chunks_.push_back(std::make_unique<char[]>(n));
    free_ = chunks_.back().get();
    left_ = n;
  }
  std::copy(s.begin(), s.end(), free_);
  views_.emplace_back(free_, s.size());
  free_ += s.size();
  left_ -= s.size();
  auto id = static_cast<int64_t>(views_.size() - 1);
  slots_[i] = (uint64_t{h} << 32) | static_cast<uint64_t>(id + 1);
  if (views_.size() * 2 > slots_.size()) grow();
  return id;
}

int64_t StringPool::find(std::string_view s) const {
  uint64_t v = slots_[slot_of(s, hash32(s))];
  return v == 0 ? -1 : static_cast<int64_t>((v & 0xffffffffu) - 1);
}

// Equal sets share one handle: a stream of orders carries the same few category sets over and
// over, so the store grows with the distinct sets seen, not with the number of events.
int64_t CollectionStore::add(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  uint64_t h = v.size();
  for (int64_t x : v) {
    h ^= static_cast<uint64_t>(x) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  }
  for (auto [it, end] = by_hash_.equal_range(h); it != end; ++it)
    if (sets_[it->second] == v) return it->second;
  sets_.push_back(std::move(v));
  auto id = static_cast<int64_t>(sets_.size() - 1);
  by_hash_.emplace(h, id);
  return id;
}

bool CollectionStore::contains(int64_t h, int64_t v) const {
  if (h < 0 || size_t(h) >= sets_.size()) return false;
  return std::binary_search(sets_[h].begin(), sets_[h].end(), v);
}

bool CollectionStore::contains_widened(int64_t h, int64_t v, bool& overflow) const {
  overflow = false;
  if (h < 0 || size_t(h) >= sets_.size() || sets_[h].empty()) return false;
  // Sorted: the extremes alone say whether every element widens.
  constexpr int64_t kMax = INT64_MAX / support::Decimal::kScale;
  if (sets_[h].front() < -kMax || sets_[h].back() > kMax) {
    overflow = true;
    return false;
  }
  return v % support::Decimal::kScale == 0 && contains(h, v / support::Decimal::kScale);
}

int64_t CollectionStore::size(int64_t h) const {
  return h >= 0 && size_t(h) < sets_.size() ? static_cast<int64_t>(sets_[h].size()) : 0;
}

const std::vector<int64_t>& CollectionStore::items(int64_t h) const {
  return h >= 0 && size_t(h) < sets_.size() ? sets_[h] : empty_;
}

uint64_t stable_hash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) { h ^= c; h *= 1099511628211ull; }
  // Final avalanche (splitmix64) so nearby keys spread over buckets.
  h ^= h >> 30; h *= 0xbf58476d1ce4e5b9ull; h ^= h >> 27; h *= 0x94d049bb133111ebull; h ^= h >> 31;
  return h;
}

namespace {

using i128 = __int128;

inline bool fix_mul(int64_t a, int64_t b, int64_t& out) {
  auto r = support::Decimal::mul(support::Decimal::from_units(a), support::Decimal::from_units(b));
  if (!r) return false;
  out = r->units();
  return true;
}

inline bool fix_div(int64_t a, int64_t b, int64_t& out) {
  auto r = support::Decimal::div(support::Decimal::from_units(a), support::Decimal::from_units(b));
  if (!r) return false;
  out = r->units();
  return true;
}

// The local calendar day of an instant: days since 1970-01-01 in the zone (UTC without one).
inline int64_t local_day(int64_t t, const support::ZoneRules* zone) {
  return zone ? zone->local_day(t) : support::floor_div(t, support::kMicrosPerDay);
}

int64_t days_to_anniversary(int32_t date, int64_t today) {
  int64_t y, ty;
  unsigned m, d, tm, td;
  support::civil_from_days(date, y, m, d);
  support::civil_from_days(today, ty, tm, td);
  auto occurrence = [&](int64_t year) {
    unsigned dd = d;
    if (m == 2 && d == 29 && !support::valid_civil_date(year, 2, 29)) dd = 28;
    return support::days_from_civil(year, m, dd);
  };
  int64_t next = occurrence(ty);
  if (next < today) next = occurrence(ty + 1);
  return next - today;
}

// Out of line: the dispatch loop may hold no locals with destructors (computed goto cannot
// run them).
int64_t concat(StringPool& pool, int64_t a, int64_t b) {
  std::string s(pool.text(a));
  s += pool.text(b);
  return pool.intern(s);
}

// lower() and upper(): the case-mapped text, interned.
int64_t intern_mapped(StringPool& pool, int64_t s, std::string (*map)(std::string_view)) {
  return pool.intern(map(pool.text(s)));
}

}  // namespace

int64_t call_builtin(uint32_t id, const int64_t* a, uint32_t argc, const Context& ctx, const char** error) {
  using bytecode::Builtin;
  switch (static_cast<Builtin>(id)) {
    case Builtin::Now: return ctx.now;
    case Builtin::Today: return local_day(ctx.now, ctx.zone);
    case Builtin::DateOf: return local_day(a[0], ctx.zone);
    case Builtin::Hour: {
      // The hour on the local clock: the time of day plus the zone's offset then (offsets are
      // under 26 hours, so this cannot overflow even at the ends of the range).
      int64_t local = a[0] % support::kMicrosPerDay + (ctx.zone ? ctx.zone->offset_at(a[0]) : 0);
      local %= support::kMicrosPerDay;
      if (local < 0) local += support::kMicrosPerDay;
      return local / support::kMicrosPerHour;
    }
    case Builtin::Weekday: {
      // argc 2 marks a Time argument (the code generator passes a flag); dates are days.
      int64_t days = argc == 2 && a[1] ? local_day(a[0], ctx.zone) : a[0];
      int64_t w = (days + 3) % 7;  // 1970-01-01 was a Thursday
      if (w < 0) w += 7;
      return w + 1;
    }
    case Builtin::Days: return a[0] / support::kMicrosPerDay;
    case Builtin::DecimalOf:
      if (argc == 2 && a[1]) {  // Int argument
        int64_t r;
        if (__builtin_mul_overflow(a[0], support::Decimal::kScale, &r)) { *error = "overflow in decimal()"; return 0; }
        return r;
      }
      return a[0];
    case Builtin::DaysToAnniversary: return days_to_anniversary(static_cast<int32_t>(a[0]), local_day(ctx.now, ctx.zone));
    case Builtin::Contains: return ctx.strings->text(a[0]).find(ctx.strings->text(a[1])) != std::string_view::npos;
    case Builtin::StartsWith: return ctx.strings->text(a[0]).substr(0, ctx.strings->text(a[1]).size()) == ctx.strings->text(a[1]);
    case Builtin::Lower: return intern_mapped(*ctx.strings, a[0], support::utf8_lower);
    case Builtin::Upper: return intern_mapped(*ctx.strings, a[0], support::utf8_upper);
    case Builtin::Len:
      if (argc == 2 && a[1]) return ctx.collections ? ctx.collections->size(a[0]) : 0;
      return support::utf8_length(ctx.strings->text(a[0]));
    case Builtin::Abs:
      if (a[0] == INT64_MIN) { *error = "overflow in abs()"; return 0; }
      return a[0] < 0 ? -a[0] : a[0];
    case Builtin::HashBucket:
      if (a[1] <= 0) { *error = "hash_bucket() needs a positive bucket count"; return 0; }
      return static_cast<int64_t>(stable_hash(ctx.strings->text(a[0])) % static_cast<uint64_t>(a[1]));
  }
  *error = "unknown builtin";
  return 0;
}

VM::VM(const bytecode::Program& program) : p_(program) {
  for (const auto& u : p_.units) max_registers_ = std::max(max_registers_, u.registers);
  for (const auto& f : p_.profile) required_.push_back(!f.optional);
}

void VM::prepare(Context& ctx) const {
  if (ctx.registers.size() < max_registers_) ctx.registers.assign(max_registers_, 0);
}

Result VM::run(uint32_t unit, Context& ctx) const {
  const bytecode::Unit& u = p_.units[unit];
  if (ctx.registers.size() < u.registers) ctx.registers.resize(u.registers);
  int64_t* r = ctx.registers.data();
  const Instr* code = u.code.data();
  const Instr* ip = code;
  const int64_t* k = p_.constants.data();
  Result res;
  uint32_t agg_g = UINT32_MAX;
  bytecode::AggValue agg;
  auto fail = [&](const char* msg) {
    res.status = Status::Error;
    res.error = msg;
    return res;
  };

#if defined(__GNUC__)
  static const void* kLabels[] = {
#define OP(name, shape, doc) &&L_##name,
#include "bytecode/opcodes.def"
#undef OP
  };
#define DISPATCH() goto* kLabels[static_cast<size_t>(ip->op)]
#define CASE(name) L_##name:
#define NEXT() do { ++ip; DISPATCH(); } while (0)
  DISPATCH();
#else
#define CASE(name) case Op::name:
#define NEXT() do { ++ip; goto loop; } while (0)
loop:
  switch (ip->op) {
#endif
  CASE(LOAD_CONST) r[ip->d] = k[ip->a]; NEXT();
  CASE(LOAD_PROFILE) {
    bool has = ip->a < ctx.profile_size && (!ctx.profile_present || ctx.profile_present[ip->a]);
    // A user known only from events has no value for required (non-optional) profile fields:
    // evaluating a rule that needs one is an error, never a guess.
    if (!has && ip->a < required_.size() && required_[ip->a]) return fail(kMissingProfileField);
    r[ip->d] = has ? ctx.profile[ip->a] : 0;
    NEXT();
  }
  CASE(HAS_PROFILE) r[ip->d] = ip->a < ctx.profile_size && (!ctx.profile_present || ctx.profile_present[ip->a]); NEXT();
  CASE(LOAD_EVENT) {
    bool has = ip->a < ctx.event_size && (!ctx.event_present || ctx.event_present[ip->a]);
    r[ip->d] = has ? ctx.event[ip->a] : 0;
    NEXT();
  }
  CASE(HAS_EVENT) r[ip->d] = ip->a < ctx.event_size && (!ctx.event_present || ctx.event_present[ip->a]); NEXT();
  // An optional aggregate is read twice (value, presence) by adjacent instructions: the last
  // one read is kept, so the source is asked once.
  CASE(LOAD_AGG) {
    if (ip->a != agg_g) { agg = ctx.aggregates ? ctx.aggregates->aggregate(ip->a, ctx.now) : bytecode::AggValue{}; agg_g = ip->a; }
    if (agg.state == bytecode::AggValue::State::Overflow) return fail(kOverflow);
    r[ip->d] = agg.present() ? agg.value : 0;
    NEXT();
  }
  CASE(HAS_AGG) {
    if (ip->a != agg_g) { agg = ctx.aggregates ? ctx.aggregates->aggregate(ip->a, ctx.now) : bytecode::AggValue{}; agg_g = ip->a; }
    if (agg.state == bytecode::AggValue::State::Overflow) return fail(kOverflow);
    r[ip->d] = agg.present();
    NEXT();
  }
  CASE(LOAD_NOW) r[ip->d] = ctx.now; NEXT();
  CASE(MOV) r[ip->d] = r[ip->a]; NEXT();
  CASE(NOT) r[ip->d] = !r[ip->a]; NEXT();
  CASE(AND) r[ip->d] = r[ip->a] && r[ip->b]; NEXT();
  CASE(OR) r[ip->d] = r[ip->a] || r[ip->b]; NEXT();
  CASE(AND_THEN) r[ip->d] = r[ip->a] && r[ip->b]; NEXT();  // both operands already computed here
  CASE(OR_ELSE) r[ip->d] = r[ip->a] || r[ip->b]; NEXT();
  CASE(JUMP) ip = code + ip->a; DISPATCH();
  CASE(JUMP_IF_FALSE) if (!r[ip->a]) { ip = code + ip->b; DISPATCH(); } NEXT();
  CASE(JUMP_IF_TRUE) if (r[ip->a]) { ip = code + ip->b; DISPATCH(); } NEXT();
  CASE(EQ) r[ip->d] = r[ip->a] == r[ip->b]; NEXT();
  CASE(NE) r[ip->d] = r[ip->a] != r[ip->b]; NEXT();
  CASE(LT) r[ip->d] = r[ip->a] < r[ip->b]; NEXT();
  CASE(LE) r[ip->d] = r[ip->a] <= r[ip->b]; NEXT();
  CASE(EQ_K) r[ip->d] = r[ip->a] == k[ip->b]; NEXT();
  CASE(NE_K) r[ip->d] = r[ip->a] != k[ip->b]; NEXT();
  CASE(LT_K) r[ip->d] = r[ip->a] < k[ip->b]; NEXT();
  CASE(LE_K) r[ip->d] = r[ip->a] <= k[ip->b]; NEXT();
  CASE(GT_K) r[ip->d] = r[ip->a] > k[ip->b]; NEXT();
  CASE(GE_K) r[ip->d] = r[ip->a] >= k[ip->b]; NEXT();
  CASE(STR_LT) r[ip->d] = ctx.strings->text(r[ip->a]) < ctx.strings->text(r[ip->b]); NEXT();
  CASE(STR_LE) r[ip->d] = ctx.strings->text(r[ip->a]) <= ctx.strings->text(r[ip->b]); NEXT();
  CASE(ADD) if (__builtin_add_overflow(r[ip->a], r[ip->b], &r[ip->d])) return fail(kOverflow); NEXT();
  CASE(SUB) if (__builtin_sub_overflow(r[ip->a], r[ip->b], &r[ip->d])) return fail(kOverflow); NEXT();
  CASE(MUL_INT) if (__builtin_mul_overflow(r[ip->a], r[ip->b], &r[ip->d])) return fail(kOverflow); NEXT();
  CASE(MUL_FIX) if (!fix_mul(r[ip->a], r[ip->b], r[ip->d])) return fail(kOverflow); NEXT();
  CASE(DIV_FIX)
    if (r[ip->b] == 0) return fail(kDivisionByZero);
    if (!fix_div(r[ip->a], r[ip->b], r[ip->d])) return fail(kOverflow);
    NEXT();
  CASE(NEG) if (r[ip->a] == INT64_MIN) return fail(kOverflow); r[ip->d] = -r[ip->a]; NEXT();
  CASE(INT_TO_FIX)
    // An absent optional Int is 0 here (its presence is in another register): never a fault.
    if (__builtin_mul_overflow(r[ip->a], support::Decimal::kScale, &r[ip->d])) return fail(kOverflow);
    NEXT();
  CASE(DATE_ADD) r[ip->d] = r[ip->a] + support::floor_div(r[ip->b], support::kMicrosPerDay); NEXT();
  CASE(DATE_DIFF) r[ip->d] = (r[ip->a] - r[ip->b]) * support::kMicrosPerDay; NEXT();
  CASE(COALESCE) r[ip->d] = r[ip->a] ? r[ip->b] : r[ip->c]; NEXT();
  CASE(SELECT) r[ip->d] = r[ip->a] ? r[ip->b] : r[ip->c]; NEXT();
  CASE(IN_SET) {
    const auto& set = p_.sets[ip->b];
    int64_t v = r[ip->a];
    bool found = false;
    if (set.size() <= 8) {
      for (int64_t x : set) found |= x == v;
    } else {
      found = std::binary_search(set.begin(), set.end(), v);
    }
    r[ip->d] = found;
    NEXT();
  }
  CASE(IN_VALUE_SET) r[ip->d] = ctx.collections && ctx.collections->contains(r[ip->b], r[ip->a]); NEXT();
  CASE(IN_VALUE_SET_DEC) {
    bool overflow = false;
    r[ip->d] = ctx.collections && ctx.collections->contains_widened(r[ip->b], r[ip->a], overflow);
    if (overflow) return fail(kOverflow);
    NEXT();
  }
  CASE(STR_CONCAT) r[ip->d] = concat(*ctx.strings, r[ip->a], r[ip->b]); NEXT();
  CASE(CALL) {
    const char* err = nullptr;
    r[ip->d] = call_builtin(ip->a, r + ip->b, ip->c, ctx, &err);
    if (err) return fail(err);
    NEXT();
  }
  CASE(RET) res.value = r[ip->a]; return res;
  CASE(RET_OPT) res.present = r[ip->b] != 0; res.value = res.present ? r[ip->a] : 0; return res;
#if !defined(__GNUC__)
  }
#endif
#undef CASE
#undef NEXT
#undef DISPATCH
  return res;
}

}  // namespace crm::vm
