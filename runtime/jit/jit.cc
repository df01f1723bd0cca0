// jit.cc - bytecode units to LLVM IR to native code (LLVM 16 ORC LLJIT).
//
// Each LLVM module starts as the embedded bitcode of jit_ops.cc (bytecode/operations.h and the
// context reads as extern "C" functions), internalised; the translator adds one function per
// unit that only sequences calls to those functions and moves registers, then the O2 pipeline
// inlines them for the host CPU and drops the rest. Registers are stack slots that SROA turns
// into SSA values; a fault is an early return of its code (scalar) or a lane's error bit (batch).
#include "runtime/jit/jit.h"

#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ObjectTransformLayer.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/Support/BLAKE3.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/SmallVectorMemoryBuffer.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/IR/PassTimingInfo.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Passes/StandardInstrumentations.h>
#include <llvm/Transforms/IPO/AlwaysInliner.h>
#include <llvm/Transforms/IPO/GlobalDCE.h>
#include <llvm/Transforms/InstCombine/InstCombine.h>
#include <llvm/Transforms/Scalar/EarlyCSE.h>
#include <llvm/Transforms/Scalar/SROA.h>
#include <llvm/Transforms/Scalar/SimplifyCFG.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <optional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "bytecode/operations.h"

namespace crm::jit {

extern const unsigned char kOpsBitcode[];
extern const size_t kOpsBitcodeSize;

namespace ops = bytecode::ops;
using bytecode::Op;

// ---- host functions: what native code calls back for (jit_ops.cc declares them) -------------

extern "C" {
static uint8_t crm_jit_host_call(uint32_t overload, const int64_t* args, const vm::Context* ctx, int64_t* out) {
  const char* error = nullptr;
  *out = vm::call_builtin(overload, args, *ctx, &error);
  if (!error) return 0;
  // call_builtin reports a fault by its text; the native convention is the fault's code.
  for (uint8_t f = 1; f <= static_cast<uint8_t>(ops::Fault::NotArithmetic); ++f)
    if (std::string_view(ops::fault_text(static_cast<ops::Fault>(f))) == error) return f;
  return static_cast<uint8_t>(ops::Fault::UnknownBuiltin);
}
static int64_t crm_jit_host_in_value_set(const vm::Context* ctx, int64_t v, int64_t handle) {
  return ctx->collections && ctx->collections->contains(handle, v);
}
static uint8_t crm_jit_host_in_value_set_dec(const vm::Context* ctx, int64_t v, int64_t handle, int64_t* out) {
  bool overflow = false;
  *out = ctx->collections && ctx->collections->contains_widened(handle, v, overflow);
  return overflow ? static_cast<uint8_t>(ops::Fault::Overflow) : 0;
}
static int64_t crm_jit_host_concat(const vm::Context* ctx, int64_t a, int64_t b) {
  return ctx->strings->intern(ops::concat(ctx->strings->text(a), ctx->strings->text(b)));
}
}

namespace {

constexpr uint64_t kPresentFlag = ScalarOut::kPresent;
// Longer units keep the branchy translation (a flat one computes every instruction).
constexpr size_t kFlatMaxInstructions = 256;
// Straight-line code reads profile fields after one test that the row covers and has them all
// (true), or through the branchy crm_jit_load_profile (false): see Translator::scalar.
constexpr bool kFlatPreload = true;
// compile_all()'s modules hold `chunk` units compiled each with its own constants, or up to
// kEntriesPerChunk times as many members of shapes (an entry is a call with a table: session 17).
// CRM_JIT_SHAPE_ENTRIES overrides it (a measurement switch; not part of the object code).
size_t entries_per_chunk() {
  static const size_t n = [] {
    const char* v = std::getenv("CRM_JIT_SHAPE_ENTRIES");
    long x = v ? std::atol(v) : 0;
    return x > 0 ? size_t(std::min(x, 1L << 16)) : size_t(8);  // bounded: chunk * n must not wrap
  }();
  return n;
}

// How compile_all() compiles scalar units (docs/performance.md §7, sessions 13 and 14).
// Defaults are what measured best. For measurements, CRM_JIT_EAGER=PIPELINE,CODEGEN,SHARE
// overrides them, exactly three comma-separated words: PIPELINE "min" (always-inline, SROA,
// early CSE, instcombine, simplifycfg, global DCE) or "o1" (buildPerModuleDefaultPipeline(O1));
// CODEGEN "none" (FastISel, fast register allocation) or "less" (CodeGenOpt::Less); SHARE "2"
// (one native function for units with the same code, and one shape function for units whose
// code differs only in the constants it reads, session 17), "1" (the same code only) or "0"
// (one function each). Unset or empty: the defaults, "min,none,2". Any other value makes
// compile_all() fail with an error naming the variable (never a guess at what was meant).
struct EagerConfig {
  bool min_pipeline = true;
  bool codegen_none = true;
  bool share = true;
  bool shapes = true;  // SHARE 2
  std::string error;  // CRM_JIT_EAGER is set to something else than the values above
};
EagerConfig parse_eager_config(const char* v) {
  EagerConfig c;
  if (!v || !*v) return c;
  std::vector<std::string> words(1);
  for (const char* q = v; *q; ++q)
    if (*q == ',') words.emplace_back();
    else words.back() += *q;
  if (words.size() == 3 && (words[0] == "min" || words[0] == "o1") && (words[1] == "none" || words[1] == "less") &&
      (words[2] == "2" || words[2] == "1" || words[2] == "0")) {
    c.min_pipeline = words[0] == "min";
    c.codegen_none = words[1] == "none";
    c.share = words[2] != "0";
    c.shapes = words[2] == "2";
  } else {
    c.error = std::string("JIT: CRM_JIT_EAGER=\"") + v +
              "\" is not PIPELINE,CODEGEN,SHARE with PIPELINE min or o1, CODEGEN none or less, SHARE 2, 1 or 0 "
              "(e.g. \"min,none,2\", the default)";
  }
  return c;
}
const EagerConfig& eager_config() {
  static const EagerConfig config = parse_eager_config(std::getenv("CRM_JIT_EAGER"));
  return config;
}

// How clause dispatchers are compiled (CRM_JIT_DISPATCH, a measurement switch like
// CRM_JIT_EAGER; another value makes Jit::create fail with the message below): PIPELINE,CODEGEN with PIPELINE o1 (the default: the units inlined by O1's
// inliner) or min (compile_all()'s short pipeline, the units marked always-inline), CODEGEN
// less (the default) or none (FastISel).
struct DispatchConfig {
  bool min_pipeline = false;
  bool codegen_none = false;
  std::string error;
};
const DispatchConfig& dispatch_config() {
  static const DispatchConfig config = [] {
    DispatchConfig c;
    const char* v = std::getenv("CRM_JIT_DISPATCH");
    if (!v || !*v) return c;
    std::string s = v;
    auto comma = s.find(',');
    std::string a = s.substr(0, comma), b = comma == std::string::npos ? "" : s.substr(comma + 1);
    if ((a == "o1" || a == "min") && (b == "less" || b == "none")) {
      c.min_pipeline = a == "min";
      c.codegen_none = b == "none";
    } else {
      c.error = std::string("JIT: CRM_JIT_DISPATCH=\"") + v + "\" is not PIPELINE,CODEGEN with PIPELINE o1 or min, CODEGEN less or none";
    }
    return c;
  }();
  return config;
}

void init_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (const char* v = std::getenv("CRM_JIT_TIME_PASSES"); v && *v && *v != '0') llvm::TimePassesIsEnabled = true;
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

std::string to_string(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

// The units the engine runs with the batch VM (segments' and strategies' jump-free forms).
std::set<uint32_t> batch_units(const bytecode::Program& p) {
  std::set<uint32_t> out;
  for (const auto& s : p.segments) out.insert(s.batch_unit);
  for (const auto& s : p.strategies)
    if (s.who_batch >= 0) out.insert(static_cast<uint32_t>(s.who_batch));
  return out;
}

std::string unit_label(const bytecode::Program& p, uint32_t unit) {
  return unit < p.units.size() ? "unit " + std::to_string(unit) + " (" + p.units[unit].name + ")" : "unit " + std::to_string(unit);
}

// The constant an instruction reads, if any: LOAD_CONST's `a`, the comparisons with a constant's
// `b` (the only operands of shape K in opcodes.def). What a shape (below) leaves out of the code.
bool constant_operand(const bytecode::Instr& ins, uint32_t& k) {
  switch (ins.op) {
    case Op::LOAD_CONST: k = ins.a; return true;
    case Op::EQ_K: case Op::NE_K: case Op::LT_K: case Op::LE_K: case Op::GT_K: case Op::GE_K: k = ins.b; return true;
    default: return false;
  }
}

// Translates units of one program into one module holding the operations' bitcode.
class Translator {
 public:
  Translator(const bytecode::Program& p, llvm::Module& m) : p_(p), m_(m), c_(m.getContext()) {
    i1_ = llvm::Type::getInt1Ty(c_);
    i8_ = llvm::Type::getInt8Ty(c_);
    i32_ = llvm::Type::getInt32Ty(c_);
    i64_ = llvm::Type::getInt64Ty(c_);
    ptr_ = llvm::PointerType::getUnqual(c_);
    out_ty_ = llvm::StructType::get(c_, {i64_, i64_});
    for (const auto& f : p_.profile) required_.push_back(!f.optional);
  }

  // `general`: the branchy translation, whatever the unit (flat()'s fallback).
  llvm::Function* scalar(uint32_t unit, std::string& error, bool general = false);
  // Shapes (compile_all()'s units whose code is the same up to the constants it reads, session
  // 17): `crm_shape_<unit>(ctx, k)`, internal, the unit's code with the constant of its i-th
  // constant-reading instruction loaded from k[i] instead of baked in; and `crm_unit_<m>(ctx)`
  // for a member m, which calls it with m's own constants (a private array, constants_of(m)).
  // Every operation is computed at run time on the loaded value exactly as on the immediate,
  // so each member gives the VM's result to the bit.
  llvm::Function* shape(uint32_t unit, std::string& error);
  llvm::Function* thunk(uint32_t member, llvm::Function* shape);
  bool flat_ok(const bytecode::Unit& u) const;
  llvm::Function* flat(uint32_t unit, llvm::Function* general);
  // `shape`, when given, is the layout of the columns the code will read (batch_shape()): each
  // field's load is then specialised (no width or presence test per row), which lets LLVM
  // vectorise the loop; without it, the code reads any layout.
  // `selection`: code for the executor, writing the block's selected and faulted bits as
  // bitmap words and returning their counts (SelectFn) instead of a value and error per row.
  llvm::Function* batch(uint32_t unit, std::string& error, const std::string* shape = nullptr, const std::string& name = "",
                        bool selection = false);
  // A clause dispatcher (ClausesFn) named `name` over groups of three units (-1: none), calling
  // the scalar functions of `fns` (this module's, by unit) directly.
  llvm::Function* clauses(const std::vector<int32_t>& units, const std::string& name,
                          const std::map<uint32_t, llvm::Function*>& fns);

 private:
  // A function of jit_ops.cc (present in the module's bitcode) or of the host.
  llvm::Function* op(const char* name) {
    llvm::Function* f = m_.getFunction(name);
    if (!f) throw std::runtime_error(std::string("operation missing from the JIT's bitcode: ") + name);
    return f;
  }
  llvm::FunctionCallee host(const char* name, llvm::Type* ret, std::initializer_list<llvm::Type*> args) {
    return m_.getOrInsertFunction(name, llvm::FunctionType::get(ret, llvm::ArrayRef<llvm::Type*>(args.begin(), args.size()), false));
  }
  llvm::Constant* k64(int64_t v) { return llvm::ConstantInt::get(i64_, static_cast<uint64_t>(v), true); }
  llvm::Constant* k32(uint32_t v) { return llvm::ConstantInt::get(i32_, v); }
  llvm::Constant* k8(uint8_t v) { return llvm::ConstantInt::get(i8_, v); }
  llvm::Value* pack(llvm::IRBuilder<>& at, llvm::Value* value, llvm::Value* flags) {
    llvm::Value* agg = at.CreateInsertValue(llvm::UndefValue::get(out_ty_), value, {0});
    return at.CreateInsertValue(agg, flags, {1});
  }
  bool required(uint32_t f) const { return f < required_.size() && required_[f]; }
  int64_t constant(uint32_t k) const { return k < p_.constants.size() ? p_.constants[k] : 0; }
  // The value of constant `k` read by instruction `i` of the function `fn` being translated:
  // baked in, or (a shape) loaded from the table its second argument points to.
  llvm::Value* konst(llvm::IRBuilder<>& at, llvm::Function* fn, size_t i, uint32_t k) {
    if (!shaping_) return k64(constant(k));
    return at.CreateLoad(i64_, at.CreateConstInBoundsGEP1_64(i64_, fn->getArg(1), slots_[i]), "k" + std::to_string(slots_[i]));
  }
  llvm::FunctionType* unit_type() const {
    return shaping_ ? llvm::FunctionType::get(out_ty_, {ptr_, ptr_}, false) : llvm::FunctionType::get(out_ty_, {ptr_}, false);
  }
  std::string unit_name(uint32_t unit, bool general) const {
    return (shaping_ ? "crm_shape_" : "crm_unit_") + std::to_string(unit) + (general ? "_general" : "");
  }
  // A constant set as a private global array.
  llvm::Constant* set_ptr(uint32_t s) {
    auto it = sets_.find(s);
    if (it != sets_.end()) return it->second;
    const auto& v = p_.sets[s];
    llvm::Constant* ptr = llvm::ConstantPointerNull::get(ptr_);
    if (!v.empty()) {
      auto* ty = llvm::ArrayType::get(i64_, v.size());
      std::vector<llvm::Constant*> elems;
      for (int64_t x : v) elems.push_back(k64(x));
      auto* g = new llvm::GlobalVariable(m_, ty, true, llvm::GlobalValue::PrivateLinkage, llvm::ConstantArray::get(ty, elems),
                                         "crm_set_" + std::to_string(s));
      g->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
      ptr = g;
    }
    sets_[s] = ptr;
    return ptr;
  }
  size_t max_call_args(const bytecode::Unit& u) const {
    size_t n = 1;
    for (const auto& ins : u.code)
      if (ins.op == Op::CALL) n = std::max<size_t>(n, ins.c);
    return n;
  }

  const bytecode::Program& p_;
  llvm::Module& m_;
  llvm::LLVMContext& c_;
  llvm::Type *i1_, *i8_, *i32_, *i64_;
  llvm::PointerType* ptr_;
  llvm::StructType* out_ty_;  // ScalarOut: {value, flags}, returned in two registers
  std::vector<uint8_t> required_;
  std::map<uint32_t, llvm::Constant*> sets_;
  bool shaping_ = false;        // translating a shape (shape())
  std::vector<uint32_t> slots_;  // while shaping: instruction -> index of its constant in the table
};

llvm::Function* Translator::scalar(uint32_t unit, std::string& error, bool general) {
  const bytecode::Unit& u = p_.units[unit];
  if (!general && flat_ok(u)) {
    // Straight-line code reads profile fields with plain loads once one test has found them all
    // inside the row and present; any other row (a short row, which no engine passes but the
    // contract allows, or a missing field) takes the general code with the VM's per-field rules.
    // Measured (docs/performance.md §7): one bounds test plus a presence select per field was
    // slower than crm_jit_load_profile's predictable branches; folding presence into the one
    // test instead removes the selects and the fault chain and is faster than both.
    bool reads_profile = false;
    for (const auto& ins : u.code) reads_profile |= ins.op == Op::LOAD_PROFILE || ins.op == Op::HAS_PROFILE;
    llvm::Function* slow = nullptr;
    if (kFlatPreload && reads_profile && !(slow = scalar(unit, error, true))) return nullptr;
    return flat(unit, slow);
  }
  auto* fn = llvm::Function::Create(unit_type(), general || shaping_ ? llvm::GlobalValue::InternalLinkage : llvm::GlobalValue::ExternalLinkage,
                                    unit_name(unit, general), m_);
  llvm::Value* ctx = fn->getArg(0);
  auto* entry = llvm::BasicBlock::Create(c_, "entry", fn);
  llvm::IRBuilder<> b(entry);
  auto ret = [&](llvm::IRBuilder<>& at, llvm::Value* value, llvm::Value* flags) { at.CreateRet(pack(at, value, flags)); };
  std::vector<llvm::AllocaInst*> r(std::max<size_t>(u.registers, 1));
  for (size_t i = 0; i < r.size(); ++i) {
    r[i] = b.CreateAlloca(i64_, nullptr, "r" + std::to_string(i));
    b.CreateStore(k64(0), r[i]);
  }
  auto* tmp = b.CreateAlloca(i64_, nullptr, "tmp");
  auto* args = b.CreateAlloca(llvm::ArrayType::get(i64_, max_call_args(u)), nullptr, "args");
  auto* cur_g = b.CreateAlloca(i32_, nullptr, "agg_g");
  auto* cur_v = b.CreateAlloca(i64_, nullptr, "agg_v");
  auto* cur_s = b.CreateAlloca(i8_, nullptr, "agg_s");
  b.CreateStore(k32(UINT32_MAX), cur_g);
  b.CreateStore(k64(0), cur_v);
  b.CreateStore(k8(0), cur_s);
  size_t n = u.code.size();
  std::vector<llvm::BasicBlock*> bb(n + 1);
  for (size_t i = 0; i <= n; ++i) bb[i] = llvm::BasicBlock::Create(c_, i < n ? "i" + std::to_string(i) : "end", fn);
  b.CreateBr(bb[0]);
  auto unlikely = llvm::MDBuilder(c_).createBranchWeights(1, 1 << 20);

  auto reg = [&](uint32_t x) -> llvm::AllocaInst* { return r[x < r.size() ? x : 0]; };
  auto get = [&](uint32_t x) { return b.CreateLoad(i64_, reg(x)); };
  auto set = [&](uint32_t x, llvm::Value* v) { b.CreateStore(v, reg(x)); };
  // A faulting call: return its code when non-zero, else continue with *tmp.
  auto checked = [&](llvm::Value* fault) {
    auto* fail = llvm::BasicBlock::Create(c_, "fault", fn);
    auto* ok = llvm::BasicBlock::Create(c_, "ok", fn);
    b.CreateCondBr(b.CreateICmpNE(fault, k8(0)), fail, ok, unlikely);
    llvm::IRBuilder<> fb(fail);
    ret(fb, k64(0), fb.CreateZExt(fault, i64_));
    b.SetInsertPoint(ok);
    return b.CreateLoad(i64_, tmp);
  };

  for (size_t i = 0; i < n; ++i) {
    const bytecode::Instr& ins = u.code[i];
    b.SetInsertPoint(bb[i]);
    bool terminated = false;
    switch (ins.op) {
      case Op::LOAD_CONST: set(ins.d, konst(b, fn, i, ins.a)); break;
      case Op::LOAD_PROFILE:
        set(ins.d, checked(b.CreateCall(op("crm_jit_load_profile"), {ctx, k32(ins.a), k8(required(ins.a)), tmp})));
        break;
      case Op::HAS_PROFILE: set(ins.d, b.CreateCall(op("crm_jit_has_profile"), {ctx, k32(ins.a)})); break;
      case Op::LOAD_EVENT: set(ins.d, b.CreateCall(op("crm_jit_load_event"), {ctx, k32(ins.a)})); break;
      case Op::HAS_EVENT: set(ins.d, b.CreateCall(op("crm_jit_has_event"), {ctx, k32(ins.a)})); break;
      case Op::LOAD_AGG:
      case Op::HAS_AGG:
        set(ins.d, checked(b.CreateCall(op("crm_jit_agg"),
                                        {ctx, k32(ins.a), k8(ins.op == Op::HAS_AGG), cur_g, cur_v, cur_s, tmp})));
        break;
      case Op::LOAD_NOW: set(ins.d, b.CreateCall(op("crm_jit_now"), {ctx})); break;
      case Op::MOV: set(ins.d, get(ins.a)); break;
      case Op::NOT: set(ins.d, b.CreateCall(op("crm_jit_not"), {get(ins.a)})); break;
      case Op::AND:
      case Op::AND_THEN: set(ins.d, b.CreateCall(op("crm_jit_and"), {get(ins.a), get(ins.b)})); break;
      case Op::OR:
      case Op::OR_ELSE: set(ins.d, b.CreateCall(op("crm_jit_or"), {get(ins.a), get(ins.b)})); break;
      case Op::JUMP:
        b.CreateBr(bb[ins.a]);
        terminated = true;
        break;
      case Op::JUMP_IF_FALSE:
        b.CreateCondBr(b.CreateICmpEQ(get(ins.a), k64(0)), bb[ins.b], bb[i + 1]);
        terminated = true;
        break;
      case Op::JUMP_IF_TRUE:
        b.CreateCondBr(b.CreateICmpNE(get(ins.a), k64(0)), bb[ins.b], bb[i + 1]);
        terminated = true;
        break;
      case Op::EQ: set(ins.d, b.CreateCall(op("crm_jit_eq"), {get(ins.a), get(ins.b)})); break;
      case Op::NE: set(ins.d, b.CreateCall(op("crm_jit_ne"), {get(ins.a), get(ins.b)})); break;
      case Op::LT: set(ins.d, b.CreateCall(op("crm_jit_lt"), {get(ins.a), get(ins.b)})); break;
      case Op::LE: set(ins.d, b.CreateCall(op("crm_jit_le"), {get(ins.a), get(ins.b)})); break;
      case Op::EQ_K: set(ins.d, b.CreateCall(op("crm_jit_eq"), {get(ins.a), konst(b, fn, i, ins.b)})); break;
      case Op::NE_K: set(ins.d, b.CreateCall(op("crm_jit_ne"), {get(ins.a), konst(b, fn, i, ins.b)})); break;
      case Op::LT_K: set(ins.d, b.CreateCall(op("crm_jit_lt"), {get(ins.a), konst(b, fn, i, ins.b)})); break;
      case Op::LE_K: set(ins.d, b.CreateCall(op("crm_jit_le"), {get(ins.a), konst(b, fn, i, ins.b)})); break;
      case Op::GT_K: set(ins.d, b.CreateCall(op("crm_jit_gt"), {get(ins.a), konst(b, fn, i, ins.b)})); break;
      case Op::GE_K: set(ins.d, b.CreateCall(op("crm_jit_ge"), {get(ins.a), konst(b, fn, i, ins.b)})); break;
      case Op::STR_LT: set(ins.d, b.CreateCall(op("crm_jit_str_lt"), {ctx, get(ins.a), get(ins.b)})); break;
      case Op::STR_LE: set(ins.d, b.CreateCall(op("crm_jit_str_le"), {ctx, get(ins.a), get(ins.b)})); break;
      case Op::ADD: set(ins.d, checked(b.CreateCall(op("crm_jit_add"), {get(ins.a), get(ins.b), tmp}))); break;
      case Op::SUB: set(ins.d, checked(b.CreateCall(op("crm_jit_sub"), {get(ins.a), get(ins.b), tmp}))); break;
      case Op::MUL_INT: set(ins.d, checked(b.CreateCall(op("crm_jit_mul_int"), {get(ins.a), get(ins.b), tmp}))); break;
      case Op::MUL_FIX: set(ins.d, checked(b.CreateCall(op("crm_jit_mul_fix"), {get(ins.a), get(ins.b), tmp}))); break;
      case Op::DIV_FIX: set(ins.d, checked(b.CreateCall(op("crm_jit_div_fix"), {get(ins.a), get(ins.b), tmp}))); break;
      case Op::NEG: set(ins.d, checked(b.CreateCall(op("crm_jit_neg"), {get(ins.a), tmp}))); break;
      case Op::INT_TO_FIX: set(ins.d, checked(b.CreateCall(op("crm_jit_int_to_fix"), {get(ins.a), tmp}))); break;
      case Op::TIME_ADD: set(ins.d, checked(b.CreateCall(op("crm_jit_time_add"), {get(ins.a), get(ins.b), tmp}))); break;
      case Op::DATE_ADD: set(ins.d, checked(b.CreateCall(op("crm_jit_date_add"), {get(ins.a), get(ins.b), tmp}))); break;
      case Op::DATE_DIFF: set(ins.d, checked(b.CreateCall(op("crm_jit_date_diff"), {get(ins.a), get(ins.b), tmp}))); break;
      case Op::COALESCE:
      case Op::SELECT: set(ins.d, b.CreateCall(op("crm_jit_select"), {get(ins.a), get(ins.b), get(ins.c)})); break;
      case Op::IN_SET:
        set(ins.d, b.CreateCall(op("crm_jit_in_set"), {set_ptr(ins.b), k64(static_cast<int64_t>(p_.sets[ins.b].size())), get(ins.a)}));
        break;
      case Op::IN_VALUE_SET:
        set(ins.d, b.CreateCall(host("crm_jit_host_in_value_set", i64_, {ptr_, i64_, i64_}), {ctx, get(ins.a), get(ins.b)}));
        break;
      case Op::IN_VALUE_SET_DEC:
        set(ins.d, checked(b.CreateCall(host("crm_jit_host_in_value_set_dec", i8_, {ptr_, i64_, i64_, ptr_}),
                                        {ctx, get(ins.a), get(ins.b), tmp})));
        break;
      case Op::STR_CONCAT:
        set(ins.d, b.CreateCall(host("crm_jit_host_concat", i64_, {ptr_, i64_, i64_}), {ctx, get(ins.a), get(ins.b)}));
        break;
      case Op::CALL: {
        for (uint32_t k = 0; k < ins.c; ++k)
          b.CreateStore(get(ins.b + k), b.CreateConstInBoundsGEP2_32(args->getAllocatedType(), args, 0, k));
        set(ins.d, checked(b.CreateCall(op("crm_jit_call"), {k32(ins.a), args, ctx, tmp})));
        break;
      }
      case Op::RET:
        ret(b, get(ins.a), k64(kPresentFlag));
        terminated = true;
        break;
      case Op::RET_OPT: {
        llvm::Value* present = b.CreateICmpNE(get(ins.b), k64(0));
        ret(b, b.CreateSelect(present, get(ins.a), k64(0)), b.CreateSelect(present, k64(kPresentFlag), k64(0)));
        terminated = true;
        break;
      }
      default:
        error = unit_label(p_, unit) + ": instruction " + bytecode::op_name(ins.op) + " is not supported by the JIT";
        fn->eraseFromParent();
        return nullptr;
    }
    if (!terminated) b.CreateBr(bb[i + 1]);
  }
  // Past the last instruction (the verifier ends every unit with a return): the value 0.
  b.SetInsertPoint(bb[n]);
  ret(b, k64(0), k64(kPresentFlag));
  return fn;
}

llvm::Function* Translator::shape(uint32_t unit, std::string& error) {
  const bytecode::Unit& u = p_.units[unit];
  slots_.assign(u.code.size(), 0);
  uint32_t next = 0, k = 0;
  for (size_t i = 0; i < u.code.size(); ++i)
    if (constant_operand(u.code[i], k)) slots_[i] = next++;
  shaping_ = true;
  llvm::Function* fn = scalar(unit, error);
  shaping_ = false;
  slots_.clear();
  // One body for every member: never inlined into a member's entry.
  if (fn) fn->addFnAttr(llvm::Attribute::NoInline);
  return fn;
}

llvm::Function* Translator::thunk(uint32_t member, llvm::Function* shape) {
  std::vector<llvm::Constant*> values;
  uint32_t k = 0;
  for (const auto& ins : p_.units[member].code)
    if (constant_operand(ins, k)) values.push_back(k64(constant(k)));
  if (values.empty()) values.push_back(k64(0));  // never read
  auto* ty = llvm::ArrayType::get(i64_, values.size());
  auto* table = new llvm::GlobalVariable(m_, ty, true, llvm::GlobalValue::PrivateLinkage, llvm::ConstantArray::get(ty, values),
                                         "crm_k_" + std::to_string(member));
  auto* fn = llvm::Function::Create(llvm::FunctionType::get(out_ty_, {ptr_}, false), llvm::GlobalValue::ExternalLinkage,
                                    "crm_unit_" + std::to_string(member), m_);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(c_, "entry", fn));
  auto* call = b.CreateCall(shape, {fn->getArg(0), table});
  call->setTailCall();
  b.CreateRet(call);
  return fn;
}

// Each group's units in order: a fault stops the group with 2 * its code, a false value with 0,
// and a group whose units all gave true is 1; the next group starts either way. The zone is set
// (ctx->zone = zones[i]) before a group that calls built-ins, the only code that reads it.
llvm::Function* Translator::clauses(const std::vector<int32_t>& units, const std::string& name,
                                    const std::map<uint32_t, llvm::Function*>& fns) {
  auto* fty = llvm::FunctionType::get(llvm::Type::getVoidTy(c_), {ptr_, ptr_, ptr_}, false);
  auto* fn = llvm::Function::Create(fty, llvm::GlobalValue::ExternalLinkage, name, m_);
  fn->addParamAttr(1, llvm::Attribute::NoAlias);
  fn->addParamAttr(2, llvm::Attribute::NoAlias);
  llvm::Value* ctx = fn->getArg(0);
  llvm::Value* zones = fn->getArg(1);
  llvm::Value* out = fn->getArg(2);
  auto* bb = llvm::BasicBlock::Create(c_, "entry", fn);
  llvm::IRBuilder<> b(bb);
  llvm::Function* set_zone = op("crm_jit_set_zone");
  const size_t groups = units.size() / 3;
  for (size_t g = 0; g < groups; ++g) {
    bool calls = false;
    for (size_t k = 0; k < 3; ++k)
      if (int32_t u = units[3 * g + k]; u >= 0)
        for (const auto& ins : p_.units[u].code) calls |= ins.op == Op::CALL;
    if (calls) b.CreateCall(set_zone, {ctx, zones, k64(int64_t(g))});
    auto* done = llvm::BasicBlock::Create(c_, "g" + std::to_string(g) + "_done", fn);
    std::vector<std::pair<llvm::BasicBlock*, llvm::Value*>> codes;
    for (size_t k = 0; k < 3; ++k) {
      int32_t u = units[3 * g + k];
      if (u < 0) continue;
      llvm::Value* r = b.CreateCall(fns.at(uint32_t(u)), {ctx});
      llvm::Value* value = b.CreateExtractValue(r, {0});
      llvm::Value* fault = b.CreateTrunc(b.CreateExtractValue(r, {1}), i8_);
      llvm::Value* faulted = b.CreateICmpNE(fault, k8(0));
      llvm::Value* code = b.CreateSelect(faulted, b.CreateShl(fault, 1), k8(0));
      llvm::Value* go_on = b.CreateAnd(b.CreateNot(faulted), b.CreateICmpNE(value, k64(0)));
      auto* next = llvm::BasicBlock::Create(c_, "g" + std::to_string(g) + "_" + std::to_string(k), fn);
      codes.push_back({b.GetInsertBlock(), code});
      b.CreateCondBr(go_on, next, done);
      b.SetInsertPoint(next);
    }
    codes.push_back({b.GetInsertBlock(), k8(1)});
    b.CreateBr(done);
    b.SetInsertPoint(done);
    auto* phi = b.CreatePHI(i8_, unsigned(codes.size()));
    for (auto& [from, v] : codes) phi->addIncoming(v, from);
    b.CreateStore(phi, b.CreateGEP(i8_, out, k64(int64_t(g))));
  }
  b.CreateRetVoid();
  return fn;
}

// Whether a unit can be evaluated as straight-line code (flat()): jumps only forward, and
// every instruction safe to compute on a path the VM would not take - pure, without side
// effects or undefined behaviour whatever its operands. Those whose cost or behaviour depends
// on host state (aggregates, built-in calls, strings, collections) or that are expensive
// (fixed-point * and /) keep the branchy translation.
bool Translator::flat_ok(const bytecode::Unit& u) const {
  if (u.code.size() > kFlatMaxInstructions) return false;
  for (size_t i = 0; i < u.code.size(); ++i) {
    const bytecode::Instr& ins = u.code[i];
    switch (ins.op) {
      case Op::JUMP:
        if (ins.a <= i || ins.a > u.code.size()) return false;
        break;
      case Op::JUMP_IF_FALSE:
      case Op::JUMP_IF_TRUE:
        if (ins.b <= i || ins.b > u.code.size()) return false;
        break;
      case Op::LOAD_CONST: case Op::LOAD_PROFILE: case Op::HAS_PROFILE: case Op::LOAD_EVENT: case Op::HAS_EVENT:
      case Op::LOAD_NOW: case Op::MOV: case Op::NOT: case Op::AND: case Op::AND_THEN: case Op::OR: case Op::OR_ELSE:
      case Op::EQ: case Op::NE: case Op::LT: case Op::LE: case Op::EQ_K: case Op::NE_K: case Op::LT_K: case Op::LE_K:
      case Op::GT_K: case Op::GE_K: case Op::ADD: case Op::SUB: case Op::MUL_INT: case Op::NEG: case Op::INT_TO_FIX:
      case Op::TIME_ADD: case Op::DATE_ADD: case Op::DATE_DIFF: case Op::COALESCE: case Op::SELECT: case Op::IN_SET: case Op::RET:
      case Op::RET_OPT:
        break;
      default:
        return false;
    }
  }
  return true;
}

// A unit as one straight-line function (if-conversion): every instruction is computed, each
// under the predicate "the VM's path reaches it"; where paths join, a register takes the value
// of the edge actually taken (select); a fault counts only where its instruction is reached,
// and the first reached one in program order is the VM's (the VM's path visits reached
// instructions in increasing order, since jumps go forward). So the result is the VM's to the
// bit, without a branch to mispredict: what short-circuit `and`/`or` over random data needs.
llvm::Function* Translator::flat(uint32_t unit, llvm::Function* general) {
  const bytecode::Unit& u = p_.units[unit];
  auto* fn = llvm::Function::Create(unit_type(), shaping_ ? llvm::GlobalValue::InternalLinkage : llvm::GlobalValue::ExternalLinkage,
                                    unit_name(unit, false), m_);
  llvm::Value* ctx = fn->getArg(0);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(c_, "entry", fn));
  auto* tmp = b.CreateAlloca(i64_, nullptr, "tmp");
  b.CreateStore(k64(0), tmp);  // a faulting operation leaves it as it was: never undefined
  // Profile fields: one test that the row covers them all and has every one of them (else the
  // general code, which has the VM's per-field presence and fault rules), then a plain load of
  // each value: no presence select and no missing-field fault left in the common case.
  llvm::Value* values = nullptr;
  if (general) {
    uint32_t max_field = 0;
    std::set<uint32_t> fields;
    for (const auto& ins : u.code)
      if (ins.op == Op::LOAD_PROFILE || ins.op == Op::HAS_PROFILE) max_field = std::max(max_field, ins.a), fields.insert(ins.a);
    auto* ones_ty = llvm::ArrayType::get(i8_, max_field + 1);
    auto* ones = new llvm::GlobalVariable(m_, ones_ty, true, llvm::GlobalValue::PrivateLinkage,
                                          llvm::ConstantArray::get(ones_ty, std::vector<llvm::Constant*>(max_field + 1, k8(1))),
                                          "crm_all_present");
    auto* covered = llvm::BasicBlock::Create(c_, "covered", fn);
    auto* fast = llvm::BasicBlock::Create(c_, "fast", fn);
    auto* slow = llvm::BasicBlock::Create(c_, "general", fn);
    auto likely = llvm::MDBuilder(c_).createBranchWeights(1 << 20, 1);
    b.CreateCondBr(b.CreateICmpNE(b.CreateCall(op("crm_jit_profile_covers"), {ctx, k32(max_field)}), k8(0)), covered, slow, likely);
    b.SetInsertPoint(covered);
    // A context without presence bytes has every field; otherwise the bytes are read only once
    // the row is known to cover them (bitwise: no branch per field).
    auto* bytes = llvm::BasicBlock::Create(c_, "presence", fn);
    llvm::Value* presence = b.CreateCall(op("crm_jit_profile_presence"), {ctx, ones});
    b.CreateCondBr(b.CreateICmpEQ(presence, ones), fast, bytes);
    b.SetInsertPoint(bytes);
    llvm::Value* all = llvm::ConstantInt::getTrue(c_);
    for (uint32_t f : fields)
      all = b.CreateAnd(all, b.CreateICmpNE(b.CreateLoad(i8_, b.CreateInBoundsGEP(i8_, presence, k64(f))), k8(0)));
    b.CreateCondBr(all, fast, slow, likely);
    llvm::IRBuilder<> sb(slow);
    auto* call = shaping_ ? sb.CreateCall(general, {ctx, fn->getArg(1)}) : sb.CreateCall(general, {ctx});
    call->setTailCall();
    sb.CreateRet(call);
    b.SetInsertPoint(fast);
    values = b.CreateCall(op("crm_jit_profile_values"), {ctx});
  }
  llvm::Value* yes = llvm::ConstantInt::getTrue(c_);
  // In the fast block every field the unit reads is present (tested above).
  auto has_field = [&](uint32_t) { return yes; };
  struct Edge {
    llvm::Value* pred;
    std::vector<llvm::Value*> regs;
  };
  size_t n = u.code.size();
  std::vector<std::vector<Edge>> incoming(n + 1);
  std::vector<llvm::Value*> regs(std::max<size_t>(u.registers, 1), k64(0));
  auto R = [&](uint32_t x) { return regs[x < regs.size() ? x : 0]; };
  auto set = [&](uint32_t x, llvm::Value* v) { regs[x < regs.size() ? x : 0] = v; };
  llvm::Value* fault = k8(0);  // the first reached fault's code
  llvm::Value* pred = yes;     // whether the VM reaches the current instruction
  bool live = true;            // whether the previous instruction falls through
  auto checked = [&](llvm::Value* code) {
    fault = b.CreateSelect(b.CreateLogicalAnd(pred, b.CreateICmpEQ(fault, k8(0))), code, fault);
    return b.CreateLoad(i64_, tmp);
  };
  // Joins the edges into instruction i; false when nothing reaches it.
  auto join = [&](std::vector<Edge>& edges) {
    if (live) edges.push_back({pred, regs});
    if (edges.empty()) return false;
    pred = edges[0].pred;
    for (size_t k = 1; k < edges.size(); ++k) pred = b.CreateLogicalOr(pred, edges[k].pred);
    for (size_t r = 0; r < regs.size(); ++r) {
      llvm::Value* v = edges[0].regs[r];
      for (size_t k = 1; k < edges.size(); ++k)
        if (edges[k].regs[r] != v) v = b.CreateSelect(edges[k].pred, edges[k].regs[r], v);
      regs[r] = v;
    }
    return true;
  };
  struct Exit {
    llvm::Value* pred;
    llvm::Value* value;
    llvm::Value* flags;
  };
  std::vector<Exit> exits;
  for (size_t i = 0; i < n; ++i) {
    const bytecode::Instr& ins = u.code[i];
    if (!join(incoming[i])) continue;  // unreachable
    live = true;
    switch (ins.op) {
      case Op::LOAD_CONST: set(ins.d, konst(b, fn, i, ins.a)); break;
      case Op::LOAD_PROFILE: {  // crm_jit_load_profile for a row that covers the field
        if (!general) {
          set(ins.d, checked(b.CreateCall(op("crm_jit_load_profile"), {ctx, k32(ins.a), k8(required(ins.a)), tmp})));
          break;
        }
        llvm::Value* has = has_field(ins.a);
        llvm::Value* v = b.CreateLoad(i64_, b.CreateInBoundsGEP(i64_, values, k64(ins.a)));
        set(ins.d, b.CreateSelect(has, v, k64(0)));
        if (required(ins.a))
          fault = b.CreateSelect(b.CreateLogicalAnd(pred, b.CreateAnd(b.CreateNot(has), b.CreateICmpEQ(fault, k8(0)))),
                                 k8(static_cast<uint8_t>(ops::Fault::MissingProfileField)), fault);
        break;
      }
      case Op::HAS_PROFILE:
        set(ins.d, general ? b.CreateZExt(has_field(ins.a), i64_) : b.CreateCall(op("crm_jit_has_profile"), {ctx, k32(ins.a)}));
        break;
      case Op::LOAD_EVENT: set(ins.d, b.CreateCall(op("crm_jit_load_event"), {ctx, k32(ins.a)})); break;
      case Op::HAS_EVENT: set(ins.d, b.CreateCall(op("crm_jit_has_event"), {ctx, k32(ins.a)})); break;
      case Op::LOAD_NOW: set(ins.d, b.CreateCall(op("crm_jit_now"), {ctx})); break;
      case Op::MOV: set(ins.d, R(ins.a)); break;
      case Op::NOT: set(ins.d, b.CreateCall(op("crm_jit_not"), {R(ins.a)})); break;
      case Op::AND:
      case Op::AND_THEN: set(ins.d, b.CreateCall(op("crm_jit_and"), {R(ins.a), R(ins.b)})); break;
      case Op::OR:
      case Op::OR_ELSE: set(ins.d, b.CreateCall(op("crm_jit_or"), {R(ins.a), R(ins.b)})); break;
      case Op::JUMP:
        incoming[ins.a].push_back({pred, regs});
        live = false;
        break;
      case Op::JUMP_IF_FALSE:
      case Op::JUMP_IF_TRUE: {
        llvm::Value* taken = ins.op == Op::JUMP_IF_FALSE ? b.CreateICmpEQ(R(ins.a), k64(0)) : b.CreateICmpNE(R(ins.a), k64(0));
        // Logical (select) rather than bitwise: a value computed off the path never decides.
        incoming[ins.b].push_back({b.CreateLogicalAnd(pred, taken), regs});
        pred = b.CreateLogicalAnd(pred, b.CreateNot(taken));
        break;
      }
      case Op::EQ: set(ins.d, b.CreateCall(op("crm_jit_eq"), {R(ins.a), R(ins.b)})); break;
      case Op::NE: set(ins.d, b.CreateCall(op("crm_jit_ne"), {R(ins.a), R(ins.b)})); break;
      case Op::LT: set(ins.d, b.CreateCall(op("crm_jit_lt"), {R(ins.a), R(ins.b)})); break;
      case Op::LE: set(ins.d, b.CreateCall(op("crm_jit_le"), {R(ins.a), R(ins.b)})); break;
      case Op::EQ_K: set(ins.d, b.CreateCall(op("crm_jit_eq"), {R(ins.a), konst(b, fn, i, ins.b)})); break;
      case Op::NE_K: set(ins.d, b.CreateCall(op("crm_jit_ne"), {R(ins.a), konst(b, fn, i, ins.b)})); break;
      case Op::LT_K: set(ins.d, b.CreateCall(op("crm_jit_lt"), {R(ins.a), konst(b, fn, i, ins.b)})); break;
      case Op::LE_K: set(ins.d, b.CreateCall(op("crm_jit_le"), {R(ins.a), konst(b, fn, i, ins.b)})); break;
      case Op::GT_K: set(ins.d, b.CreateCall(op("crm_jit_gt"), {R(ins.a), konst(b, fn, i, ins.b)})); break;
      case Op::GE_K: set(ins.d, b.CreateCall(op("crm_jit_ge"), {R(ins.a), konst(b, fn, i, ins.b)})); break;
      case Op::ADD: set(ins.d, checked(b.CreateCall(op("crm_jit_add"), {R(ins.a), R(ins.b), tmp}))); break;
      case Op::SUB: set(ins.d, checked(b.CreateCall(op("crm_jit_sub"), {R(ins.a), R(ins.b), tmp}))); break;
      case Op::MUL_INT: set(ins.d, checked(b.CreateCall(op("crm_jit_mul_int"), {R(ins.a), R(ins.b), tmp}))); break;
      case Op::NEG: set(ins.d, checked(b.CreateCall(op("crm_jit_neg"), {R(ins.a), tmp}))); break;
      case Op::INT_TO_FIX: set(ins.d, checked(b.CreateCall(op("crm_jit_int_to_fix"), {R(ins.a), tmp}))); break;
      case Op::TIME_ADD: set(ins.d, checked(b.CreateCall(op("crm_jit_time_add"), {R(ins.a), R(ins.b), tmp}))); break;
      case Op::DATE_ADD: set(ins.d, checked(b.CreateCall(op("crm_jit_date_add"), {R(ins.a), R(ins.b), tmp}))); break;
      case Op::DATE_DIFF: set(ins.d, checked(b.CreateCall(op("crm_jit_date_diff"), {R(ins.a), R(ins.b), tmp}))); break;
      case Op::COALESCE:
      case Op::SELECT: set(ins.d, b.CreateCall(op("crm_jit_select"), {R(ins.a), R(ins.b), R(ins.c)})); break;
      case Op::IN_SET:
        set(ins.d, b.CreateCall(op("crm_jit_in_set"), {set_ptr(ins.b), k64(static_cast<int64_t>(p_.sets[ins.b].size())), R(ins.a)}));
        break;
      case Op::RET:
        exits.push_back({pred, R(ins.a), k64(kPresentFlag)});
        live = false;
        break;
      case Op::RET_OPT: {
        llvm::Value* present = b.CreateICmpNE(R(ins.b), k64(0));
        exits.push_back({pred, b.CreateSelect(present, R(ins.a), k64(0)), b.CreateSelect(present, k64(kPresentFlag), k64(0))});
        live = false;
        break;
      }
      default:  // flat_ok() admits only the cases above
        break;
    }
  }
  if (join(incoming[n])) exits.push_back({pred, k64(0), k64(kPresentFlag)});  // past the end: 0
  llvm::Value* value = k64(0);
  llvm::Value* flags = k64(kPresentFlag);
  if (!exits.empty()) {
    value = exits[0].value;
    flags = exits[0].flags;
    for (size_t k = 1; k < exits.size(); ++k) {
      value = b.CreateSelect(exits[k].pred, exits[k].value, value);
      flags = b.CreateSelect(exits[k].pred, exits[k].flags, flags);
    }
  }
  llvm::Value* faulted = b.CreateICmpNE(fault, k8(0));
  b.CreateRet(pack(b, b.CreateSelect(faulted, k64(0), value), b.CreateSelect(faulted, b.CreateZExt(fault, i64_), flags)));
  return fn;
}

llvm::Function* Translator::batch(uint32_t unit, std::string& error, const std::string* shape, const std::string& name,
                                  bool selection) {
  const bytecode::Unit& u = p_.units[unit];
  for (const auto& ins : u.code)
    if (ins.op == Op::JUMP || ins.op == Op::JUMP_IF_FALSE || ins.op == Op::JUMP_IF_TRUE) {
      error = unit_label(p_, unit) + " has jumps: batch code needs a jump-free unit";
      return nullptr;
    }
  auto* fty = llvm::FunctionType::get(selection ? static_cast<llvm::Type*>(out_ty_) : llvm::Type::getVoidTy(c_),
                                      {ptr_, ptr_, i64_, i64_, ptr_, ptr_}, false);
  auto* fn = llvm::Function::Create(fty, llvm::GlobalValue::ExternalLinkage,
                                    name.empty() ? "crm_batch_" + std::to_string(unit) : name, m_);
  llvm::Value* in = fn->getArg(0);
  llvm::Value* ctx = fn->getArg(1);
  llvm::Value* base = fn->getArg(2);
  llvm::Value* count = fn->getArg(3);
  llvm::Value* values = fn->getArg(4);
  llvm::Value* errors = fn->getArg(5);
  for (unsigned a : {0u, 1u, 4u, 5u}) fn->addParamAttr(a, llvm::Attribute::NoAlias);
  auto* entry = llvm::BasicBlock::Create(c_, "entry", fn);
  llvm::IRBuilder<> b(entry);
  auto* tmp = b.CreateAlloca(i64_, nullptr, "tmp");
  auto* args = b.CreateAlloca(llvm::ArrayType::get(i64_, max_call_args(u)), nullptr, "args");
  auto* agg_v = b.CreateAlloca(i64_, nullptr, "agg_v");
  auto* agg_s = b.CreateAlloca(i8_, nullptr, "agg_s");
  // Selection code: a byte per lane (selected, faulted) for a word's 64 lanes, in a loop that
  // vectorises; the word's bits after it.
  auto* lanes_ty = llvm::ArrayType::get(i8_, 64);
  llvm::AllocaInst* sel_buf = selection ? b.CreateAlloca(lanes_ty, nullptr, "sel") : nullptr;
  llvm::AllocaInst* err_buf = selection ? b.CreateAlloca(lanes_ty, nullptr, "err") : nullptr;
  if (selection) {
    sel_buf->setAlignment(llvm::Align(64));
    err_buf->setAlignment(llvm::Align(64));
  }
  // Specialised: each column's pointers once, before the loop.
  std::map<uint32_t, std::pair<llvm::Value*, llvm::Value*>> col;
  if (shape)
    for (const auto& ins : u.code)
      if ((ins.op == Op::LOAD_PROFILE || ins.op == Op::HAS_PROFILE) && ins.a < shape->size() && (*shape)[ins.a] != 'x' &&
          !col.count(ins.a))
        col[ins.a] = {b.CreateCall(op("crm_jit_batch_col_data"), {in, k32(ins.a)}),
                      b.CreateCall(op("crm_jit_batch_col_present"), {in, k32(ins.a)})};
  llvm::Value* zero = k64(0);
  llvm::Value* no = llvm::ConstantInt::getFalse(c_);

  // One lane of row `row`: straight-line code over SSA values, a value and an error bit per
  // register; out_v / out_e the returned value and the lane's fault bit. Emitted at b's
  // insertion point; false (error set) for an instruction the JIT does not support.
  auto emit_lane = [&](llvm::Value* row, llvm::Value*& out_v, llvm::Value*& out_e) -> bool {
    std::vector<llvm::Value*> v(std::max<size_t>(u.registers, 1), zero), e(v.size(), no);
    std::map<uint32_t, std::pair<llvm::Value*, llvm::Value*>> aggs;  // read once per row
    auto V = [&](uint32_t x) { return v[x < v.size() ? x : 0]; };
    auto E = [&](uint32_t x) { return e[x < e.size() ? x : 0]; };
    auto put = [&](uint32_t x, llvm::Value* val, llvm::Value* err) {
      if (x >= v.size()) x = 0;
      v[x] = val;
      e[x] = err;
    };
    auto fault = [&](llvm::Value* code) { return b.CreateICmpNE(code, k8(0)); };
    auto faulting = [&](llvm::Value* code, llvm::Value* err) {
      llvm::Value* f = fault(code);
      return std::make_pair(b.CreateLoad(i64_, tmp), b.CreateOr(err, f));
    };
    out_v = out_e = nullptr;
    for (const bytecode::Instr& ins : u.code) {
      switch (ins.op) {
        case Op::LOAD_CONST: put(ins.d, k64(constant(ins.a)), no); break;
        case Op::LOAD_PROFILE:
        case Op::HAS_PROFILE: {
          if (shape) {  // the batch VM's LOAD_PROFILE / HAS_PROFILE for this column layout
            bool has_op = ins.op == Op::HAS_PROFILE;
            char kind = ins.a < shape->size() ? (*shape)[ins.a] : 'x';
            if (kind == 'x') {  // no column: no value; a required field faults
              put(ins.d, zero, llvm::ConstantInt::getBool(c_, required(ins.a) && !has_op));
              break;
            }
            auto [data, pres] = col.at(ins.a);
            bool with_presence = kind == 'P' || kind == 'Q';
            llvm::Value* present = llvm::ConstantInt::getTrue(c_);
            if (with_presence) present = b.CreateICmpNE(b.CreateLoad(i8_, b.CreateInBoundsGEP(i8_, pres, row)), k8(0));
            if (has_op) {
              put(ins.d, b.CreateZExt(present, i64_), no);
              break;
            }
            llvm::Value* v = (kind == 'p' || kind == 'P')
                                 ? b.CreateSExt(b.CreateLoad(i32_, b.CreateInBoundsGEP(i32_, data, row)), i64_)
                                 : b.CreateLoad(i64_, b.CreateInBoundsGEP(i64_, data, row));
            put(ins.d, with_presence ? b.CreateSelect(present, v, zero) : v,
                required(ins.a) ? b.CreateNot(present) : no);
            break;
          }
          llvm::Value* code = b.CreateCall(op("crm_jit_batch_profile"),
                                           {in, k32(ins.a), k8(required(ins.a)), k8(ins.op == Op::HAS_PROFILE), row, tmp});
          put(ins.d, b.CreateLoad(i64_, tmp), fault(code));
          break;
        }
        case Op::LOAD_EVENT:
        case Op::HAS_EVENT:  // batches have no trigger event: a read faults, as in the batch VM
          put(ins.d, zero, llvm::ConstantInt::getTrue(c_));
          break;
        case Op::LOAD_AGG:
        case Op::HAS_AGG: {
          auto it = aggs.find(ins.a);
          if (it == aggs.end()) {
            b.CreateCall(op("crm_jit_batch_agg"), {in, row, k32(ins.a), agg_v, agg_s});
            it = aggs.emplace(ins.a, std::make_pair(b.CreateLoad(i64_, agg_v), b.CreateLoad(i8_, agg_s))).first;
          }
          llvm::Value* code = b.CreateCall(op("crm_jit_batch_agg_pick"), {it->second.first, it->second.second, k8(ins.op == Op::HAS_AGG), tmp});
          put(ins.d, b.CreateLoad(i64_, tmp), fault(code));
          break;
        }
        case Op::LOAD_NOW: put(ins.d, b.CreateCall(op("crm_jit_now"), {ctx}), no); break;
        case Op::MOV: put(ins.d, V(ins.a), E(ins.a)); break;
        case Op::NOT: put(ins.d, b.CreateCall(op("crm_jit_not"), {V(ins.a)}), E(ins.a)); break;
        case Op::AND: put(ins.d, b.CreateCall(op("crm_jit_and"), {V(ins.a), V(ins.b)}), b.CreateOr(E(ins.a), E(ins.b))); break;
        case Op::OR: put(ins.d, b.CreateCall(op("crm_jit_or"), {V(ins.a), V(ins.b)}), b.CreateOr(E(ins.a), E(ins.b))); break;
        // The right operand's fault counts only where the scalar VM's short-circuit reaches it.
        case Op::AND_THEN:
          put(ins.d, b.CreateCall(op("crm_jit_and"), {V(ins.a), V(ins.b)}),
              b.CreateOr(E(ins.a), b.CreateAnd(b.CreateICmpNE(V(ins.a), zero), E(ins.b))));
          break;
        case Op::OR_ELSE:
          put(ins.d, b.CreateCall(op("crm_jit_or"), {V(ins.a), V(ins.b)}),
              b.CreateOr(E(ins.a), b.CreateAnd(b.CreateICmpEQ(V(ins.a), zero), E(ins.b))));
          break;
        case Op::EQ: put(ins.d, b.CreateCall(op("crm_jit_eq"), {V(ins.a), V(ins.b)}), b.CreateOr(E(ins.a), E(ins.b))); break;
        case Op::NE: put(ins.d, b.CreateCall(op("crm_jit_ne"), {V(ins.a), V(ins.b)}), b.CreateOr(E(ins.a), E(ins.b))); break;
        case Op::LT: put(ins.d, b.CreateCall(op("crm_jit_lt"), {V(ins.a), V(ins.b)}), b.CreateOr(E(ins.a), E(ins.b))); break;
        case Op::LE: put(ins.d, b.CreateCall(op("crm_jit_le"), {V(ins.a), V(ins.b)}), b.CreateOr(E(ins.a), E(ins.b))); break;
        case Op::EQ_K: put(ins.d, b.CreateCall(op("crm_jit_eq"), {V(ins.a), k64(constant(ins.b))}), E(ins.a)); break;
        case Op::NE_K: put(ins.d, b.CreateCall(op("crm_jit_ne"), {V(ins.a), k64(constant(ins.b))}), E(ins.a)); break;
        case Op::LT_K: put(ins.d, b.CreateCall(op("crm_jit_lt"), {V(ins.a), k64(constant(ins.b))}), E(ins.a)); break;
        case Op::LE_K: put(ins.d, b.CreateCall(op("crm_jit_le"), {V(ins.a), k64(constant(ins.b))}), E(ins.a)); break;
        case Op::GT_K: put(ins.d, b.CreateCall(op("crm_jit_gt"), {V(ins.a), k64(constant(ins.b))}), E(ins.a)); break;
        case Op::GE_K: put(ins.d, b.CreateCall(op("crm_jit_ge"), {V(ins.a), k64(constant(ins.b))}), E(ins.a)); break;
        case Op::STR_LT:
          put(ins.d, b.CreateCall(op("crm_jit_str_lt"), {ctx, V(ins.a), V(ins.b)}), b.CreateOr(E(ins.a), E(ins.b)));
          break;
        case Op::STR_LE:
          put(ins.d, b.CreateCall(op("crm_jit_str_le"), {ctx, V(ins.a), V(ins.b)}), b.CreateOr(E(ins.a), E(ins.b)));
          break;
        case Op::ADD: case Op::SUB: case Op::MUL_INT: case Op::MUL_FIX: case Op::DIV_FIX: {
          const char* name = ins.op == Op::ADD ? "crm_jit_add" : ins.op == Op::SUB ? "crm_jit_sub" : ins.op == Op::MUL_INT ? "crm_jit_mul_int"
                             : ins.op == Op::MUL_FIX ? "crm_jit_mul_fix" : "crm_jit_div_fix";
          auto [val, err] = faulting(b.CreateCall(op(name), {V(ins.a), V(ins.b), tmp}), b.CreateOr(E(ins.a), E(ins.b)));
          put(ins.d, val, err);
          break;
        }
        case Op::NEG:
        case Op::INT_TO_FIX: {
          auto [val, err] = faulting(b.CreateCall(op(ins.op == Op::NEG ? "crm_jit_neg" : "crm_jit_int_to_fix"), {V(ins.a), tmp}), E(ins.a));
          put(ins.d, val, err);
          break;
        }
        case Op::TIME_ADD:
        case Op::DATE_ADD:
        case Op::DATE_DIFF: {
          auto [val, err] = faulting(b.CreateCall(op(ins.op == Op::TIME_ADD   ? "crm_jit_time_add"
                                                     : ins.op == Op::DATE_ADD ? "crm_jit_date_add"
                                                                              : "crm_jit_date_diff"),
                                                  {V(ins.a), V(ins.b), tmp}),
                                     b.CreateOr(E(ins.a), E(ins.b)));
          put(ins.d, val, err);
          break;
        }
        case Op::COALESCE:  // `??` evaluates every operand: every operand's fault counts
          put(ins.d, b.CreateCall(op("crm_jit_select"), {V(ins.a), V(ins.b), V(ins.c)}),
              b.CreateOr(E(ins.a), b.CreateOr(E(ins.b), E(ins.c))));
          break;
        case Op::SELECT:  // `if`: only the chosen branch's fault counts
          put(ins.d, b.CreateCall(op("crm_jit_select"), {V(ins.a), V(ins.b), V(ins.c)}),
              b.CreateOr(E(ins.a), b.CreateSelect(b.CreateICmpNE(V(ins.a), zero), E(ins.b), E(ins.c))));
          break;
        case Op::IN_SET:
          put(ins.d,
              b.CreateCall(op("crm_jit_in_set"), {set_ptr(ins.b), k64(static_cast<int64_t>(p_.sets[ins.b].size())), V(ins.a)}),
              E(ins.a));
          break;
        case Op::IN_VALUE_SET:
          put(ins.d, b.CreateCall(host("crm_jit_host_in_value_set", i64_, {ptr_, i64_, i64_}), {ctx, V(ins.a), V(ins.b)}),
              b.CreateOr(E(ins.a), E(ins.b)));
          break;
        case Op::IN_VALUE_SET_DEC: {
          auto [val, err] = faulting(b.CreateCall(host("crm_jit_host_in_value_set_dec", i8_, {ptr_, i64_, i64_, ptr_}),
                                                  {ctx, V(ins.a), V(ins.b), tmp}),
                                     b.CreateOr(E(ins.a), E(ins.b)));
          put(ins.d, val, err);
          break;
        }
        case Op::STR_CONCAT:
          put(ins.d, b.CreateCall(host("crm_jit_host_concat", i64_, {ptr_, i64_, i64_}), {ctx, V(ins.a), V(ins.b)}),
              b.CreateOr(E(ins.a), E(ins.b)));
          break;
        case Op::CALL: {
          llvm::Value* err = no;
          for (uint32_t k = 0; k < ins.c; ++k) {
            b.CreateStore(V(ins.b + k), b.CreateConstInBoundsGEP2_32(args->getAllocatedType(), args, 0, k));
            err = b.CreateOr(err, E(ins.b + k));
          }
          auto [val, e2] = faulting(b.CreateCall(op("crm_jit_call"), {k32(ins.a), args, ctx, tmp}), err);
          put(ins.d, val, e2);
          break;
        }
        case Op::RET:
          out_v = V(ins.a);
          out_e = E(ins.a);
          break;
        case Op::RET_OPT:
          out_v = b.CreateSelect(b.CreateICmpNE(V(ins.b), zero), V(ins.a), zero);
          out_e = b.CreateOr(E(ins.a), E(ins.b));
          break;
        default:
          error = unit_label(p_, unit) + ": instruction " + bytecode::op_name(ins.op) + " is not supported by the JIT";
          return false;
      }
      if (out_v) break;
    }
    if (!out_v) {  // no return: every lane an error, as in the batch VM
      out_v = zero;
      out_e = llvm::ConstantInt::getTrue(c_);
    }
    return true;
  };

  // A loop of lanes [0, trip) over rows first + lane, whose lane code `keep` stores or adds to
  // the loop's accumulators `acc` (in: their values before the loop; in `keep`: their values
  // in the lane, to update; out: their values after the loop). `trip` is a constant for the
  // full words and chunks of the selection code, so the vectorised loop has no remainder.
  // Leaves b after the loop.
  using Keep = std::function<void(llvm::Value*, llvm::Value*, llvm::Value*, std::vector<llvm::Value*>&)>;
  auto lane_loop = [&](llvm::Value* first, llvm::Value* trip, const char* label, std::vector<llvm::Value*>& acc,
                       const Keep& keep) -> bool {
    llvm::BasicBlock* before = b.GetInsertBlock();
    auto* loop = llvm::BasicBlock::Create(c_, label, fn);
    auto* done = llvm::BasicBlock::Create(c_, std::string(label) + "_done", fn);
    b.CreateBr(loop);
    b.SetInsertPoint(loop);
    llvm::PHINode* lane = b.CreatePHI(i64_, 2, "i");
    lane->addIncoming(k64(0), before);
    std::vector<llvm::PHINode*> phis;
    for (llvm::Value* a : acc) {
      phis.push_back(b.CreatePHI(a->getType(), 2, "acc"));
      phis.back()->addIncoming(a, before);
    }
    acc.assign(phis.begin(), phis.end());
    llvm::Value *out_v, *out_e;
    if (!emit_lane(b.CreateAdd(first, lane, "row"), out_v, out_e)) return false;
    keep(lane, out_v, out_e, acc);
    llvm::Value* next = b.CreateAdd(lane, k64(1), "next", true, true);
    lane->addIncoming(next, b.GetInsertBlock());
    for (size_t k = 0; k < phis.size(); ++k) phis[k]->addIncoming(acc[k], b.GetInsertBlock());
    b.CreateCondBr(b.CreateICmpULT(next, trip), loop, done);
    b.SetInsertPoint(done);
    return true;
  };

  // The running totals a selection function returns (selected rows, faulted rows), in i64.
  struct Totals {
    llvm::Value* matches;
    llvm::Value* faults;
  };
  auto fail = [&]() -> llvm::Function* {
    fn->eraseFromParent();
    return nullptr;
  };
  // `if (n != 0) body`, joined: the totals as they were, or as the body left them.
  auto guarded = [&](llvm::Value* n, Totals in, const std::string& name,
                     const std::function<bool(Totals&)>& body) -> std::optional<Totals> {
    llvm::BasicBlock* from = b.GetInsertBlock();
    auto* then = llvm::BasicBlock::Create(c_, name, fn);
    auto* join = llvm::BasicBlock::Create(c_, name + "_done", fn);
    b.CreateCondBr(b.CreateICmpEQ(n, zero), join, then);
    b.SetInsertPoint(then);
    Totals t = in;
    if (!body(t)) return std::nullopt;
    llvm::BasicBlock* end = b.GetInsertBlock();
    b.CreateBr(join);
    b.SetInsertPoint(join);
    auto merge = [&](llvm::Value* before, llvm::Value* after, const char* what) {
      llvm::PHINode* phi = b.CreatePHI(i64_, 2, name + "_" + what);
      phi->addIncoming(before, from);
      phi->addIncoming(after, end);
      return phi;
    };
    return Totals{merge(in.matches, t.matches, "matches"), merge(in.faults, t.faults, "faults")};
  };
  // `for (k = 0; k < n; ++k) body(k)`, entered only when n != 0, the totals carried in phis.
  auto counted = [&](llvm::Value* n, Totals in, const std::string& name,
                     const std::function<bool(llvm::Value*, Totals&)>& body) {
    return guarded(n, in, name, [&](Totals& t) {
      llvm::BasicBlock* pre = b.GetInsertBlock();
      auto* head = llvm::BasicBlock::Create(c_, name + "_loop", fn);
      b.CreateBr(head);
      b.SetInsertPoint(head);
      llvm::PHINode* k = b.CreatePHI(i64_, 2, name + "_k");
      llvm::PHINode* m = b.CreatePHI(i64_, 2, name + "_matches");
      llvm::PHINode* f = b.CreatePHI(i64_, 2, name + "_faults");
      k->addIncoming(zero, pre);
      m->addIncoming(t.matches, pre);
      f->addIncoming(t.faults, pre);
      Totals cur{m, f};
      if (!body(k, cur)) return false;
      llvm::Value* next = b.CreateAdd(k, k64(1), name + "_next", true, true);
      llvm::BasicBlock* latch = b.GetInsertBlock();
      k->addIncoming(next, latch);
      m->addIncoming(cur.matches, latch);
      f->addIncoming(cur.faults, latch);
      auto* exit = llvm::BasicBlock::Create(c_, name + "_exit", fn);
      b.CreateCondBr(b.CreateICmpULT(next, n), head, exit);
      b.SetInsertPoint(exit);
      t = cur;
      return true;
    });
  };

  if (!selection) {  // BatchFn: a value and an error byte per row of one block
    auto* body = llvm::BasicBlock::Create(c_, "body", fn);
    auto* exit = llvm::BasicBlock::Create(c_, "exit", fn);
    b.CreateCondBr(b.CreateICmpEQ(count, k64(0)), exit, body);
    b.SetInsertPoint(body);
    std::vector<llvm::Value*> none;
    if (!lane_loop(base, count, "lane", none, [&](llvm::Value* lane, llvm::Value* out_v, llvm::Value* out_e, auto&) {
          b.CreateStore(out_v, b.CreateInBoundsGEP(i64_, values, lane));
          b.CreateStore(b.CreateZExt(out_e, i8_), b.CreateInBoundsGEP(i8_, errors, lane));
        }))
      return fail();
    b.CreateBr(exit);
    b.SetInsertPoint(exit);
    b.CreateRetVoid();
    return fn;
  }

  // SelectFn: rows [base, base + count) in one call, whatever count is.
  // Counts only (null bitmaps), the way native code counts: chunks of kChunk rows, each a
  // vectorised loop of exactly kChunk lanes adding the lane's selected and faulted bits in
  // 32-bit accumulators, then a loop over the rows left.
  constexpr int64_t kChunk = 2048;
  auto* counts = llvm::BasicBlock::Create(c_, "counts", fn);
  auto* words_path = llvm::BasicBlock::Create(c_, "words_path", fn);
  b.CreateCondBr(b.CreateICmpEQ(values, llvm::ConstantPointerNull::get(ptr_)), counts, words_path);
  {
    b.SetInsertPoint(counts);
    Keep add = [&](llvm::Value*, llvm::Value* out_v, llvm::Value* out_e, std::vector<llvm::Value*>& acc) {
      llvm::Value* sel = b.CreateAnd(b.CreateNot(out_e), b.CreateICmpNE(out_v, zero));
      acc[0] = b.CreateAdd(acc[0], b.CreateZExt(sel, i32_));
      acc[1] = b.CreateAdd(acc[1], b.CreateZExt(out_e, i32_));
    };
    // Lead rows first, up to where the first column read is 64-byte aligned (a column of a
    // std::vector sits 16 bytes past a page): then the chunks' 64-byte loads of every column
    // laid out alike do not straddle cache lines.
    llvm::Value* lead = zero;
    if (!col.empty()) {
      char kind = (*shape)[col.begin()->first];
      int64_t width = kind == 'p' || kind == 'P' ? 4 : 8;
      llvm::Value* addr =
          b.CreatePtrToInt(b.CreateInBoundsGEP(i8_, col.begin()->second.first, b.CreateMul(base, k64(width))), i64_);
      llvm::Value* rows = b.CreateUDiv(b.CreateAnd(b.CreateSub(zero, addr), k64(63)), k64(width));
      rows = b.CreateSelect(b.CreateICmpEQ(b.CreateAnd(addr, k64(width - 1)), zero), rows, zero);
      lead = b.CreateSelect(b.CreateICmpULT(rows, count), rows, count, "lead");
    }
    // The selected and faulted bits of rows [first, first + rows) added to the totals.
    auto add_lanes = [&](llvm::Value* first, llvm::Value* rows, const char* label, Totals& t) {
      std::vector<llvm::Value*> acc{k32(0), k32(0)};
      if (!lane_loop(first, rows, label, acc, add)) return false;
      t.matches = b.CreateAdd(t.matches, b.CreateZExt(acc[0], i64_));
      t.faults = b.CreateAdd(t.faults, b.CreateZExt(acc[1], i64_));
      return true;
    };
    auto led = guarded(lead, Totals{zero, zero}, "lead", [&](Totals& t) { return add_lanes(base, lead, "lead_lane", t); });
    if (!led) return fail();
    llvm::Value* cbase = b.CreateAdd(base, lead, "chunk_base");
    llvm::Value* ccount = b.CreateSub(count, lead, "chunk_rows");
    llvm::Value* chunks = b.CreateUDiv(ccount, k64(kChunk), "chunks");
    auto chunked = counted(chunks, *led, "chunk", [&](llvm::Value* c, Totals& t) {
      return add_lanes(b.CreateAdd(cbase, b.CreateMul(c, k64(kChunk))), k64(kChunk), "chunk_lane", t);
    });
    if (!chunked) return fail();
    llvm::Value* rest = b.CreateURem(ccount, k64(kChunk), "chunk_rest");
    auto all = guarded(rest, *chunked, "chunk_rest", [&](Totals& t) {
      return add_lanes(b.CreateAdd(cbase, b.CreateMul(chunks, k64(kChunk))), rest, "rest_lane", t);
    });
    if (!all) return fail();
    b.CreateRet(pack(b, all->matches, all->faults));
  }

  // Bitmaps: a word (64 lanes) at a time, each full word a vectorised loop of exactly 64 lanes,
  // then the lanes' bytes to bitmap words (64 bytes compared at once: a byte-mask instruction
  // on x86) and popcounts; the last, partial word the same loop over the rows left, its bits
  // past them cleared.
  b.SetInsertPoint(words_path);
  auto* v64 = llvm::FixedVectorType::get(i8_, 64);
  llvm::Function* ctpop = llvm::Intrinsic::getDeclaration(&m_, llvm::Intrinsic::ctpop, {i64_});
  Keep keep = [&](llvm::Value* lane, llvm::Value* out_v, llvm::Value* out_e, std::vector<llvm::Value*>&) {
    llvm::Value* sel = b.CreateAnd(b.CreateNot(out_e), b.CreateICmpNE(out_v, zero));
    b.CreateStore(b.CreateZExt(sel, i8_), b.CreateInBoundsGEP(lanes_ty, sel_buf, {k64(0), lane}));
    b.CreateStore(b.CreateZExt(out_e, i8_), b.CreateInBoundsGEP(lanes_ty, err_buf, {k64(0), lane}));
  };
  std::vector<llvm::Value*> none;
  // The word's bitmaps and counts from the lane bytes; `mask` clears lanes past the rows.
  auto finish_word = [&](llvm::Value* w, llvm::Value* mask, llvm::Value*& matches, llvm::Value*& faults) {
    auto word = [&](llvm::AllocaInst* buf) {
      llvm::Value* bytes = b.CreateAlignedLoad(v64, buf, llvm::Align(64));
      llvm::Value* bits = b.CreateBitCast(b.CreateICmpNE(bytes, llvm::Constant::getNullValue(v64)), i64_);
      bits = b.CreateFreeze(bits);
      return mask ? b.CreateAnd(bits, mask) : bits;
    };
    llvm::Value* sw = word(sel_buf);
    llvm::Value* fw = word(err_buf);
    matches = b.CreateAdd(matches, b.CreateCall(ctpop, {sw}));
    faults = b.CreateAdd(faults, b.CreateCall(ctpop, {fw}));
    b.CreateStore(sw, b.CreateInBoundsGEP(i64_, values, w));
    b.CreateStore(fw, b.CreateInBoundsGEP(i64_, errors, w));
  };
  llvm::Value* words = b.CreateLShr(count, k64(6), "full_words");
  auto full = counted(words, Totals{zero, zero}, "word", [&](llvm::Value* w, Totals& t) {
    if (!lane_loop(b.CreateAdd(base, b.CreateShl(w, k64(6))), k64(64), "lane", none, keep)) return false;
    finish_word(w, nullptr, t.matches, t.faults);
    return true;
  });
  if (!full) return fail();
  llvm::Value* rest = b.CreateAnd(count, k64(63), "rest");
  auto all = guarded(rest, *full, "tail", [&](Totals& t) {
    if (!lane_loop(b.CreateAdd(base, b.CreateShl(words, k64(6))), rest, "tail_lane", none, keep)) return false;
    finish_word(words, b.CreateSub(b.CreateShl(k64(1), rest), k64(1)), t.matches, t.faults);
    return true;
  });
  if (!all) return fail();
  b.CreateRet(pack(b, all->matches, all->faults));
  return fn;
}

// What every module is compiled for: the host CPU and its features (AVX2 where present).
struct Target {
  std::unique_ptr<llvm::TargetMachine> tm;
  std::string cpu, features;
  llvm::orc::JITTargetMachineBuilder jtmb{llvm::Triple()};
};

bool make_target(Target& t, std::string& error) {
  init_llvm();
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) {
    error = "JIT: cannot target the host: " + to_string(jtmb.takeError());
    return false;
  }
  jtmb->setCodeGenOptLevel(llvm::CodeGenOpt::Aggressive);
  auto tm = jtmb->createTargetMachine();
  if (!tm) {
    error = "JIT: cannot target the host: " + to_string(tm.takeError());
    return false;
  }
  t.cpu = jtmb->getCPU();
  t.features = jtmb->getFeatures().getString();
  t.tm = std::move(*tm);
  t.jtmb = std::move(*jtmb);
  return true;
}

// A module with the operations' bitcode and the given units, optimised for the host.
struct ShapedBatch {
  uint32_t unit;
  std::string shape, name;
  bool selection = false;  // SelectFn rather than BatchFn
};
// compile_all()'s units whose code is the same up to its constants (session 17): one shape
// function translated from `rep`, and an entry `crm_unit_<m>` with m's constants per member
// (rep among them). A module holds a copy of the shape for the members it has.
struct ShapeGroup {
  uint32_t rep = 0;
  std::vector<uint32_t> members;
};
// A clause dispatcher: groups of three units (-1: none) and the function's name.
struct Dispatch {
  std::vector<int32_t> units;
  std::string name;
};

// Where one module's compile time went (Stats' fields of the same names).
struct StageTimes {
  double ir = 0, optimise = 0, codegen = 0;
  size_t ir_instructions = 0, optimised_instructions = 0;
};

size_t instruction_count(const llvm::Module& m) {
  size_t n = 0;
  for (const llvm::Function& f : m)
    for (const llvm::BasicBlock& bb : f) n += bb.size();
  return n;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::unique_ptr<llvm::Module> build_module(const bytecode::Program& p, Target& t, llvm::LLVMContext& c,
                                           const std::vector<uint32_t>& scalar_units, const std::vector<uint32_t>& batch_units_,
                                           std::string& error, const std::vector<ShapedBatch>& shaped = {},
                                           bool bulk = false, const std::vector<Dispatch>& dispatch = {},
                                           StageTimes* times = nullptr, bool eager = false,
                                           const std::vector<ShapeGroup>* shapes = nullptr) {
  auto t0 = std::chrono::steady_clock::now();
  auto buf = llvm::MemoryBuffer::getMemBuffer(
      llvm::StringRef(reinterpret_cast<const char*>(kOpsBitcode), kOpsBitcodeSize), "crm_jit_ops", false);
  auto parsed = llvm::parseBitcodeFile(buf->getMemBufferRef(), c);
  if (!parsed) {
    error = "JIT: cannot read the operations' bitcode: " + to_string(parsed.takeError());
    return nullptr;
  }
  std::unique_ptr<llvm::Module> m = std::move(*parsed);
  m->setModuleIdentifier("crm");
  m->setDataLayout(t.tm->createDataLayout());
  m->setTargetTriple(t.tm->getTargetTriple().str());
  // The operations are private to each module (every module has its own copy, inlined).
  for (const char* name : {"llvm.used", "llvm.compiler.used"})
    if (auto* g = m->getGlobalVariable(name)) g->eraseFromParent();
  for (llvm::Function& f : *m)
    if (!f.isDeclaration()) {
      f.setLinkage(llvm::GlobalValue::InternalLinkage);
      f.setComdat(nullptr);
    }
  for (llvm::GlobalVariable& g : m->globals())
    if (!g.isDeclaration()) {
      g.setLinkage(llvm::GlobalValue::InternalLinkage);
      g.setComdat(nullptr);
    }
  m->getComdatSymbolTable().clear();
  Translator tr(p, *m);
  try {
    for (uint32_t u : scalar_units)
      if (!tr.scalar(u, error)) return nullptr;
    if (shapes)
      for (const ShapeGroup& g : *shapes) {
        llvm::Function* f = tr.shape(g.rep, error);
        if (!f) return nullptr;
        for (uint32_t m : g.members) tr.thunk(m, f);
      }
    for (uint32_t u : batch_units_)
      if (!tr.batch(u, error)) return nullptr;
    for (const auto& sb : shaped)
      if (!tr.batch(sb.unit, error, &sb.shape, sb.name, sb.selection)) return nullptr;
    if (!dispatch.empty()) {
      // The units' scalar code again, private to this module (the names may already be linked
      // from other modules), each called once by its dispatcher: the inliner takes them in.
      std::map<uint32_t, llvm::Function*> fns;
      for (const auto& d : dispatch)
        for (int32_t u : d.units)
          if (u >= 0 && !fns.count(uint32_t(u))) {
            llvm::Function* f = tr.scalar(uint32_t(u), error);
            if (!f) return nullptr;
            fns[uint32_t(u)] = f;
          }
      for (const auto& d : dispatch) tr.clauses(d.units, d.name, fns);
      for (auto& [u, f] : fns) {
        f->setLinkage(llvm::GlobalValue::InternalLinkage);
        if (dispatch_config().min_pipeline) f->addFnAttr(llvm::Attribute::AlwaysInline);
      }
    }
  } catch (const std::exception& e) {
    error = std::string("JIT: ") + e.what();
    return nullptr;
  }
  // Drop the operations no unit calls before optimising: most of the bitcode, most of the time.
  for (bool changed = true; changed;) {
    changed = false;
    for (auto it = m->begin(); it != m->end();) {
      llvm::Function& f = *it++;
      if (f.hasLocalLinkage() && f.use_empty()) {
        f.eraseFromParent();
        changed = true;
      }
    }
    for (auto it = m->global_begin(); it != m->global_end();) {
      llvm::GlobalVariable& g = *it++;
      if (g.hasLocalLinkage() && g.use_empty()) {
        g.eraseFromParent();
        changed = true;
      }
    }
  }
  // Batch code (and the operations, which every unit inlines: an inlined function's features
  // must be a subset of its caller's) is compiled without AVX-512 where the host has it: LLVM
  // folds the column loads into masked AVX-512 compares (`vpcmpltd (mem), zmm, k{k}`), and on
  // this machine (AMD family 26) such a loop scans 10M profiles from memory at ~0.6x the speed
  // of the same loop in AVX2, or of g++'s AVX-512 code, which folds loads only into unmasked
  // compares (docs/performance.md §7, session 12). Scalar units keep every host feature.
  const std::string batch_features = t.features.find("+avx512f") != std::string::npos ? t.features + ",-avx512f" : t.features;
  // Every function gets an unwind table (CFI), so that a C++ exception thrown by host code the
  // native code calls (an aggregate source, the string pool's limit, an allocation in a
  // built-in) unwinds through the JIT's frames to the caller's catch. Without the attribute
  // LLVM emits no unwind information for a function it can prove `nounwind`, and the unwinder
  // stops there (std::terminate). The operations' bitcode is compiled with -fexceptions
  // (CMakeLists.txt), so the calls that can throw are not marked nounwind either. (The module
  // flag "uwtable" comes with the bitcode, clang's; a second one would be invalid IR.)
  for (llvm::Function& f : *m)
    if (!f.isDeclaration()) {
      bool full = f.getName().startswith("crm_unit_") || f.getName().startswith("crm_shape_") ||
                  f.getName().startswith("crm_clauses_");
      f.addFnAttr("target-cpu", t.cpu);
      f.addFnAttr("target-features", full ? t.features : batch_features);
      f.setUWTableKind(llvm::UWTableKind::Async);
    }
  std::string verr;
  llvm::raw_string_ostream vos(verr);
  if (llvm::verifyModule(*m, &vos)) {
    error = "JIT: generated invalid IR: " + vos.str();
    return nullptr;
  }
  if (times) {
    times->ir += seconds_since(t0);
    times->ir_instructions += instruction_count(*m);
    t0 = std::chrono::steady_clock::now();
  }
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  // CRM_JIT_TIME_PASSES=1 (a measurement aid, docs/performance.md §7): LLVM's per-pass timers
  // for the optimisation pipeline here and code generation in make_object, printed to stderr.
  // Their clock is the process's CPU time, so measure with one compile thread.
  llvm::PassInstrumentationCallbacks pic;
  std::optional<llvm::StandardInstrumentations> si;
  if (llvm::TimePassesIsEnabled) {
    si.emplace(c, false);
    si->registerCallbacks(pic, &fam);
  }
  llvm::PassBuilder pb(t.tm.get(), llvm::PipelineTuningOptions(), std::nullopt, si ? &pic : nullptr);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  // Batch loops get O3 (more aggressive loop vectorisation and unswitching), however they are
  // compiled (compile_all() compiles none: they are always compiled on first use). Clause
  // dispatchers (bulk) get O1, which inlines, promotes registers, folds and simplifies control
  // flow at a fraction of O2's cost; a unit compiled on first use (it is running) gets O2.
  llvm::OptimizationLevel level = !batch_units_.empty() || !shaped.empty() ? llvm::OptimizationLevel::O3
                                  : bulk                                   ? llvm::OptimizationLevel::O1
                                                                           : llvm::OptimizationLevel::O2;
  // compile_all()'s units (eager: compiled before anything runs, most of them perhaps never):
  // the few passes that make the translation's shape into plain code - the operations
  // inlined (all always_inline), registers out of stack slots, folding, CFG clean-up - and the
  // operations' bodies dropped. O1 ran ~60 passes per function for the same small units.
  llvm::ModulePassManager mpm;
  const bool min_pipeline = batch_units_.empty() && shaped.empty() &&
                            (dispatch.empty() ? eager && eager_config().min_pipeline : dispatch_config().min_pipeline);
  if (min_pipeline) {
    mpm.addPass(llvm::AlwaysInlinerPass(false));
    llvm::FunctionPassManager fpm;
    fpm.addPass(llvm::SROAPass(llvm::SROAOptions::ModifyCFG));
    fpm.addPass(llvm::EarlyCSEPass(false));
    fpm.addPass(llvm::InstCombinePass());
    fpm.addPass(llvm::SimplifyCFGPass());
    mpm.addPass(llvm::createModuleToFunctionPassAdaptor(std::move(fpm)));
    mpm.addPass(llvm::GlobalDCEPass());
  } else {
    mpm = pb.buildPerModuleDefaultPipeline(level);
  }
  mpm.run(*m, mam);
  if (times) {
    times->optimise += seconds_since(t0);
    times->optimised_instructions += instruction_count(*m);
  }
  return m;
}

}  // namespace

// Units compiled together into one module and object.
struct Piece {
  std::vector<uint32_t> su, bu;
  std::vector<ShapedBatch> sb;
  std::vector<Dispatch> disp;
  std::vector<ShapeGroup> shapes;  // compile_all()'s shapes and their members' entries
  bool bulk = false;  // part of compile_all() or a dispatcher: CodeGenOpt::Less (and O1 for dispatchers)
  bool eager = false;  // compile_all()'s scalar units (it compiles no other): the cheapest (eager_config())
  std::unique_ptr<llvm::MemoryBuffer> object;
  bool cached = false;
  bool rejected = false;  // a cache file was found for it but not used (cached_object())
  StageTimes times;  // filled by make_object when it compiles
};

// Bumped whenever the translation changes what object code a program gives (cache keys).
constexpr const char* kTranslatorVersion = "crm-jit-11";

std::string shaped_key(const ShapedBatch& b) { return std::to_string(b.unit) + ":" + b.shape + (b.selection ? ":sel" : ""); }

// The object cache's digests: BLAKE3 (LLVM's copy), 256 bits, as lowercase hex.
static std::string blake3_hex(llvm::ArrayRef<uint8_t> bytes, size_t out_bytes = 32) {
  llvm::BLAKE3 hasher;
  hasher.update(bytes);
  const llvm::BLAKE3Result<32> digest = hasher.final();
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (size_t i = 0; i < out_bytes && i < digest.size(); ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}
static std::string blake3_hex(std::string_view s, size_t out_bytes = 32) {
  return blake3_hex(llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()), out_bytes);
}

// A cache file: kCacheMagic, the key's length (8 hex digits) and the key itself, the object's
// BLAKE3 (64 hex digits), then the object. A file is used only when its key is exactly the key
// asked for (so two keys whose names collide cannot share a file) and its object has the
// digest written with it (so a torn, truncated or overwritten file is not linked: it would
// give every evaluation an error, or wrong code). Anything else is a miss that recompiles
// and replaces the file.
constexpr std::string_view kCacheMagic = "crm-jit-object 1\n";

static std::string cache_file_bytes(const std::string& key, llvm::StringRef object) {
  char len[16];
  std::snprintf(len, sizeof len, "%08zx", key.size());
  std::string out(kCacheMagic);
  out += len;
  out += key;
  out += blake3_hex(std::string_view(object.data(), object.size()));
  out.append(object.data(), object.size());
  return out;
}

// The object of a cache file written by cache_file_bytes() for `key`; nullopt when the file is
// not one (another format, another key, a digest that does not match its object).
static std::optional<llvm::StringRef> cached_object(llvm::StringRef file, const std::string& key) {
  if (!file.consume_front(llvm::StringRef(kCacheMagic.data(), kCacheMagic.size())) || file.size() < 8) return std::nullopt;
  unsigned long long len = 0;
  if (file.take_front(8).getAsInteger(16, len) || file.size() - 8 < len) return std::nullopt;
  file = file.drop_front(8);
  if (file.take_front(len) != key) return std::nullopt;
  file = file.drop_front(len);
  if (file.size() < 64) return std::nullopt;
  const llvm::StringRef digest = file.take_front(64);
  const llvm::StringRef object = file.drop_front(64);
  if (object.empty() || blake3_hex(std::string_view(object.data(), object.size())) != digest) return std::nullopt;
  return object;
}

struct Jit::Impl {
  const bytecode::Program& p;
  Options options;
  // The serialised program's BLAKE3, for cache keys: filled once by prepare_objects(), not
  // re-hashed per piece (session 16: hashing the ~MB program twice per piece was 8 % of a
  // cached compile_all() of 10,000 strategies).
  bool program_hashed = false;
  std::string program_digest;
  Target target;
  std::unique_ptr<llvm::orc::LLJIT> lljit;
  std::mutex mu;  // compilation
  std::unique_ptr<std::atomic<ScalarFn>[]> scalar;
  std::unique_ptr<std::atomic<BatchFn>[]> batch;
  std::set<uint32_t> batch_set;
  std::map<uint32_t, const char*> failed;  // unit -> why (texts kept in `messages`)
  std::string last_dispatcher_error;        // why the last dispatcher failed (Stats)
  std::deque<std::string> messages;
  Stats stats;
  std::atomic<size_t> code_bytes{0};

  explicit Impl(const bytecode::Program& prog) : p(prog) {}

  // Compiles the listed units into one module and publishes their entry points.
  std::map<std::string, void*> shaped;  // "unit:shape[:sel]" -> code specialised for that layout
  std::map<std::string, ClausesFn> dispatched;  // dispatcher name -> code (filled by compile_pieces)

  // Clause dispatchers by their list of units (Jit::clauses): the hash of the list, then the
  // list itself. Guarded by clause_mu (never held while compiling).
  struct ClauseEntry {
    std::vector<int32_t> units;
    ClausesFn fn = nullptr;
    uint32_t seen = 0;
    bool busy = false;    // being compiled by some thread
    bool failed = false;  // evaluated per clause for good
    bool units_compiled = false;  // its units' own code compiled in bulk (or tried) on first sight
  };
  std::mutex clause_mu;
  std::unordered_multimap<uint64_t, ClauseEntry> clause_cache;
  size_t clause_entries = 0;  // bounded by kMaxTracked (hot or not)
  size_t dispatcher_count = 0;

  // Dispatchers compiled in the background (Options::background_dispatchers): clauses() queues
  // a list's new chunks, marked busy, and returns at once; one thread makes their objects
  // (without `mu`, which the engine's threads need to compile units on first use), links each
  // under `mu` and then publishes it in its entry under clause_mu (never both at once), which
  // clauses() reads under clause_mu: a list runs per clause, on its units' code, until its last
  // chunk is published.
  // ~Jit stops the thread after the piece it is making and joins it before anything else goes.
  struct BackgroundJob {
    std::vector<Piece> pieces;
    std::vector<ClauseEntry*> entries;  // entries[k]'s dispatcher is pieces[k] (busy until done)
  };
  std::mutex bg_mu;  // guards the queue, bg_running, bg_thread's start; never held while compiling
  std::condition_variable bg_cv, bg_idle_cv;
  std::deque<BackgroundJob> bg_queue;
  size_t bg_pending = 0;  // dispatchers queued or being compiled
  bool bg_busy = false;   // the thread holds a job
  std::atomic<bool> bg_stop{false};
  std::thread bg_thread;

  // Queues `job`; false (nothing queued) when the thread cannot be started.
  bool background_enqueue(BackgroundJob&& job) {
    std::lock_guard<std::mutex> lock(bg_mu);
    if (bg_stop) return false;
    if (!bg_thread.joinable()) {
      try {
        bg_thread = std::thread([this] { background_loop(); });
      } catch (const std::system_error&) {
        return false;
      }
    }
    bg_pending += job.pieces.size();
    bg_queue.push_back(std::move(job));
    bg_cv.notify_all();
    return true;
  }

  void background_loop() {
    std::unique_lock<std::mutex> lock(bg_mu);
    for (;;) {
      bg_cv.wait(lock, [&] { return bg_stop.load() || !bg_queue.empty(); });
      if (bg_stop) return;
      BackgroundJob job = std::move(bg_queue.front());
      bg_queue.pop_front();
      bg_busy = true;
      lock.unlock();
      for (size_t k = 0; k < job.pieces.size(); ++k) {
        if (!bg_stop) background_piece(job.pieces[k], job.entries[k]);
        lock.lock();
        --bg_pending;
        lock.unlock();
      }
      lock.lock();
      bg_busy = false;
      bg_idle_cv.notify_all();
    }
  }

  // One dispatcher: its object made here, then linked and published (or its entry marked
  // failed: the list is evaluated per clause for good, as when a synchronous compile fails).
  // Linked under `mu` alone and published under `clause_mu` alone, so the engine's threads,
  // which take clause_mu once per event in clauses(), never wait for a link (or for `mu`, held
  // for seconds while a unit compiles on first use). Nothing escapes the thread: whatever
  // throws (an allocation, the test hook) fails this dispatcher like a compile error would.
  void background_piece(Piece& piece, ClauseEntry* e) {
    ClausesFn fn = nullptr;
    std::string error;
    try {
      if (options.before_background_compile) options.before_background_compile();
      auto start = std::chrono::steady_clock::now();
      {
        std::lock_guard<std::mutex> lock(mu);
        prepare_objects();
      }
      bool ok = make_object(piece, error);
      std::lock_guard<std::mutex> lock(mu);
      if (ok && link_pieces(&piece, 1, error, start)) {
        auto it = dispatched.find(piece.disp[0].name);
        if (it != dispatched.end()) fn = it->second;
      }
      if (fn) stats.background_dispatchers += 1;
    } catch (const std::exception& x) {
      fn = nullptr;
      try {
        error = x.what();
      } catch (...) {
      }
    } catch (...) {
      fn = nullptr;
      error = "unknown exception";
    }
    if (!fn) {
      // The list is evaluated per clause for good, as when a synchronous compile fails; the
      // count and the last reason are kept for Stats (nothing else reads a dispatcher's error).
      std::lock_guard<std::mutex> lock(mu);
      dispatcher_failed(piece.disp[0].name, error);
    }
    std::lock_guard<std::mutex> lock(clause_mu);
    e->busy = false;
    if (fn) e->fn = fn;
    else e->failed = true;
  }

  // Counts a dispatcher that could not be compiled and keeps why (Stats). Called with `mu`
  // held; never throws (out of memory for the text: the count stands).
  void dispatcher_failed(const std::string& name, const std::string& error) noexcept {
    stats.failed_dispatchers += 1;
    try {
      last_dispatcher_error = error.empty() ? "no code for " + name : error;
    } catch (...) {
    }
  }

  void background_wait() {
    std::unique_lock<std::mutex> lock(bg_mu);
    bg_idle_cv.wait(lock, [&] { return bg_stop.load() || (bg_queue.empty() && !bg_busy); });
  }

  void background_stop() {
    {
      std::lock_guard<std::mutex> lock(bg_mu);
      bg_stop = true;
      bg_cv.notify_all();
      bg_idle_cv.notify_all();
    }
    if (bg_thread.joinable()) bg_thread.join();
  }

  // compile_all()'s sharing: the translation reads only a unit's registers and instructions
  // (and the program's constants, sets and fields, the same for every unit), so units with the
  // same code get the same native code, and one function serves them all. Units are found by a
  // 64-bit hash of that code and then compared in full (same_code), so the index holds a hash
  // and a unit number per distinct unit (one hash-map node), not a copy of the code; it lives
  // only during compile_all().
  uint64_t code_hash(uint32_t unit) const {
    const bytecode::Unit& u = p.units[unit];
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](uint64_t x) {
      h ^= x;
      h *= 1099511628211ull;
      h ^= h >> 29;
    };
    mix(u.registers);
    mix(u.code.size());
    for (const bytecode::Instr& ins : u.code) {
      mix((uint64_t{static_cast<uint32_t>(ins.op)} << 16) | ins.d);
      mix((uint64_t{ins.a} << 32) | ins.b);
      mix(ins.c);
    }
    return h;
  }
  bool same_code(uint32_t x, uint32_t y) const {
    const bytecode::Unit& u = p.units[x];
    const bytecode::Unit& v = p.units[y];
    if (u.registers != v.registers || u.code.size() != v.code.size()) return false;
    for (size_t i = 0; i < u.code.size(); ++i) {
      const bytecode::Instr& a = u.code[i];
      const bytecode::Instr& b = v.code[i];
      if (a.op != b.op || a.d != b.d || a.a != b.a || a.b != b.b || a.c != b.c) return false;
    }
    return true;
  }

  // compile_all()'s shapes (session 17): the same as same_code() except the constants the
  // code reads (constant_operand(): which constant, not where or how it is used), so the shape
  // translated from one member computes every member's result from that member's constants. The
  // result kind takes part too: units returning values of different types never share a shape
  // (the translation does not read it, but nothing is gained by sharing across types).
  uint64_t shape_hash(uint32_t unit) const {
    const bytecode::Unit& u = p.units[unit];
    uint64_t h = 0x84222325cbf29ce4ull;
    auto mix = [&h](uint64_t x) {
      h ^= x;
      h *= 1099511628211ull;
      h ^= h >> 29;
    };
    mix(static_cast<uint64_t>(u.result));
    mix(u.registers);
    mix(u.code.size());
    for (const bytecode::Instr& ins : u.code) {
      uint32_t k = 0;
      const bool ka = constant_operand(ins, k) && ins.op == Op::LOAD_CONST, kb = constant_operand(ins, k) && !ka;
      mix((uint64_t{static_cast<uint32_t>(ins.op)} << 16) | ins.d);
      mix((uint64_t{ka ? 0 : ins.a} << 32) | (kb ? 0 : ins.b));
      mix(ins.c);
    }
    return h;
  }
  bool same_shape(uint32_t x, uint32_t y) const {
    const bytecode::Unit& u = p.units[x];
    const bytecode::Unit& v = p.units[y];
    if (u.result != v.result || u.registers != v.registers || u.code.size() != v.code.size()) return false;
    for (size_t i = 0; i < u.code.size(); ++i) {
      const bytecode::Instr& a = u.code[i];
      const bytecode::Instr& b = v.code[i];
      uint32_t k = 0;
      const bool ka = constant_operand(a, k) && a.op == Op::LOAD_CONST, kb = constant_operand(a, k) && !ka;
      if (a.op != b.op || a.d != b.d || (!ka && a.a != b.a) || (!kb && a.b != b.b) || a.c != b.c) return false;
    }
    return true;
  }

  // compile_all()'s way of compiling `units` (ascending, distinct): scalar code only, for those
  // not compiled yet and not batch units, with the eager pipeline and code generator
  // (build_module, make_object) in modules of `chunk` units on the compile threads, units with
  // identical code sharing one function. Batch units (the jump-free forms the audience and
  // scheduled strategies evaluate) are left to their first use, where they are compiled with
  // O3 for the columns' layout (select(), batch()): the loops need the optimising pipeline to
  // be vectorised, and the engine never ran the layout-generic batch code an eager pass could
  // prepare. Dispatchers (clauses()) are compiled on use too. Called with `mu` held; adds the
  // units compiled or shared to `*counted` when given.
  bool compile_bulk(const std::vector<uint32_t>& units, size_t chunk, std::string& error, size_t* counted = nullptr) {
    const EagerConfig& config = eager_config();
    if (!config.error.empty()) {
      error = config.error;
      return false;
    }
    chunk = std::max<size_t>(chunk, 1);
    // Units sharing the code of another one (unit, the one compiled); the index of the units
    // compiled here by the hash of their code (freed on return).
    std::vector<std::pair<uint32_t, uint32_t>> aliases;
    std::unordered_multimap<uint64_t, uint32_t> by_code;
    std::vector<uint32_t> distinct;
    size_t n = 0;
    for (uint32_t u : units) {
      if (batch_set.count(u) || scalar[u].load() != nullptr) continue;
      ++n;
      if (config.share) {
        const uint64_t h = code_hash(u);
        bool shared = false;
        for (auto [it, end] = by_code.equal_range(h); it != end && !shared; ++it)
          if (same_code(u, it->second)) {
            aliases.push_back({u, it->second});
            shared = true;
          }
        if (shared) continue;
        by_code.emplace(h, u);
      }
      distinct.push_back(u);
    }
    by_code = {};
    // The distinct codes by shape (in order of their first member): a shape of one member is
    // compiled as before, constants baked in; the members of a larger one get an entry each
    // that calls one shape function with its own constants.
    std::vector<ShapeGroup> groups;
    {
      std::unordered_multimap<uint64_t, size_t> by_shape;  // shape hash -> index in groups
      for (uint32_t u : distinct) {
        if (!config.shapes) {
          groups.push_back({u, {u}});
          continue;
        }
        const uint64_t h = shape_hash(u);
        bool found = false;
        for (auto [it, end] = by_shape.equal_range(h); it != end && !found; ++it)
          if (same_shape(u, groups[it->second].rep)) {
            groups[it->second].members.push_back(u);
            found = true;
          }
        if (!found) {
          by_shape.emplace(h, groups.size());
          groups.push_back({u, {u}});
        }
      }
    }
    // Modules: `chunk` units compiled with their constants each; members of shapes in modules
    // costing as much: a shape (a copy in each module whose entries call it) as much as a unit,
    // an entry 1/entries_per_chunk() of one (a call: far cheaper). Counting shapes keeps many
    // small shapes from landing in one module on one compile thread (e.g. 1,000 pairs of units
    // differing in a constant: 1,000 shapes, which would otherwise fill one module of entries).
    std::vector<Piece> pieces;
    auto new_piece = [&] {
      pieces.emplace_back();
      pieces.back().bulk = true;
      pieces.back().eager = true;
      return pieces.size() - 1;
    };
    size_t plain = SIZE_MAX;
    for (const ShapeGroup& g : groups) {
      if (g.members.size() != 1) continue;
      if (plain == SIZE_MAX || pieces[plain].su.size() >= chunk) plain = new_piece();
      pieces[plain].su.push_back(g.rep);
    }
    const size_t per_unit = entries_per_chunk();  // an entry costs 1, a unit or shape per_unit
    const size_t piece_cost = std::max<size_t>(chunk, 1) * per_unit;
    size_t shaped = SIZE_MAX, cost = 0, shapes = 0;
    for (const ShapeGroup& g : groups) {
      if (g.members.size() == 1) continue;
      ++shapes;
      for (size_t i = 0; i < g.members.size();) {
        // A new module when this one cannot take the shape's copy and at least one entry.
        if (shaped == SIZE_MAX || cost + per_unit + 1 > piece_cost) {
          shaped = new_piece();
          cost = 0;
        }
        cost += per_unit;
        const size_t take = std::min(g.members.size() - i, std::max<size_t>(piece_cost - std::min(cost, piece_cost), 1));
        pieces[shaped].shapes.push_back({g.rep, std::vector<uint32_t>(g.members.begin() + i, g.members.begin() + i + take)});
        cost += take;
        i += take;
      }
    }
    if (!pieces.empty() && !compile_pieces(pieces, error)) return false;
    for (auto [u, rep] : aliases) scalar[u].store(scalar[rep].load(), std::memory_order_release);
    stats.scalar_units += aliases.size();
    stats.shared_units += aliases.size();
    stats.shapes += shapes;
    if (counted) *counted += n;
    return true;
  }

  bool compile(const std::vector<uint32_t>& su, const std::vector<uint32_t>& bu, std::string& error,
               const std::vector<ShapedBatch>& sb = {}) {
    std::vector<Piece> one(1);
    one[0].su = su;
    one[0].bu = bu;
    one[0].sb = sb;
    return compile_pieces(one, error);
  }

  // What a piece holds, for its errors: its first unit (or dispatcher), and how many more.
  std::string piece_label(const Piece& piece) const {
    size_t parts = piece.su.size() + piece.bu.size() + piece.sb.size() + piece.disp.size();
    for (const auto& shape : piece.shapes) parts += shape.members.size();
    std::string label = !piece.su.empty()     ? unit_label(p, piece.su[0])
                        : !piece.bu.empty()   ? unit_label(p, piece.bu[0])
                        : !piece.sb.empty()   ? unit_label(p, piece.sb[0].unit)
                        : !piece.disp.empty() ? "clause dispatcher " + piece.disp[0].name
                        : !piece.shapes.empty() && !piece.shapes[0].members.empty()
                            ? unit_label(p, piece.shapes[0].members[0])
                            : std::string("a module");
    if (parts > 1) label += " and " + std::to_string(parts - 1) + " more";
    return label;
  }

  // The cache key of a piece: everything its object code depends on - the program (its
  // serialised bytecode's digest), the piece's units and kinds, the host CPU and its features,
  // the LLVM version, this translator's version and the operations' bitcode. The file is named
  // by the key's digest and holds the key itself (cache_file_bytes()).
  // Runs on the compile threads: reads program_digest, which prepare_objects() fills first.
  std::string cache_key(const Piece& piece) const {
    std::string key = std::string(kTranslatorVersion) + "|" LLVM_VERSION_STRING "|" + target.cpu + "|" + target.features + "|";
    key += program_digest + "|";
    // The operations' bitcode is inlined into every function, so an operation changed without
    // a new kTranslatorVersion must miss too.
    key += "ops" + std::to_string(options.ops_bitcode_hash ? options.ops_bitcode_hash : ops_bitcode_hash()) + "|";
    key += std::to_string(piece.bulk) + "|";
    if (piece.eager) {
      const EagerConfig& e = eager_config();
      key += std::string("e") + (e.min_pipeline ? "m" : "o") + (e.codegen_none ? "n" : "l") + (e.shapes ? "k" : "") + "|";
    }
    if (!piece.disp.empty()) {
      const DispatchConfig& d = dispatch_config();
      key += std::string("d") + (d.min_pipeline ? "m" : "o") + (d.codegen_none ? "n" : "l") + "|";
    }
    key += "s";
    for (uint32_t u : piece.su) key += "," + std::to_string(u);
    for (const ShapeGroup& g : piece.shapes) {
      key += "|k" + std::to_string(g.rep) + ":";
      for (uint32_t m : g.members) key += std::to_string(m) + ",";
    }
    key += "|b";
    for (uint32_t u : piece.bu) key += "," + std::to_string(u);
    for (const auto& b : piece.sb) key += "|" + shaped_key(b) + "=" + b.name;
    for (const auto& d : piece.disp) {
      key += "|d" + d.name + "=";
      for (int32_t u : d.units) key += std::to_string(u) + ",";
    }
    return key;
  }
  std::string cache_path(const std::string& key) const { return options.cache_dir + "/" + blake3_hex(key, 16) + ".o"; }

  // Object code for one piece: from the cache, or translated, optimised and generated here
  // (and then stored in the cache). Runs on any thread: it touches only its own LLVM context
  // and target machine.
  bool make_object(Piece& piece, std::string& error) {
    std::string path, key;
    if (!options.cache_dir.empty()) {
      key = cache_key(piece);
      path = cache_path(key);
      if (auto buf = llvm::MemoryBuffer::getFile(path, false, false)) {
        if (auto object = cached_object((*buf)->getBuffer(), key)) {
          piece.object = llvm::MemoryBuffer::getMemBufferCopy(*object, "crm_jit_object");
          piece.cached = true;
          return true;
        }
        piece.rejected = true;  // compiled below, and the file replaced
      }
    }
    Target t;
    t.cpu = target.cpu;
    t.features = target.features;
    auto tm = target.jtmb.createTargetMachine();
    if (!tm) {
      error = "JIT: cannot target the host: " + to_string(tm.takeError());
      return false;
    }
    t.tm = std::move(*tm);
    if (piece.bulk) t.tm->setOptLevel(llvm::CodeGenOpt::Less);
    // FastISel and the fast register allocator for compile_all()'s scalar units.
    if (piece.eager && eager_config().codegen_none) t.tm->setOptLevel(llvm::CodeGenOpt::None);
    if (!piece.disp.empty() && dispatch_config().codegen_none) t.tm->setOptLevel(llvm::CodeGenOpt::None);
    llvm::LLVMContext ctx;
    auto m = build_module(p, t, ctx, piece.su, piece.bu, error, piece.sb, piece.bulk, piece.disp, &piece.times, piece.eager,
                          &piece.shapes);
    if (!m) return false;
    llvm::SmallVector<char, 0> obj;
    auto t0 = std::chrono::steady_clock::now();
    {
      llvm::raw_svector_ostream os(obj);
      llvm::legacy::PassManager pm;
      if (t.tm->addPassesToEmitFile(pm, os, nullptr, llvm::CGFT_ObjectFile)) {
        error = "JIT: the host target cannot emit object code";
        return false;
      }
      pm.run(*m);
    }
    piece.times.codegen += seconds_since(t0);
    if (!path.empty()) {  // best effort: a cache that cannot be written is only slower
      std::string tmp_path = path + ".tmp" + std::to_string(reinterpret_cast<uintptr_t>(&piece));
      std::error_code ec;
      {
        llvm::raw_fd_ostream f(tmp_path, ec);
        if (!ec) {
          f << cache_file_bytes(key, llvm::StringRef(obj.data(), obj.size()));
          f.close();
          if (f.has_error()) {  // a full disk: no file rather than a short one (and no abort
            ec = f.error();     // in the stream's destructor, which an unchecked error causes)
            f.clear_error();
          }
        }
      }
      if (ec) llvm::sys::fs::remove(tmp_path);
      if (!ec) llvm::sys::fs::rename(tmp_path, path);
    }
    piece.object = std::make_unique<llvm::SmallVectorMemoryBuffer>(std::move(obj), "crm_jit_object", false);
    return true;
  }

  // What make_object() reads of the Impl besides the program: the cache directory and the
  // serialised program its keys hash. Called with `mu` held, before any thread makes an object.
  void prepare_objects() {
    if (!options.cache_dir.empty()) {
      llvm::sys::fs::create_directories(options.cache_dir);
      // Before the threads start: filled lazily inside cache_path(), two threads raced on it and
      // could hash a half-written program, so a reload missed pieces it had cached.
      if (!program_hashed) {
        program_digest = blake3_hex(bytecode::serialize(p));
        program_hashed = true;
      }
    }
  }

  // Makes every piece's object code (on options.threads threads), links them into the LLJIT
  // and publishes their entry points. Called with `mu` held.
  bool compile_pieces(std::vector<Piece>& pieces, std::string& error) {
    auto start = std::chrono::steady_clock::now();
    prepare_objects();
    std::vector<std::string> errors(pieces.size());
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next.fetch_add(1)) < pieces.size();)
        if (!make_object(pieces[i], errors[i]) && errors[i].empty()) errors[i] = "JIT: cannot compile";
    };
    size_t threads = llvm::TimePassesIsEnabled ? 1 : std::min<size_t>(pieces.size(), std::max<unsigned>(1, options.threads ? options.threads
                                                                                          : std::thread::hardware_concurrency()));
    std::vector<std::thread> pool;
    for (size_t k = 1; k < threads; ++k) pool.emplace_back(work);
    work();
    for (auto& th : pool) th.join();
    if (llvm::TimePassesIsEnabled) llvm::reportAndResetTimings(&llvm::errs());
    for (const auto& e : errors)
      if (!e.empty()) {
        error = e;
        return false;
      }
    return link_pieces(pieces.data(), pieces.size(), error, start);
  }

  // Links pieces whose objects are made into the LLJIT, publishes their entry points and counts
  // them (compile time: from `start`). Called with `mu` held.
  bool link_pieces(Piece* pieces, size_t count, std::string& error, std::chrono::steady_clock::time_point start) {
    for (Piece& piece : llvm::MutableArrayRef<Piece>(pieces, count)) {
      if (auto e = lljit->addObjectFile(std::move(piece.object))) {
        error = "JIT: " + piece_label(piece) + ": " + to_string(std::move(e));
        return false;
      }
      (piece.cached ? stats.cache_hits : stats.cache_misses) += options.cache_dir.empty() ? 0 : 1;
      stats.cache_rejected += piece.rejected ? 1 : 0;
      stats.ir_seconds += piece.times.ir;
      stats.optimise_seconds += piece.times.optimise;
      stats.codegen_seconds += piece.times.codegen;
      stats.ir_instructions += piece.times.ir_instructions;
      stats.optimised_instructions += piece.times.optimised_instructions;
    }
    for (Piece& piece : llvm::MutableArrayRef<Piece>(pieces, count)) {
      for (uint32_t u : piece.su) {
        auto addr = lljit->lookup("crm_unit_" + std::to_string(u));
        if (!addr) {
          error = "JIT: " + unit_label(p, u) + ": " + to_string(addr.takeError());
          return false;
        }
        scalar[u].store(addr->toPtr<ScalarFn>(), std::memory_order_release);
      }
      for (uint32_t u : piece.bu) {
        auto addr = lljit->lookup("crm_batch_" + std::to_string(u));
        if (!addr) {
          error = "JIT: " + unit_label(p, u) + ": " + to_string(addr.takeError());
          return false;
        }
        batch[u].store(addr->toPtr<BatchFn>(), std::memory_order_release);
      }
      for (const auto& b : piece.sb) {
        auto addr = lljit->lookup(b.name);
        if (!addr) {
          error = "JIT: " + unit_label(p, b.unit) + ": " + to_string(addr.takeError());
          return false;
        }
        shaped[shaped_key(b)] = addr->toPtr<void*>();
      }
      for (const auto& d : piece.disp) {
        auto addr = lljit->lookup(d.name);
        if (!addr) {
          error = "JIT: clause dispatcher " + d.name + ": " + to_string(addr.takeError());
          return false;
        }
        dispatched[d.name] = addr->toPtr<ClausesFn>();
        stats.dispatchers += 1;
      }
      for (const ShapeGroup& g : piece.shapes)
        for (uint32_t m : g.members) {
          auto addr = lljit->lookup("crm_unit_" + std::to_string(m));
          if (!addr) {
            error = "JIT: " + unit_label(p, m) + ": " + to_string(addr.takeError());
            return false;
          }
          scalar[m].store(addr->toPtr<ScalarFn>(), std::memory_order_release);
          stats.scalar_units += 1;
          stats.shape_units += 1;
        }
      stats.scalar_units += piece.su.size();
      if (!piece.eager) stats.first_use_scalar_units += piece.su.size();
      stats.batch_units += piece.bu.size() + piece.sb.size();
      stats.modules += 1;
    }
    stats.compile_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return true;
  }

  const char* remember_failure(uint32_t unit, const std::string& why) {
    messages.push_back(why);
    failed[unit] = messages.back().c_str();
    return failed[unit];
  }
};

Jit::Jit(std::unique_ptr<Impl> impl) : impl_(std::move(impl)), scalar_(impl_->scalar.get()), units_(impl_->p.units.size()) {}
Jit::~Jit() {
  if (impl_) impl_->background_stop();
}

std::unique_ptr<Jit> Jit::create(const bytecode::Program& program, std::string& error, Options options) {
  // A misspelt measurement switch is an error here, not dispatchers silently turned off.
  if (!dispatch_config().error.empty()) {
    error = dispatch_config().error;
    return nullptr;
  }
  auto impl = std::make_unique<Impl>(program);
  impl->options = std::move(options);
  if (!make_target(impl->target, error)) return nullptr;
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(impl->target.jtmb).create();
  if (!jit) {
    error = "JIT: cannot create the LLJIT: " + to_string(jit.takeError());
    return nullptr;
  }
  impl->lljit = std::move(*jit);
  auto& jd = impl->lljit->getMainJITDylib();
  // libc and libgcc (memcmp, 128-bit division) from the process; the host functions by address.
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(impl->lljit->getDataLayout().getGlobalPrefix());
  if (!gen) {
    error = "JIT: " + to_string(gen.takeError());
    return nullptr;
  }
  jd.addGenerator(std::move(*gen));
  llvm::orc::SymbolMap host;
  auto flags = llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable;
  auto bind = [&](const char* name, auto* fn) {
    host[impl->lljit->mangleAndIntern(name)] = llvm::JITEvaluatedSymbol(llvm::pointerToJITTargetAddress(fn), flags);
  };
  bind("crm_jit_host_call", &crm_jit_host_call);
  bind("crm_jit_host_in_value_set", &crm_jit_host_in_value_set);
  bind("crm_jit_host_in_value_set_dec", &crm_jit_host_in_value_set_dec);
  bind("crm_jit_host_concat", &crm_jit_host_concat);
  if (auto e = jd.define(llvm::orc::absoluteSymbols(std::move(host)))) {
    error = "JIT: " + to_string(std::move(e));
    return nullptr;
  }
  Impl* raw = impl.get();
  impl->lljit->getObjTransformLayer().setTransform(
      [raw](std::unique_ptr<llvm::MemoryBuffer> obj) -> llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> {
        raw->code_bytes += obj->getBufferSize();
        return obj;
      });
  size_t n = program.units.size();
  impl->scalar.reset(new std::atomic<ScalarFn>[n]);
  impl->batch.reset(new std::atomic<BatchFn>[n]);
  for (size_t i = 0; i < n; ++i) {
    impl->scalar[i].store(nullptr);
    impl->batch[i].store(nullptr);
  }
  impl->batch_set = batch_units(program);
  return std::unique_ptr<Jit>(new Jit(std::move(impl)));
}

ScalarFn Jit::scalar(uint32_t unit, std::string& error) {
  if (unit >= impl_->p.units.size()) {
    error = "JIT: no " + unit_label(impl_->p, unit);
    return nullptr;
  }
  if (ScalarFn f = impl_->scalar[unit].load(std::memory_order_acquire)) return f;
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (ScalarFn f = impl_->scalar[unit].load(std::memory_order_acquire)) return f;
  if (impl_->compile({unit}, {}, error)) return impl_->scalar[unit].load();
  return nullptr;
}

BatchFn Jit::batch(uint32_t unit, std::string& error) {
  if (unit >= impl_->p.units.size()) {
    error = "JIT: no " + unit_label(impl_->p, unit);
    return nullptr;
  }
  if (BatchFn f = impl_->batch[unit].load(std::memory_order_acquire)) return f;
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (BatchFn f = impl_->batch[unit].load(std::memory_order_acquire)) return f;
  if (impl_->compile({}, {unit}, error)) return impl_->batch[unit].load();
  return nullptr;
}

// The layout of a batch input's columns, one letter per profile field: x no column, p/P 4-byte
// values without/with a presence column, q/Q 8-byte values without/with one.
static std::string batch_shape(const bytecode::Program& p, const vm::BatchInput& in) {
  std::string shape;
  for (size_t f = 0; f < std::max(p.profile.size(), in.column_count); ++f) {
    if (f >= in.column_count || !in.columns[f].data) shape += 'x';
    else if (in.columns[f].width == 4) shape += in.columns[f].present ? 'P' : 'p';
    else shape += in.columns[f].present ? 'Q' : 'q';
  }
  return shape;
}

// Specialised batch code for `in`'s layout, compiled on first use of (unit, layout, kind).
static void* shaped_code(Jit::Impl& impl, uint32_t unit, const vm::BatchInput& in, bool selection, std::string& error) {
  if (unit >= impl.p.units.size()) {
    error = "JIT: no " + unit_label(impl.p, unit);
    return nullptr;
  }
  ShapedBatch sb{unit, batch_shape(impl.p, in), "", selection};
  std::string key = shaped_key(sb);
  std::lock_guard<std::mutex> lock(impl.mu);
  auto it = impl.shaped.find(key);
  if (it != impl.shaped.end()) return it->second;
  sb.name = "crm_batch_" + std::to_string(unit) + "_s" + std::to_string(impl.shaped.size());
  if (!impl.compile({}, {}, error, {sb})) return nullptr;
  return impl.shaped[key];
}

BatchFn Jit::batch(uint32_t unit, const vm::BatchInput& in, std::string& error) {
  return reinterpret_cast<BatchFn>(shaped_code(*impl_, unit, in, false, error));
}

SelectFn Jit::select(uint32_t unit, const vm::BatchInput& in, std::string& error) {
  return reinterpret_cast<SelectFn>(shaped_code(*impl_, unit, in, true, error));
}

namespace {
// Four independent lanes, so hashing a list of 768 units costs ~200 multiplies in a row.
uint64_t hash_units(const int32_t* u, size_t n) {
  uint64_t h[4] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull, 0x27d4eb2f165667c5ull};
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (size_t k = 0; k < 4; ++k) h[k] = (h[k] ^ uint32_t(u[i + k])) * 0x100000001b3ull;
  for (; i < n; ++i) h[0] = (h[0] ^ uint32_t(u[i])) * 0x100000001b3ull;
  return (h[0] ^ (h[1] >> 7)) * 31 + (h[2] ^ (h[3] << 11)) + n;
}
// Lists of units remembered at most (hot or not), so a stream of ever new candidate lists
// costs bounded memory; beyond it, new lists are evaluated per clause.
constexpr size_t kMaxTracked = 4096;
}  // namespace

bool Jit::clauses(const int32_t* units, size_t groups, std::vector<ClausesFn>& chunks) {
  chunks.clear();
  size_t used = 0;
  for (size_t i = 0; i < 3 * groups; ++i) used += units[i] >= 0;
  if (used < kMinFusedUnits) return false;
  Impl& im = *impl_;
  // Per chunk: its entry, found or added; those to compile now.
  std::vector<Impl::ClauseEntry*> entries, mine;  // mine: marked busy here, compiled below
  std::vector<Piece> pieces;
  std::vector<uint32_t> cold;  // units of chunks seen for the first time that have no code yet
  {
    std::lock_guard<std::mutex> lock(im.clause_mu);
    bool ready = true;
    // A chunk that can be neither tracked nor compiled makes the whole list run per clause; the
    // chunks before it keep no dispatcher claimed (it would stay busy, never built), while their
    // cold units are still compiled in bulk below.
    bool give_up = false;
    for (size_t g = 0; g < groups && !give_up; g += kClauseChunk) {
      const size_t n = 3 * std::min(kClauseChunk, groups - g);
      const int32_t* u = units + 3 * g;
      uint64_t h = hash_units(u, n);
      Impl::ClauseEntry* e = nullptr;
      for (auto [it, end] = im.clause_cache.equal_range(h); it != end; ++it)
        if (it->second.units.size() == n && std::equal(u, u + n, it->second.units.begin())) e = &it->second;
      if (!e) {
        if (im.clause_entries >= kMaxTracked) {
          give_up = true;
          break;
        }
        ++im.clause_entries;
        e = &im.clause_cache.emplace(h, Impl::ClauseEntry{})->second;
        e->units.assign(u, u + n);
      }
      if (e->failed) {
        give_up = true;
        break;
      }
      entries.push_back(e);
      if (e->fn) continue;
      ready = false;
      if (!e->units_compiled) {
        e->units_compiled = true;
        for (int32_t x : e->units)
          if (x >= 0 && !im.batch_set.count(uint32_t(x)) && !im.scalar[x].load(std::memory_order_acquire))
            cold.push_back(uint32_t(x));
      }
      if (e->busy || ++e->seen < kHotAfter) continue;
      if (im.dispatcher_count >= kMaxDispatchers) {
        e->failed = true;
        continue;
      }
      ++im.dispatcher_count;
      e->busy = true;
      mine.push_back(e);
      Piece piece;
      piece.bulk = true;
      piece.disp.push_back({e->units, "crm_clauses_" + std::to_string(im.dispatcher_count)});
      pieces.push_back(std::move(piece));
    }
    if (give_up) {
      for (auto* e : mine) e->busy = false, --im.dispatcher_count;
      mine.clear();
      pieces.clear();
    } else if (ready) {
      for (auto* e : entries) chunks.push_back(e->fn);
      return true;
    }
  }
  // A list's first sight: until its dispatchers exist (kHotAfter), the engine evaluates its
  // clauses one at a time, and each unit without code would be compiled on its first use, a
  // module at O2 each on this thread, one after another: 26 s for the first event reaching
  // 1,000 strategies, 245 s for 10,000 (docs/performance.md §7, session 15). Instead every
  // such unit of the list is compiled now as compile_all() would (the eager pipeline and
  // FastISel, the compile threads, identical units sharing code). Once per chunk; should it
  // fail, the units are compiled one at a time on use as before, and the one that cannot be
  // compiled is named there.
  if (!cold.empty()) {
    std::sort(cold.begin(), cold.end());
    cold.erase(std::unique(cold.begin(), cold.end()), cold.end());
    std::string error;
    std::lock_guard<std::mutex> lock(im.mu);
    im.compile_bulk(cold, kClauseChunk, error, &im.stats.list_units);
  }
  if (pieces.empty()) return false;
  // The dispatchers in the background (one O1 module per 256 strategies: 0.8 s each on this
  // machine, 32 s for a list of 10,000 on the event's thread before; docs/performance.md §7,
  // session 16): this list runs per clause on its units' code until they are published.
  if (im.options.background_dispatchers && !llvm::TimePassesIsEnabled) {
    Impl::BackgroundJob job{std::move(pieces), mine};
    if (im.background_enqueue(std::move(job))) return false;
    pieces = std::move(job.pieces);  // not queued (no thread): compiled here, as below
  }
  // Every new chunk of this list in one go (on the compile threads), outside clause_mu.
  std::string error;
  std::vector<ClausesFn> fns(mine.size(), nullptr);
  {
    std::lock_guard<std::mutex> lock(im.mu);
    bool ok = im.compile_pieces(pieces, error);
    for (size_t k = 0; k < mine.size(); ++k) {
      auto it = ok ? im.dispatched.find(pieces[k].disp[0].name) : im.dispatched.end();
      if (it != im.dispatched.end()) {
        fns[k] = it->second;
      } else {
        im.dispatcher_failed(pieces[k].disp[0].name, error);
      }
    }
  }
  std::lock_guard<std::mutex> lock(im.clause_mu);
  for (size_t k = 0; k < mine.size(); ++k) {
    Impl::ClauseEntry* e = mine[k];
    e->busy = false;
    if (fns[k]) e->fn = fns[k];
    else e->failed = true;
  }
  return false;  // this time per clause; the next use runs the dispatchers
}

bool Jit::compile_all(std::string& error, size_t chunk) {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> lock(im.mu);
  std::vector<uint32_t> all(im.p.units.size());
  for (uint32_t u = 0; u < all.size(); ++u) all[u] = u;
  return im.compile_bulk(all, chunk, error);
}

vm::Result Jit::run_first(uint32_t unit, vm::Context& ctx) {
  std::string error;
  if (!scalar(unit, error)) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    vm::Result res;
    res.status = vm::Status::Error;
    res.error = impl_->remember_failure(unit, error);
    return res;
  }
  return run(unit, ctx);
}

vm::BatchResult Jit::run_batch(uint32_t unit, const vm::BatchInput& in, std::vector<int64_t>* values) {
  vm::BatchResult result;
  if (values) values->assign(in.rows, 0);
  std::string error;
  vm::Context scalar;  // what per-lane built-ins read
  scalar.now = in.now;
  scalar.zone = in.zone;
  scalar.strings = in.strings;
  scalar.collections = in.collections;
  if (!values) {  // counts only: the selection code
    SelectFn f = select(unit, in, error);
    if (!f) {  // every row an error, as the batch VM reports a unit it cannot run
      result.errors = in.rows;
      return result;
    }
    SelectOut o = f(&in, &scalar, 0, in.rows, nullptr, nullptr);  // every row in one call
    result.matches = o.matches;
    result.errors = o.faults;
    return result;
  }
  BatchFn f = batch(unit, in, error);
  if (!f) {
    result.errors = in.rows;
    return result;
  }
  int64_t out[vm::kBlock];
  uint8_t err[vm::kBlock];
  for (size_t base = 0; base < in.rows; base += vm::kBlock) {
    size_t n = std::min(vm::kBlock, in.rows - base);
    f(&in, &scalar, base, n, out, err);
    for (size_t i = 0; i < n; ++i) {
      if (err[i]) {
        ++result.errors;
        continue;
      }
      result.matches += out[i] != 0;
      (*values)[base + i] = out[i];
    }
  }
  return result;
}

uint64_t ops_bitcode_hash() {
  // FNV-1a over the embedded bytes (~30 KB, once per process): computed from what is
  // actually linked in, so it cannot disagree with the bitcode the modules start from.
  static const uint64_t hash = [] {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < kOpsBitcodeSize; ++i) {
      h ^= kOpsBitcode[i];
      h *= 1099511628211ull;
    }
    return h ? h : 1;
  }();
  return hash;
}

Stats Jit::stats() const {
  size_t pending;
  {
    std::lock_guard<std::mutex> lock(impl_->bg_mu);
    pending = impl_->bg_pending;
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stats s = impl_->stats;
  s.last_dispatcher_error = impl_->last_dispatcher_error;
  s.code_bytes = impl_->code_bytes.load();
  s.pending_dispatchers = pending;
  return s;
}

void Jit::wait_for_dispatchers() { impl_->background_wait(); }

bool emit_llvm(const bytecode::Program& program, std::string& out, std::string& error) {
  Target t;
  if (!make_target(t, error)) return false;
  std::set<uint32_t> bset = batch_units(program);
  std::vector<uint32_t> su, bu;
  for (uint32_t u = 0; u < program.units.size(); ++u) (bset.count(u) ? bu : su).push_back(u);
  llvm::LLVMContext c;
  auto m = build_module(program, t, c, su, bu, error);
  if (!m) return false;
  llvm::raw_string_ostream os(out);
  os << "; crm: LLVM IR of " << program.units.size() << " units, optimised for " << t.cpu << "\n";
  for (uint32_t u : su) os << ";   @crm_unit_" << u << " = " << program.units[u].name << "\n";
  for (uint32_t u : bu) os << ";   @crm_batch_" << u << " = " << program.units[u].name << " (batch)\n";
  m->print(os, nullptr);
  os.flush();
  return true;
}

}  // namespace crm::jit
