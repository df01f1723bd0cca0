# birthday_care_zone.cmake - examples/birthday_care.crm declares `zone "Asia/Shanghai"`: over the
# demo shop data, its coupons run at 09:00 and its greetings at 08:00 Beijing time (01:00Z and
# 00:00Z), never at 09:00Z or 08:00Z as when schedule clock times ignored the zone (issue 9, item 10).
execute_process(COMMAND ${CRM} run -q ${ROOT}/examples/birthday_care.crm
                        --profiles ${ROOT}/examples/data/shop_profiles.csv
                        --events ${ROOT}/examples/data/shop_events.jsonl
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "crm run birthday_care.crm: exit ${rc}\n${err}")
endif()
string(REGEX MATCHALL "\"strategy\":\"birthday_[a-z_]*\",\"outcome\":\"(granted|rejected|control)\"[^\n]*\"at\":\"[0-9-]+T[0-9:]+Z\"" lines "${out}")
list(LENGTH lines n)
if(n LESS 100)
  message(FATAL_ERROR "expected at least 100 birthday decisions, got ${n}:\n${out}")
endif()
set(local 0)
foreach(line IN LISTS lines)
  string(REGEX MATCH "\"strategy\":\"([a-z_]*)\"" _ "${line}")
  set(strategy ${CMAKE_MATCH_1})
  string(REGEX MATCH "T([0-9:]+)Z\"$" _ "${line}")
  set(clock ${CMAKE_MATCH_1})
  if(strategy STREQUAL "birthday_greeting_day")
    set(want "00:00:00")  # 08:00 in Beijing
  else()
    set(want "01:00:00")  # 09:00 in Beijing
  endif()
  if(NOT clock STREQUAL want)
    message(FATAL_ERROR "${strategy} decided at ${clock}Z, expected ${want}Z (Beijing time):\n${line}")
  endif()
endforeach()
message(STATUS "${n} birthday decisions, all at 09:00 / 08:00 Beijing time")
