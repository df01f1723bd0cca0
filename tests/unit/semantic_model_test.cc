// semantic_model_test.cc - the side tables a language server queries (sema::SemanticModel):
// resolution across modules, types and constants under a position, symbols of the standard
// library with their docs, scopes for completion, and checking the partial tree left by syntax
// errors (DriverOptions::check_after_syntax_errors) without crashing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "compiler/driver.h"
#include "compiler/sema/fold.h"
#include "compiler/sema/semantic_model.h"

namespace {

namespace fs = std::filesystem;
using crm::sema::SymbolKind;

std::unique_ptr<crm::Compilation> compile(std::vector<crm::Input> inputs, bool after_syntax_errors = false) {
  crm::DriverOptions o;
  o.check_after_syntax_errors = after_syntax_errors;
  return crm::compile(inputs, o);
}

// The file id of the root named `path`.
crm::source::FileId file_of(const crm::Compilation& c, const std::string& path) {
  for (crm::source::FileId f = 0; f < c.program.sources.size(); ++f)
    if (c.program.sources.file(f).path() == path) return f;
  ADD_FAILURE() << "no file " << path;
  return 0;
}

// The offset of the `nth` occurrence of `needle` in a file (plus `delta`).
uint32_t offset_of(const crm::Compilation& c, crm::source::FileId f, const std::string& needle, int nth = 0,
                   uint32_t delta = 0) {
  std::string_view text = c.program.sources.file(f).text();
  size_t at = text.find(needle);
  for (int i = 0; i < nth && at != std::string_view::npos; ++i) at = text.find(needle, at + 1);
  EXPECT_NE(at, std::string_view::npos) << needle;
  return static_cast<uint32_t>(at) + delta;
}

std::string text_of(const crm::Compilation& c, crm::source::Span s) {
  return std::string(c.program.sources.file(s.file).text().substr(s.begin, s.end - s.begin));
}

std::vector<std::string> codes(const crm::Compilation& c) {
  std::vector<std::string> out;
  for (auto& d : c.sink.diagnostics()) out.push_back(crm::diag::info(d.code).name);
  return out;
}

const char* kSchema =
    "module shop.schema\n"
    "profile { age: Int  city: String }\n"
    "event Order { amount: Money(CNY)  paid: Bool }\n";

const char* kSegments =
    "module shop.segments\n"
    "import shop.schema\n"
    "// Customers who spent a lot last month.\n"
    "// Reviewed every quarter.\n"
    "segment big_spender = sum(Order.amount within 30 days) > 1000 CNY\n"
    "const bonus = 10 CNY + 5 CNY\n";

const char* kCampaign =
    "module shop.promo\n"
    "import shop.schema\n"
    "import shop.segments\n"
    "resource coupon C { discount: bonus  threshold: 100 CNY }\n"
    "strategy thanks {\n"
    "  who: big_spender and age >= 18\n"
    "  when: on Order if paid\n"
    "  what: grant C via App\n"
    "}\n";

std::unique_ptr<crm::Compilation> shop() {
  return compile({{"schema.crm", std::string(kSchema)},
                  {"segments.crm", std::string(kSegments)},
                  {"promo.crm", std::string(kCampaign)}});
}

}  // namespace

TEST(SemanticModel, SegmentUsedInAnotherModuleResolvesToItsDeclaration) {
  auto c = shop();
  ASSERT_TRUE(c->checked);
  ASSERT_FALSE(c->sink.has_errors()) << codes(*c).size();
  const auto& m = c->model();
  auto campaign = file_of(*c, "promo.crm");
  auto segments = file_of(*c, "segments.crm");
  auto at = m.at(campaign, offset_of(*c, campaign, "big_spender", 0, 3));
  ASSERT_NE(at.symbol, nullptr);
  EXPECT_EQ(at.symbol->kind, SymbolKind::Segment);
  EXPECT_EQ(at.symbol->name, "big_spender");
  EXPECT_EQ(at.symbol->module, "shop.segments");
  EXPECT_EQ(at.symbol->span.file, segments);
  EXPECT_EQ(text_of(*c, at.symbol->span), "big_spender");
  EXPECT_EQ(at.symbol->doc, "Customers who spent a lot last month.\nReviewed every quarter.");
  EXPECT_FALSE(at.occurrence->declaration);
  // A cursor just after the name still means it.
  auto end = m.at(campaign, offset_of(*c, campaign, "big_spender", 0, 11));
  EXPECT_EQ(end.symbol, at.symbol);
  // Find references: the declaration and the use, across files.
  auto refs = m.references(at.occurrence->symbol);
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_TRUE(refs[0].declaration || refs[1].declaration);
  EXPECT_EQ(m.references(at.occurrence->symbol, false).size(), 1u);
  // The resource after `grant`, the constant in its property, the trigger event, the channel.
  EXPECT_EQ(m.at(campaign, offset_of(*c, campaign, "grant C", 0, 6)).symbol->kind, SymbolKind::Resource);
  auto bonus = m.at(campaign, offset_of(*c, campaign, "bonus"));
  ASSERT_NE(bonus.symbol, nullptr);
  EXPECT_EQ(bonus.symbol->kind, SymbolKind::Const);
  EXPECT_EQ(bonus.symbol->detail, "const bonus: Money(CNY) = 15 CNY");
  ASSERT_NE(bonus.type, nullptr);
  EXPECT_EQ(bonus.type->to_string(), "Money(CNY)");
  auto order = m.at(campaign, offset_of(*c, campaign, "on Order", 0, 4));
  ASSERT_NE(order.symbol, nullptr);
  EXPECT_EQ(order.symbol->kind, SymbolKind::Event);
  EXPECT_EQ(order.symbol->module, "shop.schema");
  auto app = m.at(campaign, offset_of(*c, campaign, "App"));
  ASSERT_NE(app.symbol, nullptr);
  EXPECT_EQ(app.symbol->kind, SymbolKind::EnumValue);
  EXPECT_EQ(app.symbol->container, "Channel");
  EXPECT_TRUE(app.symbol->is_std);
  // An import names the module.
  auto imp = m.at(campaign, offset_of(*c, campaign, "shop.segments", 0, 5));
  ASSERT_NE(imp.symbol, nullptr);
  EXPECT_EQ(imp.symbol->kind, SymbolKind::Module);
  EXPECT_EQ(imp.symbol->name, "shop.segments");
}

TEST(SemanticModel, TypesAndConstantsOfExpressionsUnderAPosition) {
  auto c = shop();
  const auto& m = c->model();
  auto segments = file_of(*c, "segments.crm");
  // `10 CNY + 5 CNY`: on the `+`, the whole sum, folded.
  auto plus = m.at(segments, offset_of(*c, segments, "+ 5"));
  ASSERT_NE(plus.expr, nullptr);
  EXPECT_EQ(text_of(*c, plus.expr->span), "10 CNY + 5 CNY");
  ASSERT_NE(plus.type, nullptr);
  EXPECT_EQ(plus.type->to_string(), "Money(CNY)");
  ASSERT_NE(plus.value, nullptr);
  EXPECT_EQ(plus.value->to_string(*plus.type), "15 CNY");
  // Inside the aggregate: `amount` is Order's field, the sum is Money(CNY).
  auto amount = m.at(segments, offset_of(*c, segments, "amount", 0, 2));
  ASSERT_NE(amount.symbol, nullptr);
  EXPECT_EQ(amount.symbol->kind, SymbolKind::EventField);
  EXPECT_EQ(amount.symbol->container, "Order");
  EXPECT_EQ(amount.symbol->detail, "Money(CNY)");
  auto sum = m.at(segments, offset_of(*c, segments, "sum("));
  ASSERT_NE(sum.type, nullptr);
  EXPECT_EQ(text_of(*c, sum.expr->span), "sum(Order.amount within 30 days)");
  EXPECT_EQ(sum.type->to_string(), "Money(CNY)");
  auto cmp = m.at(segments, offset_of(*c, segments, "> 1000"));
  ASSERT_NE(cmp.type, nullptr);
  EXPECT_EQ(cmp.type->to_string(), "Bool");
  // A profile field used in a strategy resolves to the schema module's declaration.
  auto campaign = file_of(*c, "promo.crm");
  auto age = m.at(campaign, offset_of(*c, campaign, "age"));
  ASSERT_NE(age.symbol, nullptr);
  EXPECT_EQ(age.symbol->kind, SymbolKind::ProfileField);
  EXPECT_EQ(age.symbol->module, "shop.schema");
  EXPECT_EQ(age.type->to_string(), "Int");
}

TEST(SemanticModel, SymbolsOfTheStandardLibraryWithDocs) {
  auto c = compile({{"t.crm", std::string("import std.lifecycle\n"
                                          "event Order { amount: Money(CNY) }\n"
                                          "segment s = stage(silent_after: 14 days) == Silent\n")}});
  ASSERT_FALSE(c->sink.has_errors());
  const auto& m = c->model();
  auto syms = m.module_symbols("std.lifecycle");
  ASSERT_FALSE(syms.empty());
  EXPECT_EQ(m.symbol(syms[0]).kind, SymbolKind::Module);
  auto has = [&](SymbolKind k, const std::string& name) {
    for (auto id : syms)
      if (m.symbol(id).kind == k && m.symbol(id).name == name) return &m.symbol(id);
    return static_cast<const crm::sema::SymbolInfo*>(nullptr);
  };
  ASSERT_NE(has(SymbolKind::Enum, "Stage"), nullptr);
  ASSERT_NE(has(SymbolKind::EnumValue, "Silent"), nullptr);
  EXPECT_EQ(has(SymbolKind::EnumValue, "Silent")->container, "Stage");
  auto* potential = has(SymbolKind::Segment, "potential_customers");
  ASSERT_NE(potential, nullptr);
  EXPECT_EQ(potential->doc, "Visitors who have not converted yet: the acquisition target.");
  EXPECT_TRUE(potential->is_std);
  auto* stage = has(SymbolKind::Function, "stage");
  ASSERT_NE(stage, nullptr);
  EXPECT_EQ(stage->detail.find("fn stage(new_period: Duration = 30 days, "), 0u) << stage->detail;
  ASSERT_NE(has(SymbolKind::Param, "silent_after"), nullptr);
  // The call, its named argument and the enum value in the user's file.
  auto f = file_of(*c, "t.crm");
  EXPECT_EQ(m.at(f, offset_of(*c, f, "stage(")).symbol, stage);
  EXPECT_EQ(m.at(f, offset_of(*c, f, "silent_after")).symbol->kind, SymbolKind::Param);
  EXPECT_EQ(m.at(f, offset_of(*c, f, "Silent")).symbol, has(SymbolKind::EnumValue, "Silent"));
  // The prelude and the built-ins are symbols too.
  EXPECT_NE(m.find(SymbolKind::Enum, "Channel"), crm::sema::kNoSymbol);
  auto now = m.find(SymbolKind::Builtin, "now");
  ASSERT_NE(now, crm::sema::kNoSymbol);
  EXPECT_EQ(m.symbol(now).detail, "now(): Time");
  // What the user's module can name unqualified includes the import's and the prelude's.
  auto visible = m.visible_symbols(*m.module_of_file(f));
  auto sees = [&](SymbolKind k, const std::string& n) {
    return std::any_of(visible.begin(), visible.end(),
                       [&](auto id) { return m.symbol(id).kind == k && m.symbol(id).name == n; });
  };
  EXPECT_TRUE(sees(SymbolKind::Function, "stage"));
  EXPECT_TRUE(sees(SymbolKind::EnumValue, "Rising"));
  EXPECT_TRUE(sees(SymbolKind::Enum, "Channel"));
  EXPECT_TRUE(sees(SymbolKind::Segment, "s"));
}

TEST(SemanticModel, MergedSchemaFieldsHaveEveryDeclarationAsOccurrence) {
  auto c = compile({{"a.crm", std::string("module a\nprofile { age: Int }\n")},
                    {"b.crm", std::string("module b\nprofile { age: Int }\nsegment adult = age >= 18\n")}});
  ASSERT_FALSE(c->sink.has_errors());
  const auto& m = c->model();
  auto id = m.find(SymbolKind::ProfileField, "age");
  ASSERT_NE(id, crm::sema::kNoSymbol);
  auto refs = m.references(id);
  ASSERT_EQ(refs.size(), 3u);
  EXPECT_EQ(std::count_if(refs.begin(), refs.end(), [](auto& o) { return o.declaration; }), 2);
}

TEST(SemanticModel, ScopeAtAPositionForCompletion) {
  auto c = compile({{"t.crm", std::string("event Order { amount: Money(CNY) }\n"
                                          "event Visit { page: String }\n"
                                          "profile { age: Int }\n"
                                          "fn big(n: Int): Bool = count(Order where amount > 10 CNY) > n\n"
                                          "resource coupon C { discount: 5 CNY }\n"
                                          "strategy s {\n"
                                          "  who: age > 1 and count(Visit where page == \"x\") > 0\n"
                                          "  when: on Order\n"
                                          "  where: amount > 100 CNY\n"
                                          "  what: grant C\n"
                                          "}\n")}});
  ASSERT_FALSE(c->sink.has_errors());
  const auto& m = c->model();
  auto f = file_of(*c, "t.crm");
  auto in_where = m.scope_at(f, offset_of(*c, f, "amount > 100"));
  ASSERT_NE(in_where.decl, nullptr);
  EXPECT_EQ(in_where.decl->name, "s");
  ASSERT_NE(in_where.clause, nullptr);
  EXPECT_EQ(in_where.clause->kind, crm::ast::ClauseKind::Where);
  ASSERT_NE(in_where.event, nullptr);
  EXPECT_EQ(in_where.event->name, "Order");
  auto in_filter = m.scope_at(f, offset_of(*c, f, "page =="));
  ASSERT_NE(in_filter.aggregate, nullptr);
  EXPECT_EQ(in_filter.event->name, "Visit");
  EXPECT_EQ(in_filter.clause->kind, crm::ast::ClauseKind::Who);
  auto in_fn = m.scope_at(f, offset_of(*c, f, "> n"));
  ASSERT_NE(in_fn.function, nullptr);
  EXPECT_EQ(in_fn.function->name, "big");
  EXPECT_EQ(in_fn.event, nullptr);
  EXPECT_EQ(m.at(f, offset_of(*c, f, "> n", 0, 2)).symbol->kind, SymbolKind::Param);
}

// A half-typed line: the syntax error is reported, and with check_after_syntax_errors the
// type error elsewhere in the file is reported too and the model answers for the rest.
TEST(SemanticModel, CheckingContinuesPastSyntaxErrors) {
  std::string text =
      "event Order { amount: Money(CNY) }\n"
      "segment bad = count(Order) > \"many\"\n"
      "segment ok = count(Order) > 1\n"
      "segment half = count(Order where amount >\n";
  auto strict = compile({{"t.crm", text}});
  EXPECT_FALSE(strict->checked);
  for (const auto& code : codes(*strict)) EXPECT_EQ(code, "E0101");
  auto editor = compile({{"t.crm", text}}, true);
  EXPECT_FALSE(editor->syntax_ok);
  EXPECT_TRUE(editor->checked);
  auto got = codes(*editor);
  EXPECT_NE(std::find(got.begin(), got.end(), "E0101"), got.end());
  EXPECT_NE(std::find(got.begin(), got.end(), "E0401"), got.end());
  const auto& m = editor->model();
  auto f = file_of(*editor, "t.crm");
  auto order = m.at(f, offset_of(*editor, f, "Order", 2));
  ASSERT_NE(order.symbol, nullptr);
  EXPECT_EQ(order.symbol->kind, SymbolKind::Event);
  EXPECT_NE(m.find(SymbolKind::Segment, "ok"), crm::sema::kNoSymbol);
}

// Every prefix-cut and line-dropped variant of every example and golden input checks without
// crashing and its model answers at every position (what an editor sends while typing).
TEST(SemanticModel, PartialTreesOfEveryExampleCheckWithoutCrashing) {
  fs::path root = fs::path(CRM_SOURCE_DIR);
  std::vector<fs::path> files;
  for (const char* dir : {"examples", "tests/golden/check", "stdlib/std"})
    for (auto& e : fs::recursive_directory_iterator(root / dir))
      if (e.path().extension() == ".crm") files.push_back(e.path());
  ASSERT_GT(files.size(), 20u);
  size_t variants = 0;
  for (const auto& p : files) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    std::vector<std::string> cuts;
    for (size_t i = 1; i <= 6; ++i) cuts.push_back(text.substr(0, text.size() * i / 7));
    size_t mid = text.find('\n', text.size() / 2);
    if (mid != std::string::npos) {
      size_t next = text.find('\n', mid + 1);
      if (next != std::string::npos) cuts.push_back(text.substr(0, mid + 1) + text.substr(next + 1));
      cuts.push_back(text.substr(0, mid) + " and (" + text.substr(mid));
    }
    for (const auto& cut : cuts) {
      SCOPED_TRACE(p.string());
      crm::DriverOptions o;
      o.check_after_syntax_errors = true;
      o.load.include_dirs = {p.parent_path().string()};
      auto c = crm::compile({{p.string(), cut}}, o);
      ++variants;
      if (!c->checked) continue;
      const auto& m = c->model();
      auto f = file_of(*c, p.string());
      for (uint32_t off = 0; off <= cut.size(); off += 5) {
        (void)m.at(f, off);
        (void)m.scope_at(f, off);
      }
    }
  }
  EXPECT_GT(variants, 100u);
}

// The folding pass is pure: it computes with the VM's operations and reports faults as values,
// which the type pass turns into E0413.
TEST(FoldPass, ArithmeticFoldsWithTheVmOperationsAndReturnsFaults) {
  using crm::sema::Type;
  using crm::sema::TypeKind;
  using crm::sema::Value;
  namespace fold = crm::sema::fold;
  const auto* div = crm::sema::find_arith(crm::ast::BinaryOp::Div, TypeKind::Int, TypeKind::Int);
  ASSERT_NE(div, nullptr);
  auto half = fold::arith(*div, Value{int64_t(7)}, Value{int64_t(2)}, Type::of(TypeKind::Decimal));
  ASSERT_EQ(half.status, fold::Status::Folded);
  EXPECT_EQ(half.value.to_string(Type::of(TypeKind::Decimal)), "3.5");
  auto zero = fold::arith(*div, Value{int64_t(7)}, Value{int64_t(0)}, Type::of(TypeKind::Decimal));
  EXPECT_EQ(zero.status, fold::Status::Fault);
  EXPECT_EQ(zero.fault, crm::bytecode::ops::Fault::DivisionByZero);
  const auto* add = crm::sema::find_arith(crm::ast::BinaryOp::Add, TypeKind::Int, TypeKind::Int);
  auto over = fold::arith(*add, Value{INT64_MAX}, Value{int64_t(1)}, Type::of(TypeKind::Int));
  EXPECT_EQ(over.status, fold::Status::Fault);
  EXPECT_EQ(fold::compare(crm::ast::BinaryOp::Lt, Value{int64_t(1)}, Value{int64_t(2)}), std::optional<bool>(true));
}
