// unified_diff.h - `crm format --diff`: the change formatting makes to a file, as a unified diff
// (`patch -p0` applies it), computed with dtl (Debian libdtl-dev).
#pragma once

#include <string>

namespace crm::cli {

// The unified diff from `before` to `after` with three lines of context under `--- name` /
// `+++ name` headers; empty when they are equal.
std::string unified_diff(const std::string& name, const std::string& before, const std::string& after);

}  // namespace crm::cli
