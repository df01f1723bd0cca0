// currency.h - the minor unit of a currency (ISO 4217): how many decimal places its smallest
// coin or note has. Used to round computed amounts (a percentage discount's subsidy).
#pragma once

#include <string_view>

namespace crm::support {

// 2 for most currencies (CNY, USD, EUR, GBP); 0 for JPY, KRW, VND and the others without a
// minor unit; 3 for BHD, IQD, JOD, KWD, LYD, OMR, TND.
int minor_unit_digits(std::string_view currency);

}  // namespace crm::support
