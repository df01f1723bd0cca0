// message_text.h - message texts rendered for one user (docs/semantics.md, "Message texts and
// costs"): a compiled template's literal text with each `{field}` replaced by the user's profile
// value, written as text once. A value is inserted literally and never read as a template again,
// so a nickname of "{city}" stays "{city}". Also what a message costs: its `cost`, and for an
// SMS that cost per segment of the rendered text (support/sms.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/user_state.h"
#include "runtime/vm/vm.h"

namespace crm::engine {

struct RenderedMessage {
  std::string text, title;   // title: a push's title, an e-mail's subject (empty without one)
  int64_t segments = 0;      // an SMS: segments of `text`; 0 for other kinds
  int64_t cost = 0;          // millionths of the resource's currency
  int32_t missing = -1;      // a profile field the user has no value for and the template no default: nothing rendered
};

class MessageTexts {
 public:
  MessageTexts(const bytecode::Program& p, const vm::StringPool& strings, const vm::CollectionStore& collections)
      : p_(p), strings_(strings), collections_(collections) {}
  // Renders resource `ri` (a message) for `u`.
  RenderedMessage render(const User& u, uint32_t ri) const;
  // A profile value as text: strings as they are, numbers and dates as written in .crm, money
  // with its currency's minor unit (`12.50 CNY`), enums by name, collections joined with ", ".
  std::string value_text(const bytecode::Field& f, bytecode::Kind kind, int64_t v) const;

 private:
  // false with `missing` set when a field has no value and no default.
  bool render_parts(const User& u, const std::vector<bytecode::TextPart>& parts, std::string& out, int32_t& missing) const;

  const bytecode::Program& p_;
  const vm::StringPool& strings_;
  const vm::CollectionStore& collections_;
};

}  // namespace crm::engine
