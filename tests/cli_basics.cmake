# cli_basics.cmake - the crm tool's contract: exit codes, help for every command, JSON output.
function(expect_run expected_rc)
  execute_process(COMMAND ${CRM} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL expected_rc)
    message(FATAL_ERROR "crm ${ARGN}: exit ${rc}, expected ${expected_rc}\n${out}${err}")
  endif()
  set(last_out "${out}" PARENT_SCOPE)
  set(last_err "${err}" PARENT_SCOPE)
endfunction()

expect_run(0 --help)
foreach(cmd check format parse compile run audience explain import)
  expect_run(0 help ${cmd})
  if(NOT last_out MATCHES "usage: crm ${cmd}")
    message(FATAL_ERROR "crm help ${cmd} does not show its usage:\n${last_out}")
  endif()
endforeach()
expect_run(2 check)                          # usage error: no files
expect_run(2 frobnicate)                     # unknown command
expect_run(2 run ${ROOT}/examples/double11.crm)  # run needs --events

# A correct program: exit 0, nothing on stderr.
expect_run(0 check -q ${ROOT}/examples/double11.crm)
if(NOT last_err STREQUAL "")
  message(FATAL_ERROR "crm check printed on stderr for a correct program:\n${last_err}")
endif()

# A broken one: exit 1, and --format json gives machine-readable diagnostics.
set(bad ${CMAKE_CURRENT_BINARY_DIR}/cli_basics_bad.crm)
file(WRITE ${bad} "profile { age: Int }\nsegment s = age > \"x\"\n")
expect_run(1 check --format json ${bad})
if(NOT last_out MATCHES "\"code\":\"E0401\"" OR NOT last_out MATCHES "\"line\":2")
  message(FATAL_ERROR "crm check --format json did not report E0401 at line 2:\n${last_out}")
endif()

# One argument parser (CLI11) for every command: unknown options are usage errors, and
# `--opt=value` means exactly `--opt value`.
foreach(cmd check format parse compile run audience explain import codes version)
  expect_run(2 ${cmd} --no-such-option)
  if(NOT last_err MATCHES "--no-such-option")
    message(FATAL_ERROR "crm ${cmd} --no-such-option does not name the option:\n${last_err}")
  endif()
  expect_run(0 ${cmd} --help)
  expect_run(0 ${cmd} --color=never --help)
endforeach()
expect_run(2 run ${ROOT}/examples/double11.crm --events)          # a value is missing
expect_run(2 run ${ROOT}/examples/double11.crm --events x --commit-every=0)
expect_run(2 check --format=xml ${ROOT}/examples/double11.crm)
set(run_golden ${ROOT}/tests/golden/run/limits)
expect_run(0 audience ${run_golden}.crm --events ${run_golden}.events.jsonl --at 2026-12-01T00:00:00Z --format json)
set(spaced "${last_out}")
expect_run(0 audience ${run_golden}.crm --events=${run_golden}.events.jsonl --at=2026-12-01T00:00:00Z --format=json)
if(NOT spaced STREQUAL last_out OR NOT last_out MATCHES "^{")
  message(FATAL_ERROR "--opt=value and --opt value differ:\n${spaced}\n${last_out}")
endif()
expect_run(0 check -q -I${ROOT}/examples --max-errors=5 ${ROOT}/examples/double11.crm)
expect_run(0 check -q -I ${ROOT}/examples -I ${ROOT}/stdlib ${ROOT}/examples/double11.crm)  # -I takes one value

# The depth limits have a cap (the depth the compiler's passes are tested to survive): a larger
# value is refused naming the option and the cap, as every other limit option does, never cut to
# the cap behind the user's back; the cap itself is accepted.
foreach(opt --max-nesting --max-decl-depth --max-code-depth)
  foreach(cmd check format parse)
    expect_run(2 ${cmd} ${opt} 2001 ${ROOT}/examples/double11.crm)
    if(NOT last_err MATCHES "${opt}: takes at most 2000, not `2001`")
      message(FATAL_ERROR "crm ${cmd} ${opt} 2001 was not refused with its range:\n${last_err}")
    endif()
  endforeach()
  expect_run(0 check -q -I${ROOT}/examples ${opt} 2000 ${ROOT}/examples/double11.crm)
endforeach()
foreach(cmd compile run audience explain)
  expect_run(2 ${cmd} ${ROOT}/examples/double11.crm --max-nesting 2001)
  if(NOT last_err MATCHES "--max-nesting: takes at most 2000, not `2001`")
    message(FATAL_ERROR "crm ${cmd} --max-nesting 2001 was not refused with its range:\n${last_err}")
  endif()
endforeach()

# The conflict warning limit (issue 9 item 7): N warnings, then one W0108; 0 is not a limit.
set(limit_case ${ROOT}/tests/golden/check/W0108_conflict_warning_limit.crm)
expect_run(0 check --format json --max-conflict-warnings=4 ${limit_case})
string(REGEX MATCHALL "\"code\":\"W0105\"" shown "${last_out}")
list(LENGTH shown shown_count)
if(NOT shown_count EQUAL 4 OR NOT last_out MATCHES "\"code\":\"W0108\"" OR NOT last_out MATCHES "5 more pairs")
  message(FATAL_ERROR "--max-conflict-warnings=4 did not show 4 W0105 and one W0108:\n${last_out}")
endif()
expect_run(0 check --format json --max-conflict-warnings 10 ${limit_case})
if(last_out MATCHES "\"code\":\"W0108\"")
  message(FATAL_ERROR "10 conflicts under a limit of 10 need no W0108:\n${last_out}")
endif()
expect_run(2 check --max-conflict-warnings 0 ${limit_case})

# The source limits apply to every command that compiles, not only to check: a program over
# --max-file-size is refused (exit 1, saying which limit) and compiles once the limit allows it.
set(limit_crmc ${CMAKE_CURRENT_BINARY_DIR}/cli_basics_limit.crmc)
expect_run(1 compile --max-file-size 100 ${ROOT}/examples/double11.crm -o ${limit_crmc})
if(NOT last_err MATCHES "max-file-size")
  message(FATAL_ERROR "crm compile --max-file-size 100 did not refuse the program by its size:\n${last_err}")
endif()
expect_run(1 run --max-file-size 100 ${ROOT}/examples/double11.crm --events ${ROOT}/examples/data/shop_events.jsonl)
if(NOT last_err MATCHES "max-file-size")
  message(FATAL_ERROR "crm run --max-file-size 100 did not refuse the program by its size:\n${last_err}")
endif()
expect_run(0 compile --max-file-size=10000000 --max-nesting 64 ${ROOT}/examples/double11.crm -o ${limit_crmc})
# An endless input is read only to one byte past --max-file-size, then refused with E0105 and
# its name (it used to be read whole: `crm parse /dev/zero` grew to 1.5 GB).
foreach(args "parse;/dev/zero" "format;/dev/zero" "check;-")
  execute_process(COMMAND ${CRM} ${args} INPUT_FILE /dev/zero TIMEOUT 60
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 1 OR NOT err MATCHES "E0105" OR NOT err MATCHES "(/dev/zero|<stdin>)")
    message(FATAL_ERROR "crm ${args} on /dev/zero: exit ${rc}, expected 1 with E0105 and the input's name\n${err}")
  endif()
endforeach()
# A compiled program where a source is expected is named as such (not "invalid UTF-8").
expect_run(1 check ${limit_crmc})
if(NOT last_err MATCHES "E0110" OR NOT last_err MATCHES "compiled program")
  message(FATAL_ERROR "crm check on a .crmc did not say it is a compiled program:\n${last_err}")
endif()

# Colour: --color=always|never everywhere; NO_COLOR turns auto off but not an explicit always.
string(ASCII 27 esc)
expect_run(1 check --color=always ${bad})
if(NOT last_err MATCHES "${esc}\\[")
  message(FATAL_ERROR "crm check --color=always printed no colour:\n${last_err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E env NO_COLOR=1 ${CRM} check --color=always ${bad} ERROR_VARIABLE err)
if(NOT err MATCHES "${esc}\\[")
  message(FATAL_ERROR "--color=always must win over NO_COLOR:\n${err}")
endif()
foreach(args "check;--color=never;${bad}" "compile;--color=never;--disasm;${bad}" "run;--color;never;${bad};--events;${ROOT}/tests/golden/run/limits.events.jsonl")
  expect_run(1 ${args})
  if(last_err MATCHES "${esc}\\[")
    message(FATAL_ERROR "crm ${args} printed colour:\n${last_err}")
  endif()
endforeach()

# --format json for the run summary (stderr) and for compile --disasm.
expect_run(0 run ${run_golden}.crm --events ${run_golden}.events.jsonl --format=json)
string(JSON written GET "${last_err}" decisions_written)
string(JSON granted GET "${last_err}" granted)
string(REGEX MATCHALL "\n" lines "${last_out}")
list(LENGTH lines nlines)
if(NOT written EQUAL nlines OR granted LESS 1)
  message(FATAL_ERROR "run --format json summary does not match the ${nlines} decisions:\n${last_err}")
endif()
expect_run(0 compile --disasm --format json ${ROOT}/tests/golden/disasm/functions.crm)
string(JSON nunits LENGTH "${last_out}" units)
string(JSON op GET "${last_out}" units 0 code 0 op)
if(nunits LESS 1 OR op STREQUAL "")
  message(FATAL_ERROR "compile --disasm --format json is not the bytecode:\n${last_out}")
endif()
# Evaluation errors are counted by kind, in the text and the JSON summary of `run` (issue 9
# item 19: not every error is "overflow or division by zero").
set(values_golden ${ROOT}/tests/golden/run/values)
expect_run(0 run ${values_golden}.crm --events ${values_golden}.events.jsonl --format json)
string(JSON by_kind GET "${last_err}" evaluation_errors_by_kind "division by zero")
if(NOT by_kind EQUAL 2)
  message(FATAL_ERROR "run --format json does not count evaluation errors by kind:\n${last_err}")
endif()
expect_run(0 run ${values_golden}.crm --events ${values_golden}.events.jsonl)
if(NOT last_err MATCHES "evaluation errors, division by zero: 2")
  message(FATAL_ERROR "the run summary does not name the kind of evaluation error:\n${last_err}")
endif()
# -q silences the summary, in either format, and nothing else: the decisions are the same.
set(full_out "${last_out}")
foreach(format text json)
  expect_run(0 run -q ${values_golden}.crm --events ${values_golden}.events.jsonl --format ${format})
  if(NOT last_err STREQUAL "" OR NOT last_out STREQUAL full_out)
    message(FATAL_ERROR "run -q --format ${format} printed a summary or other decisions:\n${last_err}")
  endif()
endforeach()
# A W0105 pair that the --data sample shows to share no user is a note: not a warning in the
# summary line, and --deny-warnings passes; a pair that shares users still fails it.
set(none_golden ${ROOT}/tests/golden/check/W0105_none_in_data)
expect_run(0 check --deny-warnings --data ${none_golden}.profiles.jsonl ${none_golden}.crm)
if(NOT last_err MATCHES "note\\[W0105\\]" OR NOT last_err MATCHES "0 errors, 0 warnings, 1 note")
  message(FATAL_ERROR "a pair with no shared user in the data is not a note:\n${last_err}")
endif()
expect_run(1 check --deny-warnings ${none_golden}.crm)  # without data: a warning
set(some_golden ${ROOT}/tests/golden/check/W0105_counted_in_data)
expect_run(1 check --deny-warnings --data ${some_golden}.profiles.jsonl --data-events ${some_golden}.events.jsonl
           ${some_golden}.crm)
if(NOT last_err MATCHES "0 errors, 1 warning\n")
  message(FATAL_ERROR "a pair sharing users is not a warning:\n${last_err}")
endif()
message(STATUS "crm command-line contract holds")
