// temp_files_cleanup.cc - when a test process ends, removes the files it made in the test temp
// directory under names that carry its pid (ledgers such as `crm_id_reuse_<pid>_v2.db` and their
// -wal, -shm and .lock files), so that test runs do not pile them up in /tmp: ctest runs every
// test in a process of its own, and each such test named its files by pid to keep them apart.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace {

class PidTempFiles : public ::testing::Environment {
 public:
  void TearDown() override {
    namespace fs = std::filesystem;
    const std::string pid = "_" + std::to_string(::getpid());
    std::error_code ec;
    for (fs::directory_iterator it(::testing::TempDir(), ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind("crm_", 0) != 0 && name.rfind("c_api_", 0) != 0) continue;
      // The pid as a whole part of the name: `_<pid>_` or `_<pid>.`.
      const size_t at = name.find(pid);
      if (at == std::string::npos || at + pid.size() >= name.size()) continue;
      const char next = name[at + pid.size()];
      if (next != '_' && next != '.') continue;
      std::error_code type_ec, remove_ec;
      if (it->is_regular_file(type_ec)) fs::remove(it->path(), remove_ec);
    }
  }
};

[[maybe_unused]] ::testing::Environment* const kPidTempFiles = ::testing::AddGlobalTestEnvironment(new PidTempFiles);

}  // namespace
