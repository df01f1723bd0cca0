// text_test.cc - text rules (docs/language.md "Text", docs/runtime.md "Text encoding" and
// "Profiles"): UTF-8 only, Unicode case mapping through utf8proc in every evaluator and in
// constant folding, JSON surrogate pairs, byte order marks, and the one strict CSV reader with
// typed profile cells.
#include <crm/runtime.h>
#include <crm/text.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "compile_helpers.h"
#include "runtime/engine/json_line.h"
#include "runtime/ingest/importers.h"
#include "tests/reference/ast_evaluator.h"
#include "support/csv.h"
#include "support/decimal.h"
#include "support/json_text.h"
#include "support/line_reader.h"
#include "support/text.h"

#include "failing_buf.h"

namespace {

using crm::support::CsvField;
using crm::support::CsvReader;
using crm::testing::Compiled;
using crm::testing::compile_text;

constexpr size_t npos = std::string_view::npos;

// ---- UTF-8 and case mapping ----------------------------------------------------------------------

TEST(Text, Utf8ValidationFollowsRfc3629) {
  using crm::support::utf8_invalid_at;
  EXPECT_EQ(utf8_invalid_at("plain"), npos);
  EXPECT_EQ(utf8_invalid_at("M\xC3\x9C" "NCHEN \xE4\xB8\x8A\xE6\xB5\xB7 \xF0\x9F\x98\x80"), npos);  // Ü, 上海, 😀
  EXPECT_EQ(utf8_invalid_at("ab\xFF"), 2u);                  // never a UTF-8 byte
  EXPECT_EQ(utf8_invalid_at("a\x80"), 1u);                   // a lone continuation byte
  EXPECT_EQ(utf8_invalid_at("\xC0\xAF"), 0u);                // overlong `/`
  EXPECT_EQ(utf8_invalid_at("x\xED\xA0\x80"), 1u);           // an encoded surrogate (CESU-8)
  EXPECT_EQ(utf8_invalid_at("\xF4\x90\x80\x80"), 0u);        // above U+10FFFF
  EXPECT_EQ(utf8_invalid_at("ok\xE2\x82"), 2u);              // truncated
  EXPECT_EQ(utf8_invalid_at("\xE9t\xE9"), 0u);               // Latin-1 `été`
}

TEST(Text, CaseMappingIsUnicodeNotAscii) {
  using crm::support::utf8_lower;
  using crm::support::utf8_upper;
  EXPECT_EQ(utf8_lower("MÜNCHEN"), "münchen");
  EXPECT_EQ(utf8_lower("ΑΘΗΝΑ"), "αθηνα");
  EXPECT_EQ(utf8_lower("МОСКВА"), "москва");
  EXPECT_EQ(utf8_lower("ÅNGSTRÖM"), "ångström");
  EXPECT_EQ(utf8_lower("ＡＢＣ"), "ａｂｃ");  // fullwidth
  EXPECT_EQ(utf8_upper("münchen"), "MÜNCHEN");
  EXPECT_EQ(utf8_upper("αθηνα"), "ΑΘΗΝΑ");
  // Simple mappings, one code point to one, without context or locale (documented):
  EXPECT_EQ(utf8_lower("İSTANBUL"), "istanbul");  // not i + combining dot
  EXPECT_EQ(utf8_lower("ΟΔΟΣ"), "οδοσ");          // no final-sigma rule
  EXPECT_EQ(utf8_upper("straße"), "STRAẞE");      // ß -> ẞ, not SS
  EXPECT_EQ(utf8_lower("上海 😀 Hi"), "上海 😀 hi");
  EXPECT_EQ(utf8_lower("A\xFF" "B"), "a\xFF" "b");  // stray bytes are kept, never dropped
  EXPECT_EQ(crm::support::utf8_length("😀"), 1);
  EXPECT_EQ(crm::support::utf8_length("MÜNCHEN"), 7);
  EXPECT_EQ(crm::support::utf8_length("e\xCC\x81"), 2);  // e + combining acute: code points, not graphemes
  EXPECT_NE(crm::support::unicode_library_version().find("Unicode 15"), std::string::npos)
      << crm::support::unicode_library_version();
}

// lower(), upper() and len() give the same answers when folded by the checker, run by the scalar
// VM, by the batch VM (audience) and by the reference AST evaluator; the expected values are
// Unicode facts written in the data, not computed by the code under test.
TEST(Text, BuiltinsAgreeInEveryEvaluatorAndInFolding) {
  struct Sample { const char* word; const char* lower; const char* upper; int len; };
  const Sample samples[] = {
      {"MÜNCHEN", "münchen", "MÜNCHEN", 7},    {"ΑΘΗΝΑ", "αθηνα", "ΑΘΗΝΑ", 5},
      {"Straße", "straße", "STRAẞE", 6},       {"МОСКВА", "москва", "МОСКВА", 6},
      {"上海 😀 Hi", "上海 😀 hi", "上海 😀 HI", 7}, {"plain", "plain", "PLAIN", 5},
  };
  std::string src = "profile { word: String  want_lower: String  want_upper: String  want_len: Int }\n"
                    "segment runtime_ok = lower(word) == want_lower and upper(word) == want_upper and len(word) == want_len\n";
  for (size_t i = 0; i < std::size(samples); ++i) {
    const Sample& s = samples[i];
    // Folded at compile time: a constant true or false.
    src += "segment folded" + std::to_string(i) + " = lower(\"" + s.word + "\") == \"" + s.lower + "\" and upper(\"" + s.word +
           "\") == \"" + s.upper + "\"\n";
  }
  Compiled c = compile_text(src);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  crm::testing::Harness h(c);
  std::string csv = "user,word,want_lower,want_upper,want_len\n";
  for (size_t i = 0; i < std::size(samples); ++i) {
    const Sample& s = samples[i];
    csv += "u" + std::to_string(i) + "," + s.word + "," + s.lower + "," + s.upper + "," + std::to_string(s.len) + "\n";
  }
  std::istringstream in(csv);
  ASSERT_TRUE(h.engine.load_profiles(in, true, [](size_t line, const std::string& e) {
    ADD_FAILURE() << line << ": " << e;
    return false;
  }));
  int64_t now = crm::testing::T("2026-01-01T00:00:00Z");
  const int64_t users = static_cast<int64_t>(std::size(samples));
  crm::vm::AstEvaluator ast(c.front->program, c.out);
  const crm::ast::Expr* runtime_expr = nullptr;
  for (const auto& m : c.front->program.modules)
    for (const auto* d : m.ast->decls)
      if (d->kind == crm::ast::DeclKind::Segment && static_cast<const crm::ast::SegmentDecl*>(d)->name == "runtime_ok")
        runtime_expr = static_cast<const crm::ast::SegmentDecl*>(d)->value;
  ASSERT_NE(runtime_expr, nullptr);
  for (int64_t u = 0; u < users; ++u) {
    std::string id = "u" + std::to_string(u);
    EXPECT_EQ(h.segment(c, "runtime_ok", id, now), 1) << "scalar VM, " << samples[u].word;
    crm::vm::AstEnv env;
    const auto profile = h.engine.profile_of(id);
    const auto profile_present = h.engine.profile_present_of(id);
    env.profile = profile ? &*profile : nullptr;
    env.profile_present = profile_present ? &*profile_present : nullptr;
    env.now = now;
    env.strings = &h.engine.strings();
    env.collections = &h.engine.collections();
    env.aggregate = [&](uint32_t g) { return h.engine.aggregate_of(id, g, now); };
    int64_t v = 0;
    std::string err;
    ASSERT_TRUE(ast.eval(runtime_expr, env, v, err)) << err;
    EXPECT_EQ(v, 1) << "AST evaluator, " << samples[u].word;
  }
  for (const auto& [name, count] : h.engine.audience(now))
    EXPECT_EQ(count, users) << "batch VM / folding: " << name;
}

// ---- JSON Lines ------------------------------------------------------------------------------------

std::string json_error(const std::string& line) {
  std::vector<crm::engine::JsonMember> members;
  std::string err;
  EXPECT_FALSE(crm::engine::parse_json_object(line, members, err)) << line;
  return err;
}

std::string json_string(const std::string& line) {
  std::vector<crm::engine::JsonMember> members;
  std::string err;
  EXPECT_TRUE(crm::engine::parse_json_object(line, members, err)) << line << ": " << err;
  return members.empty() ? "" : members[0].value.text;
}

TEST(JsonLine, SurrogatePairsAreCharactersLoneSurrogatesAreErrors) {
  EXPECT_EQ(json_string(R"({"s":"\ud83d\ude00"})"), "😀");
  EXPECT_EQ(json_string(R"({"s":"a\uD834\uDD1Eb"})"), "a\xF0\x9D\x84\x9E" "b");  // U+1D11E
  EXPECT_EQ(json_string(R"({"s":"\u00fc\u4e0a"})"), "ü上");
  EXPECT_EQ(json_error(R"({"s":"\ud83d"})"), "column 7: lone high surrogate in a \\u escape (a \\uDC00-\\uDFFF escape must follow)");
  EXPECT_EQ(json_error(R"({"s":"\ud83d\u0041"})").rfind("column 7: lone high surrogate", 0), 0u);
  EXPECT_EQ(json_error(R"({"s":"x\ude00"})"), "column 8: lone low surrogate in a \\u escape");
}

TEST(JsonLine, InvalidUtf8IsAnErrorWithItsColumn) {
  EXPECT_EQ(json_error("{\"user\":\"ab\xFF\"}"), "column 12: invalid UTF-8 (byte 0xFF)");
  EXPECT_EQ(json_error("{\"user\":\"\xED\xA0\x80\"}"), "column 10: invalid UTF-8 (byte 0xED)");
  EXPECT_EQ(json_string("{\"user\":\"M\xC3\x9CNCHEN\"}"), "MÜNCHEN");
}

TEST(JsonLine, NumbersFollowTheJsonGrammar) {
  for (const char* ok : {"0", "-0.5", "12", "1e5", "1E+2", "2.50"})
    EXPECT_EQ(json_string(std::string(R"({"n":)") + ok + "}"), ok);
  for (const char* bad : {"01", "1.", "-", ".5", "1e", "1-2", "+1"})
    EXPECT_FALSE(json_error(std::string(R"({"n":)") + bad + "}").empty()) << bad;
  EXPECT_TRUE(crm::engine::is_json_number("-12.5"));
  EXPECT_FALSE(crm::engine::is_json_number(" 12"));
}

// The reader of event lines (JsonLineReader: views, no copies) gives what the owned reader gave
// before it: the errors below are the ones the earlier reader (a std::string per member) wrote
// for the same lines, column for column.
TEST(JsonLine, ErrorsOfTruncatedAndMalformedLinesAreTheEarlierReadersOnes) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"a":"x)", "column 8: unterminated string"},
      {R"({"a":)", "column 6: expected a value"},
      {R"({"a")", "column 5: expected `:` after the member name"},
      {"{", "column 2: expected a quoted member name"},
      {"", "column 1: expected `{` at the start of the object"},
      {R"({"a":1,)", "column 8: expected a quoted member name"},
      {R"({"a":[1,2)", "column 10: expected `,` or `]` in the array"},
      {R"({"a":"\u12)", "column 9: short \\u escape"},
      {R"({"a":"x\)", "column 9: unterminated string"},
      {R"({"a":"\x"})", "column 9: bad escape `\\x`"},
      {R"({"a":"\u12G4"})", "column 12: bad \\u escape"},
      {R"({"a":"\ud800\u0041"})", "column 7: lone high surrogate in a \\u escape (a \\uDC00-\\uDFFF escape must follow)"},
      {"{\"a\":\"x\ty\"}", "column 9: control character in string"},
      {"{\"a\":\"esc\\n then \x01\"}", "column 19: control character in string"},
      {R"({"a":{"b":1)", "column 12: expected `,` or `}`"},
      {R"({"a":[[1],{"b" 1}]})", "column 16: expected `:` after the member name"},
      {"{\"a\":\"\xC3\"}", "column 7: invalid UTF-8 (byte 0xC3)"},
      {"{\"\xFF\":1}", "column 3: invalid UTF-8 (byte 0xFF)"},
      {R"({"a":01})", "column 7: malformed number: leading zero"},
      {R"({"a":1.})", "column 8: malformed number: digits must follow `.`"},
      {R"({"a":-})", "column 7: malformed number"},
      {R"({"a":1e})", "column 8: malformed number: digits must follow the exponent"},
      {R"({"a":tru})", "column 6: expected a value"},
      {R"({"a":1}x)", "column 8: unexpected text after the object"},
      {R"({"a":1 "b":2})", "column 8: expected `,` or `}`"},
      {R"({a:1})", "column 2: expected a quoted member name"},
      {R"([1,2])", "column 1: expected `{` at the start of the object"},
      {"{\"a\":1}\n", "column 8: unexpected text after the object"},
      {R"({"a":[,]})", "column 7: expected a value"},
  };
  crm::engine::JsonLineReader reader;
  for (const auto& [line, want] : cases) {
    EXPECT_EQ(json_error(line), want) << line;
    std::string err;
    EXPECT_FALSE(reader.parse_object(line, err)) << line;
    EXPECT_EQ(err, want) << line;
  }
}

// A member holding an object, or an array holding arrays or objects, is read as Nested: its
// syntax checked in full, its text kept, so the decoder can skip a member the program does not
// declare and go on with the rest of the line (docs/runtime.md, "Events").
TEST(JsonLine, NestedMembersAreReadWholeAndTheRestOfTheLineToo) {
  using K = crm::engine::JsonValue::Kind;
  crm::engine::JsonLineReader r;
  std::string err;
  const std::string line =
      R"({"id":"e1","meta":{"src":"app","tags":["a","}"],"deep":{"x":[1,{"y":null}]},"e":{}},"l":[1,[2,"\u00fc"],{}],)"
      R"("s":"\u00e9","amount":100})";
  ASSERT_TRUE(r.parse_object(line, err)) << err;
  const auto& m = r.members();
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[0].value.text, "e1");
  EXPECT_EQ(m[1].key, "meta");
  EXPECT_EQ(m[1].value.kind, K::Nested);
  EXPECT_EQ(m[1].value.text, R"({"src":"app","tags":["a","}"],"deep":{"x":[1,{"y":null}]},"e":{}})");
  EXPECT_EQ(m[2].value.kind, K::Nested);
  EXPECT_EQ(m[2].value.text, R"([1,[2,"\u00fc"],{}])");
  EXPECT_EQ(m[3].value.text, "é");  // strings read before and after keep their text
  EXPECT_EQ(m[4].value.text, "100");
  // Arrays of scalars stay arrays; the same reader, a line later, still reads them.
  ASSERT_TRUE(r.parse_object(R"({"a":["x\u0041",2],"b":[[1]]})", err)) << err;
  EXPECT_EQ(r.members()[0].value.kind, K::Array);
  ASSERT_EQ(r.members()[0].value.items.size(), 2u);
  EXPECT_EQ(r.members()[0].value.items[0].text, "xA");
  EXPECT_EQ(r.members()[1].value.kind, K::Nested);
  // The decoder's error for a declared member: the column where the old reader stopped, and the
  // member's name.
  std::string l2 = R"({"a":{"b":1}})", l3 = R"({"tags":[1,"[",[2]]})";
  ASSERT_TRUE(r.parse_object(l2, err));
  EXPECT_EQ(crm::engine::nested_member_error(l2, "a", r.members()[0].value.text),
            "column 6: nested objects are not part of the contract (member `a`)");
  ASSERT_TRUE(r.parse_object(l3, err));
  EXPECT_EQ(crm::engine::nested_member_error(l3, "tags", r.members()[0].value.text),
            "column 16: nested arrays are not part of the contract (member `tags`)");
  // A lone value (a CSV cell of a Set) takes no nesting, as before.
  crm::engine::JsonValue v;
  EXPECT_FALSE(crm::engine::parse_json_value("[[1]]", v, err));
  EXPECT_EQ(err, "column 2: nested arrays are not part of the contract");
  EXPECT_FALSE(crm::engine::parse_json_value(R"({"a":1})", v, err));
  EXPECT_EQ(err, "column 1: nested objects are not part of the contract");
}

// A hostile line nesting without end is refused with a clear error at the bound, read without
// recursion (a million brackets would exhaust a recursive reader's stack).
TEST(JsonLine, NestingIsBounded) {
  using crm::engine::kMaxJsonNesting;
  std::vector<crm::engine::JsonMember> members;
  std::string err;
  std::string ok = R"({"a":)" + std::string(kMaxJsonNesting, '[') + std::string(kMaxJsonNesting, ']') + "}";
  EXPECT_TRUE(crm::engine::parse_json_object(ok, members, err)) << err;
  std::string deep = R"({"a":)" + std::string(kMaxJsonNesting + 1, '[') + std::string(kMaxJsonNesting + 1, ']') + "}";
  EXPECT_EQ(json_error(deep), fmt::format("column {}: objects and arrays nested deeper than {} levels",
                                          6 + kMaxJsonNesting, kMaxJsonNesting));
  std::string hostile = R"({"a":)";
  for (int i = 0; i < 1000000; ++i) hostile += R"({"b":)";
  EXPECT_NE(json_error(hostile).find("nested deeper than"), std::string::npos);
  // scan_user (--threads) cannot tell either: the full parse decides.
  std::string_view user;
  EXPECT_FALSE(crm::engine::scan_user(R"({"user":"u","a":)" + std::string(kMaxJsonNesting + 1, '[') +
                                          std::string(kMaxJsonNesting + 1, ']') + "}",
                                      user));
}

// ---- text in messages and in JSON ------------------------------------------------------------------

// append_json_escaped reads eight plain bytes at a time (session 22): every byte that needs
// care (a control character, `"`, `\\`, DEL, a UTF-8 sequence valid or not) at every position of
// strings up to three words long, after every plain prefix, gives the text the byte rule gives;
// append_json_quoted (which appends a short plain text in one piece) gives it between quotes.
TEST(JsonText, EscapingAWordAtATimeGivesTheByteRulesText) {
  auto by_bytes = [](std::string_view s) {  // the rule, one byte (or valid sequence) at a time
    std::string out;
    for (size_t i = 0; i < s.size();) {
      auto c = static_cast<unsigned char>(s[i]);
      if (c >= 0x80) {
        size_t n = crm::support::utf8_sequence_at(s, i);
        if (n == 0) out += "\\ufffd", ++i;
        else out.append(s.substr(i, n)), i += n;
        continue;
      }
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c == '\b') out += "\\b";
      else if (c == '\f') out += "\\f";
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else if (c < 0x20) out += fmt::format("\\u{:04x}", c);
      else out += static_cast<char>(c);
      ++i;
    }
    return out;
  };
  const std::vector<std::string> odd = {std::string(1, '\0'), "\x01", "\x1f", " ", "!", "\"", "#", "[", "\\", "]",
                                        "\x7f", "\x80", "\xff", "\xc3\xa9", "\xe2\x80\xa8", "\xf0\x9f\x98\x80",
                                        "\xe2\x80", "\x0a"};
  size_t cases = 0;
  for (size_t len = 0; len <= 34; ++len)
    for (size_t at = 0; at <= len; ++at)
      for (const auto& c : odd) {
        std::string s = std::string(at, 'a') + c + std::string(len - at, 'z');
        std::string out = "x";
        crm::support::append_json_escaped(out, s);
        ASSERT_EQ(out, "x" + by_bytes(s)) << "length " << s.size() << ", at " << at;
        out = "x";
        crm::support::append_json_quoted(out, s);
        ASSERT_EQ(out, "x\"" + by_bytes(s) + "\"") << "length " << s.size() << ", at " << at;
        out = "x";
        crm::support::append_json_quoted(out, s.substr(0, at));  // plain text of every length
        ASSERT_EQ(out, "x\"" + s.substr(0, at) + "\"");
        ++cases;
      }
  EXPECT_GT(cases, 5000u);
}

TEST(Utf8Cut, TruncationNeverSplitsACharacter) {
  using crm::support::utf8_prefix;
  using crm::support::utf8_truncate;
  std::string euros = "ab€€€";  // € is 3 bytes
  EXPECT_EQ(utf8_prefix(euros, 2), "ab");
  EXPECT_EQ(utf8_prefix(euros, 3), "ab");
  EXPECT_EQ(utf8_prefix(euros, 4), "ab");
  EXPECT_EQ(utf8_prefix(euros, 5), "ab€");
  EXPECT_EQ(utf8_prefix(euros, 100), euros);
  EXPECT_EQ(utf8_prefix("\xFF\xFE" "abc", 1), "\xFF");  // a malformed byte is a character of its own
  for (size_t n = 0; n <= 20; ++n) {
    std::string t = utf8_truncate(std::string(35, 'a') + "€€€€€€€€", 40 + n % 5);
    EXPECT_TRUE(crm::support::valid_utf8(t)) << n;
    EXPECT_LE(t.size(), 40 + n % 5);
  }
  EXPECT_EQ(utf8_truncate(std::string(35, 'a') + "€€€", 40), std::string(35, 'a') + "...");
  EXPECT_EQ(utf8_truncate("short", 40), "short");
}

// A limit shorter than the ellipsis: the result still fits (it was the whole ellipsis, 3 bytes at
// a limit of 0), is UTF-8 and starts as the text does; a limit that fits the ellipsis keeps it.
TEST(Utf8Cut, TruncationNeverExceedsTheLimit) {
  using crm::support::utf8_truncate;
  for (std::string text : {"abcdefghijkl", "\u20ac\u20ac\u20ac\u20ac", "a\u00fc\u20ac\U0001F600bc\u00fc\u00fc", "\xFF\xFE" "abcdefgh"})
    for (std::string_view ellipsis : {"...", "\u2026", ""})
      for (size_t limit = 0; limit <= 8; ++limit) {
        std::string t = utf8_truncate(text, limit, ellipsis);
        EXPECT_LE(t.size(), limit) << text << " " << limit;
        if (crm::support::valid_utf8(text)) {
          EXPECT_TRUE(crm::support::valid_utf8(t)) << text << " " << limit;
        }
        if (t.size() >= ellipsis.size() && t.ends_with(ellipsis) && !ellipsis.empty()) {
          EXPECT_EQ(text.substr(0, t.size() - ellipsis.size()), t.substr(0, t.size() - ellipsis.size())) << limit;
        } else {
          EXPECT_EQ(text.substr(0, t.size()), t) << text << " " << limit;
        }
      }
  EXPECT_EQ(utf8_truncate("abcdef", 2), "ab");
  EXPECT_EQ(utf8_truncate("abcdef", 0), "");
  EXPECT_EQ(utf8_truncate("abcdef", 3), "...");
  EXPECT_EQ(utf8_truncate("abcdef", 4), "a...");
  EXPECT_EQ(utf8_truncate("\u20ac\u20ac", 4), "...");     // no whole character fits before "..."
  EXPECT_EQ(utf8_truncate("\u20ac\u20ac", 2), "");        // nor in 2 bytes, and no room for "..."
  EXPECT_EQ(utf8_truncate("\u20ac\u20ac", 5, "\u2026"), "\u2026");
}

TEST(Visible, ControlCharactersComeOutEscaped) {
  using crm::support::visible;
  EXPECT_EQ(visible("\x1b[2J\x1b]0;pwned\x07"), "\\u001b[2J\\u001b]0;pwned\\u0007");
  EXPECT_EQ(visible("a\tb\nc\x7f"), "a\\u0009b\\u000ac\\u007f");
  EXPECT_EQ(visible("a\nb", true), "a\nb");
  EXPECT_EQ(visible("\xC2\x9B" "31m"), "\\u009b31m");    // C1 CSI
  EXPECT_EQ(visible("é€中 \\ ok"), "é€中 \\ ok");         // printable text unchanged
  EXPECT_EQ(visible("bad\xFFname"), "bad\\xffname");
}

TEST(JsonText, InvalidUtf8IsReplacedAndValidUtf8KeptByteForByte) {
  using crm::support::json_escape;
  EXPECT_EQ(json_escape("bad\xFF\xC3" "x"), "bad\\ufffd\\ufffdx");
  EXPECT_EQ(json_escape("\xE2\x82"), "\\ufffd\\ufffd");  // half a €
  EXPECT_EQ(json_escape("é€😀\"\\\n\x01"), "é€😀\\\"\\\\\\n\\u0001");
  // Valid UTF-8 is written byte for byte, DEL and C1 controls included (decision files are
  // matched to the byte); support::visible() is what escapes them for a terminal.
  EXPECT_EQ(json_escape("\x7f\xC2\x9B"), "\x7f\xC2\x9B");
}

// The summary's skipped_by_reason: one key per kind of refusal, whatever the line's column or values.
TEST(MessageReason, KeysAreKindsNotLines) {
  using crm::support::message_reason;
  EXPECT_EQ(message_reason("column 89: nested objects are not part of the contract (member `meta`)"),
            "nested objects are not part of the contract");
  EXPECT_EQ(message_reason("column 12: nested objects are not part of the contract (member `meta`)"),
            "nested objects are not part of the contract");
  EXPECT_EQ(message_reason("`time` must be an ISO-8601 time, not \"20\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\""),
            "`time` must be an ISO-8601 time, not \"...\"");
  EXPECT_EQ(message_reason("unknown event type \"Ord: (er\""), "unknown event type \"...\"");
  EXPECT_EQ(message_reason("late event: 2026-01-01T00:00:00Z is before the watermark"), "late event");
  EXPECT_EQ(message_reason("missing `amount` (Order events require it)"), "missing `amount`");
  EXPECT_EQ(message_reason("column 7: invalid UTF-8 (byte 0xC3)"), "invalid UTF-8");
  EXPECT_EQ(message_reason("column 8: malformed number: digits must follow `.`"), "malformed number");
  std::string key = message_reason(std::string(60, 'x') + "\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac\u20ac");
  EXPECT_TRUE(crm::support::valid_utf8(key));
  EXPECT_LE(key.size(), 80u);
}

// JsonLineReader reads the common line (`{"k":v,...}`: no white space, escapes, arrays or
// objects) in one pass and every other line with the full grammar. A line with one space in
// front always takes the full grammar: every line, plain or not, must give the same members (one
// column later) or the same error (one column later) both ways. The lines are made of pieces
// that the one-pass reader accepts and of every kind it must hand over, cut at every length.
TEST(JsonLine, ThePlainLinesPathReadsAsTheFullGrammar) {
  const char* keys[] = {R"("id")", R"("type")", R"("")", R"("a\"b")", R"("ü")", R"("k)", R"("x\ty")", "k"};
  const char* values[] = {R"("e1")", R"("")", "0", "-0", "12", "-1.50", "1e5", "2E-3", "0.5e+7", "01", "1.", "-", "1e",
                          "true", "false", "null", "tru", "nul", "falsey", R"("a\nb")", R"("ü€")", R"("1234567890abcdef")",
                          "[1,2]", "[]", R"({"x":1})", R"("x)", "+1", ".5", "\"t\x01\""};
  const char* seps[] = {",", "}", " ,", ", ", "} ", "}x", ""};
  crm::engine::JsonLineReader plain, full;
  std::mt19937 rng(15);
  size_t accepted = 0, lines = 0;
  auto check = [&](const std::string& line) {
    ++lines;
    std::string e1, e2;
    const std::string spaced = " " + line;  // the members are views of it
    const bool ok1 = plain.parse_object(line, e1), ok2 = full.parse_object(spaced, e2);
    ASSERT_EQ(ok1, ok2) << line << "\n" << e1 << "\n" << e2;
    if (!ok1) {
      // "column N: ..." one column later, except the `{` the spaced line still has in front.
      size_t n1 = 0, n2 = 0;
      ASSERT_EQ(std::sscanf(e1.c_str(), "column %zu", &n1), 1) << e1;
      ASSERT_EQ(std::sscanf(e2.c_str(), "column %zu", &n2), 1) << e2;
      EXPECT_EQ(n1 + 1, n2) << line;
      EXPECT_EQ(e1.substr(e1.find(':')), e2.substr(e2.find(':'))) << line;
      return;
    }
    ++accepted;
    const auto &a = plain.members(), &b = full.members();
    ASSERT_EQ(a.size(), b.size()) << line;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].key, b[i].key) << line;
      EXPECT_EQ(a[i].at + 1, b[i].at) << line;
      EXPECT_EQ(a[i].value.kind, b[i].value.kind) << line;
      EXPECT_EQ(a[i].value.text, b[i].value.text) << line;
      EXPECT_EQ(a[i].value.boolean, b[i].value.boolean) << line;
      ASSERT_EQ(a[i].value.items.size(), b[i].value.items.size()) << line;
      for (size_t j = 0; j < a[i].value.items.size(); ++j) EXPECT_EQ(a[i].value.items[j].text, b[i].value.items[j].text);
    }
  };
  for (const char* k : keys)
    for (const char* v : values)
      for (const char* sep : seps) check(std::string("{") + k + ":" + v + sep);
  for (int n = 0; n < 20000; ++n) {
    std::string line = "{";
    const int members = static_cast<int>(rng() % 5);
    for (int m = 0; m < members; ++m) {
      // Mostly plain members, so that most lines are read by the one-pass path.
      const bool odd = rng() % 8 == 0;
      line += odd ? keys[rng() % std::size(keys)] : keys[rng() % 3];
      line += rng() % 50 == 0 ? " :" : ":";
      line += values[rng() % (odd ? std::size(values) : 22)];
      if (m + 1 < members) line += rng() % 50 == 0 ? seps[rng() % std::size(seps)] : ",";
    }
    line += rng() % 20 == 0 ? seps[rng() % std::size(seps)] : "}";
    check(line);
    const size_t cut = rng() % (line.size() + 1);
    check(line.substr(0, cut));
  }
  check("{}");
  check("{} ");
  EXPECT_GT(accepted, lines / 4);  // the one-pass path is what was compared
}

// Members in line order, repeated keys included (the decoder refuses those it reads); strings with
// escapes are unescaped into the reader's buffer, and every view stays valid for the whole line,
// also when the reader's buffers were grown by a longer line before.
TEST(JsonLine, ReaderViewsHoldEveryMemberOfTheLine) {
  crm::engine::JsonLineReader r;
  std::string err;
  ASSERT_TRUE(r.parse_object(R"({"long":"\u00fc\u00fc\u00fc\u00fc\u00fc\u00fc\u00fc\u00fc","q":[1,2,3,4,5,6,7,8,9]})", err)) << err;
  ASSERT_TRUE(r.parse_object(R"( {"k\"1" : "v\n1", "arr":["x\ty","\u00fc", 2, true, null],"z":"plain","w":"e\\","a\u0062":[],"z":-1.5e-3} )",
                             err))
      << err;
  using K = crm::engine::JsonValue::Kind;
  const auto& m = r.members();
  ASSERT_EQ(m.size(), 6u);
  EXPECT_EQ(m[0].key, "k\"1");
  EXPECT_EQ(m[0].value.text, "v\n1");
  EXPECT_EQ(m[1].key, "arr");
  ASSERT_EQ(m[1].value.kind, K::Array);
  ASSERT_EQ(m[1].value.items.size(), 5u);
  EXPECT_EQ(m[1].value.items[0].text, "x\ty");
  EXPECT_EQ(m[1].value.items[1].text, "ü");
  EXPECT_EQ(m[1].value.items[2].kind, K::Number);
  EXPECT_EQ(m[1].value.items[2].text, "2");
  EXPECT_TRUE(m[1].value.items[3].boolean);
  EXPECT_EQ(m[1].value.items[4].kind, K::Null);
  EXPECT_EQ(m[2].value.text, "plain");
  EXPECT_EQ(m[3].value.text, "e\\");
  EXPECT_EQ(m[4].key, "ab");
  EXPECT_EQ(m[4].value.kind, K::Array);
  EXPECT_TRUE(m[4].value.items.empty());
  EXPECT_EQ(m[5].key, "z");  // repeated: both are members
  EXPECT_EQ(m[5].value.text, "-1.5e-3");
  // A value of its own (a CSV cell of a Set).
  ASSERT_TRUE(r.parse_value(R"( ["a\u0062", "c"] )", err)) << err;
  ASSERT_EQ(r.value().items.size(), 2u);
  EXPECT_EQ(r.value().items[0].text, "ab");
  EXPECT_FALSE(r.parse_value(R"(["a"] x)", err));
  EXPECT_EQ(err, "column 7: unexpected text after the value");
}

TEST(LineReader, ByteOrderMarkOnlyAtTheStartAndCrlf) {
  std::istringstream in("\xEF\xBB\xBF{\"a\":1}\r\n\xEF\xBB\xBF{}\n\nlast");
  crm::support::LineReader r(in);
  std::string line;
  ASSERT_TRUE(r.next(line));
  EXPECT_EQ(line, "{\"a\":1}");
  EXPECT_EQ(r.line(), 1u);
  ASSERT_TRUE(r.next(line));
  EXPECT_EQ(line, "\xEF\xBB\xBF{}");  // not at the start of the file: data (and then a JSON error)
  ASSERT_TRUE(r.next(line));
  EXPECT_EQ(line, "");
  ASSERT_TRUE(r.next(line));
  EXPECT_EQ(line, "last");
  EXPECT_EQ(r.line(), 4u);
  EXPECT_FALSE(r.next(line));
}

using crm::testing::FailingBuf;

TEST(LineReader, AReadErrorIsNotTheEnd) {
  {
    FailingBuf buf("{\"a\":1}\n{\"b\":2}\npartial");
    std::istream in(&buf);
    crm::support::LineReader r(in);
    std::string line;
    ASSERT_TRUE(r.next(line));
    ASSERT_TRUE(r.next(line));
    EXPECT_FALSE(r.failed());
    EXPECT_FALSE(r.next(line));  // the partial line is not given as if it were the last one
    EXPECT_TRUE(r.failed());
    EXPECT_EQ(r.line(), 2u);
  }
  {
    std::istringstream in("a\nb");  // the end: not a failure
    crm::support::LineReader r(in);
    std::string line;
    while (r.next(line)) {
    }
    EXPECT_FALSE(r.failed());
  }
  {
    FailingBuf buf("x\n");
    std::istream in(&buf);
    crm::LineReader r(in);  // the public reader says so too
    std::string line;
    ASSERT_TRUE(r.next(line));
    EXPECT_FALSE(r.next(line));
    EXPECT_TRUE(r.failed());
    std::istringstream end("x\n");
    crm::LineReader e(end);
    while (e.next(line)) {
    }
    EXPECT_FALSE(e.failed());
  }
  {
    FailingBuf buf("user,age\na,1\n");
    std::istream in(&buf);
    CsvReader r(in);  // a record error that callers skipping malformed records must not skip
    std::vector<CsvField> f;
    ASSERT_TRUE(r.next(f));
    ASSERT_TRUE(r.next(f));
    EXPECT_FALSE(r.next(f));
    EXPECT_EQ(r.error(), "read error");
    EXPECT_TRUE(r.failed());
  }
}

// ---- the CSV reader --------------------------------------------------------------------------------

std::vector<std::vector<std::string>> read_all(const std::string& text, std::string* error = nullptr,
                                               size_t* error_line = nullptr, std::vector<size_t>* lines = nullptr) {
  std::istringstream in(text);
  CsvReader r(in);
  std::vector<CsvField> f;
  std::vector<std::vector<std::string>> out;
  while (true) {
    if (!r.next(f)) {
      if (r.error().empty()) break;
      if (error) *error = r.error();
      if (error_line) *error_line = r.line();
      break;
    }
    std::vector<std::string> rec;
    for (auto& x : f) rec.push_back(x.text);
    out.push_back(rec);
    if (lines) lines->push_back(r.line());
  }
  return out;
}

TEST(CsvReader, Rfc4180RecordsSpanLinesAndKnowWhereTheyStart) {
  std::vector<size_t> lines;
  std::string err;
  auto recs = read_all("\xEF\xBB\xBFuser,note\r\nu1,\"two\r\nlines, \"\"quoted\"\"\"\r\nu2,plain\r\n\r\n", &err, nullptr, &lines);
  EXPECT_EQ(err, "");
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0], (std::vector<std::string>{"user", "note"}));  // the BOM is not part of `user`
  EXPECT_EQ(recs[1], (std::vector<std::string>{"u1", "two\nlines, \"quoted\""}));
  EXPECT_EQ(recs[2], (std::vector<std::string>{"u2", "plain"}));
  EXPECT_EQ(lines, (std::vector<size_t>{1, 2, 4}));
}

// Old Mac files end lines with a lone CR: they read as records like LF and CRLF files (they were
// one record, so a profiles file loaded no profile), with the same line numbers; a line break in
// a quoted field stays in it (CRLF and LF as LF, as before, a lone CR as itself), and the three
// kinds of break may be mixed.
TEST(CsvReader, ALoneCrEndsALineAsLfAndCrlfDo) {
  const std::vector<std::vector<std::string>> expected = {
      {"user", "note"}, {"u1", "two\nlines, \"quoted\""}, {"u2", "plain"}, {"u3", ""}};
  for (const char* brk : {"\n", "\r\n", "\r"}) {
    std::string b = brk;
    std::vector<size_t> lines;
    std::string err;
    auto recs = read_all("user,note" + b + "u1,\"two" + b + "lines, \"\"quoted\"\"\"" + b + "u2,plain" + b + "u3," + b, &err,
                         nullptr, &lines);
    EXPECT_EQ(err, "") << "break " << testing::PrintToString(b);
    auto want = expected;
    if (b == "\r") want[1][1] = "two\rlines, \"quoted\"";  // a lone CR inside quotes is kept as it is
    EXPECT_EQ(recs, want) << "break " << testing::PrintToString(b);
    EXPECT_EQ(lines, (std::vector<size_t>{1, 2, 4, 5})) << "break " << testing::PrintToString(b);
  }
  // No break after the last record, a BOM, mixed breaks, a CR inside a quoted field on one line.
  std::vector<size_t> lines;
  std::string err;
  auto recs = read_all("\xEF\xBB\xBF" "a,b\r1,\"x\ry\"\r\n2,\"p\r\nq\"\n3,z", &err, nullptr, &lines);
  EXPECT_EQ(err, "");
  EXPECT_EQ(recs, (std::vector<std::vector<std::string>>{{"a", "b"}, {"1", "x\ry"}, {"2", "p\nq"}, {"3", "z"}}));
  EXPECT_EQ(lines, (std::vector<size_t>{1, 2, 4, 6}));
  // Blank lines and errors are found at their lines with CR breaks too.
  size_t line = 0;
  read_all("a\r1\r\r2\r", &err, &line);
  EXPECT_EQ(std::to_string(line) + ": " + err, "3: blank line inside the data");
  read_all("a,b\r1,\"open\r2,3\r", &err, &line);
  EXPECT_EQ(std::to_string(line) + ": " + err, "2: unterminated quoted field 2");
}

TEST(CsvReader, MalformedInputIsAnErrorAtItsLine) {
  auto error_of = [](const std::string& text) {
    std::string err;
    size_t line = 0;
    read_all(text, &err, &line);
    return std::to_string(line) + ": " + err;
  };
  EXPECT_EQ(error_of("a,b\n1,\"open\n2,3\n"), "2: unterminated quoted field 2");
  EXPECT_EQ(error_of("a,b\n1,x\"y\n"), "2: quote inside an unquoted field 2");
  EXPECT_EQ(error_of("a,b\n\"1\"x,2\n"), "2: unexpected character after a closing quote in field 1");
  EXPECT_EQ(error_of("a,b\n1,\"multi\nli\xFFne\"\n"), "3: invalid UTF-8 (byte 0xFF at byte 3 of the line)");
  EXPECT_EQ(error_of("a,b\n1,caf\xE9\n"), "2: invalid UTF-8 (byte 0xE9 at byte 6 of the line)");
  EXPECT_EQ(error_of("a\n1\n\n2\n"), "3: blank line inside the data");
  // After an error the reader goes on with the next record (for --on-error=skip).
  std::istringstream in("a\n1\n\n2\n");
  CsvReader r(in);
  std::vector<CsvField> f;
  ASSERT_TRUE(r.next(f));
  ASSERT_TRUE(r.next(f));
  EXPECT_FALSE(r.next(f));
  ASSERT_TRUE(r.next(f)) << r.error();
  EXPECT_EQ(f[0].text, "2");
  EXPECT_EQ(r.line(), 4u);
  EXPECT_FALSE(r.next(f));
  EXPECT_EQ(r.error(), "");
}

TEST(CsvReader, QuotedEmptyIsDistinguishedFromEmpty) {
  std::istringstream in("a,\"\",c\n");
  CsvReader r(in);
  std::vector<CsvField> f;
  ASSERT_TRUE(r.next(f));
  ASSERT_EQ(f.size(), 3u);
  EXPECT_FALSE(f[0].quoted);
  EXPECT_TRUE(f[1].quoted);
  EXPECT_EQ(f[1].text, "");
}

// ---- CSV profiles: strict typed cells ---------------------------------------------------------------

const char* kProfileSchema = R"(
enum Tier { Basic, Gold }
profile {
  vip: Bool  age: Int?  score: Decimal?  balance: Money(CNY)?  city: String?  joined: Time?
  birthday: Date?  tier: Tier?  tags: Set<String>?  wait: Duration?  level: Int = 1
}
segment s = vip
)";

struct CsvProfiles {
  Compiled c = compile_text(kProfileSchema);
  crm::testing::Harness h{c};
  std::vector<std::string> errors;

  // Loads `text`, skipping malformed records; returns the errors as "LINE: message".
  std::vector<std::string> load(const std::string& text) {
    errors.clear();
    std::istringstream in(text);
    h.engine.load_profiles(in, true, [&](size_t line, const std::string& e) {
      errors.push_back(std::to_string(line) + ": " + e);
      return true;
    });
    return errors;
  }
  int64_t field(const std::string& user, const std::string& name) {
    const auto row = h.engine.profile_of(user);
    EXPECT_TRUE(row.has_value()) << user;
    int f = c.program().find_profile_field(name);
    EXPECT_GE(f, 0) << name;
    return row && f >= 0 ? (*row)[f] : -1;
  }
  bool has(const std::string& user, const std::string& name) {  // the user has a value for it
    const auto present = h.engine.profile_present_of(user);
    int f = c.program().find_profile_field(name);
    return present && f >= 0 && (*present)[f];
  }
};

const char* kHeader = "user,vip,age,score,balance,city,joined,birthday,tier,tags,wait\n";

TEST(CsvProfiles, EveryCellTypeParsesExactly) {
  CsvProfiles p;
  ASSERT_TRUE(p.c.ok) << p.c.diagnostics;
  auto errors = p.load(std::string(kHeader) +
                       "u1,true,42,-2.5,12.50,\"Köln, Innenstadt\",2026-01-02T03:04:05+08:00,2000-02-29,Gold,\"[\"\"a\"\",\"\"b\"\"]\",90\n"
                       "u2,false,,,,,,,,,\n"
                       "u3,TRUE,0,0,0,\"\",2026-01-01,1990-07-04,Basic,[],1.5\n");
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  EXPECT_EQ(p.field("u1", "vip"), 1);
  EXPECT_EQ(p.field("u1", "age"), 42);
  EXPECT_EQ(p.field("u1", "score"), -2'500'000);
  EXPECT_EQ(p.field("u1", "balance"), 12'500'000);
  EXPECT_EQ(p.h.engine.strings().text(p.field("u1", "city")), "Köln, Innenstadt");
  EXPECT_EQ(p.field("u1", "joined"), crm::testing::T("2026-01-01T19:04:05Z"));
  EXPECT_EQ(p.field("u1", "birthday"), *crm::support::parse_date("2000-02-29"));
  EXPECT_EQ(p.field("u1", "tier"), 1);
  EXPECT_EQ(p.h.engine.collections().size(p.field("u1", "tags")), 2);
  EXPECT_EQ(p.field("u1", "wait"), 90'000'000);
  EXPECT_EQ(p.field("u1", "level"), 1);  // no column: the default
  // Empty cells: missing optionals.
  EXPECT_EQ(p.field("u2", "vip"), 0);
  EXPECT_FALSE(p.has("u2", "age"));
  EXPECT_FALSE(p.has("u2", "city"));
  EXPECT_FALSE(p.has("u2", "tags"));
  EXPECT_TRUE(p.has("u1", "age"));
  // A quoted empty cell is the empty string, not a missing value.
  EXPECT_TRUE(p.has("u3", "city"));
  EXPECT_EQ(p.h.engine.strings().text(p.field("u3", "city")), "");
  EXPECT_EQ(p.field("u3", "vip"), 1);
  EXPECT_EQ(p.field("u3", "wait"), 1'500'000);
}

TEST(CsvProfiles, BoolIsTrueFalseOneOrZeroAndNothingElse) {
  CsvProfiles p;
  std::string csv = "user,vip\n";
  const char* accepted[] = {"true", "false", "TRUE", "False", "1", "0"};
  const char* refused[] = {"yes", "no", "maybe", "t", "f", "2", "\" true\"", "\"\"", "on"};
  int n = 0;
  for (const char* v : accepted) csv += "ok" + std::to_string(n++) + "," + v + "\n";
  for (const char* v : refused) csv += "bad" + std::to_string(n++) + "," + v + "\n";
  auto errors = p.load(csv);
  ASSERT_EQ(errors.size(), std::size(refused)) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0], "8: `vip` must be true, false, 1 or 0, not \"yes\"");
  EXPECT_EQ(errors[7], "15: `vip` must be true, false, 1 or 0, not \"\"");
  EXPECT_EQ(p.field("ok0", "vip"), 1);
  EXPECT_EQ(p.field("ok1", "vip"), 0);
  EXPECT_EQ(p.field("ok2", "vip"), 1);
  EXPECT_EQ(p.field("ok3", "vip"), 0);
  EXPECT_EQ(p.field("ok4", "vip"), 1);
  EXPECT_EQ(p.field("ok5", "vip"), 0);
  for (int i = 6; i < n; ++i) EXPECT_FALSE(p.h.engine.has_user("bad" + std::to_string(i)));
}

TEST(CsvProfiles, MalformedCellsNameTheLineAndTheColumn) {
  CsvProfiles p;
  auto errors = p.load(
      "user,vip,age,score,balance,joined,birthday,tier,tags,wait\n"
      "a,true,1.5,,,,,,,\n"              // 2
      "b,true,+1,,,,,,,\n"               // 3
      "c,true,\" 1\",,,,,,,\n"           // 4
      "d,true,01,,,,,,,\n"               // 5
      "e,true,,\"1,5\",,,,,,\n"          // 6
      "f,true,,,12.1234567,,,,,\n"       // 7
      "g,true,,,,yesterday,,,,\n"        // 8
      "h,true,,,,,2026-02-30,,,\n"       // 9
      "i,true,,,,,,gold,,\n"             // 10
      "j,true,,,,,,,a;b,\n"              // 11
      "k,true,,,,,,,,1 day\n"            // 12
      "l,,,,,,,,,\n"                     // 13
      "m,true,9223372036854775808,,,,,,,\n"  // 14
      "\"n\nn\",true,,,,,,,,\n"          // 15-16
      "o,maybe,,,,,,,,\n"                // 17
      ",true,,,,,,,,\n"                  // 18
      "p,true\n");                       // 19
  std::vector<std::string> expected = {
      "2: `age` must be an integer, not \"1.5\"",
      "3: `age` must be an integer, not \"+1\"",
      "4: `age` must be an integer, not \" 1\"",
      "5: `age` must be an integer, not \"01\"",
      "6: `score` must be a number, not \"1,5\"",
      "7: `balance` must be a number with at most 6 decimal places, not \"12.1234567\"",
      "8: `joined` must be an ISO-8601 time, not \"yesterday\"",
      "9: `birthday` must be a date like 2026-11-11, not \"2026-02-30\"",
      "10: `tier` is \"gold\", not one of Basic, Gold",
      "11: `tags` must be a JSON array such as [\"a\", \"b\"], not \"a;b\"",
      "12: `wait` must be a number of seconds, not \"1 day\"",
      "13: `vip` is empty, but the field is required",
      "14: `age` must be an integer in range, not \"9223372036854775808\"",
      "17: `vip` must be true, false, 1 or 0, not \"maybe\"",
      "18: empty `user`",
      "19: 2 columns, but the header has 10",
  };
  EXPECT_EQ(errors, expected);
  EXPECT_TRUE(p.h.engine.has_user("n\nn"));  // line 15-16 is a good record
}

// A Decimal or Money value has one rule in a CSV cell, a JSON Lines number and the text of a JSON
// Lines numeric string (Decimal::parse_json): the JSON number grammar, exponents included, and an
// exact value with at most six decimals. Before, `1e2` was refused everywhere, and `+100`, `100.`
// were refused in CSV but read as 100 from a JSON Lines string.
TEST(CsvProfiles, NumbersFollowTheRuleOfJsonLinesProfilesAndEvents) {
  struct Case { const char* text; const char* value; };  // value "": refused
  const Case cases[] = {{"1e2", "100"}, {"1E2", "100"}, {"1.0e2", "100"}, {"1.5e1", "15"}, {"1e-06", "0.000001"},
                        {"-2.5e-1", "-0.25"}, {"100.0000000", "100"}, {"12.50", "12.5"},
                        {"+100", ""}, {"100.", ""}, {".5", ""}, {"0100", ""}, {"1e-7", ""}, {"1e400", ""},
                        {"1e-99999", ""}};
  for (const auto& k : cases) {
    CsvProfiles csv;
    auto errors = csv.load(std::string("user,vip,balance\nu,true,") + k.text + "\n");
    std::string csv_value = errors.empty() ? crm::support::Decimal::from_units(csv.field("u", "balance")).to_string() : "";
    CsvProfiles jsonl;  // the same schema, one JSON Lines record with a number, one with a numeric string
    for (bool quoted : {false, true}) {
      std::string err, user = quoted ? "s" : "n";
      std::string line = "{\"user\":\"" + user + "\",\"vip\":true,\"balance\":" + (quoted ? "\"" : "") + k.text +
                         (quoted ? "\"" : "") + "}";
      bool ok = jsonl.h.engine.load_profile_line(line, err);
      // A bare `+100` or `.5` is not JSON at all: the reader refuses the line before any field rule.
      if (!quoted && !crm::engine::is_json_number(k.text)) {
        EXPECT_FALSE(ok) << line;
        continue;
      }
      std::string v = ok ? crm::support::Decimal::from_units(jsonl.field(user, "balance")).to_string() : "";
      EXPECT_EQ(v, k.value) << line << ": " << err;
    }
    EXPECT_EQ(csv_value, k.value) << k.text << ": " << ::testing::PrintToString(errors);
  }
  CsvProfiles p;
  EXPECT_EQ(p.load("user,vip,balance\na,true,+100\nb,true,1e-7\nc,true,1e400\n"),
            (std::vector<std::string>{"2: `balance` must be a number, not \"+100\"",
                                      "3: `balance` must be a number with at most 6 decimal places, not \"1e-7\"",
                                      "4: `balance` must be a number between -9223372036854.775808 and "
                                      "9223372036854.775807, not \"1e400\""}));
}

TEST(CsvProfiles, TheHeaderIsChecked) {
  auto header_error = [](const std::string& text) {
    CsvProfiles p;
    auto e = p.load(text);
    return e.empty() ? "none" : e.size() == 1 ? e[0] : ::testing::PrintToString(e);
  };
  EXPECT_EQ(header_error("vip,age\ntrue,1\n"), "1: the header has no `user` column");
  EXPECT_EQ(header_error("user,age\nu,1\n"), "1: the header has no column for the required profile field `vip`");
  EXPECT_EQ(header_error("user,vip,vip\nu,true,false\n"), "1: column `vip` appears twice in the header");
  EXPECT_EQ(header_error(""), "1: empty file: expected a header row naming the columns (one of them `user`)");
  EXPECT_EQ(header_error("\xEF\xBB\xBFuser,vip,extra\nu,1,whatever\n"), "none");  // a BOM; unknown columns ignored
}

TEST(CsvProfiles, JsonLinesProfilesAcceptABomAndSurrogatePairs) {
  CsvProfiles p;
  std::istringstream in("\xEF\xBB\xBF{\"user\":\"\\ud83d\\ude00\",\"vip\":true}\r\n{\"user\":\"x\xFF\",\"vip\":true}\n");
  std::vector<std::string> errors;
  EXPECT_TRUE(p.h.engine.load_profiles(in, false, [&](size_t line, const std::string& e) {
    errors.push_back(std::to_string(line) + ": " + e);
    return true;
  }));
  EXPECT_EQ(errors, (std::vector<std::string>{"2: column 11: invalid UTF-8 (byte 0xFF)"}));
  EXPECT_TRUE(p.h.engine.has_user("😀"));
}

// ---- importers and sources ----------------------------------------------------------------------

TEST(Importers, ShareTheStrictReader) {
  std::ostringstream out;
  crm::ingest::ImportStats st;
  std::string err;
  std::istringstream bom("\xEF\xBB\xBF" "customer_id,date,number_of_cds,dollar_value\r\n00001,1997-01-01,1,11.77\r\n");
  EXPECT_TRUE(crm::ingest::import_cdnow(bom, out, st, err)) << err;
  EXPECT_EQ(st.events, 1u);
  std::istringstream latin1("customer_id,date,number_of_cds,dollar_value\n1,1997-01-01,1,1\nM\xFCller,1997-01-02,1,1\n");
  EXPECT_FALSE(crm::ingest::import_cdnow(latin1, out, st, err));
  EXPECT_EQ(err, "invalid UTF-8 (byte 0xFC at byte 2 of the line)");
  EXPECT_EQ(st.error_line, 3u);
  // A quoted field may span lines; no field of CDNOW may hold a line break, so such a record is
  // refused where it starts (and the line count of the records after a quoted one is the CSV
  // reader's, tested in CsvProfiles).
  std::istringstream quoted("customer_id,date,number_of_cds,dollar_value\n\"1\n\",1997-01-01,1,1\n2,1997-13-01,1,1\n");
  EXPECT_FALSE(crm::ingest::import_cdnow(quoted, out, st, err));
  EXPECT_EQ(err, "customer_id `1\n` is not a whole number (digits, such as `00001`)");
  EXPECT_EQ(st.error_line, 2u);
  std::istringstream month("customer_id,date,number_of_cds,dollar_value\n\"1\",1997-01-01,1,1\n2,1997-13-01,1,1\n");
  EXPECT_FALSE(crm::ingest::import_cdnow(month, out, st, err));
  EXPECT_EQ(err, "date `1997-13-01` is not `YYYY-MM-DD`");
  EXPECT_EQ(st.error_line, 3u);
}

TEST(Sources, AByteOrderMarkStartsAValidSourceAndIsNotAColumn) {
  Compiled ok = compile_text("\xEF\xBB\xBFprofile { city: String }\nsegment s = lower(city) == \"münchen\"\n");
  EXPECT_TRUE(ok.ok) << ok.diagnostics;
  Compiled bad = compile_text("\xEF\xBB\xBFsegment s = nope\n");
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.diagnostics.find("test.crm:1:13"), std::string::npos) << bad.diagnostics;
  Compiled latin1 = compile_text("segment s = \"caf\xE9\" == \"x\"\n");
  EXPECT_FALSE(latin1.ok);
  EXPECT_NE(latin1.diagnostics.find("not valid UTF-8"), std::string::npos) << latin1.diagnostics;
}

// ---- the C++ API ----------------------------------------------------------------------------------

TEST(TextApi, RuntimeAndEvaluatorFollowTheSameRules) {
  std::string path = ::testing::TempDir() + "text_api.crm";
  std::ofstream(path) << "profile { city: String }\nsegment munich = lower(city) == \"münchen\"\n"
                         "segment athens = upper(city) == \"ΑΘΗΝΑ\"\n";
  auto out = crm::compile_files({path});
  ASSERT_TRUE(out.diagnostics.ok()) << out.diagnostics.render_text();
  crm::Evaluator ev(out.program);
  int city = ev.field("city");
  EXPECT_TRUE(ev.set_string(city, "MÜNCHEN"));
  EXPECT_TRUE(ev.evaluate(ev.segment("munich"), 0).matched);
  EXPECT_TRUE(ev.set_string(city, "αθηνα"));
  EXPECT_TRUE(ev.evaluate(ev.segment("athens"), 0).matched);
  EXPECT_FALSE(ev.set_string(city, "M\xFCnchen"));  // Latin-1: refused

  crm::Runtime rt(out.program);
  std::string err;
  EXPECT_TRUE(rt.load_profile(R"({"user":"\ud83d\ude00","city":"M\u00dcNCHEN"})", err)) << err;
  EXPECT_FALSE(rt.load_profile("{\"user\":\"u\",\"city\":\"M\xFCnchen\"}", err));
  EXPECT_EQ(err, "column 22: invalid UTF-8 (byte 0xFC)");
  EXPECT_FALSE(rt.load_profile(R"({"user":"u","city":"\ud83d"})", err));
  EXPECT_NE(err.find("lone high surrogate"), std::string::npos) << err;
  auto counts = rt.audience(0);
  ASSERT_FALSE(counts.empty());
  EXPECT_EQ(counts[0], (std::pair<std::string, int64_t>{"munich", 1}));
}

}  // namespace
