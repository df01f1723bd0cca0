// app.cc - a program outside the crm source tree that embeds crm through its public API only:
// compiles a strategy, feeds events, reads the decision. Built by tests/package/package_test.sh
// against an installed crm (find_package, pkg-config) and against the source tree (add_subdirectory).
#include <crm/runtime.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: app WORK_DIR\n";
    return 2;
  }
  std::string path = std::string(argv[1]) + "/welcome.crm";
  std::ofstream(path) << R"(
profile { city: String }
event Order { amount: Money(CNY) }
resource coupon c10 { discount: 10 CNY  threshold: 50 CNY }
segment buyer = count(Order within 30 days) >= 1
strategy welcome { who: buyer  when: on Order  what: grant c10 via App code "W"  how much: per user 1 per day }
)";
  crm::CompileOutput out = crm::compile_files({path});
  if (!out.diagnostics.ok()) {
    std::cerr << out.diagnostics.render_text();
    return 1;
  }
  crm::Runtime runtime(out.program);
  std::vector<std::string> decisions;
  std::string error;
  if (!runtime.load_profile(R"({"user":"u1","city":"Shanghai"})", error) ||
      !runtime.process_event(
          R"({"id":"e1","type":"Order","user":"u1","time":"2026-11-11T01:00:00Z","amount":"80.00"})", decisions,
          error) ||
      !runtime.finish(decisions, error)) {
    std::cerr << "app: " << error << "\n";
    return 1;
  }
  for (const auto& d : decisions) std::cout << d << "\n";
  return decisions.empty() ? 1 : 0;
}
