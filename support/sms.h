// sms.h - how many SMS segments a text takes (3GPP TS 23.038 and TS 23.040).
//
// A text that uses only the GSM 7-bit default alphabet and its extension table is sent in GSM-7:
// 160 septets in one message, 153 per part of a concatenated one (the rest of each part is the
// concatenation header). An extension character (`^ { } \ [ ~ ] |`, `€` and form feed) is an
// escape plus the character, two septets, and a part never ends between the two. Any other
// character makes the whole text UCS-2: 70 UTF-16 code units in one message, 67 per part; a
// character outside the Basic Multilingual Plane (an emoji) is a surrogate pair, two units, never
// split between parts. An empty text is one (empty) message. Code points are decoded by utf8proc.
#pragma once

#include <cstdint>
#include <string_view>

namespace crm::support {

struct SmsSize {
  bool gsm7 = true;       // false: UCS-2
  int64_t units = 0;      // septets (GSM-7) or UTF-16 code units (UCS-2)
  int64_t segments = 1;   // messages billed
};

// The text must be valid UTF-8 (every text in crm is).
SmsSize sms_size(std::string_view utf8);

}  // namespace crm::support
