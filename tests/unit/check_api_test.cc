// check_api_test.cc - the public check API on files and in-memory texts together, and data
// samples that are not files (a directory is an error, never an empty sample).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <crm/check.h>
#include <crm/runtime.h>

#include "support/text.h"

namespace fs = std::filesystem;

TEST(CheckApi, FilesAndTextsFormOneProgram) {
  // The schema comes from a text, the segment that uses it from another: one program.
  crm::CheckResult ok = crm::check_sources({{"schema.crm", std::string("profile { age: Int }\n")},
                                            {"<stdin>", std::string("segment adult = age >= 18\n")}});
  EXPECT_TRUE(ok.ok()) << ok.render_text();
  crm::CheckResult bad = crm::check_sources({{"<stdin>", std::string("segment adult = age >= 18\n")}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.diagnostics()[0].begin.file, "<stdin>");
  crm::CheckResult file = crm::check_sources({{std::string(CRM_SOURCE_DIR) + "/examples/double11.crm", std::nullopt}});
  EXPECT_TRUE(file.ok()) << file.render_text();
}

TEST(CheckApi, DataDirectoryIsAnError) {
  fs::path dir = fs::temp_directory_path() / ("crm_check_api_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  crm::CheckOptions o;
  o.data_profiles = dir.string();
  crm::CheckResult r = crm::check_files({std::string(CRM_SOURCE_DIR) + "/tests/golden/check/W0105_overlapping_strategies.crm"}, o);
  fs::remove_all(dir);
  bool reported = false;
  for (const auto& d : r.diagnostics())
    if (d.code == "E0109" && d.message.find("is a directory") != std::string::npos) reported = true;
  EXPECT_TRUE(reported) << r.render_text();
  EXPECT_FALSE(r.ok());
}

// The carets stand under the span in a terminal whatever the script before it: a Chinese
// character takes two columns, a combining mark none, a tab is copied (before, each code point
// counted one column, so the carets after Chinese text pointed half a word to the left).
TEST(CheckApi, CaretsFollowTheTerminalWidthOfTheTextBeforeThem) {
  auto caret_line = [](const std::string& text) {
    crm::CheckResult r = crm::check_source("t.crm", text);
    EXPECT_FALSE(r.ok());
    std::string out = r.render_text(false);
    // The snippet's second line: " <pad> | <marks>".
    size_t at = out.find("\n", out.find("\n") + 1);
    std::string marks = out.substr(at + 1, out.find("\n", at + 1) - at - 1);
    return marks.substr(marks.find('|') + 2);
  };
  const std::string profile = "profile { name: String  age: Int }\n";
  // 双十一 is three wide characters (six columns); `agee` is the unknown name.
  EXPECT_EQ(caret_line(profile + "segment s = name == \"双十一\" and agee > 3\n"),
            std::string(33, ' ') + "^^^^");
  // é written as e + U+0301 (a combining acute accent: no column of its own).
  EXPECT_EQ(caret_line(profile + "segment s = name == \"cafe\xCC\x81\" and agee > 3\n"),
            std::string(31, ' ') + "^^^^");
  // A span over wide characters gets two carets for each (`age == "双十一"`: 9 + 6 columns).
  EXPECT_EQ(caret_line(profile + "segment s = age == \"双十一\"\n"), std::string(12, ' ') + std::string(15, '^'));
  // Tabs are copied so that the carets line up under a tab-indented line.
  EXPECT_EQ(caret_line(profile + "segment s =\t\"双\" == agee\n"), std::string(11, ' ') + "\t" + std::string(8, ' ') + "^^^^");
}

// JSON output is UTF-8 whatever the input: an offending token cut to 40 bytes is cut between
// characters (it cut a `€` in half at byte 37), and a file name that is not UTF-8 comes out with
// U+FFFD for its bad bytes (it went out raw), so `crm check --format json` is always parseable.
TEST(CheckApi, JsonDiagnosticsAreUtf8) {
  std::string text = "module a\nconst x: Int = 1 \"" + std::string(35, 'a');
  for (int i = 0; i < 8; ++i) text += "\u20ac";
  text += "\"\n";
  crm::CheckResult r = crm::check_source("bad\xff.crm", text);
  ASSERT_FALSE(r.ok());
  std::string json = r.render_json();
  EXPECT_TRUE(crm::support::valid_utf8(json)) << json;
  EXPECT_NE(json.find("bad\\ufffd.crm"), std::string::npos) << json;
  EXPECT_NE(json.find("`\\\"" + std::string(35, 'a') + "..."), std::string::npos) << json;
  std::string shown = r.render_text();
  EXPECT_NE(shown.find("`\"" + std::string(35, 'a') + "...`"), std::string::npos) << shown;
}

// language.md §1's own example: `module shop.campaigns` in shop/campaigns.crm imports
// `shop.schema`, found as the sibling shop/schema.crm under the module's root (it looked for
// shop/shop/schema.crm only). A file whose name does not match its path gets no such root.
TEST(CheckApi, DottedImportsResolveFromTheImportingModulesRoot) {
  fs::path dir = fs::temp_directory_path() / ("crm_check_root_" + std::to_string(::getpid()));
  fs::create_directories(dir / "shop");
  auto write = [&](const fs::path& p, const std::string& text) {
    FILE* f = std::fopen(p.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  };
  write(dir / "shop/schema.crm", "module shop.schema\nprofile { age: Int }\n");
  write(dir / "shop/campaigns.crm", "module shop.campaigns\nimport shop.schema\nsegment adult = age >= 18\n");
  write(dir / "shop/other.crm", "module elsewhere.other\nimport shop.schema\nsegment adult = age >= 18\n");
  crm::CheckResult ok = crm::check_files({(dir / "shop/campaigns.crm").string()});
  EXPECT_TRUE(ok.ok()) << ok.render_text();
  crm::CheckResult mismatched = crm::check_files({(dir / "shop/other.crm").string()});
  EXPECT_FALSE(mismatched.ok()) << "a module name that does not match its path implies no root";
  fs::remove_all(dir);
}

// `import ../x` is a syntax error, and what error recovery kept of the name, `../x`, was made a
// path by turning dots into slashes: `///x.crm`, absolute, so joining it to the importer's
// directory gave it alone and the loader read a file anywhere on the machine (strace showed
// `///tmp/x.crm`). Only a module name makes a path now; the syntax error is the one report.
TEST(CheckApi, AMalformedImportReadsNoFileOutsideTheProgram) {
  // The test runner's temporary directory has a dot in its name (crm_tests.XXXXXX): /tmp first.
  std::error_code ec;
  const std::string tmp = fs::is_directory("/tmp", ec) ? std::string("/tmp") : fs::temp_directory_path().string();
  // The import spells the absolute path of a file that exists; a dot in it would be a slash.
  if (tmp.find('.') != std::string::npos || tmp.empty() || tmp[0] != '/')
    GTEST_SKIP() << "temporary directory " << tmp << " cannot be spelt in an import";
  const std::string tag = "crm_check_outside_" + std::to_string(::getpid());
  fs::path outside = fs::path(tmp) / tag;
  fs::path dir = fs::path(tmp) / ("crm_check_dots_" + std::to_string(::getpid()));
  fs::create_directories(outside);
  fs::create_directories(dir);
  auto write = [&](const fs::path& p, const std::string& text) {
    FILE* f = std::fopen(p.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  };
  write(outside / "x.crm", "segment leaked = 1 >\n");  // reported wherever it is read
  write(dir / "main.crm", "import lib\nprofile { age: Int }\n");
  write(dir / "lib.crm", "import .." + (outside / "x").string() + "\nsegment s = age > 1\n");
  crm::CheckResult r = crm::check_files({(dir / "main.crm").string()});
  ASSERT_FALSE(r.ok());
  std::string text = r.render_text();
  for (const auto& d : r.diagnostics()) EXPECT_EQ(d.begin.file.find(tag), std::string::npos) << text;
  EXPECT_EQ(text.find("leaked"), std::string::npos) << text;
  ASSERT_EQ(r.diagnostics().size(), 1u) << text;  // the syntax error, no "module not found"
  EXPECT_EQ(r.diagnostics()[0].code, "E0101");
  EXPECT_EQ(fs::path(r.diagnostics()[0].begin.file).filename(), "lib.crm");
  // An embedder's module key that is no module name names its text as it is, not `//x.crm`.
  auto out = crm::compile_modules({{"../x", "segment s = 1 >\n"}});
  ASSERT_FALSE(out.diagnostics.diagnostics().empty());
  EXPECT_EQ(out.diagnostics.diagnostics()[0].begin.file, "../x");
  fs::remove_all(outside);
  fs::remove_all(dir);
}
