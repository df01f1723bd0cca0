// program.cc - opcode tables, the .crmc binary format, the verifier and the disassembler.
#include "bytecode/program.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "bytecode/builtins.h"
#include "bytecode/calendar_period.h"
#include "support/civil_time.h"
#include "support/json_text.h"

namespace crm::bytecode {

namespace {
constexpr int64_t kMicrosPerDay = 86'400'000'000;
// Longest period or window the runtime accepts: 100 years, far from int64 overflow when added
// to any time the engine handles.
constexpr int64_t kMaxSpan = 36525 * kMicrosPerDay;
}  // namespace

const char* op_name(Op op) {
  static const char* kNames[] = {
#define OP(name, shape, doc) #name,
#include "bytecode/opcodes.def"
#undef OP
  };
  return kNames[static_cast<size_t>(op)];
}

const char* op_shape(Op op) {
  static const char* kShapes[] = {
#define OP(name, shape, doc) shape,
#include "bytecode/opcodes.def"
#undef OP
  };
  return kShapes[static_cast<size_t>(op)];
}

const char* kind_name(Kind k) {
  static const char* kNames[] = {"Bool", "Int", "Decimal", "Money", "String", "Time",
                                 "Date", "Duration", "Enum", "Set", "List"};
  return kNames[static_cast<size_t>(k)];
}

const char* calendar_unit_name(CalendarUnit u) {
  static const char* kNames[] = {"hour", "day", "week", "month"};
  return kNames[static_cast<size_t>(u)];
}

bool schedule_keeps_local_clock(int64_t period) { return period > 0 && period % support::kMicrosPerDay == 0; }

int64_t first_schedule_run(const support::ZoneRules& zone, int64_t clock, int64_t period, int64_t start,
                           int64_t* local) {
  int64_t l = zone.local_day(start) * support::kMicrosPerDay + clock;
  int64_t next = zone.local_to_utc(l);
  if (schedule_keeps_local_clock(period)) {
    // The first run may be the second pass of a repeated hour when `start` lies between the two
    // (support::ZoneRules::local_to_utc_from); later runs keep to the first pass.
    while ((next = zone.local_to_utc_from(l, start)) == INT64_MAX) l += period;
  } else {
    while (next < start) next += period > 0 ? period : support::kMicrosPerDay;
  }
  if (local) *local = l;
  return next;
}

bool same_calendar_period(CalendarUnit unit, int64_t then, int64_t now, const support::ZoneRules& zone) {
  return CalendarPeriod(unit, now, zone).holds(then);
}

const char* resource_kind_name(ResourceKind k) {
  static const char* kNames[] = {"coupon", "red_envelope", "points", "push", "sms", "email"};
  return kNames[static_cast<size_t>(k)];
}

int Program::find_event(const std::string& name) const {
  for (size_t i = 0; i < events.size(); ++i) if (events[i].name == name) return static_cast<int>(i);
  return -1;
}

int Program::find_profile_field(const std::string& name) const {
  for (size_t i = 0; i < profile.size(); ++i) if (profile[i].name == name) return static_cast<int>(i);
  return -1;
}

int64_t Program::time_horizon() const {
  int64_t delay = 0, use = 0;
  bool quiet = false;
  for (const auto& s : strategies) delay = std::max(delay, s.delay);
  for (const auto& r : resources) use = std::max(use, r.use_after_claim);
  for (const auto& pol : policies) quiet |= pol.has_quiet;
  // Each is at most 100 years (verify), so the sum cannot overflow.
  return std::max<int64_t>(delay, 0) + std::max<int64_t>(use, 0) + (quiet ? 2 * kMicrosPerDay : 0);
}

int64_t Program::latest_event_time() const { return support::kLastInstant - time_horizon(); }

size_t Program::cost_bound() const {
  size_t n = 0;
  for (const auto& u : units) n += u.code.size();
  return n;
}

// ---- binary format ---------------------------------------------------------------------------

namespace {

class Writer {
 public:
  void u8(uint8_t v) { out.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) { for (int i = 0; i < 4; ++i) u8(static_cast<uint8_t>(v >> (8 * i))); }
  void i64(int64_t v) { auto u = static_cast<uint64_t>(v); for (int i = 0; i < 8; ++i) u8(static_cast<uint8_t>(u >> (8 * i))); }
  void str(const std::string& s) { u32(static_cast<uint32_t>(s.size())); out += s; }
  void b(bool v) { u8(v ? 1 : 0); }
  std::string out;
};

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool ok() const { return ok_; }
  uint8_t u8() {
    if (pos_ >= s_.size()) { ok_ = false; return 0; }
    return static_cast<uint8_t>(s_[pos_++]);
  }
  uint32_t u32() { uint32_t v = 0; for (int i = 0; i < 4; ++i) v |= uint32_t(u8()) << (8 * i); return v; }
  int64_t i64() { uint64_t v = 0; for (int i = 0; i < 8; ++i) v |= uint64_t(u8()) << (8 * i); return static_cast<int64_t>(v); }
  bool b() { return u8() != 0; }
  std::string str() {
    uint32_t n = u32();
    if (!ok_ || n > s_.size() - pos_) { ok_ = false; return {}; }
    std::string r(s_.substr(pos_, n));
    pos_ += n;
    return r;
  }
  // Element counts are bounded by the bytes left, so a corrupt count cannot allocate wildly.
  uint32_t count(size_t min_bytes_each) {
    uint32_t n = u32();
    if (!ok_ || (min_bytes_each && n > (s_.size() - pos_) / min_bytes_each)) { ok_ = false; return 0; }
    return n;
  }
  template <typename E>
  E enum_(size_t limit) {
    uint8_t v = u8();
    if (v >= limit) ok_ = false;
    return static_cast<E>(v < limit ? v : 0);
  }
  bool at_end() const { return pos_ == s_.size(); }

 private:
  std::string_view s_;
  size_t pos_ = 0;
  bool ok_ = true;
};

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) { h ^= c; h *= 1099511628211ull; }
  return h;
}

void put_field(Writer& w, const Field& f) {
  w.str(f.name); w.u8(uint8_t(f.kind)); w.u8(uint8_t(f.elem)); w.b(f.optional); w.str(f.currency);
  w.i64(f.default_value); w.b(f.has_default);
  w.u32(uint32_t(f.enum_values.size()));
  for (auto& v : f.enum_values) w.str(v);
}
Field get_field(Reader& r) {
  Field f;
  f.name = r.str(); f.kind = r.enum_<Kind>(11); f.elem = r.enum_<Kind>(11); f.optional = r.b(); f.currency = r.str();
  f.default_value = r.i64(); f.has_default = r.b();
  uint32_t n = r.count(4);
  for (uint32_t i = 0; i < n && r.ok(); ++i) f.enum_values.push_back(r.str());
  return f;
}
void put_period(Writer& w, const Period& p) { w.u8(uint8_t(p.kind)); w.u8(uint8_t(p.unit)); w.i64(p.micros); }
Period get_period(Reader& r) {
  Period p;
  p.kind = r.enum_<PeriodKind>(3); p.unit = r.enum_<CalendarUnit>(4); p.micros = r.i64();
  return p;
}
void put_zone(Writer& w, const support::ZoneRules& z) {
  w.str(z.name); w.i64(z.initial_offset);
  w.u32(uint32_t(z.transitions.size())); for (auto& [t, o] : z.transitions) { w.i64(t); w.i64(o); }
}
support::ZoneRules get_zone(Reader& r) {
  support::ZoneRules z;
  z.name = r.str(); z.initial_offset = r.i64();
  for (uint32_t j = 0, m = r.count(16); j < m && r.ok(); ++j) { int64_t t = r.i64(); z.transitions.emplace_back(t, r.i64()); }
  return z;
}

}  // namespace

std::string serialize(const Program& p) {
  Writer w;
  w.u32(uint32_t(p.constants.size())); for (auto c : p.constants) w.i64(c);
  w.u32(uint32_t(p.strings.size())); for (auto& s : p.strings) w.str(s);
  w.u32(uint32_t(p.sets.size()));
  for (size_t i = 0; i < p.sets.size(); ++i) {
    w.b(p.is_list(i));
    w.u32(uint32_t(p.sets[i].size()));
    for (auto v : p.sets[i]) w.i64(v);
  }
  w.u32(uint32_t(p.profile.size())); for (auto& f : p.profile) put_field(w, f);
  w.u32(uint32_t(p.events.size()));
  for (auto& e : p.events) { w.str(e.name); w.u32(uint32_t(e.fields.size())); for (auto& f : e.fields) put_field(w, f); }
  w.u32(uint32_t(p.aggregates.size()));
  for (auto& a : p.aggregates) {
    w.u8(uint8_t(a.kind)); w.u8(uint8_t(a.window)); w.u32(a.event); w.u32(uint32_t(a.field)); w.u32(uint32_t(a.filter_unit));
    w.i64(a.window_value); w.u8(uint8_t(a.value_kind)); w.str(a.text);
    w.u8(uint8_t(a.source)); w.u32(uint32_t(a.strategy)); w.u32(uint32_t(a.resource)); w.u32(uint32_t(a.channel));
    w.str(a.code);
  }
  w.u32(uint32_t(p.units.size()));
  for (auto& u : p.units) {
    w.str(u.name); w.u32(u.registers); w.u8(uint8_t(u.result));
    w.u32(uint32_t(u.code.size()));
    for (auto& in : u.code) { w.u8(uint8_t(in.op)); w.u32(in.d); w.u32(in.a); w.u32(in.b); w.u32(in.c); }
  }
  w.u32(uint32_t(p.segments.size())); for (auto& s : p.segments) { w.str(s.name); w.u32(s.unit); w.u32(s.batch_unit); }
  w.u32(uint32_t(p.resources.size()));
  for (auto& r : p.resources) {
    w.str(r.name); w.u8(uint8_t(r.kind)); w.i64(r.discount); w.i64(r.threshold); w.str(r.currency); w.i64(r.points);
    w.b(r.has_claim); w.i64(r.claim_from); w.i64(r.claim_to); w.i64(r.use_after_claim); w.b(r.has_use_window);
    w.i64(r.use_from); w.i64(r.use_to); w.str(r.text);
    for (auto& list : r.restrictions) { w.u32(uint32_t(list.size())); for (auto& v : list) w.str(v); }
    w.i64(r.decay); w.i64(r.fixed_from_third);
    w.u8(uint8_t(r.draw)); w.i64(r.draw_lo); w.i64(r.draw_hi); w.i64(r.draw_step);
    w.u32(uint32_t(r.draw_values.size()));
    for (size_t j = 0; j < r.draw_values.size(); ++j) { w.i64(r.draw_values[j]); w.i64(r.draw_weights[j]); }
    w.i64(r.percent); w.i64(r.cost);
    w.u32(uint32_t(r.funders.size()));
    for (auto& f : r.funders) { w.str(f.name); w.i64(f.share); }
    for (auto* parts : {&r.text_parts, &r.title_parts}) {
      w.u32(uint32_t(parts->size()));
      for (auto& t : *parts) { w.str(t.literal); w.u32(uint32_t(t.field)); w.b(t.has_fallback); w.str(t.fallback); }
    }
  }
  w.u32(uint32_t(p.strategies.size()));
  for (auto& s : p.strategies) {
    w.str(s.name); w.str(s.business); w.i64(s.priority); w.u8(uint8_t(s.trigger)); w.u32(s.event); w.i64(s.at); w.i64(s.every);
    w.b(s.has_window); w.i64(s.from); w.i64(s.to);
    w.u32(uint32_t(s.who)); w.u32(uint32_t(s.where)); w.u32(uint32_t(s.trigger_if)); w.u32(uint32_t(s.who_batch));
    w.u32(uint32_t(s.index_field)); w.u32(uint32_t(s.index_values.size())); for (auto v : s.index_values) w.i64(v);
    w.u32(uint32_t(s.actions.size()));
    for (auto& a : s.actions) { w.b(a.send); w.u32(a.resource); w.u32(uint32_t(a.channel)); w.str(a.code); w.i64(a.chance); w.str(a.salt); }
    w.b(s.has_budget); w.i64(s.budget); w.str(s.budget_currency); w.i64(s.stock);
    w.u32(uint32_t(s.per_user.size()));
    for (auto& c : s.per_user) { w.i64(c.count); put_period(w, c.period); }
    w.u32(uint32_t(s.control_basis_points)); w.str(s.split_salt); put_zone(w, s.zone); w.str(s.who_text); w.str(s.where_text); w.str(s.if_text);
    w.b(s.paced); w.str(s.exclusive_group);
    w.u32(uint32_t(s.value)); w.str(s.value_currency); w.str(s.value_text);
    w.u32(uint32_t(s.recipient_field));
    w.i64(s.delay); w.u32(uint32_t(s.cancel_event)); w.u32(uint32_t(s.cancel_keys.size()));
    for (auto [c, t] : s.cancel_keys) { w.u32(c); w.u32(t); }
    w.str(s.cancel_text);
  }
  w.u32(uint32_t(p.policies.size()));
  for (auto& pol : p.policies) {
    w.str(pol.name); w.str(pol.business); w.i64(pol.max_unredeemed); w.str(pol.unredeemed_kind);
    w.b(pol.has_same_type); put_period(w, pol.same_type);
    w.u32(uint32_t(pol.channel_caps.size()));
    for (auto& c : pol.channel_caps) { w.u32(uint32_t(c.channel)); w.i64(c.cap.count); put_period(w, c.cap.period); }
    w.b(pol.has_quiet); w.u32(uint32_t(pol.quiet_from)); w.u32(uint32_t(pol.quiet_to)); w.b(pol.quiet_drop);
  }
  w.u32(uint32_t(p.channels.size())); for (auto& c : p.channels) w.str(c);
  put_zone(w, p.zone);
  // v13: pools, then each strategy's pool, arms and the arm of each action.
  w.u32(uint32_t(p.pools.size()));
  for (auto& pool : p.pools) { w.str(pool.name); w.b(pool.has_budget); w.i64(pool.budget); w.str(pool.budget_currency); w.i64(pool.stock); }
  for (auto& s : p.strategies) {
    w.u32(uint32_t(s.pool));
    w.u32(uint32_t(s.arms.size()));
    for (auto& a : s.arms) { w.str(a.name); w.u32(uint32_t(a.basis_points)); }
    for (auto& a : s.actions) w.u32(uint32_t(a.arm));
  }
  // v15: each strategy's roll-out.
  for (auto& s : p.strategies) {
    w.b(s.has_rollout);
    if (!s.has_rollout) continue;
    const Rollout& ro = s.rollout;
    w.u32(uint32_t(ro.arms.size()));
    for (int32_t a : ro.arms) w.u32(uint32_t(a));
    w.u32(uint32_t(ro.metric));
    w.i64(ro.after); w.i64(ro.decide_at); w.u32(uint32_t(ro.order_event)); w.u32(uint32_t(ro.amount_field)); w.i64(ro.window);
  }

  return seal(w.out);
}

std::string seal(std::string_view payload) {
  Writer head;
  head.out = "CRMC";
  head.u32(kFormatVersion);
  head.i64(static_cast<int64_t>(payload.size()));
  head.i64(static_cast<int64_t>(fnv1a(payload)));
  head.out += payload;
  return head.out;
}

bool deserialize(const std::string& bytes, Program& p, std::string& error) {
  if (bytes.size() < 24 || bytes.compare(0, 4, "CRMC") != 0) {
    error = "not a compiled crm program (missing the CRMC header)";
    return false;
  }
  Reader h(std::string_view(bytes).substr(4, 20));
  uint32_t version = h.u32();
  auto size = static_cast<uint64_t>(h.i64());
  auto sum = static_cast<uint64_t>(h.i64());
  if (version != kFormatVersion) {
    error = fmt::format("compiled with format version {}, this crm reads version {}; recompile the .crm source",
                        version, kFormatVersion);
    return false;
  }
  std::string_view payload = std::string_view(bytes).substr(24);
  if (payload.size() != size) {
    error = fmt::format("truncated or padded: payload is {} bytes, header says {}", payload.size(), size);
    return false;
  }
  if (fnv1a(payload) != sum) {
    error = "checksum mismatch: the file is corrupt";
    return false;
  }
  Reader r(payload);
  p = Program{};
  for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) p.constants.push_back(r.i64());
  for (uint32_t i = 0, n = r.count(4); i < n && r.ok(); ++i) p.strings.push_back(r.str());
  for (uint32_t i = 0, n = r.count(5); i < n && r.ok(); ++i) {
    p.lists.push_back(r.b() ? 1 : 0);
    auto& s = p.sets.emplace_back();
    for (uint32_t j = 0, m = r.count(8); j < m && r.ok(); ++j) s.push_back(r.i64());
  }
  for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) p.profile.push_back(get_field(r));
  for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) {
    auto& e = p.events.emplace_back();
    e.name = r.str();
    for (uint32_t j = 0, m = r.count(8); j < m && r.ok(); ++j) e.fields.push_back(get_field(r));
  }
  for (uint32_t i = 0, n = r.count(16); i < n && r.ok(); ++i) {
    auto& a = p.aggregates.emplace_back();
    a.kind = r.enum_<AggKind>(8); a.window = r.enum_<Window>(6); a.event = r.u32(); a.field = int32_t(r.u32());
    a.filter_unit = int32_t(r.u32()); a.window_value = r.i64(); a.value_kind = r.enum_<Kind>(11); a.text = r.str();
    a.source = r.enum_<AggSource>(3); a.strategy = int32_t(r.u32()); a.resource = int32_t(r.u32());
    a.channel = int32_t(r.u32()); a.code = r.str();
  }
  for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) {
    auto& u = p.units.emplace_back();
    u.name = r.str(); u.registers = static_cast<uint16_t>(r.u32()); u.result = r.enum_<Kind>(11);
    for (uint32_t j = 0, m = r.count(17); j < m && r.ok(); ++j) {
      Instr in;
      in.op = r.enum_<Op>(kOpCount); in.d = static_cast<uint16_t>(r.u32()); in.a = r.u32(); in.b = r.u32(); in.c = r.u32();
      u.code.push_back(in);
    }
  }
  for (uint32_t i = 0, n = r.count(12); i < n && r.ok(); ++i) { Segment s; s.name = r.str(); s.unit = r.u32(); s.batch_unit = r.u32(); p.segments.push_back(s); }
  for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) {
    auto& x = p.resources.emplace_back();
    x.name = r.str(); x.kind = r.enum_<ResourceKind>(6); x.discount = r.i64(); x.threshold = r.i64(); x.currency = r.str();
    x.points = r.i64(); x.has_claim = r.b(); x.claim_from = r.i64(); x.claim_to = r.i64(); x.use_after_claim = r.i64();
    x.has_use_window = r.b(); x.use_from = r.i64(); x.use_to = r.i64(); x.text = r.str();
    for (auto& list : x.restrictions)
      for (uint32_t j = 0, m = r.count(4); j < m && r.ok(); ++j) list.push_back(r.str());
    x.decay = r.i64(); x.fixed_from_third = r.i64();
    x.draw = r.enum_<Resource::Draw>(3); x.draw_lo = r.i64(); x.draw_hi = r.i64(); x.draw_step = r.i64();
    for (uint32_t j = 0, m = r.count(16); j < m && r.ok(); ++j) { x.draw_values.push_back(r.i64()); x.draw_weights.push_back(r.i64()); }
    x.percent = r.i64(); x.cost = r.i64();
    for (uint32_t j = 0, m = r.count(12); j < m && r.ok(); ++j) {
      auto& f = x.funders.emplace_back();
      f.name = r.str(); f.share = r.i64();
    }
    for (auto* parts : {&x.text_parts, &x.title_parts})
      for (uint32_t j = 0, m = r.count(10); j < m && r.ok(); ++j) {
        auto& t = parts->emplace_back();
        t.literal = r.str(); t.field = int32_t(r.u32()); t.has_fallback = r.b(); t.fallback = r.str();
      }
  }
  for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) {
    auto& s = p.strategies.emplace_back();
    s.name = r.str(); s.business = r.str(); s.priority = r.i64(); s.trigger = r.enum_<Trigger>(3); s.event = r.u32();
    s.at = r.i64(); s.every = r.i64(); s.has_window = r.b(); s.from = r.i64(); s.to = r.i64();
    s.who = int32_t(r.u32()); s.where = int32_t(r.u32()); s.trigger_if = int32_t(r.u32()); s.who_batch = int32_t(r.u32());
    s.index_field = int32_t(r.u32());
    for (uint32_t j = 0, m = r.count(8); j < m && r.ok(); ++j) s.index_values.push_back(r.i64());
    for (uint32_t j = 0, m = r.count(8); j < m && r.ok(); ++j) {
      Action a; a.send = r.b(); a.resource = r.u32(); a.channel = int32_t(r.u32()); a.code = r.str();
      a.chance = r.i64(); a.salt = r.str(); s.actions.push_back(a);
    }
    s.has_budget = r.b(); s.budget = r.i64(); s.budget_currency = r.str(); s.stock = r.i64();
    for (uint32_t j = 0, m = r.count(8); j < m && r.ok(); ++j) { Cap c; c.count = r.i64(); c.period = get_period(r); s.per_user.push_back(c); }
    s.control_basis_points = int32_t(r.u32()); s.split_salt = r.str(); s.zone = get_zone(r); s.who_text = r.str(); s.where_text = r.str(); s.if_text = r.str();
    s.paced = r.b(); s.exclusive_group = r.str();
    s.value = int32_t(r.u32()); s.value_currency = r.str(); s.value_text = r.str();
    s.recipient_field = int32_t(r.u32());
    s.delay = r.i64(); s.cancel_event = int32_t(r.u32());
    for (uint32_t j = 0, m = r.count(8); j < m && r.ok(); ++j) { uint32_t c = r.u32(); s.cancel_keys.emplace_back(c, r.u32()); }
    s.cancel_text = r.str();
  }
  for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) {
    auto& pol = p.policies.emplace_back();
    pol.name = r.str(); pol.business = r.str(); pol.max_unredeemed = r.i64(); pol.unredeemed_kind = r.str();
    pol.has_same_type = r.b(); pol.same_type = get_period(r);
    for (uint32_t j = 0, m = r.count(8); j < m && r.ok(); ++j) {
      Policy::ChannelCap c; c.channel = int32_t(r.u32()); c.cap.count = r.i64(); c.cap.period = get_period(r);
      pol.channel_caps.push_back(c);
    }
    pol.has_quiet = r.b(); pol.quiet_from = int32_t(r.u32()); pol.quiet_to = int32_t(r.u32()); pol.quiet_drop = r.b();
  }
  for (uint32_t i = 0, n = r.count(4); i < n && r.ok(); ++i) p.channels.push_back(r.str());
  p.zone = get_zone(r);
  for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) {
    auto& pool = p.pools.emplace_back();
    pool.name = r.str(); pool.has_budget = r.b(); pool.budget = r.i64(); pool.budget_currency = r.str(); pool.stock = r.i64();
  }
  for (auto& s : p.strategies) {
    if (!r.ok()) break;
    s.pool = int32_t(r.u32());
    for (uint32_t j = 0, m = r.count(8); j < m && r.ok(); ++j) {
      Arm a; a.name = r.str(); a.basis_points = int32_t(r.u32()); s.arms.push_back(a);
    }
    for (auto& a : s.actions) a.arm = int32_t(r.u32());
  }
  for (auto& s : p.strategies) {
    if (!r.ok()) break;
    s.has_rollout = r.b();
    if (!s.has_rollout) continue;
    Rollout& ro = s.rollout;
    for (uint32_t j = 0, m = r.count(4); j < m && r.ok(); ++j) ro.arms.push_back(int32_t(r.u32()));
    ro.metric = static_cast<RolloutMetric>(r.u32() & 0xff);
    ro.after = r.i64(); ro.decide_at = r.i64(); ro.order_event = int32_t(r.u32()); ro.amount_field = int32_t(r.u32());
    ro.window = r.i64();
  }
  if (!r.ok() || !r.at_end()) {
    error = "malformed program payload";
    return false;
  }
  return verify(p, error);
}

bool verify(const Program& p, std::string& error) {
  auto fail = [&](const std::string& m) { error = m; return false; };
  // ---- code: every operand in range, jumps forward, builtins called with the arguments they read
  for (size_t ui = 0; ui < p.units.size(); ++ui) {
    const Unit& u = p.units[ui];
    if (u.code.empty() || (u.code.back().op != Op::RET && u.code.back().op != Op::RET_OPT))
      return fail(fmt::format("unit {} does not end in RET", ui));
    for (size_t pc = 0; pc < u.code.size(); ++pc) {
      const Instr& in = u.code[pc];
      const char* shape = op_shape(in.op);
      auto reg = [&](uint32_t r) { return r < u.registers; };
      uint32_t operands[4] = {in.d, in.a, in.b, in.c};
      bool has_dest = shape[0] == 'D';
      int k = has_dest ? 0 : 1;
      for (const char* s = shape; *s; ++s) {
        if (*s == ' ') continue;
        uint32_t v = operands[k++];
        bool ok = true;
        switch (*s) {
          case 'D': case 'A': case 'B': ok = reg(v); break;
          case 'C': ok = in.op == Op::CALL ? uint64_t(in.b) + v <= u.registers : reg(v); break;
          case 'K': ok = v < p.constants.size(); break;
          case 'G': ok = v < p.aggregates.size(); break;
          case 'S': ok = v < p.sets.size() && !p.is_list(v); break;  // IN_SET bisects: a set, not a list
          case 'T': ok = v > pc && v < u.code.size(); break;
          case 'N': ok = v < overload_count(); break;
          case 'F': ok = true; break;  // the VM reads fields only below the record's size
        }
        if (!ok)
          return fail(fmt::format("unit {} instruction {} ({}): operand `{}` = {} out of range", ui, pc,
                                  op_name(in.op), *s, v));
      }
      // A CALL passes exactly the arguments its overload reads (builtins.def); fewer would read
      // past its block.
      if (in.op == Op::CALL) {
        const OverloadInfo* o = find_overload(in.a);
        if (in.c != o->params.size())
          return fail(fmt::format("unit {} instruction {} (CALL): builtin overload #{} ({}) takes {} arguments, not {}", ui,
                                  pc, in.a, o->signature(), o->params.size(), in.c));
      }
    }
  }
  if (!p.zone.well_formed()) return fail("program zone transitions are not sorted or out of range");
  // The batch VM runs jump-free code only (see batch_vm.cc).
  auto batch_ok = [&](uint32_t u) {
    for (const auto& in : p.units[u].code)
      if (in.op == Op::JUMP || in.op == Op::JUMP_IF_FALSE || in.op == Op::JUMP_IF_TRUE) return false;
    return true;
  };
  // A set is searched by bisection, so it must be sorted and distinct; a list is kept as written.
  if (p.lists.size() > p.sets.size()) return fail("more list flags than constant collections");
  for (size_t i = 0; i < p.sets.size(); ++i)
    for (size_t j = 1; j < p.sets[i].size() && !p.is_list(i); ++j)
      if (p.sets[i][j - 1] >= p.sets[i][j]) return fail(fmt::format("set {} is not sorted", i));

  // ---- schema: the engine fills `user` (profile field 0) and reads id, user, time (event fields 0-2)
  auto field_ok = [&p](const Field& f) {
    if (f.kind == Kind::Set || f.kind == Kind::List)
      return f.elem != Kind::Set && f.elem != Kind::List &&
             (!f.has_default || (f.default_value >= 0 && size_t(f.default_value) < p.sets.size()));
    return true;
  };
  if (p.profile.empty() || p.profile[0].name != "user" || p.profile[0].kind != Kind::String)
    return fail("profile field 0 is not `user: String`");
  for (const auto& f : p.profile)
    if (!field_ok(f)) return fail(fmt::format("profile field `{}` is a collection of collections or its default is not a constant set", f.name));
  for (const auto& e : p.events) {
    if (e.fields.size() < 3 || e.fields[0].kind != Kind::String || e.fields[1].kind != Kind::String ||
        e.fields[2].kind != Kind::Time)
      return fail(fmt::format("event `{}` does not start with id: String, user: String, time: Time", e.name));
    for (const auto& f : e.fields)
      if (!field_ok(f)) return fail(fmt::format("event field `{}.{}` is a collection of collections or its default is not a constant set", e.name, f.name));
  }

  // ---- aggregates and segments
  auto unit_ok = [&](int32_t u) { return u == -1 || (u >= 0 && size_t(u) < p.units.size()); };
  for (const auto& a : p.aggregates) {
    if (a.source != AggSource::Events) {
      // Delivery history: counted, never a field or a filter; its selectors name existing entries.
      auto in = [](int32_t i, size_t n) { return i >= -1 && (i < 0 || size_t(i) < n); };
      if ((a.kind != AggKind::Count && a.kind != AggKind::Exists) || a.field != -1 || a.filter_unit != -1 ||
          !in(a.strategy, p.strategies.size()) || !in(a.resource, p.resources.size()) || !in(a.channel, p.channels.size()))
        return fail(fmt::format("delivery-history aggregate `{}` is not a count or names a missing strategy, resource or channel", a.text));
      bool sized = a.window == Window::Within || a.window == Window::LastN || a.window == Window::PreviousN;
      if (sized && a.window_value <= 0) return fail(fmt::format("aggregate `{}` has a window of {}", a.text, a.window_value));
      continue;
    }
    if (a.event >= p.events.size() || !unit_ok(a.filter_unit) || a.field < -1 ||
        (a.field >= 0 && size_t(a.field) >= p.events[a.event].fields.size()))
      return fail("aggregate refers to a missing event, field or filter");
    bool sized = a.window == Window::Within || a.window == Window::LastN || a.window == Window::PreviousN;
    if (sized && a.window_value <= 0) return fail(fmt::format("aggregate `{}` has a window of {}", a.text, a.window_value));
  }
  for (const auto& s : p.segments) {
    if (s.unit >= p.units.size() || s.batch_unit >= p.units.size()) return fail("segment refers to a missing unit");
    if (!batch_ok(s.batch_unit)) return fail(fmt::format("segment `{}`: its batch unit has jumps", s.name));
  }

  // ---- limits: what the engine divides by or compares against
  // Sliding windows have a length (the engine subtracts it from now); calendar periods a unit.
  auto period_ok = [](const Period& per) {
    return per.kind != PeriodKind::Sliding || (per.micros > 0 && per.micros <= kMaxSpan);
  };
  auto cap_ok = [&](const Cap& c) { return c.count > 0 && period_ok(c.period); };
  auto channel_ok = [&](int32_t c) { return c >= -1 && c < int32_t(p.channels.size()); };
  constexpr int64_t kScale = 1'000'000;

  for (const auto& r : p.resources) {
    if (r.discount < 0 || r.threshold < 0 || r.points < 0 || r.fixed_from_third < 0 || r.decay < 0 || r.decay > kScale)
      return fail(fmt::format("resource `{}` has a negative amount or a decay outside 0..100%", r.name));
    if (r.percent < 0 || r.percent > kScale || r.cost < 0)
      return fail(fmt::format("resource `{}` has a percentage outside 0..100% or a negative cost", r.name));
    if (!r.funders.empty()) {
      int64_t sum = 0;
      for (const auto& f : r.funders) {
        if (f.share <= 0 || f.share > kScale || f.name.empty())
          return fail(fmt::format("resource `{}` has a funder's share outside 0..100%", r.name));
        sum += f.share;
      }
      if (sum != kScale) return fail(fmt::format("resource `{}`: its funders' shares do not add up to 100%", r.name));
    }
    for (const auto* parts : {&r.text_parts, &r.title_parts})
      for (const auto& t : *parts)
        if (t.field < -1 || t.field >= int32_t(p.profile.size()))
          return fail(fmt::format("resource `{}` has a template naming profile field {}", r.name, t.field));
    if ((r.has_claim && r.claim_from >= r.claim_to) || (r.has_use_window && r.use_from >= r.use_to))
      return fail(fmt::format("resource `{}` has an empty claim or use window", r.name));
    if (r.use_after_claim < 0 || r.use_after_claim > kMaxSpan)
      return fail(fmt::format("resource `{}` has a use period out of range", r.name));
    // A draw the engine can compute without dividing by zero, whose largest value is `discount`.
    if (r.draw == Resource::Draw::Range &&
        (r.draw_lo <= 0 || r.draw_step <= 0 || r.draw_hi <= r.draw_lo || (r.draw_hi - r.draw_lo) % r.draw_step != 0 ||
         r.discount != r.draw_hi))
      return fail(fmt::format("resource `{}` has a malformed random range", r.name));
    if (r.draw == Resource::Draw::Table) {
      int64_t total = 0, most = 0;
      bool ok = !r.draw_values.empty() && r.draw_values.size() == r.draw_weights.size();
      for (size_t j = 0; ok && j < r.draw_values.size(); ++j) {
        ok = r.draw_values[j] > 0 && r.draw_weights[j] > 0 && r.draw_weights[j] <= kCertain;
        total += r.draw_weights[j];
        most = std::max(most, r.draw_values[j]);
      }
      if (!ok || total != kCertain || most != r.discount)
        return fail(fmt::format("resource `{}` has a malformed random table", r.name));
    }
    if (r.draw != Resource::Draw::None && r.decay != 0)
      return fail(fmt::format("resource `{}` both draws and decays its discount", r.name));
  }

  std::set<std::string_view> names;
  for (const auto& s : p.strategies) {
    // Ledgers, counters and scheduled-run keys name strategies: two of one name would share them.
    if (!names.insert(s.name).second) return fail(fmt::format("strategy `{}` is defined twice", s.name));
    auto bad = [&](const char* what) { return fail(fmt::format("strategy `{}`: {}", s.name, what)); };
    if (!unit_ok(s.who) || !unit_ok(s.where) || !unit_ok(s.trigger_if) || !unit_ok(s.who_batch) || !unit_ok(s.value))
      return fail("strategy refers to a missing unit");
    if (s.who_batch >= 0 && !batch_ok(uint32_t(s.who_batch))) return bad("its batch `who` unit has jumps");
    if (s.trigger == Trigger::OnEvent && s.event >= p.events.size()) return fail("strategy triggers on a missing event");
    if (!s.zone.well_formed()) return fail("strategy zone transitions are not sorted or out of range");
    if (s.index_field < -1 || (s.index_field >= 0 && (s.trigger != Trigger::OnEvent || s.event >= p.events.size() ||
                                                      size_t(s.index_field) >= p.events[s.event].fields.size())))
      return fail("strategy index refers to a missing event field");
    if (s.has_window && s.from >= s.to) return bad("its window is empty or reversed");
    // A schedule fires at `at` (a time of day) + k * `every`; the engine decides for every known
    // user at each firing, so periods have the language's lower bound (docs/language.md).
    if (s.trigger == Trigger::Every &&
        (s.every < kMinSchedulePeriod || s.every > kMaxSpan || s.at < 0 || s.at >= kMicrosPerDay))
      return bad("its schedule period or time of day is out of range");
    // A delayed trigger (docs/semantics.md, "Delayed triggers"): only on an event, and its
    // cancelling keys name fields of the two events.
    if (s.delay < 0 || s.delay > kMaxSpan || (s.delay > 0 && s.trigger != Trigger::OnEvent))
      return bad("its delay is out of range or not on an event trigger");
    if (s.cancel_event < -1 || (s.cancel_event >= 0 && (s.delay == 0 || size_t(s.cancel_event) >= p.events.size())) ||
        (s.cancel_event < 0 && !s.cancel_keys.empty()))
      return bad("its cancelling event is missing");
    for (auto [c, t] : s.cancel_keys)
      if (c >= p.events[s.cancel_event].fields.size() || t >= p.events[s.event].fields.size())
        return bad("its cancelling keys name missing fields");
    if (s.stock < -1) return bad("its stock is negative");
    if (s.has_budget && s.budget <= 0) return bad("its budget is not positive");
    if (s.paced && !s.has_window) return bad("it is paced without a window");
    if (s.control_basis_points < 0 || s.control_basis_points >= 10000) return bad("its control share is out of range");
    if (s.pool < -1 || s.pool >= int32_t(p.pools.size())) return bad("it draws from a missing pool");
    int64_t shares = s.control_basis_points;
    std::set<std::string_view> arm_names;
    for (const auto& a : s.arms) {
      if (a.basis_points <= 0 || a.basis_points >= 10000) return bad("an arm's share is out of range");
      if (!arm_names.insert(a.name).second) return bad("it names an arm twice");
      shares += a.basis_points;
    }
    if (shares > 10000) return bad("its control group and arms take more than every bucket");
    for (const auto& a : s.actions)
      if (a.arm < -1 || a.arm >= int32_t(s.arms.size())) return bad("an action names a missing arm");
    if (s.has_rollout) {
      const Rollout& ro = s.rollout;
      if (ro.arms.empty() || s.control_basis_points <= 0) return bad("its roll-out has no arms or no control group");
      std::set<int32_t> listed;
      for (int32_t a : ro.arms)
        if (a < 0 || a >= int32_t(s.arms.size()) || !listed.insert(a).second) return bad("its roll-out names a missing arm, or one twice");
      if (ro.metric != RolloutMetric::Conversion && ro.metric != RolloutMetric::SpendPerUser && ro.metric != RolloutMetric::Roi)
        return bad("its roll-out has an unknown metric");
      if (ro.after <= 0 || ro.window <= 0) return bad("its roll-out's duration or window is not positive");
      if (ro.order_event < 0 || ro.order_event >= int32_t(p.events.size())) return bad("its roll-out measures a missing event");
      const auto& fields = p.events[size_t(ro.order_event)].fields;
      if (ro.amount_field < -1 || ro.amount_field >= int32_t(fields.size()) ||
          (ro.amount_field >= 0 && fields[size_t(ro.amount_field)].kind != Kind::Money) ||
          (ro.metric != RolloutMetric::Conversion && ro.amount_field < 0))
        return bad("its roll-out sums a field that is not a Money amount of the order event");
    }
    for (const auto& c : s.per_user)
      if (!cap_ok(c)) return bad("a per-user limit has a count or period that is not positive");
    for (const auto& a : s.actions) {
      if (a.resource >= p.resources.size() || !channel_ok(a.channel))
        return fail("strategy action refers to a missing resource or channel");
      if (a.chance <= 0 || a.chance > kCertain) return bad("an action's chance is outside 0..100%");
    }
    // A budget, the strategy's own or its pool's, is charged each coupon's or red envelope's face
    // value and each message's cost as a number: they must be in its currency (the checker's E0402).
    // A program compiled before the checker compared pools with message costs is refused here
    // rather than charging USD to a CNY pool.
    for (const auto& a : s.actions) {
      const Resource& r = p.resources[a.resource];
      const bool charged =
          is_message(r.kind) ? r.cost > 0 : r.kind == ResourceKind::Coupon || r.kind == ResourceKind::RedEnvelope;
      if (!charged) continue;
      if (s.has_budget && r.currency != s.budget_currency)
        return fail(fmt::format("strategy `{}`: its budget is in `{}` but resource `{}` is in `{}`", s.name,
                                s.budget_currency, r.name, r.currency));
      if (s.pool >= 0 && p.pools[size_t(s.pool)].has_budget && r.currency != p.pools[size_t(s.pool)].budget_currency)
        return fail(fmt::format("strategy `{}`: pool `{}` has a budget in `{}` but resource `{}` is in `{}`", s.name,
                                p.pools[size_t(s.pool)].name, p.pools[size_t(s.pool)].budget_currency, r.name, r.currency));
    }
    if (s.recipient_field < -1 ||
        (s.recipient_field >= 0 && (s.trigger != Trigger::OnEvent || s.event >= p.events.size() ||
                                    size_t(s.recipient_field) >= p.events[s.event].fields.size() ||
                                    p.events[s.event].fields[s.recipient_field].kind != Kind::String)))
      return bad("its recipient is not a String field of its trigger event");
  }

  std::set<std::string_view> pool_names;
  for (const auto& pool : p.pools) {
    // Counters are kept by name (state::Quotas): two pools of one name would share them.
    if (!pool_names.insert(pool.name).second) return fail(fmt::format("pool `{}` is defined twice", pool.name));
    if (pool.stock < -1 || (pool.has_budget && pool.budget <= 0))
      return fail(fmt::format("pool `{}`: its stock is negative or its budget not positive", pool.name));
  }

  for (const auto& pol : p.policies) {
    auto bad = [&](const char* what) { return fail(fmt::format("policy `{}`: {}", pol.name, what)); };
    static const std::set<std::string> kUnredeemed = {"coupons", "red_envelopes", "resources"};
    if (pol.max_unredeemed < -1 || (pol.max_unredeemed >= 0 && !kUnredeemed.count(pol.unredeemed_kind)))
      return bad("its unredeemed limit is malformed");
    if (pol.has_same_type && !period_ok(pol.same_type)) return bad("its same-type period is not positive");
    for (const auto& cc : pol.channel_caps)
      if (cc.channel < 0 || cc.channel >= int32_t(p.channels.size()) || !cap_ok(cc.cap))
        return bad("a channel cap names a missing channel or is not positive");
    if (pol.quiet_from < 0 || pol.quiet_from >= 1440 || pol.quiet_to < 0 || pol.quiet_to >= 1440 ||
        (pol.has_quiet && pol.quiet_from == pol.quiet_to))
      return bad("malformed quiet hours");
  }
  return true;
}

// ---- disassembler ----------------------------------------------------------------------------

namespace {

// The operands of one instruction as the disassembler names them (r3, k0, g1, S2, @7, #4, f5).
std::vector<std::string> operand_texts(const Instr& in) {
  std::vector<std::string> ops;
  uint32_t operands[4] = {in.d, in.a, in.b, in.c};
  const char* shape = op_shape(in.op);
  int k = shape[0] == 'D' ? 0 : 1;
  for (const char* s = shape; *s; ++s) {
    if (*s == ' ') continue;
    uint32_t v = operands[k++];
    std::string o;
    switch (*s) {
      case 'D': case 'A': case 'B': case 'C': o = in.op == Op::CALL && *s == 'C' ? std::to_string(v) : "r" + std::to_string(v); break;
      case 'K': o = "k" + std::to_string(v); break;
      case 'G': o = "g" + std::to_string(v); break;
      case 'S': o = "S" + std::to_string(v); break;
      case 'T': o = "@" + std::to_string(v); break;
      case 'N': o = "#" + std::to_string(v); break;
      case 'F': o = "f" + std::to_string(v); break;
    }
    ops.push_back(o);
  }
  return ops;
}

}  // namespace

std::string disassemble(const Program& p) {
  std::string out;
  out += fmt::format("; crm bytecode v{}: {} units, {} instructions (cost bound), {} aggregates\n", kFormatVersion,
                     p.units.size(), p.cost_bound(), p.aggregates.size());
  if (!p.constants.empty()) {
    out += "constants:";
    for (size_t i = 0; i < p.constants.size(); ++i) out += fmt::format(" k{}={}", i, p.constants[i]);
    out += "\n";
  }
  for (size_t i = 0; i < p.strings.size(); ++i) out += fmt::format("string s{} = \"{}\"\n", i, p.strings[i]);
  for (size_t i = 0; i < p.sets.size(); ++i) {
    out += (p.is_list(i) ? "list S" : "set S") + std::to_string(i) + (p.is_list(i) ? " = [" : " = {");
    for (size_t j = 0; j < p.sets[i].size(); ++j) out += (j ? ", " : "") + std::to_string(p.sets[i][j]);
    out += p.is_list(i) ? "]\n" : "}\n";
  }
  for (size_t i = 0; i < p.aggregates.size(); ++i) {
    const auto& a = p.aggregates[i];
    if (a.source != AggSource::Events) {
      out += fmt::format("aggregate g{} = {} on {}\n", i, a.text, a.source == AggSource::Received ? "deliveries" : "redemptions");
      continue;
    }
    out += fmt::format("aggregate g{} = {} on {}{}\n", i, a.text, p.events[a.event].name,
                       a.filter_unit >= 0 ? fmt::format(" filter u{}", a.filter_unit) : "");
  }
  for (size_t ui = 0; ui < p.units.size(); ++ui) {
    const Unit& u = p.units[ui];
    out += fmt::format("\nu{}: {}  ; {} registers, returns {}\n", ui, u.name, u.registers, kind_name(u.result));
    for (size_t pc = 0; pc < u.code.size(); ++pc) {
      std::string ops;
      for (const auto& o : operand_texts(u.code[pc])) ops += (ops.empty() ? "" : ", ") + o;
      out += fmt::format("  {:4}  {:<14}{}\n", pc, op_name(u.code[pc].op), ops);
    }
  }
  return out;
}

std::string disassemble_json(const Program& p) {
  std::string out = fmt::format("{{\"format_version\":{},\"cost_bound\":{},\"constants\":[", kFormatVersion, p.cost_bound());
  for (size_t i = 0; i < p.constants.size(); ++i)
    out += (i ? "," : "") + std::to_string(p.constants[i]);
  out += "],\"strings\":[";
  for (size_t i = 0; i < p.strings.size(); ++i) out += (i ? "," : "") + support::json_quote(p.strings[i]);
  out += "],\"sets\":[";
  for (size_t i = 0; i < p.sets.size(); ++i) {
    out += i ? ",[" : "[";
    for (size_t j = 0; j < p.sets[i].size(); ++j) out += (j ? "," : "") + std::to_string(p.sets[i][j]);
    out += "]";
  }
  out += "],\"lists\":[";  // which of the sets are lists (written order, duplicates kept)
  for (size_t i = 0, n = 0; i < p.sets.size(); ++i)
    if (p.is_list(i)) out += (n++ ? "," : "") + std::to_string(i);
  out += "],\"aggregates\":[";
  for (size_t i = 0; i < p.aggregates.size(); ++i) {
    const auto& a = p.aggregates[i];
    out += fmt::format("{}{{\"id\":\"g{}\",\"text\":{},\"event\":{},\"filter_unit\":{}}}", i ? "," : "", i,
                       support::json_quote(a.text),
                       support::json_quote(a.source == AggSource::Received   ? std::string("deliveries")
                                           : a.source == AggSource::Redeemed ? std::string("redemptions")
                                                                             : p.events[a.event].name),
                       a.filter_unit >= 0 ? fmt::format("\"u{}\"", a.filter_unit) : "null");
  }
  out += "],\"units\":[";
  for (size_t ui = 0; ui < p.units.size(); ++ui) {
    const Unit& u = p.units[ui];
    out += fmt::format("{}{{\"id\":\"u{}\",\"name\":{},\"registers\":{},\"returns\":\"{}\",\"code\":[", ui ? "," : "", ui,
                       support::json_quote(u.name), u.registers, kind_name(u.result));
    for (size_t pc = 0; pc < u.code.size(); ++pc) {
      out += fmt::format("{}{{\"pc\":{},\"op\":\"{}\",\"operands\":[", pc ? "," : "", pc, op_name(u.code[pc].op));
      auto ops = operand_texts(u.code[pc]);
      for (size_t k = 0; k < ops.size(); ++k) out += (k ? ",\"" : "\"") + ops[k] + "\"";
      out += "]}";
    }
    out += "]}";
  }
  return out + "]}\n";
}

}  // namespace crm::bytecode
