// workspace_test.cc - the editor API (include/crm/workspace.h) on in-memory documents: UTF-16
// positions, incremental edits, imports between open buffers, diagnostics with fixes, hover,
// definition, references, completion contexts, rename and formatting.
#include <crm/workspace.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

namespace {

using crm::TextPosition;
using crm::TextRange;
using crm::Workspace;

// Paths that exist nowhere: every import must resolve among the open documents or the stdlib.
const std::string kDir = "/nonexistent-crm-workspace-test";
const std::string kSchema = kDir + "/schema.crm";
const std::string kMain = kDir + "/main.crm";

const char* kSchemaText =
    "module shop.schema\n"
    "profile { age: Int }\n"
    "event Order { amount: Money(CNY) }\n"
    "// Big spenders' threshold.\n"
    "const big = 100 CNY\n"
    "segment adults = age >= 18\n"
    "resource push hello { title: \"hi\" body: \"hello\" }\n";

const char* kMainText =
    "module main\n"
    "import shop.schema\n"
    "segment target = adults and count(Order) > 1\n"
    "strategy s {\n"
    "    who: target\n"
    "    when: on Order\n"
    "    where: amount >= big\n"
    "    what: send hello via Push\n"
    "}\n";

std::set<std::string> labels(const std::vector<crm::CompletionCandidate>& v) {
  std::set<std::string> s;
  for (auto& c : v) s.insert(c.label);
  return s;
}

struct WorkspaceTest : ::testing::Test {
  Workspace ws;
  void SetUp() override {
    ws.open(kSchema, kSchemaText);
    ws.open(kMain, kMainText);
  }
};

TEST_F(WorkspaceTest, OpenBuffersResolveImportsWithoutFiles) {
  auto changed = ws.analyze();
  EXPECT_EQ(changed.size(), 2u);
  EXPECT_TRUE(ws.diagnostics(kMain).empty());
  EXPECT_TRUE(ws.diagnostics(kSchema).empty());
  EXPECT_TRUE(ws.analyze().empty()) << "nothing changed since";
}

TEST_F(WorkspaceTest, AnEditOfAnImportedBufferRechecksItsImporter) {
  ws.analyze();
  // `adults` -> `adult` in the schema: main.crm's use no longer resolves.
  ASSERT_TRUE(ws.edit(kSchema, TextRange{{5, 8}, {5, 14}}, "adult"));
  auto changed = ws.analyze();
  std::sort(changed.begin(), changed.end());
  EXPECT_EQ(changed, (std::vector<std::string>{kMain, kSchema}));
  auto d = ws.diagnostics(kMain);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].code, "E0204");
  EXPECT_EQ(d[0].fix, "adult");
  EXPECT_EQ(d[0].range.start.line, 2u);
  EXPECT_EQ(d[0].range.start.character, 17u);
}

TEST_F(WorkspaceTest, PositionsAreUtf16CodeUnits) {
  // "é" is 1 UTF-16 unit (2 bytes), "🎉" 2 units (4 bytes).
  ws.open(kDir + "/u.crm", "const s = \"é🎉\"\nconst t: Int = s\n");
  ws.analyze();
  auto d = ws.diagnostics(kDir + "/u.crm");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].range.start.line, 1u);
  EXPECT_EQ(d[0].range.start.character, 15u);
  // Replace the emoji (units 12..14 on line 0) by "x": the string is now "éx".
  ASSERT_TRUE(ws.edit(kDir + "/u.crm", TextRange{{0, 12}, {0, 14}}, "x"));
  EXPECT_EQ(*ws.text(kDir + "/u.crm"), "const s = \"éx\"\nconst t: Int = s\n");
  // A position inside the surrogate pair stays before it; past the line's end it is clamped.
  ws.open(kDir + "/v.crm", "// 🎉\n");
  ASSERT_TRUE(ws.edit(kDir + "/v.crm", TextRange{{0, 4}, {0, 4}}, "a"));
  EXPECT_EQ(*ws.text(kDir + "/v.crm"), "// a🎉\n");
  ASSERT_TRUE(ws.edit(kDir + "/v.crm", TextRange{{0, 99}, {0, 99}}, "!"));
  EXPECT_EQ(*ws.text(kDir + "/v.crm"), "// a🎉!\n");
}

TEST_F(WorkspaceTest, EditsOutsideTheDocumentAreRefused) {
  EXPECT_FALSE(ws.edit(kMain, TextRange{{40, 0}, {41, 0}}, "x"));
  EXPECT_FALSE(ws.edit(kMain, TextRange{{3, 0}, {2, 0}}, "x")) << "end before start";
  EXPECT_FALSE(ws.edit(kDir + "/closed.crm", std::nullopt, "x"));
  EXPECT_EQ(*ws.text(kMain), kMainText);
  // The position just past a final newline is the end of the document.
  EXPECT_TRUE(ws.edit(kMain, TextRange{{9, 0}, {9, 0}}, "// end\n"));
  EXPECT_EQ(*ws.text(kMain), std::string(kMainText) + "// end\n");
}

TEST_F(WorkspaceTest, HoverShowsDeclarationsAndTypes) {
  auto h = ws.hover(kMain, {6, 22});  // `big`
  ASSERT_TRUE(h);
  EXPECT_NE(h->markdown.find("const big: Money(CNY) = 100 CNY"), std::string::npos) << h->markdown;
  EXPECT_NE(h->markdown.find("Big spenders' threshold."), std::string::npos) << h->markdown;
  h = ws.hover(kMain, {2, 34});  // `Order` in count(Order)
  ASSERT_TRUE(h);
  EXPECT_NE(h->markdown.find("event Order {"), std::string::npos) << h->markdown;
  h = ws.hover(kMain, {2, 43});  // the literal 1
  ASSERT_TRUE(h);
  EXPECT_NE(h->markdown.find("1: Int"), std::string::npos) << h->markdown;
}

TEST_F(WorkspaceTest, DefinitionAndReferencesCrossFiles) {
  auto d = ws.definition(kMain, {2, 19});  // `adults`
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].path, kSchema);
  EXPECT_EQ(d[0].range.start.line, 5u);
  auto r = ws.references(kSchema, {5, 10}, true);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].path, kMain);
  EXPECT_EQ(r[1].path, kSchema);
  EXPECT_EQ(ws.references(kSchema, {5, 10}, false).size(), 1u);
}

TEST_F(WorkspaceTest, CompletionKnowsTheClause) {
  auto who = labels(ws.completion(kMain, {4, 9}));
  EXPECT_TRUE(who.count("age") && who.count("adults") && who.count("big") && who.count("days_to_anniversary"));
  EXPECT_FALSE(who.count("amount")) << "no trigger event in who:";
  auto where = labels(ws.completion(kMain, {6, 11}));
  EXPECT_TRUE(where.count("amount") && where.count("age"));
  auto head = labels(ws.completion(kMain, {2, 34}));  // count(|Order
  EXPECT_EQ(head, (std::set<std::string>{"Order"}));
  auto grant = labels(ws.completion(kMain, {7, 15}));
  EXPECT_EQ(grant, (std::set<std::string>{"hello"}));
  auto top = labels(ws.completion(kMain, {9, 0}));
  EXPECT_TRUE(top.count("strategy") && top.count("segment"));
}

// Segment, constant and function bodies are expressions: names, not the declaration keywords;
// `last(Order).` is the event, so its fields; a `where` filter reads the counted event's fields
// and constants only (E0418), and `count(Order |` takes a filter or a window (tester F9).
TEST_F(WorkspaceTest, CompletionKnowsDeclarationBodies) {
  const std::string p = kDir + "/bodies.crm";
  const std::vector<std::string> lines = {"module bodies",
                                          "import shop.schema",
                                          "segment a1 = age > 3",
                                          "segment s = age > 3 and ",
                                          "const k = 1 + ",
                                          "fn f(x: Int, y: Int = 2): Bool = x > 1 and ",
                                          "segment t = (last(Order).",
                                          "segment u = first(Order where amount > big).",
                                          "segment c = count(Order where ",
                                          "segment d = count(Order "};
  std::string text;
  for (auto& l : lines) text += l + "\n";
  ws.open(p, text);
  auto at_end = [&](uint32_t line) { return labels(ws.completion(p, {line, static_cast<uint32_t>(lines[line].size())})); };
  for (uint32_t line : {3u, 4u, 5u}) {
    auto c = at_end(line);
    EXPECT_TRUE(c.count("age") && c.count("adults") && c.count("big") && c.count("days_to_anniversary")) << lines[line];
    EXPECT_FALSE(c.count("segment")) << lines[line];
    const char* self = line == 3 ? "s" : line == 4 ? "k" : "f";
    EXPECT_FALSE(c.count(self)) << "not the declaration itself: " << lines[line];
  }
  auto fn = at_end(5);
  EXPECT_TRUE(fn.count("x") && fn.count("y"));
  EXPECT_TRUE(labels(ws.completion(p, {2, 15})).count("age")) << "segment a1 = ag|e";
  for (uint32_t line : {6u, 7u}) {
    auto c = at_end(line);
    EXPECT_TRUE(c.count("amount")) << lines[line];
    EXPECT_FALSE(c.count("age") || c.count("segment")) << lines[line];
  }
  auto filter = at_end(8);
  EXPECT_TRUE(filter.count("amount") && filter.count("big"));
  EXPECT_FALSE(filter.count("age") || filter.count("adults") || filter.count("where") || filter.count("now"));
  auto head = at_end(9);
  EXPECT_TRUE(head.count("where") && head.count("within"));
  EXPECT_FALSE(head.count("age") || head.count("amount"));
  // On an unindented new line after a body, the body may go on or the next declaration start.
  ws.open(kDir + "/next.crm", "module next\nimport shop.schema\nsegment s = age > 3\n\n");
  auto next = labels(ws.completion(kDir + "/next.crm", {3, 0}));
  EXPECT_TRUE(next.count("segment") && next.count("age"));
}

// The active parameter is the one an argument names, else the first not given yet (it was the
// count of commas: `stage(churn_after: |` showed `new_period`, tester F21).
TEST_F(WorkspaceTest, SignatureHelpFollowsNamedArguments) {
  const std::string p = kDir + "/sig.crm";
  const std::string head =
      "module sig\nimport std.lifecycle\nevent Order { amount: Money(CNY) }\nfn g(a: Int, b: Int, c: Int): Int = a\n";
  auto active = [&](const std::string& line) -> std::string {
    ws.open(p, head + line + "\n");
    auto h = ws.signature_help(p, {4, static_cast<uint32_t>(line.size())});
    if (!h) return "<none>";
    if (h->active_parameter >= h->parameters.size()) return "<out of range>";
    auto [b, e] = h->parameters[h->active_parameter];
    std::string prm = h->label.substr(b, e - b);
    return prm.substr(0, prm.find(':'));
  };
  EXPECT_EQ(active("segment s = stage(churn_after: "), "churn_after");
  EXPECT_EQ(active("segment s = stage(churn_after: 3 days, silent_after: "), "silent_after");
  EXPECT_EQ(active("const z = g(1, "), "b");
  EXPECT_EQ(active("const z = g(c: 1, "), "a");
  EXPECT_EQ(active("const z = g(1, c: 2, "), "b");
  EXPECT_EQ(active("const z = g(1, (2), c: "), "c");
}

// A delayed trigger: `after` and `unless` among the when: keywords, events after `unless`, and
// after `unless C where` the cancelling event's fields (the left of `c == event.e`).
TEST_F(WorkspaceTest, CompletionKnowsDelayedTriggers) {
  const std::string path = kDir + "/timer.crm";
  ws.open(path,
          "module timer\n"
          "import shop.schema\n"
          "event Pay { paid_amount: Money(CNY) }\n"
          "strategy t {\n"
          "    who: adults\n"
          "    when: on Order, after 2 hours unless Pay where paid_amount == event.amount\n"
          "    what: send hello via Push\n"
          "}\n");
  auto keywords = labels(ws.completion(path, {5, 19}));  // on Order,| after
  EXPECT_TRUE(keywords.count("after") && keywords.count("unless") && keywords.count("amount")) << keywords.size();
  auto events = labels(ws.completion(path, {5, 41}));  // unless |Pay
  EXPECT_TRUE(events.count("Pay") && events.count("Order"));
  auto left = labels(ws.completion(path, {5, 51}));  // where |paid_amount
  EXPECT_TRUE(left.count("paid_amount") && left.count("event"));
  EXPECT_FALSE(left.count("age")) << "the cancelling event's fields, not the profile's";
}

TEST_F(WorkspaceTest, RenameEditsEveryUseAndRefusesBadNames) {
  auto r = ws.rename(kMain, {2, 19}, "grownups");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.edits[kSchema].size(), 1u);
  EXPECT_EQ(r.edits[kMain].size(), 1u);
  EXPECT_FALSE(ws.rename(kMain, {2, 19}, "1bad").ok);
  EXPECT_FALSE(ws.rename(kMain, {2, 19}, "segment").ok) << "a reserved word";
  auto ev = ws.rename(kMain, {2, 34}, "Purchase");
  EXPECT_FALSE(ev.ok) << "events are not renamed";
  EXPECT_EQ(ev.error, "an event cannot be renamed");  // not "a event" (tester F12 c)
}

// A new name already in use is refused: `const k` renamed to the profile field `a` turned
// `a > k` into `a > a`, which still checked and counted other users (tester F13); to `user` it
// broke the check; to another declaration's name it gave E0203.
TEST_F(WorkspaceTest, RenameRefusesANameAlreadyInUse) {
  const std::string p = kDir + "/cap.crm";
  ws.open(p,
          "module cap\nprofile { a: Int }\nevent Visit { page: String }\nconst k = 5\nsegment t = a > k\n"
          "fn f(x: Int, y: Int): Bool = x > y\nsegment u = f(a, k)\n");
  const TextPosition k{4, 16};  // segment t = a > |k
  ASSERT_TRUE(ws.prepare_rename(p, k).has_value());
  for (const char* taken : {"a", "user", "time", "page", "Visit", "t", "f", "x", "len", "u"}) {
    auto r = ws.rename(p, k, taken);
    EXPECT_FALSE(r.ok) << taken;
    EXPECT_TRUE(r.edits.empty()) << taken;
    EXPECT_EQ(r.error.rfind(std::string("cannot rename to `") + taken + "`: ", 0), 0u) << r.error;
  }
  auto r = ws.rename(p, k, "threshold");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.edits[p].size(), 3u);  // the declaration and both uses
}

TEST_F(WorkspaceTest, FormatGivesMinimalHunks) {
  ws.open(kDir + "/f.crm", "segment a = 1 > 0\n\nsegment   b =   2>1\n\nsegment c = 3 > 2\n");
  auto f = ws.format(kDir + "/f.crm");
  ASSERT_TRUE(f.ok);
  ASSERT_EQ(f.edits.size(), 1u);
  EXPECT_EQ(f.edits[0].range.start.line, 2u);
  EXPECT_EQ(f.edits[0].range.end.line, 3u);
  EXPECT_EQ(f.edits[0].new_text, "segment b = 2 > 1\n");
  EXPECT_TRUE(ws.format(kDir + "/f.crm", TextRange{{4, 0}, {4, 3}}).edits.empty());
  ws.open(kDir + "/g.crm", "segment a = (\n");
  EXPECT_FALSE(ws.format(kDir + "/g.crm").ok);
}

// A formatted CRLF buffer needs no edit (it got one replacing the whole document with LF text).
TEST_F(WorkspaceTest, FormatKeepsCrlfLineEnds) {
  ws.open(kDir + "/crlf.crm", "segment a = 1 > 0\r\n\r\nsegment b = 2 > 1\r\n");
  auto f = ws.format(kDir + "/crlf.crm");
  ASSERT_TRUE(f.ok);
  EXPECT_TRUE(f.edits.empty());
  ws.open(kDir + "/crlf2.crm", "segment a = 1 > 0\r\n\r\nsegment   b = 2>1\r\n");
  f = ws.format(kDir + "/crlf2.crm");
  ASSERT_TRUE(f.ok);
  ASSERT_EQ(f.edits.size(), 1u);
  EXPECT_EQ(f.edits[0].new_text, "segment b = 2 > 1\r\n");
}

// Renaming a standard-library function is refused (docs/lsp.md), whether asked at a use in the
// user's file or not: the edit would rewrite the stdlib cache and break every call.
TEST_F(WorkspaceTest, StandardLibrarySymbolsAreNotRenamed) {
  const std::string p = kDir + "/lc.crm";
  ws.open(p, "module lc\nimport std.lifecycle\nevent Order { amount: Money(CNY) }\nsegment s = stage() == Silent\n");
  EXPECT_FALSE(ws.prepare_rename(p, {3, 13}).has_value());
  auto r = ws.rename(p, {3, 13}, "zz");
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.edits.empty());
  EXPECT_NE(r.error.find("standard library"), std::string::npos) << r.error;
}

// An imported module's errors show at the importer's `import` line, the real places related.
TEST_F(WorkspaceTest, ImportedModuleErrorsShowAtTheImport) {
  const std::string p = kDir + "/m4.crm";
  ws.open(p, "module m4\nimport std.rfm\n");
  ws.analyze();
  auto d = ws.diagnostics(p);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].code, "E0210");
  EXPECT_EQ(d[0].range.start.line, 1u);
  ASSERT_EQ(d[0].related.size(), 1u);
  EXPECT_EQ(d[0].related[0].at.path, "<stdlib>/std/rfm.crm");
}

// `名前: String` is one diagnostic over the whole name, not one per character plus the parser's
// recovery errors at the next, correct field and unknown-name errors at its uses.
TEST_F(WorkspaceTest, ANonAsciiNameIsOneDiagnostic) {
  const std::string p = kDir + "/cjk.crm";
  ws.open(p, "profile { \xe5\x90\x8d\xe5\x89\x8d: String  age: Int }\nsegment adult = age >= 18\n");
  ws.analyze();
  auto d = ws.diagnostics(p);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].code, "E0103");
  EXPECT_EQ(d[0].range.start.character, 10u);
  EXPECT_EQ(d[0].range.end.character, 12u);
}

// A document sent with a byte order mark: the SourceManager drops it (`crm check` columns do not
// count it) but the client's positions count it as one UTF-16 unit, so every position on line 0,
// out of the server and into it, is one unit further (they were one short, tester F14).
TEST_F(WorkspaceTest, AByteOrderMarkIsOneUtf16UnitOfTheFirstLine) {
  const std::string p = kDir + "/bom.crm", bom = "\xEF\xBB\xBF";
  ws.open(p, bom + "segment s = 1 > zz\nsegment t = s\n");
  ws.analyze();
  auto d = ws.diagnostics(p);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].range.start.character, 17u);  // `zz` after the mark's unit
  EXPECT_EQ(d[0].range.end.character, 19u);
  EXPECT_FALSE(ws.hover(p, {0, 8}).has_value()) << "unit 8 is the space before `s`";
  auto h = ws.hover(p, {0, 9});
  ASSERT_TRUE(h);
  EXPECT_EQ(h->range.start.character, 9u);
  EXPECT_EQ(h->range.end.character, 10u);
  auto def = ws.definition(p, {1, 12});
  ASSERT_EQ(def.size(), 1u);
  EXPECT_EQ(def[0].range.start, (TextPosition{0, 9}));
  auto refs = ws.references(p, {0, 9}, true);
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_EQ(refs[0].range.start, (TextPosition{0, 9}));
  EXPECT_EQ(refs[1].range.start, (TextPosition{1, 12}));
  ASSERT_TRUE(ws.prepare_rename(p, {0, 9}).has_value());
  EXPECT_EQ(ws.prepare_rename(p, {0, 9})->start, (TextPosition{0, 9}));
  auto rn = ws.rename(p, {0, 9}, "early");
  ASSERT_TRUE(rn.ok) << rn.error;
  ASSERT_EQ(rn.edits[p].size(), 2u);
  EXPECT_EQ(rn.edits[p][0].range.start, (TextPosition{0, 9}));
  auto toks = ws.semantic_tokens(p);
  ASSERT_FALSE(toks.empty());
  EXPECT_EQ(toks[0].start, (TextPosition{0, 9}));
  // Completion reads the client's text: the mark does not hide a first-line `strategy {`.
  const std::string q = kDir + "/bom2.crm";
  ws.open(q, bom + "strategy st {\n    \n}\n");
  EXPECT_TRUE(labels(ws.completion(q, {1, 4})).count("who:"));
  // Formatting keeps the mark: a formatted buffer needs no edit, and a hunk of line 0 writes it.
  ws.open(q, bom + "segment s = 1 > 0\n");
  auto f = ws.format(q);
  ASSERT_TRUE(f.ok);
  EXPECT_TRUE(f.edits.empty());
  ws.open(q, bom + "segment   s = 1>0\n");
  f = ws.format(q);
  ASSERT_TRUE(f.ok);
  ASSERT_EQ(f.edits.size(), 1u);
  EXPECT_EQ(f.edits[0].new_text, bom + "segment s = 1 > 0\n");
}

// While a line is half typed the checker runs over the tree the parser repaired; what it finds
// there is about names the recovery made up (`<missing ID>`, an empty field name, the next
// declaration's name swallowed into the expression) and is not published: only the syntax error,
// and the real errors elsewhere in the file (tester F18).
TEST_F(WorkspaceTest, FindingsInRepairedCodeAreNotPublished) {
  struct Case {
    const char* name;
    const char* text;
    std::vector<std::string> real;  // expected beyond syntax errors, as "CODE@line"
  };
  const Case cases[] = {
      {"half_seg", "module r\nprofile { a: Int }\nsegment s = a >\nsegment t = s and a > 1\nsegment u = a > \"x\"\n"
                   "segment w = t\n",
       {"E0401@4"}},
      {"half_call",
       "module r\nprofile { a: Int }\nevent Order { amount: Money(CNY) }\nsegment s = count(Order where \n"
       "segment t = s and a > 1\n",
       {}},
      {"half_strat",
       "module r\nprofile { a: Int }\nevent Order { amount: Money(CNY) }\nresource push p { title: \"t\" body: \"b\" }\n"
       "strategy z for business \"m\" {\n    who: a > \n    when: on Order\n    what: send p via Push\n}\n"
       "segment t = a > \"x\"\n",
       {"E0401@9"}},
      {"half_field", "module r\nprofile { a: Int\n  b: \n}\nsegment t = a > 1 and b\n", {}},
      {"half_dot",
       "module r\nprofile { a: Int }\nevent Order { amount: Money(CNY) }\nsegment s = (last(Order). ?? 0 CNY) > 1 CNY\n"
       "segment t = a > 1\n",
       {}},
  };
  for (const auto& c : cases) {
    const std::string p = kDir + "/" + c.name + ".crm";
    ws.open(p, c.text);
    ws.analyze();
    std::vector<std::string> real;
    bool syntax = false;
    for (auto& d : ws.diagnostics(p)) {
      EXPECT_EQ(d.message.find("<missing"), std::string::npos) << c.name << ": " << d.message;
      EXPECT_EQ(d.message.find("``"), std::string::npos) << c.name << ": " << d.message;
      if (d.code.rfind("E01", 0) == 0) syntax = true;
      else real.push_back(d.code + "@" + std::to_string(d.range.start.line));
    }
    EXPECT_TRUE(syntax) << c.name;
    EXPECT_EQ(real, c.real) << c.name;
  }
}

// The unknown names dropped beside a syntax error are those written where the parser's recovery
// skipped or repaired text (a declaration lost there may declare them), not every name written
// in the damaged declaration: `foo` used in a half-typed line does not hide the real E0204 of
// `foo` in another declaration. A declaration the recovery did swallow still hides its uses.
TEST_F(WorkspaceTest, AnUnknownNameElsewhereIsPublishedBesideASyntaxError) {
  struct Case {
    const char* name;
    const char* text;
    std::vector<std::string> real;  // expected beyond syntax errors, as "CODE@line"
  };
  const Case cases[] = {
      {"used_in_half", "module r\nprofile { a: Int }\nsegment s = foo >\nsegment t = foo and a > 1\n", {"E0204@3"}},
      {"used_in_strat",
       "module r\nprofile { a: Int }\nevent Order { amount: Money(CNY) }\nresource push p { title: \"t\" body: \"b\" }\n"
       "strategy z for business \"m\" {\n    who: foo > 1 and a > \n    when: on Order\n    what: send p via Push\n}\n"
       "segment t = foo > 1\n",
       {"E0204@9"}},
      // Swallowed: skipped after the `)`, or its `segment` deleted and `t` taken as an operand.
      {"skipped", "module r\nprofile { a: Int }\nsegment s = a > ) segment t = a > 1\nsegment w = t\n", {}},
      {"deleted", "module r\nprofile { a: Int }\nsegment s = a >\n  segment t = a > 1\nsegment w = t\n", {}},
      {"in_comment", "module r\nprofile { a: Int }\nsegment w = t\nsegment s = a > 1 /* segment t = a > 1\n", {}},
  };
  for (const auto& c : cases) {
    const std::string p = kDir + "/" + c.name + ".crm";
    ws.open(p, c.text);
    ws.analyze();
    std::vector<std::string> real;
    bool syntax = false;
    for (auto& d : ws.diagnostics(p)) {
      if (d.code.rfind("E01", 0) == 0) syntax = true;
      else real.push_back(d.code + "@" + std::to_string(d.range.start.line));
    }
    EXPECT_TRUE(syntax) << c.name;
    EXPECT_EQ(real, c.real) << c.name;
  }
}

// Two workspace folders, each with its own `lib.crm` declaring `module lib`: `import lib` in B
// resolves to B/lib.crm beside it, as `crm check` does, even while A/lib.crm is open (it resolved
// to the open buffer by its module name: false errors, definition and rename across folders,
// tester F17); the buffer of B/lib.crm itself is used, so its unsaved edits count.
TEST(WorkspaceImports, AFileBesideTheImporterWinsOverAnotherFoldersBuffer) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("crm-ws-imports-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "A");
  fs::create_directories(dir / "B");
  auto write = [](const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; };
  const std::string a_lib = (dir / "A/lib.crm").string(), b_lib = (dir / "B/lib.crm").string(),
                    b_main = (dir / "B/main.crm").string();
  const std::string a_text = "module lib\nprofile { age: Int }\nsegment adults = age >= 18\n";
  const std::string b_text =
      "module lib\nprofile { age: Int }\n// another offset\nsegment adults = age >= 21\nsegment seniors = age >= 65\n";
  const std::string main_text = "module main\nimport lib\nsegment y = adults and seniors\n";
  write(a_lib, a_text);
  write(b_lib, b_text);
  write(b_main, main_text);
  crm::WorkspaceOptions o;
  o.folders = {(dir / "A").string(), (dir / "B").string()};
  {
    Workspace ws(o);
    ws.open(a_lib, a_text);
    ws.open(b_main, main_text);
    ws.analyze();
    EXPECT_TRUE(ws.diagnostics(b_main).empty()) << ws.diagnostics(b_main)[0].message;
    auto def = ws.definition(b_main, {2, 13});  // `adults`
    ASSERT_EQ(def.size(), 1u);
    EXPECT_EQ(def[0].path, b_lib);
    EXPECT_EQ(def[0].range.start.line, 3u);
    for (auto& r : ws.references(a_lib, {2, 9}, true)) EXPECT_NE(r.path, b_main) << "A's `adults` is not used in B";
    auto rn = ws.rename(a_lib, {2, 9}, "grown");
    ASSERT_TRUE(rn.ok) << rn.error;
    EXPECT_EQ(rn.edits.count(b_main), 0u);
    EXPECT_EQ(rn.edits.count(a_lib), 1u);
    // B/lib.crm's buffer is the file `crm check` reads: its unsaved edit shows in B/main.crm.
    ws.open(b_lib, "module lib\nprofile { age: Int }\nsegment adults = age >= 21\n");
    ws.analyze();
    auto d = ws.diagnostics(b_main);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].code, "E0204");
  }
  fs::remove_all(dir);
}

}  // namespace
