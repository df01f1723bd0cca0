# format_check.cmake - every bundled example and standard-library file is in canonical layout
# (`crm format --check` prints nothing and exits 0), so the formatter's output is what we ship.
file(GLOB_RECURSE examples ${ROOT}/examples/*.crm)
file(GLOB stdlib ${ROOT}/stdlib/std/*.crm)
list(SORT examples)
list(SORT stdlib)
execute_process(COMMAND ${CRM} format --check ${examples} ${stdlib} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT err STREQUAL "" OR NOT out STREQUAL "")
  message(FATAL_ERROR "crm format --check failed (exit ${rc}); run `crm format --write` on:\n${err}${out}")
endif()
list(LENGTH examples n1)
list(LENGTH stdlib n2)
math(EXPR n "${n1} + ${n2}")
message(STATUS "${n} bundled .crm files are formatted")
