// json_reader.cc - the JSON line reader of events (engine::JsonLineReader) against simdjson's
// On-Demand API on the same lines (issue 15 item 2: "if a JSON library helps, measure it against
// the current reader"). Not part of the CMake build (simdjson is not a dependency of crm); built
// by hand against a build tree, with Debian's libsimdjson-dev:
//
//   g++ -O2 -std=c++20 -I. bench/json_reader.cc build/runtime/libcrm_runtime.a \
//       build/support/libcrm_support.a -lsimdjson -lfmt -lutf8proc -o /tmp/json_reader
//   /tmp/json_reader EVENTS.jsonl [REPS]
//
// Prints the best of REPS passes over the file's lines, in ns per line, for: parse_json_object
// (owned copies: a std::string per key and value, as the decoder read every line before),
// JsonLineReader (views into the line), and simdjson On-Demand iterating every member (keys
// unescaped, strings unescaped, other values as their raw text). simdjson here checks less than
// crm's reader: not the number grammar, not that nothing follows the object, and its errors
// name no column; what it would cost to add those is not counted.
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/engine/json_line.h"

using crm::engine::JsonLineReader;
using crm::engine::JsonMember;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: json_reader EVENTS.jsonl [REPS]\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  const int reps = argc > 2 ? std::atoi(argv[2]) : 3;
  size_t sink = 0;
  bool failed = false;
  auto report = [&](const char* name, auto&& pass) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
      auto t0 = Clock::now();
      pass();
      best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::printf("%-36s %7.1f ns/line (%zu lines)\n", name, best * 1e9 / double(lines.size()), lines.size());
  };
  report("parse_json_object (owned copies)", [&] {
    std::vector<JsonMember> members;
    std::string err;
    for (const auto& line : lines) {
      if (!crm::engine::parse_json_object(line, members, err)) return void(failed = true);
      for (const auto& m : members) sink += m.key.size() + m.value.text.size();
    }
  });
  report("JsonLineReader (views)", [&] {
    JsonLineReader reader;
    std::string err;
    for (const auto& line : lines) {
      if (!reader.parse_object(line, err)) return void(failed = true);
      for (const auto& m : reader.members()) sink += m.key.size() + m.value.text.size();
    }
  });
  report("simdjson On-Demand", [&] {
    namespace od = simdjson::ondemand;
    od::parser parser;
    std::string buf;
    for (const auto& line : lines) {
      buf.reserve(line.size() + simdjson::SIMDJSON_PADDING);  // simdjson reads past the end
      buf.assign(line);
      od::document doc;
      od::object object;
      if (parser.iterate(simdjson::padded_string_view(buf.data(), buf.size(), buf.capacity())).get(doc) ||
          doc.get_object().get(object))
        return void(failed = true);
      for (auto field : object) {
        std::string_view key, text;
        od::json_type type;
        if (field.unescaped_key().get(key) || field.value().type().get(type)) return void(failed = true);
        if (type == od::json_type::string) {
          if (field.value().get_string().get(text)) return void(failed = true);
        } else {
          text = field.value().raw_json_token();
        }
        sink += key.size() + text.size();
      }
    }
  });
  std::printf("simdjson kernel: %s (compiled for %s)\n", simdjson::get_active_implementation()->name().c_str(),
              simdjson::builtin_implementation()->name().c_str());
  if (failed) std::printf("a line was refused\n");
  std::printf("(checksum %zu)\n", sink);
  return failed ? 1 : 0;
}
