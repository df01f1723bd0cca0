// golden_run_args.h - a run golden's NAME.args (tests/golden/run; extra `crm run` options on one
// line, tests/golden_test.cc) applied to a crm::Run or crm::Runtime as `crm run` applies them, for
// the tests that replay the run goldens through the API. Only the options run goldens use are
// known; any other fails the test (so a new one is taught here, not ignored).
#pragma once

#include <crm/text.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace crm::testing {

template <class Runner>
void apply_golden_run_args(const std::filesystem::path& crm_file, Runner& run) {
  std::filesystem::path args = crm_file;
  args.replace_extension(".args");
  std::ifstream in(args);
  if (!in) return;
  std::string option, value;
  while (in >> option) {
    if (option == "--max-time-jump" && in >> value) {
      int64_t micros = 0;
      ASSERT_TRUE(crm::parse_duration(value, micros)) << args << ": " << value;
      run.set_max_time_jump(micros);
    } else {
      ADD_FAILURE() << args << ": an option the API tests do not apply: " << option;
    }
  }
}

}  // namespace crm::testing
