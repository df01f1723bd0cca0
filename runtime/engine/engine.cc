// engine.cc - event ingestion, decisions and audience counts.
#include "runtime/engine/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "runtime/engine/json_line.h"
#include "runtime/engine/program_identity.h"
#include "support/civil_time.h"
#include "support/json_text.h"
#include "support/line_reader.h"
#include "support/decimal.h"

namespace crm::engine {

using bytecode::Kind;

class Engine::AggSource : public vm::AggregateSource {
 public:
  explicit AggSource(const bytecode::Program& p) : p_(p) {}
  bytecode::AggValue aggregate(uint32_t g, int64_t now) override { return user->aggs.value(p_.aggregates[g], g, now); }
  User* user = nullptr;

 private:
  const bytecode::Program& p_;
};

Engine::Engine(const bytecode::Program& program, EngineOptions options)
    : p_(program),
      executor_(options.executor ? std::move(options.executor) : std::make_shared<VmExecutor>(program)),
      strings_(program.strings),
      agg_source_(std::make_unique<AggSource>(program)) {
  if (&executor_->program() != &p_) {
    // Units of another program would be run against this one's data: a caller bug, not input.
    std::fprintf(stderr, "crm: internal error: the %.*s executor was built for another program\n",
                 int(executor_->name().size()), executor_->name().data());
    std::abort();
  }
  executor_->prepare(ctx_);
  ctx_.strings = &strings_;
  collections_.seed(p_.sets);  // collection defaults are handles into these
  ctx_.collections = &collections_;
  ctx_.aggregates = agg_source_.get();
  for (const auto& f : p_.profile) {
    default_profile_.push_back(f.has_default ? f.default_value : 0);
    default_present_.push_back(f.has_default || default_present_.empty());  // field 0 is `user`
  }
  aggs_by_event_.resize(p_.events.size());
  for (uint32_t g = 0; g < p_.aggregates.size(); ++g) aggs_by_event_[p_.aggregates[g].event].push_back(g);
  event_field_read_.resize(p_.events.size());
  for (size_t e = 0; e < p_.events.size(); ++e) event_field_read_[e].assign(p_.events[e].fields.size(), 0);
  auto mark_unit = [&](int32_t unit, uint32_t event) {
    if (unit < 0) return;
    for (const auto& in : p_.units[unit].code)
      if (in.op == bytecode::Op::LOAD_EVENT && in.a < event_field_read_[event].size()) event_field_read_[event][in.a] = 1;
  };
  for (const auto& a : p_.aggregates) {
    if (a.field >= 0) event_field_read_[a.event][a.field] = 1;
    mark_unit(a.filter_unit, a.event);
  }
  for (const auto& s : p_.strategies)
    if (s.trigger == bytecode::Trigger::OnEvent) {
      mark_unit(s.who, s.event);
      mark_unit(s.where, s.event);
      mark_unit(s.trigger_if, s.event);
      if (s.index_field >= 0) event_field_read_[s.event][s.index_field] = 1;
    }
  // Redemptions are read from fields found by name (docs/semantics.md, "Redemption").
  redeem_fields_.resize(p_.events.size());
  for (size_t e = 0; e < p_.events.size(); ++e) {
    const auto& et = p_.events[e];
    auto& rf = redeem_fields_[e];
    auto is_strings = [](const bytecode::Field& f) {
      return f.kind == Kind::String || ((f.kind == Kind::Set || f.kind == Kind::List) && f.elem == Kind::String);
    };
    for (size_t f = 3; f < et.fields.size(); ++f) {
      const auto& fd = et.fields[f];
      int32_t fi = static_cast<int32_t>(f);
      if (fd.name == "coupon" && fd.kind == Kind::String) rf.coupon = fi;
      if (et.name == "Redeem" && fd.name == "resource" && fd.kind == Kind::String) rf.resource = fi;
      if (et.name == "Redeem" && fd.name == "code" && fd.kind == Kind::String) rf.code = fi;
      if (fd.name == "amount" && fd.kind == Kind::Money) rf.amount = fi;
      for (int k = 0; k < 4; ++k)
        if (fd.name == bytecode::kRestrictionNames[k] && is_strings(fd)) rf.restricted[k] = fi;
    }
    if (!rf.any()) continue;
    for (int32_t f : {rf.resource, rf.code, rf.coupon, rf.amount, rf.restricted[0], rf.restricted[1], rf.restricted[2],
                      rf.restricted[3]})
      if (f >= 0) event_field_read_[e][f] = 1;
  }
  for (const auto& r : p_.resources) redeemable_names_.push_back(strings_.intern(r.name));
  for (const auto& s : p_.strategies)
    for (const auto& a : s.actions)
      if (!a.code.empty()) redeemable_names_.push_back(strings_.intern(a.code));
  std::sort(redeemable_names_.begin(), redeemable_names_.end());
  allowed_.resize(p_.resources.size());
  for (size_t r = 0; r < p_.resources.size(); ++r)
    for (int k = 0; k < 4; ++k) {
      for (const auto& v : p_.resources[r].restrictions[k]) allowed_[r][k].push_back(strings_.intern(v));
      std::sort(allowed_[r][k].begin(), allowed_[r][k].end());
    }
  // Higher priority first, so a policy such as "same resource type once per day" lets the most
  // important strategy win; equal priorities fall back to the name for determinism.
  std::vector<uint32_t> order(p_.strategies.size());
  for (uint32_t s = 0; s < order.size(); ++s) order[s] = s;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (p_.strategies[a].priority != p_.strategies[b].priority) return p_.strategies[a].priority > p_.strategies[b].priority;
    return p_.strategies[a].name < p_.strategies[b].name;
  });
  strategy_rank_.assign(p_.strategies.size(), 0);
  for (uint32_t i = 0; i < order.size(); ++i) strategy_rank_[order[i]] = i;
  strategies_by_event_.resize(p_.events.size());
  strategy_index_.resize(p_.events.size());
  for (uint32_t s : order) {
    const auto& st = p_.strategies[s];
    if (st.trigger != bytecode::Trigger::OnEvent) continue;
    if (st.index_field < 0) {
      strategies_by_event_[st.event].push_back(s);
      continue;
    }
    auto& by_value = strategy_index_[st.event][st.index_field];
    for (int64_t v : st.index_values) by_value[v].push_back(s);
  }
  bind_quotas(own_quotas_);
  next_schedule_.assign(p_.strategies.size(), INT64_MIN);
  schedule_local_.assign(p_.strategies.size(), 0);
  // Date built-ins read the zone of the strategy a unit belongs to; segments and aggregate
  // filters, shared by every strategy, read the program's.
  unit_zone_.assign(p_.units.size(), &p_.zone);
  for (const auto& s : p_.strategies)
    for (int32_t u : {s.who, s.where, s.trigger_if, s.who_batch})
      if (u >= 0 && size_t(u) < unit_zone_.size()) unit_zone_[u] = &s.zone;
}

Engine::~Engine() = default;

void sort_by_time(std::vector<Event>& events) {
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.time != b.time ? a.time < b.time : a.id < b.id;
  });
}

// Users are found by their interned id (the profile's `user` value needs it anyway): one hash
// lookup per event rather than a second string-keyed map.
Engine::User* Engine::find_user(std::string_view id) const {
  int64_t k = strings_.find(id);
  return k >= 0 && size_t(k) < users_.size() ? users_[k].get() : nullptr;
}

Engine::User& Engine::user(const std::string& id) {
  int64_t k = strings_.intern(id);
  if (size_t(k) >= users_.size()) users_.resize(std::max(size_t(k) + 1, users_.size() * 2));
  if (users_[k]) return *users_[k];
  auto u = std::make_unique<User>(p_);
  u->profile = default_profile_;
  u->present = default_present_;
  if (!u->profile.empty()) u->profile[0] = k;
  if (auto r = restored_.find(id); r != restored_.end()) {
    u->grants = std::move(r->second.grants);
    u->deliveries = std::move(r->second.deliveries);
    u->shadow_grants = std::move(r->second.shadow_grants);
    u->shadow_deliveries = std::move(r->second.shadow_deliveries);
    restored_.erase(r);
  }
  users_[k] = std::move(u);
  user_order_.push_back(id);
  return *users_[k];
}

const std::vector<int64_t>* Engine::profile_of(const std::string& id) const {
  const User* u = find_user(id);
  return u ? &u->profile : nullptr;
}

const std::vector<uint8_t>* Engine::profile_present_of(const std::string& id) const {
  const User* u = find_user(id);
  return u ? &u->present : nullptr;
}

bytecode::AggValue Engine::aggregate_of(const std::string& id, uint32_t g, int64_t now) {
  if (User* u = find_user(id)) return u->aggs.value(p_.aggregates[g], g, now);
  // A user with no history: aggregates of an empty history.
  state::UserAggregates empty(p_);
  return empty.value(p_.aggregates[g], g, now);
}

// ---- data --------------------------------------------------------------------------------------

bool Engine::encode_field(const bytecode::Field& f, const JsonValue& v, int64_t& out, std::string& err, uint8_t* present) {
  using K = JsonValue::Kind;
  if (present) *present = 1;
  if (v.kind == K::Null) {
    if (f.optional) {
      out = 0;
      if (present) *present = 0;
      return true;
    }
    if (f.has_default) { out = f.default_value; return true; }
    err = fmt::format("`{}` is null but not optional", f.name);
    return false;
  }
  auto want = [&](const char* what) {
    err = fmt::format("`{}` must be {}", f.name, what);
    return false;
  };
  Kind kind = f.kind;
  switch (kind) {
    case Kind::Bool:
      if (v.kind != K::Bool) return want("true or false");
      out = v.boolean;
      return true;
    case Kind::Int: {
      if (v.kind != K::Number || v.text.find_first_of(".eE") != std::string::npos) return want("an integer");
      errno = 0;
      char* end = nullptr;
      long long x = std::strtoll(v.text.c_str(), &end, 10);
      if (errno == ERANGE || *end) return want("an integer in range");
      out = x;
      return true;
    }
    case Kind::Decimal:
    case Kind::Money: {
      if (v.kind != K::Number && v.kind != K::String) return want(kind == Kind::Money ? "a money amount" : "a number");
      auto d = support::Decimal::parse(v.text);
      if (!d) return want("a plain decimal number with at most 6 decimal places");
      out = d->units();
      return true;
    }
    case Kind::String:
      if (v.kind != K::String) return want("a string");
      out = strings_.intern(v.text);
      return true;
    case Kind::Time: {
      if (v.kind != K::String) return want("an ISO-8601 time string");
      auto t = support::parse_time(v.text, true);
      if (!t) return want(fmt::format("an ISO-8601 time, not \"{}\"", v.text).c_str());
      out = *t;
      return true;
    }
    case Kind::Date: {
      if (v.kind != K::String) return want("a date string");
      auto d = support::parse_date(v.text);
      if (!d) return want(fmt::format("a date like 2026-11-11, not \"{}\"", v.text).c_str());
      out = *d;
      return true;
    }
    case Kind::Duration: {
      if (v.kind != K::Number) return want("a number of seconds");
      auto d = support::Decimal::parse(v.text);
      if (!d) return want("a number of seconds");
      out = d->units();  // millionths of a second are microseconds
      return true;
    }
    case Kind::Enum: {
      if (v.kind != K::String) return want("a string naming an enum value");
      auto it = std::find(f.enum_values.begin(), f.enum_values.end(), v.text);
      if (it == f.enum_values.end()) {
        std::string list;
        for (auto& e : f.enum_values) list += (list.empty() ? "" : ", ") + e;
        err = fmt::format("`{}` is \"{}\", not one of {}", f.name, v.text, list);
        return false;
      }
      out = it - f.enum_values.begin();
      return true;
    }
    case Kind::Set:
    case Kind::List: {
      if (v.kind != K::Array) return want("an array");
      std::vector<int64_t> items;
      bytecode::Field ef = f;
      ef.kind = f.elem;
      ef.optional = false;
      ef.has_default = false;
      for (const auto& item : v.items) {
        int64_t x;
        if (!encode_field(ef, item, x, err)) return false;
        items.push_back(x);
      }
      out = collections_.add(std::move(items));
      return true;
    }
  }
  return want("a value");
}

bool Engine::parse_event(std::string_view line, Event& ev, std::string& err) {
  std::vector<JsonMember> members;
  if (!parse_json_object(line, members, err)) return false;
  const JsonMember* type = nullptr;
  for (const auto& m : members) if (m.key == "type") type = &m;
  if (!type || type->value.kind != JsonValue::Kind::String) {
    err = "missing `type` (a string naming the event type)";
    return false;
  }
  int t = p_.find_event(type->value.text);
  if (t < 0) {
    err = fmt::format("unknown event type \"{}\"", type->value.text);
    return false;
  }
  const auto& et = p_.events[t];
  ev.type = static_cast<uint32_t>(t);
  ev.fields.assign(et.fields.size(), 0);
  ev.present.assign(et.fields.size(), 0);
  std::vector<uint8_t> given(et.fields.size(), 0);
  for (const auto& m : members) {
    if (m.key == "type") continue;
    size_t i = 0;
    while (i < et.fields.size() && et.fields[i].name != m.key) ++i;
    if (i == et.fields.size()) continue;  // fields the program does not use are ignored
    if (i <= 1 && m.value.kind != JsonValue::Kind::String) {
      err = fmt::format("`{}` must be a string", m.key);
      return false;
    }
    // An empty id would make every such event one unit (the second a "repeat" of the first) and
    // print as a scheduled decision's `"event":null`; an empty user would be everyone's profile-less twin.
    if (i <= 1 && m.value.text.empty()) {
      err = fmt::format("`{}` must not be empty", m.key);
      return false;
    }
    if (i == 0) ev.id = m.value.text;
    if (i == 1) ev.user = m.value.text;
    given[i] = 1;
    if (et.fields[i].kind == Kind::String && m.value.kind == JsonValue::Kind::String && !event_field_read_[t][i]) {
      ev.fields[i] = 0;  // never read by the program: not interned (see event_field_read_)
      ev.present[i] = 1;
      continue;
    }
    if (!encode_field(et.fields[i], m.value, ev.fields[i], err, &ev.present[i])) return false;
  }
  for (size_t i = 0; i < et.fields.size(); ++i) {
    if (given[i]) continue;
    const auto& f = et.fields[i];
    if (i <= 2) {
      err = fmt::format("missing `{}`", f.name);
      return false;
    }
    if (f.has_default) {
      ev.fields[i] = f.default_value;
      ev.present[i] = 1;
    } else if (!f.optional) {
      err = fmt::format("missing `{}` ({} events require it)", f.name, et.name);
      return false;
    }
  }
  ev.time = ev.fields[2];
  return true;
}

bool Engine::load_profile_line(std::string_view line, std::string& err) {
  std::vector<JsonMember> members;
  if (!parse_json_object(line, members, err)) return false;
  const JsonMember* id = nullptr;
  for (const auto& m : members) if (m.key == "user") id = &m;
  if (!id || id->value.kind != JsonValue::Kind::String) {
    err = "missing `user` (a string)";
    return false;
  }
  std::vector<int64_t> row = default_profile_;
  std::vector<uint8_t> present = default_present_;
  row[0] = strings_.intern(id->value.text);
  for (const auto& m : members) {
    int f = p_.find_profile_field(m.key);
    if (f <= 0) continue;
    if (!encode_field(p_.profile[f], m.value, row[f], err, &present[f])) return false;
  }
  for (size_t f = 1; f < row.size(); ++f)
    if (!present[f] && !p_.profile[f].optional) {
      err = fmt::format("missing profile field `{}`", p_.profile[f].name);
      return false;
    }
  User& u = user(id->value.text);
  u.profile = std::move(row);
  u.present = std::move(present);
  return true;
}

bool Engine::load_profile_csv_header(const std::vector<support::CsvField>& header, std::string& err) {
  csv_columns_.clear();
  bool has_user = false;
  std::vector<uint8_t> seen(p_.profile.size(), 0);
  for (const auto& h : header) {
    for (const auto& other : header) {
      if (&other == &h) break;
      if (other.text == h.text) {
        err = fmt::format("column `{}` appears twice in the header", h.text);
        return false;
      }
    }
    int f = p_.find_profile_field(h.text);
    if (h.text == "user") {
      has_user = true;
      csv_columns_.push_back(kCsvUser);
    } else if (f > 0) {
      seen[f] = 1;
      csv_columns_.push_back(f);
    } else {
      csv_columns_.push_back(kCsvIgnored);  // columns the program does not declare are ignored
    }
  }
  if (!has_user) {
    err = "the header has no `user` column";
    return false;
  }
  for (size_t f = 1; f < p_.profile.size(); ++f)
    if (!seen[f] && !p_.profile[f].optional && !p_.profile[f].has_default) {
      err = fmt::format("the header has no column for the required profile field `{}`", p_.profile[f].name);
      return false;
    }
  return true;
}

namespace {

// ASCII case-insensitive equality, for the Bool spellings of spreadsheet exports (TRUE, False).
bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  return true;
}

// A CSV cell as the JSON value the same field would have in JSON Lines, so both formats share
// encode_field's typing. Strict: a cell that is not exactly one spelling of its type is an error.
bool csv_cell_value(const bytecode::Field& f, const support::CsvField& cell, JsonValue& v, std::string& err) {
  using K = JsonValue::Kind;
  const std::string& t = cell.text;
  auto bad = [&](const char* what) {
    err = fmt::format("`{}` must be {}, not \"{}\"", f.name, what, t);
    return false;
  };
  if (t.empty() && !cell.quoted) {  // an empty cell: the field is missing
    if (!f.optional && !f.has_default) {
      err = fmt::format("`{}` is empty, but the field is required", f.name);
      return false;
    }
    v.kind = K::Null;
    return true;
  }
  switch (f.kind) {
    case Kind::Bool:
      v.kind = K::Bool;
      if (equals_ignoring_case(t, "true") || t == "1") v.boolean = true;
      else if (equals_ignoring_case(t, "false") || t == "0") v.boolean = false;
      else return bad("true, false, 1 or 0");
      return true;
    case Kind::Int:
    case Kind::Decimal:
    case Kind::Money:
    case Kind::Duration:
      if (!is_json_number(t))
        return bad(f.kind == Kind::Int ? "an integer" : f.kind == Kind::Duration ? "a number of seconds" : "a number");
      v.kind = K::Number;
      v.text = t;
      return true;
    case Kind::Set:
    case Kind::List: {
      std::string e;
      if (!parse_json_value(t, v, e) || v.kind != K::Array) return bad("a JSON array such as [\"a\", \"b\"]");
      return true;
    }
    default:  // String, Time, Date, enum: the text itself
      v.kind = K::String;
      v.text = t;
      return true;
  }
}

}  // namespace

bool Engine::load_profile_csv_row(const std::vector<support::CsvField>& cells, std::string& err) {
  if (cells.size() != csv_columns_.size()) {
    err = fmt::format("{} columns, but the header has {}", cells.size(), csv_columns_.size());
    return false;
  }
  std::string_view id;
  std::vector<int64_t> row = default_profile_;
  std::vector<uint8_t> present = default_present_;
  for (size_t i = 0; i < cells.size(); ++i) {
    int f = csv_columns_[i];
    if (f == kCsvUser) { id = cells[i].text; continue; }
    if (f == kCsvIgnored) continue;
    const auto& field = p_.profile[f];
    JsonValue v;
    if (!csv_cell_value(field, cells[i], v, err)) return false;
    if (!encode_field(field, v, row[f], err, &present[f])) {
      std::string shown = fmt::format("\"{}\"", cells[i].text);
      if (err.find(shown) == std::string::npos) err += ", not " + shown;
      return false;
    }
  }
  if (id.empty()) {
    err = "empty `user`";
    return false;
  }
  std::string user_id(id);
  row[0] = strings_.intern(user_id);
  User& u = user(user_id);
  u.profile = std::move(row);
  u.present = std::move(present);
  return true;
}

bool Engine::load_profiles(std::istream& in, bool csv, const RecordErrorFn& on_error) {
  std::string err;
  if (csv) {
    support::CsvReader reader(in);
    std::vector<support::CsvField> cells;
    bool header = true;
    while (true) {
      bool ok = reader.next(cells);
      if (!ok && reader.error().empty()) break;  // the end
      if (!ok) {
        err = reader.error();
      } else if (header) {
        if (load_profile_csv_header(cells, err)) { header = false; continue; }
      } else if (load_profile_csv_row(cells, err)) {
        continue;
      }
      // Without a header no row can be read: that error always stops.
      if (!on_error(reader.line(), err) || header) return false;
    }
    if (header) {
      on_error(1, "empty file: expected a header row naming the columns (one of them `user`)");
      return false;
    }
    return true;
  }
  support::LineReader reader(in);
  std::string line;
  while (reader.next(line)) {
    if (line.empty()) continue;
    if (!load_profile_line(line, err) && !on_error(reader.line(), err)) return false;
  }
  return true;
}

// ---- streaming ---------------------------------------------------------------------------------

// What one VM run reads: the user's profile and history, the event (if any), the instant and
// the zone its date built-ins use.
void Engine::bind_context(User& u, const Event* ev, int64_t now, const support::ZoneRules* zone) {
  ctx_.event = ev ? ev->fields.data() : nullptr;
  ctx_.event_present = ev ? ev->present.data() : nullptr;
  ctx_.event_size = ev ? ev->fields.size() : 0;
  ctx_.profile = u.profile.data();
  ctx_.profile_present = u.present.data();
  ctx_.profile_size = u.profile.size();
  ctx_.now = now;
  ctx_.zone = zone;
  agg_source_->user = &u;
}

void Engine::apply(User& u, const Event& ev) {
  bind_context(u, &ev, ev.time, ctx_.zone);
  for (uint32_t g : aggs_by_event_[ev.type]) {
    const auto& spec = p_.aggregates[g];
    if (spec.filter_unit >= 0) {
      ctx_.zone = unit_zone_[spec.filter_unit];
      vm::Result r = executor_->run(static_cast<uint32_t>(spec.filter_unit), ctx_);
      if (r.status != vm::Status::Ok) { count_error(r.error); continue; }
      if (!r.value) continue;
    }
    bool has = spec.field >= 0 && ev.present[spec.field];
    int64_t v = has ? ev.fields[spec.field] : 0;
    u.aggs.add(spec, g, ev.time, v, spec.field < 0 || has);
  }
}

// Sliding windows forget a user's events as that user's time advances, so each user's events
// must come in time order; different users' events may interleave (several feeders).
bool Engine::observe_event(User& u, const Event& ev, std::string& err) {
  if (ev.time < u.last_time) {
    err = fmt::format("out of order: {} is before user `{}`'s previous event at {}", support::format_time(ev.time), ev.user,
                      support::format_time(u.last_time));
    return false;
  }
  u.last_time = ev.time;
  last_time_ = std::max(last_time_, ev.time);
  apply(u, ev);
  ++stats_.events;
  return true;
}

bool Engine::observe(const Event& ev, std::string& err) {
  User& u = user(ev.user);
  if (!observe_event(u, ev, err)) return false;
  // History only: a redemption marks the grant used (no decisions are reported here).
  std::vector<Decision> ignored;
  redeem(u, ev.user, ev, ignored);
  return true;
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::Granted: return "granted";
    case Outcome::Rejected: return "rejected";
    case Outcome::Control: return "control";
    case Outcome::Redeemed: return "redeemed";
    case Outcome::RedeemRejected: return "redeem_rejected";
    case Outcome::Expired: return "expired";
    case Outcome::Held: return "held";
  }
  return "?";
}

namespace {

// Calendar periods follow the strategy's zone: with +08:00 (or Asia/Shanghai), a day runs from
// 00:00 to 24:00 Beijing time, a week from Monday 00:00 and a month from the 1st at 00:00; with a
// zone that has daylight saving, a day may last 23 or 25 hours.
bool in_period(const bytecode::Period& p, int64_t then, int64_t now, const bytecode::Strategy& s) {
  switch (p.kind) {
    case bytecode::PeriodKind::Campaign: return true;
    case bytecode::PeriodKind::Calendar: return bytecode::same_calendar_period(p.unit, then, now, s.zone);
    case bytecode::PeriodKind::Sliding: return then > now - p.micros;
  }
  return true;
}

// `every N days` (or weeks): runs keep to the local wall clock rather than to elapsed time.
bool daily_schedule(const bytecode::Strategy& s) {
  return s.trigger == bytecode::Trigger::Every && bytecode::schedule_keeps_local_clock(s.every);
}

bool is_coupon(bytecode::ResourceKind k) {
  return k == bytecode::ResourceKind::Coupon || k == bytecode::ResourceKind::RedEnvelope;
}

}  // namespace

void Engine::bind_quotas(state::Quotas& q) {
  quotas_ = &q;
  quota_.resize(p_.strategies.size());
  for (uint32_t i = 0; i < p_.strategies.size(); ++i) quota_[i] = q.handle(p_.strategies[i].name);
}

bool Engine::attach(state::StateStore* store, std::string& err) {
  if (store_ || decided_units_ > 0) {
    // Counters and grants of this engine would not be in the store's ledger.
    err = fmt::format("cannot attach state {}: attach state before processing any event", store->describe());
    return false;
  }
  std::vector<state::LedgerEntry> entries;
  std::vector<state::Unit> units;
  if (!store->load(entries, units, err) || !check_program(*store, units.size(), err)) return false;
  store_ = store;
  bind_quotas(store->quotas());
  std::unordered_map<std::string, uint32_t> strategy_of, resource_of;
  for (uint32_t i = 0; i < p_.strategies.size(); ++i) strategy_of.emplace(p_.strategies[i].name, i);
  for (uint32_t i = 0; i < p_.resources.size(); ++i) resource_of.emplace(p_.resources[i].name, i);
  // Completed units first (those with no decisions too), then their recorded decisions.
  event_units_.reserve(units.size() * 2);
  for (const auto& u : units) units_of(u.kind).emplace(u.id, UnitRecord{0, 0, true, false});
  auto name = [](const state::LedgerEntry& e) {
    return fmt::format("{}{}", e.kind == state::UnitKind::Schedule ? "scheduled run " : "event ", support::json_quote(e.unit));
  };
  std::map<std::tuple<std::string, uint32_t, int32_t, int64_t>, int64_t> held;  // held messages not yet released
  for (const auto& e : entries) {
    auto& map = units_of(e.kind);
    auto it = map.find(e.unit);
    if (it == map.end()) {
      err = fmt::format("ledger of {} records a decision (row {}) for {} that was never completed", store->describe(), e.seq,
                        name(e));
      return false;
    }
    // A unit's decisions are consecutive rows: a restart repeats them as a range of rows, so
    // rows of another unit inside the range would be reported under this unit's id.
    UnitRecord& rec = it->second;
    if (rec.count && e.seq != rec.first + int64_t(rec.count)) {
      err = fmt::format("ledger of {} is corrupt: the decisions of {} are not consecutive (rows {} and {})", store->describe(),
                        name(e), rec.first + int64_t(rec.count) - 1, e.seq);
      return false;
    }
    if (rec.count++ == 0) rec.first = e.seq;
    // Rebuild what a grant stands for. Entries of strategies or resources the program no longer
    // has (an older program version) are kept in the ledger but count for nothing here.
    // A held message waits for its release unless the ledger already has it (granted or
    // rejected, naming the time it was held); its delivery counted when it was held.
    if (e.outcome == "held" || ((e.outcome == "granted" || e.outcome == "rejected") && e.granted_at != 0)) {
      auto s = strategy_of.find(e.strategy);
      auto r = resource_of.find(e.resource);
      if (s != strategy_of.end() && r != resource_of.end()) {
        int32_t ai = action_of(s->second, r->second, e.channel, e.code);
        auto key = std::make_tuple(e.user, s->second, ai, e.outcome == "held" ? e.at : e.granted_at);
        if (e.outcome == "held") {
          held[key] = e.at;
          auto& ds = restored_[e.user].deliveries;
          if (ds.empty() || ds.back() != std::make_pair(s->second, e.at)) ds.emplace_back(s->second, e.at);
          continue;
        }
        held.erase(key);
      }
    }
    // Control rows without a reason are what a control user would have received: shadow grants.
    bool shadow = e.outcome == "control" && e.reason.empty();
    if (e.outcome != "granted" && e.outcome != "redeemed" && e.outcome != "expired" && !shadow) continue;
    auto s = strategy_of.find(e.strategy);
    auto r = resource_of.find(e.resource);
    if (s == strategy_of.end() || r == resource_of.end()) continue;
    restore(e, s->second, r->second);
  }
  for (const auto& [key, at] : held) {
    const auto& [user, si, ai, held_at] = key;
    if (int64_t due = quiet_hold(p_.strategies[si], held_at)) releases_.push(Release{due, user, si, ai, held_at});
  }
  // Grants still open wait for their expiry.
  for (const auto& [user, r] : restored_)
    for (size_t i = 0; i < r.grants.size(); ++i)
      if (r.grants[i].state == GrantState::Open && r.grants[i].expires != INT64_MAX)
        expiries_.push({r.grants[i].expires, user, i});
  return true;
}

// The user's grants wait in restored_ until the replay meets the user, so users are still
// created in stream order (scheduled deliveries iterate users in that order).
void Engine::restore(const state::LedgerEntry& e, uint32_t si, uint32_t ri) {
  Restored& u = restored_[e.user];
  const bool shadow = e.outcome == "control";
  if (e.outcome != "granted" && !shadow) {
    // A redemption or expiry closes the grant it names.
    for (auto& g : u.grants)
      if (g.strategy == si && g.resource == ri && g.time == e.granted_at && g.state == GrantState::Open) {
        g.state = e.outcome == "redeemed" ? GrantState::Redeemed : GrantState::Expired;
        break;
      }
    return;
  }
  int32_t ai = action_of(si, ri, e.channel, e.code);
  int32_t ch = p_.strategies[si].actions.empty() ? -1 : p_.strategies[si].actions[ai].channel;
  auto& grants = shadow ? u.shadow_grants : u.grants;
  auto& deliveries = shadow ? u.shadow_deliveries : u.deliveries;
  grants.push_back({si, ri, ai, ch, e.at, e.amount, expiry_of(ri, e.at)});
  // Stock and budget were recounted by the store (state::Quotas), from the same rows. A released
  // message (granted_at: when it was held) belongs to the delivery counted when it was held.
  if (!shadow && e.granted_at != 0) return;
  if (deliveries.empty() || deliveries.back() != std::make_pair(si, e.at)) deliveries.emplace_back(si, e.at);
}

int32_t Engine::action_of(uint32_t si, uint32_t ri, const std::string& channel, const std::string& code) const {
  int32_t ch = -1;
  for (size_t c = 0; c < p_.channels.size(); ++c) if (p_.channels[c] == channel) ch = static_cast<int32_t>(c);
  const auto& st = p_.strategies[si];
  int32_t ai = 0;
  for (size_t a = 0; a < st.actions.size(); ++a)
    if (st.actions[a].resource == ri && st.actions[a].code == code && st.actions[a].channel == ch) ai = static_cast<int32_t>(a);
  return ai;
}

bool Engine::commit(std::string& err) {
  if (!store_error_.empty()) {
    err = store_error_;
    return false;
  }
  pending_units_ = 0;
  if (!store_ || store_->commit(err)) return true;
  store_error_ = err;
  return false;
}

bool Engine::check_program(state::StateStore& store, size_t recorded_units, std::string& err) {
  state::ProgramIdentity recorded, current = program_identity(p_);
  if (!store.last_program(recorded, err)) return false;
  if (recorded.hash.empty()) {
    if (recorded_units)
      notices_.push_back(fmt::format("state {} was recorded before ledgers kept the identity of their program: its {} units "
                                     "are taken as decided by this program (hash {})",
                                     store.describe(), recorded_units, current.hash));
    return store.begin_program(current, err);
  }
  ProgramChange ch = compare_programs(recorded, current, p_);
  if (ch.same) return store.begin_program(current, err);
  std::string what;
  for (const auto& c : ch.changes) what += (what.empty() ? "" : "; ") + c;
  if (!ch.refusals.empty()) {
    std::string why;
    for (const auto& r : ch.refusals) why += "\n  " + r;
    err = fmt::format("state {} was recorded by another program (hash {}, this one {}) and cannot be continued by it:{}\n"
                      "use a new state for this program",
                      store.describe(), recorded.hash, current.hash, why);
    return false;
  }
  if (ch.changes.empty()) {
    notices_.push_back(fmt::format("state {} was recorded by another program (hash {}, this one {}) whose strategies are all "
                                   "the same as this one's: continuing it",
                                   store.describe(), recorded.hash, current.hash));
    return store.begin_program(current, err);
  }
  if (!allow_program_change_) {
    err = fmt::format("state {} was recorded by another program (hash {}, this one {}): {}. Events already in it keep the "
                      "decisions recorded for them. To continue it with this program (changed strategies keep their "
                      "counters), allow the change (`crm run --allow-program-change`); or use a new state",
                      store.describe(), recorded.hash, current.hash, what);
    return false;
  }
  notices_.push_back(fmt::format("state {} continues with a changed program (hash {}, was {}): {}; events already in it keep "
                                 "the decisions recorded for them",
                                 store.describe(), current.hash, recorded.hash, what));
  return store.begin_program(current, err);
}

bool Engine::replay_schedule(const std::string& unit, std::vector<Decision>& out) {
  auto it = schedule_units_.find(unit);
  if (it == schedule_units_.end() || !it->second.decided) return false;
  std::string err;
  report(it->second, out, err);  // a failed read is store_error_, which stops the run
  return true;
}

// The decisions are read back from the store rather than kept in memory: the engine remembers
// only where each unit's decisions are, so its memory does not grow with every decision.
bool Engine::report(const UnitRecord& r, std::vector<Decision>& out, std::string& err) {
  if (r.count == 0) return true;
  if (!store_error_.empty()) {
    err = store_error_;
    return false;
  }
  replay_.clear();
  if (!store_->read(r.first, r.count, replay_, err)) {
    store_error_ = err;
    return false;
  }
  for (auto& e : replay_) {
    Decision d;
    d.json = std::move(e.json);
    d.user = std::move(e.user);
    d.at = e.at;
    d.outcome = Outcome::Rejected;
    for (Outcome o : {Outcome::Granted, Outcome::Control, Outcome::Redeemed, Outcome::RedeemRejected, Outcome::Expired,
                      Outcome::Held})
      if (e.outcome == outcome_name(o)) d.outcome = o;
    out.push_back(std::move(d));
  }
  return true;
}

bool Engine::record_decided(const state::Unit& unit, std::vector<Decision>& decisions, std::string& err) {
  if (!store_) {
    err = "no state is attached to record the decisions in";
    return false;
  }
  auto it = units_of(unit.kind).find(unit.id);
  if (it != units_of(unit.kind).end() && it->second.decided) {
    err = fmt::format("state {} already holds {} {}", store_->describe(),
                      unit.kind == state::UnitKind::Schedule ? "the scheduled run" : "the event", support::json_quote(unit.id));
    return false;
  }
  for (const auto& d : decisions) {
    if (d.strategy >= p_.strategies.size() || (!p_.strategies[d.strategy].actions.empty() &&
                                                (d.action < 0 || size_t(d.action) >= p_.strategies[d.strategy].actions.size()))) {
      err = "a decision names a strategy or action the program does not have";
      return false;
    }
  }
  return record_unit(unit, nullptr, decisions, 0, err);
}

bool Engine::record_unit(const state::Unit& unit, UnitRecord* slot, std::vector<Decision>& out, size_t first,
                         std::string& err) {
  ++decided_units_;
  if (!store_) return true;  // nothing to remember without a store (see process())
  std::vector<state::LedgerEntry> entries;
  entries.reserve(out.size() - first);
  for (size_t i = first; i < out.size(); ++i) {
    // The ledger keeps the text as reported; the caller reports the same text (no second render).
    out[i].json = decision_json(out[i]);
    const Decision& d = out[i];
    state::LedgerEntry e;
    e.kind = unit.kind;
    e.unit = unit.id;
    e.user = d.user;
    e.outcome = outcome_name(d.outcome);
    e.reason = d.reason;
    if (d.strategy != kNoStrategy) {
      const auto& s = p_.strategies[d.strategy];
      e.strategy = s.name;
      if (!s.actions.empty()) {
        const auto& a = s.actions[d.action];
        e.resource = p_.resources[a.resource].name;
        e.channel = a.channel >= 0 ? p_.channels[a.channel] : "";
        e.code = a.code;
      }
    }
    e.amount = d.amount;
    e.sales = d.sales;
    e.at = d.at;
    e.granted_at = d.granted_at;
    e.json = d.json;
    entries.push_back(std::move(e));
  }
  ++pending_units_;
  if (!store_error_.empty()) {
    err = store_error_;
    return false;
  }
  int64_t first_seq = 0;
  if (store_->append(unit, entries, first_seq, err)) {
    UnitRecord r{first_seq, static_cast<uint32_t>(entries.size()), true, true};
    if (slot) *slot = r;
    else units_of(unit.kind).insert_or_assign(unit.id, r);
    return true;
  }
  store_error_ = err;
  return false;
}

bool Engine::process(const Event& ev, std::vector<Decision>& out, std::string& err) {
  // With a state store attached, event ids are idempotent: the same id again (a retried
  // delivery) gets the same decisions and changes nothing. Without one, no id is remembered.
  // One lookup finds a recorded unit or makes the slot this one will be recorded in.
  UnitRecord* slot = nullptr;
  bool recorded = false;
  if (store_) {
    slot = &event_units_.try_emplace(ev.id, UnitRecord{0, 0, false, false}).first->second;
    recorded = slot->decided;
    if (recorded && slot->applied) return report(*slot, out, err);
  }
  User& u = user(ev.user);
  if (!observe_event(u, ev, err)) {
    if (slot && !recorded) event_units_.erase(ev.id);
    return false;
  }
  if (recorded) {
    // Decided before a restart: report the record. Its grants, redemptions and expiries were
    // restored from the ledger, so only the history aggregates are rebuilt here.
    slot->applied = true;
    return report(*slot, out, err);
  }
  size_t first = out.size();
  expire(ev.time, out);
  release(ev.time, out);
  redeem(u, ev.user, ev, out);
  // Candidates: the unindexed strategies plus those indexed under this event's field values;
  // everything else cannot match, so per-event cost follows the candidates, not the catalogue.
  candidates_ = strategies_by_event_[ev.type];
  for (const auto& [field, by_value] : strategy_index_[ev.type]) {
    auto it = by_value.find(ev.fields[field]);
    if (it != by_value.end()) candidates_.insert(candidates_.end(), it->second.begin(), it->second.end());
  }
  std::sort(candidates_.begin(), candidates_.end(), [&](uint32_t a, uint32_t b) { return strategy_rank_[a] < strategy_rank_[b]; });
  candidates_.erase(std::unique(candidates_.begin(), candidates_.end()), candidates_.end());
  for (uint32_t s : candidates_) decide(u, ev.user, &ev, ev.time, s, out);
  return record_unit({state::UnitKind::Event, ev.id}, slot, out, first, err);
}

void Engine::expire(int64_t now, std::vector<Decision>& out) {
  while (!expiries_.empty() && expiries_.top().at <= now) {
    Expiry x = expiries_.top();
    expiries_.pop();
    Grant* g = nullptr;
    if (User* u = find_user(x.user)) g = &u->grants[x.grant];
    else if (auto r = restored_.find(x.user); r != restored_.end()) g = &r->second.grants[x.grant];
    if (!g || g->state != GrantState::Open) continue;  // redeemed in the meantime
    g->state = GrantState::Expired;
    Decision d;
    d.user = x.user;
    d.strategy = g->strategy;
    d.action = g->action;
    d.outcome = Outcome::Expired;
    d.at = x.at;
    d.granted_at = g->time;
    d.amount = g->amount;
    ++stats_.expired;
    out.push_back(std::move(d));
  }
}

// A redemption names a grant by the resource's name or the granting action's channel code. The
// user's oldest open grant of it is checked against the use window, then the resource's usage
// restrictions (threshold on the order `amount`, category, item, store, city).
void Engine::redeem(User& u, const std::string& user_id, const Event& ev, std::vector<Decision>& out) {
  const RedeemFields& rf = redeem_fields_[ev.type];
  if (!rf.any()) return;
  int32_t ref = -1;
  bool by_code = false;
  for (int32_t f : {rf.coupon, rf.code, rf.resource})
    if (f >= 0 && ev.present[f]) {
      ref = f;
      by_code = f != rf.resource;
      break;
    }
  if (ref < 0) return;  // an order without a coupon
  if (!std::binary_search(redeemable_names_.begin(), redeemable_names_.end(), ev.fields[ref])) return;
  std::string_view name = strings_.text(ev.fields[ref]);
  auto names = [&](const Grant& g) {
    if (p_.resources[g.resource].name == name) return true;
    return by_code && p_.strategies[g.strategy].actions[g.action].code == name;
  };
  Decision d;
  d.event = ev.id;
  d.user = user_id;
  d.at = ev.time;
  d.outcome = Outcome::RedeemRejected;
  d.strategy = kNoStrategy;
  d.sales = rf.amount >= 0 && ev.present[rf.amount] ? ev.fields[rf.amount] : 0;
  Grant* chosen = nullptr;
  std::string why = "no_grant";
  for (auto& g : u.grants) {
    if (g.time > ev.time || !names(g)) continue;
    const auto& res = p_.resources[g.resource];
    std::string w;
    if (g.state == GrantState::Redeemed) w = "already_redeemed";
    else if (g.state == GrantState::Expired || ev.time >= g.expires) w = "expired";
    else if (res.has_use_window && ev.time < res.use_from) w = "not_yet_valid";
    if (w.empty()) {
      chosen = &g;
      break;
    }
    // Report the most useful reason: an expired grant says more than an old redeemed one.
    if (why == "no_grant" || w != "already_redeemed") {
      why = w;
      d.strategy = g.strategy;
      d.action = g.action;
      d.granted_at = g.time;
    }
  }
  if (chosen) {
    const auto& res = p_.resources[chosen->resource];
    d.strategy = chosen->strategy;
    d.action = chosen->action;
    d.granted_at = chosen->time;
    why.clear();
    if (res.threshold > 0 && (rf.amount < 0 || !ev.present[rf.amount] || ev.fields[rf.amount] < res.threshold))
      why = "below_threshold";
    for (int k = 0; k < 4 && why.empty(); ++k) {
      const auto& allowed = allowed_[chosen->resource][k];
      if (allowed.empty()) continue;
      int32_t f = rf.restricted[k];
      bool ok = false;
      if (f >= 0 && ev.present[f]) {
        const auto& fd = p_.events[ev.type].fields[f];
        auto in = [&](int64_t v) { return std::binary_search(allowed.begin(), allowed.end(), v); };
        if (fd.kind == Kind::String) ok = in(ev.fields[f]);
        else
          for (int64_t v : collections_.items(ev.fields[f])) ok |= in(v);
      }
      if (!ok) why = std::string("wrong_") + bytecode::kRestrictionNames[k];
    }
    if (why.empty()) {
      chosen->state = GrantState::Redeemed;
      d.outcome = Outcome::Redeemed;
      d.amount = chosen->amount;
      ++stats_.redeemed;
      out.push_back(std::move(d));
      return;
    }
  }
  d.reason = why;
  d.sales = 0;
  ++stats_.redeem_rejected;
  out.push_back(std::move(d));
}

void Engine::count_error(const char* kind) {
  ++stats_.eval_errors;
  ++stats_.eval_errors_by_kind[kind ? kind : "evaluation error"];
}

bool Engine::run_unit(int32_t unit, User& u, const Event* ev, int64_t now, bool& result) {
  if (unit < 0) { result = true; return true; }
  bind_context(u, ev, now, unit_zone_[unit]);
  vm::Result r = executor_->run(static_cast<uint32_t>(unit), ctx_);
  if (r.status != vm::Status::Ok) {
    count_error(r.error);
    if (trace_) trace_error_ = r.error ? r.error : "evaluation failed";
    return false;
  }
  result = r.value != 0;
  return true;
}

StrategyTrace Engine::explain(const std::string& id, uint32_t si, const Event* ev, int64_t now,
                              const std::function<void(Check&, const UnitProbe&)>& probe) {
  const auto& s = p_.strategies[si];
  StrategyTrace t;
  t.strategy = si;
  t.event = ev ? ev->id : "";
  t.at = ev ? ev->time : now;
  bool on_event = s.trigger == bytecode::Trigger::OnEvent;
  if (ev && (!on_event || ev->type != s.event)) {
    t.verdict = "not_triggered";
    return t;
  }
  // An event strategy with no trigger event decides nothing; its `who` is still shown at
  // `now` when it does not read the event.
  bool who_only = on_event && !ev;
  if (who_only) {
    bool reads_event = s.who < 0;
    if (s.who >= 0)
      for (const auto& in : p_.units[s.who].code) reads_event |= in.op == bytecode::Op::LOAD_EVENT;
    t.verdict = "not_triggered";
    if (reads_event) return t;
  }
  // Deciding changes the user's state; explaining works on a copy of it and restores the
  // counters, so nothing of the engine changes (stock and budget are only read: see decide).
  User copy(p_);
  if (const User* u = find_user(id)) {
    copy = *u;
  } else {
    copy.profile = default_profile_;
    copy.present = default_present_;
    if (!copy.profile.empty()) copy.profile[0] = strings_.intern(id);
    if (auto r = restored_.find(id); r != restored_.end()) {
      copy.grants = r->second.grants;
      copy.deliveries = r->second.deliveries;
    }
  }
  Stats saved = stats_;
  std::vector<Decision> ignored;
  if (ev) {
    // What process() does before deciding: the event joins the history, then its redemption.
    apply(copy, *ev);
    redeem(copy, id, *ev, ignored);
  }
  trace_ = &t;
  trace_error_.clear();
  if (who_only) {
    bool ok = false;
    Check c{"who", run_unit(s.who, copy, nullptr, now, ok) && ok, ""};
    c.unit = s.who;
    if (!trace_error_.empty()) c.detail = "evaluation failed";
    note(std::move(c));
  } else {
    decide(copy, id, ev, t.at, si, t.decisions);
  }
  trace_ = nullptr;
  for (auto& c : t.checks)
    if (c.unit >= 0 && !c.passed && c.detail == "evaluation failed" && !trace_error_.empty()) c.detail = trace_error_;
  if (t.verdict.empty()) {
    t.verdict = "rejected";
    for (const auto& d : t.decisions) {
      if (d.outcome == Outcome::Control) t.verdict = "control";
      if (d.outcome == Outcome::Held && t.verdict != "granted") t.verdict = "held";
      if (d.outcome == Outcome::Granted) t.verdict = "granted";
    }
  }
  if (probe) {
    UnitProbe run = [&](uint32_t unit, int64_t& value, bool& present, std::string& error) {
      // The context run_unit() gives the strategy's clauses, so parts evaluate as they did.
      bind_context(copy, ev, t.at, &s.zone);
      vm::Result r = executor_->run(unit, ctx_);
      if (r.status != vm::Status::Ok) {
        error = r.error ? r.error : "evaluation failed";
        return false;
      }
      value = r.value;
      present = r.present;
      return true;
    };
    for (auto& c : t.checks)
      if (c.unit >= 0 && !c.passed) probe(c, run);
  }
  stats_ = saved;
  return t;
}

// What one more grant of a resource is worth to this user. A shared red envelope with `decay`
// pays less on repeated claims (000 section 4): the full discount first, then discount x
// (1 - decay) rounded to a hundredth, then `fixed_from_third` for every later claim.
int64_t Engine::face_value(const User& u, uint32_t ri) const {
  const auto& r = p_.resources[ri];
  if (!is_coupon(r.kind)) return 0;
  if (r.decay <= 0) return r.discount;
  int64_t earlier = 0;
  for (const auto& g : u.grants) earlier += g.resource == ri;
  if (earlier == 0) return r.discount;
  if (earlier >= 2) return r.fixed_from_third;
  constexpr int64_t kCent = support::Decimal::kScale / 100;
  __int128 v = static_cast<__int128>(r.discount) * (support::Decimal::kScale - r.decay) / support::Decimal::kScale;
  return static_cast<int64_t>((v + kCent / 2) / kCent * kCent);
}

Engine::Grant Engine::make_grant(const User& u, uint32_t si, int32_t ai, int64_t now) const {
  const auto& a = p_.strategies[si].actions[ai];
  return {si, a.resource, ai, a.channel, now, face_value(u, a.resource), expiry_of(a.resource, now)};
}

// The end of a grant's use window: N days after the claim, or the fixed window's end.
int64_t Engine::expiry_of(uint32_t ri, int64_t claimed) const {
  const auto& res = p_.resources[ri];
  if (res.use_after_claim > 0) return claimed + res.use_after_claim;
  if (res.has_use_window) return res.use_to;
  return INT64_MAX;
}

namespace {

// For explanations: an instant in the strategy's zone, e.g. `2026-02-04 10:02 +08:00`.
std::string local_time(const bytecode::Strategy& s, int64_t t) {
  int64_t off = s.offset_at(t);
  std::string text = support::format_time(t + off);  // 2026-02-04T10:02:00Z
  text = text.substr(0, 10) + " " + text.substr(11, 5);
  int64_t m = (off < 0 ? -off : off) / support::kMicrosPerMinute;
  return fmt::format("{} {}{:02}:{:02}", text, off < 0 ? '-' : '+', m / 60, m % 60);
}

std::string period_text(const bytecode::Period& p) {
  switch (p.kind) {
    case bytecode::PeriodKind::Campaign: return "campaign";
    case bytecode::PeriodKind::Calendar:
      return bytecode::calendar_unit_name(p.unit);
    case bytecode::PeriodKind::Sliding: return support::format_duration(p.micros);
  }
  return "?";
}

// `1 already granted today at 10:02 +08:00`: what a cap counted, for explanations.
std::string counted(int64_t n, const char* what, const bytecode::Period& p, int64_t last, const bytecode::Strategy& s) {
  std::string scope = p.kind == bytecode::PeriodKind::Campaign   ? "in the campaign"
                      : p.kind == bytecode::PeriodKind::Sliding ? "in the last " + period_text(p)
                                                                : "this " + period_text(p);
  if (p.kind == bytecode::PeriodKind::Calendar && p.unit == bytecode::CalendarUnit::Day) scope = "today";
  std::string text = fmt::format("{} already {} {}", n, what, scope);
  if (n > 0) text += " (latest at " + local_time(s, last) + ")";
  return text;
}

std::string quota_text(const char* what, int64_t used, int64_t limit, bool money, const std::string& currency) {
  auto v = [&](int64_t x) { return money ? support::Decimal::from_units(x).to_string() + " " + currency : std::to_string(x); };
  return fmt::format("{} {}: {} used", what, v(limit), v(used));
}

}  // namespace

std::string Engine::strategy_limit(User& u, const bytecode::Strategy& s, uint32_t si, int64_t now, bool with_quotas) {
  for (const auto& cap : s.per_user) {
    int64_t n = 0, last = 0;
    for (const auto& [strategy, time] : u.deliveries)
      if (strategy == si && in_period(cap.period, time, now, s)) ++n, last = time;
    bool refused = n >= cap.count;
    if (trace_)
      note({"per_user", !refused,
            fmt::format("per user {} per {}: {}", cap.count, period_text(cap.period), counted(n, "granted", cap.period, last, s))});
    if (refused) return "per_user_limit";
  }
  if (!s.exclusive_group.empty())
    for (const auto& [strategy, time] : u.deliveries)
      if (strategy != si && p_.strategies[strategy].exclusive_group == s.exclusive_group) {
        if (trace_)
          note({"exclusive", false,
              fmt::format("exclusive group \"{}\": strategy `{}` delivered at {}", s.exclusive_group, p_.strategies[strategy].name,
                          local_time(s, time))});
        return "exclusive_group";
      }
  if (!with_quotas) return "";
  // An early look at the campaign-wide counters, at the cost of every action, so a spent stock
  // or budget is the reason reported (rather than a policy's). It decides nothing: reserve()
  // does, atomically, once the actions that pass are known.
  int64_t cost = 0;
  for (const auto& a : s.actions) cost += face_value(u, a.resource);
  state::Quota used = quotas_->used(quota_[si]);
  state::QuotaLimits limits = quota_limits(s, now, cost);
  state::QuotaCheck c = state::check_quota(used, cost, limits);
  if (trace_) {
    using QC = state::QuotaCheck;
    if (limits.stock >= 0) note({"stock", c != QC::Stock, quota_text("stock", used.deliveries, limits.stock, false, "")});
    if (limits.budget >= 0)
      note({"budget", c != QC::Budget && c != QC::Stock,
            quota_text("budget", used.reserved, limits.budget, true, s.budget_currency) +
                fmt::format(", this delivery costs {}", support::Decimal::from_units(cost).to_string())});
    if (limits.paced_stock >= 0 || limits.paced_budget >= 0)
      note({"pacing", c != QC::Pacing,
            limits.paced_stock >= 0 ? fmt::format("pacing even: {} deliveries released by now, {} used", limits.paced_stock, used.deliveries)
                                    : fmt::format("pacing even: {} {} released by now, {} used",
                                                  support::Decimal::from_units(limits.paced_budget).to_string(), s.budget_currency,
                                                  support::Decimal::from_units(used.reserved).to_string())});
  }
  return state::quota_reason(c);
}

// Even pacing: by instant t, at most the share (t - from) / (to - from) of the stock or budget
// is used, plus one delivery so the window's first moments can deliver at all. Unused share
// carries over.
state::QuotaLimits Engine::quota_limits(const bytecode::Strategy& s, int64_t now, int64_t cost) const {
  state::QuotaLimits l;
  l.stock = s.stock >= 0 ? s.stock : -1;
  l.budget = s.has_budget ? s.budget : -1;
  if (s.paced && s.has_window && s.to > s.from) {
    __int128 elapsed = std::clamp<int64_t>(now - s.from, 0, s.to - s.from), span = s.to - s.from;
    if (s.stock >= 0) l.paced_stock = static_cast<int64_t>(s.stock * elapsed / span) + 1;
    if (s.has_budget) l.paced_budget = static_cast<int64_t>(s.budget * elapsed / span) + cost;
  }
  return l;
}

namespace {

// Whether `now` falls in a policy's quiet hours on the strategy's local clock (the window may wrap
// past midnight), and if so when they end: the next local `quiet_to` after now.
int64_t quiet_end(const bytecode::Policy& pol, const bytecode::Strategy& s, int64_t now) {
  int64_t local = now + s.offset_at(now);
  int64_t minute = (local - support::floor_div(local, support::kMicrosPerDay) * support::kMicrosPerDay) /
                   support::kMicrosPerMinute;
  bool quiet = pol.quiet_from < pol.quiet_to ? (minute >= pol.quiet_from && minute < pol.quiet_to)
                                             : (minute >= pol.quiet_from || minute < pol.quiet_to);
  if (!quiet) return 0;
  int64_t end_local = s.zone.local_day(now) * support::kMicrosPerDay + pol.quiet_to * support::kMicrosPerMinute;
  int64_t end = s.zone.local_to_utc(end_local);
  if (end <= now) end = s.zone.local_to_utc(end_local + support::kMicrosPerDay);
  return end;
}

}  // namespace

int64_t Engine::quiet_hold(const bytecode::Strategy& s, int64_t now) const {
  int64_t hold = 0;
  for (const auto& pol : p_.policies)
    if ((pol.business.empty() || pol.business == s.business) && pol.has_quiet && !pol.quiet_drop)
      hold = std::max(hold, quiet_end(pol, s, now));
  return hold;
}

std::string Engine::action_limit(User& u, const bytecode::Strategy& s, const bytecode::Action& a, int64_t now, int32_t ai,
                                 int64_t* hold_until) {
  const auto& res = p_.resources[a.resource];
  int64_t hold = 0;
  auto noted = [&](const char* clause, bool passed, std::string detail, const std::string& policy = "") {
    if (trace_) {
      Check c{clause, passed, std::move(detail)};
      c.action = ai;
      c.policy = policy;
      note(std::move(c));
    }
    return passed;
  };
  if (res.has_claim && !noted("claim_window", now >= res.claim_from && now < res.claim_to,
                              fmt::format("`{}` may be claimed from {} to {}", res.name, local_time(s, res.claim_from),
                                          local_time(s, res.claim_to))))
    return "claim_window";
  for (const auto& pol : p_.policies) {
    if (!pol.business.empty() && pol.business != s.business) continue;
    if (pol.max_unredeemed >= 0 && (is_coupon(res.kind) || pol.unredeemed_kind == "resources")) {
      int64_t open = 0;
      for (const auto& g : u.grants) {
        const auto& gr = p_.resources[g.resource];
        bool counted = pol.unredeemed_kind == "resources" ||
                       (pol.unredeemed_kind == "coupons" && is_coupon(gr.kind)) ||
                       (pol.unredeemed_kind == "red_envelopes" && gr.kind == bytecode::ResourceKind::RedEnvelope);
        open += counted && g.state == GrantState::Open && now < g.expires;
      }
      if (!noted("unredeemed_limit", open < pol.max_unredeemed,
                 fmt::format("unredeemed {} per user <= {}: {} valid and unredeemed", pol.unredeemed_kind, pol.max_unredeemed, open),
                 pol.name))
        return "unredeemed_limit";
    }
    if (pol.has_same_type) {
      const Grant* same = nullptr;
      for (const auto& g : u.grants)
        if (p_.resources[g.resource].kind == res.kind && in_period(pol.same_type, g.time, now, s)) {
          same = &g;
          break;
        }
      if (!noted("same_type", !same,
                 same ? fmt::format("same resource type once per {}: `{}` ({}) granted at {}", period_text(pol.same_type),
                                    p_.resources[same->resource].name, bytecode::resource_kind_name(res.kind), local_time(s, same->time))
                      : fmt::format("same resource type once per {}: no {} granted in it", period_text(pol.same_type),
                                    bytecode::resource_kind_name(res.kind)),
                 pol.name))
        return "same_type";
    }
    if (pol.has_quiet && a.send) {
      int64_t end = quiet_end(pol, s, now);
      // In quiet hours a message is held until they end, unless the policy drops it (or the
      // caller cannot hold); a held message passes this check and is sent later.
      bool drop = end && (pol.quiet_drop || !hold_until);
      std::string detail = fmt::format("quiet between {:02}:{:02} and {:02}:{:02}{}: it is {}", pol.quiet_from / 60,
                                       pol.quiet_from % 60, pol.quiet_to / 60, pol.quiet_to % 60,
                                       pol.quiet_drop ? " drop" : "", local_time(s, now));
      if (end && !drop) detail += fmt::format(", the message would be held until {}", local_time(s, end));
      if (!noted("quiet_hours", !drop, std::move(detail), pol.name)) return "quiet_hours";
      if (end) hold = std::max(hold, end);
    }
    for (const auto& cc : pol.channel_caps) {
      if (a.channel != cc.channel) continue;
      int64_t n = 0, last = 0;
      for (const auto& g : u.grants)
        if (g.channel == cc.channel && in_period(cc.cap.period, g.time, now, s)) ++n, last = g.time;
      if (!noted("channel_cap", n < cc.cap.count,
                 fmt::format("{} <= {} per {}: {}", p_.channels[cc.channel], cc.cap.count, period_text(cc.cap.period),
                             counted(n, "sent", cc.cap.period, last, s)),
                 pol.name))
        return "channel_cap";
    }
  }
  if (hold_until) *hold_until = hold;
  return "";
}

void Engine::decide(User& u, const std::string& user_id, const Event* ev, int64_t now, uint32_t si, std::vector<Decision>& out) {
  const auto& s = p_.strategies[si];
  if (s.has_window && (now < s.from || now >= s.to)) {
    if (trace_) {
      trace_->verdict = "outside_window";
      note({"when", false, fmt::format("{} is outside the window {} .. {}", support::format_time(now),
                                       support::format_time(s.from), support::format_time(s.to))});
    }
    return;
  }
  bool ok = false;
  for (auto [clause, unit] : {std::pair<const char*, int32_t>{"if", s.trigger_if}, {"who", s.who}, {"where", s.where}}) {
    if (unit < 0) continue;
    bool ran = run_unit(unit, u, ev, now, ok);
    if (trace_) {
      Check c{clause, ran && ok, ran ? "" : "evaluation failed"};
      c.unit = unit;
      note(std::move(c));
    }
    if (!ran || !ok) {
      if (trace_) trace_->verdict = "no_match";
      return;
    }
  }
  Decision d;
  d.event = ev ? ev->id : "";
  d.user = user_id;
  d.strategy = si;
  d.at = now;
  // Deterministic A/B split: the same user always lands in the same group of a strategy.
  if (s.control_basis_points > 0) {
    int64_t bucket = static_cast<int64_t>(vm::stable_hash(user_id + "\x1f" + s.split_salt) % 10000);
    if (trace_)
      note({"split", bucket >= s.control_basis_points,
            fmt::format("control {}%: {} (bucket {} of 10000, control below {})",
                        support::Decimal::from_units(int64_t(s.control_basis_points) * 10000).to_string(),
                        bucket < s.control_basis_points ? "the user is in the control group" : "the user is treated", bucket,
                        s.control_basis_points)});
    if (bucket < s.control_basis_points) {
      decide_control(u, s, si, now, std::move(d), out);
      return;
    }
  }
  std::string strategy_why = strategy_limit(u, s, si, now);
  // Actions that pass are granted tentatively (a later action's policies see the earlier ones),
  // then the delivery reserves stock and budget in one atomic step; if another runtime sharing
  // the counters took them first, the tentative grants become rejections.
  const size_t first_grant = u.grants.size(), first_out = out.size();
  int64_t spent = 0;
  std::vector<std::pair<int32_t, int64_t>> holds;  // (action, release time)
  for (size_t ai = 0; ai < s.actions.size(); ++ai) {
    const auto& a = s.actions[ai];
    d.action = static_cast<int32_t>(ai);
    int64_t hold = 0;
    std::string why = strategy_why.empty() ? action_limit(u, s, a, now, d.action, &hold) : strategy_why;
    if (why.empty() && hold) {
      d.outcome = Outcome::Held;
      d.reason = "quiet_hours";
      d.amount = 0;
      holds.emplace_back(d.action, hold);
    } else if (why.empty()) {
      d.outcome = Outcome::Granted;
      d.reason.clear();
      Grant g = make_grant(u, si, d.action, now);
      d.amount = g.amount;
      spent += g.amount;
      u.grants.push_back(g);
    } else {
      d.outcome = Outcome::Rejected;
      d.reason = why;
      d.amount = 0;
    }
    out.push_back(d);
  }
  // A held message is part of the delivery: it reserves with it and counts for per-user caps now.
  if (u.grants.size() > first_grant || !holds.empty()) {
    // Explain reserves nothing: it asks the same rule whether the reservation would fit.
    state::QuotaCheck c = trace_ ? state::check_quota(quotas_->used(quota_[si]), spent, quota_limits(s, now, spent))
                                 : quotas_->reserve(quota_[si], spent, quota_limits(s, now, spent));
    if (c == state::QuotaCheck::Fits) {
      if (!trace_)
        for (size_t i = first_grant; i < u.grants.size(); ++i)
          if (u.grants[i].expires != INT64_MAX) expiries_.push({u.grants[i].expires, user_id, i});
      u.deliveries.emplace_back(si, now);
      if (!trace_)
        for (const auto& [ai, at] : holds) releases_.push({at, user_id, si, ai, now});
    } else {
      u.grants.resize(first_grant);
      for (size_t i = first_out; i < out.size(); ++i)
        if (out[i].outcome == Outcome::Granted || out[i].outcome == Outcome::Held) {
          out[i].outcome = Outcome::Rejected;
          out[i].reason = state::quota_reason(c);
          out[i].amount = 0;
        }
    }
  }
  for (size_t i = first_out; i < out.size(); ++i)
    ++(out[i].outcome == Outcome::Granted ? stats_.granted : out[i].outcome == Outcome::Held ? stats_.held : stats_.rejected);
}

// Held messages are sent when their quiet hours end, recorded by the first work unit at or after
// that instant (as expiries are), if the user's policies still allow them then (a channel cap
// may have filled in the meantime); otherwise they are rejected with the reason.
void Engine::release(int64_t now, std::vector<Decision>& out) {
  while (!releases_.empty() && releases_.top().at <= now) {
    Release r = releases_.top();
    releases_.pop();
    User* u = find_user(r.user);
    if (!u) u = &user(r.user);
    const auto& s = p_.strategies[r.strategy];
    int64_t hold = 0;
    std::string why = action_limit(*u, s, s.actions[r.action], r.at, r.action, &hold);
    if (why.empty() && hold) {  // another policy's quiet hours go on: wait for them too
      r.at = hold;
      releases_.push(r);
      continue;
    }
    Decision d;
    d.user = r.user;
    d.strategy = r.strategy;
    d.action = r.action;
    d.at = r.at;
    d.granted_at = r.held_at;
    d.released = true;
    if (why.empty()) {
      Grant g = make_grant(*u, r.strategy, r.action, r.at);
      d.outcome = Outcome::Granted;
      d.amount = g.amount;
      u->grants.push_back(g);
      if (g.expires != INT64_MAX) expiries_.push({g.expires, r.user, u->grants.size() - 1});
      ++stats_.granted;
    } else {
      d.outcome = Outcome::Rejected;
      d.reason = why;
      ++stats_.rejected;
    }
    out.push_back(std::move(d));
  }
}

// A control user gets one `control` row per action, decided by the same per-user caps, exclusive
// groups and policies as a treated user (stock, budget and pacing aside: a control delivery takes
// none), so control and treatment rows compare one to one: a row without a reason is an action
// the user would have received, a row with one says which limit would have refused it. What
// would have been received is kept as shadow grants, which later control decisions of the user
// see (a weekly strategy's control user gets one delivery a week, as a treated user does) and
// treated decisions never do.
void Engine::decide_control(User& u, const bytecode::Strategy& s, uint32_t si, int64_t now, Decision d,
                            std::vector<Decision>& out) {
  // Decide against real plus shadow grants: the shadow ones are appended for the time of the
  // decision (no expiry is queued for them) and moved back afterwards.
  const size_t real_grants = u.grants.size(), real_deliveries = u.deliveries.size();
  u.grants.insert(u.grants.end(), u.shadow_grants.begin(), u.shadow_grants.end());
  u.deliveries.insert(u.deliveries.end(), u.shadow_deliveries.begin(), u.shadow_deliveries.end());
  const std::string strategy_why = strategy_limit(u, s, si, now, false);
  const size_t first_new = u.grants.size();
  for (size_t ai = 0; ai < s.actions.size(); ++ai) {
    d.action = static_cast<int32_t>(ai);
    d.outcome = Outcome::Control;
    int64_t hold = 0;  // a held message would have been received (later): no reason
    d.reason = strategy_why.empty() ? action_limit(u, s, s.actions[ai], now, d.action, &hold) : strategy_why;
    d.amount = 0;
    if (d.reason.empty()) u.grants.push_back(make_grant(u, si, d.action, now));
    ++stats_.control;
    out.push_back(d);
  }
  if (s.actions.empty()) {  // no action: still one row that says the user is in the control group
    ++stats_.control;
    out.push_back(d);
  }
  u.shadow_grants.insert(u.shadow_grants.end(), u.grants.begin() + first_new, u.grants.end());
  if (u.grants.size() > first_new) u.shadow_deliveries.emplace_back(si, now);
  u.grants.resize(real_grants);
  u.deliveries.resize(real_deliveries);
}

// The first instant of a scheduled strategy, once the stream has a time to start from.
void Engine::init_schedule(uint32_t si, int64_t upto) {
  const auto& s = p_.strategies[si];
  int64_t& next = next_schedule_[si];
  if (s.trigger == bytecode::Trigger::OnEvent || next != INT64_MIN) return;
  if (s.trigger == bytecode::Trigger::At) {
    next = s.at;
  } else {
    // `every D at HH:MM between A and B`: the first HH:MM on the strategy's local clock, on
    // or after A, in steps of D from A's local day. A period of whole days keeps to the
    // local clock (09:00 stays 09:00 when daylight saving starts or ends; a time that the
    // change skips runs at the first instant after the gap); shorter periods step in
    // elapsed time from the first run.
    int64_t start = s.has_window ? s.from : (last_time_ == INT64_MIN ? upto : last_time_);
    int64_t local = 0;
    next = bytecode::first_schedule_run(s.zone, s.at, s.every, start, &local);
    if (daily_schedule(s)) schedule_local_[si] = local;
  }
  if (s.has_window && next >= s.to) next = INT64_MAX;
}

void Engine::fire_schedules(int64_t upto, std::vector<Decision>& out) {
  // Scheduled strategies run in time order across strategies (then by priority), so limits
  // and policies shared between them see grants in the order they happened.
  for (;;) {
    int64_t best_time = INT64_MAX;
    uint32_t best = 0;
    for (uint32_t si = 0; si < p_.strategies.size(); ++si) {
      if (p_.strategies[si].trigger == bytecode::Trigger::OnEvent) continue;
      init_schedule(si, upto);
      int64_t next = next_schedule_[si];
      if (next <= upto && (next < best_time || (next == best_time && strategy_rank_[si] < strategy_rank_[best]))) {
        best_time = next;
        best = si;
      }
    }
    if (best_time == INT64_MAX) return;
    const auto& s = p_.strategies[best];
    std::string unit = "schedule:" + s.name + "@" + std::to_string(best_time);
    if (!replay_schedule(unit, out)) {
      size_t first = out.size();
      expire(best_time, out);
      release(best_time, out);
      if (!s.has_window || (best_time >= s.from && best_time < s.to))
        for (const auto& id : user_order_) decide(*find_user(id), id, nullptr, best_time, best, out);
      std::string err;
      record_unit({state::UnitKind::Schedule, unit}, nullptr, out, first, err);
    }
    int64_t& next = next_schedule_[best];
    if (s.trigger != bytecode::Trigger::Every || s.every <= 0) next = INT64_MAX;
    else if (daily_schedule(s)) next = s.zone.local_to_utc(schedule_local_[best] += s.every);
    else next += s.every;
    if (s.has_window && next >= s.to) next = INT64_MAX;
  }
}

// ---- the stream contract -----------------------------------------------------------------------

int64_t Engine::watermark() const {
  if (latest_seen_ == INT64_MIN) return INT64_MIN;
  return latest_seen_ - lateness_;
}

bool Engine::submit(const Event& ev, std::vector<Decision>& out, std::string& err) {
  int64_t w = watermark();
  if (ev.time < w) {
    // A retried delivery of an event already decided is answered from the ledger, however old.
    if (store_)
      if (auto it = event_units_.find(ev.id); it != event_units_.end() && it->second.decided && it->second.applied)
        return report(it->second, out, err);
    const User* u = find_user(ev.user);
    if (u && ev.time < u->last_time)
      err = fmt::format("out of order: {} is before user `{}`'s previous event at {}", support::format_time(ev.time), ev.user,
                        support::format_time(u->last_time));
    else
      err = fmt::format("late event: {} is before the watermark {} (the latest event time {} minus the allowed lateness {})",
                        support::format_time(ev.time), support::format_time(w), support::format_time(latest_seen_),
                        lateness_ ? support::format_duration(lateness_) : "0");
    return false;
  }
  latest_seen_ = std::max(latest_seen_, ev.time);
  if (lateness_ == 0) {
    // Nothing to hold: the event is at the watermark.
    fire_schedules(ev.time, out);
    return process(ev, out, err);
  }
  held_.push({ev, arrivals_++});
  return release(watermark(), out, err);
}

// Decides held events before `upto` and runs the scheduled instants among them, in time order;
// a scheduled instant goes before events at the same instant (it sees the events before it, as
// a schedule always does). Events at `upto` itself wait: more may arrive with that time.
bool Engine::release(int64_t upto, std::vector<Decision>& out, std::string& err) {
  while (!held_.empty() && held_.top().ev.time < upto) {
    Held h = held_.top();
    held_.pop();
    fire_schedules(h.ev.time, out);
    if (!process(h.ev, out, err)) return false;
  }
  return true;
}

bool Engine::finish(std::vector<Decision>& out, std::string& err) {
  if (!release(INT64_MAX, out, err)) return false;
  if (last_time_ != INT64_MIN) fire_schedules(last_time_, out);
  return true;
}

// ---- batch -------------------------------------------------------------------------------------

bool Engine::evaluate(uint32_t unit, const std::string& id, int64_t now, int64_t& result, std::string& err, bool* present) {
  // Sliding windows forget events once they fall out of the window at the latest time seen,
  // so history can only be asked about from then on.
  if (now < last_time_) {
    err = "cannot evaluate at a time before the latest event already applied";
    return false;
  }
  User* u = nullptr;
  std::unique_ptr<User> temp;
  if (!(u = find_user(id))) {
    temp = std::make_unique<User>(p_);
    temp->profile = default_profile_;
    temp->present = default_present_;
    if (!temp->profile.empty()) temp->profile[0] = strings_.intern(id);
    u = temp.get();
  }
  bind_context(*u, nullptr, now, unit < unit_zone_.size() ? unit_zone_[unit] : &p_.zone);
  vm::Result r = executor_->run(unit, ctx_);
  if (r.status != vm::Status::Ok) {
    err = r.error;
    return false;
  }
  result = r.value;
  if (present) *present = r.present;
  return true;
}

std::vector<std::pair<std::string, int64_t>> Engine::audience(int64_t at) {
  // Columns of the profile over all users, in first-seen order, for the batch VM.
  size_t rows = user_order_.size();
  std::vector<User*> by_row(rows);
  for (size_t i = 0; i < rows; ++i) by_row[i] = find_user(user_order_[i]);
  std::vector<std::vector<int64_t>> columns(p_.profile.size(), std::vector<int64_t>(rows));
  std::vector<std::vector<uint8_t>> present(p_.profile.size());
  for (size_t i = 0; i < rows; ++i)
    for (size_t f = 0; f < p_.profile.size(); ++f) columns[f][i] = by_row[i]->profile[f];
  std::vector<vm::Column> cols(columns.size());
  for (size_t f = 0; f < columns.size(); ++f) {
    // A presence column only for fields some user lacks: the common all-present column is
    // read without one.
    bool all = true;
    for (size_t i = 0; i < rows && all; ++i) all = by_row[i]->present[f];
    if (!all) {
      present[f].resize(rows);
      for (size_t i = 0; i < rows; ++i) present[f][i] = by_row[i]->present[f];
    }
    cols[f] = {columns[f].data(), 8, all ? nullptr : present[f].data()};
  }
  struct AggCtx {
    const bytecode::Program* p;
    std::vector<User*>* rows;
  } agg{&p_, &by_row};
  vm::BatchInput in;
  in.columns = cols.data();
  in.column_count = cols.size();
  in.rows = rows;
  in.now = at;
  in.aggregate = [](void* state, size_t row, uint32_t g, int64_t now) -> bytecode::AggValue {
    auto* c = static_cast<AggCtx*>(state);
    return (*c->rows)[row]->aggs.value(c->p->aggregates[g], g, now);
  };
  in.aggregate_state = &agg;
  in.strings = &strings_;
  in.collections = &collections_;
  std::vector<std::pair<std::string, int64_t>> out;
  auto count = [&](const std::string& name, uint32_t unit, int32_t scalar_unit) {
    in.zone = unit_zone_[unit];
    BatchSelection r;
    executor_->run_batch(unit, in, r);
    stats_.eval_errors += r.faults;
    if (r.faults && scalar_unit >= 0) {
      // The batch VM knows only that a lane failed; the scalar VM (which gives the same result,
      // tests/unit/differential_test.cc) says why, for the summary. Only on this rare path.
      size_t kinds = 0;
      for (size_t i = 0; i < rows; ++i) {
        User* u = by_row[i];
        bind_context(*u, nullptr, at, unit_zone_[scalar_unit]);
        vm::Result rr = executor_->run(static_cast<uint32_t>(scalar_unit), ctx_);
        if (rr.status != vm::Status::Ok) {
          ++stats_.eval_errors_by_kind[rr.error ? rr.error : "evaluation error"];
          ++kinds;
        }
      }
      if (kinds < r.faults) stats_.eval_errors_by_kind["evaluation error"] += r.faults - kinds;
    }
    out.emplace_back(name, static_cast<int64_t>(r.matches));
  };
  for (const auto& s : p_.segments) count(s.name, s.batch_unit, static_cast<int32_t>(s.unit));
  for (const auto& s : p_.strategies)
    if (s.who_batch >= 0) count(s.name, static_cast<uint32_t>(s.who_batch), s.who);
  return out;
}

// One buffer, appended to: this runs for every decision, so no temporary per field.
std::string Engine::decision_json(const Decision& d) const {
  if (!d.json.empty()) return d.json;
  bool has_strategy = d.strategy != kNoStrategy;
  const bytecode::Strategy* s = has_strategy ? &p_.strategies[d.strategy] : nullptr;
  const bytecode::Action* a = s && !s->actions.empty() ? &s->actions[d.action] : nullptr;
  const bytecode::Resource* r = a ? &p_.resources[a->resource] : nullptr;
  std::string out;
  out.reserve(256);
  auto str = [&](const char* key, bool present, std::string_view v) {
    out += key;
    if (present) support::append_json_quoted(out, v);
    else out += "null";
  };
  auto time = [&](const char* key, int64_t t) {
    out += key;
    out += '"';
    support::append_time(out, t);
    out += '"';
  };
  auto money = [&](const char* key, int64_t v) { str(key, true, support::Decimal::from_units(v).to_string()); };
  str("{\"event\":", !d.event.empty(), d.event);
  str(",\"user\":", true, d.user);
  str(",\"strategy\":", s, s ? std::string_view(s->name) : "");
  str(",\"outcome\":", true, outcome_name(d.outcome));
  str(",\"reason\":", !d.reason.empty(), d.reason);
  str(",\"resource\":", r, r ? std::string_view(r->name) : "");
  str(",\"channel\":", a && a->channel >= 0, a && a->channel >= 0 ? std::string_view(p_.channels[a->channel]) : "");
  str(",\"code\":", a && !a->code.empty(), a ? std::string_view(a->code) : "");
  time(",\"at\":", d.at);
  bool monetary = r && is_coupon(r->kind);
  auto currency = [&] { str(",\"currency\":", true, r->currency); };
  switch (d.outcome) {
    case Outcome::Granted:
      if (monetary) money(",\"amount\":", d.amount), currency();
      break;
    case Outcome::Redeemed:
      time(",\"granted_at\":", d.granted_at);
      money(",\"subsidy\":", d.amount);
      money(",\"sales\":", d.sales);
      if (monetary) currency();
      break;
    case Outcome::RedeemRejected:
      if (r) time(",\"granted_at\":", d.granted_at);
      break;
    case Outcome::Expired:
      time(",\"granted_at\":", d.granted_at);
      if (monetary) money(",\"amount\":", d.amount), currency();
      break;
    default:
      break;
  }
  // The release of a held message names when it was held.
  if (d.released) time(",\"held_at\":", d.granted_at);
  out += '}';
  return out;
}

}  // namespace crm::engine
