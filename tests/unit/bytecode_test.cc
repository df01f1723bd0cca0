// bytecode_test.cc - the .crmc format (round trip, rejection of foreign, corrupt, truncated and
// other-version files) and the verifier.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>

#include "compile_helpers.h"

namespace {

using crm::bytecode::Instr;
using crm::bytecode::Op;
using crm::bytecode::Program;

const crm::testing::Compiled& spend_spike() {
  static const crm::testing::Compiled c =
      crm::testing::compile_inputs({{std::string(CRM_SOURCE_DIR) + "/examples/spend_spike.crm", std::nullopt}});
  return c;
}

const crm::testing::Compiled& double11() {
  static const crm::testing::Compiled c =
      crm::testing::compile_inputs({{std::string(CRM_SOURCE_DIR) + "/examples/double11.crm", std::nullopt}});
  return c;
}

bool load(const std::string& bytes, std::string& err) {
  Program p;
  return crm::bytecode::deserialize(bytes, p, err);
}

// Header: "CRMC", u32 version, i64 payload size, u64 checksum; then the payload at byte 24.
constexpr size_t kHeader = 24;

}  // namespace

TEST(Bytecode, RoundTripKeepsTheDisassembly) {
  for (const auto* c : {&spend_spike(), &double11()}) {
    ASSERT_TRUE(c->ok) << c->diagnostics;
    std::string bytes = crm::bytecode::serialize(c->program());
    Program back;
    std::string err;
    ASSERT_TRUE(crm::bytecode::deserialize(bytes, back, err)) << err;
    EXPECT_EQ(crm::bytecode::disassemble(back), crm::bytecode::disassemble(c->program()));
    // Everything the disassembly does not show survives too: a second trip is byte-identical.
    EXPECT_EQ(crm::bytecode::serialize(back), bytes);
    EXPECT_EQ(back.strategies.size(), c->program().strategies.size());
    EXPECT_EQ(back.resources.size(), c->program().resources.size());
    EXPECT_EQ(back.policies.size(), c->program().policies.size());
  }
}

TEST(Bytecode, FlippedPayloadByteFailsTheChecksum) {
  ASSERT_TRUE(spend_spike().ok);
  std::string bytes = crm::bytecode::serialize(spend_spike().program());
  ASSERT_GT(bytes.size(), kHeader + 100);
  for (size_t at : {kHeader, kHeader + 57, bytes.size() / 2, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    std::string err;
    EXPECT_FALSE(load(bad, err)) << "flipped byte " << at;
    EXPECT_EQ(err, "checksum mismatch: the file is corrupt");
  }
}

TEST(Bytecode, WrongMagicIsRejected) {
  std::string bytes = crm::bytecode::serialize(spend_spike().program());
  std::string err;
  std::string bad = bytes;
  bad[0] = 'X';
  EXPECT_FALSE(load(bad, err));
  EXPECT_EQ(err, "not a compiled crm program (missing the CRMC header)");
  err.clear();
  EXPECT_FALSE(load("{\"type\":\"Order\"}", err));
  EXPECT_EQ(err, "not a compiled crm program (missing the CRMC header)");
  err.clear();
  EXPECT_FALSE(load("", err));
  EXPECT_NE(err.find("CRMC"), std::string::npos);
}

TEST(Bytecode, OtherVersionIsRejectedWithAHint) {
  std::string bytes = crm::bytecode::serialize(spend_spike().program());
  bytes[4] = static_cast<char>(crm::bytecode::kFormatVersion + 1);
  std::string err;
  EXPECT_FALSE(load(bytes, err));
  EXPECT_NE(err.find(fmt::format("format version {}", crm::bytecode::kFormatVersion + 1)), std::string::npos) << err;
  EXPECT_NE(err.find("recompile"), std::string::npos) << err;
}

TEST(Bytecode, TruncatedOrPaddedFilesAreRejected) {
  std::string bytes = crm::bytecode::serialize(spend_spike().program());
  std::string err;
  EXPECT_FALSE(load(bytes.substr(0, bytes.size() - 1), err));
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  EXPECT_FALSE(load(bytes.substr(0, bytes.size() / 2), err));
  EXPECT_NE(err.find("truncated"), std::string::npos) << err;
  EXPECT_FALSE(load(bytes.substr(0, 10), err));  // cut inside the header
  EXPECT_FALSE(err.empty());
  EXPECT_FALSE(load(bytes + "x", err));
  EXPECT_NE(err.find("padded"), std::string::npos) << err;
}

// A payload that passes the checksum but is structurally wrong still fails (the checksum is
// recomputed here, as a hand-edited file would have it).
TEST(Bytecode, ConsistentChecksumButMalformedPayloadIsRejected) {
  std::string bytes = crm::bytecode::serialize(spend_spike().program());
  std::string payload = bytes.substr(kHeader, bytes.size() - kHeader - 3);  // drop the tail
  auto fnv = [](const std::string& s) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) { h ^= c; h *= 1099511628211ull; }
    return h;
  };
  std::string head = bytes.substr(0, 4 + 4);
  auto put64 = [&](uint64_t v) { for (int i = 0; i < 8; ++i) head.push_back(static_cast<char>(v >> (8 * i))); };
  put64(payload.size());
  put64(fnv(payload));
  std::string err;
  EXPECT_FALSE(load(head + payload, err));
  EXPECT_EQ(err, "malformed program payload");
}

// ---- verify ------------------------------------------------------------------------------------

namespace {

Program tiny() {
  Program p;
  p.constants = {1, 0};
  crm::bytecode::Unit u;
  u.name = "segment t";
  u.registers = 2;
  u.code = {
      Instr{Op::LOAD_CONST, 0, 0},
      Instr{Op::JUMP_IF_FALSE, 0, 0, 3},
      Instr{Op::LOAD_CONST, 0, 1},
      Instr{Op::RET, 0, 0},
  };
  p.units.push_back(u);
  p.segments.push_back({"t", 0});
  return p;
}

}  // namespace

TEST(Verify, AcceptsAWellFormedUnit) {
  std::string err;
  EXPECT_TRUE(crm::bytecode::verify(tiny(), err)) << err;
  ASSERT_TRUE(spend_spike().ok);
  EXPECT_TRUE(crm::bytecode::verify(spend_spike().program(), err)) << err;
}

TEST(Verify, RejectsABackwardJump) {
  Program p = tiny();
  p.units[0].code[1] = Instr{Op::JUMP_IF_FALSE, 0, 0, 0};  // back to instruction 0
  std::string err;
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("instruction 1 (JUMP_IF_FALSE)"), std::string::npos) << err;
  EXPECT_NE(err.find("`T`"), std::string::npos) << err;
  p.units[0].code[1] = Instr{Op::JUMP, 0, 1};  // to itself: an endless loop
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("JUMP"), std::string::npos) << err;
  p.units[0].code[1] = Instr{Op::JUMP, 0, 4};  // past the end
  EXPECT_FALSE(crm::bytecode::verify(p, err));
}

TEST(Verify, RejectsAnOutOfRangeRegister) {
  Program p = tiny();
  p.units[0].code[2] = Instr{Op::LOAD_CONST, 2, 1};  // only r0, r1 exist
  std::string err;
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("operand `D` = 2 out of range"), std::string::npos) << err;
  p = tiny();
  p.units[0].code[3] = Instr{Op::RET, 0, 7};
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("operand `A` = 7 out of range"), std::string::npos) << err;
  // A CALL's argument block must fit in the registers as well.
  p = tiny();
  p.units[0].code[2] = Instr{Op::CALL, 0, 0, 1, 2};
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("CALL"), std::string::npos) << err;
  // Constants, aggregates and sets are range-checked too.
  p = tiny();
  p.units[0].code[2] = Instr{Op::LOAD_CONST, 0, 9};
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("operand `K`"), std::string::npos) << err;
  p.units[0].code[2] = Instr{Op::LOAD_AGG, 0, 0};
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_NE(err.find("operand `G`"), std::string::npos) << err;
}

TEST(Verify, RejectsAUnitWithoutRet) {
  Program p = tiny();
  p.units[0].code.pop_back();
  std::string err;
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_EQ(err, "unit 0 does not end in RET");
  p.units[0].code.clear();
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_EQ(err, "unit 0 does not end in RET");
}

TEST(Verify, RejectsDanglingReferences) {
  Program p = tiny();
  p.segments.push_back({"ghost", 5});
  std::string err;
  EXPECT_FALSE(crm::bytecode::verify(p, err));
  EXPECT_EQ(err, "segment refers to a missing unit");
}

// deserialize() runs verify(): a file whose code was tampered with (and re-checksummed) is refused.
TEST(Verify, DeserializeRunsTheVerifier) {
  Program p = tiny();
  p.units[0].code[1] = Instr{Op::JUMP, 0, 0};
  std::string bytes = crm::bytecode::serialize(p);
  std::string err;
  EXPECT_FALSE(load(bytes, err));
  EXPECT_NE(err.find("out of range"), std::string::npos) << err;
}
