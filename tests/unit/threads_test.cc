// threads_test.cc - `crm run --threads` (issue 15 item 1): the reader routes each line by its
// `user` without decoding it (engine::scan_user / line_user), and must name exactly the user the
// decoder will read, or a user's events would be split between two threads.
#include <gtest/gtest.h>

#include <random>

#include "runtime/engine/json_line.h"

namespace {

using crm::engine::line_user;
using crm::engine::scan_user;

// What the decoder reads: the `user` member, when it is a string (a line with two is refused).
bool decoded_user(std::string_view line, std::string& user) {
  std::vector<crm::engine::JsonMember> members;
  std::string err;
  if (!crm::engine::parse_json_object(line, members, err)) return false;
  const crm::engine::JsonMember* found = nullptr;
  for (const auto& m : members)
    if (m.key == "user") {
      if (found) return false;
      found = &m;
    }
  if (!found || found->value.kind != crm::engine::JsonValue::Kind::String || found->value.text.empty()) return false;
  user = found->value.text;
  return true;
}

}  // namespace

TEST(Threads, TheScanFindsTheUserAndIdWithoutDecoding) {
  std::string_view user, id;
  ASSERT_TRUE(scan_user(R"({"id":"e1","type":"Order","user":"u7","time":"2026-01-01T00:00:00Z","amount":12.5})", user, &id));
  EXPECT_EQ(user, "u7");
  EXPECT_EQ(id, "e1");
  // Other members may hold the key's text, brackets, braces and escaped quotes.
  ASSERT_TRUE(scan_user(R"( { "note" : "\"user\":\"x\"}", "tags":["[a]", "}"], "user" : "u8" , "n":-1e3 } )", user));
  EXPECT_EQ(user, "u8");
  // Cannot tell: escapes in the user or a key, a non-string user, nesting, malformed text, `user`
  // twice (the decoder refuses that line; the scan gave the last, as the decoder read it then).
  for (const char* line : {R"({"user":"a\u0062"})", R"({"us\u0065r":"a"})", R"({"user":7})", R"({"o":{"user":"a"}})",
                           R"({"user":"a")", R"(["user","a"])", R"({"user":"a"} x)", R"({})", "",
                           R"({"user":"a","user":"b"})", R"({"user":"a","n":1,"user":"a"})"})
    EXPECT_FALSE(scan_user(line, user)) << line;
}

TEST(Threads, TheRoutedUserIsTheDecodedUser) {
  std::string user;
  ASSERT_TRUE(line_user(R"({"user":"a\u0062","id":"x\"y"})", user));
  EXPECT_EQ(user, "ab");
  EXPECT_FALSE(line_user(R"({"user":7})", user));
  // Two `user` members, however spelled: refused by the decoder, no thread owns the line.
  EXPECT_FALSE(line_user(R"({"user":"a","user":"b"})", user));
  EXPECT_FALSE(line_user(R"({"us\u0065r":"a","user":"b"})", user));
  // An empty user is refused by the decoder: no thread owns it (and its line claims no id).
  std::string id;
  EXPECT_FALSE(line_user(R"({"user":"","id":"e1"})", user, &id));
  EXPECT_FALSE(line_user(R"({"user":"","id":"e\u0031"})", user, &id));
  // Random lines: objects of well-formed members (users that are strings, escaped or not, or
  // not strings; nested objects holding a `user`; strings holding the key's text, brackets and
  // escaped quotes), and in a quarter of them a fragment inserted at a random place, which may
  // make the line malformed. Whenever the decoder reads a user, the router names the same one (a
  // line the decoder refuses may go to any thread, where it is refused).
  const std::vector<std::string> members = {R"("user":"u1")", R"("user":"u\u0032")", R"("user" : "a,b")", R"("id":"x\"y")",
                                            R"("n":-7e2)", R"("l":[1,"]",{"user":"in"}])", R"("o":{"user":"x"})",
                                            R"("q":"\"user\":\"fake\"")", R"("z":null)", R"("t":true)", R"("user":7)"};
  const std::vector<std::string> fragments = {R"("user")", R"("id")", R"("u1")", "7", "[1,\"]\"]", "{", "}", ":", ",",
                                              " ", R"("\"")", "null", R"("user":"u3")"};
  std::mt19937 rng(15);
  size_t agreed = 0, refused = 0;
  for (int n = 0; n < 20000; ++n) {
    std::string line = "{";
    for (int k = int(rng() % 6); k > 0; --k) line += members[rng() % members.size()] + (k > 1 ? "," : "");
    line += "}";
    if (rng() % 4 == 0) line.insert(rng() % line.size(), fragments[rng() % fragments.size()]);
    std::string want, got;
    if (!decoded_user(line, want)) {
      ++refused;
      continue;
    }
    ASSERT_TRUE(line_user(line, got)) << line;
    ASSERT_EQ(want, got) << line;
    ++agreed;
    std::string_view fast;
    if (scan_user(line, fast)) {
      ASSERT_EQ(fast, want) << line;
    }
  }
  // Both kinds of line were tried in numbers.
  EXPECT_GT(refused, 1000u);
  EXPECT_GT(agreed, 1000u);
}
