/* crm/crm.h - the C API of crm, for embedding it from C and from other languages (Python
 * ctypes, Go cgo, Rust, ...). It is a thin layer over the C++ API (crm/check.h, crm/runtime.h)
 * and says the same things; docs/embedding.md shows it in use.
 *
 * Conventions (every function follows them):
 *   - The header is C89/C99 and C++ compatible; no C++ type crosses it and no exception
 *     escapes it (an internal failure is CRM_ERR_INTERNAL).
 *   - Objects are opaque handles made by a crm_*_new/crm_compile_* function and released by
 *     the matching crm_*_free, which accepts NULL.
 *   - Most functions return a crm_status. On failure the reason is in crm_last_error(),
 *     per thread, until the next call of this API on the same thread. Out-parameters are
 *     written only on success unless a function says otherwise.
 *   - Text is UTF-8. Input text is given as (pointer, length) where a length is named, else
 *     as a NUL-terminated string. Output text is copied into a buffer the caller owns:
 *     (buf, cap, len) writes the text and a terminating NUL when cap > *len, else returns
 *     CRM_ERR_BUFFER_TOO_SMALL and writes nothing into buf; *len (when len is not NULL) is
 *     always set to the text's length in bytes, without the NUL. So call once with
 *     buf = NULL, cap = 0 to learn the size. Strings inside result structs (crm_diagnostic,
 *     crm_decision, ...) point into the handle they came from and stay valid until it is freed.
 *   - Units: times are microseconds since the Unix epoch (UTC), int64_t. Money is int64_t
 *     millionths of its currency: 139.12 CNY is 139120000 (exact decimal, never a double).
 *   - Thread safety is stated per function. In short: a crm_program is immutable and may be
 *     shared by any number of threads; a crm_runtime may be fed by many threads at once;
 *     results (crm_compilation, crm_decisions, crm_explanation, crm_audience) may be read
 *     concurrently but not freed while another thread reads them; crm_compile_options is
 *     not thread-safe.
 */
#ifndef CRM_CRM_H
#define CRM_CRM_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define CRM_API __declspec(dllexport)
#elif defined(__GNUC__)
#define CRM_API __attribute__((visibility("default")))
#else
#define CRM_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this C API's contract. Increased when a function or a struct's layout changes
 * incompatibly (2: crm_runtime_options gained dedup_window_micros; 3: it gained
 * max_schedule_runs and max_time_jump_micros). */
#define CRM_C_API_VERSION 3

/* ---- status codes ----------------------------------------------------------------------- */

/* The caller's mistakes (CRM_ERR_INVALID_ARGUMENT, CRM_ERR_BUFFER_TOO_SMALL, CRM_ERR_PROGRAM,
 * CRM_ERR_INPUT) are kept apart from failures of the environment (CRM_ERR_STATE) and of the
 * library (CRM_ERR_INTERNAL). */
typedef enum crm_status {
  CRM_OK = 0,
  CRM_ERR_INVALID_ARGUMENT = 1, /* a NULL or malformed argument, an index out of range */
  CRM_ERR_BUFFER_TOO_SMALL = 2, /* the caller's buffer cannot hold the text: *len says how much */
  CRM_ERR_PROGRAM = 3,          /* the program has errors: read the diagnostics */
  CRM_ERR_INPUT = 4,            /* malformed data: an event or profile line, a late event, a .crmc,
                                   an explain request that cannot be answered */
  CRM_ERR_STATE = 5,            /* the ledger cannot be opened, written or committed */
  CRM_ERR_INTERNAL = 6,         /* a failure inside crm (a bug, or memory exhausted); one while a
                                   runtime was fed or committed stops it: every later call that
                                   feeds, commits or reloads it answers this (crm::ErrorKind) */
  CRM_ERR_UNSUPPORTED = 7       /* this build lacks what was asked for (the JIT, built without LLVM) */
} crm_status;

/* A short constant name for a status, e.g. "CRM_ERR_INPUT". Any thread. */
CRM_API const char* crm_status_name(crm_status status);

/* The message of the last failed call of this API on the calling thread ("" if none), e.g.
 * "column 12: expected `,` or `}`". Valid until the next call of this API on this thread;
 * never NULL. Any thread (the message is per thread). */
CRM_API const char* crm_last_error(void);

/* The library's version, "MAJOR.MINOR.PATCH" (static storage). Any thread. */
CRM_API const char* crm_version(void);
/* CRM_C_API_VERSION of the library actually loaded (compare with the header's). Any thread. */
CRM_API int crm_api_version(void);

/* ---- opaque handles ----------------------------------------------------------------------- */

typedef struct crm_compile_options crm_compile_options;
typedef struct crm_compilation crm_compilation;
typedef struct crm_program crm_program;
typedef struct crm_runtime crm_runtime;
typedef struct crm_decisions crm_decisions;
typedef struct crm_explanation crm_explanation;
typedef struct crm_audience crm_audience;

/* ---- compile options ------------------------------------------------------------------- */

/* Options of crm_compile_*: include directories and input limits (the C++ CheckOptions).
 * Defaults: no include directory, 1 MiB per file, nesting 128, 100 errors, 1000 modules.
 * One thread at a time per handle; the compile functions only read it. */
CRM_API crm_status crm_compile_options_new(crm_compile_options** out);
CRM_API void crm_compile_options_free(crm_compile_options* options);
/* Also looks for `import a.b` as DIR/a/b.crm. */
CRM_API crm_status crm_compile_options_add_include_dir(crm_compile_options* options, const char* dir);

typedef enum crm_limit {
  CRM_LIMIT_MAX_FILE_BYTES = 0, /* bytes per source file */
  CRM_LIMIT_MAX_NESTING = 1,    /* expression nesting levels (at most 2000) */
  CRM_LIMIT_MAX_ERRORS = 2,     /* errors kept; further ones are counted */
  CRM_LIMIT_MAX_MODULES = 3     /* modules in one program, imports included */
} crm_limit;
/* Sets a limit; value must be at least 1 (and within the limit's maximum: a larger one is
   CRM_ERR_INVALID_ARGUMENT, never cut to fit). */
CRM_API crm_status crm_compile_options_set_limit(crm_compile_options* options, crm_limit limit, uint64_t value);

/* ---- compiling ----------------------------------------------------------------------------- */

/* Checks and compiles a program. `options` may be NULL (defaults). Any thread; different
 * calls are independent.
 *
 * On CRM_OK the program compiled (it may have warnings) and *out is a compilation to read the
 * diagnostics and the program from. On CRM_ERR_PROGRAM the program has errors and *out is set
 * too: read its diagnostics. On CRM_ERR_INTERNAL *out is set as well, with one diagnostic of
 * code "internal". On CRM_ERR_INVALID_ARGUMENT *out is NULL. Free *out with
 * crm_compilation_free. */

/* From `count` files; `import` is resolved beside each file, then in the include dirs. An
 * unreadable file is a diagnostic (E0107), not a status. */
CRM_API crm_status crm_compile_files(const char* const* paths, size_t count, const crm_compile_options* options,
                                     crm_compilation** out);
/* From in-memory modules: names[i] (a module name such as "shop.rules") -> texts[i] (UTF-8,
 * lengths[i] bytes; lengths may be NULL for NUL-terminated texts). Every module is part of the
 * program; `import shop.rules` finds the module of that name among them, then the standard
 * library, then the include dirs on disk (never the current directory). Diagnostics name a
 * module by its path shop/rules.crm. Names must be distinct and non-empty; a `module` line in a
 * text must match its name (else error E0201). */
CRM_API crm_status crm_compile_sources(const char* const* names, const char* const* texts, const size_t* lengths,
                                       size_t count, const crm_compile_options* options, crm_compilation** out);
CRM_API void crm_compilation_free(crm_compilation* compilation);

/* Counts of the diagnostics. Any thread. */
CRM_API size_t crm_compilation_error_count(const crm_compilation* compilation);
CRM_API size_t crm_compilation_warning_count(const crm_compilation* compilation);
CRM_API size_t crm_compilation_diagnostic_count(const crm_compilation* compilation);

typedef enum crm_severity { CRM_SEVERITY_ERROR = 0, CRM_SEVERITY_WARNING = 1, CRM_SEVERITY_NOTE = 2 } crm_severity;

/* One diagnostic. Lines and columns are 1-based (columns count characters); 0 when the
 * diagnostic has no location, and then file is "". help is "" when there is none. */
typedef struct crm_diagnostic {
  const char* code; /* stable, e.g. "E0401" (docs/diagnostics.md); "internal" for CRM_ERR_INTERNAL */
  crm_severity severity;
  const char* file;
  uint32_t line, column;         /* where it begins */
  uint32_t end_line, end_column; /* where it ends */
  const char* message;
  const char* help;
} crm_diagnostic;
/* Fills *out with diagnostic `index` (0 <= index < count), in the order `crm check` prints
 * them. The strings belong to the compilation. Any thread. */
CRM_API crm_status crm_compilation_diagnostic(const crm_compilation* compilation, size_t index, crm_diagnostic* out);

typedef enum crm_render_format {
  CRM_RENDER_TEXT = 0,       /* caret snippets, as `crm check` prints them ("" when nothing to say) */
  CRM_RENDER_TEXT_COLOR = 1, /* the same with ANSI colours */
  CRM_RENDER_JSON = 2        /* {"diagnostics":[...]} as `crm check --format json` prints it */
} crm_render_format;
/* The diagnostics rendered; output convention (buf, cap, len) above. Any thread. */
CRM_API crm_status crm_compilation_render(const crm_compilation* compilation, crm_render_format format, char* buf,
                                          size_t cap, size_t* len);

/* The compiled program: a new reference in *out (free it with crm_program_free; it stays valid
 * after the compilation is freed). CRM_ERR_PROGRAM when the compilation has errors. Any thread. */
CRM_API crm_status crm_compilation_program(const crm_compilation* compilation, crm_program** out);

/* ---- programs ------------------------------------------------------------------------------ */

/* Loads a compiled program from the `.crmc` bytes of crm_program_serialize or `crm compile -o`.
 * CRM_ERR_INPUT when the bytes are not a valid program of this version. Any thread. */
CRM_API crm_status crm_program_load(const void* bytes, size_t size, crm_program** out);
CRM_API void crm_program_free(crm_program* program);
/* The versioned, checksummed `.crmc` bytes; output convention (buf, cap, len), where the NUL
 * written after them is not part of the program. Any thread. */
CRM_API crm_status crm_program_serialize(const crm_program* program, char* buf, size_t cap, size_t* len);
/* Segments and strategies in program order; names (static while the program lives) via the
 * index. Any thread. */
CRM_API size_t crm_program_segment_count(const crm_program* program);
CRM_API const char* crm_program_segment_name(const crm_program* program, size_t index); /* NULL if out of range */
CRM_API size_t crm_program_strategy_count(const crm_program* program);
CRM_API const char* crm_program_strategy_name(const crm_program* program, size_t index); /* NULL if out of range */
/* Native code (the LLVM JIT): a new program in *out, the same one run as native code by every
 * runtime made from it, with the VM's results (faults included); units compile on first use.
 * CRM_ERR_UNSUPPORTED in a build without the JIT (crm_jit_available() is 0), never a silent
 * fallback to the VM. Any thread. */
CRM_API int crm_jit_available(void);
CRM_API crm_status crm_program_with_jit(const crm_program* program, crm_program** out);

/* ---- the streaming runtime ----------------------------------------------------------------- */

/* Options of a runtime (the C++ Runtime's). Initialise with crm_runtime_options_init, then set
 * what differs from the defaults. */
typedef struct crm_runtime_options {
  /* A SQLite ledger file: decisions are recorded there and a restarted runtime continues from
   * it (docs/semantics.md, "Durable state"). NULL: state in memory only. A ledger another
   * runtime (in any process) has open is refused. */
  const char* ledger_path;
  /* 0: each crm_runtime_process_event returns once its decisions are committed (concurrent
   * callers share one commit). 1: the caller calls crm_runtime_commit and must not act on
   * decisions before it succeeds. Only with a ledger. */
  int manual_commit;
  /* 1: continue a ledger recorded by a program whose strategies differ, when every changed
   * strategy's counters can carry over (docs/semantics.md, "Program identity"). */
  int allow_program_change;
  /* How far events may be out of time order, in microseconds (default 0): older events are
   * refused with CRM_ERR_INPUT; events within it are held and decided in time order. */
  int64_t allowed_lateness_micros;
  /* The dedup window, in microseconds (docs/semantics.md, "Event order"): with a ledger, a
   * retried event id is answered from it while the event's time is at least the watermark
   * minus this; an older retry is refused as late (CRM_ERR_INPUT, nothing changes). Default
   * 7 days (604800000000), also when 0 (a zero-initialised struct): a window of 0 cannot be
   * asked for, use 1. INT64_MAX (or any value beyond the stream's span) keeps every id;
   * negative is CRM_ERR_INVALID_ARGUMENT. Added in CRM_C_API_VERSION 2: the struct grew, so a
   * caller built against version 1 must be rebuilt. */
  int64_t dedup_window_micros;
  /* Scheduled runs one event (or clock move) may bring due at once (docs/semantics.md, "Event
   * order"; `crm run --max-schedule-runs`): an event after which more `at`/`every` instants
   * would run is refused with CRM_ERR_INPUT and changes nothing. Default 100,000, also when 0
   * (a zero-initialised struct); UINT64_MAX: no limit. */
  uint64_t max_schedule_runs;
  /* How far ahead of the stream's clock one event may be, in microseconds (docs/semantics.md,
   * "Event order"; `crm run --max-time-jump`): an event more than this after the clock (the
   * latest event time seen; before the first event, the ledger's latest event or decision) is refused
   * with CRM_ERR_INPUT, is not decided and does not move the clock, so a typo such as year
   * 2062 for 2026 cannot make every later event late. A stream's first event with no ledger
   * clock is never refused. Default 366 days (31622400000000), also when 0 (a
   * zero-initialised struct); INT64_MAX: no limit; negative is CRM_ERR_INVALID_ARGUMENT.
   * max_schedule_runs and this were added in CRM_C_API_VERSION 3: the struct grew, so a caller
   * built against version 2 must be rebuilt. */
  int64_t max_time_jump_micros;
} crm_runtime_options;
/* Sets the defaults: in memory, commit on return, no program change, lateness 0, dedup window
 * 7 days, 100,000 scheduled runs per event, a time jump of at most 366 days. */
CRM_API void crm_runtime_options_init(crm_runtime_options* options);

/* A runtime over `program` (which it keeps a reference to: the program may be freed after).
 * `options` may be NULL (defaults). CRM_ERR_STATE when the ledger cannot be opened or is
 * refused (crm_last_error says why). Any thread. */
CRM_API crm_status crm_runtime_new(const crm_program* program, const crm_runtime_options* options,
                                   crm_runtime** out);
/* Frees the runtime (uncommitted decisions of a manual-commit runtime are lost). Not while
 * another thread uses it. */
CRM_API void crm_runtime_free(crm_runtime* runtime);
/* Notices of opening the ledger (e.g. a program change that was accepted), one per index,
 * written as for output text; CRM_ERR_INVALID_ARGUMENT past the last. Any thread. */
CRM_API size_t crm_runtime_notice_count(const crm_runtime* runtime);
CRM_API crm_status crm_runtime_notice(const crm_runtime* runtime, size_t index, char* buf, size_t cap, size_t* len);

/* One user's profile, a JSON object (docs/runtime.md, "Profiles"): one line of `size` bytes
 * without its line terminator. CRM_ERR_INPUT when malformed (nothing changes). Thread-safe. */
CRM_API crm_status crm_runtime_load_profile(crm_runtime* runtime, const char* json, size_t size);

/* Applies one event, a JSON object (docs/runtime.md, "Events"): one line of `size` bytes
 * without its line terminator. Returns in *out the decisions it caused (with any scheduled
 * deliveries due by its time, redemptions and expiries, and the decisions of held events it
 * releases); there may be none. Free *out with
 * crm_decisions_free. CRM_ERR_INPUT: the line is malformed, late or out of order, and nothing
 * changed. CRM_ERR_STATE: the ledger failed; the runtime refuses further events.
 * CRM_ERR_INTERNAL: crm itself failed (memory exhausted, a bug); if it happened while the event
 * was applied, the runtime stops: every later call that feeds it or commits answers
 * CRM_ERR_INTERNAL with the same message and nothing more is committed (crm::ErrorKind).
 * Thread-safe: any number of threads may feed one runtime; decisions are made one at a time,
 * so limits, stock and budgets hold exactly. */
CRM_API crm_status crm_runtime_process_event(crm_runtime* runtime, const char* json, size_t size,
                                             crm_decisions** out);
/* End of the stream: decides every held event and runs the schedules due by the latest event.
 * Thread-safe. */
CRM_API crm_status crm_runtime_finish(crm_runtime* runtime, crm_decisions** out);
/* Makes everything decided so far durable (manual_commit). CRM_ERR_STATE on failure; the
 * runtime then refuses events. CRM_ERR_INTERNAL when the runtime stopped at an internal error
 * (nothing is committed then). Thread-safe. */
CRM_API crm_status crm_runtime_commit(crm_runtime* runtime);

/* Hot reload (docs/semantics.md, "Hot reload"), as crm::Runtime::enable_reload and reload.
 * crm_runtime_enable_reload: keep the runtime's input (in a temporary file) so that a program
 * can be swapped in; after crm_runtime_new and before any profile or event (without a ledger
 * it keeps one in memory, so repeated event ids are then answered from it). Thread-safe.
 * crm_runtime_reload: swaps in `program` between two events, continuing as a restart with it
 * would: decisions made so far are committed and never made again; unchanged strategies keep
 * their counters, A/B arms and pending timers. Changed strategies follow the ledger's program
 * identity rules (allow_program_change as in crm_runtime_options). *out receives what the new
 * program decided for instants already passed (often none; free it with crm_decisions_free).
 * CRM_ERR_INPUT when refused (crm_last_error says why): the running program goes on and
 * nothing changed. CRM_ERR_STATE when the ledger failed. Thread-safe: calls on other threads
 * wait for it, then go on with the new program. */
CRM_API crm_status crm_runtime_enable_reload(crm_runtime* runtime);
CRM_API crm_status crm_runtime_reload(crm_runtime* runtime, const crm_program* program, int allow_program_change,
                                      crm_decisions** out);

/* Users per segment and per strategy `who` at `at_micros` (batch evaluation over the users
 * seen so far). A read: it changes nothing, at any instant at or after the runtime's clock (its
 * latest event decided or scheduled instant run), later ones too. CRM_ERR_INPUT for an instant
 * before the clock (sliding windows have forgotten what it would count; crm_last_error says
 * so): crm::Runtime::audience in runtime.h. Thread-safe. */
CRM_API crm_status crm_runtime_audience(crm_runtime* runtime, int64_t at_micros, crm_audience** out);
CRM_API void crm_audience_free(crm_audience* audience);
CRM_API size_t crm_audience_count(const crm_audience* audience);
/* The users of a strategy the audience cannot count: an event strategy whose `who:` reads a field
 * of its trigger event other than `user` (the user counted) and `time` (at_micros). */
#define CRM_AUDIENCE_NOT_COUNTED ((int64_t)-1)
/* Entry `index`: segments first, then strategies, in program order. *name belongs to the
 * audience; is_strategy (may be NULL) is 1 for a strategy's audience; *users may be
 * CRM_AUDIENCE_NOT_COUNTED for a strategy (see above). Any thread. */
CRM_API crm_status crm_audience_entry(const crm_audience* audience, size_t index, const char** name,
                                      int64_t* users, int* is_strategy);

/* ---- decisions ------------------------------------------------------------------------------ */

typedef enum crm_outcome {
  CRM_OUTCOME_GRANTED = 0,
  CRM_OUTCOME_REJECTED = 1,
  CRM_OUTCOME_CONTROL = 2,
  CRM_OUTCOME_REDEEMED = 3,
  CRM_OUTCOME_REDEEM_REJECTED = 4,
  CRM_OUTCOME_EXPIRED = 5,
  CRM_OUTCOME_HELD = 6,
  CRM_OUTCOME_PENDING = 7,   /* a delayed trigger armed a timer */
  CRM_OUTCOME_CANCELLED = 8, /* a pending timer was cancelled */
  CRM_OUTCOME_ROLLOUT = 9    /* a roll-out's choice of the winning arm (`arm`; none: reason no_winner) */
} crm_outcome;

/* One decision: the fields of its JSON line (docs/runtime.md, "Decisions"), typed. Strings are
 * "" when the line has null; they belong to the crm_decisions handle. */
typedef struct crm_decision {
  crm_outcome outcome;
  const char* outcome_name; /* as in the JSON: "granted", "redeem_rejected", ... */
  const char* event;        /* the trigger event's id; "" for scheduled deliveries and expiries */
  const char* user;
  const char* strategy;     /* "" for a redemption that names no grant */
  const char* reason;       /* rejected, redeem_rejected: why */
  const char* resource;
  const char* channel;
  const char* code;
  int64_t at_micros;
  int has_amount;              /* granted/expired coupons: the face value; redeemed: the subsidy */
  int64_t amount_millionths;
  int has_sales;               /* redeemed: the order amount */
  int64_t sales_millionths;
  const char* currency;        /* of amount and sales */
  int has_granted_at;          /* redeemed, redeem_rejected, expired: when the grant was made */
  int64_t granted_at_micros;
  int released;                /* a held message released when quiet hours end ... */
  int64_t held_at_micros;      /* ... and when it was held */
  const char* json;            /* the decision exactly as `crm run` writes it (no newline) */
} crm_decision;

CRM_API void crm_decisions_free(crm_decisions* decisions);
CRM_API size_t crm_decisions_count(const crm_decisions* decisions);
/* Fills *out with decision `index`. Any thread. */
CRM_API crm_status crm_decisions_get(const crm_decisions* decisions, size_t index, crm_decision* out);
/* Decision `index` as its JSON line; output convention (buf, cap, len). Any thread. */
CRM_API crm_status crm_decisions_json(const crm_decisions* decisions, size_t index, char* buf, size_t cap,
                                      size_t* len);

/* ---- explain ------------------------------------------------------------------------------- */

/* What the engine decides for one user and why, as `crm explain` (docs/semantics.md,
 * "Explain"). `profiles` and `events` are JSON Lines texts (`*_size` bytes; either may be
 * NULL with size 0), events in any order. Either at_micros is the instant (scheduled
 * strategies as a run then, event strategies against the user's latest event of their type),
 * or event_id (not NULL, non-empty) names the event whose decision is explained and at_micros
 * is INT64_MIN. CRM_ERR_INPUT: a malformed line ("events:LINE: ..."), a user with two records
 * in `profiles` ("profiles:LINE: user `u` appears twice (first on line N)"), or the request cannot be
 * answered (no such event, another user's). The clause detail (which part of `who` failed,
 * with values) needs a program compiled from sources, not loaded from .crmc. Any thread. */
CRM_API crm_status crm_explain(const crm_program* program, const char* profiles, size_t profiles_size,
                               const char* events, size_t events_size, const char* user, int64_t at_micros,
                               const char* event_id, crm_explanation** out);
CRM_API void crm_explanation_free(crm_explanation* explanation);
/* The explanation as `crm explain` prints it: CRM_RENDER_TEXT or CRM_RENDER_JSON (`--format
 * json`). Output convention (buf, cap, len). Any thread. */
CRM_API crm_status crm_explanation_render(const crm_explanation* explanation, crm_render_format format, char* buf,
                                          size_t cap, size_t* len);
CRM_API size_t crm_explanation_strategy_count(const crm_explanation* explanation);

typedef struct crm_explained_strategy {
  const char* name;
  /* granted, held, rejected, control, no_match, outside_window, not_triggered, pending (a timer
   * armed, not yet due) */
  const char* verdict;
  const char* event;     /* the trigger event; "" for a scheduled run */
  int64_t at_micros;
  size_t check_count;    /* checks, for crm_explanation_check */
  size_t decision_count; /* decisions it would record, for crm_explanation_decision */
} crm_explained_strategy;
/* Strategy `index`, in program order. Any thread. */
CRM_API crm_status crm_explanation_strategy(const crm_explanation* explanation, size_t index,
                                            crm_explained_strategy* out);

typedef struct crm_explained_check {
  /* when, if, who, where, split, per_user, exclusive, stock, budget, pacing, claim_window,
   * use_window, unredeemed_limit, same_type, quiet_hours, channel_cap */
  const char* clause;
  int passed;
  const char* detail; /* e.g. "per user 1 per day: 1 already granted today (...)" */
  int action;         /* 1-based action of an action check; 0 for the strategy as a whole */
  const char* policy; /* the policy of a policy check, else "" */
} crm_explained_check;
/* Check `check` of strategy `strategy`, in the order the engine takes them. Any thread. */
CRM_API crm_status crm_explanation_check(const crm_explanation* explanation, size_t strategy, size_t check,
                                         crm_explained_check* out);
/* Decision `decision` the engine would record for strategy `strategy`, as a JSON line; output
 * convention (buf, cap, len). Any thread. */
CRM_API crm_status crm_explanation_decision(const crm_explanation* explanation, size_t strategy, size_t decision,
                                            char* buf, size_t cap, size_t* len);

#ifdef __cplusplus
}
#endif

#endif /* CRM_CRM_H */
