// event.h - a typed event: what decoding makes of one JSON line, and what every later part of the
// engine reads. Fields are laid out as the program's EventType.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace crm::engine {

struct Event {
  std::string id;
  uint32_t type = 0;
  std::string user;
  int64_t time = 0;
  std::vector<int64_t> fields;  // laid out as the program's EventType (0 id, 1 user, 2 time, ...)
  std::vector<uint8_t> present;  // per field: it has a value (given, or the field's default)
};

// Puts events in the order audience and explain apply them: by time, then by id, so that any
// permutation of the same events gives the same result (docs/semantics.md, "Event order").
void sort_by_time(std::vector<Event>& events);

}  // namespace crm::engine
