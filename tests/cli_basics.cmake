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
message(STATUS "crm command-line contract holds")
