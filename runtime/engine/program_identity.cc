// program_identity.cc - hashes of a compiled program and of each of its strategies.
#include "runtime/engine/program_identity.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace crm::engine {

using namespace bytecode;

namespace {

// FNV-1a 64 (as the .crmc checksum) over a canonical byte string: every string is length-prefixed,
// so no two different sequences of values give the same bytes.
struct Canon {
  std::string out;
  void i64(int64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void str(std::string_view s) { i64(int64_t(s.size())); out.append(s); }
  std::string hash() const {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : out) { h ^= c; h *= 1099511628211ull; }
    return fmt::format("{:016x}", h);
  }
};

struct Hasher {
  const Program& p;
  Canon c;

  // A string id is hashed as its text: ids are positions in the program's string table, which
  // another declaration may shift.
  void string_id(int64_t v) {
    if (v >= 0 && size_t(v) < p.strings.size()) c.str(p.strings[size_t(v)]);
    else c.i64(v);
  }
  void field(const Field& f) {
    c.str(f.name); c.i64(int64_t(f.kind)); c.i64(int64_t(f.elem)); c.i64(f.optional); c.str(f.currency);
    if (f.has_default && f.kind == Kind::String) string_id(f.default_value);
    else c.i64(f.has_default ? f.default_value : 0);
    c.i64(f.has_default);
    c.i64(int64_t(f.enum_values.size()));
    for (const auto& v : f.enum_values) c.str(v);
  }
  void period(const Period& x) { c.i64(int64_t(x.kind)); c.i64(int64_t(x.unit)); c.i64(x.micros); }
  void zone(const support::ZoneRules& z) {
    c.str(z.name); c.i64(z.initial_offset); c.i64(int64_t(z.transitions.size()));
    for (const auto& [t, o] : z.transitions) { c.i64(t); c.i64(o); }
  }
  void aggregate(uint32_t g) {
    const AggSpec& a = p.aggregates[g];
    if (a.source != bytecode::AggSource::Events) {
      // Delivery history, by what it selects (names, not table positions).
      c.i64(int64_t(a.kind)); c.i64(int64_t(a.window)); c.i64(100 + int64_t(a.source)); c.i64(a.window_value);
      c.str(a.strategy >= 0 ? p.strategies[a.strategy].name : "");
      c.str(a.resource >= 0 ? p.resources[a.resource].name : "");
      c.str(a.channel >= 0 ? p.channels[a.channel] : "");
      c.str(a.code);
      return;
    }
    c.i64(int64_t(a.kind)); c.i64(int64_t(a.window)); c.str(p.events[a.event].name);
    if (a.field >= 0) field(p.events[a.event].fields[a.field]); else c.str("");
    c.i64(a.window_value); c.i64(int64_t(a.value_kind));
    unit(a.filter_unit, int32_t(a.event));
    if (a.filter_unit >= 0) zone(p.zone);  // a filter's date built-ins read the program's zone
  }
  // Which constants of a unit are strings, from the registers they meet: a string field, a
  // string concatenation, or a comparison with either (the checker typed the code, so both sides
  // of a comparison have one type). Constants it cannot tell (arguments of builtins) stay values.
  struct Strings {
    std::vector<uint8_t> reg;       // per register: holds a string
    std::vector<int32_t> loaded;    // per register: pc of the LOAD_CONST that wrote it, or -1
    std::vector<uint8_t> const_pc;  // per instruction: a LOAD_CONST of a string / a _K or IN_SET on one
  };
  Strings strings_of(const Unit& x, int32_t event) const {
    Strings t{std::vector<uint8_t>(x.registers + 1u, 0), std::vector<int32_t>(x.registers + 1u, -1),
              std::vector<uint8_t>(x.code.size(), 0)};
    auto r = [&](uint32_t i) -> uint32_t { return i < x.registers ? i : x.registers; };
    auto is_string_field = [&](const Instr& in) {
      const Field* f = nullptr;
      if (in.op == Op::LOAD_PROFILE && in.a < p.profile.size()) f = &p.profile[in.a];
      if (in.op == Op::LOAD_EVENT && event >= 0 && in.a < p.events[event].fields.size()) f = &p.events[event].fields[in.a];
      return f && f->kind == Kind::String;
    };
    auto mark = [&](uint32_t reg) {
      t.reg[r(reg)] = 1;
      if (t.loaded[r(reg)] >= 0) t.const_pc[size_t(t.loaded[r(reg)])] = 1;
    };
    for (size_t pc = 0; pc < x.code.size(); ++pc) {
      const Instr& in = x.code[pc];
      bool sa = t.reg[r(in.a)], sb = t.reg[r(in.b)];
      bool dest_string = false;
      switch (in.op) {
        case Op::LOAD_PROFILE: case Op::LOAD_EVENT: dest_string = is_string_field(in); break;
        case Op::STR_CONCAT: case Op::STR_LT: case Op::STR_LE:
          mark(in.a); mark(in.b);
          dest_string = in.op == Op::STR_CONCAT;
          break;
        case Op::EQ: case Op::NE:
          if (sa || sb) { mark(in.a); mark(in.b); }
          break;
        case Op::EQ_K: case Op::NE_K: case Op::LT_K: case Op::LE_K: case Op::GT_K: case Op::GE_K: case Op::IN_SET:
          t.const_pc[pc] = sa;
          break;
        case Op::MOV: dest_string = sa; break;
        case Op::COALESCE:  // d = a ? b : c, where a is b's presence
        case Op::SELECT: {
          bool sc = t.reg[r(in.c)];
          if (sb || sc) { mark(in.b); mark(in.c); dest_string = true; }
          break;
        }
        default: break;
      }
      if (op_shape(in.op)[0] == 'D') {
        t.reg[r(in.d)] = dest_string;
        t.loaded[r(in.d)] = in.op == Op::LOAD_CONST ? int32_t(pc) : -1;
      }
    }
    return t;
  }

  // A unit's code with every operand that indexes a program-wide table replaced by what it
  // names (string constants by their text), so the hash does not move when other declarations
  // are added or reordered.
  void unit(int32_t u, int32_t event) {
    c.i64(u >= 0);
    if (u < 0) return;
    const Unit& x = p.units[u];
    Strings strs = strings_of(x, event);
    c.i64(x.registers); c.i64(int64_t(x.result)); c.i64(int64_t(x.code.size()));
    for (size_t pc = 0; pc < x.code.size(); ++pc) {
      const Instr& in = x.code[pc];
      bool text = strs.const_pc[pc];
      c.i64(int64_t(in.op));
      uint32_t operands[4] = {in.d, in.a, in.b, in.c};
      const char* shape = op_shape(in.op);
      int k = shape[0] == 'D' ? 0 : 1;
      for (const char* s = shape; *s; ++s) {
        if (*s == ' ') continue;
        uint32_t v = operands[k++];
        switch (*s) {
          case 'K':
            if (v >= p.constants.size()) c.i64(-1);
            else if (text) string_id(p.constants[v]);
            else c.i64(p.constants[v]);
            break;
          case 'G': if (v < p.aggregates.size()) aggregate(v); break;
          case 'S':
            if (v < p.sets.size()) {
              c.i64(int64_t(p.sets[v].size()));
              if (!text) {
                for (int64_t e : p.sets[v]) c.i64(e);
              } else {
                // A set of strings is sorted by id; its texts, sorted, do not depend on the ids.
                std::vector<std::string> texts;
                for (int64_t e : p.sets[v])
                  texts.push_back(e >= 0 && size_t(e) < p.strings.size() ? p.strings[size_t(e)] : std::to_string(e));
                std::sort(texts.begin(), texts.end());
                for (const auto& t : texts) c.str(t);
              }
            }
            break;
          case 'F':
            if (in.op == Op::LOAD_PROFILE && v < p.profile.size()) field(p.profile[v]);
            else if (in.op == Op::LOAD_EVENT && event >= 0 && v < p.events[event].fields.size()) field(p.events[event].fields[v]);
            else c.i64(v);
            break;
          default: c.i64(v);  // registers, jump targets, builtins: local to the unit
        }
      }
    }
  }
  void resource(const Resource& r) {
    c.str(r.name); c.i64(int64_t(r.kind)); c.i64(r.discount); c.i64(r.threshold); c.str(r.currency); c.i64(r.points);
    c.i64(r.has_claim); c.i64(r.claim_from); c.i64(r.claim_to); c.i64(r.use_after_claim); c.i64(r.has_use_window);
    c.i64(r.use_from); c.i64(r.use_to); c.str(r.text);
    for (const auto& list : r.restrictions) { c.i64(int64_t(list.size())); for (const auto& v : list) c.str(v); }
    c.i64(r.decay); c.i64(r.fixed_from_third);
    // Added with random rewards; hashed only when used, so older programs keep their hashes.
    if (r.draw != Resource::Draw::None) {
      c.str("draw"); c.i64(int64_t(r.draw)); c.i64(r.draw_lo); c.i64(r.draw_hi); c.i64(r.draw_step);
      c.i64(int64_t(r.draw_values.size()));
      for (size_t i = 0; i < r.draw_values.size(); ++i) { c.i64(r.draw_values[i]); c.i64(r.draw_weights[i]); }
    }
    // Added with message costs and percentage discounts; hashed only when used, likewise. The
    // templates' fields are named in `text` (and the title) as written.
    if (r.percent || r.cost) { c.str("percent_cost"); c.i64(r.percent); c.i64(r.cost); }
    if (!r.title_parts.empty()) {
      c.str("title");
      c.i64(int64_t(r.title_parts.size()));
      for (const auto& t : r.title_parts) {
        c.str(t.literal);
        if (t.field >= 0 && size_t(t.field) < p.profile.size()) field(p.profile[size_t(t.field)]);
        else c.str("");
        c.i64(t.has_fallback); c.str(t.fallback);
      }
    }
  }
  void policy(const Policy& pol) {
    c.str(pol.name); c.str(pol.business); c.i64(pol.max_unredeemed); c.str(pol.unredeemed_kind);
    c.i64(pol.has_same_type); period(pol.same_type);
    c.i64(int64_t(pol.channel_caps.size()));
    for (const auto& cc : pol.channel_caps) { c.str(p.channels[cc.channel]); c.i64(cc.cap.count); period(cc.cap.period); }
    c.i64(pol.has_quiet); c.i64(pol.quiet_from); c.i64(pol.quiet_to); c.i64(pol.quiet_drop);
  }
  void strategy(const Strategy& s) {
    c.str(s.name); c.str(s.business); c.i64(s.priority); c.i64(int64_t(s.trigger));
    if (s.trigger == Trigger::OnEvent) {
      c.str(p.events[s.event].name);
      for (const auto& f : p.events[s.event].fields) field(f);
    }
    c.i64(s.at); c.i64(s.every); c.i64(s.has_window); c.i64(s.from); c.i64(s.to);
    int32_t ev = s.trigger == Trigger::OnEvent ? int32_t(s.event) : -1;
    unit(s.who, ev); unit(s.where, ev); unit(s.trigger_if, ev);
    // Only when present, so the hashes of strategies without `value:` stay those of older builds.
    if (s.value >= 0) { c.str("value"); unit(s.value, ev); }
    c.i64(int64_t(s.actions.size()));
    for (const auto& a : s.actions) {
      c.i64(a.send); resource(p.resources[a.resource]); c.str(a.channel >= 0 ? p.channels[a.channel] : ""); c.str(a.code);
      // Random and referral rewards: hashed only when used, so older programs keep their hashes.
      if (a.chance != kCertain) { c.str("chance"); c.i64(a.chance); }
      if (a.chance != kCertain || p.resources[a.resource].draw != Resource::Draw::None) { c.str("salt"); c.str(a.salt); }
    }
    if (s.recipient_field >= 0) { c.str("recipient"); c.str(p.events[s.event].fields[s.recipient_field].name); }
    c.i64(s.has_budget); c.i64(s.budget); c.str(s.budget_currency); c.i64(s.stock);
    c.i64(int64_t(s.per_user.size()));
    for (const auto& cap : s.per_user) { c.i64(cap.count); period(cap.period); }
    c.i64(s.control_basis_points); c.str(s.split_salt); zone(s.zone);
    c.i64(s.paced); c.str(s.exclusive_group);
    // A delayed trigger (only when there is one, so the hashes of other strategies stay as they were).
    if (s.delay > 0) {
      c.str("after"); c.i64(s.delay);
      if (s.cancel_event >= 0) {
        c.str(p.events[s.cancel_event].name);
        for (auto [cf, tf] : s.cancel_keys) { field(p.events[s.cancel_event].fields[cf]); field(p.events[s.event].fields[tf]); }
      }
    }
    // Added only when used, so the hashes of strategies without them stay what they were.
    if (s.pool >= 0) {
      const Pool& pool = p.pools[s.pool];
      c.str("pool"); c.str(pool.name); c.i64(pool.has_budget); c.i64(pool.budget); c.str(pool.budget_currency); c.i64(pool.stock);
    }
    if (!s.arms.empty()) {
      c.str("arms");
      for (const auto& arm : s.arms) { c.str(arm.name); c.i64(arm.basis_points); }
      for (const auto& a : s.actions) c.i64(a.arm);
    }
    if (s.has_rollout) {
      const Rollout& ro = s.rollout;
      c.str("rollout");
      for (int32_t a : ro.arms) c.str(s.arms[size_t(a)].name);
      c.i64(int64_t(ro.metric)); c.i64(ro.after); c.i64(ro.decide_at); c.i64(ro.window);
      c.str(p.events[size_t(ro.order_event)].name);
      if (ro.amount_field >= 0) field(p.events[size_t(ro.order_event)].fields[size_t(ro.amount_field)]);
    }
    // Policies that may refuse its deliveries (docs/semantics.md, "Policies").
    for (const auto& pol : p.policies)
      if (pol.business.empty() || pol.business == s.business) policy(pol);
  }
};

std::string resource_key(const Resource& r) {
  return fmt::format("{}:{}:{}", r.name, resource_kind_name(r.kind), r.currency);
}

}  // namespace

state::ProgramIdentity program_identity(const Program& p) {
  state::ProgramIdentity id;
  Canon whole;
  whole.str(serialize(p));
  id.hash = whole.hash();
  for (const auto& s : p.strategies) {
    Hasher h{p, {}};
    h.strategy(s);
    state::StrategyIdentity si;
    si.name = s.name;
    si.hash = h.c.hash();
    si.budget_currency = s.has_budget ? s.budget_currency : "";
    if (s.control_basis_points > 0 || !s.arms.empty()) {
      si.split = fmt::format("control:{}", s.control_basis_points);
      // A/B/n arms after the control group (ledger schema 5): the report's sample-ratio check
      // needs their shares, since users beyond the last arm are not decided.
      if (!s.arms.empty()) {
        si.split += ";variants:";
        for (size_t i = 0; i < s.arms.size(); ++i)
          si.split += fmt::format("{}{}:{}", i ? "," : "", s.arms[i].name, s.arms[i].basis_points);
      }
    }
    std::set<std::string> keys;
    for (const auto& a : s.actions) keys.insert(resource_key(p.resources[a.resource]));
    for (const auto& k : keys) si.resources += (si.resources.empty() ? "" : ",") + k;
    id.strategies.push_back(std::move(si));
  }
  std::sort(id.strategies.begin(), id.strategies.end(),
            [](const state::StrategyIdentity& a, const state::StrategyIdentity& b) { return a.name < b.name; });
  return id;
}

ProgramChange compare_programs(const state::ProgramIdentity& recorded, const state::ProgramIdentity& current,
                               const Program& p) {
  ProgramChange ch;
  if (recorded.hash == current.hash) return ch;
  ch.same = false;
  std::map<std::string, const state::StrategyIdentity*> before, after;
  for (const auto& s : recorded.strategies) before[s.name] = &s;
  for (const auto& s : current.strategies) after[s.name] = &s;
  std::set<std::string> declared;
  for (const auto& r : p.resources) declared.insert(resource_key(r));
  for (const auto& [name, old] : before) {
    auto it = after.find(name);
    if (it == after.end()) {
      ch.changes.push_back(fmt::format("strategy `{}` removed (its ledger rows stay; they count for nothing)", name));
      continue;
    }
    const auto& now = *it->second;
    if (now.hash == old->hash) continue;
    ch.changes.push_back(fmt::format("strategy `{}` changed", name));
    // Its counters carry over only while they count the same things: money against the budget in
    // the same currency, and grants of resources that still exist as they were granted (so they
    // can still be redeemed, expire and count against per-user limits).
    if (!old->budget_currency.empty() && !now.budget_currency.empty() && old->budget_currency != now.budget_currency)
      ch.refusals.push_back(fmt::format("strategy `{}`: its budget was counted in {} and is now in {}", name,
                                        old->budget_currency, now.budget_currency));
    size_t from = 0;
    const std::string& list = old->resources;
    while (from < list.size()) {
      size_t comma = list.find(',', from);
      std::string key = list.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
      if (!declared.count(key))
        ch.refusals.push_back(fmt::format(
            "strategy `{}`: it granted resource {} (name:kind:currency), which this program no longer declares", name, key));
      from = comma == std::string::npos ? list.size() : comma + 1;
    }
  }
  for (const auto& [name, now] : after)
    if (!before.count(name)) ch.changes.push_back(fmt::format("strategy `{}` added", name));
  return ch;
}

}  // namespace crm::engine
