// c_api_test.cc - the C API (include/crm/crm.h) as a host program uses it, errors included:
// bad programs, bad event lines, NULL arguments, buffers too small.
#include <crm/crm.h>

#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <crm/runtime.h>

namespace {

const char* kSchema = R"(module demo.schema
profile { age: Int  city: String }
event Order { amount: Money(CNY) }
)";

const char* kRules = R"(module demo.rules
import demo.schema
resource coupon c10 { discount: 10 CNY  threshold: 50 CNY }
segment adult = age >= 18
segment repeat_buyer = count(Order within 30 days) >= 2
strategy thanks { who: repeat_buyer and adult  when: on Order  what: grant c10 via App code "T"  how much: per user 1 per day }
)";

std::string text_of(crm_status (*render)(const crm_compilation*, crm_render_format, char*, size_t, size_t*),
                    const crm_compilation* c, crm_render_format f) {
  size_t len = 0;
  crm_status s = render(c, f, nullptr, 0, &len);
  if (s != CRM_ERR_BUFFER_TOO_SMALL && s != CRM_OK) return "<" + std::string(crm_status_name(s)) + ">";
  std::string out(len + 1, '\0');
  EXPECT_EQ(render(c, f, out.data(), out.size(), &len), CRM_OK);
  out.resize(len);
  return out;
}

// Compiles kSchema + kRules from memory; the test fails when it does not compile.
crm_program* compile_demo() {
  const char* names[] = {"demo.schema", "demo.rules"};
  const char* texts[] = {kSchema, kRules};
  crm_compilation* c = nullptr;
  crm_status s = crm_compile_sources(names, texts, nullptr, 2, nullptr, &c);
  EXPECT_EQ(s, CRM_OK) << crm_last_error() << "\n" << text_of(crm_compilation_render, c, CRM_RENDER_TEXT);
  crm_program* p = nullptr;
  EXPECT_EQ(crm_compilation_program(c, &p), CRM_OK);
  crm_compilation_free(c);  // the program outlives its compilation
  return p;
}

crm_decisions* feed(crm_runtime* rt, const std::string& line, crm_status expect = CRM_OK) {
  crm_decisions* d = nullptr;
  EXPECT_EQ(crm_runtime_process_event(rt, line.data(), line.size(), &d), expect) << crm_last_error();
  return d;
}

const std::string kProfile = R"({"user":"u1","age":40,"city":"Wuhan"})";
void load_profile(crm_runtime* rt) {
  EXPECT_EQ(crm_runtime_load_profile(rt, kProfile.data(), kProfile.size()), CRM_OK) << crm_last_error();
}

const std::string kE1 = R"({"id":"e1","type":"Order","user":"u1","time":"2026-11-11T01:00:00Z","amount":60})";
const std::string kE2 = R"({"id":"e2","type":"Order","user":"u1","time":"2026-11-11T02:00:00Z","amount":70.5})";
constexpr int64_t kNov11 = 1'794'355'200'000'000;  // 2026-11-11T00:00:00Z

}  // namespace

// The tester's report, through the C API: an audience at day 40, after the stream's latest event
// (day 0), made the 30-day window forget the order of day 0 for good, so the order of day 0 + 1 h
// got no decision. An audience before the engine's clock is CRM_ERR_INPUT, saying why.
TEST(CApi, AnAudienceAfterTheLatestEventChangesNoLaterDecision) {
  const char* names[] = {"aud"};
  const char* texts[] = {R"(module aud
event Order { amount: Money(CNY) }
resource push hi { title: "hi"  body: "hi" }
segment two = count(Order within 30 days) >= 2
strategy s { who: two  when: on Order  what: send hi via Push }
)"};
  crm_compilation* c = nullptr;
  ASSERT_EQ(crm_compile_sources(names, texts, nullptr, 1, nullptr, &c), CRM_OK)
      << crm_last_error() << "\n" << text_of(crm_compilation_render, c, CRM_RENDER_TEXT);
  crm_program* p = nullptr;
  ASSERT_EQ(crm_compilation_program(c, &p), CRM_OK);
  crm_compilation_free(c);
  crm_runtime* rt = nullptr;
  ASSERT_EQ(crm_runtime_new(p, nullptr, &rt), CRM_OK) << crm_last_error();
  crm_program_free(p);
  constexpr int64_t kJan1 = 1'767'225'600'000'000, kHour = 3600'000'000LL, kDay = 24 * kHour;  // 2026-01-01T00:00Z
  auto two_at = [&](int64_t at) {
    crm_audience* a = nullptr;
    EXPECT_EQ(crm_runtime_audience(rt, at, &a), CRM_OK) << crm_last_error();
    const char* name = nullptr;
    int64_t users = -1;
    EXPECT_EQ(crm_audience_entry(a, 0, &name, &users, nullptr), CRM_OK);
    EXPECT_STREQ(name, "two");
    crm_audience_free(a);
    return users;
  };
  crm_decisions* d = feed(rt, R"({"id":"e1","type":"Order","user":"u1","time":"2026-01-01T00:00:00Z","amount":10})");
  EXPECT_EQ(crm_decisions_count(d), 0u);
  crm_decisions_free(d);
  EXPECT_EQ(two_at(kJan1 + 40 * kDay), 0);
  d = feed(rt, R"({"id":"e2","type":"Order","user":"u1","time":"2026-01-01T01:00:00Z","amount":10})");
  ASSERT_EQ(crm_decisions_count(d), 1u);  // two orders within 30 days
  crm_decision dec;
  ASSERT_EQ(crm_decisions_get(d, 0, &dec), CRM_OK);
  EXPECT_STREQ(dec.event, "e2");
  EXPECT_STREQ(dec.strategy, "s");
  crm_decisions_free(d);
  EXPECT_EQ(two_at(kJan1 + 2 * kHour), 1);
  crm_audience* a = nullptr;
  EXPECT_EQ(crm_runtime_audience(rt, kJan1, &a), CRM_ERR_INPUT);
  EXPECT_EQ(a, nullptr);
  EXPECT_NE(std::string(crm_last_error()).find("before the engine's clock"), std::string::npos) << crm_last_error();
  crm_runtime_free(rt);
}

TEST(CApi, VersionAndStatusNames) {
  EXPECT_STREQ(crm_version(), crm::version());
  EXPECT_EQ(crm_api_version(), CRM_C_API_VERSION);
  EXPECT_STREQ(crm_status_name(CRM_ERR_BUFFER_TOO_SMALL), "CRM_ERR_BUFFER_TOO_SMALL");
  EXPECT_STREQ(crm_status_name(static_cast<crm_status>(99)), "CRM_ERR_UNKNOWN");
}

TEST(CApi, CompilesInMemoryModulesAndStreamsTypedDecisions) {
  crm_program* p = compile_demo();
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(crm_program_segment_count(p), 2u);
  EXPECT_STREQ(crm_program_segment_name(p, 1), "repeat_buyer");
  EXPECT_EQ(crm_program_segment_name(p, 2), nullptr);
  ASSERT_EQ(crm_program_strategy_count(p), 1u);
  EXPECT_STREQ(crm_program_strategy_name(p, 0), "thanks");

  crm_runtime* rt = nullptr;
  ASSERT_EQ(crm_runtime_new(p, nullptr, &rt), CRM_OK) << crm_last_error();
  crm_program_free(p);  // the runtime keeps its own reference
  std::string profile = R"({"user":"u1","age":40,"city":"Wuhan"})";
  ASSERT_EQ(crm_runtime_load_profile(rt, profile.data(), profile.size()), CRM_OK) << crm_last_error();

  crm_decisions* d = feed(rt, kE1);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(crm_decisions_count(d), 0u);  // one order: not a repeat buyer yet
  crm_decisions_free(d);

  d = feed(rt, kE2);
  ASSERT_EQ(crm_decisions_count(d), 1u);
  crm_decision dec;
  ASSERT_EQ(crm_decisions_get(d, 0, &dec), CRM_OK);
  EXPECT_EQ(dec.outcome, CRM_OUTCOME_GRANTED);
  EXPECT_STREQ(dec.outcome_name, "granted");
  EXPECT_STREQ(dec.event, "e2");
  EXPECT_STREQ(dec.user, "u1");
  EXPECT_STREQ(dec.strategy, "thanks");
  EXPECT_STREQ(dec.resource, "c10");
  EXPECT_STREQ(dec.channel, "App");
  EXPECT_STREQ(dec.code, "T");
  EXPECT_STREQ(dec.reason, "");
  EXPECT_EQ(dec.at_micros, kNov11 + 2 * 3600'000'000LL);
  EXPECT_TRUE(dec.has_amount);
  EXPECT_EQ(dec.amount_millionths, 10'000'000);  // 10 CNY
  EXPECT_STREQ(dec.currency, "CNY");
  EXPECT_FALSE(dec.has_sales);
  EXPECT_FALSE(dec.released);

  // The JSON line is the one `crm run` writes; the struct says the same.
  size_t len = 0;
  EXPECT_EQ(crm_decisions_json(d, 0, nullptr, 0, &len), CRM_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(len, std::strlen(dec.json));
  std::string json(len + 1, '\0');
  ASSERT_EQ(crm_decisions_json(d, 0, json.data(), json.size(), &len), CRM_OK);
  json.resize(len);
  EXPECT_EQ(json, dec.json);
  EXPECT_NE(json.find(R"("outcome":"granted")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("amount":"10")"), std::string::npos) << json;
  crm_decisions_free(d);

  crm_audience* a = nullptr;
  ASSERT_EQ(crm_runtime_audience(rt, kNov11 + 3 * 3600'000'000LL, &a), CRM_OK);
  ASSERT_EQ(crm_audience_count(a), 3u);  // two segments, one strategy
  const char* name = nullptr;
  int64_t users = -1;
  int is_strategy = -1;
  ASSERT_EQ(crm_audience_entry(a, 1, &name, &users, &is_strategy), CRM_OK);
  EXPECT_STREQ(name, "repeat_buyer");
  EXPECT_EQ(users, 1);
  EXPECT_EQ(is_strategy, 0);
  ASSERT_EQ(crm_audience_entry(a, 2, &name, &users, &is_strategy), CRM_OK);
  EXPECT_STREQ(name, "thanks");
  EXPECT_EQ(is_strategy, 1);
  EXPECT_EQ(crm_audience_entry(a, 3, &name, &users, nullptr), CRM_ERR_INVALID_ARGUMENT);
  crm_audience_free(a);

  d = nullptr;
  ASSERT_EQ(crm_runtime_finish(rt, &d), CRM_OK);
  EXPECT_EQ(crm_decisions_count(d), 0u);
  crm_decisions_free(d);
  crm_runtime_free(rt);
}

TEST(CApi, BadEventLinesAreInputErrorsThatChangeNothing) {
  crm_program* p = compile_demo();
  crm_runtime* rt = nullptr;
  ASSERT_EQ(crm_runtime_new(p, nullptr, &rt), CRM_OK);
  load_profile(rt);
  crm_decisions* d = feed(rt, kE1);
  crm_decisions_free(d);
  d = reinterpret_cast<crm_decisions*>(1);  // must be reset to NULL on failure
  std::string bad = R"({"id":"e3","type":"Order","user":"u1","time":"yesterday","amount":5})";
  EXPECT_EQ(crm_runtime_process_event(rt, bad.data(), bad.size(), &d), CRM_ERR_INPUT);
  EXPECT_EQ(d, nullptr);
  EXPECT_NE(std::string(crm_last_error()).find("ISO-8601"), std::string::npos) << crm_last_error();
  feed(rt, "{\"id\":", CRM_ERR_INPUT);
  feed(rt, R"({"id":"e0","type":"Order","user":"u1","time":"2026-11-10T00:00:00Z","amount":5})", CRM_ERR_INPUT);
  EXPECT_NE(std::string(crm_last_error()).find("out of order"), std::string::npos) << crm_last_error();
  std::string profile = R"({"user":"u2","age":"forty"})";
  EXPECT_EQ(crm_runtime_load_profile(rt, profile.data(), profile.size()), CRM_ERR_INPUT);
  // Nothing changed: the second order still makes u1 a repeat buyer, once.
  d = feed(rt, kE2);
  EXPECT_EQ(crm_decisions_count(d), 1u);
  crm_decisions_free(d);
  crm_runtime_free(rt);
  crm_program_free(p);
}

TEST(CApi, ProgramErrorsComeAsDiagnostics) {
  const char* names[] = {"demo.bad"};
  const char* texts[] = {"segment s = nosuch > 1\n"};
  crm_compilation* c = nullptr;
  ASSERT_EQ(crm_compile_sources(names, texts, nullptr, 1, nullptr, &c), CRM_ERR_PROGRAM);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(crm_compilation_error_count(c), 1u);
  ASSERT_EQ(crm_compilation_diagnostic_count(c), 1u);
  crm_diagnostic dg;
  ASSERT_EQ(crm_compilation_diagnostic(c, 0, &dg), CRM_OK);
  EXPECT_EQ(dg.severity, CRM_SEVERITY_ERROR);
  EXPECT_STREQ(dg.file, "demo/bad.crm");
  EXPECT_EQ(dg.line, 1u);
  EXPECT_EQ(dg.column, 13u);
  EXPECT_EQ(std::string(dg.code).size(), 5u);
  EXPECT_EQ(dg.code[0], 'E');
  EXPECT_NE(std::string(dg.message).find("nosuch"), std::string::npos) << dg.message;
  EXPECT_EQ(crm_compilation_diagnostic(c, 1, &dg), CRM_ERR_INVALID_ARGUMENT);
  std::string text = text_of(crm_compilation_render, c, CRM_RENDER_TEXT);
  EXPECT_NE(text.find("demo/bad.crm:1:13"), std::string::npos) << text;
  std::string json = text_of(crm_compilation_render, c, CRM_RENDER_JSON);
  EXPECT_EQ(json.rfind("{\"diagnostics\":[", 0), 0u) << json;
  crm_program* p = reinterpret_cast<crm_program*>(1);
  EXPECT_EQ(crm_compilation_program(c, &p), CRM_ERR_PROGRAM);
  crm_compilation_free(c);

  // A module line that contradicts its name is the user's error too.
  const char* names2[] = {"demo.one"};
  const char* texts2[] = {"module demo.two\nsegment s = true\n"};
  ASSERT_EQ(crm_compile_sources(names2, texts2, nullptr, 1, nullptr, &c), CRM_ERR_PROGRAM);
  ASSERT_EQ(crm_compilation_diagnostic(c, 0, &dg), CRM_OK);
  EXPECT_STREQ(dg.code, "E0201");
  crm_compilation_free(c);
}

TEST(CApi, InMemoryModulesNeverReadTheCurrentDirectory) {
  // demo/schema.crm exists in the working directory; the in-memory module must not find it.
  namespace fs = std::filesystem;
  fs::path dir = fs::path(::testing::TempDir()) / "c_api_cwd";
  fs::create_directories(dir / "demo");
  std::ofstream(dir / "demo" / "schema.crm") << kSchema;
  fs::path old = fs::current_path();
  fs::current_path(dir);
  const char* names[] = {"demo.rules"};
  const char* texts[] = {kRules};
  crm_compilation* c = nullptr;
  crm_status s = crm_compile_sources(names, texts, nullptr, 1, nullptr, &c);
  fs::current_path(old);
  EXPECT_EQ(s, CRM_ERR_PROGRAM);
  std::string text = text_of(crm_compilation_render, c, CRM_RENDER_TEXT);
  EXPECT_NE(text.find("module `demo.schema` not found"), std::string::npos) << text;
  crm_compilation_free(c);

  // With an include directory it is found there, and lengths limit the texts.
  crm_compile_options* o = nullptr;
  ASSERT_EQ(crm_compile_options_new(&o), CRM_OK);
  ASSERT_EQ(crm_compile_options_add_include_dir(o, dir.c_str()), CRM_OK);
  std::string padded = std::string(kRules) + "garbage that the length excludes";
  const char* texts2[] = {padded.c_str()};
  size_t lengths[] = {std::strlen(kRules)};
  EXPECT_EQ(crm_compile_sources(names, texts2, lengths, 1, o, &c), CRM_OK) << text_of(crm_compilation_render, c, CRM_RENDER_TEXT);
  crm_compilation_free(c);
  crm_compile_options_free(o);
}

TEST(CApi, CompilesFilesWithLimits) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(::testing::TempDir()) / "c_api_files";
  fs::create_directories(dir / "demo");
  std::ofstream(dir / "demo" / "schema.crm") << kSchema;
  std::ofstream(dir / "rules.crm") << kRules;
  std::string rules = (dir / "rules.crm").string();
  const char* paths[] = {rules.c_str()};
  crm_compilation* c = nullptr;
  ASSERT_EQ(crm_compile_files(paths, 1, nullptr, &c), CRM_OK) << text_of(crm_compilation_render, c, CRM_RENDER_TEXT);
  crm_program* p = nullptr;
  ASSERT_EQ(crm_compilation_program(c, &p), CRM_OK);
  crm_compilation_free(c);

  // Round trip through the .crmc bytes.
  size_t len = 0;
  ASSERT_EQ(crm_program_serialize(p, nullptr, 0, &len), CRM_ERR_BUFFER_TOO_SMALL);
  std::vector<char> bytes(len + 1);
  ASSERT_EQ(crm_program_serialize(p, bytes.data(), bytes.size(), &len), CRM_OK);
  crm_program* q = nullptr;
  ASSERT_EQ(crm_program_load(bytes.data(), len, &q), CRM_OK) << crm_last_error();
  EXPECT_EQ(crm_program_strategy_count(q), 1u);
  crm_program_free(q);
  bytes[len / 2] ^= 0x55;
  EXPECT_EQ(crm_program_load(bytes.data(), len, &q), CRM_ERR_INPUT);
  EXPECT_EQ(crm_program_load("nope", 4, &q), CRM_ERR_INPUT);
  crm_program_free(p);

  crm_compile_options* o = nullptr;
  ASSERT_EQ(crm_compile_options_new(&o), CRM_OK);
  ASSERT_EQ(crm_compile_options_set_limit(o, CRM_LIMIT_MAX_FILE_BYTES, 16), CRM_OK);
  EXPECT_EQ(crm_compile_options_set_limit(o, CRM_LIMIT_MAX_ERRORS, 0), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_compile_options_set_limit(o, CRM_LIMIT_MAX_NESTING, 1ull << 40), CRM_ERR_INVALID_ARGUMENT);
  // Above the cap the parser would use the cap: refused instead, as the CLI refuses --max-nesting 2001.
  EXPECT_EQ(crm_compile_options_set_limit(o, CRM_LIMIT_MAX_NESTING, 2001), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_compile_options_set_limit(o, CRM_LIMIT_MAX_NESTING, 2000), CRM_OK);
  EXPECT_EQ(crm_compile_options_set_limit(o, static_cast<crm_limit>(9), 1), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_compile_files(paths, 1, o, &c), CRM_ERR_PROGRAM);  // too big for 16 bytes
  EXPECT_GE(crm_compilation_error_count(c), 1u);
  crm_compilation_free(c);
  crm_compile_options_free(o);

  const char* missing[] = {"/nonexistent/x.crm"};
  EXPECT_EQ(crm_compile_files(missing, 1, nullptr, &c), CRM_ERR_PROGRAM);  // E0107, not a status
  crm_diagnostic dg;
  ASSERT_EQ(crm_compilation_diagnostic(c, 0, &dg), CRM_OK);
  EXPECT_STREQ(dg.code, "E0107");
  EXPECT_EQ(dg.line, 0u);
  EXPECT_STREQ(dg.file, "");
  crm_compilation_free(c);
}

TEST(CApi, NullArgumentsAreInvalidNeverACrash) {
  crm_compilation* c = nullptr;
  const char* one[] = {"x.crm"};
  const char* nul[] = {nullptr};
  EXPECT_EQ(crm_compile_files(nullptr, 1, nullptr, &c), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_compile_files(one, 1, nullptr, nullptr), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_compile_files(one, 0, nullptr, &c), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_compile_files(nul, 1, nullptr, &c), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(crm_last_error(), "a path is NULL");
  EXPECT_EQ(crm_compile_sources(one, nul, nullptr, 1, nullptr, &c), CRM_ERR_INVALID_ARGUMENT);
  const char* empty[] = {""};
  EXPECT_EQ(crm_compile_sources(empty, one, nullptr, 1, nullptr, &c), CRM_ERR_INVALID_ARGUMENT);
  const char* twice[] = {"a", "a"};
  const char* texts[] = {"segment s = true", "segment t = true"};
  EXPECT_EQ(crm_compile_sources(twice, texts, nullptr, 2, nullptr, &c), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c, nullptr);

  EXPECT_EQ(crm_compilation_error_count(nullptr), 0u);
  EXPECT_EQ(crm_compilation_render(nullptr, CRM_RENDER_TEXT, nullptr, 0, nullptr), CRM_ERR_INVALID_ARGUMENT);
  crm_diagnostic dg;
  EXPECT_EQ(crm_compilation_diagnostic(nullptr, 0, &dg), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_program_load(nullptr, 3, nullptr), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_program_segment_count(nullptr), 0u);
  EXPECT_EQ(crm_program_strategy_name(nullptr, 0), nullptr);

  crm_runtime* rt = nullptr;
  EXPECT_EQ(crm_runtime_new(nullptr, nullptr, &rt), CRM_ERR_INVALID_ARGUMENT);
  crm_decisions* d = nullptr;
  EXPECT_EQ(crm_runtime_process_event(nullptr, "{}", 2, &d), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_runtime_finish(nullptr, &d), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_runtime_commit(nullptr), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_runtime_load_profile(nullptr, "{}", 2), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_decisions_count(nullptr), 0u);
  crm_decision dec;
  EXPECT_EQ(crm_decisions_get(nullptr, 0, &dec), CRM_ERR_INVALID_ARGUMENT);
  crm_explanation* x = nullptr;
  EXPECT_EQ(crm_explain(nullptr, nullptr, 0, nullptr, 0, "u1", 0, nullptr, &x), CRM_ERR_INVALID_ARGUMENT);

  crm_program* p = compile_demo();
  ASSERT_EQ(crm_runtime_new(p, nullptr, &rt), CRM_OK);
  EXPECT_EQ(crm_runtime_process_event(rt, nullptr, 2, &d), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_runtime_process_event(rt, "{}", 2, nullptr), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_runtime_process_event(rt, nullptr, 0, &d), CRM_ERR_INPUT);  // an empty line
  EXPECT_EQ(crm_explain(p, nullptr, 0, nullptr, 0, nullptr, 0, nullptr, &x), CRM_ERR_INVALID_ARGUMENT);
  // Exactly one of an instant and an event.
  EXPECT_EQ(crm_explain(p, nullptr, 0, nullptr, 0, "u1", INT64_MIN, nullptr, &x), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_explain(p, nullptr, 0, nullptr, 0, "u1", 0, "e1", &x), CRM_ERR_INVALID_ARGUMENT);
  crm_runtime_options o;
  crm_runtime_options_init(&o);
  o.manual_commit = 1;  // needs a ledger
  EXPECT_EQ(crm_runtime_new(p, &o, &rt), CRM_ERR_INVALID_ARGUMENT);
  crm_runtime_options_init(&o);
  o.allowed_lateness_micros = -1;
  EXPECT_EQ(crm_runtime_new(p, &o, &rt), CRM_ERR_INVALID_ARGUMENT);
  crm_runtime_options_init(&o);
  EXPECT_EQ(o.dedup_window_micros, 7LL * 86400 * 1000000);  // the default: 7 days
  o.dedup_window_micros = -1;
  EXPECT_EQ(crm_runtime_new(p, &o, &rt), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(crm_last_error()).find("dedup_window_micros"), std::string::npos) << crm_last_error();
  crm_runtime_free(rt);
  crm_program_free(p);
  // Every free function accepts NULL.
  crm_compile_options_free(nullptr);
  crm_compilation_free(nullptr);
  crm_program_free(nullptr);
  crm_runtime_free(nullptr);
  crm_decisions_free(nullptr);
  crm_audience_free(nullptr);
  crm_explanation_free(nullptr);
}

TEST(CApi, BuffersTooSmallAreRefusedWithTheSizeNeeded) {
  const char* names[] = {"demo.bad"};
  const char* texts[] = {"segment s = nosuch > 1\n"};
  crm_compilation* c = nullptr;
  ASSERT_EQ(crm_compile_sources(names, texts, nullptr, 1, nullptr, &c), CRM_ERR_PROGRAM);
  size_t len = 0;
  ASSERT_EQ(crm_compilation_render(c, CRM_RENDER_TEXT, nullptr, 0, &len), CRM_ERR_BUFFER_TOO_SMALL);
  ASSERT_GT(len, 10u);
  EXPECT_NE(std::string(crm_last_error()).find(std::to_string(len + 1) + " are needed"), std::string::npos);
  std::string buf(len, '#');  // one byte short: no room for the NUL
  size_t len2 = 0;
  EXPECT_EQ(crm_compilation_render(c, CRM_RENDER_TEXT, buf.data(), buf.size(), &len2), CRM_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(len2, len);
  EXPECT_EQ(buf, std::string(len, '#'));  // nothing written
  buf.assign(len + 1, '#');
  EXPECT_EQ(crm_compilation_render(c, CRM_RENDER_TEXT, buf.data(), buf.size(), nullptr), CRM_OK);
  EXPECT_EQ(buf[len], '\0');
  EXPECT_EQ(crm_compilation_render(c, CRM_RENDER_TEXT, nullptr, 100, &len), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(crm_compilation_render(c, static_cast<crm_render_format>(7), buf.data(), buf.size(), &len),
            CRM_ERR_INVALID_ARGUMENT);
  crm_compilation_free(c);
}

TEST(CApi, LedgerSurvivesARestartAndIsSingleWriter) {
  std::string path = ::testing::TempDir() + "c_api_ledger.db";
  std::filesystem::remove(path);
  crm_program* p = compile_demo();
  crm_runtime_options o;
  crm_runtime_options_init(&o);
  o.ledger_path = path.c_str();
  o.manual_commit = 1;
  crm_runtime* rt = nullptr;
  ASSERT_EQ(crm_runtime_new(p, &o, &rt), CRM_OK) << crm_last_error();
  crm_runtime* second = nullptr;
  EXPECT_EQ(crm_runtime_new(p, &o, &second), CRM_ERR_STATE);  // one writer per ledger
  EXPECT_EQ(second, nullptr);
  load_profile(rt);
  crm_decisions_free(feed(rt, kE1));
  crm_decisions* d = feed(rt, kE2);
  EXPECT_EQ(crm_decisions_count(d), 1u);
  crm_decisions_free(d);
  ASSERT_EQ(crm_runtime_commit(rt), CRM_OK) << crm_last_error();
  crm_runtime_free(rt);

  // A restart on the same ledger: the same event again is a replay of the recorded decision,
  // read back from the ledger, with the same typed fields.
  ASSERT_EQ(crm_runtime_new(p, &o, &rt), CRM_OK) << crm_last_error();
  load_profile(rt);
  crm_decisions_free(feed(rt, kE1));
  d = feed(rt, kE2);
  ASSERT_EQ(crm_decisions_count(d), 1u);
  crm_decision dec;
  ASSERT_EQ(crm_decisions_get(d, 0, &dec), CRM_OK);
  EXPECT_EQ(dec.outcome, CRM_OUTCOME_GRANTED);
  EXPECT_STREQ(dec.strategy, "thanks");
  EXPECT_STREQ(dec.event, "e2");
  EXPECT_EQ(dec.amount_millionths, 10'000'000);
  crm_decisions_free(d);
  crm_runtime_free(rt);
  crm_program_free(p);
}

TEST(CApi, ExplainIsStructuredAndRendered) {
  crm_program* p = compile_demo();
  std::string profiles = "{\"user\":\"u1\",\"age\":40,\"city\":\"Wuhan\"}\n";
  std::string events = kE2 + "\r\n" + kE1 + "\n";  // any order, CRLF too
  crm_explanation* x = nullptr;
  ASSERT_EQ(crm_explain(p, profiles.data(), profiles.size(), events.data(), events.size(), "u1", INT64_MIN, "e2", &x),
            CRM_OK)
      << crm_last_error();
  ASSERT_EQ(crm_explanation_strategy_count(x), 1u);
  crm_explained_strategy s;
  ASSERT_EQ(crm_explanation_strategy(x, 0, &s), CRM_OK);
  EXPECT_STREQ(s.name, "thanks");
  EXPECT_STREQ(s.verdict, "granted");
  EXPECT_STREQ(s.event, "e2");
  ASSERT_GT(s.check_count, 0u);
  ASSERT_EQ(s.decision_count, 1u);
  bool saw_who = false;
  for (size_t i = 0; i < s.check_count; ++i) {
    crm_explained_check c;
    ASSERT_EQ(crm_explanation_check(x, 0, i, &c), CRM_OK);
    if (std::string(c.clause) == "who") saw_who = c.passed;
  }
  EXPECT_TRUE(saw_who);
  crm_explained_check c;
  EXPECT_EQ(crm_explanation_check(x, 0, s.check_count, &c), CRM_ERR_INVALID_ARGUMENT);
  size_t len = 0;
  ASSERT_EQ(crm_explanation_decision(x, 0, 0, nullptr, 0, &len), CRM_ERR_BUFFER_TOO_SMALL);
  std::string json(len + 1, '\0');
  ASSERT_EQ(crm_explanation_decision(x, 0, 0, json.data(), json.size(), &len), CRM_OK);
  EXPECT_NE(json.find("\"outcome\":\"granted\""), std::string::npos) << json;
  ASSERT_EQ(crm_explanation_render(x, CRM_RENDER_TEXT, nullptr, 0, &len), CRM_ERR_BUFFER_TOO_SMALL);
  std::string text(len + 1, '\0');
  ASSERT_EQ(crm_explanation_render(x, CRM_RENDER_TEXT, text.data(), text.size(), &len), CRM_OK);
  EXPECT_NE(text.find("thanks"), std::string::npos) << text;
  EXPECT_EQ(crm_explanation_render(x, CRM_RENDER_TEXT_COLOR, text.data(), text.size(), &len), CRM_ERR_INVALID_ARGUMENT);
  crm_explanation_free(x);

  // A malformed line names its line; an unknown event cannot be answered: both are input errors.
  std::string bad = kE1 + "\n{oops\n";
  EXPECT_EQ(crm_explain(p, nullptr, 0, bad.data(), bad.size(), "u1", kNov11, nullptr, &x), CRM_ERR_INPUT);
  EXPECT_EQ(std::string(crm_last_error()).rfind("events:2: ", 0), 0u) << crm_last_error();
  EXPECT_EQ(x, nullptr);
  EXPECT_EQ(crm_explain(p, nullptr, 0, events.data(), events.size(), "u1", INT64_MIN, "e9", &x), CRM_ERR_INPUT);
  crm_program_free(p);
}

// crm_program_with_jit: the same decisions from native code; without the JIT a clear status.
TEST(CApi, AProgramWithTheJitDecidesAsTheVm) {
  crm_program* p = compile_demo();
  ASSERT_NE(p, nullptr);
  crm_program* native = nullptr;
  if (!crm_jit_available()) {
    EXPECT_EQ(crm_program_with_jit(p, &native), CRM_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(crm_last_error()).find("no JIT"), std::string::npos);
    crm_program_free(p);
    return;
  }
  ASSERT_EQ(crm_program_with_jit(p, &native), CRM_OK) << crm_last_error();
  EXPECT_EQ(crm_program_strategy_count(native), crm_program_strategy_count(p));
  std::vector<std::string> out[2];
  crm_program* programs[2] = {p, native};
  for (int k = 0; k < 2; ++k) {
    crm_runtime* rt = nullptr;
    ASSERT_EQ(crm_runtime_new(programs[k], nullptr, &rt), CRM_OK) << crm_last_error();
    load_profile(rt);
    for (const std::string* line : {&kE1, &kE2}) {
      crm_decisions* d = feed(rt, *line);
      for (size_t i = 0; d && i < crm_decisions_count(d); ++i) {
        size_t len = 0;
        crm_decisions_json(d, i, nullptr, 0, &len);
        std::string json(len + 1, '\0');
        EXPECT_EQ(crm_decisions_json(d, i, json.data(), json.size(), &len), CRM_OK);
        json.resize(len);
        out[k].push_back(json);
      }
      crm_decisions_free(d);
    }
    crm_runtime_free(rt);
  }
  EXPECT_EQ(out[0].size(), 1u);
  EXPECT_EQ(out[0], out[1]);
  crm_program_free(native);
  crm_program_free(p);
}

// A zero-initialised crm_runtime_options (a caller that does not call crm_runtime_options_init,
// or was written before dedup_window_micros existed) means the default window of 7 days, not
// a window of 0: a retry 59 minutes late is answered from the ledger. A window set explicitly
// shorter than that lateness refuses the retry.
TEST(CApi, AZeroDedupWindowMeansTheDefault) {
  crm_program* p = compile_demo();
  const std::string late = R"({"id":"e1","type":"Order","user":"u1","time":"2026-11-11T01:00:00Z","amount":60})";
  const std::string next = R"({"id":"e2","type":"Order","user":"u1","time":"2026-11-11T01:59:00Z","amount":70.5})";
  for (int64_t window : {int64_t(0), int64_t(60'000'000)}) {
    std::string path = ::testing::TempDir() + "c_api_dedup_" + std::to_string(window) + ".db";
    std::filesystem::remove(path);
    crm_runtime_options o;
    std::memset(&o, 0, sizeof o);
    o.ledger_path = path.c_str();
    o.dedup_window_micros = window;
    crm_runtime* rt = nullptr;
    ASSERT_EQ(crm_runtime_new(p, &o, &rt), CRM_OK) << crm_last_error();
    load_profile(rt);
    crm_decisions_free(feed(rt, late));
    crm_decisions_free(feed(rt, next));
    crm_decisions* d = feed(rt, late, window == 0 ? CRM_OK : CRM_ERR_INPUT);  // the retry of e1
    if (window != 0) {
      EXPECT_NE(std::string(crm_last_error()).find("dedup window"), std::string::npos) << crm_last_error();
    }
    crm_decisions_free(d);
    crm_runtime_free(rt);
  }
  crm_program_free(p);
}

// The limits crm_runtime_options gained in CRM_C_API_VERSION 3, as `crm run --max-time-jump`
// and `--max-schedule-runs` (docs/semantics.md, "Event order"): an event far ahead of the clock
// (2062 typed for 2026) is refused with CRM_ERR_INPUT and the clock stays, so the next event is
// decided, not late. A zero-initialised struct means the defaults (366 days, 100,000 runs), the
// largest value no limit (then the far event makes the next one late), a negative jump is
// refused. A set jump is exact: a step of exactly it is taken.
TEST(CApi, TheRuntimeOptionsBoundTimeJumpsAndScheduledRuns) {
  EXPECT_EQ(CRM_C_API_VERSION, 3);
  crm_runtime_options o;
  crm_runtime_options_init(&o);
  EXPECT_EQ(o.max_time_jump_micros, 366LL * 86400 * 1000000);
  EXPECT_EQ(o.max_schedule_runs, 100000u);
  crm_program* p = compile_demo();
  const std::string far = R"({"id":"e9","type":"Order","user":"u1","time":"2062-11-11T01:30:00Z","amount":60})";
  for (int64_t jump : {int64_t(0), INT64_MAX}) {
    SCOPED_TRACE(jump);
    crm_runtime_options z;
    std::memset(&z, 0, sizeof z);
    z.max_time_jump_micros = jump;
    crm_runtime* rt = nullptr;
    ASSERT_EQ(crm_runtime_new(p, &z, &rt), CRM_OK) << crm_last_error();
    load_profile(rt);
    crm_decisions_free(feed(rt, kE1));
    crm_decisions* d = feed(rt, far, jump == 0 ? CRM_ERR_INPUT : CRM_OK);
    if (jump == 0) {
      EXPECT_EQ(std::string(crm_last_error()).rfind("too far ahead: the event at 2062-11-11T01:30:00Z is 13149 days 30 "
                                                    "minutes after the stream's clock at 2026-11-11T01:00:00Z", 0),
                0u)
          << crm_last_error();
    }
    crm_decisions_free(d);
    crm_decisions_free(feed(rt, kE2, jump == 0 ? CRM_OK : CRM_ERR_INPUT));  // 02:00: late only if the far event was taken
    crm_runtime_free(rt);
  }
  crm_runtime* rt = nullptr;
  crm_runtime_options_init(&o);
  o.max_time_jump_micros = -1;
  EXPECT_EQ(crm_runtime_new(p, &o, &rt), CRM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(crm_last_error()).find("max_time_jump_micros"), std::string::npos) << crm_last_error();
  crm_runtime_options_init(&o);
  o.max_time_jump_micros = 3'600'000'000;  // 1 hour: kE2 is exactly that after kE1
  ASSERT_EQ(crm_runtime_new(p, &o, &rt), CRM_OK) << crm_last_error();
  load_profile(rt);
  crm_decisions_free(feed(rt, kE1));
  crm_decisions_free(feed(rt, R"({"id":"e3","type":"Order","user":"u1","time":"2026-11-11T02:00:01Z","amount":60})",
                          CRM_ERR_INPUT));
  crm_decisions_free(feed(rt, kE2));
  crm_runtime_free(rt);
  crm_program_free(p);

  // Scheduled runs: events at 00:30 and 03:30 under `every 1 hour` bring 3 instants due at once.
  const char* names[] = {"hourly"};
  const char* texts[] = {"event Visit { page: String }\nresource push hi { body: \"hi\" }\n"
                         "strategy hourly { who: true  when: every 1 hour  what: send hi via Push }\n"};
  crm_compilation* c = nullptr;
  ASSERT_EQ(crm_compile_sources(names, texts, nullptr, 1, nullptr, &c), CRM_OK)
      << text_of(crm_compilation_render, c, CRM_RENDER_TEXT);
  crm_program* hourly = nullptr;
  ASSERT_EQ(crm_compilation_program(c, &hourly), CRM_OK);
  crm_compilation_free(c);
  const std::string v1 = R"({"id":"v1","type":"Visit","user":"a","time":"2026-01-01T00:30:00Z","page":"x"})";
  const std::string v2 = R"({"id":"v2","type":"Visit","user":"a","time":"2026-01-01T03:30:00Z","page":"x"})";
  for (uint64_t runs : {uint64_t(2), uint64_t(3), uint64_t(0), UINT64_MAX}) {
    SCOPED_TRACE(runs);
    crm_runtime_options z;
    std::memset(&z, 0, sizeof z);
    z.max_schedule_runs = runs;
    ASSERT_EQ(crm_runtime_new(hourly, &z, &rt), CRM_OK) << crm_last_error();
    crm_decisions_free(feed(rt, v1));
    crm_decisions* d = feed(rt, v2, runs == 2 ? CRM_ERR_INPUT : CRM_OK);
    if (runs == 2) {
      EXPECT_NE(std::string(crm_last_error()).find("would bring more than 2 scheduled runs"), std::string::npos)
          << crm_last_error();
    } else {
      EXPECT_EQ(crm_decisions_count(d), 3u);  // 01:00, 02:00, 03:00 to user a
    }
    crm_decisions_free(d);
    crm_runtime_free(rt);
  }
  crm_program_free(hourly);
}
