// explain.cc - explanations computed by the engine's decision code (see explain.h).
#include "api/explain.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "compiler/codegen/codegen.h"
#include "compiler/format/formatter.h"
#include "support/civil_time.h"
#include "support/decimal.h"
#include "support/json_text.h"
#include "support/text.h"

namespace crm::explainer {

using namespace crm::ast;

namespace {

bool comparison(BinaryOp op) {
  switch (op) {
    case BinaryOp::Eq: case BinaryOp::Ne: case BinaryOp::Lt: case BinaryOp::Le: case BinaryOp::Gt: case BinaryOp::Ge:
    case BinaryOp::In: case BinaryOp::NotIn:
      return true;
    default:
      return false;
  }
}

const SegmentDecl* segment_of(const sema::Program& p, const Expr* e) {
  if (e->kind == ExprKind::Name && p.refs[e->id].kind == sema::Ref::Kind::Segment)
    return p.refs[e->id].segment();
  return nullptr;
}

// The parts of a clause explain may need the value of: every conjunct, through named segments,
// and both sides of comparisons, `not` and `between`.
void collect(const sema::Program& p, const Expr* e, std::vector<const Expr*>& out, int depth = 0) {
  if (!e || depth > 64) return;
  out.push_back(e);
  switch (e->kind) {
    case ExprKind::Binary: {
      auto* b = static_cast<const BinaryExpr*>(e);
      if (b->op == BinaryOp::And || comparison(b->op)) {
        collect(p, b->lhs, out, depth + 1);
        collect(p, b->rhs, out, depth + 1);
      }
      break;
    }
    case ExprKind::Unary:
      if (static_cast<const UnaryExpr*>(e)->op == UnaryOp::Not) collect(p, static_cast<const UnaryExpr*>(e)->operand, out, depth + 1);
      break;
    case ExprKind::Between: {
      auto* b = static_cast<const BetweenExpr*>(e);
      for (const Expr* x : {b->value, b->lo, b->hi}) collect(p, x, out, depth + 1);
      break;
    }
    default:
      if (const SegmentDecl* s = segment_of(p, e)) collect(p, s->value, out, depth + 1);
  }
}

const Expr* clause_expr(const StrategyDecl* s, const std::string& clause) {
  if (!s) return nullptr;
  for (const Clause* c : s->clauses) {
    if (clause == "who" && c->kind == ClauseKind::Who) return c->expr;
    if (clause == "where" && c->kind == ClauseKind::Where) return c->expr;
    if (clause == "if" && c->kind == ClauseKind::When) return c->expr;
  }
  return nullptr;
}

// Takes a false (or failed) clause apart: the first conjunct that is false, with its values.
class Detail {
 public:
  Detail(const Prepared& p, engine::Engine& eng, const engine::Engine::UnitProbe& run) : p_(p), eng_(eng), run_(run) {}

  // Empty when the part cannot be evaluated on its own.
  std::string why(const Expr* e, std::string label) {
    int64_t v = 0;
    std::string err;
    int st = value(e, v, err);
    if (st < 0) return "";
    if (st == 0) {
      // Find the part that fails.
      if (e->kind == ExprKind::Binary && static_cast<const BinaryExpr*>(e)->op == BinaryOp::And) {
        auto* b = static_cast<const BinaryExpr*>(e);
        std::string left = why(b->lhs, label);
        if (!left.empty()) return left;
      }
      if (const SegmentDecl* s = segment_of(*p_.source, e)) {
        std::string inner = why(s->value, label + " > " + s->name);
        if (!inner.empty()) return inner;
      }
      return fmt::format("{}: `{}` fails: {}", label, format::format_expr(e), err);
    }
    if (v) return "";  // true: not the culprit
    if (e->kind == ExprKind::Binary && static_cast<const BinaryExpr*>(e)->op == BinaryOp::And) {
      auto* b = static_cast<const BinaryExpr*>(e);
      for (const Expr* side : {b->lhs, b->rhs}) {
        int64_t x = 0;
        std::string e2;
        if (value(side, x, e2) == 1 && x) continue;
        std::string inner = why(side, label);
        if (!inner.empty()) return inner;
      }
    }
    if (const SegmentDecl* s = segment_of(*p_.source, e)) {
      std::string inner = why(s->value, label + " > " + s->name);
      if (!inner.empty()) return inner;
    }
    if (e->kind == ExprKind::Binary && comparison(static_cast<const BinaryExpr*>(e)->op)) {
      auto* b = static_cast<const BinaryExpr*>(e);
      return fmt::format("{}: {} = {}, needs {} {}", label, format::format_expr(b->lhs), show(b->lhs), to_string(b->op), side(b->rhs));
    }
    if (e->kind == ExprKind::Unary && static_cast<const UnaryExpr*>(e)->op == UnaryOp::Not) {
      auto* u = static_cast<const UnaryExpr*>(e);
      return fmt::format("{}: {} = {}, needs false", label, format::format_expr(u->operand), show(u->operand));
    }
    if (e->kind == ExprKind::Between) {
      auto* b = static_cast<const BetweenExpr*>(e);
      return fmt::format("{}: {} = {}, needs {}between {} and {}", label, format::format_expr(b->value), show(b->value),
                         b->negated ? "not " : "", side(b->lo), side(b->hi));
    }
    return fmt::format("{}: {} is false", label, format::format_expr(e));
  }

 private:
  // 1 value, 0 evaluation error, -1 no probe for it.
  int value(const Expr* e, int64_t& v, std::string& err) {
    bool present = true;
    return value(e, v, present, err);
  }
  int value(const Expr* e, int64_t& v, bool& present, std::string& err) {
    auto it = p_.probe.find(e);
    if (it == p_.probe.end() || it->second < 0) return -1;
    return run_(static_cast<uint32_t>(it->second), v, present, err) ? 1 : 0;
  }
  // The right-hand side as written, with its value when that says more.
  std::string side(const Expr* e) {
    // A constant collection says no more than as written (a set's value only reorders it).
    const sema::Type& t = p_.source->type_of(e);
    if ((t.kind == sema::TypeKind::Set || t.kind == sema::TypeKind::List) && p_.source->const_of(e))
      return format::format_expr(e);
    std::string text = format::format_expr(e), v = show(e);
    return v.empty() || v == text ? text : text + " = " + v;
  }
  std::string show(const Expr* e) {
    int64_t v = 0;
    bool present = true;
    std::string err;
    int st = value(e, v, present, err);
    if (st < 0) return "";
    if (st == 0) return "error: " + err;
    if (!present) return "none";
    return render(v, p_.source->type_of(e));
  }
  std::string render(int64_t v, const sema::Type& t) {
    switch (t.kind) {
      case sema::TypeKind::Bool: return v ? "true" : "false";
      case sema::TypeKind::Decimal: return support::Decimal::from_units(v).to_string();
      case sema::TypeKind::Money: return support::Decimal::from_units(v).to_string() + " " + t.currency;
      case sema::TypeKind::String: return support::json_quote(eng_.strings().text(v));
      case sema::TypeKind::Time: return support::format_time(v);
      case sema::TypeKind::Date: return support::format_date(static_cast<int32_t>(v));
      case sema::TypeKind::Duration: return support::format_duration(v);
      case sema::TypeKind::Enum:
        return t.enum_info && v >= 0 && size_t(v) < t.enum_info->values.size() ? t.enum_info->values[v] : std::to_string(v);
      case sema::TypeKind::Set:
      case sema::TypeKind::List: {
        std::string out = t.kind == sema::TypeKind::Set ? "{" : "[";
        const auto& items = eng_.collections().items(v);
        for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + (t.elem ? render(items[i], *t.elem) : std::to_string(items[i]));
        return out + (t.kind == sema::TypeKind::Set ? "}" : "]");
      }
      default: return std::to_string(v);
    }
  }

  const Prepared& p_;
  engine::Engine& eng_;
  const engine::Engine::UnitProbe& run_;
};

std::string trigger_text(const bytecode::Program& p, const bytecode::Strategy& s) {
  std::string t;
  switch (s.trigger) {
    case bytecode::Trigger::OnEvent: t = "on " + p.events[s.event].name; break;
    case bytecode::Trigger::At: t = "at " + support::format_time(s.at); break;
    case bytecode::Trigger::Every:
      t = fmt::format("every {} at {:02}:{:02}", support::format_duration(s.every), s.at / support::kMicrosPerHour,
                      s.at % support::kMicrosPerHour / support::kMicrosPerMinute);
      break;
  }
  if (!s.if_text.empty()) t += " if " + s.if_text;
  return t;
}

const char* verdict_text(const std::string& v) {
  if (v == "granted") return "granted";
  if (v == "rejected") return "rejected";
  if (v == "control") return "control group";
  if (v == "no_match") return "does not qualify";
  if (v == "outside_window") return "outside its window";
  if (v == "pending") return "timer pending";
  if (v == "cancelled") return "timer cancelled";
  if (v == "out_of_order") return "refused: out of time order";
  return "not triggered";
}

}  // namespace

std::unique_ptr<Prepared> prepare(const sema::Program* source, const bytecode::Program& compiled) {
  auto out = std::make_unique<Prepared>();
  out->source = source;
  if (!source) {
    out->program = compiled;
    out->strategy_decl.assign(compiled.strategies.size(), nullptr);
    out->hidden.assign(compiled.strategies.size(), false);
    return out;
  }
  std::vector<const Expr*> probes;
  std::map<std::string, std::pair<const StrategyDecl*, bool>> decls;
  for (const auto& m : source->modules)
    for (const Decl* d : m.ast->decls) {
      if (d->kind != DeclKind::Strategy) continue;
      auto* s = static_cast<const StrategyDecl*>(d);
      decls.emplace(s->name, std::make_pair(s, m.is_std));
      for (const Clause* c : s->clauses)
        if (c->expr && (c->kind == ClauseKind::Who || c->kind == ClauseKind::Where || c->kind == ClauseKind::When))
          collect(*source, c->expr, probes);
    }
  std::sort(probes.begin(), probes.end());
  probes.erase(std::unique(probes.begin(), probes.end()), probes.end());
  std::vector<int32_t> units;
  codegen::Output gen = codegen::generate(*source, probes, units);
  if (!gen.error.empty()) {
    out->error = gen.error;
    return out;
  }
  // The probes come after the program's own units, which must be exactly the compiled ones.
  if (gen.program.units.size() < compiled.units.size() || gen.program.strategies.size() != compiled.strategies.size()) {
    out->error = "the sources do not match the compiled program";
    return out;
  }
  out->program = std::move(gen.program);
  for (size_t i = 0; i < probes.size(); ++i) out->probe[probes[i]] = units[i];
  for (const auto& s : out->program.strategies) {
    auto it = decls.find(s.name);
    out->strategy_decl.push_back(it == decls.end() ? nullptr : it->second.first);
    out->hidden.push_back(it != decls.end() && it->second.second);
  }
  return out;
}

Session::Session(const Prepared& prepared, Request request, engine::EngineOptions options)
    : p_(prepared), req_(std::move(request)), engine_(std::make_unique<engine::Engine>(prepared.program, options)) {
  engine_->keep_timer_fates(true);  // what became of a delayed trigger's timer (run())
  // The events are decided in time order (run()), so a gap between two of them is the data's,
  // not a stream's clock moved by a wrong time; a far-ahead typo sorts last, after `at`.
  engine_->set_max_time_jump(0);
}

Session::~Session() = default;

bool Session::profile(std::string_view line, std::string& error) {
  return engine_->load_profile_line(line, error);
}

bool Session::event(std::string_view line, std::string& error) {
  engine::Event ev;
  if (!engine_->parse_event(line, ev, error)) return false;
  add(std::move(ev));
  return true;
}

void Session::add(engine::Event ev) {
  // Later events cannot change the answer at `at` (every line is still read and checked).
  if (req_.at != INT64_MIN && ev.time > req_.at) return;
  events_.push_back(std::move(ev));
}

bool Session::run(Result& r, std::string& error) {
  auto& eng = *engine_;
  const auto& prog = p_.program;
  // Time order, whatever the order of the input: ties by event id, so any permutation of the
  // same events gives the same answer (docs/semantics.md, "Event order").
  engine::sort_by_time(events_);
  std::vector<size_t> order(events_.size());
  std::iota(order.begin(), order.end(), 0);
  // The trigger event(s): the one asked for, or per event type the user's latest one.
  std::vector<std::vector<uint32_t>> explain_at(order.size());
  size_t ns = prog.strategies.size();
  r.strategies.assign(ns, {});
  r.why_not_triggered.assign(ns, "");
  r.decisions_json.assign(ns, "");
  std::vector<bool> done(ns, false);
  std::vector<uint32_t> without_event;  // event strategies the user has no trigger event for
  if (!req_.event.empty()) {
    size_t k = order.size();
    for (size_t i = 0; i < order.size() && k == order.size(); ++i)
      if (events_[order[i]].id == req_.event) k = i;
    if (k == order.size()) {
      error = req_.at == INT64_MIN ? fmt::format("no event `{}` in the events", support::visible(req_.event))
                                   : fmt::format("no event `{}` at or before {}", support::visible(req_.event),
                                                 support::format_time(req_.at));
      return false;
    }
    const auto& ev = events_[order[k]];
    if (ev.user != req_.user) {
      error = fmt::format("event `{}` is user `{}`'s, not `{}`'s", support::visible(req_.event), support::visible(ev.user),
                          support::visible(req_.user));
      return false;
    }
    if (req_.at == INT64_MIN) req_.at = ev.time;
    for (uint32_t s = 0; s < ns; ++s) {
      const auto& st = prog.strategies[s];
      if (st.trigger == bytecode::Trigger::OnEvent && st.event == ev.type) explain_at[k].push_back(s);
      else {
        done[s] = true;
        r.strategies[s].strategy = s;
        r.strategies[s].verdict = "not_triggered";
        r.why_not_triggered[s] = st.trigger == bytecode::Trigger::OnEvent
                                     ? fmt::format("decided on {} events, and `{}` is a {}", prog.events[st.event].name, ev.id,
                                                   prog.events[ev.type].name)
                                     : "a scheduled strategy: decided at its instants, not on events";
      }
    }
  } else {
    if (req_.at == INT64_MIN) {
      error = "explain needs a time or an event";
      return false;
    }
    std::vector<size_t> latest(prog.events.size(), SIZE_MAX);
    for (size_t i = 0; i < order.size(); ++i)
      if (events_[order[i]].user == req_.user) latest[events_[order[i]].type] = i;
    for (uint32_t s = 0; s < ns; ++s) {
      const auto& st = prog.strategies[s];
      if (st.trigger != bytecode::Trigger::OnEvent) continue;
      if (latest[st.event] != SIZE_MAX) explain_at[latest[st.event]].push_back(s);
      else {
        without_event.push_back(s);
        r.why_not_triggered[s] = fmt::format("user `{}` has no {} event at or before {}", req_.user, prog.events[st.event].name,
                                             support::format_time(req_.at));
      }
    }
  }
  auto explain_one = [&](uint32_t s, const engine::Event* ev, int64_t now) {
    const StrategyDecl* decl = p_.strategy_decl[s];
    r.strategies[s] = eng.explain(req_.user, s, ev, now, [&](engine::Check& c, const engine::Engine::UnitProbe& run) {
      const Expr* e = p_.source ? clause_expr(decl, c.clause) : nullptr;
      std::string why = e ? Detail(p_, eng, run).why(e, c.clause) : "";
      const auto& st = prog.strategies[s];
      const std::string& text = c.clause == "who" ? st.who_text : c.clause == "where" ? st.where_text : st.if_text;
      if (why.empty())
        why = c.detail.empty() ? fmt::format("{}: {} is false", c.clause, text) : fmt::format("{}: `{}` fails: {}", c.clause, text, c.detail);
      c.detail = why;  // the whole line: `who > loyal > valuable: sum(...) = 50 CNY, needs >= 200 CNY`
    });
    std::string json;
    for (const auto& d : r.strategies[s].decisions) json += (json.empty() ? "" : ",") + eng.decision_json(d);
    r.decisions_json[s] = json;
    done[s] = true;
  };
  std::vector<engine::Decision> ignored;
  std::string no_store;  // the explaining engine records nothing: fire_schedules cannot fail
  bool scheduled_done = false;
  // Scheduled strategies are explained as a run at `at` would decide them: after the events
  // before `at` and the instants before it.
  auto explain_scheduled = [&] {
    scheduled_done = true;
    if (!req_.event.empty()) return;
    if (req_.at > INT64_MIN) eng.fire_schedules(req_.at - 1, ignored, no_store);
    for (uint32_t s = 0; s < ns; ++s)
      if (!done[s] && prog.strategies[s].trigger != bytecode::Trigger::OnEvent) explain_one(s, nullptr, req_.at);
  };
  for (size_t i = 0; i < order.size(); ++i) {
    const engine::Event& ev = events_[order[i]];
    if (ev.time > req_.at) break;
    if (!scheduled_done && ev.time >= req_.at) explain_scheduled();
    if (!explain_at[i].empty()) {
      eng.fire_schedules(ev.time, ignored, no_store);  // what submit() does before deciding the event
      for (uint32_t s : explain_at[i]) explain_one(s, &ev, ev.time);
    }
    ignored.clear();
    std::string err;
    if (!eng.submit(ev, ignored, err)) {
      error = fmt::format("event `{}`: {}", support::visible(ev.id), err);
      return false;
    }
    ignored.clear();
  }
  if (!scheduled_done) explain_scheduled();
  for (uint32_t s : without_event) explain_one(s, nullptr, req_.at);
  // Delayed triggers: the timer the trigger event armed, and what became of it by `at` (timers
  // due by then fire; a later event may have cancelled it).
  bool delayed = false;
  for (const auto& st : prog.strategies) delayed |= st.delay > 0;
  if (delayed) eng.fire_schedules(req_.at, ignored, no_store);
  for (uint32_t s = 0; s < ns && delayed; ++s) {
    auto& tr = r.strategies[s];
    if (prog.strategies[s].delay <= 0 || tr.verdict != "pending") continue;
    const auto* f = eng.timer_fate(req_.user, s);
    if (!f || f->trigger != tr.event) continue;
    if (f->state == engine::Engine::TimerFate::State::Pending) {
      tr.checks.push_back({"timer", true, fmt::format("pending at {}, due at {}", support::format_time(req_.at), support::format_time(f->due))});
    } else if (f->state == engine::Engine::TimerFate::State::Cancelled) {
      tr.verdict = "cancelled";
      tr.checks.push_back({"timer", true, fmt::format("cancelled by event {} at {} (it was due at {})", f->by,
                                                      support::format_time(f->at), support::format_time(f->due))});
      tr.decisions.clear();
    } else {
      tr.checks.push_back({"timer", true, fmt::format("fired at {}", support::format_time(f->due))});
      tr.decisions = f->decisions;
      tr.verdict = "no_match";
      for (const auto& d : tr.decisions) {
        if (d.outcome == engine::Outcome::Rejected && tr.verdict == "no_match") tr.verdict = "rejected";
        if (d.outcome == engine::Outcome::Control && tr.verdict != "granted") tr.verdict = "control";
        if (d.outcome == engine::Outcome::Held && tr.verdict != "granted") tr.verdict = "held";
        if (d.outcome == engine::Outcome::Granted) tr.verdict = "granted";
      }
      if (tr.decisions.empty())
        tr.checks.push_back({"timer", false, "at its firing the `if`, who or where did not hold (no decision)"});
    }
    std::string json;
    for (const auto& d : tr.decisions) json += (json.empty() ? "" : ",") + eng.decision_json(d);
    r.decisions_json[s] = json;
  }
  r.user = req_.user;
  r.at = req_.at;
  r.known = eng.has_user(req_.user);
  for (const auto& seg : prog.segments) {
    Segment out;
    out.name = seg.name;
    int64_t v = 0;
    out.ok = eng.evaluate(seg.unit, req_.user, req_.at, v, out.error);
    out.value = out.ok && v;
    r.segments.push_back(std::move(out));
  }
  describe(r);
  return true;
}

void Session::describe(Result& r) {
  const auto& prog = p_.program;
  std::string& t = r.text;
  t = fmt::format("user {} at {}{}\n", r.user, support::format_time(r.at),
                  r.known ? "" : " (no profile and no events: everything is empty)");
  std::string& j = r.json;
  j = "{\"user\":" + support::json_quote(r.user) + ",\"at\":\"" + support::format_time(r.at) + "\",\"known\":" +
      (r.known ? "true" : "false") + ",\"strategies\":[";
  bool first = true;
  for (uint32_t s = 0; s < prog.strategies.size(); ++s) {
    const auto& st = prog.strategies[s];
    if (p_.hidden[s]) continue;  // the standard library's, not the user's program
    const auto& tr = r.strategies[s];
    std::string trigger = trigger_text(prog, st);
    std::string when = tr.event.empty() ? (tr.verdict == "not_triggered" ? "" : "; as a run at " + support::format_time(tr.at))
                                        : fmt::format("; event {} at {}", tr.event, support::format_time(tr.at));
    t += fmt::format("strategy {}: {} ({}{})\n", st.name, verdict_text(tr.verdict), trigger, when);
    if (tr.verdict == "not_triggered") t += "  " + r.why_not_triggered[s] + "\n";
    std::string checks;
    for (const auto& c : tr.checks) {
      bool clause = c.clause == "if" || c.clause == "who" || c.clause == "where" || c.clause == "when";
      std::string label = c.clause == "split" ? "split: " : "";
      if (!c.policy.empty()) label = "policy " + c.policy + ": ";
      if (c.action >= 0) {
        const auto& a = st.actions[c.action];
        label = fmt::format("action {} ({} {}): {}", c.action + 1, a.send ? "send" : "grant", prog.resources[a.resource].name, label);
      }
      if (clause) {
        if (c.passed) t += fmt::format("  {}: yes\n", c.clause);
        else if (c.clause == "when") t += "  when: " + c.detail + "\n";
        else t += "  " + c.detail + "\n";  // labelled: `who > loyal: ...`
      } else {
        t += fmt::format("  {}{}{}\n", label, c.detail, c.passed || c.clause == "split" ? "" : " -> refused");
      }
      checks += fmt::format("{}{{\"clause\":{},\"passed\":{},\"detail\":{}", checks.empty() ? "" : ",", support::json_quote(c.clause),
                            c.passed ? "true" : "false", support::json_quote(c.detail));
      if (c.action >= 0) checks += fmt::format(",\"action\":{}", c.action + 1);
      if (!c.policy.empty()) checks += ",\"policy\":" + support::json_quote(c.policy);
      checks += "}";
    }
    for (const auto& d : tr.decisions) {
      const auto& a = st.actions.empty() || d.action < 0 ? nullptr : &st.actions[d.action];
      std::string what = a ? std::string(a->send ? "send " : "grant ") + prog.resources[a->resource].name +
                                 (a->channel >= 0 ? " via " + prog.channels[a->channel] : "")
                           : "";
      std::string paid = st.pool >= 0 && d.outcome == engine::Outcome::Granted ? ", from pool " + prog.pools[st.pool].name : "";
      std::string arm = d.arm >= 0 && size_t(d.arm) < st.arms.size() ? " [arm " + st.arms[d.arm].name + "]" : "";
      t += fmt::format("  => {}{}: {}{}{}\n", what, arm, engine::outcome_name(d.outcome),
                       d.reason == engine::Reason::None ? "" : std::string(" (") + engine::reason_name(d.reason) + ")", paid);
    }
    j += fmt::format("{}{{\"strategy\":{},\"trigger\":{},\"event\":{},\"at\":{},\"verdict\":\"{}\"", first ? "" : ",",
                     support::json_quote(st.name), support::json_quote(trigger),
                     tr.event.empty() ? "null" : support::json_quote(tr.event),
                     tr.verdict == "not_triggered" ? "null" : "\"" + support::format_time(tr.at) + "\"", tr.verdict);
    if (tr.verdict == "not_triggered") j += ",\"why\":" + support::json_quote(r.why_not_triggered[s]);
    j += ",\"checks\":[" + checks + "],\"decisions\":[" + r.decisions_json[s] + "]}";
    first = false;
  }
  j += "],\"segments\":[";
  for (size_t i = 0; i < r.segments.size(); ++i) {
    const auto& sg = r.segments[i];
    t += fmt::format("segment {}: {}\n", sg.name, sg.ok ? (sg.value ? "yes" : "no") : "error: " + sg.error);
    j += fmt::format("{}{{\"segment\":{},\"value\":{}", i ? "," : "", support::json_quote(sg.name),
                     sg.ok ? (sg.value ? "true" : "false") : "null");
    if (!sg.ok) j += ",\"error\":" + support::json_quote(sg.error);
    j += "}";
  }
  j += "]}\n";
  // The text goes to a terminal: user ids, event ids and values from the events are data, and
  // their control characters (an ESC sequence in an id) are shown escaped, never obeyed.
  t = support::visible(t, true);
}

}  // namespace crm::explainer
