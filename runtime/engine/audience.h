// audience.h - audience: how many known users each segment and each strategy's `who` selects at
// one instant, evaluated over columns of the profile by the executor's batch path.
//
// An event strategy's `who:` may read its trigger event. An audience instant stands for an event
// of that type arriving then, for each user: its `user` is the user being counted and its `time`
// the instant. Its other fields (`id` and the declared ones, with defaults or optional) are what
// an event will carry, which no audience knows: a `who:` that reads one is not counted at all
// (kNotCounted), never evaluated against made-up values (docs/semantics.md, "Audiences").
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/decision.h"
#include "runtime/engine/event.h"
#include "runtime/engine/evaluator.h"
#include "runtime/engine/user_state.h"

namespace crm::engine {

// The count of a strategy whose `who:` reads a trigger event field an audience cannot supply.
constexpr int64_t kNotCounted = -1;

// The first field of strategy s's trigger event, other than `user` and `time`, that its `who:`
// reads; -1 when an audience can evaluate it (a scheduled strategy's never reads one).
int32_t unknown_trigger_field(const bytecode::Program& program, const bytecode::Strategy& s);
// Its name ("" for -1), for messages.
std::string unknown_trigger_field_name(const bytecode::Program& program, const bytecode::Strategy& s);
// Whether s's `who:` reads its trigger event at all (then it is evaluated user by user with
// audience_event, not over profile columns).
bool who_reads_trigger(const bytecode::Program& program, const bytecode::Strategy& s);
// The event an audience at `at` gives strategy s for a user (`user`: the interned id, as the
// profile's field 0 holds it; `user_text` its text): `user` and `time` present, nothing else.
void audience_event(const bytecode::Program& program, const bytecode::Strategy& s, int64_t user,
                    std::string_view user_text, int64_t at, Event& out);

// Counts per segment and per strategy `who`, in program order, over users in first-seen order;
// kNotCounted for a strategy with unknown_trigger_field >= 0. Faulted rows count as no match, in
// stats (by fault text, from the scalar run).
std::vector<std::pair<std::string, int64_t>> audience_counts(const bytecode::Program& program, Users& users, Evaluator& eval,
                                                             vm::StringPool& strings, const vm::CollectionStore& collections,
                                                             Stats& stats, int64_t at);

}  // namespace crm::engine
