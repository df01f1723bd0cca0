// batch_vm.cc - block-at-a-time interpretation of jump-free units.
//
// Every loop runs over exactly kBlock lanes (a short last block is padded), so the trip counts
// are compile-time constants the vectoriser handles at any optimisation level; lanes past the
// real rows are computed and ignored.
//
// Faults keep the scalar VM's short-circuit semantics exactly: every register has an error bit
// per lane; arithmetic ORs its operands' bits, while `and`, `or` and `if` take the right
// operand's bit only in lanes where the scalar VM would have evaluated it. So
// `x != 0 and 10 / x > 1` is false, not a fault, where x is 0 - in both VMs.
#include "runtime/vm/batch_vm.h"

#include <algorithm>
#include <cstring>

#include "bytecode/operations.h"

namespace crm::vm {

using bytecode::Op;
namespace ops = bytecode::ops;

// Built twice, for AVX2 and for baseline x86-64, and picked at load time: 64-bit lane compares
// only vectorise with SSE4.2/AVX2, and the binary must still run on any x86-64.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
BatchResult BatchVM::run(uint32_t unit_index, const BatchInput& in, std::vector<int64_t>* values, uint64_t* selected,
                         uint64_t* faulted) const {
  const bytecode::Unit& unit = p_.units[unit_index];
  size_t nregs = std::max<uint16_t>(unit.registers, 1);
  std::vector<int64_t> regs(nregs * kBlock);
  std::vector<uint8_t> errs(nregs * kBlock);
  // Per register: may any lane of this block carry an error bit? Most registers never can, and
  // skipping their error loops halves the work of a typical segment.
  std::vector<uint8_t> dirty(nregs, 0);
  std::vector<uint8_t> const_only(nregs, 1);
  for (const auto& ins : unit.code)
    if (ins.op != Op::LOAD_CONST && ins.op != Op::RET && ins.op != Op::RET_OPT && ins.op != Op::JUMP && ins.op != Op::JUMP_IF_FALSE &&
        ins.op != Op::JUMP_IF_TRUE)
      const_only[ins.d] = 0;
  // Aggregates read in this block, per aggregate: an optional one is read twice (LOAD_AGG for
  // the value, HAS_AGG for the presence) but asked of the source once per row.
  std::vector<std::vector<bytecode::AggValue>> agg_cache;
  std::vector<size_t> agg_block;
  std::vector<int64_t> ret(kBlock);
  BatchResult result;
  if (values) values->assign(in.rows, 0);
  Context scalar;  // for per-lane builtins
  scalar.now = in.now;
  scalar.zone = in.zone;
  scalar.strings = in.strings;
  scalar.collections = in.collections;

  for (size_t base = 0; base < in.rows; base += kBlock) {
    size_t n = std::min(kBlock, in.rows - base);
    const int64_t* out = nullptr;
    const uint8_t* out_err = nullptr;
    for (const bytecode::Instr& ins : unit.code) {
      int64_t* d = regs.data() + size_t(ins.d) * kBlock;
      const int64_t* a = regs.data() + size_t(ins.a) * kBlock;
      const int64_t* b = regs.data() + size_t(ins.b) * kBlock;
      const int64_t* c = regs.data() + size_t(ins.c) * kBlock;
      uint8_t* de = errs.data() + size_t(ins.d) * kBlock;
      const uint8_t* ae = errs.data() + size_t(ins.a) * kBlock;
      const uint8_t* be = errs.data() + size_t(ins.b) * kBlock;
      const uint8_t* ce = errs.data() + size_t(ins.c) * kBlock;
      // Operations that neither read registers nor fault start from clean error bits.
      auto clean = [&] { dirty[ins.d] = 0; };
      // Called before an operation that may fault (which then sets bits in `err`).
      auto faulting = [&] {
        if (!dirty[ins.d]) std::memset(de, 0, kBlock);
        dirty[ins.d] = 1;
      };
      auto unary = [&] {
        if (dirty[ins.a]) std::memmove(de, ae, kBlock);
        dirty[ins.d] = dirty[ins.a];
      };
      auto binary = [&] {
        uint8_t da = dirty[ins.a], db = dirty[ins.b];
        if (da && db) for (size_t i = 0; i < kBlock; ++i) de[i] = ae[i] | be[i];
        else if (da) std::memmove(de, ae, kBlock);
        else if (db) std::memmove(de, be, kBlock);
        dirty[ins.d] = da | db;
      };
      uint8_t* err = de;
      switch (ins.op) {
        case Op::LOAD_CONST: {
          clean();
          // Registers that only ever hold a constant keep it from block to block.
          if (base != 0 && const_only[ins.d]) break;
          int64_t k = p_.constants[ins.a];
          for (size_t i = 0; i < kBlock; ++i) d[i] = k;
          break;
        }
        case Op::LOAD_PROFILE:
        case Op::HAS_PROFILE: {
          clean();
          bool has_op = ins.op == Op::HAS_PROFILE;
          bool required = ins.a < p_.profile.size() && !p_.profile[ins.a].optional;
          if (ins.a >= in.column_count || !in.columns[ins.a].data) {
            // No column: no user has a value (a required field faults every lane).
            for (size_t i = 0; i < kBlock; ++i) d[i] = 0;
            if (required && !has_op) {
              for (size_t i = 0; i < kBlock; ++i) de[i] = 1;
              dirty[ins.d] = 1;
            }
            break;
          }
          const Column& col = in.columns[ins.a];
          const uint8_t* pres = col.present ? col.present + base : nullptr;
          if (has_op) {
            if (pres) for (size_t i = 0; i < n; ++i) d[i] = pres[i];
            else for (size_t i = 0; i < n; ++i) d[i] = 1;
            for (size_t i = n; i < kBlock; ++i) d[i] = 0;
            break;
          }
          if (col.width == 4) {
            const int32_t* src = static_cast<const int32_t*>(col.data) + base;
            if (n == kBlock) for (size_t i = 0; i < kBlock; ++i) d[i] = src[i];
            else for (size_t i = 0; i < n; ++i) d[i] = src[i];
          } else {
            std::memcpy(d, static_cast<const int64_t*>(col.data) + base, n * sizeof(int64_t));
          }
          for (size_t i = n; i < kBlock; ++i) d[i] = 0;
          if (pres) {
            // Absent values read as 0; a missing required field faults the lane (see
            // LOAD_PROFILE in vm.cc).
            uint8_t any = 0;
            for (size_t i = 0; i < n; ++i) any |= !pres[i];
            if (any) {
              for (size_t i = 0; i < n; ++i) d[i] = pres[i] ? d[i] : 0;
              if (required) {
                for (size_t i = 0; i < n; ++i) de[i] = !pres[i];
                for (size_t i = n; i < kBlock; ++i) de[i] = 0;
                dirty[ins.d] = 1;
              }
            }
          }
          break;
        }
        case Op::LOAD_EVENT:
        case Op::HAS_EVENT:
          // Batches have no trigger event (an audience evaluates a `who:` that reads one user
          // by user, runtime/engine/audience.h): a read faults every lane, never reads 0 (which
          // would be "", 0 or the program's first collection).
          for (size_t i = 0; i < kBlock; ++i) d[i] = 0;
          for (size_t i = 0; i < kBlock; ++i) de[i] = i < n;
          dirty[ins.d] = 1;
          break;
        case Op::LOAD_AGG:
        case Op::HAS_AGG: {
          clean();
          if (!in.aggregate) {
            for (size_t i = 0; i < kBlock; ++i) d[i] = 0;
            break;
          }
          if (agg_cache.size() <= ins.a) {
            agg_cache.resize(ins.a + 1);
            agg_block.resize(ins.a + 1, SIZE_MAX);
          }
          auto& cache = agg_cache[ins.a];
          if (agg_block[ins.a] != base) {
            cache.resize(kBlock);
            for (size_t i = 0; i < n; ++i) cache[i] = in.aggregate(in.aggregate_state, base + i, ins.a, in.now);
            agg_block[ins.a] = base;
          }
          uint8_t any = 0;
          for (size_t i = 0; i < n; ++i) {
            d[i] = ins.op == Op::HAS_AGG ? cache[i].present() : cache[i].present() ? cache[i].value : 0;
            any |= cache[i].state == bytecode::AggValue::State::Overflow;
          }
          for (size_t i = n; i < kBlock; ++i) d[i] = 0;
          if (any) {
            for (size_t i = 0; i < kBlock; ++i) de[i] = i < n && cache[i].state == bytecode::AggValue::State::Overflow;
            dirty[ins.d] = 1;
          }
          break;
        }
        case Op::LOAD_NOW:
          clean();
          for (size_t i = 0; i < kBlock; ++i) d[i] = in.now;
          break;
        case Op::MOV: unary(); std::memmove(d, a, kBlock * sizeof(int64_t)); break;
        case Op::NOT: unary(); for (size_t i = 0; i < kBlock; ++i) d[i] = ops::logical_not(a[i]); break;
        case Op::AND:
          binary();
          for (size_t i = 0; i < kBlock; ++i) d[i] = ops::logical_and(a[i], b[i]);
          break;
        case Op::OR:
          binary();
          for (size_t i = 0; i < kBlock; ++i) d[i] = ops::logical_or(a[i], b[i]);
          break;
        case Op::AND_THEN:
          if (dirty[ins.a] || dirty[ins.b]) {
            uint8_t da = dirty[ins.a], db = dirty[ins.b];
            for (size_t i = 0; i < kBlock; ++i) de[i] = (da & ae[i]) | ((a[i] != 0) & (db & be[i]));
            dirty[ins.d] = 1;
          } else {
            dirty[ins.d] = 0;
          }
          for (size_t i = 0; i < kBlock; ++i) d[i] = ops::logical_and(a[i], b[i]);
          break;
        case Op::OR_ELSE:
          if (dirty[ins.a] || dirty[ins.b]) {
            uint8_t da = dirty[ins.a], db = dirty[ins.b];
            for (size_t i = 0; i < kBlock; ++i) de[i] = (da & ae[i]) | ((a[i] == 0) & (db & be[i]));
            dirty[ins.d] = 1;
          } else {
            dirty[ins.d] = 0;
          }
          for (size_t i = 0; i < kBlock; ++i) d[i] = ops::logical_or(a[i], b[i]);
          break;
        case Op::EQ: binary(); for (size_t i = 0; i < kBlock; ++i) d[i] = ops::eq(a[i], b[i]); break;
        case Op::NE: binary(); for (size_t i = 0; i < kBlock; ++i) d[i] = ops::ne(a[i], b[i]); break;
        case Op::LT: binary(); for (size_t i = 0; i < kBlock; ++i) d[i] = ops::lt(a[i], b[i]); break;
        case Op::LE: binary(); for (size_t i = 0; i < kBlock; ++i) d[i] = ops::le(a[i], b[i]); break;
        case Op::EQ_K: case Op::NE_K: case Op::LT_K: case Op::LE_K: case Op::GT_K: case Op::GE_K: {
          unary();
          const int64_t kv = p_.constants[ins.b];
          switch (ins.op) {
            case Op::EQ_K: for (size_t i = 0; i < kBlock; ++i) d[i] = ops::eq(a[i], kv); break;
            case Op::NE_K: for (size_t i = 0; i < kBlock; ++i) d[i] = ops::ne(a[i], kv); break;
            case Op::LT_K: for (size_t i = 0; i < kBlock; ++i) d[i] = ops::lt(a[i], kv); break;
            case Op::LE_K: for (size_t i = 0; i < kBlock; ++i) d[i] = ops::le(a[i], kv); break;
            case Op::GT_K: for (size_t i = 0; i < kBlock; ++i) d[i] = ops::gt(a[i], kv); break;
            default: for (size_t i = 0; i < kBlock; ++i) d[i] = ops::ge(a[i], kv); break;
          }
          break;
        }
        case Op::STR_LT: binary(); for (size_t i = 0; i < n; ++i) d[i] = ops::str_lt(in.strings->text(a[i]), in.strings->text(b[i])); break;
        case Op::STR_LE: binary(); for (size_t i = 0; i < n; ++i) d[i] = ops::str_le(in.strings->text(a[i]), in.strings->text(b[i])); break;
        // The scalar operation per lane; a lane's fault is its error bit.
        case Op::ADD: binary(); faulting(); for (size_t i = 0; i < kBlock; ++i) err[i] |= ops::add(a[i], b[i], d[i]) != ops::Fault::None; break;
        case Op::SUB: binary(); faulting(); for (size_t i = 0; i < kBlock; ++i) err[i] |= ops::sub(a[i], b[i], d[i]) != ops::Fault::None; break;
        case Op::MUL_INT: binary(); faulting(); for (size_t i = 0; i < kBlock; ++i) err[i] |= ops::mul_int(a[i], b[i], d[i]) != ops::Fault::None; break;
        case Op::MUL_FIX: binary(); faulting(); for (size_t i = 0; i < n; ++i) err[i] |= ops::mul_fix(a[i], b[i], d[i]) != ops::Fault::None; break;
        case Op::DIV_FIX: binary(); faulting(); for (size_t i = 0; i < n; ++i) err[i] |= ops::div_fix(a[i], b[i], d[i]) != ops::Fault::None; break;
        case Op::NEG: unary(); faulting(); for (size_t i = 0; i < kBlock; ++i) err[i] |= ops::neg(a[i], d[i]) != ops::Fault::None; break;
        case Op::INT_TO_FIX:
          unary();
          faulting();
          for (size_t i = 0; i < kBlock; ++i) err[i] |= ops::int_to_fix(a[i], d[i]) != ops::Fault::None;
          break;
        case Op::TIME_ADD: binary(); faulting(); for (size_t i = 0; i < kBlock; ++i) err[i] |= ops::time_add(a[i], b[i], d[i]) != ops::Fault::None; break;
        case Op::DATE_ADD: binary(); faulting(); for (size_t i = 0; i < kBlock; ++i) err[i] |= ops::date_add(a[i], b[i], d[i]) != ops::Fault::None; break;
        case Op::DATE_DIFF: binary(); faulting(); for (size_t i = 0; i < kBlock; ++i) err[i] |= ops::date_diff(a[i], b[i], d[i]) != ops::Fault::None; break;
        case Op::COALESCE: {
          // Unlike SELECT, every operand's faults count (`??` evaluates both sides).
          uint8_t da = dirty[ins.a], db = dirty[ins.b], dc = dirty[ins.c];
          if (da | db | dc) {
            for (size_t i = 0; i < kBlock; ++i) de[i] = (da & ae[i]) | (db & be[i]) | (dc & ce[i]);
            dirty[ins.d] = 1;
          } else {
            dirty[ins.d] = 0;
          }
          for (size_t i = 0; i < kBlock; ++i) d[i] = ops::select(a[i], b[i], c[i]);
          break;
        }
        case Op::SELECT:
          if (dirty[ins.a] || dirty[ins.b] || dirty[ins.c]) {
            uint8_t da = dirty[ins.a], db = dirty[ins.b], dc = dirty[ins.c];
            for (size_t i = 0; i < kBlock; ++i) de[i] = (da & ae[i]) | (a[i] ? (db & be[i]) : (dc & ce[i]));
            dirty[ins.d] = 1;
          } else {
            dirty[ins.d] = 0;
          }
          for (size_t i = 0; i < kBlock; ++i) d[i] = ops::select(a[i], b[i], c[i]);
          break;
        case Op::IN_SET: {
          unary();
          const auto& set = p_.sets[ins.b];
          if (set.size() <= 16) {
            // Branch-free: a sum of comparisons vectorises where a search cannot.
            // (the same answer as ops::in_sorted, set by set instead of lane by lane).
            for (size_t i = 0; i < kBlock; ++i) d[i] = 0;
            for (int64_t v : set)
              for (size_t i = 0; i < kBlock; ++i) d[i] |= ops::eq(a[i], v);
          } else {
            for (size_t i = 0; i < n; ++i) d[i] = ops::in_sorted(set.data(), set.data() + set.size(), a[i]);
          }
          break;
        }
        case Op::IN_VALUE_SET:
          binary();
          for (size_t i = 0; i < n; ++i) d[i] = in.collections && in.collections->contains(b[i], a[i]);
          break;
        case Op::IN_VALUE_SET_DEC:
          binary();
          faulting();
          for (size_t i = 0; i < n; ++i) {
            bool overflow = false;
            d[i] = in.collections && in.collections->contains_widened(b[i], a[i], overflow);
            err[i] |= overflow;
          }
          break;
        case Op::STR_CONCAT:
          binary();
          for (size_t i = 0; i < n; ++i) d[i] = in.strings->intern(ops::concat(in.strings->text(a[i]), in.strings->text(b[i])));
          break;
        case Op::CALL:
          clean();
          faulting();
          for (size_t i = 0; i < n; ++i) {
            for (uint32_t k = 0; k < ins.c; ++k) err[i] |= dirty[ins.b + k] & errs[size_t(ins.b + k) * kBlock + i];
            int64_t args[8];
            for (uint32_t k = 0; k < ins.c && k < 8; ++k) args[k] = regs[size_t(ins.b + k) * kBlock + i];
            const char* e = nullptr;
            d[i] = call_builtin(ins.a, args, scalar, &e);
            err[i] |= e != nullptr;
          }
          break;
        case Op::RET:
          out = a;
          if (!dirty[ins.a]) std::memset(const_cast<uint8_t*>(ae), 0, kBlock);
          out_err = ae;
          break;
        case Op::RET_OPT: {
          // An absent value is reported as 0 (no match); faults of either register count.
          for (size_t i = 0; i < kBlock; ++i) ret[i] = b[i] ? a[i] : 0;
          uint8_t* re = const_cast<uint8_t*>(ae);
          if (!dirty[ins.a]) std::memset(re, 0, kBlock);
          if (dirty[ins.b]) for (size_t i = 0; i < kBlock; ++i) re[i] |= be[i];
          out = ret.data();
          out_err = re;
          break;
        }
        case Op::JUMP:
        case Op::JUMP_IF_FALSE:
        case Op::JUMP_IF_TRUE:
          // Batch units are compiled jump-free; a scalar unit here is a caller bug. Fault every
          // lane rather than compute a wrong answer.
          for (size_t i = 0; i < kBlock; ++i) de[i] = 1;
          dirty[ins.d] = 1;
          out = d;
          out_err = de;
          break;
      }
      if (out) break;
    }
    for (size_t i = 0; i < n; ++i) {
      if (!out || out_err[i]) {
        ++result.errors;
        if (faulted) faulted[(base + i) / 64] |= uint64_t(1) << ((base + i) % 64);
        continue;
      }
      result.matches += out && out[i] != 0;
      if (selected && out[i] != 0) selected[(base + i) / 64] |= uint64_t(1) << ((base + i) % 64);
      if (values && out) (*values)[base + i] = out[i];
    }
  }
  return result;
}

}  // namespace crm::vm
