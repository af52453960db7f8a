#!/usr/bin/env bash
# Build, run the unit tests (make check), the unit tests under valgrind (make
# valgrind-check), the short fuzzing run, then side by side the integration tests
# (pytest against a real httpd, on sqlite3 and pgsql) and the integration tests
# against the module built with ASan and UBSan (make asan-check). Extra arguments
# go to pytest (not to the ASan pass), e.g. scripts/test.sh -k share.
# Exits non-zero when anything fails; the last line sums up all the steps.
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

# Runs `make TARGET` unless the variable SKIP is 1, and reads its closing line
# "WHAT: N passed, M failed" into step_rc, step_pass and step_fail (a failed make
# without that line counts as one failure).
make_step() {
    local target=$1 what=$2 skip=$3 out=$logdir/$1.out
    step_rc=0 step_pass=0 step_fail=0
    if [ "${!skip:-0}" = 1 ]; then
        say "make $target skipped ($skip=1)"
        return
    fi
    say "make $target"
    make "$target" 2>&1 | tee "$out" || step_rc=${PIPESTATUS[0]}
    step_pass=$(sed -n "s/^$what: \([0-9]*\) passed, [0-9]* failed\$/\1/p" "$out" | tail -n 1)
    step_fail=$(sed -n "s/^$what: [0-9]* passed, \([0-9]*\) failed\$/\1/p" "$out" | tail -n 1)
    step_pass=${step_pass:-0} step_fail=${step_fail:-0}
    if [ "$step_rc" -ne 0 ] && [ "$step_fail" -eq 0 ]; then step_fail=1; fi
}

# --- valgrind on the unit tests ------------------------------------------------
# Each unit test program under valgrind memcheck (make valgrind-check): a memcheck
# error or a definite or indirect leak fails it. PDSHARE_SKIP_VALGRIND=1 skips it.
make_step valgrind-check valgrind PDSHARE_SKIP_VALGRIND
vg_rc=$step_rc vg_pass=$step_pass vg_fail=$step_fail

# --- fuzzing (short) ----------------------------------------------------------
# Each libFuzzer target for 15 s, two at a time (docs/fuzzing.md); a crash, leak,
# hang or broken property fails the run. PDSHARE_SKIP_FUZZ=1 skips it.
make_step fuzz-short fuzz PDSHARE_SKIP_FUZZ
fuzz_rc=$step_rc fuzz_pass=$step_pass fuzz_fail=$step_fail

# --- integration tests --------------------------------------------------------
# The whole suite runs on each database, sqlite3 (the embedded default) and pgsql
# (a PostgreSQL server the harness starts on loopback), and once more on sqlite3
# against the module built with ASan and UBSan (make asan-check,
# scripts/test-asan.sh): a sanitizer report from any child fails that pass.
# PDSHARE_TEST_DBS="sqlite3" runs one database; PDSHARE_SKIP_ASAN=1 skips ASan.
#
# A pass spends most of its time waiting on the servers it started (about 100 s
# of CPU in 8 minutes), so the passes run side by side, each line of output
# prefixed with its pass; PDSHARE_SERIAL=1 runs them one after the other. Each has
# its own httpds, ports, databases and browser artifacts directory.
py_rc=0 py_pass=0 py_fail=0 py_skip=0 py_note=""
asan_rc=0 asan_pass=0 asan_fail=0
count() { sed -n "s/.*\b\([0-9]\+\) $1\b.*/\1/p" <<<"$last" | head -n 1; }
# pass NAME COMMAND...: runs COMMAND, its output to $logdir/NAME.out and, with
# [NAME] before each line, to ours; its exit code to $logdir/NAME.rc.
pass() {
    local name=$1
    shift
    say "[$name] $*"
    { "$@" 2>&1 || echo $? >"$logdir/$name.rc"; } | tee "$logdir/$name.out" |
        sed -u "s/^/[$name] /"
    [ -f "$logdir/$name.rc" ] || echo 0 >"$logdir/$name.rc"
}
pytest_pass() {
    local db=$1
    shift
    # The browser tests' screenshots: tests/artifacts/browser/ (sqlite3),
    # browser-pgsql/, browser-asan/.
    local dir=$artifacts/browser
    [ "$db" = sqlite3 ] || dir=$artifacts/browser-$db
    PDSHARE_DB=$db PDSHARE_ARTIFACTS=$dir "$python" -m pytest tests/ -q -p no:cacheprovider "$@"
}
artifacts=$repo/tests/artifacts
names=()
run() {                                 # run NAME COMMAND...: side by side, or in turn
    names+=("$1")
    if [ "${PDSHARE_SERIAL:-0}" = 1 ]; then pass "$@"; else pass "$@" & fi
}
if [ -z "$(find tests -name 'test_*.py' -o -name '*_test.py' 2>/dev/null | head -n 1)" ]; then
    py_note="no pytest files under tests/"
    say "$py_note"
else
    for db in ${PDSHARE_TEST_DBS:-sqlite3 pgsql}; do
        run "pytest-$db" pytest_pass "$db" "$@"
    done
fi
if [ "${PDSHARE_SKIP_ASAN:-0}" = 1 ]; then
    say "make asan-check skipped (PDSHARE_SKIP_ASAN=1)"
else
    run asan env PDSHARE_ARTIFACTS="$artifacts/browser-asan" make asan-check
fi
wait
for name in "${names[@]}"; do
    rc=$(cat "$logdir/$name.rc")
    if [ "$name" = asan ]; then
        # scripts/test-asan.sh's closing line: "asan: N passed, M failed"
        asan_rc=$rc
        asan_pass=$(sed -n 's/^asan: \([0-9]*\) passed, [0-9]* failed$/\1/p' "$logdir/asan.out" | tail -n 1)
        asan_fail=$(sed -n 's/^asan: [0-9]* passed, \([0-9]*\) failed$/\1/p' "$logdir/asan.out" | tail -n 1)
        asan_pass=${asan_pass:-0} asan_fail=${asan_fail:-0}
        if [ "$asan_rc" -ne 0 ] && [ "$asan_fail" -eq 0 ]; then asan_fail=1; fi
        continue
    fi
    db=${name#pytest-}
    # pytest's closing line, e.g. "3 failed, 40 passed, 2 skipped, 1 error in 9.1s"
    last=$(grep -E '[0-9]+ (passed|failed|skipped|errors?|deselected|xfailed|xpassed)' \
        "$logdir/$name.out" | tail -n 1 || true)
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
done

total_pass=$((unit_pass + py_pass + fuzz_pass + vg_pass + asan_pass))
total_fail=$((unit_fail + py_fail + fuzz_fail + vg_fail + asan_fail))
total_skip=$((unit_skip + py_skip))
echo
say "unit: $unit_pass passed, $unit_fail failed (make check exit $unit_rc)"
say "valgrind: $vg_pass unit test programs passed, $vg_fail failed (make valgrind-check exit $vg_rc)"
say "pytest: $py_pass passed, $py_fail failed, $py_skip skipped${py_note:+ ($py_note)}"
say "fuzz: $fuzz_pass targets passed, $fuzz_fail failed (make fuzz-short exit $fuzz_rc)"
say "asan: $asan_pass passed, $asan_fail failed (make asan-check exit $asan_rc)"
echo "summary: $total_pass passed, $total_fail failed, $total_skip skipped"
[ "$unit_rc" -eq 0 ] && [ "$py_rc" -eq 0 ] && [ "$fuzz_rc" -eq 0 ] && [ "$vg_rc" -eq 0 ] \
    && [ "$asan_rc" -eq 0 ] && [ "$total_fail" -eq 0 ]
