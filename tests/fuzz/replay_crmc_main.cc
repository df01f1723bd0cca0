// replay_crmc_main.cc - the CI smoke run of the `.crmc` fuzz target without libFuzzer.
//
// Seeds: every .crmc file under the given directories, plus every .crm file there compiled in
// process (so the seeds follow the current format). Each seed runs as is, then through a fixed
// number of deterministic mutations aimed at what a forger edits: half structure-aware (any
// number of the loaded program - periods, indices, windows, operands, enum tags - set to a
// boundary value such as 0, -1, INT64_MIN, INT64_MAX, 0xFFFFFFFF, then serialized), half on the
// bytes (1-, 4- and 8-byte boundary writes, bit flips, deletions, duplications, truncations). The fuzz entry re-seals the checksum, so
// every mutation reaches the verifier. Any crash, abort or sanitizer report fails the test.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <type_traits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "compiler/codegen/codegen.h"
#include "compiler/driver.h"
#include "bytecode/program.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern size_t crm_fuzz_crmc_loaded;

namespace fs = std::filesystem;

namespace {

// CRM_FUZZ_SLOW=MS reports inputs that take longer (to find what makes a run slow).
void run(const std::string& s) {
  static const char* slow = std::getenv("CRM_FUZZ_SLOW");
  if (slow) std::ofstream("/tmp/crm_fuzz_current.crmc", std::ios::binary) << s;  // survives a hang
  auto t0 = std::chrono::steady_clock::now();
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  if (!slow) return;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  if (ms >= std::atoi(slow)) {
    static int n = 0;
    std::string name = "/tmp/crm_fuzz_slow_" + std::to_string(n++) + ".crmc";
    std::ofstream(name, std::ios::binary) << s;
    std::fprintf(stderr, "slow input (%lld ms): %s\n", static_cast<long long>(ms), name.c_str());
  }
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A compiled program, or empty when the file does not compile on its own (a module of another).
std::string compile(const fs::path& p) {
  crm::DriverOptions o;
  o.load.include_dirs = {p.parent_path().string()};
  o.generate = true;
  auto c = crm::compile({{p.string(), std::nullopt}}, o);
  if (!c->generated) return {};
  return crm::bytecode::serialize(c->code.program);
}

// Every number of a program a forger could edit, as setters: structure-aware mutations reach
// fields at any offset (byte mutations rarely hit an 8-byte field exactly and intact).
std::vector<std::function<void(int64_t)>> numbers(crm::bytecode::Program& p) {
  std::vector<std::function<void(int64_t)>> out;
  auto add = [&](auto& x) { out.push_back([&x](int64_t v) { x = static_cast<std::remove_reference_t<decltype(x)>>(v); }); };
  auto period = [&](crm::bytecode::Period& per) { add(per.micros); add(per.kind); add(per.unit); };
  auto field = [&](crm::bytecode::Field& f) { add(f.kind); add(f.elem); add(f.default_value); };
  add(p.zone.initial_offset);
  for (auto& f : p.profile) field(f);
  for (auto& e : p.events) for (auto& f : e.fields) field(f);
  for (auto& a : p.aggregates) { add(a.kind); add(a.window); add(a.event); add(a.field); add(a.filter_unit); add(a.window_value); }
  for (auto& u : p.units) {
    add(u.registers);
    for (auto& in : u.code) { add(in.op); add(in.d); add(in.a); add(in.b); add(in.c); }
  }
  for (auto& s : p.segments) { add(s.unit); add(s.batch_unit); }
  for (auto& s : p.strategies) {
    add(s.trigger); add(s.event); add(s.at); add(s.every); add(s.has_window); add(s.from); add(s.to);
    add(s.who); add(s.where); add(s.trigger_if); add(s.who_batch); add(s.index_field); add(s.budget); add(s.has_budget);
    add(s.value);
    add(s.stock); add(s.control_basis_points); add(s.zone.initial_offset); add(s.paced); add(s.priority);
    for (auto& c : s.per_user) { add(c.count); period(c.period); }
    for (auto& a : s.actions) { add(a.resource); add(a.channel); }
    for (auto& z : s.zone.transitions) { add(z.first); add(z.second); }
  }
  for (auto& r : p.resources) {
    add(r.kind); add(r.discount); add(r.threshold); add(r.points); add(r.claim_from); add(r.claim_to); add(r.has_claim);
    add(r.use_after_claim); add(r.use_from); add(r.use_to); add(r.has_use_window); add(r.decay); add(r.fixed_from_third);
  }
  for (auto& pol : p.policies) {
    add(pol.max_unredeemed); add(pol.has_same_type); period(pol.same_type); add(pol.has_quiet); add(pol.quiet_from);
    add(pol.quiet_to);
    for (auto& c : pol.channel_caps) { add(c.channel); add(c.cap.count); period(c.cap.period); }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> seeds;
  for (int i = 1; i < argc; ++i) {
    if (!fs::exists(argv[i])) continue;
    for (auto& e : fs::recursive_directory_iterator(argv[i])) {
      if (!e.is_regular_file()) continue;
      if (e.path().extension() == ".crmc") seeds.push_back(read(e.path()));
      else if (e.path().extension() == ".crm")
        if (std::string b = compile(e.path()); !b.empty()) seeds.push_back(b);
    }
  }
  const char* env = std::getenv("CRM_FUZZ_MUTATIONS");
  int mutations = env ? std::atoi(env) : 300;
  std::mt19937_64 rng(20261130);
  const int64_t boundary[] = {0, 1, -1, 2, INT64_MIN, INT64_MAX, 0xFFFFFFFFll, 1440, 10000, 86'400'000'000ll};
  size_t runs = 0;
  const char* save = std::getenv("CRM_FUZZ_SAVE");
  auto save_as = [&](const std::string& bytes, const std::string& name) {
    std::ofstream(fs::path(save) / name, std::ios::binary) << bytes;
  };
  size_t seed_index = 0;
  for (const auto& s : seeds) {
    ++seed_index;
    if (save) save_as(s, fmt::format("seed_{}.crmc", seed_index));
    run(s);
    ++runs;
    if (s.size() <= 24) continue;
    crm::bytecode::Program base;
    std::string err;
    bool structured = crm::bytecode::deserialize(s, base, err);
    for (int k = 0; k < mutations; ++k) {
      if (structured && k % 2 == 0) {
        // One to three numbers of the program set to boundary values, then serialized.
        crm::bytecode::Program p = base;
        auto setters = numbers(p);
        for (int e = 1 + static_cast<int>(rng() % 3); e > 0 && !setters.empty(); --e)
          setters[rng() % setters.size()](boundary[rng() % (sizeof boundary / sizeof boundary[0])]);
        std::string forged = crm::bytecode::serialize(p);
        run(forged);
        ++runs;
        // CRM_FUZZ_SAVE=DIR keeps some forged programs as seeds for libFuzzer (tests/fuzz/crmc).
        if (save && k % 60 == 0) save_as(forged, fmt::format("forged_{}_{}.crmc", runs, seed_index));
        continue;
      }
      std::string m = s;
      int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits && m.size() > 24; ++e) {
        size_t pos = 24 + rng() % (m.size() - 24);
        int64_t v = boundary[rng() % (sizeof boundary / sizeof boundary[0])];
        switch (rng() % 7) {
          case 0: m[pos] = static_cast<char>(v); break;
          case 1: if (pos + 4 <= m.size()) std::memcpy(&m[pos], &v, 4); break;
          case 2: if (pos + 8 <= m.size()) std::memcpy(&m[pos], &v, 8); break;
          case 3: m[pos] = static_cast<char>(m[pos] ^ (1 << (rng() % 8))); break;
          case 4: m.erase(pos, 1 + rng() % 8); break;
          case 5: m.insert(pos, m.substr(24 + rng() % (m.size() - 24), 1 + rng() % 16)); break;
          case 6: if (rng() % 4 == 0) m.resize(pos); break;
        }
      }
      run(m);
      ++runs;
    }
  }
  std::printf("crmc fuzz smoke: %zu inputs from %zu seeds (%zu passed the verifier and ran), no crash\n", runs,
              seeds.size(), crm_fuzz_crmc_loaded);
  return seeds.empty() ? 1 : 0;  // no seeds would make the test vacuous
}
