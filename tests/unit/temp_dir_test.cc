// temp_dir_test.cc - every crm_tests process writes into a temporary directory of its own
// (temp_files_cleanup.cc) and removes it when it ends: two test runs at once on one machine
// (worktrees sharing /tmp, ctest -j) never meet in a file such as `c_api_ledger.db`.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;

namespace {

// Runs this test binary on `filter` with `base` as its temporary directory, as a new run would
// (not as a child of this process); returns its exit status.
int run_self(const std::string& filter, const fs::path& base) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::unsetenv("CRM_TESTS_TEMP_DIR");
    ::setenv("TEST_TMPDIR", base.c_str(), 1);
    ::setenv("TMPDIR", base.c_str(), 1);
    const std::string f = "--gtest_filter=" + filter;
    ::execl(self.c_str(), self.c_str(), f.c_str(), "--gtest_brief=1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST(TestTempDir, IsAFreshDirectoryOfThisProcess) {
  const fs::path dir = ::testing::TempDir();
  EXPECT_EQ(dir.parent_path().filename().string().rfind("crm_tests.", 0), 0u) << dir;
  EXPECT_TRUE(fs::is_directory(dir)) << dir;
  const char* tmpdir = std::getenv("TMPDIR");
  ASSERT_NE(tmpdir, nullptr);
  EXPECT_EQ(fs::path(tmpdir) / "", dir);
}

// Tests that write fixed names (the C API's `c_api_ledger.db`, `c_api_dedup_N.db`, the report's
// ledgers) leave nothing in the temporary directory they were given once the process ends.
TEST(TestTempDir, ARunLeavesNothingBehind) {
  const fs::path base = fs::path(::testing::TempDir()) / "base";
  fs::create_directories(base);
  ASSERT_EQ(run_self("CApi.LedgerSurvivesARestartAndIsSingleWriter:CApi.AZeroDedupWindowMeansTheDefault:"
                     "TestTempDir.IsAFreshDirectoryOfThisProcess",
                     base),
            0);
  for (const auto& e : fs::directory_iterator(base)) ADD_FAILURE() << "left behind: " << e.path();
}
