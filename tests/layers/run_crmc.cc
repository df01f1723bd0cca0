// run_crmc.cc - runs a compiled program (.crmc) over JSON Lines events, linked against
// crm::runtime only (tests/layers/CMakeLists.txt): the proof that a compiled program needs no
// compiler. Prints one decision per line, as `crm run` does, so the test can compare the two.
//
//   run_crmc PROGRAM.crmc EVENTS.jsonl [PROFILES.csv|.jsonl]
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/engine.h"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::cerr << "usage: run_crmc PROGRAM.crmc EVENTS.jsonl [PROFILES]\n";
    return 2;
  }
  std::ifstream program_file(argv[1], std::ios::binary);
  std::stringstream bytes;
  bytes << program_file.rdbuf();
  crm::bytecode::Program program;
  std::string error;
  if (!program_file || !crm::bytecode::deserialize(bytes.str(), program, error)) {
    std::cerr << "run_crmc: " << argv[1] << ": " << (error.empty() ? "cannot read" : error) << "\n";
    return 1;
  }
  crm::engine::Engine engine(program);
  if (argc == 4) {
    std::string path = argv[3];
    std::ifstream profiles(path);
    if (!profiles) {
      std::cerr << "run_crmc: cannot read " << path << "\n";
      return 1;
    }
    bool csv = path.size() > 4 && path.substr(path.size() - 4) == ".csv";
    bool ok = engine.load_profiles(profiles, csv, [&](size_t line, const std::string& e) {
      std::cerr << path << ":" << line << ": " << e << "\n";
      return false;
    });
    if (!ok) return 1;
  }
  std::ifstream events(argv[2]);
  if (!events) {
    std::cerr << "run_crmc: cannot read " << argv[2] << "\n";
    return 1;
  }
  std::vector<crm::engine::Decision> decisions;
  crm::engine::Event event;
  std::string line;
  size_t n = 0;
  while (std::getline(events, line)) {
    ++n;
    if (line.empty()) continue;
    if (!engine.parse_event(line, event, error) || !engine.submit(event, decisions, error)) {
      std::cerr << argv[2] << ":" << n << ": " << error << "\n";
      return 1;
    }
  }
  if (!engine.finish(decisions, error)) {
    std::cerr << "run_crmc: " << error << "\n";
    return 1;
  }
  for (const auto& d : decisions) std::cout << engine.decision_json(d) << "\n";
  return 0;
}
