// forecast.cc - crm::report::forecast(): a past event log, shifted in time, replayed against a
// program's strategies in memory (docs/indicators.md, "Forecast").
//
// The replay is `crm run` without a ledger: crm::Run with no state opened, so nothing is
// written anywhere and the counters start empty. When a strategy paces, a second Run replays
// the same lines at the same time with every strategy's pacing off (the program's bytecode with
// `paced` cleared), so the effect of pacing is the difference of two replays of one input. The
// decisions are counted per strategy, per budget pool and day as they come (a strategy's days
// are the local calendar days of its zone, a pool's those of its strategies' zone); only the
// per-day user sets for reach are kept.
#include <crm/forecast.h>
#include <crm/run.h>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "bytecode/program.h"
#include "runtime/engine/event_id_window.h"
#include "runtime/engine/json_line.h"
#include "support/civil_time.h"
#include "support/line_reader.h"
#include "support/json_text.h"
#include "support/time_zone.h"

namespace crm::report {
namespace {

constexpr int64_t kDay = support::kMicrosPerDay;

int64_t floor_day(int64_t micros) { return micros >= 0 ? micros / kDay : -((-micros + kDay - 1) / kDay); }

// One JSON object written back from its members (numbers keep their source text).
void write_value(std::string& out, const engine::JsonValue& v) {
  switch (v.kind) {
    case engine::JsonValue::Kind::Null: out += "null"; break;
    case engine::JsonValue::Kind::Bool: out += v.boolean ? "true" : "false"; break;
    case engine::JsonValue::Kind::Number: out += v.text; break;
    case engine::JsonValue::Kind::Nested: out += v.text; break;  // its source text, syntax checked
    case engine::JsonValue::Kind::String: support::append_json_quoted(out, v.text); break;
    case engine::JsonValue::Kind::Array:
      out += '[';
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i) out += ',';
        write_value(out, v.items[i]);
      }
      out += ']';
      break;
  }
}

// Shifts an event line's `time`, and every field its event type declares as a Time, by `shift`.
class Shifter {
 public:
  explicit Shifter(const bytecode::Program& p) {
    for (const auto& e : p.events) {
      auto& names = time_fields_[e.name];
      for (size_t i = 3; i < e.fields.size(); ++i)
        if (e.fields[i].kind == bytecode::Kind::Time) names.push_back(e.fields[i].name);
    }
  }
  // The event's own time (before the shift) and its id (empty when it has none that is a
  // non-empty string: the engine refuses such a line); false with `error` when the line has no
  // time. Times are read by the engine's parser (a bare date is midnight UTC).
  bool time_of(std::string_view line, int64_t& t, std::string& id, std::string& error) {
    if (!engine::parse_json_object(line, members_, error)) return false;
    id.clear();
    const engine::JsonMember* time = nullptr;
    for (const auto& m : members_) {
      if (m.key == "time") time = &m;
      if (m.key == "id" && m.value.kind == engine::JsonValue::Kind::String) id = m.value.text;
    }
    if (!time) {
      error = "missing `time`";
      return false;
    }
    if (time->value.kind != engine::JsonValue::Kind::String) {
      error = "`time` must be an ISO-8601 time string";
      return false;
    }
    if (auto v = engine::parse_event_time(time->value.text)) {
      t = *v;
      return true;
    }
    error = fmt::format("`time` `{}` is not an ISO-8601 time", support::json_escape(time->value.text));
    return false;
  }
  // The line with its times shifted; a line that does not parse is returned as it is, for the
  // engine to refuse with its own message. A time the shift takes out of the range an event time
  // may have (years 0001-9999) is the shift's fault, not the line's: false with `error` naming both.
  bool shift(std::string_view line, int64_t shift, std::string& out, std::string& error) {
    out.clear();
    anchors_.clear();
    if (shift == 0 || !engine::parse_json_object(line, members_, error)) {
      error.clear();
      out = line;
      return true;
    }
    const std::vector<std::string>* fields = nullptr;
    for (const auto& m : members_)
      if (m.key == "type" && m.value.kind == engine::JsonValue::Kind::String) {
        auto it = time_fields_.find(m.value.text);
        if (it != time_fields_.end()) fields = &it->second;
      }
    out = "{";
    anchors_.push_back({0, line.find('{')});
    for (size_t i = 0; i < members_.size(); ++i) {
      auto& m = members_[i];
      const bool is_time = m.key == "time" || (fields && std::find(fields->begin(), fields->end(), m.key) != fields->end());
      if (is_time && m.value.kind == engine::JsonValue::Kind::String)
        if (auto v = engine::parse_event_time(m.value.text)) {
          int64_t moved = 0;
          std::string text;
          const bool overflow = __builtin_add_overflow(*v, shift, &moved);
          if (!overflow) text = support::format_time(moved);
          if (overflow || support::parse_time(text) != moved) {
            // The year as a number: format_time has no spelling for years before 1.
            std::string to;
            if (!overflow) {
              int64_t y = 0;
              unsigned mo = 0, d = 0;
              support::civil_from_days(support::floor_div(moved, support::kMicrosPerDay), y, mo, d);
              to = fmt::format(" (to the year {})", y);
            }
            error = fmt::format("the shift moves `{}` {} out of the years 0001-9999 an event time may have{}", m.key,
                                m.value.text, to);
            return false;
          }
          m.value.text = std::move(text);
        }
      if (i) out += ',';
      anchors_.push_back({out.size(), m.at});
      support::append_json_quoted(out, m.key);
      out += ':';
      anchors_.push_back({out.size(), value_at(line, m.at)});
      write_value(out, m.value);
    }
    anchors_.push_back({out.size(), line.rfind('}')});
    out += '}';
    return true;
  }

  // An error of the engine about the shifted line names its columns ("column N", "first at
  // column M"), which are not the user's: the line was written again (times moved, blank space
  // dropped). Each such column is mapped back to the user's line: a member's name and value start
  // where the user wrote them, a column inside one as far into it as into the shifted one.
  std::string user_columns(const std::string& message) const {
    if (anchors_.empty()) return message;  // not shifted: the user's line itself
    std::string out;
    size_t i = 0;
    static constexpr std::string_view kColumn = "column ";
    while (true) {
      size_t at = message.find(kColumn, i);
      if (at == std::string::npos) break;
      size_t digits = at + kColumn.size(), end = digits;
      while (end < message.size() && message[end] >= '0' && message[end] <= '9') ++end;
      out.append(message, i, end - i);
      if (end > digits && end - digits < 10) {
        const size_t pos = std::stoul(message.substr(digits, end - digits)) - 1;  // columns count from 1
        auto it = std::upper_bound(anchors_.begin(), anchors_.end(), pos,
                                   [](size_t p, const Anchor& a) { return p < a.shifted; });
        if (it != anchors_.begin()) {
          --it;
          size_t user = it->user + (pos - it->shifted);
          if (std::next(it) != anchors_.end() && std::next(it)->user > it->user)
            user = std::min(user, std::next(it)->user - 1);  // within the same member as the user wrote it
          out.resize(out.size() - (end - digits));
          out += std::to_string(user + 1);
        }
      }
      i = end;
    }
    out.append(message, i, std::string::npos);
    return out;
  }

 private:
  // Where the value of the member whose name starts at `key_at` starts in `line`.
  static size_t value_at(std::string_view line, size_t key_at) {
    size_t i = key_at + 1;
    while (i < line.size() && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
    i = line.find(':', i);
    if (i == std::string_view::npos) return key_at;
    i = line.find_first_not_of(" \t\r\n", i + 1);
    return i == std::string_view::npos ? key_at : i;
  }
  struct Anchor {
    size_t shifted, user;  // a byte offset in the shifted line, and the same place in the user's
  };
  std::vector<Anchor> anchors_;

 public:

 private:
  std::vector<engine::JsonMember> members_;
  std::unordered_map<std::string, std::vector<std::string>> time_fields_;
};

// The zone whose calendar days a series is counted in, by strategy and by pool name.
struct Zones {
  std::unordered_map<std::string, const support::ZoneRules*> by_name, by_pool;
  static const support::ZoneRules& of(const std::unordered_map<std::string, const support::ZoneRules*>& m,
                                      const std::string& name) {
    static const support::ZoneRules utc;
    auto it = m.find(name);
    return it != m.end() && it->second ? *it->second : utc;
  }
};

std::string zone_name(const support::ZoneRules& z) { return z.name.empty() ? "UTC" : z.name; }

// The decisions of one replay, counted per strategy (and per budget pool) and day.
struct Tally {
  struct Day {
    ForecastCounts c;
    std::unordered_set<std::string> users;
  };
  struct Series {
    std::map<int64_t, Day> days;
    std::unordered_set<std::string> users;
    ForecastCounts totals;
  };
  std::unordered_map<std::string, Series> by_name, by_pool;
  std::string last_delivery;  // strategy, user, unit and time of the latest granted row
  const Zones* zones = nullptr;
  // The first and last local day with a decision, each in the zone of the series it counts in.
  int64_t first_day = INT64_MAX, last_day = INT64_MIN;

  void add(const Decision& d) {
    if (d.strategy.empty()) return;  // a redemption of nothing this program granted
    auto day_in = [&](const support::ZoneRules& z) {
      const int64_t day = z.local_day(d.at_micros);
      first_day = std::min(first_day, day);
      last_day = std::max(last_day, day);
      return day;
    };
    bool delivery = false;
    if (d.outcome == Decision::Outcome::Granted) {
      std::string key = fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}", d.strategy, d.user, d.event, d.at_micros, d.released);
      delivery = key != last_delivery;
      last_delivery = std::move(key);
    } else {
      last_delivery.clear();
    }
    count(by_name[d.strategy], d, day_in(Zones::of(zones->by_name, d.strategy)), delivery, false);
    if (!d.pool.empty()) count(by_pool[d.pool], d, day_in(Zones::of(zones->by_pool, d.pool)), delivery, true);
  }

 private:
  // One decision in one series. A pool's budget and stock refusals have their own reasons.
  static void count(Series& s, const Decision& d, int64_t day, bool delivery, bool pool) {
    Day& dd = s.days[day];
    auto both = [&](auto f) {
      f(dd.c);
      f(s.totals);
    };
    switch (d.outcome) {
      case Decision::Outcome::Granted: {
        both([&](ForecastCounts& c) {
          c.grants++;
          c.deliveries += delivery;
          if (d.has_amount) c.budget_spent += d.amount_millionths;
          if (d.has_cost) c.budget_spent += d.cost_millionths;  // a message's cost
        });
        if (dd.users.insert(d.user).second) dd.c.reached++;
        if (s.users.insert(d.user).second) {
          dd.c.new_reached++;
          s.totals.reached++;
          s.totals.new_reached++;
        }
        return;
      }
      case Decision::Outcome::Control: both([](ForecastCounts& c) { c.control++; }); break;
      case Decision::Outcome::Held:
        // A held message reserves its cost when it is held (its release records none again).
        both([&](ForecastCounts& c) {
          c.held++;
          if (d.has_cost) c.budget_spent += d.cost_millionths;
        });
        break;
      case Decision::Outcome::Rejected:
        both([&](ForecastCounts& c) {
          c.rejected++;
          if (d.reason == (pool ? "pool_budget" : "budget")) c.rejected_budget++;
          else if (d.reason == (pool ? "pool_stock" : "stock")) c.rejected_stock++;
          else if (!pool && d.reason == "pacing") c.rejected_pacing++;
        });
        break;
      case Decision::Outcome::Redeemed:
        both([&](ForecastCounts& c) {
          c.redeemed++;
          if (d.has_amount) c.subsidy += d.amount_millionths;
        });
        break;
      default: break;
    }
  }
};

// What a series is measured against: a strategy's or a pool's limits.
struct Limits {
  bool has_budget = false;
  int64_t budget = 0, stock = -1;
  bool has_window = false;
  int64_t window_from = 0, window_to = 0;
};

// A series' replay from its tally: every day of the forecast's span (local days of `zone`),
// cumulative counts, the even plan and the run-out days.
ForecastRun finish_run(Tally::Series& t, const Limits& s, const support::ZoneRules& zone, int64_t first_day,
                       int64_t last_day) {
  ForecastRun run;
  run.totals = t.totals;
  int64_t budget = 0, deliveries = 0, reached = 0;
  for (int64_t day = first_day; day <= last_day; ++day) {
    ForecastCounts c;
    if (auto it = t.days.find(day); it != t.days.end()) c = it->second.c;
    c.day = support::format_date(static_cast<int32_t>(day));
    c.budget_spent_to_date = budget += c.budget_spent;
    c.deliveries_to_date = deliveries += c.deliveries;
    c.reached_to_date = reached += c.new_reached;
    if (s.has_window && s.window_to > s.window_from) {
      // The even plan: the share of the window elapsed by the end of the local day (the next
      // local midnight, or the first instant after it on a clock that skips it).
      const int64_t end = zone.local_to_utc((day + 1) * kDay);
      const __int128 elapsed = std::clamp(end, s.window_from, s.window_to) - s.window_from;
      const __int128 span = s.window_to - s.window_from;
      if (s.has_budget) c.planned_budget_to_date = static_cast<int64_t>(elapsed * s.budget / span);
      if (s.stock >= 0) c.planned_stock_to_date = static_cast<int64_t>(elapsed * s.stock / span);
    }
    if (run.budget_runs_out.empty() && s.has_budget && (c.rejected_budget > 0 || budget >= s.budget))
      run.budget_runs_out = c.day;
    if (run.stock_runs_out.empty() && s.stock >= 0 && (c.rejected_stock > 0 || deliveries >= s.stock))
      run.stock_runs_out = c.day;
    run.days.push_back(std::move(c));
  }
  run.totals.budget_spent_to_date = budget;
  run.totals.deliveries_to_date = deliveries;
  run.totals.reached_to_date = reached;
  return run;
}

}  // namespace

Forecast forecast(const ForecastOptions& o) {
  Forecast f;
  try {
    if (!o.program || !o.program->valid()) {
      f.error = "a forecast needs a valid program";
      return f;
    }
    if (!o.events) {
      f.error = "a forecast needs an event log (the history to replay)";
      return f;
    }
    bytecode::Program program;
    if (!bytecode::deserialize(o.program->serialize(), program, f.error)) return f;
    for (const auto& s : program.strategies) {
      ForecastStrategy fs;
      fs.name = s.name;
      fs.has_budget = s.has_budget;
      fs.budget = s.budget;
      fs.budget_currency = s.has_budget ? s.budget_currency : "";
      fs.stock = s.stock;
      fs.paced = s.paced;
      fs.has_window = s.has_window;
      fs.window_from = s.from;
      fs.window_to = s.to;
      fs.zone = zone_name(s.zone);
      f.strategies.push_back(std::move(fs));
    }
    for (const auto& p : program.pools) {
      ForecastPool fp;
      fp.name = p.name;
      fp.has_budget = p.has_budget;
      fp.budget = p.budget;
      fp.budget_currency = p.has_budget ? p.budget_currency : "";
      fp.stock = p.stock;
      for (const auto& s : program.strategies)
        if (s.pool >= 0 && program.pools[s.pool].name == p.name) fp.strategies.push_back(s.name);
      f.pools.push_back(std::move(fp));
    }
    // The zones the days are counted in: a strategy's own (`zone:`, else the program's); a
    // pool's, the zone of its strategies when they share one, else the program's default.
    Zones zones;
    for (const auto& s : program.strategies) zones.by_name[s.name] = &s.zone;
    for (const auto& p : program.pools) {
      const support::ZoneRules* common = nullptr;
      bool mixed = false;
      for (const auto& s : program.strategies)
        if (s.pool >= 0 && program.pools[s.pool].name == p.name) {
          if (!common) common = &s.zone;
          else if (!(*common == s.zone)) mixed = true;
        }
      zones.by_pool[p.name] = !common || mixed ? &program.zone : common;
    }
    for (auto& fp : f.pools) fp.zone = zone_name(Zones::of(zones.by_pool, fp.name));
    // The counterfactual program: the same bytecode with every strategy's pacing off.
    const bool any_paced = std::any_of(program.strategies.begin(), program.strategies.end(),
                                       [](const bytecode::Strategy& s) { return s.paced; });
    CompiledProgram unpaced_program;
    if (any_paced && o.compare_pacing) {
      for (auto& s : program.strategies) s.paced = false;
      std::string err;
      unpaced_program = load_compiled(bytecode::serialize(program), err);
      if (!unpaced_program.valid()) {
        f.error = "internal error: the program without pacing does not load: " + err;
        return f;
      }
    }
    struct Replay {
      std::unique_ptr<Run> run;
      Tally tally;
      std::vector<Decision> decisions;
    };
    std::vector<Replay> replays(unpaced_program.valid() ? 2 : 1);
    for (auto& r : replays) r.tally.zones = &zones;
    replays[0].run = std::make_unique<Run>(*o.program);
    if (replays.size() == 2) replays[1].run = std::make_unique<Run>(unpaced_program);
    // The clock guard of `crm run` (its default too): a year typo in the history is refused at
    // its own line rather than replayed as decades of days (or making the next line late).
    for (auto& r : replays) r.run->set_max_time_jump(o.max_time_jump_micros);
    std::string profiles;
    if (o.profiles) {
      // Read in chunks rather than `<< rdbuf()`, which marks a read error on the copy, not on
      // the input: a failed read must not look like the end of the profiles.
      char chunk[1 << 16];
      while (o.profiles->read(chunk, sizeof chunk) || o.profiles->gcount() > 0)
        profiles.append(chunk, static_cast<size_t>(o.profiles->gcount()));
      if (o.profiles->bad()) {
        f.error = fmt::format("cannot read {}", o.profiles_name);
        return f;
      }
    }
    for (auto& r : replays) {
      r.run->set_allowed_lateness(o.allowed_lateness_micros);
      if (o.profiles) {
        std::istringstream in(profiles);
        bool ok = r.run->load_profiles(in, o.profiles_csv, [&](size_t line, const std::string& message) {
          f.error = fmt::format("{}:{}: {}", o.profiles_name, line, message);
          return false;
        });
        if (!ok) {
          if (f.error.empty()) f.error = fmt::format("cannot read {}", o.profiles_name);
          return f;
        }
      }
    }
    Shifter shifter(program);
    bool shift_known = !o.shift_to;
    f.shift_micros = o.shift_micros;
    std::string line;
    size_t line_no = 0;
    int64_t first = INT64_MAX, last = INT64_MIN;
    // Retries: `crm run` with a ledger answers an event id met again within the dedup window
    // from the ledger and decides it once; the replay (no ledger) skips such a line, by the same
    // rule (engine::EventIdWindow), so the forecast counts what that run would decide.
    engine::EventIdWindow seen_ids(o.dedup_window_micros);
    int64_t latest = INT64_MIN;
    size_t repeats = 0;
    std::string id;
    auto take = [&](Replay& r) {
      for (const Decision& d : r.decisions) r.tally.add(d);
      r.decisions.clear();
    };
    // The one reader of JSON Lines (a byte order mark, CRLF, read errors), and the engine's rule
    // for blank lines: an empty line is skipped, one of spaces is malformed, as `crm run` has it.
    support::LineReader reader(*o.events);
    while (reader.next(line)) {
      line_no = reader.line();
      if (line.empty()) continue;
      int64_t t = 0;
      std::string err;
      if (!shifter.time_of(line, t, id, err)) {
        f.error = fmt::format("{}:{}: {}", o.events_name, line_no, err);
        return f;
      }
      if (!shift_known) {
        f.shift_micros = (int64_t(o.shift_to_day) - floor_day(t)) * kDay;
        shift_known = true;
      }
      std::string shifted;
      if (!shifter.shift(line, f.shift_micros, shifted, err)) {
        f.error = fmt::format("{}:{}: {} (a shift of {} days)", o.events_name, line_no, err, f.shift_micros / kDay);
        return f;
      }
      const int64_t shifted_t = t + f.shift_micros;  // in range: the shifted time parsed back
      if (!id.empty()) {
        // The watermark before this line (the latest time less the lateness), as the engine
        // forgets ids before it decides a line.
        const int64_t lateness = std::max<int64_t>(o.allowed_lateness_micros, 0);
        if (latest != INT64_MIN) seen_ids.advance(latest < INT64_MIN + lateness ? INT64_MIN : latest - lateness);
        if (seen_ids.repeat(id, shifted_t)) {
          ++repeats;
          continue;
        }
      }
      latest = std::max(latest, shifted_t);
      first = std::min(first, t + f.shift_micros);  // in range: the shifted time parsed back
      last = std::max(last, t + f.shift_micros);
      for (auto& r : replays) {
        Error e;
        const bool ok = r.run->add_event(shifted, r.decisions, e);
        take(r);
        if (!ok) {
          f.error = e.kind == ErrorKind::Input ? fmt::format("{}:{}: {}", o.events_name, line_no, shifter.user_columns(e.message))
                                               : "internal error: " + e.message;
          return f;
        }
      }
      f.events++;
    }
    if (o.events->bad()) {
      f.error = fmt::format("cannot read {}", o.events_name);
      return f;
    }
    for (auto& r : replays) {
      Error e;
      const bool ok = r.run->finish(r.decisions, e);
      take(r);
      if (!ok) {
        f.error = fmt::format("{}: {}", o.events_name, e.message);
        return f;
      }
    }
    if (repeats > 0)
      f.notes.push_back(fmt::format("{} line{} repeated an event id met within the dedup window ({}): replayed once, as "
                                    "`crm run` with a ledger answers a retry from it",
                                    repeats, repeats == 1 ? "" : "s",
                                    o.dedup_window_micros == INT64_MAX ? std::string("forever")
                                                                       : support::format_duration(o.dedup_window_micros)));
    if (f.events == 0) {
      f.notes.push_back("the history has no events: nothing was replayed");
      f.ok = true;
      return f;
    }
    f.first_event = first;
    f.last_event = last;
    // One span of days for every strategy and both replays: from the first to the last day with
    // a decision, each decision's day in its series' zone (days before and after them hold
    // nothing to draw; one span, so every series has the same dates, each its own local ones).
    int64_t first_day = INT64_MAX, last_day = INT64_MIN;
    for (auto& r : replays) {
      first_day = std::min(first_day, r.tally.first_day);
      last_day = std::max(last_day, r.tally.last_day);
    }
    for (auto& p : f.pools) {
      const Limits limits{p.has_budget, p.budget, p.stock};
      const support::ZoneRules& zone = Zones::of(zones.by_pool, p.name);
      p.run = finish_run(replays[0].tally.by_pool[p.name], limits, zone, first_day, last_day);
      if (replays.size() == 2) {
        p.has_unpaced = true;
        p.unpaced = finish_run(replays[1].tally.by_pool[p.name], limits, zone, first_day, last_day);
      }
    }
    for (auto& s : f.strategies) {
      const Limits limits{s.has_budget, s.budget, s.stock, s.has_window, s.window_from, s.window_to};
      const support::ZoneRules& zone = Zones::of(zones.by_name, s.name);
      s.run = finish_run(replays[0].tally.by_name[s.name], limits, zone, first_day, last_day);
      if (replays.size() == 2) {
        s.has_unpaced = true;
        s.unpaced = finish_run(replays[1].tally.by_name[s.name], limits, zone, first_day, last_day);
      }
      if (s.has_window && (s.window_to <= first || s.window_from > last))
        f.notes.push_back(fmt::format("strategy `{}`: its window {} .. {} is outside the shifted history ({} .. {})", s.name,
                                      support::format_time(s.window_from), support::format_time(s.window_to),
                                      support::format_time(first), support::format_time(last)));
    }
    if (!any_paced) f.notes.push_back("no strategy paces: there is no replay without pacing to compare");
    f.ok = true;
  } catch (const std::exception& e) {
    f = Forecast{};
    f.error = std::string("internal error: ") + e.what();
  }
  return f;
}

}  // namespace crm::report
