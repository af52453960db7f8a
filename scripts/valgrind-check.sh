#!/usr/bin/env bash
# make valgrind-check: each unit test program under valgrind memcheck.
#   scripts/valgrind-check.sh PROGRAM...
# A program fails when it fails its own tests, when memcheck reports an error
# (invalid read or write, use of an uninitialised value, bad free...) or when it
# leaks memory definitely or indirectly. Memory still reachable at exit is not a
# failure (one-time library init); "possibly lost" is not shown. A libtool wrapper
# is run through $LIBTOOL --mode=execute, so valgrind sees the real binary.
# Each program's output and valgrind's report go to PROGRAM.valgrind.log.
# One closing line per program, then "valgrind: N passed, M failed"; exits
# non-zero when any failed.
#   VALGRIND   the valgrind command (default: valgrind)
#   LIBTOOL    the build's libtool command (make passes $(LIBTOOL))
#   VALGRIND_TIMEOUT  seconds a program may take (default: 900)
set -uo pipefail

valgrind=${VALGRIND:-valgrind}
timeout_s=${VALGRIND_TIMEOUT:-900}
read -r -a libtool <<<"${LIBTOOL:-}"

say() { printf 'valgrind: %s\n' "$*"; }

if [ $# -eq 0 ]; then
    say "no unit test programs (is cmocka missing? install libcmocka-dev and re-run ./configure)"
    echo "valgrind: 0 passed, 1 failed"
    exit 1
fi
if ! command -v "$valgrind" >/dev/null 2>&1; then
    say "$valgrind not found (scripts/deps.txt lists valgrind)"
    echo "valgrind: 0 passed, $# failed"
    exit 1
fi

# Errors, and definite or indirect leaks, make valgrind exit 1; the programs
# themselves exit 1 when a test fails; the log tells the two apart.
opts=(--leak-check=full "--show-leak-kinds=definite,indirect"
      "--errors-for-leak-kinds=definite,indirect" --error-exitcode=1
      --track-origins=yes --num-callers=30)

# "==PID== ERROR SUMMARY: 3 errors from 2 contexts" -> 3; "definitely lost: 1,024 bytes" -> 1024
vg_number() { sed -n "s/^==[0-9]*== *$1: \([0-9,]*\) .*/\1/p" "$2" | tail -n 1 | tr -d ,; }

passed=0 failed=0
for prog in "$@"; do
    log=$prog.valgrind.log
    start=$(date +%s)
    rc=0
    if [ ${#libtool[@]} -gt 0 ]; then
        timeout "$timeout_s" "${libtool[@]}" --mode=execute "$valgrind" "${opts[@]}" "$prog" >"$log" 2>&1 || rc=$?
    else
        timeout "$timeout_s" "$valgrind" "${opts[@]}" "$prog" >"$log" 2>&1 || rc=$?
    fi
    secs=$(( $(date +%s) - start ))
    errors=$(vg_number 'ERROR SUMMARY' "$log")
    definite=$(vg_number 'definitely lost' "$log")
    indirect=$(vg_number 'indirectly lost' "$log")
    tests=$(sed -n 's/^\[==========\] \([0-9]*\) test(s) run\./\1/p' "$log" | tail -n 1)
    tpassed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s).*/\1/p' "$log" | tail -n 1)
    # cmocka counts a failed setup as an error, not in its FAILED line: what did not
    # pass failed. A program without cmocka's summary is judged by its exit status.
    tfailed=
    [ -n "$tests" ] && [ -n "$tpassed" ] && tfailed=$((tests - tpassed))
    what="${tests:-?} tests, ${tfailed:-?} failed, ${errors:-?} errors (leaks included), ${definite:-0} bytes definitely and ${indirect:-0} indirectly lost"
    if [ "$rc" -eq 0 ] && [ "${errors:-x}" = 0 ] && [ "${tfailed:-0}" = 0 ]; then
        passed=$((passed + 1))
        say "$prog: passed in $secs s: $what"
    else
        failed=$((failed + 1))
        case "$rc" in
            124) what="timed out after $timeout_s s; $what" ;;
            0|1) ;;
            *) what="exit $rc; $what" ;;
        esac
        [ -n "$errors" ] || what="$what (no valgrind summary: did it start?)"
        say "$prog: FAILED in $secs s: $what; report $log"
        # The report without the per-test chatter, so a run's output shows what failed.
        grep -v -e '^\[ *\(RUN\|OK\) *\]' "$log" | sed -n '1,200p' | sed 's/^/  | /' >&2
    fi
done
echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
