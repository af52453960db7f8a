#!/usr/bin/env bash
# Build, run the unit tests (make check), then the integration tests (pytest
# against a real httpd). Extra arguments go to pytest, e.g. scripts/test.sh -k share.
# Exits non-zero when anything fails; the last line sums up both suites.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# Debian's python3, which has python3-pytest: not a pyenv or venv python on PATH.
python=/usr/bin/python3

say() { printf 'test: %s\n' "$*"; }

scripts/build.sh

# The browser tests' node modules (playwright-core, axe-core; tests/test_browser.py),
# from the committed lock file with the machine's npm, when they are missing or older
# than the lock. Chromium itself is Debian's (scripts/deps.txt). Without them the
# browser tests fail, they do not skip.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "npm ci"
    if ! command -v npm >/dev/null 2>&1; then
        say "npm not found (nodejs >= 18 with npm is needed): the browser tests will fail"
    elif ! npm ci --no-audit --no-fund --loglevel=error; then
        say "npm ci failed: the browser tests will fail"
    fi
fi

logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

# --- unit tests ---------------------------------------------------------------
say "make check"
unit_rc=0
VERBOSE=yes make -j"${PDSHARE_MAKE_JOBS:-2}" check || unit_rc=$?

# Count test cases: cmocka's own summaries in the automake test logs, else
# automake's count of test programs.
unit_pass=0 unit_fail=0 unit_skip=0 cmocka_seen=0
while IFS= read -r -d '' trs; do
    log=${trs%.trs}.log
    [ -f "$log" ] || continue
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]\+\) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]\+\) test.*/\1/p' "$log" | tail -n 1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]\+\) test.*/\1/p' "$log" | tail -n 1)
    if [ -n "$p$f" ]; then
        cmocka_seen=1
        unit_pass=$((unit_pass + ${p:-0}))
        unit_fail=$((unit_fail + ${f:-0}))
        unit_skip=$((unit_skip + ${s:-0}))
    else
        # A program that printed no cmocka summary (crashed, or not cmocka).
        case "$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)" in
            PASS|XFAIL) unit_pass=$((unit_pass + 1)) ;;
            SKIP) unit_skip=$((unit_skip + 1)) ;;
            *) unit_fail=$((unit_fail + 1)) ;;
        esac
    fi
done < <(find . -name '*.trs' -newer "$logdir" -print0 2>/dev/null)
if [ "$unit_rc" -ne 0 ] && [ "$unit_fail" -eq 0 ]; then
    unit_fail=1 # make check failed before or outside the test programs
fi
[ "$cmocka_seen" = 1 ] || say "(no cmocka summaries found: unit counts are test programs)"

# --- fuzzing (short) ----------------------------------------------------------
# Each libFuzzer target for 15 s, two at a time (docs/fuzzing.md); a crash, leak,
# hang or broken property fails the run. PDSHARE_SKIP_FUZZ=1 skips it.
fuzz_rc=0 fuzz_pass=0 fuzz_fail=0
if [ "${PDSHARE_SKIP_FUZZ:-0}" = 1 ]; then
    say "fuzzing skipped (PDSHARE_SKIP_FUZZ=1)"
else
    say "make fuzz-short"
    make fuzz-short 2>&1 | tee "$logdir/fuzz.out" || fuzz_rc=${PIPESTATUS[0]}
    fuzz_pass=$(sed -n 's/^fuzz: \([0-9]*\) passed, [0-9]* failed$/\1/p' "$logdir/fuzz.out" | tail -n 1)
    fuzz_fail=$(sed -n 's/^fuzz: [0-9]* passed, \([0-9]*\) failed$/\1/p' "$logdir/fuzz.out" | tail -n 1)
    fuzz_pass=${fuzz_pass:-0} fuzz_fail=${fuzz_fail:-0}
    if [ "$fuzz_rc" -ne 0 ] && [ "$fuzz_fail" -eq 0 ]; then fuzz_fail=1; fi
fi

# --- integration tests --------------------------------------------------------
# The whole suite runs on each database: sqlite3 (the embedded default) and
# pgsql (a PostgreSQL server the harness starts on loopback).
# PDSHARE_TEST_DBS="sqlite3" runs one.
py_rc=0 py_pass=0 py_fail=0 py_skip=0 py_note=""
count() { sed -n "s/.*\b\([0-9]\+\) $1\b.*/\1/p" <<<"$last" | head -n 1; }
run_pytest() {
    local db=$1 rc=0 pass fail skip
    shift
    say "PDSHARE_DB=$db $python -m pytest tests/ -q $*"
    PDSHARE_DB=$db "$python" -m pytest tests/ -q "$@" 2>&1 | tee "$logdir/pytest-$db.out" || rc=${PIPESTATUS[0]}
    # pytest's closing line, e.g. "3 failed, 40 passed, 2 skipped, 1 error in 9.1s"
    last=$(grep -E '[0-9]+ (passed|failed|skipped|errors?|deselected|xfailed|xpassed)' \
        "$logdir/pytest-$db.out" | tail -n 1 || true)
    pass=$(( $(count passed || true) + $(count xfailed || true) + 0 ))
    fail=$(( $(count failed || true) + $(count 'errors\?' || true) + $(count xpassed || true) + 0 ))
    skip=$(( $(count skipped || true) + 0 ))
    case "$rc" in
        0) ;;
        5) rc=0; py_note="pytest collected no tests" ;; # not a failure of the code
        *) [ "$fail" -gt 0 ] || fail=1 ;;
    esac
    say "pytest on $db: $pass passed, $fail failed, $skip skipped"
    py_pass=$((py_pass + pass)); py_fail=$((py_fail + fail)); py_skip=$((py_skip + skip))
    [ "$rc" -eq 0 ] || py_rc=$rc
}
if [ -z "$(find tests -name 'test_*.py' -o -name '*_test.py' 2>/dev/null | head -n 1)" ]; then
    py_note="no pytest files under tests/"
    say "$py_note"
else
    for db in ${PDSHARE_TEST_DBS:-sqlite3 pgsql}; do
        run_pytest "$db" "$@"
    done
fi

total_pass=$((unit_pass + py_pass + fuzz_pass))
total_fail=$((unit_fail + py_fail + fuzz_fail))
total_skip=$((unit_skip + py_skip))
echo
say "unit: $unit_pass passed, $unit_fail failed (make check exit $unit_rc)"
say "pytest: $py_pass passed, $py_fail failed, $py_skip skipped${py_note:+ ($py_note)}"
say "fuzz: $fuzz_pass targets passed, $fuzz_fail failed (make fuzz-short exit $fuzz_rc)"
echo "summary: $total_pass passed, $total_fail failed, $total_skip skipped"
[ "$unit_rc" -eq 0 ] && [ "$py_rc" -eq 0 ] && [ "$fuzz_rc" -eq 0 ] && [ "$total_fail" -eq 0 ]
