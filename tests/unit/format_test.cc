// format_test.cc - formatting round trips over every bundled .crm file: formatting twice gives
// the same text, and the formatted text parses to the same tree.
#include <gtest/gtest.h>

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

std::vector<fs::path> sources() {
  std::vector<fs::path> out;
  for (const char* dir : {"examples", "stdlib", "tests/golden/parse", "tests/golden/format", "tests/golden/run"}) {
    fs::path d = fs::path(CRM_SOURCE_DIR) / dir;
    if (!fs::exists(d)) continue;
    for (auto& e : fs::recursive_directory_iterator(d))
      if (e.path().extension() == ".crm") out.push_back(e.path());
  }
  return out;
}

}  // namespace

TEST(Format, RoundTripsEveryBundledFile) {
  auto files = sources();
  ASSERT_GT(files.size(), 5u);
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    std::string text = read(f);
    auto once = crm::format_source(f.string(), text);
    ASSERT_TRUE(once.ok) << once.diagnostics.render_text();
    auto twice = crm::format_source(f.string(), once.text);
    ASSERT_TRUE(twice.ok) << twice.diagnostics.render_text();
    EXPECT_EQ(once.text, twice.text);
    EXPECT_EQ(dump(text), dump(once.text));
  }
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
