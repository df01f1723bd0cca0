// calendar_period.cc - see calendar_period.h.
#include "bytecode/calendar_period.h"

#include "support/civil_time.h"

namespace crm::bytecode {

namespace {
// ISO weeks start on Monday; day 0 (1970-01-01) was a Thursday, so day -3 was a Monday.
int64_t iso_week(int64_t day) { return support::floor_div(day + 3, 7); }
}  // namespace

CalendarPeriod::CalendarPeriod(CalendarUnit unit, int64_t now, const support::ZoneRules& zone) : unit_(unit), zone_(&zone) {
  switch (unit) {
    case CalendarUnit::Hour:
      offset_ = zone.offset_at(now);
      key_ = support::floor_div(now + offset_, support::kMicrosPerHour);
      break;
    case CalendarUnit::Day: key_ = zone.local_day(now); break;
    case CalendarUnit::Week: key_ = iso_week(zone.local_day(now)); break;
    case CalendarUnit::Month: {
      unsigned day;
      support::civil_from_days(zone.local_day(now), key_, month_, day);
      break;
    }
  }
}

bool CalendarPeriod::holds(int64_t then) const {
  switch (unit_) {
    case CalendarUnit::Hour: {
      // The local clock hour; when the clocks go back, the repeated hour is a second hour.
      const int64_t then_offset = zone_->offset_at(then);
      return then_offset == offset_ && support::floor_div(then + then_offset, support::kMicrosPerHour) == key_;
    }
    case CalendarUnit::Day: return zone_->local_day(then) == key_;
    case CalendarUnit::Week: return iso_week(zone_->local_day(then)) == key_;
    case CalendarUnit::Month: {
      int64_t year;
      unsigned month, day;
      support::civil_from_days(zone_->local_day(then), year, month, day);
      return year == key_ && month == month_;
    }
  }
  return false;
}

}  // namespace crm::bytecode
