// format_test.cc - formatting round trips over every bundled and golden .crm file: formatting
// twice gives the same text, the formatted text parses to the same tree, no comment is lost; and
// the layout of definitions with comments and the width option.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <crm/check.h>

#include "compiler/ast/ast_dump.h"
#include "compiler/driver.h"
#include "compiler/parse/parser.h"

namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string dump(const std::string& text) {
  crm::Compilation c(100);
  auto id = c.program.sources.add("x.crm", text);
  auto* m = crm::parse::parse_module(c.program.sources.file(id), c.program.ast, c.sink);
  return c.sink.has_errors() ? "<syntax errors>" : crm::ast::dump(*m);
}

// Every .crm file we ship or test with: examples, the standard library and every golden input
// (tests/golden/*), and the editor-support token sample.
std::vector<fs::path> sources() {
  std::vector<fs::path> out;
  for (const char* dir : {"examples", "stdlib", "tests/golden", "editor-support/textmate/test"}) {
    fs::path d = fs::path(CRM_SOURCE_DIR) / dir;
    if (!fs::exists(d)) continue;
    for (auto& e : fs::recursive_directory_iterator(d))
      if (e.path().extension() == ".crm") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The comments of a source, in order, as written (the formatter may move them, never drop them).
std::vector<std::string> comments_of(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '"') {
      ++i;
      while (i < text.size() && text[i] != '"' && text[i] != '\n' && text[i] != '\r') i += text[i] == '\\' ? 2 : 1;
      ++i;
    } else if (text[i] == '#' || text.compare(i, 2, "//") == 0) {
      size_t e = text.find_first_of("\r\n", i);  // as the grammar's LINE_COMMENT
      if (e == std::string::npos) e = text.size();
      out.push_back(text.substr(i, e - i));
      i = e;
    } else if (text.compare(i, 2, "/*") == 0) {
      size_t e = text.find("*/", i + 2);
      e = e == std::string::npos ? text.size() : e + 2;
      out.push_back(text.substr(i, e - i));
      i = e;
    } else {
      ++i;
    }
  }
  return out;
}

}  // namespace

// Over every bundled and golden source that parses, at the default width and two narrow ones:
// formatting is idempotent, the formatted text parses to the same syntax tree (the AST dump), and
// every comment survives, in order.
TEST(Format, RoundTripsEveryBundledAndGoldenFile) {
  size_t parsed = 0;
  for (const auto& f : sources()) {
    SCOPED_TRACE(f.string());
    std::string text = read(f);
    std::string tree = dump(text);
    if (tree == "<syntax errors>") continue;  // inputs of the syntax-error goldens
    ++parsed;
    for (size_t width : {size_t(100), size_t(60), size_t(40)}) {
      SCOPED_TRACE("width " + std::to_string(width));
      crm::FormatOptions o;
      o.width = width;
      auto once = crm::format_source(f.string(), text, {}, o);
      ASSERT_TRUE(once.ok) << once.diagnostics.render_text();
      auto twice = crm::format_source(f.string(), once.text, {}, o);
      ASSERT_TRUE(twice.ok) << twice.diagnostics.render_text();
      EXPECT_EQ(once.text, twice.text);
      EXPECT_EQ(tree, dump(once.text));
      EXPECT_EQ(comments_of(text), comments_of(once.text));
    }
  }
  EXPECT_GT(parsed, 100u) << "fewer sources than expected: is CRM_SOURCE_DIR right?";
}

TEST(Format, ParenthesesOnlyWhereNeeded) {
  auto r = crm::format_source("x.crm", "segment s = ((a and b)) or (not (c)) and (d or e) and -(1 + 2) * 3 > 0\n");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.text, "segment s = a and b or not c and (d or e) and -(1 + 2) * 3 > 0\n");
}

TEST(Format, KeepsCommentsBetweenDeclarations) {
  auto r = crm::format_source("x.crm", "// header\nmodule m\n\n// the loyal ones\nsegment s   =   true // why\n");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.text, "// header\nmodule m\n\n// the loyal ones\nsegment s = true // why\n");
}

// Definitions with comments are formatted around them (they used to be copied as written).
TEST(Format, FormatsDefinitionsThatHaveComments) {
  auto r = crm::format_source("x.crm",
                              "segment   s =  a   >=  1 // one\n and (b or  c)\n"
                              "enum E { A, // first\n B }\n"
                              "fn f(x: Int): Int = x+1 // inc\n");
  ASSERT_TRUE(r.ok) << r.diagnostics.render_text();
  EXPECT_EQ(r.text,
            "segment s =\n    a >= 1 // one\n    and (b or c)\n\n"
            "enum E {\n    A, // first\n    B,\n}\n\n"
            "fn f(x: Int): Int = x + 1 // inc\n");
}

// A comment among a function's parameters still keeps that declaration as written.
TEST(Format, KeepsADefinitionWithACommentInItsSignatureAsWritten) {
  std::string src = "fn f(x: Int, // the count\n      y: Int): Int = x+y\n";
  auto r = crm::format_source("x.crm", src);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.text, src);
}

TEST(Format, WidthMovesWhereLinesBreak) {
  std::string src = "segment s = aaaaaa > 1 and bbbbbb > 2 and cccccc > 3\n";
  crm::FormatOptions narrow;
  narrow.width = 40;
  EXPECT_EQ(crm::format_source("x.crm", src).text, src);
  EXPECT_EQ(crm::format_source("x.crm", src, {}, narrow).text,
            "segment s =\n    aaaaaa > 1\n    and bbbbbb > 2\n    and cccccc > 3\n");
}

// A CRLF file (a Windows checkout with core.autocrlf) formats to CRLF: a formatted one is
// unchanged (`crm format --check` passed only LF files), an unformatted one gets CRLF lines.
TEST(Format, KeepsTheFilesLineEnds) {
  const std::string formatted = "profile {\r\n    age: Int\r\n}\r\n\r\n// adults\r\nsegment adults = age >= 18\r\n";
  crm::FormatResult r = crm::format_source("crlf.crm", formatted);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.text, formatted);
  crm::FormatResult messy = crm::format_source("crlf.crm", "profile { age: Int }\r\n\r\n// adults\r\nsegment adults = age>=18\r\n");
  ASSERT_TRUE(messy.ok);
  EXPECT_EQ(messy.text, formatted);
  crm::FormatResult lf = crm::format_source("lf.crm", "segment a = 1>0\n");
  ASSERT_TRUE(lf.ok);
  EXPECT_EQ(lf.text, "segment a = 1 > 0\n");
}

// An `and` chain inside an `or` chain breaks too (language.md §1: long chains break before the
// operator); it stayed on one line past the width. Its lines go deeper than the `or`'s.
TEST(Format, BreaksAnAndChainInsideAnOrChain) {
  std::string src = "segment s = aaaaaa > 1 and bbbbbb > 2 and cccccc > 3 or dddddd\n";
  crm::FormatOptions narrow;
  narrow.width = 40;
  crm::FormatResult r = crm::format_source("x.crm", src, {}, narrow);
  ASSERT_TRUE(r.ok) << r.diagnostics.render_text();
  EXPECT_EQ(r.text, "segment s =\n    aaaaaa > 1\n        and bbbbbb > 2\n        and cccccc > 3\n    or dddddd\n");
  EXPECT_EQ(crm::format_source("x.crm", r.text, {}, narrow).text, r.text);  // idempotent
  EXPECT_EQ(dump(r.text), dump(src));                                      // same tree
  std::string who = "profile { member_level: Int  city: String  age: Int  sms_opt_in: Bool }\n"
                    "segment s = member_level >= 3 and city in {\"Shanghai\", \"Beijing\", \"Shenzhen\", "
                    "\"Hangzhou\"} and age between 18 and 65 or sms_opt_in\n";
  crm::FormatResult w = crm::format_source("x.crm", who);
  ASSERT_TRUE(w.ok);
  std::istringstream lines(w.text);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 100u) << line;
  EXPECT_EQ(dump(w.text), dump(who));
}
