// sms.cc - SMS segment counting: GSM-7 default alphabet and extension table, else UCS-2.
#include "support/sms.h"

#include <utf8proc.h>

#include <algorithm>
#include <vector>

namespace crm::support {
namespace {

// The GSM 7-bit default alphabet (TS 23.038 section 6.2.1), as Unicode code points, sorted.
// 0x1B (the escape to the extension table) is not a character of its own.
constexpr uint32_t kBasic[] = {
    0x000A, 0x000D, 0x0020, 0x0021, 0x0022, 0x0023, 0x0024, 0x0025, 0x0026, 0x0027, 0x0028, 0x0029, 0x002A,
    0x002B, 0x002C, 0x002D, 0x002E, 0x002F, 0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037,
    0x0038, 0x0039, 0x003A, 0x003B, 0x003C, 0x003D, 0x003E, 0x003F, 0x0040, 0x0041, 0x0042, 0x0043, 0x0044,
    0x0045, 0x0046, 0x0047, 0x0048, 0x0049, 0x004A, 0x004B, 0x004C, 0x004D, 0x004E, 0x004F, 0x0050, 0x0051,
    0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057, 0x0058, 0x0059, 0x005A, 0x005F, 0x0061, 0x0062, 0x0063,
    0x0064, 0x0065, 0x0066, 0x0067, 0x0068, 0x0069, 0x006A, 0x006B, 0x006C, 0x006D, 0x006E, 0x006F, 0x0070,
    0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077, 0x0078, 0x0079, 0x007A, 0x00A1, 0x00A3, 0x00A4,
    0x00A5, 0x00A7, 0x00BF, 0x00C4, 0x00C5, 0x00C6, 0x00C7, 0x00C9, 0x00D1, 0x00D6, 0x00D8, 0x00DC, 0x00DF,
    0x00E0, 0x00E4, 0x00E5, 0x00E6, 0x00E8, 0x00E9, 0x00EC, 0x00F1, 0x00F2, 0x00F6, 0x00F8, 0x00F9, 0x00FC,
    0x0393, 0x0394, 0x0398, 0x039B, 0x039E, 0x03A0, 0x03A3, 0x03A6, 0x03A8, 0x03A9};
// The extension table (section 6.2.1.1): an escape septet plus one, so two septets each.
constexpr uint32_t kExtension[] = {0x000C, 0x005B, 0x005C, 0x005D, 0x005E, 0x007B, 0x007C, 0x007D, 0x007E, 0x20AC};

bool in(const uint32_t* b, const uint32_t* e, uint32_t c) { return std::binary_search(b, e, c); }

// Parts of a concatenated message holding `per` units each, when no character (1 or 2 units,
// as listed) may be split between two parts.
int64_t parts(const std::vector<uint8_t>& widths, int64_t per) {
  int64_t n = 1, used = 0;
  for (uint8_t w : widths) {
    if (used + w > per) {
      ++n;
      used = 0;
    }
    used += w;
  }
  return n;
}

}  // namespace

SmsSize sms_size(std::string_view s) {
  std::vector<uint8_t> gsm, ucs;  // each character's width in septets and in UTF-16 units
  bool gsm7 = true;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {  // not UTF-8 (never, by the input rules): count the byte as a UCS-2 unit
      cp = 0xFFFD;
      n = 1;
    }
    p += n;
    left -= n;
    auto c = static_cast<uint32_t>(cp);
    ucs.push_back(c > 0xFFFF ? 2 : 1);
    if (!gsm7) continue;
    if (in(std::begin(kBasic), std::end(kBasic), c)) gsm.push_back(1);
    else if (in(std::begin(kExtension), std::end(kExtension), c)) gsm.push_back(2);
    else gsm7 = false;
  }
  SmsSize out;
  out.gsm7 = gsm7;
  const auto& widths = gsm7 ? gsm : ucs;
  for (uint8_t w : widths) out.units += w;
  const int64_t single = gsm7 ? 160 : 70, per_part = gsm7 ? 153 : 67;
  out.segments = out.units <= single ? 1 : parts(widths, per_part);
  return out;
}

}  // namespace crm::support
