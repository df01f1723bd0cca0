// vm.cc - the interpreter loop and the built-in functions.
#include "runtime/vm/vm.h"

#include <algorithm>
#include <new>
#include <stdexcept>

#include "bytecode/builtins.h"
#include "bytecode/operations.h"

namespace crm::vm {

using bytecode::Instr;
using bytecode::Op;
namespace ops = bytecode::ops;

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
    if (static_cast<uint32_t>(v >> 32) == h && text_at(at_[(v & 0xffffffffu) - 1]) == s) return i;
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

namespace {
// Room for n more elements with the vector's geometric growth kept (reserve(size + n) alone would
// reallocate at every call), so that the push_backs after it cannot throw.
template <class V>
void reserve_more(V& v, size_t n) {
  if (v.capacity() - v.size() < n) v.reserve(std::max(v.size() + n, v.capacity() * 2));
}
}  // namespace

uint32_t StringPool::store(std::string_view s) {
  unsigned char len[10];
  size_t k = 0;
  for (size_t n = s.size();; n >>= 7) {
    len[k++] = static_cast<unsigned char>((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    if (n < 0x80) break;
  }
  const size_t need = k + s.size();
  char* to;
  uint32_t place;
  if (need <= kChunk - used_) {  // in the last chunk
    place = static_cast<uint32_t>(((chunks_.size() - 1) << kChunkBits) + used_);
    to = chunks_.back().get() + used_;
    used_ += need;
  } else {  // a new chunk, or a block of its own spanning ceil(need / kChunk) places' chunks
    const size_t spans = need <= kChunk ? 1 : (need + kChunk - 1) / kChunk;
    if (chunks_.size() + spans > (size_t(1) << (32 - kChunkBits)))
      throw std::length_error("string pool: more than 4 GiB of distinct text (places are 32-bit)");
    // Everything that can throw happens before the pool changes: a failed allocation leaves it
    // as it was (used_ above kChunk would make the next store write past a block's end).
    auto block = std::make_unique_for_overwrite<char[]>(std::max(need, kChunk));
    reserve_more(chunks_, spans);
    place = static_cast<uint32_t>(chunks_.size() << kChunkBits);
    chunks_.push_back(std::move(block));
    to = chunks_.back().get();
    for (size_t i = 1; i < spans; ++i) chunks_.emplace_back();
    used_ = spans > 1 ? kChunk : need;  // nothing else goes after a block of its own
  }
  std::copy_n(len, k, to);
  std::copy(s.begin(), s.end(), to + k);
  return place;
}

int64_t StringPool::intern(std::string_view s) {
  uint32_t h = hash32(s);
  size_t i = slot_of(s, h);
  if (slots_[i] != 0) return static_cast<int64_t>((slots_[i] & 0xffffffffu) - 1);
  if (at_.size() >= 0xffffffffu) throw std::length_error("string pool: more than 2^32 - 1 distinct strings (ids are 32-bit)");
  reserve_more(at_, 1);  // before store(): a failed push_back must not leave text without an id
  at_.push_back(store(s));
  auto id = static_cast<int64_t>(at_.size() - 1);
  slots_[i] = (uint64_t{h} << 32) | static_cast<uint64_t>(id + 1);
  if (at_.size() * 2 > slots_.size()) grow();
  return id;
}

int64_t StringPool::find(std::string_view s) const {
  uint64_t v = slots_[slot_of(s, hash32(s))];
  return v == 0 ? -1 : static_cast<int64_t>((v & 0xffffffffu) - 1);
}

namespace {
uint64_t content_hash(const std::vector<int64_t>& v) {
  uint64_t h = v.size();
  for (int64_t x : v) h ^= static_cast<uint64_t>(x) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}
bool sorted_distinct(const std::vector<int64_t>& v) {
  return std::adjacent_find(v.begin(), v.end(), [](int64_t a, int64_t b) { return a >= b; }) == v.end();
}
}  // namespace

void CollectionStore::seed(const std::vector<std::vector<int64_t>>& sets, const std::vector<uint8_t>& lists) {
  for (size_t i = 0; i < sets.size(); ++i) {
    Entry e{sets[i], {}};
    // A set constant is verified sorted; a list is kept as written, with its members beside it.
    if (i < lists.size() && lists[i] && !sorted_distinct(e.items)) {
      e.sorted = e.items;
      std::sort(e.sorted.begin(), e.sorted.end());
      e.sorted.erase(std::unique(e.sorted.begin(), e.sorted.end()), e.sorted.end());
    }
    by_hash_.emplace(content_hash(e.items), static_cast<int64_t>(entries_.size()));
    entries_.push_back(std::move(e));
  }
}

// Equal collections share one handle: a stream of orders carries the same few category sets over
// and over, so the store grows with the distinct collections seen, not with the number of events.
// The key is the elements as kept: a set's are sorted and distinct, so a list shares a handle
// with a set only when it is sorted and distinct itself, and then the two read the same.
int64_t CollectionStore::add(std::vector<int64_t> v, bool list) {
  if (!list) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
  bool plain = !list || sorted_distinct(v);
  return intern(std::move(v), plain);
}

int64_t CollectionStore::intern(std::vector<int64_t> v, bool is_sorted_distinct) {
  uint64_t h = content_hash(v);
  for (auto [it, end] = by_hash_.equal_range(h); it != end; ++it)
    if (entries_[it->second].items == v) return it->second;
  Entry e;
  if (!is_sorted_distinct) {
    e.sorted = v;
    std::sort(e.sorted.begin(), e.sorted.end());
    e.sorted.erase(std::unique(e.sorted.begin(), e.sorted.end()), e.sorted.end());
  }
  e.items = std::move(v);
  entries_.push_back(std::move(e));
  auto id = static_cast<int64_t>(entries_.size() - 1);
  by_hash_.emplace(h, id);
  return id;
}

const std::vector<int64_t>& CollectionStore::members(int64_t h) const {
  if (h < 0 || size_t(h) >= entries_.size()) return empty_;
  const Entry& e = entries_[size_t(h)];
  return e.sorted.empty() ? e.items : e.sorted;
}

bool CollectionStore::contains(int64_t h, int64_t v) const {
  const auto& m = members(h);
  return std::binary_search(m.begin(), m.end(), v);
}

bool CollectionStore::contains_widened(int64_t h, int64_t v, bool& overflow) const {
  overflow = false;
  const auto& m = members(h);
  bool found = false;
  overflow = ops::in_sorted_widened(m.data(), m.data() + m.size(), v, found) != ops::Fault::None;
  return found;
}

int64_t CollectionStore::size(int64_t h) const {
  return h >= 0 && size_t(h) < entries_.size() ? static_cast<int64_t>(entries_[size_t(h)].items.size()) : 0;
}

const std::vector<int64_t>& CollectionStore::items(int64_t h) const {
  return h >= 0 && size_t(h) < entries_.size() ? entries_[size_t(h)].items : empty_;
}

uint64_t stable_hash(std::string_view s) { return ops::stable_hash(s); }

namespace {

// Out of line: the dispatch loop may hold no locals with destructors (computed goto cannot
// run them).
int64_t concat(StringPool& pool, int64_t a, int64_t b) { return pool.intern(ops::concat(pool.text(a), pool.text(b))); }

}  // namespace

// The VM's side of CALL: read the overload's arguments from their slots (strings through the
// pool, collections through the store) and compute with bytecode/operations.h.
int64_t call_builtin(uint32_t overload, const int64_t* a, const Context& ctx, const char** error) {
  using bytecode::Overload;
  int64_t out = 0;
  ops::Fault f = ops::Fault::None;
  auto text = [&](int64_t id) { return ctx.strings->text(id); };
  switch (static_cast<Overload>(overload)) {
    case Overload::Now: return ctx.now;
    case Overload::Today: return ops::today(ctx.now, ctx.zone);
    case Overload::DateOfTime: return ops::date_of(a[0], ctx.zone);
    case Overload::HourOfTime: return ops::hour(a[0], ctx.zone);
    case Overload::WeekdayOfDate: return ops::weekday_of_date(a[0]);
    case Overload::WeekdayOfTime: return ops::weekday_of_time(a[0], ctx.zone);
    case Overload::DaysOfDuration: return ops::days(a[0]);
    case Overload::DecimalOfMoney: return ops::decimal_of_money(a[0]);
    case Overload::DecimalOfInt: f = ops::decimal_of_int(a[0], out); break;
    case Overload::DaysToAnniversary: return ops::days_to_anniversary(a[0], ops::today(ctx.now, ctx.zone));
    case Overload::Contains: return ops::contains(text(a[0]), text(a[1]));
    case Overload::StartsWith: return ops::starts_with(text(a[0]), text(a[1]));
    case Overload::Lower: return ctx.strings->intern(ops::lower(text(a[0])));
    case Overload::Upper: return ctx.strings->intern(ops::upper(text(a[0])));
    case Overload::LenOfString: return ops::len_of_string(text(a[0]));
    case Overload::LenOfSet:
    case Overload::LenOfList: return ctx.collections ? ctx.collections->size(a[0]) : 0;
    case Overload::AbsInt:
    case Overload::AbsDecimal:
    case Overload::AbsMoney:
    case Overload::AbsDuration: f = ops::abs(a[0], out); break;
    case Overload::HashBucket: f = ops::hash_bucket(text(a[0]), a[1], out); break;
    default: f = ops::Fault::UnknownBuiltin; break;
  }
  if (f != ops::Fault::None) {
    *error = ops::fault_text(f);
    return 0;
  }
  return out;
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
  CASE(NOT) r[ip->d] = ops::logical_not(r[ip->a]); NEXT();
  CASE(AND) r[ip->d] = ops::logical_and(r[ip->a], r[ip->b]); NEXT();
  CASE(OR) r[ip->d] = ops::logical_or(r[ip->a], r[ip->b]); NEXT();
  CASE(AND_THEN) r[ip->d] = ops::logical_and(r[ip->a], r[ip->b]); NEXT();  // both operands already computed here
  CASE(OR_ELSE) r[ip->d] = ops::logical_or(r[ip->a], r[ip->b]); NEXT();
  CASE(JUMP) ip = code + ip->a; DISPATCH();
  CASE(JUMP_IF_FALSE) if (!r[ip->a]) { ip = code + ip->b; DISPATCH(); } NEXT();
  CASE(JUMP_IF_TRUE) if (r[ip->a]) { ip = code + ip->b; DISPATCH(); } NEXT();
  CASE(EQ) r[ip->d] = ops::eq(r[ip->a], r[ip->b]); NEXT();
  CASE(NE) r[ip->d] = ops::ne(r[ip->a], r[ip->b]); NEXT();
  CASE(LT) r[ip->d] = ops::lt(r[ip->a], r[ip->b]); NEXT();
  CASE(LE) r[ip->d] = ops::le(r[ip->a], r[ip->b]); NEXT();
  CASE(EQ_K) r[ip->d] = ops::eq(r[ip->a], k[ip->b]); NEXT();
  CASE(NE_K) r[ip->d] = ops::ne(r[ip->a], k[ip->b]); NEXT();
  CASE(LT_K) r[ip->d] = ops::lt(r[ip->a], k[ip->b]); NEXT();
  CASE(LE_K) r[ip->d] = ops::le(r[ip->a], k[ip->b]); NEXT();
  CASE(GT_K) r[ip->d] = ops::gt(r[ip->a], k[ip->b]); NEXT();
  CASE(GE_K) r[ip->d] = ops::ge(r[ip->a], k[ip->b]); NEXT();
  CASE(STR_LT) r[ip->d] = ops::str_lt(ctx.strings->text(r[ip->a]), ctx.strings->text(r[ip->b])); NEXT();
  CASE(STR_LE) r[ip->d] = ops::str_le(ctx.strings->text(r[ip->a]), ctx.strings->text(r[ip->b])); NEXT();
  // Faulting operations: the fault's text is the result (ops::fault_text).
#define CHECKED(expr) do { if (ops::Fault f_ = (expr); f_ != ops::Fault::None) return fail(ops::fault_text(f_)); } while (0)
  CASE(ADD) CHECKED(ops::add(r[ip->a], r[ip->b], r[ip->d])); NEXT();
  CASE(SUB) CHECKED(ops::sub(r[ip->a], r[ip->b], r[ip->d])); NEXT();
  CASE(MUL_INT) CHECKED(ops::mul_int(r[ip->a], r[ip->b], r[ip->d])); NEXT();
  CASE(MUL_FIX) CHECKED(ops::mul_fix(r[ip->a], r[ip->b], r[ip->d])); NEXT();
  CASE(DIV_FIX) CHECKED(ops::div_fix(r[ip->a], r[ip->b], r[ip->d])); NEXT();
  CASE(NEG) CHECKED(ops::neg(r[ip->a], r[ip->d])); NEXT();
  // An absent optional Int is 0 here (its presence is in another register): never a fault.
  CASE(INT_TO_FIX) CHECKED(ops::int_to_fix(r[ip->a], r[ip->d])); NEXT();
  CASE(TIME_ADD) CHECKED(ops::time_add(r[ip->a], r[ip->b], r[ip->d])); NEXT();
  CASE(DATE_ADD) CHECKED(ops::date_add(r[ip->a], r[ip->b], r[ip->d])); NEXT();
  CASE(DATE_DIFF) CHECKED(ops::date_diff(r[ip->a], r[ip->b], r[ip->d])); NEXT();
  CASE(COALESCE) r[ip->d] = ops::select(r[ip->a], r[ip->b], r[ip->c]); NEXT();
  CASE(SELECT) r[ip->d] = ops::select(r[ip->a], r[ip->b], r[ip->c]); NEXT();
  CASE(IN_SET) {
    const auto& set = p_.sets[ip->b];
    r[ip->d] = ops::in_sorted(set.data(), set.data() + set.size(), r[ip->a]);
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
    r[ip->d] = call_builtin(ip->a, r + ip->b, ctx, &err);
    if (err) return fail(err);
    NEXT();
  }
  CASE(RET) res.value = r[ip->a]; return res;
  CASE(RET_OPT) res.present = r[ip->b] != 0; res.value = res.present ? r[ip->a] : 0; return res;
#if !defined(__GNUC__)
  }
#endif
#undef CHECKED
#undef CASE
#undef NEXT
#undef DISPATCH
  return res;
}

}  // namespace crm::vm
