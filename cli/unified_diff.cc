// unified_diff.cc - line diff with dtl's O(NP) algorithm and its unified hunks.
#include "cli/unified_diff.h"

#include <dtl/dtl.hpp>

#include <sstream>
#include <vector>

namespace crm::cli {
namespace {

// The lines of a text; a last line without a newline carries diff's marker, so that a change of
// only the final newline shows.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b < text.size()) {
    size_t e = text.find('\n', b);
    if (e == std::string::npos) {
      out.push_back(text.substr(b) + "\n\\ No newline at end of file");
      break;
    }
    out.push_back(text.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

}  // namespace

std::string unified_diff(const std::string& name, const std::string& before, const std::string& after) {
  if (before == after) return "";
  std::vector<std::string> a = lines_of(before), b = lines_of(after);
  dtl::Diff<std::string> diff(a, b);
  diff.onHuge();
  diff.compose();
  diff.composeUnifiedHunks();
  std::ostringstream out;
  out << "--- " << name << "\n+++ " << name << "\n";
  diff.printUnifiedFormat(out);
  return out.str();
}

}  // namespace crm::cli
