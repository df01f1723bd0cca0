// parser_test.cc - syntax errors, recovery and input limits.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <crm/check.h>
#include <crm/runtime.h>

namespace {

std::vector<std::string> codes(const crm::CheckResult& r) {
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics()) out.push_back(d.code);
  return out;
}

}  // namespace

TEST(Parser, ReportsSeveralIndependentSyntaxErrorsInOneRun) {
  auto r = crm::check_source("t.crm",
                             "segment a = age >= \n"
                             "segment b = (1 + 2\n"
                             "const c = 3 4\n"
                             "segment d = true\n");
  EXPECT_EQ(codes(r), (std::vector<std::string>{"E0101", "E0101", "E0101"})) << r.render_text();
}

TEST(Parser, LexicalErrorsAreReportedOnceEach) {
  auto r = crm::check_source("t.crm", "segment a = true @ \nconst s = \"open\n");
  ASSERT_GE(r.diagnostics().size(), 2u) << r.render_text();
  EXPECT_EQ(r.diagnostics()[0].code, "E0103");
  EXPECT_EQ(r.diagnostics()[0].begin.line, 1u);
  EXPECT_EQ(r.diagnostics()[0].begin.column, 18u);
}

TEST(Parser, ColumnsCountCharactersNotBytes) {
  auto r = crm::check_source("t.crm", "// 双十一\nconst s = \"红包\" + 1\n");
  ASSERT_EQ(r.diagnostics().size(), 1u) << r.render_text();
  EXPECT_EQ(r.diagnostics()[0].begin.line, 2u);
  EXPECT_EQ(r.diagnostics()[0].begin.column, 16u);  // the `+`
}

TEST(Parser, FileSizeLimitIsADiagnostic) {
  crm::CheckOptions o;
  o.limits.max_file_bytes = 100;
  auto r = crm::check_source("t.crm", std::string(200, ' '), o);
  EXPECT_EQ(codes(r), std::vector<std::string>{"E0105"});
}

TEST(Parser, NestingLimitIsADiagnostic) {
  crm::CheckOptions o;
  o.limits.max_nesting = 20;
  auto deep = "segment s = " + std::string(30, '(') + "true" + std::string(30, ')');
  auto r = crm::check_source("t.crm", deep, o);
  EXPECT_EQ(codes(r), std::vector<std::string>{"E0106"});
  auto ok = "segment s = " + std::string(10, '(') + "true" + std::string(10, ')');
  EXPECT_TRUE(crm::check_source("t.crm", ok, o).ok());
}

TEST(Parser, HostileNestingDoesNotOverflowTheStack) {
  auto r = crm::check_source("t.crm", "segment s = " + std::string(200000, '(') + "1");
  EXPECT_FALSE(r.ok());
  std::string chain = "segment s = 1";
  for (int i = 0; i < 100000; ++i) chain += " + 1";
  EXPECT_FALSE(crm::check_source("t.crm", chain + " > 0").ok());
}

// `a ?? b ?? c` is a flat list in the grammar but a right-nested tree in the AST: its levels
// count towards the tree's limit, so the checker, formatter and dump (which recurse per level)
// stay safe; as nesting the chain is one level (Parser.AFlatChainIsOneLevelOfNesting).
TEST(Parser, CoalesceChainsCountTowardsTheTreesLimit) {
  crm::CheckOptions o;
  o.limits.max_nesting = 20;
  auto chain = [](int terms) {
    std::string s = "profile { age: Int? }\nsegment s = ";
    for (int i = 1; i < terms; ++i) s += "age ?? ";
    return s + "1 > 3\n";
  };
  EXPECT_TRUE(crm::check_source("t.crm", chain(10), o).ok());
  EXPECT_TRUE(crm::check_source("t.crm", chain(60), o).ok());
  auto r = crm::check_source("t.crm", chain(4100), o);
  ASSERT_EQ(codes(r), std::vector<std::string>{"E0106"});
  EXPECT_EQ(r.diagnostics()[0].begin.line, 2u);
  // The default limits, and a chain that used to overflow the stack of check, format and parse.
  EXPECT_EQ(codes(crm::check_source("t.crm", chain(10000))), std::vector<std::string>{"E0106"});
  EXPECT_FALSE(crm::format_source("t.crm", chain(40000)).ok);
}

TEST(Parser, InvalidUtf8IsReported) {
  auto r = crm::check_source("t.crm", "segment s = \"\xff\"");
  EXPECT_EQ(codes(r), std::vector<std::string>{"E0103"});
}


TEST(Parser, SoftKeywordsStayUsableAsNames) {
  // Words that are keywords only inside clauses (`zone`, `quiet`, `type`, `code`, ...) remain
  // valid names for fields and declarations.
  auto r = crm::check_source("t.crm",
                             "profile { age: Int  type: String  code: String }\n"
                             "segment zone = age > 1\n"
                             "const quiet = 3\n"
                             "segment s = zone and age > quiet and type == code\n"
                             "policy split { same resource type once per day }\n");
  EXPECT_TRUE(r.ok()) << r.render_text();
}

// Constants and functions used before their declaration are checked inside one another; a long
// chain in reverse order used to overflow the checker's stack (E0111 instead, and in dependency
// order the same chain is fine).
TEST(Checker, ReverseDeclarationChainsAreBounded) {
  std::string rev = "profile { age: Int }\n", fwd = rev, fns = rev;
  for (int i = 0; i < 10000; ++i) rev += "const c" + std::to_string(i) + " = c" + std::to_string(i + 1) + "\n";
  rev += "const c10000 = 1\nsegment s = age > c0\n";
  auto r = crm::check_source("t.crm", rev);
  ASSERT_EQ(codes(r), std::vector<std::string>{"E0111"});
  EXPECT_EQ(r.diagnostics()[0].begin.line, 1002u);  // c1000: the 1001st link, one past the limit
  fwd += "const c10000 = 1\n";
  for (int i = 9999; i >= 0; --i) fwd += "const c" + std::to_string(i) + " = c" + std::to_string(i + 1) + "\n";
  EXPECT_TRUE(crm::check_source("t.crm", fwd + "segment s = age > c0\n").ok());
  for (int i = 0; i < 8000; ++i)
    fns += "fn f" + std::to_string(i) + "(x: Int): Int = f" + std::to_string(i + 1) + "(x)\n";
  fns += "fn f8000(x: Int): Int = x\nsegment s = f0(age) > 3\n";
  EXPECT_EQ(codes(crm::check_source("t.crm", fns)), std::vector<std::string>{"E0111"});
  crm::CheckOptions o;
  o.limits.max_decl_depth = 20;
  std::string small = "profile { age: Int }\n";
  for (int i = 0; i < 30; ++i) small += "const c" + std::to_string(i) + " = c" + std::to_string(i + 1) + "\n";
  small += "const c30 = 1\nsegment s = age > c0\n";
  EXPECT_EQ(codes(crm::check_source("t.crm", small, o)), std::vector<std::string>{"E0111"});
  o.limits.max_decl_depth = 40;
  EXPECT_TRUE(crm::check_source("t.crm", small, o).ok());
}

// --max-nesting is capped at what every pass is tested to survive: larger values count as the
// cap (8,000 parentheses under a requested 100,000 used to overflow the generated parser's
// stack); at the cap, the deepest accepted shapes of each kind check and format.
TEST(Parser, NestingCapIsSafe) {
  crm::CheckOptions o;
  o.limits.max_nesting = 100000;
  const int cap = static_cast<int>(crm::Limits::kMaxNestingCap);
  auto seg = [](const std::string& e) { return "profile { age: Int  opt: Int? }\nsegment s = " + e + "\n"; };
  EXPECT_EQ(codes(crm::check_source("t.crm", seg(std::string(8000, '(') + "age > 3" + std::string(8000, ')')), o)),
            std::vector<std::string>{"E0106"});
  auto parens = seg(std::string(cap, '(') + "age > 3" + std::string(cap, ')'));
  std::string ands = "age > 3", coalesce = "opt", nots = "age > 3";
  for (int i = 1; i < 2 * cap - 10; ++i) {
    ands += " and age > 3";
    coalesce += " ?? opt";
    nots = "not " + nots;
  }
  for (const auto& text : {parens, seg(ands), seg(coalesce + " ?? 1 > 3"), seg(nots)}) {
    // Every pass survives the cap; what is deeper than the code generator's limit once compiled
    // (2000 levels too) is refused with E0112, as `crm compile` refuses it.
    auto r = crm::check_source("t.crm", text, o);
    for (const auto& c : codes(r)) EXPECT_EQ(c, "E0112") << r.render_text().substr(0, 300);
    EXPECT_TRUE(crm::format_source("t.crm", text, o.limits).ok);
  }
  EXPECT_TRUE(crm::check_source("t.crm", parens, o).ok());
}

// A flat chain of one operator is one level of nesting: generated catalogues write `city == "a"
// or city == "b" or ...` with hundreds of terms, and a chain of 258 terms used to be E0106
// ("nested deeper than 128 levels") under the default limit. Real nesting is still limited, and
// the tree every pass recurses through keeps its own cap (2 * kMaxNestingCap levels).
TEST(Parser, AFlatChainIsOneLevelOfNesting) {
  auto seg = [](const std::string& e) { return "profile { age: Int  opt: Int? }\nsegment s = " + e + "\n"; };
  auto chain = [](const std::string& first, const std::string& op, const std::string& term, int n) {
    std::string t = first;
    for (int i = 1; i < n; ++i) t += op + term;
    return t;
  };
  for (const auto& text : {seg(chain("age == 0", " or ", "age == 7", 1500)), seg(chain("age > 0", " and ", "age < 9", 1500)),
                           seg(chain("age", " + ", "1", 1500) + " > 3"), seg(chain("age", " - ", "1", 700) + " + 2 > 3"),
                           seg(chain("age", " * ", "1", 1500) + " > 3"), seg(chain("opt", " ?? ", "opt", 1500) + " ?? 1 > 3"),
                           // 120 parentheses around a chain: the chain adds one level, not 1,500.
                           seg(std::string(120, '(') + chain("age > 0", " and ", "age < 9", 1500) + std::string(120, ')'))}) {
    auto r = crm::check_source("t.crm", text);
    EXPECT_TRUE(r.ok()) << text.substr(0, 80) << ": " << r.render_text().substr(0, 300);
  }
  // Nesting proper: 129 parentheses, or chains nested in one another's operands, are still E0106.
  auto deep = crm::check_source("t.crm", seg(std::string(129, '(') + "age > 3" + std::string(129, ')')));
  ASSERT_EQ(codes(deep), std::vector<std::string>{"E0106"});
  EXPECT_NE(deep.diagnostics()[0].message.find("nested deeper than 128 levels"), std::string::npos);
  std::string nested = "age > 3";
  for (int i = 0; i < 130; ++i) nested = "age > 1 and (" + nested + ")";
  EXPECT_EQ(codes(crm::check_source("t.crm", seg(nested))), std::vector<std::string>{"E0106"});
  // The tree's own cap: 2 * 2000 levels, whatever --max-nesting.
  for (const auto& text : {seg(chain("age > 0", " or ", "age == 7", 4100)), seg(chain("opt", " ?? ", "opt", 4100) + " ?? 1 > 3")}) {
    auto r = crm::check_source("t.crm", text);
    ASSERT_EQ(codes(r), std::vector<std::string>{"E0106"}) << r.render_text().substr(0, 300);
    EXPECT_NE(r.diagnostics()[0].message.find("expression deeper than the parser's cap (2000 levels of nesting, or about 4000 operators in one chain)"),
              std::string::npos) << r.diagnostics()[0].message;
    EXPECT_NE(r.diagnostics()[0].help.find("`in [...]`"), std::string::npos);
  }
  // A chain longer than the code generator's depth (2000) checks as E0112, as compile refuses it.
  EXPECT_EQ(codes(crm::check_source("t.crm", seg(chain("age > 0", " and ", "age < 9", 2500)))),
            std::vector<std::string>{"E0112"});
}

// `crm check` accepts exactly what `crm compile` compiles: the code generator's limits are E0112
// at the unit's expression, from both (before, check passed and compile said "cannot compile:
// expression too deep after inlining" with no code or place).
TEST(Codegen, CheckRefusesWhatCompileCannotCompile) {
  auto expect_e0112 = [](const std::string& text, const crm::CheckOptions& o, const std::string& words,
                         uint32_t line) {
    auto r = crm::check_source("t.crm", text, o);
    ASSERT_EQ(codes(r), std::vector<std::string>{"E0112"}) << r.render_text().substr(0, 600);
    EXPECT_NE(r.diagnostics()[0].message.find(words), std::string::npos) << r.diagnostics()[0].message;
    if (line) {
      EXPECT_EQ(r.diagnostics()[0].begin.line, line);
    }
    auto c = crm::compile_sources({{"t.crm", text}}, o);
    EXPECT_FALSE(c.program.valid());
    EXPECT_EQ(codes(c.diagnostics), std::vector<std::string>{"E0112"});
    EXPECT_EQ(c.error.kind, crm::ErrorKind::Input);
  };
  // Segments refining one another, in dependency order (no nesting for the checker): each is
  // compiled with the whole chain inlined, nested one level or more per link.
  std::string chain = "profile { orders: Int }\nsegment s0 = orders >= 0\n";
  for (int i = 1; i <= 1100; ++i) chain += fmt::format("segment s{} = s{} and orders >= {}\n", i, i - 1, i);
  crm::CheckOptions o;
  expect_e0112(chain, o, "nests deeper than 2000 levels", 0);
  // The failing unit is the first segment past the limit; its line is the one reported.
  auto r = crm::check_source("t.crm", chain, o);
  uint32_t line = r.diagnostics()[0].begin.line;
  EXPECT_GT(line, 2u);
  EXPECT_LT(line, 1103u);
  EXPECT_NE(r.diagnostics()[0].message.find(fmt::format("`segment s{}`", line - 2)), std::string::npos)
      << r.diagnostics()[0].message;
  // A lower limit is an option; under it the same kind of program compiles.
  std::string short_chain = "profile { orders: Int }\nsegment s0 = orders >= 0\n";
  for (int i = 1; i <= 8; ++i) short_chain += fmt::format("segment s{} = s{} and orders >= {}\n", i, i - 1, i);
  EXPECT_TRUE(crm::check_source("t.crm", short_chain, o).ok());
  EXPECT_TRUE(crm::compile_sources({{"t.crm", short_chain}}, o).program.valid());
  crm::CheckOptions low;
  low.limits.max_code_depth = 12;
  expect_e0112(short_chain, low, "nests deeper than 12 levels", 0);
  // Wide rather than deep: 80 x 80 x 12 comparisons in one unit need more than 65535 registers.
  std::string wide = "profile { orders: Int }\nsegment a = orders > 0";
  for (int i = 1; i < 80; ++i) wide += fmt::format(" or orders > {}", i);
  wide += "\nsegment b = a";
  for (int i = 1; i < 80; ++i) wide += " and a";
  wide += "\nsegment c = b";
  for (int i = 1; i < 12; ++i) wide += " or b";
  wide += "\n";
  expect_e0112(wide, o, "65535 registers", 4);
}

// A `/*` never closed was "unexpected `/`" (E0101); it is its own lexer error, once, at the `/*`.
TEST(Parser, AnUnterminatedBlockCommentIsOneLexerError) {
  auto r = crm::check_source("t.crm", "segment a = true\n/* never closed\nsegment b = false\n");
  ASSERT_EQ(codes(r), (std::vector<std::string>{"E0113"})) << r.render_text();
  EXPECT_EQ(r.diagnostics()[0].begin.line, 2u);
  EXPECT_EQ(r.diagnostics()[0].begin.column, 1u);
  auto mid = crm::check_source("t.crm", "segment a = 1 > /* oops *\n");
  EXPECT_EQ(codes(mid), (std::vector<std::string>{"E0113"})) << mid.render_text();
  auto closed = crm::check_source("t.crm", "/**/ segment a = true /* x ** y */ /***/\n");
  EXPECT_TRUE(codes(closed).empty()) << closed.render_text();
}

// One mistake, one diagnostic (each of these gave two to four).
TEST(Parser, OneLexicalMistakeGivesOneDiagnostic) {
  using V = std::vector<std::string>;
  auto one = [](const std::string& src) {
    auto r = crm::check_source("t.crm", src);
    return std::make_pair(codes(r), r.render_text());
  };
  const std::string schema = "profile { a: Int }\n";
  auto broken = one(schema + "resource push p { title: \"abc\ndef\"  body: \"x\" }\n");
  EXPECT_EQ(broken.first, V{"E0102"}) << broken.second;
  auto eof = one("const x = \"abc\n");
  EXPECT_EQ(eof.first, V{"E0102"}) << eof.second;
  auto two_strings = one("const x = \"abc\nconst y = \"def\"\n");
  EXPECT_EQ(two_strings.first, V{"E0102"}) << two_strings.second;
  auto junk = one(schema + "segment x = a > 1 @@\n");
  EXPECT_EQ(junk.first, V{"E0103"}) << junk.second;
  auto wide = one(schema + "segment y = a \xEF\xBC\x9E 1\n");  // U+FF1E fullwidth `>`
  EXPECT_EQ(wide.first, V{"E0103"}) << wide.second;
  auto trailing = crm::check_source("t.crm", schema + "segment s = a > 1 and\nsegment t = a < 3\n");
  ASSERT_EQ(codes(trailing), V{"E0101"}) << trailing.render_text();
  EXPECT_EQ(trailing.diagnostics()[0].begin.line, 2u);  // at the `and`, not the correct line
}
