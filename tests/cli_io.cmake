# cli_io.cmake - the crm tool's files (cli/io.h) and exit codes, through the real binary:
#   `-` is standard input/output for every file argument; a directory is not an input; a failed
#   write (/dev/full) is exit 3 naming the file and no summary claims what was not written;
#   compile -o and format --write never follow a planted temporary-file symlink; and the exit
#   codes are the same for every command (0 ok, 1 problems in the inputs, 2 usage, 3 I/O).
set(W ${CMAKE_CURRENT_BINARY_DIR}/cli_io)
file(REMOVE_RECURSE ${W})
file(MAKE_DIRECTORY ${W} ${W}/a_directory)
set(P ${ROOT}/tests/golden/run/limits.crm)
set(E ${ROOT}/tests/golden/run/limits.events.jsonl)
set(AT 2026-12-01T00:00:00Z)
file(WRITE ${W}/profiles.jsonl "{\"user\":\"ann\"}\n")
file(WRITE ${W}/cdnow.csv "customer_id,date,number_of_cds,dollar_value\n1,1997-01-01,1,11.77\n2,1997-01-02,2,20.00\n")
file(WRITE ${W}/bad.crm "event Order { amount: Money(CNY) }\nsegment s = amount > \"x\"\n")
file(WRITE ${W}/messy.crm "segment   s =   true\n")
file(WRITE ${W}/bad.events.jsonl "{\"id\":\"o1\",\"type\":\"Order\"}\n")

# crm_run(EXPECTED_RC [STDIN file] [STDOUT file] args...): sets out, err.
function(crm_run expected)
  cmake_parse_arguments(X "" "STDIN;STDOUT" "" ${ARGN})
  set(extra)
  if(X_STDIN)
    list(APPEND extra INPUT_FILE ${X_STDIN})
  endif()
  if(X_STDOUT)
    list(APPEND extra OUTPUT_FILE ${X_STDOUT})
  else()
    list(APPEND extra OUTPUT_VARIABLE o)
  endif()
  execute_process(COMMAND ${CRM} ${X_UNPARSED_ARGUMENTS} RESULT_VARIABLE rc ERROR_VARIABLE e ${extra})
  if(NOT rc EQUAL expected)
    message(FATAL_ERROR "crm ${X_UNPARSED_ARGUMENTS}: exit ${rc}, expected ${expected}\n${o}${e}")
  endif()
  set(out "${o}" PARENT_SCOPE)
  set(err "${e}" PARENT_SCOPE)
endfunction()

function(expect_same what a b)
  if(NOT "${a}" STREQUAL "${b}")
    message(FATAL_ERROR "${what} differ:\n--- one\n${a}\n--- other\n${b}")
  endif()
endfunction()

function(expect_match what text regex)
  if(NOT "${text}" MATCHES "${regex}")
    message(FATAL_ERROR "${what}: expected /${regex}/ in:\n${text}")
  endif()
endfunction()

# ---- item 22: `-` is standard input or output, the same for every file argument ------------
crm_run(0 run ${P} --events ${E})
set(decisions "${out}")
crm_run(0 STDIN ${E} run ${P} --events -)
expect_same("run --events - and --events FILE" "${decisions}" "${out}")
crm_run(0 STDIN ${P} run - --events ${E})
expect_same("a program from standard input" "${decisions}" "${out}")
crm_run(0 run ${P} --events ${E} --out -)
expect_same("run --out - and standard output" "${decisions}" "${out}")
crm_run(0 run ${P} --events ${E} --profiles ${W}/profiles.jsonl)
set(with_profiles "${out}")
crm_run(0 STDIN ${W}/profiles.jsonl run ${P} --events ${E} --profiles=-)
expect_same("run --profiles -" "${with_profiles}" "${out}")
crm_run(0 audience ${P} --events ${E} --at ${AT} --format json)
set(counts "${out}")
crm_run(0 STDIN ${E} audience ${P} --events - --at ${AT} --format json)
expect_same("audience --events -" "${counts}" "${out}")
crm_run(0 explain ${P} --events ${E} --at ${AT} --user ann)
set(why "${out}")
crm_run(0 STDIN ${E} explain ${P} --events - --at ${AT} --user ann)
expect_same("explain --events -" "${why}" "${out}")
crm_run(0 STDIN ${P} check -)
crm_run(1 STDIN ${W}/bad.crm check -)
expect_match("check - names standard input" "${err}" "<stdin>:2:")
crm_run(0 STDIN ${W}/profiles.jsonl check ${P} --data -)
crm_run(0 format ${W}/messy.crm)
set(formatted "${out}")
crm_run(0 STDIN ${W}/messy.crm format -)
expect_same("format -" "${formatted}" "${out}")
crm_run(1 STDIN ${W}/messy.crm format --check -)
crm_run(2 format --write -)
crm_run(0 STDIN ${P} parse -)
crm_run(0 compile ${P} -o ${W}/p.crmc -q)
crm_run(0 STDOUT ${W}/stdout.crmc compile ${P} -o -)
file(SHA256 ${W}/p.crmc h1)
file(SHA256 ${W}/stdout.crmc h2)
expect_same("compile -o FILE and -o -" "${h1}" "${h2}")
crm_run(0 STDIN ${W}/p.crmc run - --events ${E})
# A compiled program is read only to a limit (--max-file-size when given, else 256 MiB), from a
# file or standard input: it used to be read whole, however large, before its header was checked.
crm_run(1 run ${W}/p.crmc --events ${E} --max-file-size 100)
expect_match("a .crmc over --max-file-size" "${err}" "p.crmc` holds more than 100 bytes, the most a compiled program is read to")
crm_run(1 STDIN ${W}/p.crmc run - --events ${E} --max-file-size 100)
expect_match("a .crmc on standard input over --max-file-size" "${err}" "standard input holds more than 100 bytes")
crm_run(0 import cdnow ${W}/cdnow.csv -o ${W}/cdnow.jsonl)
file(READ ${W}/cdnow.jsonl imported)
crm_run(0 STDIN ${W}/cdnow.csv import cdnow - -o -)
expect_same("import from standard input to standard output" "${imported}" "${out}")
crm_run(2 STDIN ${E} run - --events -)  # standard input cannot be read twice

# ---- item 8b: a directory is not an input (exit 3, named) ----------------------------------
foreach(args
    "check;${W}/a_directory" "check;${P};--data;${W}/a_directory" "check;${P};--data-events;${W}/a_directory"
    "format;${W}/a_directory" "parse;${W}/a_directory" "compile;${W}/a_directory;--disasm"
    "run;${P};--events;${W}/a_directory" "run;${P};--events;${E};--profiles;${W}/a_directory"
    "audience;${P};--events;${W}/a_directory;--at;${AT}" "explain;${P};--events;${W}/a_directory;--at;${AT};--user;ann"
    "import;cdnow;${W}/a_directory")
  crm_run(3 ${args})
  expect_match("crm ${args}" "${err}" "a_directory`: is a directory")
endforeach()

# ---- item 24: one meaning per exit code, for every command ---------------------------------
set(missing ${W}/no_such_file)
foreach(args "check;${missing}" "format;${missing}" "parse;${missing}" "compile;${missing};--disasm"
    "run;${missing};--events;${E}" "run;${P};--events;${missing}" "audience;${P};--events;${missing};--at;${AT}"
    "explain;${P};--events;${missing};--at;${AT};--user;ann" "import;cdnow;${missing}")
  crm_run(3 ${args})  # an input that cannot be read
  expect_match("crm ${args}" "${err}" "no_such_file`: No such file or directory")
endforeach()
foreach(args "check;${W}/bad.crm" "compile;${W}/bad.crm;--disasm" "run;${W}/bad.crm;--events;${E}"
    "format;--check;${W}/messy.crm" "run;${P};--events;${W}/bad.events.jsonl" "import;cdnow;${E}")
  crm_run(1 ${args})  # problems in the inputs
endforeach()
foreach(args "check" "run;${P}" "audience;${P};--events;${E};--at;yesterday" "import;nosuch;${E}" "compile;${P}"
    "explain;${P};--at;${AT}")
  crm_run(2 ${args})  # usage
endforeach()

# ---- item 5: every write is checked (/dev/full), and nothing claims what was not written ----
if(EXISTS /dev/full)
  crm_run(3 run ${P} --events ${E} --out /dev/full)
  expect_match("run --out /dev/full" "${err}" "cannot write `/dev/full`: No space left on device")
  expect_match("run --out /dev/full" "${err}" "0 of [1-9][0-9]* decided lines were written")
  if(err MATCHES "decisions \\(")
    message(FATAL_ERROR "run --out /dev/full printed the summary of decisions it did not write:\n${err}")
  endif()
  crm_run(3 run ${P} --events ${E} --out /dev/full --format json)
  string(REGEX REPLACE ".*\n({[^\n]*})\n$" "\\1" summary "${err}")
  string(JSON written GET "${summary}" decisions_written)
  string(JSON werr GET "${summary}" write_error)
  if(NOT written EQUAL 0 OR NOT werr MATCHES "/dev/full")
    message(FATAL_ERROR "run --format json summary claims decisions it did not write:\n${err}")
  endif()
  foreach(args "run;${P};--events;${E}" "check;--format;json;${P}" "compile;--disasm;${P}" "compile;${P};-o;-"
      "format;${W}/messy.crm" "parse;${P}" "audience;${P};--events;${E};--at;${AT}"
      "explain;${P};--events;${E};--at;${AT};--user;ann" "import;cdnow;${W}/cdnow.csv" "codes" "version" "help"
      "help;run")
    crm_run(3 STDOUT /dev/full ${args})
    expect_match("crm ${args} >/dev/full" "${err}" "cannot write `standard output`")
  endforeach()
  crm_run(3 compile ${P} -o /dev/full)
  expect_match("compile -o /dev/full" "${err}" "cannot write `/dev/full`")
  crm_run(3 import cdnow ${W}/cdnow.csv -o /dev/full)
  expect_match("import -o /dev/full" "${err}" "cannot write `/dev/full`")
  if(err MATCHES "events")
    message(FATAL_ERROR "import -o /dev/full claimed events:\n${err}")
  endif()
endif()

# ---- an output that is one of the command's inputs is refused (exit 2), the input untouched ---
# (same device and inode: the same path, a symlink or a hard link; an output not yet there is fine)
configure_file(${E} ${W}/ev.jsonl COPYONLY)
configure_file(${P} ${W}/prog.crm COPYONLY)
file(CREATE_LINK ${W}/ev.jsonl ${W}/ev.symlink SYMBOLIC)
file(CREATE_LINK ${W}/ev.jsonl ${W}/ev.hardlink)
file(SHA256 ${W}/ev.jsonl ev_hash)
file(SHA256 ${W}/prog.crm prog_hash)
file(SHA256 ${W}/cdnow.csv cdnow_hash)
file(SHA256 ${W}/profiles.jsonl profiles_hash)
crm_run(0 run ${W}/prog.crm --events ${W}/ev.jsonl --state sqlite:${W}/clobber.db -q -o ${W}/first.jsonl)
file(SHA256 ${W}/clobber.db ledger_hash)
foreach(args
    "run;${P};--events;${W}/ev.jsonl;-o;${W}/ev.jsonl" "run;${P};--events;${W}/ev.jsonl;--out=${W}/ev.symlink"
    "run;${P};--events;${W}/ev.symlink;-o;${W}/ev.hardlink" "run;${W}/prog.crm;--events;${E};-o;${W}/prog.crm"
    "run;${P};--events;${E};--profiles;${W}/profiles.jsonl;-o;${W}/profiles.jsonl"
    "run;${P};--events;${E};--state;sqlite:${W}/clobber.db;-o;${W}/clobber.db"
    "compile;${W}/prog.crm;-o;${W}/prog.crm" "import;cdnow;${W}/cdnow.csv;-o;${W}/cdnow.csv"
    "report;--state;sqlite:${W}/clobber.db;--events;${W}/ev.jsonl;-o;${W}/ev.jsonl"
    "report;--state;sqlite:${W}/clobber.db;-o;${W}/clobber.db"
    "forecast;${P};--events;${W}/ev.jsonl;--shift;1d;-o;${W}/ev.hardlink"
    "import;hillstrom;${W}/cdnow.csv;--state;sqlite:${W}/h.db;--events-out;${W}/cdnow.csv"
    "import;hillstrom;${W}/cdnow.csv;--state;sqlite:${W}/clobber.db;--events-out;${W}/clobber.db")
  crm_run(2 ${args})
  expect_match("crm ${args}" "${err}" "is the same file as .*: writing it would destroy that input")
endforeach()
file(SHA256 ${W}/ev.jsonl h)
expect_same("the events after outputs refused" "${ev_hash}" "${h}")
file(SHA256 ${W}/prog.crm h)
expect_same("the program after outputs refused" "${prog_hash}" "${h}")
file(SHA256 ${W}/cdnow.csv h)
expect_same("the dataset after outputs refused" "${cdnow_hash}" "${h}")
file(SHA256 ${W}/profiles.jsonl h)
expect_same("the profiles after outputs refused" "${profiles_hash}" "${h}")
file(SHA256 ${W}/clobber.db h)
expect_same("the ledger after outputs refused" "${ledger_hash}" "${h}")
crm_run(0 run ${P} --events ${E} -o /dev/null -q --profiles /dev/null)  # a device is never an input's data
# A module the program imports (beside it, or under -I) is an input too, though only compiling
# finds it: `run -o lib/schema.crm` used to empty it, `compile -o` to replace it with bytecode.
file(MAKE_DIRECTORY ${W}/mods/lib ${W}/inc/shared)
file(WRITE ${W}/mods/lib/schema.crm "module lib.schema\nevent Order { amount: Money(CNY) }\n")
file(WRITE ${W}/inc/shared/defs.crm "module shared.defs\nconst floor = 1\n")
file(WRITE ${W}/mods/main.crm "module main\nimport lib.schema\nimport shared.defs\nsegment buyer = count(Order) >= floor\n")
file(WRITE ${W}/mods/main2.crm "module main2\nimport lib.schema\nsegment buyer = count(Order) >= 1\n")
file(WRITE ${W}/mods/ev.jsonl "{\"id\":\"e1\",\"type\":\"Order\",\"user\":\"u1\",\"time\":\"2026-01-01T00:00:00Z\",\"amount\":5}\n")
crm_run(0 run ${W}/mods/main.crm -I ${W}/inc --events ${W}/mods/ev.jsonl --state sqlite:${W}/mods/l.db -q -o ${W}/mods/out.jsonl)
file(SHA256 ${W}/mods/lib/schema.crm schema_hash)
file(SHA256 ${W}/inc/shared/defs.crm defs_hash)
foreach(args
    "run;${W}/mods/main.crm;-I;${W}/inc;--events;${W}/mods/ev.jsonl;-o;${W}/mods/lib/schema.crm"
    "run;${W}/mods/main.crm;-I;${W}/inc;--events;${W}/mods/ev.jsonl;-o;${W}/inc/shared/defs.crm"
    "compile;${W}/mods/main.crm;-I;${W}/inc;-o;${W}/mods/lib/schema.crm"
    "forecast;${W}/mods/main.crm;-I;${W}/inc;--events;${W}/mods/ev.jsonl;--shift;1d;-o;${W}/inc/shared/defs.crm"
    "report;${W}/mods/main.crm;-I;${W}/inc;--state;sqlite:${W}/mods/l.db;--events;${W}/mods/ev.jsonl;-o;${W}/mods/lib/schema.crm"
    "import;hillstrom;${W}/cdnow.csv;--program;${W}/mods/main2.crm;--state;sqlite:${W}/mods/h.db;--events-out;${W}/mods/lib/schema.crm")
  crm_run(2 ${args})
  expect_match("crm ${args}" "${err}" "is the same file as a module the program imports .*: writing it would destroy that input")
endforeach()
file(SHA256 ${W}/mods/lib/schema.crm h)
expect_same("the imported module after outputs refused" "${schema_hash}" "${h}")
file(SHA256 ${W}/inc/shared/defs.crm h)
expect_same("the module under -I after outputs refused" "${defs_hash}" "${h}")
# explain: --at and --event are alternatives (they used to be mixed into neither's answer).
crm_run(2 explain ${P} --events ${E} --user ann --at ${AT} --event o1)
expect_match("explain --at --event" "${err}" "--at and --event exclude each other")
# An output through a symbolic link replaces the file it points to and keeps the link (`format
# --write` and `compile -o` used to turn the link into a regular file, the target unchanged).
file(MAKE_DIRECTORY ${W}/real)
file(WRITE ${W}/real/linked.crm "module   linked\n")
file(CREATE_LINK real/linked.crm ${W}/linked.crm SYMBOLIC)
file(CREATE_LINK real/linked.crmc ${W}/linked.crmc SYMBOLIC)  # dangling until written
crm_run(0 format --write ${W}/linked.crm)
crm_run(0 compile ${P} -o ${W}/linked.crmc)
foreach(f linked.crm linked.crmc)
  if(NOT IS_SYMLINK ${W}/${f} OR NOT EXISTS ${W}/real/${f})
    message(FATAL_ERROR "writing through the link ${f} replaced the link instead of its target")
  endif()
endforeach()
file(READ ${W}/real/linked.crm formatted_through_link)
expect_same("format --write through a link" "module linked\n" "${formatted_through_link}")
# import hillstrom into a ledger that already holds units is the user's problem (exit 1, as a bad
# row), not an I/O failure (it was 3).
file(WRITE ${W}/hs.csv "recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend\n10,2) $100 - $200,142.44,1,0,Surburban,0,Phone,Womens E-Mail,0,0,0.0\n")
crm_run(1 import hillstrom ${W}/hs.csv --state sqlite:${W}/clobber.db --events-out ${W}/hs.jsonl)
expect_match("import hillstrom into a used ledger" "${err}" "already holds [0-9]+ units: import into a new ledger")
# A --state spec that is not a ledger file is a usage error (exit 2), and creates nothing:
# `sqlite::memory:` used to run "durably" in memory and leave files named `:memory:` behind.
foreach(spec "foo" "sqlite::memory:" "sqlite:file:${W}/uri.db?mode=ro" "sqlite:${W}/p.db?max_pages=abc")
  crm_run(2 run ${P} --events ${E} --state ${spec} -q -o ${W}/spec.jsonl)
  expect_match("run --state ${spec}" "${err}" "(unknown state|must be a file path|max_pages must be a positive number)")
  # The same spec is the same usage error for every command taking --state (import hillstrom
  # gave 1, report and shared 1 or 3 after trying to open it), and import truncates no output
  # before refusing it.
  file(WRITE ${W}/spec_keep.jsonl "kept\n")
  crm_run(2 import hillstrom ${W}/hs.csv --state ${spec} --events-out ${W}/spec_keep.jsonl)
  expect_match("import hillstrom --state ${spec}" "${err}" "(unknown state|must be a file path|max_pages must be a positive number)")
  file(READ ${W}/spec_keep.jsonl kept)
  expect_same("import hillstrom --state ${spec}: its --events-out" "kept\n" "${kept}")
  crm_run(2 report --state ${spec})
  expect_match("report --state ${spec}" "${err}" "(unknown state|must be a file path|max_pages must be a positive number|a report reads a SQLite ledger)")
  crm_run(2 shared show --shared redis://127.0.0.1:1 --state ${spec})
  expect_match("shared show --state ${spec}" "${err}" "(unknown state|must be a file path|max_pages must be a positive number|--state must be sqlite:PATH)")
endforeach()
if(EXISTS ${W}/:memory: OR EXISTS ${W}/p.db OR EXISTS ":memory:")
  message(FATAL_ERROR "a refused --state spec created a file")
endif()
file(CREATE_LINK new.db ${W}/to_new_db.jsonl SYMBOLIC)  # a dangling link to the new ledger
# A ledger that does not exist yet, or one of its companion files, is refused too: `--out` naming
# a new ledger used to corrupt it (exit 0, "database disk image is malformed" on the next run).
foreach(args
    "run;${P};--events;${E};--state;sqlite:${W}/new.db;-o;${W}/new.db"
    "run;${P};--events;${E};--state;sqlite:${W}/new.db;-o;${W}/./new.db"
    "run;${P};--events;${E};--state;sqlite:${W}/new.db;-o;${W}/new.db-wal"
    "run;${P};--events;${E};--state;sqlite:${W}/clobber.db;-o;${W}/clobber.db-shm"
    "run;${P};--events;${E};--state;sqlite:${W}/new.db;--threads;2;-o;${W}/new.db.lock"
    "import;hillstrom;${W}/cdnow.csv;--state;sqlite:${W}/new.db;--events-out;${W}/new.db"
    "run;${P};--events;${E};--state;sqlite:${W}/new.db;-o;${W}/to_new_db.jsonl"
    "run;${P};--events;${E};--state;sqlite:${W}/clobber.db?max_pages=100000;-o;${W}/clobber.db-wal")
  crm_run(2 ${args})
  expect_match("crm ${args}" "${err}" "(is the same file as|file of the ledger of --state) .*: writing it would")
endforeach()
if(EXISTS ${W}/new.db OR EXISTS ${W}/new.db-wal OR EXISTS ${W}/new.db.lock)
  message(FATAL_ERROR "a refused output left a file of the new ledger behind")
endif()
file(SHA256 ${W}/clobber.db h)
expect_same("the ledger after its companions were refused as outputs" "${ledger_hash}" "${h}")

# ---- a read error is not the end of an input: exit 3 naming the file, never 0 on partial data --
# (/proc/self/mem opens, and its first read fails with EIO)
if(EXISTS /proc/self/mem)
  set(M /proc/self/mem)
  foreach(args
      "run;${P};--events;${M}" "run;${P};--events;${M};--threads;2" "run;${P};--events;${E};--profiles;${M}"
      "run;${P};--events;${M};--state;sqlite:${W}/read_error.db" "audience;${P};--events;${M};--at;${AT}"
      "audience;${P};--events;${E};--profiles;${M};--at;${AT}" "explain;${P};--events;${M};--at;${AT};--user;ann"
      "report;--state;sqlite:${W}/clobber.db;--events;${M}" "forecast;${P};--events;${M};--shift;1d"
      "forecast;${P};--events;${E};--profiles;${M};--shift;1d" "import;cdnow;${M}")
    crm_run(3 ${args})
    expect_match("crm ${args}" "${err}" "cannot read `/proc/self/mem`: Input/output error")
  endforeach()
  # check's --data sample: an E0109 diagnostic (the data's problem, exit 1), never counts over part of it.
  set(G ${ROOT}/tests/golden/check/W0105_counted_in_data)
  foreach(args "--data;${M};--data-events;${G}.events.jsonl" "--data;${G}.profiles.jsonl;--data-events;${M}")
    crm_run(1 check ${args} ${G}.crm)
    expect_match("crm check ${args}" "${err}" "/proc/self/mem:1: read error")
  endforeach()
endif()

# ---- a truncated or corrupt .gz is an error naming the file (exit 1), never partial data -------
find_program(PY python3 REQUIRED)
execute_process(COMMAND ${PY} -c [=[
import gzip, sys
w = sys.argv[1]
rows = "customer_id,date,number_of_cds,dollar_value\n" + "".join(
    "%d,1997-01-%02d,1,%d.50\n" % (i, i % 28 + 1, i % 90 + 1) for i in range(1, 20001))
open(w + "/big.csv", "w").write(rows)
gz = gzip.compress(rows.encode(), mtime=0)
open(w + "/big.csv.gz", "wb").write(gz)
open(w + "/half.csv.gz", "wb").write(gz[: len(gz) // 2])
open(w + "/no_trailer.csv.gz", "wb").write(gz[:-4])
bad = bytearray(gz)
for i in range(len(bad) // 3, len(bad) // 3 + 64):
    bad[i] ^= 0x5A
open(w + "/corrupt.csv.gz", "wb").write(bytes(bad))
]=] ${W} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "could not make the gzip files")
endif()
crm_run(0 import cdnow ${W}/big.csv)
set(plain "${out}")
crm_run(0 import cdnow ${W}/big.csv.gz)
expect_same("import of the csv and of its .gz" "${plain}" "${out}")
foreach(f half no_trailer)
  crm_run(1 import cdnow ${W}/${f}.csv.gz -o ${W}/from_${f}.jsonl)
  expect_match("import ${f}.csv.gz" "${err}" "`${W}/${f}.csv.gz` is not readable gzip: the file is truncated")
  crm_run(1 import hillstrom ${W}/${f}.csv.gz --state sqlite:${W}/${f}.db --events-out ${W}/h_${f}.jsonl)
  expect_match("import hillstrom ${f}.csv.gz" "${err}" "`${W}/${f}.csv.gz` is not readable gzip: the file is truncated")
  crm_run(1 STDIN ${W}/${f}.csv.gz import cdnow -)
  expect_match("import ${f}.csv.gz from standard input" "${err}" "`standard input` is not readable gzip: the file is truncated")
endforeach()
crm_run(1 import cdnow ${W}/corrupt.csv.gz)
expect_match("import corrupt.csv.gz" "${err}" "`${W}/corrupt.csv.gz` is not readable gzip: the data is corrupt")

# ---- a ledger that cannot be opened is exit 3 naming the file and why; one that refuses is 1 -----
file(WRITE ${W}/not_a_ledger.db "this is not an SQLite database, it is text and more text to fill a page\n")
foreach(case
    "a_directory|cannot open state `${W}/a_directory`: it is a directory"
    "no_such_dir/l.db|cannot lock state `${W}/no_such_dir/l.db`: .*No such file or directory"
    "not_a_ledger.db|cannot use state `${W}/not_a_ledger.db`: file is not a database")
  string(REPLACE "|" ";" case "${case}")
  list(GET case 0 ledger)
  list(GET case 1 why)
  crm_run(3 run ${P} --events ${E} --state sqlite:${W}/${ledger})
  expect_match("run --state sqlite:${ledger}" "${err}" "${why}")
  crm_run(3 run ${P} --events ${E} --state sqlite:${W}/${ledger} --threads 2)
  expect_match("run --threads 2 --state sqlite:${ledger}" "${err}" "${why}")
endforeach()
# A ledger refused before it is opened leaves no lock file behind (before, `a_directory.lock`).
if(EXISTS ${W}/a_directory.lock)
  message(FATAL_ERROR "a failed open of the ledger `a_directory` left `a_directory.lock` behind")
endif()
crm_run(3 report --state sqlite:${W}/not_a_ledger.db)
expect_match("report on a file that is not a ledger" "${err}" "cannot read state `${W}/not_a_ledger.db`: file is not a database")
crm_run(3 report --state sqlite:${W}/a_directory)
expect_match("report on a directory" "${err}" "a_directory`")
# An open ledger that refuses the program (its strategies differ) stays a problem of the inputs.
crm_run(1 run ${ROOT}/tests/golden/run/exclusive.crm --events ${E} --state sqlite:${W}/clobber.db)
expect_match("another program on a ledger" "${err}" "clobber.db")

# ---- item 8a: a planted symlink at a temporary file's name is never followed ---------------
file(WRITE ${W}/victim "precious\n")
file(CREATE_LINK ${W}/victim ${W}/out.crmc.tmp SYMBOLIC)
crm_run(0 compile ${P} -o ${W}/out.crmc -q)
file(WRITE ${W}/target.crm "segment   s =   true\n")
file(CREATE_LINK ${W}/victim ${W}/target.crm.crm-format.tmp SYMBOLIC)
crm_run(0 format --write ${W}/target.crm)
file(READ ${W}/victim victim)
expect_same("the symlinked victim" "precious\n" "${victim}")
file(READ ${W}/target.crm rewritten)
expect_same("format --write" "segment s = true\n" "${rewritten}")
crm_run(0 run ${W}/out.crmc --events ${E})
expect_same("run of the compiled program" "${decisions}" "${out}")

# ---- a compiled program is the whole program: given alone, in place of the sources ----------
# Combined with other program files, every command that takes one says so (a usage error, exit
# 2) instead of the compiler's E0110, whose help sends the user to `crm run` itself. A .crmc is
# known by its name, or by its CRMC header when renamed or on standard input; renamed and alone
# it runs as the .crmc does.
file(COPY_FILE ${W}/out.crmc ${W}/renamed.crm)
crm_run(0 run ${W}/renamed.crm --events ${E})
expect_same("run of the renamed compiled program" "${decisions}" "${out}")
foreach(cmd "run;--events;${E}" "audience;--events;${E};--at;${AT}" "explain;--events;${E};--user;ann;--at;${AT}"
            "compile;--disasm" "report;--state;sqlite:${W}/crmc_report.db" "forecast;--events;${E};--shift;1d")
  list(GET cmd 0 name)
  foreach(files "${W}/out.crmc;${W}/out.crmc" "${W}/out.crmc;${P}" "${P};${W}/out.crmc" "${P};${W}/renamed.crm")
    crm_run(2 ${cmd} ${files})
    expect_match("crm ${name} with a .crmc among ${files}" "${err}"
                 "is a compiled program \\(\\.crmc\\): it must be the only program file of `crm ${name}` \\(it cannot be combined with other \\.crm or \\.crmc files\\)")
    if(err MATCHES "E0110|runs with")
      message(FATAL_ERROR "crm ${name} with ${files} still says E0110:\n${err}")
    endif()
  endforeach()
  if(name MATCHES "^(run|audience|explain|compile)$")  # report and forecast read no program from `-`
    crm_run(2 STDIN ${W}/out.crmc ${cmd} - ${P})
    expect_match("crm ${name} with a .crmc on standard input and a source" "${err}"
                 "standard input is a compiled program .*only program file of `crm ${name}`")
  endif()
endforeach()
crm_run(2 import hillstrom ${W}/hs.csv --state sqlite:${W}/crmc_hs.db --events-out ${W}/crmc_hs.jsonl
        --program ${W}/out.crmc --program ${P})
expect_match("import hillstrom --program with a .crmc and a source" "${err}"
             "`${W}/out.crmc` is a compiled program .*only program file of `crm import hillstrom`")
# --jit-cache names a directory (created if missing): a regular file there, or a path under one,
# is a usage error (exit 2) naming it, before anything is read; it used to be silently unused.
file(WRITE ${W}/jit_cache_file "not a directory\n")
crm_run(2 run ${P} --events ${E} --jit --jit-cache ${W}/jit_cache_file -q -o ${W}/jit.jsonl)
expect_match("run --jit-cache FILE" "${err}" "--jit-cache: the JIT cache `[^`]*jit_cache_file` is not a directory")
crm_run(2 run ${P} --events ${E} --jit --jit-cache ${W}/jit_cache_file/sub -q -o ${W}/jit.jsonl)
expect_match("run --jit-cache FILE/sub" "${err}" "is not a directory")
file(READ ${W}/jit_cache_file jit_file)
expect_same("the file named by --jit-cache" "not a directory\n" "${jit_file}")
if(EXISTS ${W}/jit.jsonl)
  message(FATAL_ERROR "a refused --jit-cache still ran")
endif()
file(GLOB leftovers ${W}/.out.crmc.* ${W}/.target.crm.*)
if(leftovers)
  message(FATAL_ERROR "temporary files left behind: ${leftovers}")
endif()
message(STATUS "crm file handling and exit codes hold")
