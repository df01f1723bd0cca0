// check_api_test.cc - the public check API on files and in-memory texts together, and data
// samples that are not files (a directory is an error, never an empty sample).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include <crm/check.h>

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
