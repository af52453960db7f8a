#!/usr/bin/env bash
# The integration suite against mod_pdshare built with AddressSanitizer and
# UndefinedBehaviorSanitizer (make asan-check). The module and its library are
# built in a copy of the committed tree under $PDSHARE_ASAN_DIR (default
# /tmp/pdshare-asan); httpd runs with the sanitizer runtimes preloaded, and a
# report from any child fails the run. Extra arguments go to pytest.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${PDSHARE_ASAN_DIR:-/tmp/pdshare-asan}
logs=$dir/reports
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined"

say() { printf 'asan: %s\n' "$*"; }

rm -rf "$dir"
mkdir -p "$dir"
mkdir -p "$dir/src"
git -C "$repo" archive HEAD | tar -x -C "$dir/src"
cd "$dir/src"
say "building with $flags"
autoreconf -fi >/dev/null
./configure -q CFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" >/dev/null
make -j2 mod_pdshare/libpdshare.la mod_pdshare/pds_paths.h >/dev/null
cd mod_pdshare
# Every glue file, as the Makefile's PDS_GLUE_SRC: a list here would drift.
glue=(mod_pdshare*.c)
apxs -c -o mod_pdshare.la $(printf -- '-Wc,%s ' $flags) -Wl,-fsanitize=address,undefined \
    $(pkg-config --cflags jansson libcrypto libcurl) \
    "${glue[@]}" libpdshare.la \
    $(pkg-config --libs jansson libcurl libcrypto) >"$dir/apxs.log" 2>&1 ||
    { cat "$dir/apxs.log"; exit 1; }

mkdir -p "$logs"
chmod 777 "$logs"                       # httpd's children write here as its User
cat >"$dir/httpd" <<WRAP
#!/bin/sh
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
# httpd frees its pools at exit, not every malloc: leaks are valgrind's job.
export ASAN_OPTIONS="detect_leaks=0:log_path=$logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$logs/ubsan"
exec /usr/sbin/apache2 "\$@"
WRAP
chmod +x "$dir/httpd"

cd "$repo"
rc=0
PDSHARE_HTTPD=$dir/httpd PDSHARE_MODULE=$dir/src/mod_pdshare/.libs/mod_pdshare.so \
    /usr/bin/python3 -m pytest tests/ -q -p no:cacheprovider "$@" 2>&1 | tee "$dir/pytest.out" || rc=${PIPESTATUS[0]}
last=$(grep -E '[0-9]+ (passed|failed|errors?)' "$dir/pytest.out" | tail -n 1 || true)
passed=$(sed -n 's/.*\b\([0-9]\+\) passed.*/\1/p' <<<"$last")
failed=$(( $(sed -n 's/.*\b\([0-9]\+\) failed.*/\1/p' <<<"$last") + \
           $(sed -n 's/.*\b\([0-9]\+\) errors\?\b.*/\1/p' <<<"$last") + 0 ))
if [ -n "$(ls -A "$logs")" ]; then
    say "sanitizer reports:"
    cat "$logs"/*
    rc=1
    failed=$((failed + 1))
else
    say "no sanitizer report"
fi
[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
# The closing line scripts/test.sh reads.
say "${passed:-0} passed, $failed failed"
exit $rc
