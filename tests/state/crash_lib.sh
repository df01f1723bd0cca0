# crash_lib.sh - sourced by the crash tests (tests/state/crash_recovery.sh, timers_crash.sh,
# tests/threads/crash.sh): the kill-and-restart loop and the comparison with an uninterrupted run,
# written once. The caller defines `run` (crm run with its program and input; extra arguments
# appended) and, for same_as_reference, `ledger DB` (the ledger columns to compare).

# kill_and_restart SEED KILLS SPAN COMMIT_EVERY STATE OUT...: KILLS runs of `run --state
# sqlite:STATE --commit-every COMMIT_EVERY -o OUT`, each SIGKILLed (CRM_TEST_KILL_AFTER_UNITS)
# after a pseudo-random 1..SPAN units from SEED; OUT may contain %d for the run's number. Sets
# `killed` to the number of runs that were killed; a run that fails otherwise fails the test.
kill_and_restart() {
  local seed=$1 kills=$2 span=$3 commit=$4 state=$5 out=$6
  shift 6
  RANDOM=$seed
  killed=0
  local i n rc
  for i in $(seq "$kills"); do
    n=$((1 + RANDOM % span))
    set +e
    # shellcheck disable=SC2059
    CRM_TEST_KILL_AFTER_UNITS=$n run --state "sqlite:$state" --commit-every "$commit" -o "$(printf "$out" "$i")" "$@" \
      >/dev/null 2>&1
    rc=$?
    set -e
    if [ "$rc" -eq 137 ]; then
      killed=$((killed + 1))
    elif [ "$rc" -ne 0 ]; then
      echo "FAIL: run $i exited with $rc"
      exit 1
    fi
  done
}

# same_as_reference REFERENCE_DB CRASHY_DB REFERENCE_OUT CRASHY_OUT: the ledger (as `ledger`
# selects it) and the reported decisions equal the uninterrupted run's.
same_as_reference() {
  if ! diff <(ledger "$1") <(ledger "$2") >"$tmp/ledger.diff"; then
    echo "FAIL: the ledger after $killed crashes differs from an uninterrupted run:"
    head -20 "$tmp/ledger.diff"
    exit 1
  fi
  if ! cmp -s "$3" "$4"; then
    echo "FAIL: reported decisions differ after $killed crashes"
    diff "$3" "$4" | head -10
    exit 1
  fi
}
