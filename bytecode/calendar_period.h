// calendar_period.h - the calendar period of a zone that holds one instant, worked out once and
// then tested against many instants (per-user caps count a user's deliveries in the period that
// holds `now`).
#pragma once

#include <cstdint>

#include "bytecode/program.h"
#include "support/time_zone.h"

namespace crm::bytecode {

// holds(then) == same_calendar_period(unit, then, now, zone) (bytecode/program.h, which is
// defined through this), but only `then`'s side is computed per call: now's local hour, day,
// ISO week or month is computed by the constructor. Keeps a pointer to `zone`, which must
// outlive it. Const after construction: threads may share one while `zone` does not change.
class CalendarPeriod {
 public:
  CalendarPeriod(CalendarUnit unit, int64_t now, const support::ZoneRules& zone);
  bool holds(int64_t then) const;

 private:
  CalendarUnit unit_;
  const support::ZoneRules* zone_;
  int64_t offset_ = 0;  // Hour: now's offset
  int64_t key_ = 0;     // now's local clock hour, day, ISO week, or (Month) year
  unsigned month_ = 0;  // Month
};

}  // namespace crm::bytecode
