// jit_ops.cc - what JIT-compiled code calls: bytecode/operations.h and the VM's context reads,
// as extern "C" functions. Not compiled into the library: clang-16 compiles it to LLVM bitcode
// (runtime/jit/CMakeLists.txt), which every JIT module links and inlines. So native code
// computes with the very functions the checker's folding and both VMs use; the translator
// (jit.cc) only sequences calls to these.
//
// Conventions: a function that can fault returns its ops::Fault as uint8_t (0 = none) and
// writes its value through `out`; the others return the value. What cannot be inlined (string
// interning, collection lookups, zone rules, the builtins that need them) is a call into the
// host (crm_jit_host_*, defined in jit.cc and bound to the JIT by address).
#include <cstddef>
#include <cstdint>

#include "bytecode/builtins.h"
#include "bytecode/operations.h"
#include "runtime/vm/batch_vm.h"
#include "runtime/vm/vm.h"

using namespace crm;
namespace ops = crm::bytecode::ops;
using Fault = ops::Fault;

#define OP extern "C" __attribute__((always_inline, used)) inline

extern "C" {
// Host functions (jit.cc).
uint8_t crm_jit_host_call(uint32_t overload, const int64_t* args, const vm::Context* ctx, int64_t* out);
int64_t crm_jit_host_in_value_set(const vm::Context* ctx, int64_t v, int64_t handle);
uint8_t crm_jit_host_in_value_set_dec(const vm::Context* ctx, int64_t v, int64_t handle, int64_t* out);
int64_t crm_jit_host_concat(const vm::Context* ctx, int64_t a, int64_t b);
}

static inline uint8_t f8(Fault f) { return static_cast<uint8_t>(f); }

// ---- the context (scalar VM: runtime/vm/vm.cc) ------------------------------------------------

OP uint8_t crm_jit_load_profile(const vm::Context* c, uint32_t f, uint8_t required, int64_t* out) {
  bool has = f < c->profile_size && (!c->profile_present || c->profile_present[f]);
  if (!has && required) return f8(Fault::MissingProfileField);
  *out = has ? c->profile[f] : 0;
  return 0;
}
OP int64_t crm_jit_has_profile(const vm::Context* c, uint32_t f) {
  return f < c->profile_size && (!c->profile_present || c->profile_present[f]);
}
// What straight-line scalar code (jit.cc, Translator::flat) reads once per call: whether every
// field it reads is inside the row, the values, and the presence bytes (`ones` when the
// context has none: every field present).
OP uint8_t crm_jit_profile_covers(const vm::Context* c, uint32_t max_field) { return c->profile_size > max_field; }
OP const int64_t* crm_jit_profile_values(const vm::Context* c) { return c->profile; }
OP const uint8_t* crm_jit_profile_presence(const vm::Context* c, const uint8_t* ones) {
  return c->profile_present ? c->profile_present : ones;
}
// A clause dispatcher (jit.cc, Translator::clauses) sets the zone of each strategy's clauses
// before they run, from the table the engine passes: what Executor::run_clauses does.
OP void crm_jit_set_zone(vm::Context* c, const support::ZoneRules* const* zones, uint64_t i) { c->zone = zones[i]; }
OP int64_t crm_jit_load_event(const vm::Context* c, uint32_t f) {
  bool has = f < c->event_size && (!c->event_present || c->event_present[f]);
  return has ? c->event[f] : 0;
}
OP int64_t crm_jit_has_event(const vm::Context* c, uint32_t f) {
  return f < c->event_size && (!c->event_present || c->event_present[f]);
}
OP int64_t crm_jit_now(const vm::Context* c) { return c->now; }
// LOAD_AGG / HAS_AGG: the last aggregate read is kept (cur_*), so an optional aggregate read
// twice asks the source once, as in the VM.
OP uint8_t crm_jit_agg(const vm::Context* c, uint32_t g, uint8_t has_op, uint32_t* cur_g, int64_t* cur_v, uint8_t* cur_s,
                       int64_t* out) {
  if (g != *cur_g) {
    bytecode::AggValue a = c->aggregates ? c->aggregates->aggregate(g, c->now) : bytecode::AggValue{};
    *cur_v = a.value;
    *cur_s = static_cast<uint8_t>(a.state);
    *cur_g = g;
  }
  auto state = static_cast<bytecode::AggValue::State>(*cur_s);
  if (state == bytecode::AggValue::State::Overflow) return f8(Fault::Overflow);
  bool present = state == bytecode::AggValue::State::Present;
  *out = has_op ? present : present ? *cur_v : 0;
  return 0;
}

// ---- operations (bytecode/operations.h) ------------------------------------------------------

OP int64_t crm_jit_not(int64_t a) { return ops::logical_not(a); }
OP int64_t crm_jit_and(int64_t a, int64_t b) { return ops::logical_and(a, b); }
OP int64_t crm_jit_or(int64_t a, int64_t b) { return ops::logical_or(a, b); }
OP int64_t crm_jit_select(int64_t c, int64_t a, int64_t b) { return ops::select(c, a, b); }
OP int64_t crm_jit_eq(int64_t a, int64_t b) { return ops::eq(a, b); }
OP int64_t crm_jit_ne(int64_t a, int64_t b) { return ops::ne(a, b); }
OP int64_t crm_jit_lt(int64_t a, int64_t b) { return ops::lt(a, b); }
OP int64_t crm_jit_le(int64_t a, int64_t b) { return ops::le(a, b); }
OP int64_t crm_jit_gt(int64_t a, int64_t b) { return ops::gt(a, b); }
OP int64_t crm_jit_ge(int64_t a, int64_t b) { return ops::ge(a, b); }
OP int64_t crm_jit_str_lt(const vm::Context* c, int64_t a, int64_t b) { return ops::str_lt(c->strings->text(a), c->strings->text(b)); }
OP int64_t crm_jit_str_le(const vm::Context* c, int64_t a, int64_t b) { return ops::str_le(c->strings->text(a), c->strings->text(b)); }
OP uint8_t crm_jit_add(int64_t a, int64_t b, int64_t* out) { return f8(ops::add(a, b, *out)); }
OP uint8_t crm_jit_sub(int64_t a, int64_t b, int64_t* out) { return f8(ops::sub(a, b, *out)); }
OP uint8_t crm_jit_mul_int(int64_t a, int64_t b, int64_t* out) { return f8(ops::mul_int(a, b, *out)); }
OP uint8_t crm_jit_mul_fix(int64_t a, int64_t b, int64_t* out) { return f8(ops::mul_fix(a, b, *out)); }
OP uint8_t crm_jit_div_fix(int64_t a, int64_t b, int64_t* out) { return f8(ops::div_fix(a, b, *out)); }
OP uint8_t crm_jit_neg(int64_t a, int64_t* out) { return f8(ops::neg(a, *out)); }
OP uint8_t crm_jit_int_to_fix(int64_t a, int64_t* out) { return f8(ops::int_to_fix(a, *out)); }
OP uint8_t crm_jit_time_add(int64_t a, int64_t b, int64_t* out) { return f8(ops::time_add(a, b, *out)); }
OP uint8_t crm_jit_date_add(int64_t a, int64_t b, int64_t* out) { return f8(ops::date_add(a, b, *out)); }
OP uint8_t crm_jit_date_diff(int64_t a, int64_t b, int64_t* out) { return f8(ops::date_diff(a, b, *out)); }
OP int64_t crm_jit_in_set(const int64_t* set, uint64_t n, int64_t v) { return ops::in_sorted(set, set + n, v); }

// CALL: the overloads that need no host state are computed here (and inlined with the
// overload id constant); the rest go to the VM's own call_builtin through the host.
OP uint8_t crm_jit_call(uint32_t overload, const int64_t* a, const vm::Context* c, int64_t* out) {
  using bytecode::Overload;
  switch (static_cast<Overload>(overload)) {
    case Overload::Now: *out = c->now; return 0;
    case Overload::WeekdayOfDate: *out = ops::weekday_of_date(a[0]); return 0;
    case Overload::DaysOfDuration: *out = ops::days(a[0]); return 0;
    case Overload::DecimalOfMoney: *out = ops::decimal_of_money(a[0]); return 0;
    case Overload::DecimalOfInt: return f8(ops::decimal_of_int(a[0], *out));
    case Overload::AbsInt:
    case Overload::AbsDecimal:
    case Overload::AbsMoney:
    case Overload::AbsDuration: return f8(ops::abs(a[0], *out));
    default: return crm_jit_host_call(overload, a, c, out);
  }
}

// ---- the batch input (batch VM: runtime/vm/batch_vm.cc), one row -----------------------------

// LOAD_PROFILE / HAS_PROFILE of row `row`; returns the lane's error bit.
OP uint8_t crm_jit_batch_profile(const vm::BatchInput* in, uint32_t f, uint8_t required, uint8_t has_op, uint64_t row,
                                 int64_t* out) {
  if (f >= in->column_count || !in->columns[f].data) {
    *out = 0;  // no column: no user has a value (a required field faults)
    return required && !has_op;
  }
  const vm::Column& col = in->columns[f];
  bool present = !col.present || col.present[row];
  if (has_op) {
    *out = present;
    return 0;
  }
  int64_t v = col.width == 4 ? static_cast<const int32_t*>(col.data)[row] : static_cast<const int64_t*>(col.data)[row];
  *out = present ? v : 0;
  return !present && required;
}
// A column's data and presence, read once per block by code specialised for the columns'
// layout (Jit::run_batch): then each row is a plain load.
OP const void* crm_jit_batch_col_data(const vm::BatchInput* in, uint32_t f) { return in->columns[f].data; }
OP const uint8_t* crm_jit_batch_col_present(const vm::BatchInput* in, uint32_t f) { return in->columns[f].present; }

// Aggregate g of row `row` (the translator asks once per row and aggregate, as the batch VM
// does per block); then LOAD_AGG / HAS_AGG pick from it, an overflow being the lane's error.
OP void crm_jit_batch_agg(const vm::BatchInput* in, uint64_t row, uint32_t g, int64_t* value, uint8_t* state) {
  bytecode::AggValue a = in->aggregate ? in->aggregate(in->aggregate_state, row, g, in->now) : bytecode::AggValue{};
  *value = a.value;
  *state = static_cast<uint8_t>(a.state);
}
OP uint8_t crm_jit_batch_agg_pick(int64_t value, uint8_t state, uint8_t has_op, int64_t* out) {
  bool present = static_cast<bytecode::AggValue::State>(state) == bytecode::AggValue::State::Present;
  *out = has_op ? present : present ? value : 0;
  return static_cast<bytecode::AggValue::State>(state) == bytecode::AggValue::State::Overflow;
}
