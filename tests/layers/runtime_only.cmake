# runtime_only.cmake - a compiled program runs with the runtime alone: `crm compile` writes a
# .crmc, then run_crmc (linked against crm::runtime and nothing above it) runs it over the demo
# events and must print exactly the decisions `crm run` prints for the same .crmc.
# Run by ctest with -DCRM=... -DRUN_CRMC=... -DROOT=... -DWORK=...
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(events ${ROOT}/examples/data/shop_events.jsonl)
set(profiles ${ROOT}/examples/data/shop_profiles.csv)

execute_process(COMMAND ${CRM} compile ${ROOT}/examples/double11.crm -o ${WORK}/double11.crmc
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "crm compile failed (${rc}): ${err}")
endif()
execute_process(COMMAND ${CRM} run ${WORK}/double11.crmc --profiles ${profiles} --events ${events}
                RESULT_VARIABLE rc OUTPUT_VARIABLE expected ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "crm run failed (${rc}): ${err}")
endif()
execute_process(COMMAND ${RUN_CRMC} ${WORK}/double11.crmc ${events} ${profiles}
                RESULT_VARIABLE rc OUTPUT_VARIABLE actual ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "run_crmc failed (${rc}): ${err}")
endif()

string(REGEX MATCHALL "\"granted\"" grants "${actual}")
list(LENGTH grants n)
if(n EQUAL 0)
  message(FATAL_ERROR "run_crmc granted nothing on the demo log; the comparison would prove nothing")
endif()
if(NOT actual STREQUAL expected)
  file(WRITE ${WORK}/expected.jsonl "${expected}")
  file(WRITE ${WORK}/actual.jsonl "${actual}")
  message(FATAL_ERROR "run_crmc's decisions differ from crm run's: diff ${WORK}/expected.jsonl ${WORK}/actual.jsonl")
endif()
message(STATUS "run_crmc (runtime only) and crm run agree on the demo log (${n} grants)")
