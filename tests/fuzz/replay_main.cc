// replay_main.cc - the CI fuzz smoke run without libFuzzer.
//
// Feeds every .crm file under the given directories to the fuzz entry point, then a fixed
// number of deterministic mutations of each (byte flips, deletions, duplications, splices,
// truncations) and some hostile shapes (deep nesting, long operator chains, huge literals).
// Any crash, abort or sanitizer report fails the test. Long runs use the real libFuzzer target.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace fs = std::filesystem;

static void run(const std::string& s) { LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

int main(int argc, char** argv) {
  std::vector<std::string> seeds;
  for (int i = 1; i < argc; ++i) {
    if (!fs::exists(argv[i])) continue;
    for (auto& e : fs::recursive_directory_iterator(argv[i])) {
      if (!e.is_regular_file() || e.path().extension() != ".crm") continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::ostringstream ss;
      ss << in.rdbuf();
      seeds.push_back(ss.str());
    }
  }
  const char* env = std::getenv("CRM_FUZZ_MUTATIONS");
  int mutations = env ? std::atoi(env) : 40;
  std::mt19937_64 rng(20261122);
  size_t runs = 0;
  for (const auto& s : seeds) {
    run(s);
    ++runs;
    for (int k = 0; k < mutations && !s.empty(); ++k) {
      std::string m = s;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !m.empty(); ++e) {
        size_t pos = rng() % m.size();
        switch (rng() % 6) {
          case 0: m[pos] = static_cast<char>(rng() % 256); break;
          case 1: m.erase(pos, 1 + rng() % 16); break;
          case 2: m.insert(pos, m.substr(rng() % m.size(), 1 + rng() % 32)); break;
          case 3: m.resize(pos); break;
          case 4: m.insert(pos, std::string(1, "(){}[]\"#/*?.,:;<>=!-+%"[rng() % 22])); break;
          case 5: {
            const auto& other = seeds[rng() % seeds.size()];
            size_t from = rng() % other.size();
            m.insert(pos, other.substr(from, 1 + rng() % 64));
            break;
          }
        }
      }
      run(m);
      ++runs;
    }
  }
  // Hostile shapes: each must end in a diagnostic, never a stack overflow or a hang.
  std::vector<std::string> hostile = {
      "segment s = " + std::string(100000, '(') + "1",
      "segment s = " + std::string(50000, '-') + "1",
      "segment s = " + [] { std::string x; for (int i = 0; i < 20000; ++i) x += "not "; return x; }() + "true",
      "segment s = 1" + [] { std::string x; for (int i = 0; i < 50000; ++i) x += " + 1"; return x; }(),
      "segment s = " + [] { std::string x; for (int i = 0; i < 3000; ++i) x += "if true then "; return x; }() + "1",
      "segment s = " + std::string(5000, '9') + " > 1",
      "segment s = {" + [] { std::string x; for (int i = 0; i < 20000; ++i) x += "1,"; return x; }() + "}",
      std::string(70000, 'a'),
      "strategy s { who: true when: at 2026-02-30T00:00Z what: grant x }",
      "\xff\xfe\x00\x01",
      "segment s = \"unterminated",
  };
  for (const auto& h : hostile) { run(h); ++runs; }
  std::printf("fuzz smoke: %zu inputs from %zu seeds, no crash\n", runs, seeds.size());
  return 0;
}
