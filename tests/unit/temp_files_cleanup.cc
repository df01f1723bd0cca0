// temp_files_cleanup.cc - gives every crm_tests process a temporary directory of its own and
// removes it, with everything in it, when the process ends.
//
// Why: the tests name their files under ::testing::TempDir() (`c_api_ledger.db`,
// `crm_report_daily.db`, ...) and several worktrees, and ctest -j, run crm_tests at the same time
// on one machine: with the shared /tmp, two runs opened each other's ledgers and failed at random,
// and files named by pid piled up. Before any test runs, a fresh `crm_tests.XXXXXX` directory is
// made under the temporary directory the process was given (TEST_TMPDIR, TMPDIR or /tmp), and
// TEST_TMPDIR (read by ::testing::TempDir() at each call) and TMPDIR (std::filesystem::
// temp_directory_path(), and the crm processes a test starts) point into it. A process started by
// a test (a death test re-running this binary, a forked child) inherits the directory and leaves
// its removal to the process that made it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

// The environment variable that marks a directory made by an enclosing crm_tests process.
constexpr const char* kOwnedVar = "CRM_TESTS_TEMP_DIR";

class ProcessTempDir {
 public:
  ProcessTempDir() {
    if (const char* inherited = std::getenv(kOwnedVar); inherited != nullptr && *inherited != '\0') return;
    std::string base = ::testing::TempDir();
    if (base.empty() || base.back() != '/') base += '/';
    std::vector<char> name(base.begin(), base.end());
    const std::string tail = "crm_tests.XXXXXX";
    name.insert(name.end(), tail.begin(), tail.end());
    name.push_back('\0');
    if (::mkdtemp(name.data()) == nullptr) {
      std::perror("crm_tests: cannot make a temporary directory");
      std::abort();
    }
    dir_ = name.data();
    // Readable by others: State.ReadOnlyAndFullDatabasesAreClearErrors opens a file in it as an
    // unprivileged user (mkdtemp makes it 0700).
    ::chmod(dir_.c_str(), 0755);
    owner_ = ::getpid();
    ::setenv("TEST_TMPDIR", dir_.c_str(), 1);
    ::setenv("TMPDIR", dir_.c_str(), 1);
    ::setenv(kOwnedVar, dir_.c_str(), 1);
  }
  ~ProcessTempDir() {
    // Only the process that made it: a forked child that returns through exit() does not remove
    // the directory its parent still uses.
    if (dir_.empty() || ::getpid() != owner_) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ProcessTempDir(const ProcessTempDir&) = delete;
  ProcessTempDir& operator=(const ProcessTempDir&) = delete;

 private:
  std::string dir_;
  pid_t owner_ = 0;
};

// Made at static initialisation, before main() and any test; removed after main() returns.
const ProcessTempDir kProcessTempDir;

}  // namespace
