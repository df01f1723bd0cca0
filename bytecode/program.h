// program.h - a compiled .crm program: bytecode units plus everything the runtime needs to
// interpret events (schema layout, aggregates, strategies, resources, policies).
//
// Produced by compiler/codegen from a checked sema::Program, written to and read from `.crmc`
// files (versioned, checksummed), and executed by runtime/vm. Immutable once built: any number
// of engines and threads may share one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "support/time_zone.h"

namespace crm::bytecode {

// v6: policies carry quiet_drop (quiet hours hold messages unless `drop`).
// v7: CALL names a typed builtin overload (builtins.def) and passes exactly its arguments, no
// type-flag argument.
// v8: strategies carry `value:` and scene indexing (choice by value, scenes).
// v9: random rewards (resources draw their discount: draw, draw_lo/hi/step, draw_values/weights;
// actions carry chance and salt) and referral rewards (strategies carry recipient_field).
// v10: aggregates have a source (events, or the user's deliveries and redemptions) and, for
// delivery history, a strategy / resource / channel / code filter.
// v11: resources carry a percentage (`discount: P% up to CAP`), a message cost and compiled text
// and title templates.
// v12: strategies carry a delayed trigger (delay, cancelling event and keys).
// v13: budget pools (Program::pools, Strategy::pool) and A/B/n arms (Strategy::arms, Action::arm).
// v14: resources name who funds their subsidy (Resource::funders).
// v15: strategies carry an automatic roll-out of the winner (Strategy::rollout).
// v16: a constant collection says whether it is a list (Program::lists: written order,
// duplicates kept) or a set (sorted, distinct).
// v17: TIME_ADD (Time +/- Duration, faulting outside the years 0001-9999) renumbers the opcodes
// after it.
constexpr uint32_t kFormatVersion = 17;

// A value slot never encodes absence: every int64 is a legal value (INT64_MIN included), and
// whether an optional value is there travels beside it (a presence byte per profile or event
// field, a presence register per optional value in compiled code). This is how the history
// aggregates report theirs: a value, nothing (avg/min/max/first/last over no events), or an
// arithmetic overflow (a sum that does not fit).
struct AggValue {
  enum class State : uint8_t { Present, Absent, Overflow };
  int64_t value = 0;  // 0 unless present
  State state = State::Absent;
  static AggValue of(int64_t v) { return {v, State::Present}; }
  bool present() const { return state == State::Present; }
};

// Shortest `every` period (docs/language.md): a schedule decides for every known user at each
// firing, so shorter periods are a stream (`on Event`), not a schedule.
constexpr int64_t kMinSchedulePeriod = 60'000'000;  // one minute

enum class Op : uint8_t {
#define OP(name, shape, doc) name,
#include "bytecode/opcodes.def"
#undef OP
};
constexpr size_t kOpCount = 0
#define OP(name, shape, doc) +1
#include "bytecode/opcodes.def"
#undef OP
    ;

const char* op_name(Op op);
const char* op_shape(Op op);

struct Instr {
  Op op;
  uint16_t d = 0;
  uint32_t a = 0, b = 0, c = 0;
};

enum class Kind : uint8_t { Bool, Int, Decimal, Money, String, Time, Date, Duration, Enum, Set, List };
const char* kind_name(Kind k);

struct Field {
  std::string name;
  Kind kind = Kind::Int;
  Kind elem = Kind::Int;  // Set/List element
  bool optional = false;
  std::string currency;   // Money
  int64_t default_value = 0;  // used when data lacks the field (fields with `= x`)
  bool has_default = false;
  std::vector<std::string> enum_values;
};

struct EventType {
  std::string name;
  std::vector<Field> fields;  // 0 id, 1 user, 2 time, then declared fields
};

enum class AggKind : uint8_t { Count, Sum, Avg, Min, Max, First, Last, Exists };
enum class Window : uint8_t { All, Within, LastN, Previous, PreviousN, Since };
// What an aggregate counts: the user's events of one type, or the user's own delivery history
// (docs/semantics.md, "Delivery history"): deliveries made to the user (`received(...)`) and
// redemptions of the user's grants (`redeemed(...)`). History aggregates are count or exists.
enum class AggSource : uint8_t { Events, Received, Redeemed };

// One history aggregate the runtime maintains per user, incrementally, as events arrive.
struct AggSpec {
  AggKind kind = AggKind::Count;
  Window window = Window::All;
  uint32_t event = 0;
  int32_t field = -1;        // -1: whole events (count, exists)
  int32_t filter_unit = -1;  // predicate over the event, evaluated once at insertion
  int64_t window_value = 0;  // Within: micros; LastN/PreviousN: N; Since: time
  Kind value_kind = Kind::Int;
  std::string text;          // the source text, for disassembly and explanations
  // Received / Redeemed (then `event`, `field` and `filter_unit` are unused: 0, -1, -1): which
  // deliveries count, each -1 / empty for any.
  AggSource source = AggSource::Events;
  int32_t strategy = -1;     // index into Program::strategies
  int32_t resource = -1;     // index into Program::resources
  int32_t channel = -1;      // index into Program::channels
  std::string code;          // the action's delivery code
};

struct Unit {
  std::string name;  // "segment loyal", "strategy s who", "filter 3"
  uint16_t registers = 0;
  Kind result = Kind::Bool;
  std::vector<Instr> code;
};

struct Segment {
  std::string name;
  uint32_t unit = 0;        // scalar code (short-circuit jumps)
  uint32_t batch_unit = 0;  // the same predicate without jumps, for the batch VM
};

enum class Trigger : uint8_t { OnEvent, At, Every };
enum class PeriodKind : uint8_t { Campaign, Calendar, Sliding };
// Calendar periods are blocks of the local calendar of a zone: the clock hour, the day, the ISO
// week (Monday 00:00 to Monday 00:00) and the calendar month.
enum class CalendarUnit : uint8_t { Hour, Day, Week, Month };
const char* calendar_unit_name(CalendarUnit u);

struct Period {
  PeriodKind kind = PeriodKind::Campaign;
  CalendarUnit unit = CalendarUnit::Day;  // Calendar
  int64_t micros = 0;                     // Sliding: window length
};

// Whether two instants lie in the same calendar period of `zone` (then <= now is not required).
// An hour is a local clock hour (the hour repeated when clocks go back counts as two, since the
// offset differs); days, weeks and months follow the local date, so a day may last 23 or 25 hours.
bool same_calendar_period(CalendarUnit unit, int64_t then, int64_t now, const support::ZoneRules& zone);

// `every period [at clock]` from `start` (docs/language.md, `when:`): the first `clock` (micros
// after local midnight) on `zone`'s clock on or after `start`, in steps of `period` from start's
// local day. A period of whole days keeps to the local clock, so `*local` (when given) receives
// the run's local time, from which the next run is local_to_utc(*local + period); shorter periods
// step in elapsed time. The engine and `crm check` (W0106) share this definition.
bool schedule_keeps_local_clock(int64_t period);
int64_t first_schedule_run(const support::ZoneRules& zone, int64_t clock, int64_t period, int64_t start,
                           int64_t* local = nullptr);

struct Cap {
  int64_t count = 0;
  Period period;
};

// Probabilities are in millionths of one: 1,000,000 is certain.
inline constexpr int64_t kCertain = 1'000'000;

struct Action {
  bool send = false;
  uint32_t resource = 0;
  int32_t channel = -1;  // index into Program::channels
  std::string code;
  // `with chance P%`: the probability that a draw per (user, event, salt) gives the action at all.
  int64_t chance = kCertain;
  // The salt of this action's draws (chance and drawn amount): `salt "S"`, else "<strategy>.<resource>".
  std::string salt;
  int32_t arm = -1;      // `for arm A`: index into Strategy::arms; -1: every user the strategy treats
};

// An arm of an A/B/n split: the next `basis_points` of the 10,000 buckets, after the control
// group and the arms before it.
struct Arm {
  std::string name;
  int32_t basis_points = 0;
};

// A budget pool: campaign-wide counters shared by every strategy that draws from it. Its stock
// counts their deliveries, its budget their face values; the strategies' own limits apply too.
struct Pool {
  std::string name;
  bool has_budget = false;
  int64_t budget = 0;  // millionths of budget_currency
  std::string budget_currency;
  int64_t stock = -1;  // -1: unlimited
};

// `rollout: best of (A, B) by METRIC after D`: at `decide_at` (the strategy's start plus D) the
// engine compares the listed arms with the control group on the metric and, when one is better
// with an interval that excludes no uplift, sends its actions to the users in no arm and not in
// control from then on (docs/semantics.md, "Automatic roll-out"). Roi (incremental ROI, eligible
// by its spend-per-user interval) was added within format v15: the encoding is the same u32.
enum class RolloutMetric : uint8_t { Conversion = 0, SpendPerUser = 1, Roi = 2 };
struct Rollout {
  std::vector<int32_t> arms;  // indexes into Strategy::arms, as listed
  RolloutMetric metric = RolloutMetric::Conversion;
  int64_t after = 0;          // D, microseconds
  int64_t decide_at = 0;      // the strategy's start + D
  int32_t order_event = -1;   // the `Order` event: an order after a delivery is a conversion
  int32_t amount_field = -1;  // its Money `amount`, summed as spend (spend_per_user and roi need it); -1: none
  int64_t window = 0;         // attribution window after a user's first decision, microseconds
};

struct Strategy {
  std::string name, business;
  int64_t priority = 0;
  Trigger trigger = Trigger::OnEvent;
  uint32_t event = 0;             // OnEvent
  int64_t at = 0;                 // At: the time; Every: the first instant
  int64_t every = 0;              // Every: the period
  bool has_window = false;
  int64_t from = 0, to = 0;       // [from, to)
  int32_t who = -1, where = -1, trigger_if = -1;  // units
  int32_t who_batch = -1;                         // `who` compiled for the batch VM
  // Strategy index: when `where` or the trigger's `if` requires an event field to equal one of
  // a few constants, the engine looks the strategy up by that value instead of testing it.
  int32_t index_field = -1;
  std::vector<int64_t> index_values;
  std::vector<Action> actions;
  bool has_budget = false;
  int64_t budget = 0;             // millionths of budget_currency
  std::string budget_currency;
  int64_t stock = -1;             // -1: unlimited
  std::vector<Cap> per_user;
  int32_t control_basis_points = 0;  // 0..10000
  std::string split_salt;             // hashed with the user id; defaults to the strategy's name
  // The strategy's zone (`zone:`, else the program's `zone` declaration, else UTC): where its
  // calendar periods, quiet hours, schedule clock times and date built-ins are read. Resolved at
  // compile time so a compiled program does not depend on the host's time-zone database.
  support::ZoneRules zone;
  int64_t offset_at(int64_t utc) const { return zone.offset_at(utc); }
  bool paced = false;                 // `pacing even`: stock and budget spread over [from, to)
  std::string exclusive_group;        // strategies sharing it deliver to a user at most one of them
  std::string who_text, where_text, if_text;
  // `value:` (a unit, -1 without one): what one delivery is worth for this user and event, a
  // Decimal or Money amount in millionths. An event's candidates are decided highest value first
  // (then priority, then name). `value_currency` is empty for a Decimal value.
  int32_t value = -1;
  std::string value_currency, value_text;
  // Referral rewards (`grant X to event.referrer`): the trigger event's field holding the id of the
  // user who receives the strategy's actions; -1: the event's own user.
  int32_t recipient_field = -1;
  // A delayed trigger (`on E ..., after D unless C where c1 == event.e1 and ...`): the event arms
  // a timer that decides the strategy D later, unless the same user's event C whose fields c_i
  // equal the trigger's e_i comes first. delay 0: decided at the event.
  int64_t delay = 0;                                     // micros
  int32_t cancel_event = -1;                             // -1: nothing cancels
  std::vector<std::pair<uint32_t, uint32_t>> cancel_keys;  // (field of cancel_event, field of event)
  std::string cancel_text;                               // `after 2 hours unless Pay where ...`, for explain
  int32_t pool = -1;                  // `from pool NAME`: index into Program::pools
  std::vector<Arm> arms;              // `split: variants ...`: buckets after the control group
  bool has_rollout = false;           // `rollout: ...`
  Rollout rollout;
  // The arm of bucket b (0..9999): its index, -1 for the control group or no arm.
  int32_t arm_of(int64_t bucket) const {
    int64_t at = control_basis_points;
    for (size_t i = 0; i < arms.size(); ++i) {
      if (bucket >= at && bucket < at + arms[i].basis_points) return static_cast<int32_t>(i);
      at += arms[i].basis_points;
    }
    return -1;
  }
};

enum class ResourceKind : uint8_t { Coupon, RedEnvelope, Points, Push, Sms, Email };
constexpr bool is_message(ResourceKind k) { return k == ResourceKind::Push || k == ResourceKind::Sms || k == ResourceKind::Email; }

// One piece of a compiled message template (docs/language.md, "Message texts"): literal text, or
// a profile field (`{field}`, `{field|default}`) whose value is inserted literally when rendered.
struct TextPart {
  std::string literal;    // field < 0: the text itself
  int32_t field = -1;     // index into Program::profile
  bool has_fallback = false;
  std::string fallback;   // inserted when the user has no value for the field
};
const char* resource_kind_name(ResourceKind k);

struct Resource {
  std::string name;
  ResourceKind kind = ResourceKind::Coupon;
  int64_t discount = 0, threshold = 0;  // millionths
  std::string currency;
  int64_t points = 0;
  bool has_claim = false;
  int64_t claim_from = 0, claim_to = 0;
  int64_t use_after_claim = 0;  // micros; 0 when `use` is absent or a fixed window
  bool has_use_window = false;
  int64_t use_from = 0, use_to = 0;
  std::string text;  // message template as written (push / e-mail body, sms text)
  std::vector<TextPart> text_parts, title_parts;  // compiled templates (title: push title, e-mail subject)
  int64_t cost = 0;  // messages: millionths of `currency` per message (an SMS: per segment)
  // Usage restrictions checked at redemption, each a sorted list of allowed values (empty: any):
  // category, item, store, city.
  std::vector<std::string> restrictions[4];
  // Shared red envelopes: the second claim pays discount * (1 - decay), later ones the fixed value.
  int64_t decay = 0;             // millionths; 0: no decay
  int64_t fixed_from_third = 0;  // millionths of `currency`
  // Random rewards: the discount is drawn per grant (`discount` then holds the largest value,
  // what a budget must have room for). Range: draw_lo, draw_lo + draw_step, ..., draw_hi, equally
  // likely; table: draw_values with draw_weights (millionths summing to kCertain).
  enum class Draw : uint8_t { None, Range, Table } draw = Draw::None;
  int64_t draw_lo = 0, draw_hi = 0, draw_step = 0;
  std::vector<int64_t> draw_values, draw_weights;
  // `discount: P% up to CAP`: percent in millionths of 1 (100000 = 10%), discount is the cap.
  int64_t percent = 0;
  // `funded: {merchant: 70%, platform: 30%}`: who pays the subsidy (000 section 5), each share in
  // millionths of 1 (700000 = 70%), the shares summing to 1000000; empty: not declared. Only
  // reports read it (a subsidy split by funder); it changes no decision.
  struct Funder {
    std::string name;
    int64_t share = 0;
  };
  std::vector<Funder> funders;
};
inline constexpr const char* kRestrictionNames[4] = {"category", "item", "store", "city"};

struct Policy {
  std::string name, business;  // empty business: every strategy
  int64_t max_unredeemed = -1;
  std::string unredeemed_kind;  // coupons, red_envelopes, resources
  bool has_same_type = false;
  Period same_type;
  struct ChannelCap {
    int32_t channel = 0;
    Cap cap;
  };
  std::vector<ChannelCap> channel_caps;
  // Quiet hours for messages (`send`), in minutes of the day; may wrap past midnight.
  bool has_quiet = false;
  int32_t quiet_from = 0, quiet_to = 0;
  // Messages met by quiet hours are held until they end and sent then, unless `drop`.
  bool quiet_drop = false;
};

struct Program {
  std::vector<int64_t> constants;
  std::vector<std::string> strings;              // string id i is strings[i]
  // Constant collections: a set's elements sorted and distinct, a list's (lists[i] != 0) in
  // written order with duplicates. Every collection store starts with them as handles 0..n-1.
  std::vector<std::vector<int64_t>> sets;
  std::vector<uint8_t> lists;                    // per set: 1 = a list; shorter = the rest are sets
  std::vector<Field> profile;                    // 0 is `user`
  std::vector<EventType> events;
  std::vector<AggSpec> aggregates;
  std::vector<Unit> units;
  std::vector<Segment> segments;
  std::vector<Strategy> strategies;
  std::vector<Resource> resources;
  std::vector<Policy> policies;
  std::vector<Pool> pools;
  std::vector<std::string> channels;
  // The program's default zone (a module-level `zone "..."` declaration; UTC without one): for
  // segments and aggregate filters evaluated outside any strategy.
  support::ZoneRules zone;

  bool is_list(size_t set) const { return set < lists.size() && lists[set] != 0; }
  int find_event(const std::string& name) const;
  int find_profile_field(const std::string& name) const;
  // Total instructions: an upper bound on the work of evaluating every unit once.
  size_t cost_bound() const;
  // How far after an event (or a clock move) the program may compute an instant: its longest
  // delayed-trigger delay, plus its longest use period after a claim (a grant at the firing
  // expires then), plus two days when it has quiet hours (their end, across a daylight-saving
  // change). Events later than support::kLastInstant minus this are refused, so no timer, expiry
  // or release ever falls past the last instant crm can write and read back (docs/runtime.md).
  int64_t time_horizon() const;
  // support::kLastInstant - time_horizon(): the latest event time (and clock move) accepted.
  int64_t latest_event_time() const;
};

// Binary `.crmc` format: "CRMC", version, payload size, FNV-1a 64 checksum, payload.
std::string serialize(const Program& p);
// A payload wrapped in a current, checksummed header: what serialize() writes around it. For
// tests and the fuzz target, which forge payloads the checksum must not stop.
std::string seal(std::string_view payload);
// Returns false with a message for foreign, truncated, corrupt or unverifiable input.
bool deserialize(const std::string& bytes, Program& out, std::string& error);
// The checks a loaded program must pass before the VM and engine may run it: every register,
// constant, aggregate, set, unit, event, field, resource and channel index in range, every jump
// forward and inside its unit, builtins called with the arguments they read, batch units
// jump-free, and every value the engine divides by, loops on or indexes with in range
// (periods, schedules, windows, caps, control shares, quiet hours, zone offsets).
bool verify(const Program& p, std::string& error);

std::string disassemble(const Program& p);
// The same content as one JSON document (`crm compile --disasm --format json`).
std::string disassemble_json(const Program& p);

}  // namespace crm::bytecode
