// ir.cc - dead-code elimination and register allocation over the code generator's IR.
#include "compiler/codegen/ir.h"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace crm::codegen::ir {

using bytecode::Instr;
using bytecode::Op;

namespace {

bool writes(const Instr& in) { return bytecode::op_shape(in.op)[0] == 'D'; }

bool is_jump(Op op) { return op == Op::JUMP || op == Op::JUMP_IF_FALSE || op == Op::JUMP_IF_TRUE; }

// The register operands an instruction reads according to its shape in opcodes.def (A, B, C);
// CALL is handled by the callers, since its C is a count and its registers form a block.
template <typename F>
void for_each_shape_read(Instr& in, F&& f) {
  const char* shape = bytecode::op_shape(in.op);
  uint32_t* operands[4] = {nullptr, &in.a, &in.b, &in.c};
  int slot = shape[0] == 'D' ? 0 : 1;
  for (const char* s = shape; *s; ++s) {
    if (*s == ' ') continue;
    if ((*s == 'A' || *s == 'B' || *s == 'C') && operands[slot]) f(*operands[slot]);
    ++slot;
  }
}

// Every register an instruction reads, by value (a CALL reads each register of its block).
template <typename F>
void for_each_read(Instr& in, F&& f) {
  if (in.op == Op::CALL) {
    for (uint32_t k = 0; k < in.c; ++k) f(in.b + k);
    return;
  }
  for_each_shape_read(in, [&](uint32_t& r) { f(r); });
}

// The register fields to rename; a CALL names only the first register of its block.
template <typename F>
void for_each_read_field(Instr& in, F&& f) {
  if (in.op == Op::CALL) {
    f(in.b);
    return;
  }
  for_each_shape_read(in, f);
}

}  // namespace

void eliminate_dead_code(Unit& u) {
  bool changed = true;
  while (changed) {
    changed = false;
    std::vector<uint8_t> read(u.virtual_registers + 1, 0);
    for (Instr& in : u.code) for_each_read(in, [&](uint32_t r) { read[r] = 1; });
    std::vector<uint8_t> keep(u.code.size(), 1);
    for (size_t i = 0; i < u.code.size(); ++i) {
      const Instr& in = u.code[i];
      // Every instruction that writes a register is free of side effects (LOAD_AGG only
      // brings a window up to date), so an unread result means the instruction can go. Its
      // fault goes with it: where a fault must count though the value is not needed (a function's
      // argument), codegen reads the register (UnitGen::call joins it into the result).
      if (writes(in) && !read[in.d]) {
        keep[i] = 0;
        changed = true;
      }
    }
    if (!changed) break;
    // New positions; a jump to a removed instruction lands on the next one kept.
    std::vector<uint32_t> pos(u.code.size() + 1);
    uint32_t n = 0;
    for (size_t i = 0; i < u.code.size(); ++i) {
      pos[i] = n;
      n += keep[i];
    }
    pos[u.code.size()] = n;
    std::vector<Instr> out;
    out.reserve(n);
    for (size_t i = 0; i < u.code.size(); ++i) {
      if (!keep[i]) continue;
      Instr in = u.code[i];
      if (in.op == Op::JUMP) in.a = pos[in.a];
      else if (is_jump(in.op)) in.b = pos[in.b];
      out.push_back(in);
    }
    u.code = std::move(out);
  }
}

uint16_t allocate_registers(Unit& u) {
  const uint32_t nv = u.virtual_registers;
  constexpr uint32_t kUnset = ~0u;
  // Live range of each virtual register in program order: first write .. last read.
  std::vector<uint32_t> first(nv, kUnset), last(nv, 0);
  // Builtin calls read a block of consecutive registers: the block is allocated as one.
  std::map<uint32_t, uint32_t> block_of;  // first virtual register -> size
  for (uint32_t i = 0; i < u.code.size(); ++i) {
    Instr& in = u.code[i];
    if (in.op == Op::CALL && in.c > 0) block_of[in.b] = std::max(block_of[in.b], in.c);
    for_each_read(in, [&](uint32_t r) {
      if (first[r] == kUnset) first[r] = i;  // read before any write: a live-in (never, in practice)
      last[r] = std::max(last[r], i);
    });
    if (writes(in)) {
      if (first[in.d] == kUnset) first[in.d] = i;
      last[in.d] = std::max(last[in.d], i);
    }
  }
  // A block lives as long as its longest member.
  for (auto& [start, size] : block_of) {
    uint32_t f = kUnset, l = 0;
    for (uint32_t k = 0; k < size; ++k) {
      f = std::min(f, first[start + k]);
      l = std::max(l, last[start + k]);
    }
    for (uint32_t k = 0; k < size; ++k) {
      first[start + k] = f;
      last[start + k] = l;
    }
  }
  std::vector<uint32_t> phys(nv, kUnset);
  std::vector<uint32_t> busy_until;  // per physical register: last position of its current value
  std::vector<uint8_t> in_use;
  auto free_at = [&](uint32_t p, uint32_t i) { return !in_use[p] || busy_until[p] < i; };
  // Virtual registers in order of first write (the order the emitter allocated them).
  std::vector<uint32_t> order;
  for (uint32_t v = 0; v < nv; ++v) if (first[v] != kUnset) order.push_back(v);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return first[a] < first[b]; });
  for (uint32_t v : order) {
    if (phys[v] != kUnset) continue;  // placed with its call block
    uint32_t size = 1;
    uint32_t base_v = v;
    if (auto it = block_of.find(v); it != block_of.end()) size = it->second;
    uint32_t start = first[v];
    // First physical run of `size` registers all free at `start`: values whose last read is
    // before `start`. (Not at `start`: an instruction never writes a register it reads, which
    // the batch VM's per-register fault bits rely on.)
    uint32_t p = 0;
    for (;; ++p) {
      if (p + size > busy_until.size()) {
        busy_until.resize(p + size, 0);
        in_use.resize(p + size, 0);
      }
      bool ok = true;
      for (uint32_t k = 0; k < size && ok; ++k) ok = free_at(p + k, start);
      if (ok) break;
    }
    for (uint32_t k = 0; k < size; ++k) {
      phys[base_v + k] = p + k;
      in_use[p + k] = 1;
      busy_until[p + k] = last[base_v + k];
    }
  }
  uint32_t used = static_cast<uint32_t>(busy_until.size());
  if (used > UINT16_MAX) throw std::runtime_error("expression needs more than 65535 registers");
  for (Instr& in : u.code) {
    if (writes(in)) in.d = static_cast<uint16_t>(phys[in.d]);
    for_each_read_field(in, [&](uint32_t& r) { r = phys[r]; });
  }
  return static_cast<uint16_t>(std::max<uint32_t>(used, 1));
}

bytecode::Unit to_bytecode(Unit unit) {
  eliminate_dead_code(unit);
  bytecode::Unit out;
  out.registers = allocate_registers(unit);
  out.name = std::move(unit.name);
  out.result = unit.result;
  out.code = std::move(unit.code);
  return out;
}

}  // namespace crm::codegen::ir
