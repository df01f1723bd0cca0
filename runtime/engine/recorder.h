// recorder.h - the recorder: the decision stream and the ledger. It renders each decision as
// the JSON line callers report, appends every decided work unit (an event, or a scheduled
// instant) with its decisions to the attached state store, remembers where each unit's
// decisions are so a repeated unit is answered from the ledger (idempotent event ids, restarts),
// and checks that the ledger's program may be continued by this one ("Program identity").
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/decision.h"
#include "runtime/engine/event_id_window.h"
#include "runtime/state/state_store.h"
#include "support/fingerprint_table.h"
#include "support/string_map.h"

namespace crm::engine {

class Recorder {
 public:
  explicit Recorder(const bytecode::Program& program) : p_(program) {
    set_dedup_window(kDefaultDedupWindow);
    render_constant_runs();
  }

  // Where each completed unit's decisions are in the store's ledger, for idempotent replays.
  // `applied`: an event unit whose event was folded into history in this run (a second arrival
  // of its id is a duplicate); units recorded by an earlier run are replayed once, then applied.
  // `decided` is false only in the slot of the unit being decided now. `more`: read back from a
  // ledger where the id names several units (an id used again after the dedup window forgot
  // it); the record in restored_ then stands for all of them, each is in several_ (see
  // event_slot), and a record in a generation that was taken from them has it too.
  struct UnitRecord {
    int64_t first;   // ledger position of its first decision
    uint32_t count;  // how many
    bool decided, applied;
    bool more = false;
    // Read back from a ledger where the id names several units recorded before schema version 8
    // (which cannot be told apart): they stay one.
    bool merged = false;
  };

  // Loads the store's ledger and checks its program. `on_store` is called once the store is
  // taken (before the ledger is read back), `on_entry` with each recorded decision, in ledger
  // order, after it is checked to belong to a completed unit.
  bool attach(state::StateStore* store, const std::function<void(state::StateStore&)>& on_store,
              const std::function<void(const state::LedgerEntry&)>& on_entry, std::string& error);
  state::StateStore* store() const { return store_; }
  // The latest event time of the attached ledger's units (events that decided nothing too;
  // INT64_MIN when none recorded one: an empty ledger, or schema < 8).
  int64_t latest_unit_at() const { return latest_unit_at_; }
  void allow_program_change(bool allow) { allow_program_change_ = allow; }
  const std::vector<std::string>& notices() const { return notices_; }

  // The slot of event `id` at time `t`: found, or made undecided for the unit being decided
  // now (null without a store: no id is remembered). forget() drops a slot made for an event
  // refused. An id the ledger holds in several units (read back at attach; an id used again
  // after the dedup window): a use not remembered in the window takes the not yet taken unit
  // of the id whose event time is `t`, else the nearest one within the window of `t` (a retry
  // with another timestamp), else the id's unit recorded before schema version 8 (no time; the
  // id's first use); none: it is decided afresh. A line whose id is remembered in the window is
  // a retry, unless its time is exactly that of one of the id's units not taken yet (lines
  // redelivered in another order): it takes that one.
  // The slot of a unit being decided is the recorder's own until record() remembers it (so it
  // is not in the index yet); the record of a found unit may be a copy read back from the store,
  // valid until the next call of event_slot or find_event.
  UnitRecord* event_slot(const std::string& id, int64_t t);
  const UnitRecord* find_event(const std::string& id);
  void forget_event(const std::string& id);
  // Tests: the hash the index of event ids files them under (null: the default), to force
  // fingerprint collisions. Set before the first event.
  void set_id_hash_for_testing(uint64_t (*hash)(std::string_view)) { id_hash_ = hash; }

  // The dedup window H (docs/semantics.md, "Event order"): the ids of decided events are
  // remembered while their time is at least the watermark minus H, in generations of event
  // time (each spans max(H/2, 1 s)); prune(W) drops the generations wholly before W - H, so
  // memory holds about H to 1.5 H of event ids, whatever the length of the stream.
  // kForever keeps every id (the index then grows by one entry per event).
  static constexpr int64_t kForever = DedupRule::kForever;
  static constexpr int64_t kDefaultDedupWindow = DedupRule::kDefaultWindow;  // 7 days
  void set_dedup_window(int64_t micros);
  int64_t dedup_window() const { return window_; }
  void prune(int64_t watermark);
  // Event ids remembered now: the generations', and those read from the ledger at attach that
  // the stream has not met again yet.
  size_t remembered_events() const;
  // Appends a recorded unit's decisions (read back from the store) to `out`.
  bool report(const UnitRecord& r, std::vector<Decision>& out, std::string& error);
  // Reports the decisions of a scheduled run decided earlier (this run or a previous one); false if none.
  // Also the firing of a timer (kind Timer), decided before a restart: a timer id the ledger
  // holds in several units (a trigger id used again) gives them in ledger order, one a call.
  bool replay_schedule(const std::string& unit, std::vector<Decision>& out,
                       state::UnitKind kind = state::UnitKind::Schedule);
  // The recorded parts of scheduled run `unit` (Engine::set_part_sink), as the users decided
  // through each (the number after `#` in its id), in ledger order; empty when none.
  const std::vector<uint64_t>& schedule_parts(const std::string& unit) const {
    static const std::vector<uint64_t> none;
    auto it = schedule_parts_.find(unit);
    return it == schedule_parts_.end() ? none : it->second;
  }
  // How many units of this kind and id were completed (a timer that fired before a restart:
  // more than one when its trigger id was used again).
  size_t completed(state::UnitKind kind, const std::string& unit) {
    const UnitRecord* r = units_of(kind).find(unit);
    if (!r || !r->decided) return 0;
    // Units of the id that do not record where they start (schema < 8) stay one: every timer
    // armed with the id is taken as fired, as before.
    if (!r->more) return r->merged ? SIZE_MAX : 1;
    auto it = several_[size_t(kind)].find(unit);
    return it == several_[size_t(kind)].end() ? 1 : it->second.size();
  }
  // Records a freshly decided unit (decisions out[first..]) in the store. Each decision's JSON
  // is rendered once, into the recorder's text buffer (Decision::text_epoch, text_at, text_len
  // say where), and the store is given rows of views (state::LedgerRow): the program's names,
  // the decisions' strings and that buffer, valid for the store's append_rows call; nothing is
  // allocated per decision once the buffers have grown. decision_json / append_decision_json
  // then give the recorded text while the buffer keeps it (see kTextReuse), else render it again.
  // `slot`: the unit's entry when the caller already has it.
  bool record(const state::Unit& unit, UnitRecord* slot, std::vector<Decision>& out, size_t first, std::string& error);
  // Records decisions made outside the engine (Engine::record_decided).
  bool record_decided(const state::Unit& unit, std::vector<Decision>& decisions, std::string& error);
  bool commit(std::string& error);
  // Also hand the JSON of every freshly recorded decision to `sink` (null: stop): how a hot
  // reload learns what the new program decided while it was given the old input again.
  void collect_fresh(std::vector<std::string>* sink) { fresh_ = sink; }
  // Units already recorded are not read back (a hot reload gives the new engine the old input
  // only to rebuild its state: their decisions were reported before).
  void quiet_replays(bool quiet) { quiet_ = quiet; }

  std::string decision_json(const Decision& d) const;
  // The same text appended to `out` (a decision replayed from the ledger: its recorded text).
  // head_end: set to where the members of the head end in `out` (state::append_decision_head),
  // when the record is rendered here rather than copied.
  void append_decision_json(std::string& out, const Decision& d, size_t* head_end = nullptr) const;
  const std::string& store_error() const { return store_error_; }
  // True while the store has not failed; else err = its (sticky) error, and false.
  bool ok(std::string& err) const { return store_error_.empty() || (err = store_error_, false); }
  size_t pending_units() const { return pending_units_; }
  size_t decided_units() const { return decided_units_; }

 private:
  bool check_program(state::StateStore& store, size_t recorded_units, std::string& error);
  // Event units: restored_ (at attach), the generations' only through event_slot/find_event.
  support::StringMap<UnitRecord>& units_of(state::UnitKind k) {
    return k == state::UnitKind::Event ? restored_ : k == state::UnitKind::Timer ? timer_units_ : schedule_units_;
  }
  // Ids of events decided in this run (or met again after a restart) whose time is in
  // [start, start + width_). With a store that finds units by handle (StateStore::find_unit),
  // the units decided in this run are kept as a fingerprint of the id and the unit's handle
  // (`units`, 8 bytes a slot): a fingerprint found is confirmed by reading the unit back and
  // comparing its id, so a duplicate is always found and an id whose fingerprint collides is not
  // taken for another. `ids` (the id's text and its record) holds the units read back at attach
  // and met again, and every unit with a store that cannot find units by handle.
  struct Generation {
    int64_t start;
    support::StringMap<UnitRecord> ids;
    support::FingerprintTable units;
  };
  // The unit of event `id` (h: StringMap::hash, f: the index's hash) in `g`, or null.
  UnitRecord* find_in(Generation& g, const std::string& id, uint64_t h, uint64_t f);
  // Whether the unit at ledger handle `handle` is event `id` (read back into probe_, its row
  // count into `count`); false with `err` set when the store cannot be read.
  bool unit_is(uint64_t handle, const std::string& id, uint32_t& count, std::string& err);
  // Remembers the event unit `id` just recorded as `r` (the store's latest unit) at time `t`;
  // `absent`: the caller knows no generation has it (event_slot found none).
  void remember(const std::string& id, uint64_t h, uint64_t f, int64_t t, const UnitRecord& r, bool absent);
  uint64_t id_hash(const std::string& id, uint64_t h) const { return id_hash_ ? id_hash_(id) : h; }
  // Takes for a use of `id` at `t` the unit read back at attach that event_slot says (only one
  // of time `t` when `exact`): false when none is left for it.
  bool take_unit(const std::string& id, uint64_t h, int64_t t, bool exact, UnitRecord& out);
  Generation& generation(int64_t t);

  // The runs of a decision's text that depend only on the program (state::append_head_strategy,
  // append_head_outcome, append_head_action; `,"currency":..` and `,"pool":..`), rendered once
  // here rather than escaped again for every decision (they were most of a record's rendering).
  void render_constant_runs();
  struct ConstantRuns {
    std::vector<std::string> strategy;                 // per strategy
    std::vector<std::vector<std::string>> action;      // per strategy, per action
    std::string no_strategy, no_action;                // a redemption naming no grant; no action
    std::vector<std::vector<std::string>> outcome;     // per outcome, per reason
    std::vector<std::string> currency;                 // per resource
    std::vector<std::string> pool;                     // per strategy ("" without a pool)
  } runs_;

  const bytecode::Program& p_;
  state::StateStore* store_ = nullptr;
  int64_t latest_unit_at_ = INT64_MIN;
  std::string store_error_;
  size_t pending_units_ = 0;
  size_t decided_units_ = 0;
  // Completed units by id, one map per key space (state::UnitKind): an event id never names a
  // scheduled run, whatever its text. Maps that allocate nothing per id (support/string_map.h).
  // Event ids: generations by event time, oldest first (at most a few: they span the window),
  // and the ids the ledger held at attach (restored_), whose times the ledger does not keep: a
  // restart replays its input from the start, and each restored id met again is copied into
  // its time's generation; restored_ is freed as a whole once all of them were met.
  std::deque<Generation> generations_;
  support::StringMap<UnitRecord> restored_, schedule_units_, timer_units_;
  // Ids the ledger holds in several units of one kind (by UnitKind; units with a recorded start,
  // schema version 8): each unit, in ledger order, with its event's time and whether a use took it.
  // Few or none: only an id used again after the dedup window forgot it.
  struct Several {
    UnitRecord record;
    int64_t at;  // state::Unit::kNoTime: recorded before schema version 8
    bool taken = false;
  };
  std::unordered_map<std::string, std::vector<Several>> several_[3];
  size_t restored_unmet_ = 0;  // event units read back at attach that the stream has not met yet
  int64_t window_ = kDefaultDedupWindow, width_ = 0;
  int64_t latest_ = INT64_MIN;  // the latest event time given to event_slot
  uint64_t (*id_hash_)(std::string_view) = nullptr;
  // event_slot's answers that are not in a map: the slot of the event being decided (with its
  // id's hashes and time, for record()), and a unit read back through a fingerprint.
  UnitRecord pending_{}, found_{};
  uint64_t pending_h_ = 0, pending_f_ = 0;
  int64_t pending_t_ = 0;
  state::Unit probe_;  // find_in(): the unit read back
  // Parts of scheduled runs read at attach, by the run's id (a few per run of a large audience).
  std::unordered_map<std::string, std::vector<uint64_t>> schedule_parts_;
  bool allow_program_change_ = false;
  std::vector<std::string> notices_;
  std::vector<state::LedgerEntry> replay_;
  std::vector<std::string>* fresh_ = nullptr;
  bool quiet_ = false;
  // The rendered decisions of the units recorded lately, and the epoch that names its content.
  // record() starts a new epoch (emptying it, and every decision that points into it renders
  // again) once it holds kTextReuse bytes, so it stays small and warm, whatever the caller keeps.
  static constexpr size_t kTextReuse = 64 * 1024;
  std::string text_;
  uint64_t epoch_ = 0;
  std::vector<state::LedgerRow> rows_;  // record(): the unit's rows, reused
  std::string_view recorded_text(const Decision& d) const {
    return d.text_epoch && d.text_epoch == epoch_ ? std::string_view(text_).substr(d.text_at, d.text_len) : std::string_view();
  }
};

}  // namespace crm::engine
