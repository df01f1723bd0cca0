/* c_api_smoke.c - include/crm/crm.h used from C (compiled as C99 with -pedantic, so the header is
 * proven to be C): compile from memory, stream two events, read a typed decision, explain. Exits 0
 * when every check holds, 1 with the failed check otherwise. */
#include <crm/crm.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                                \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
              crm_last_error());                                                   \
      ++failures;                                                                  \
    }                                                                              \
  } while (0)

static const char* kRules =
    "profile { age: Int }\n"
    "event Order { amount: Money(CNY) }\n"
    "resource coupon c10 { discount: 10.5 CNY  threshold: 50 CNY }\n"
    "segment repeat_buyer = count(Order within 30 days) >= 2\n"
    "strategy thanks { who: repeat_buyer and age >= 18  when: on Order  what: grant c10 via App code \"T\" }\n";

static crm_decisions* feed(crm_runtime* rt, const char* line, crm_status expect) {
  crm_decisions* d = NULL;
  crm_status s = crm_runtime_process_event(rt, line, strlen(line), &d);
  if (s != expect) fprintf(stderr, "event %s: %s: %s\n", line, crm_status_name(s), crm_last_error());
  CHECK(s == expect);
  return d;
}

int main(void) {
  const char* names[1];
  const char* texts[1];
  crm_compilation* c = NULL;
  crm_program* p = NULL;
  crm_runtime* rt = NULL;
  crm_decisions* d = NULL;
  crm_decision dec;
  crm_explanation* x = NULL;
  const char* profile = "{\"user\":\"u1\",\"age\":30}";
  const char* e1 = "{\"id\":\"e1\",\"type\":\"Order\",\"user\":\"u1\",\"time\":\"2026-11-11T01:00:00Z\",\"amount\":60}";
  char small[4];
  size_t len = 0;
  char* text;

  printf("crm %s, C API %d\n", crm_version(), crm_api_version());
  CHECK(crm_api_version() == CRM_C_API_VERSION);

  names[0] = "demo";
  texts[0] = kRules;
  CHECK(crm_compile_sources(names, texts, NULL, 1, NULL, &c) == CRM_OK);
  CHECK(crm_compilation_error_count(c) == 0);
  CHECK(crm_compilation_program(c, &p) == CRM_OK);
  crm_compilation_free(c);
  if (!p) return 1;

  CHECK(crm_runtime_new(p, NULL, &rt) == CRM_OK);
  if (!rt) return 1;
  CHECK(crm_runtime_load_profile(rt, profile, strlen(profile)) == CRM_OK);
  d = feed(rt, e1, CRM_OK);
  CHECK(crm_decisions_count(d) == 0);
  crm_decisions_free(d);
  d = feed(rt, "{\"id\":\"e2\",\"type\":\"Order\",\"user\":\"u1\",\"time\":\"2026-11-11T02:00:00Z\",\"amount\":70}", CRM_OK);
  CHECK(crm_decisions_count(d) == 1);
  if (crm_decisions_count(d) != 1 || crm_decisions_get(d, 0, &dec) != CRM_OK) return 1;
  CHECK(dec.outcome == CRM_OUTCOME_GRANTED);
  CHECK(strcmp(dec.strategy, "thanks") == 0);
  CHECK(dec.has_amount && dec.amount_millionths == 10500000); /* 10.5 CNY */
  CHECK(dec.at_micros == INT64_C(1794362400000000));          /* 2026-11-11T02:00:00Z */
  CHECK(crm_decisions_json(d, 0, small, sizeof small, &len) == CRM_ERR_BUFFER_TOO_SMALL);
  CHECK(len == strlen(dec.json));
  printf("%s\n", dec.json);
  crm_decisions_free(d);

  /* Errors: a malformed line and NULL arguments are statuses, not crashes. */
  d = feed(rt, "{\"id\":", CRM_ERR_INPUT);
  CHECK(d == NULL);
  CHECK(crm_runtime_process_event(NULL, "{}", 2, &d) == CRM_ERR_INVALID_ARGUMENT);

  CHECK(crm_explain(p, profile, strlen(profile), e1, strlen(e1), "u1", INT64_C(1794362400000000), NULL, &x) == CRM_OK);
  CHECK(crm_explanation_render(x, CRM_RENDER_TEXT, NULL, 0, &len) == CRM_ERR_BUFFER_TOO_SMALL);
  text = (char*)malloc(len + 1);
  CHECK(text && crm_explanation_render(x, CRM_RENDER_TEXT, text, len + 1, &len) == CRM_OK);
  if (text) CHECK(strstr(text, "thanks") != NULL);
  free(text);
  crm_explanation_free(x);

  crm_runtime_free(rt);
  crm_program_free(p);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
