// currency.cc - ISO 4217 minor units (the list's exponent column, 2024 edition).
#include "support/currency.h"

#include <algorithm>
#include <iterator>

namespace crm::support {

int minor_unit_digits(std::string_view c) {
  static constexpr std::string_view kNone[] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
                                               "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"};
  static constexpr std::string_view kThree[] = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};
  if (std::find(std::begin(kNone), std::end(kNone), c) != std::end(kNone)) return 0;
  if (std::find(std::begin(kThree), std::end(kThree), c) != std::end(kThree)) return 3;
  return 2;
}

}  // namespace crm::support
