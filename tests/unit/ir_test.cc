// ir_test.cc - the code generator's IR passes: dead code elimination and register allocation.
#include "compiler/codegen/ir.h"

#include <gtest/gtest.h>

using crm::bytecode::Instr;
using crm::bytecode::Op;
namespace ir = crm::codegen::ir;

TEST(Ir, DeadCodeIsRemovedAndJumpsStillLand) {
  ir::Unit u;
  u.virtual_registers = 5;
  u.code = {
      {Op::LOAD_CONST, 0, 0},         // 0: r0 unused -> removed
      {Op::LOAD_NOW, 1},              // 1: r1
      {Op::JUMP_IF_FALSE, 0, 1, 4},   // 2: to 4
      {Op::LOAD_CONST, 2, 1},         // 3: r2 unused -> removed; the jump target moves past it
      {Op::LOAD_CONST, 3, 2},         // 4: r3
      {Op::RET, 0, 3},                // 5
  };
  ir::eliminate_dead_code(u);
  ASSERT_EQ(u.code.size(), 4u);
  EXPECT_EQ(u.code[0].op, Op::LOAD_NOW);
  EXPECT_EQ(u.code[1].op, Op::JUMP_IF_FALSE);
  EXPECT_EQ(u.code[1].b, 2u);  // lands on the LOAD_CONST that was at 4
  EXPECT_EQ(u.code[2].op, Op::LOAD_CONST);
}

TEST(Ir, RegistersAreReusedOnlyAfterTheirLastRead) {
  ir::Unit u;
  u.virtual_registers = 6;
  u.code = {
      {Op::LOAD_NOW, 0},            // r0 live 0..2
      {Op::LOAD_NOW, 1},            // r1 live 1..2
      {Op::LT, 2, 0, 1},            // r2 live 2..4
      {Op::LOAD_NOW, 3},            // r3 may reuse r0 or r1
      {Op::AND, 4, 2, 3},
      {Op::RET, 0, 4},
  };
  uint16_t n = ir::allocate_registers(u);
  EXPECT_EQ(n, 3u);
  // The LT result never shares a register with its own operands.
  EXPECT_NE(u.code[2].d, u.code[2].a);
  EXPECT_NE(u.code[2].d, u.code[2].b);
  // r3 must not overwrite r2, which is read later.
  EXPECT_NE(u.code[3].d, u.code[2].d);
}

TEST(Ir, CallArgumentsStayConsecutive) {
  ir::Unit u;
  u.virtual_registers = 6;
  u.code = {
      {Op::LOAD_NOW, 0},
      {Op::LOAD_NOW, 1},
      {Op::MOV, 2, 0},               // argument block r2, r3
      {Op::MOV, 3, 1},
      {Op::CALL, 4, 0, 2, 2},        // d=r4, builtin 0, args r2..r3
      {Op::RET, 0, 4},
  };
  ir::allocate_registers(u);
  EXPECT_EQ(u.code[3].d, u.code[2].d + 1);
  EXPECT_EQ(u.code[4].b, u.code[2].d);
  EXPECT_NE(u.code[4].d, u.code[4].b);
  EXPECT_NE(u.code[4].d, u.code[4].b + 1u);
}
