#!/usr/bin/env bash
# Build mod_pdshare in the source tree: the packages it needs, autotools, make.
#   PDSHARE_SKIP_DEPS=1          do not run scripts/install-deps.sh
#   PDSHARE_CONFIGURE_ARGS="..." extra ./configure arguments (e.g. --with-apxs=PATH),
#                                used when there is no Makefile yet
#   PDSHARE_MAKE_JOBS=N          make -jN (default 2)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

say() { printf 'build: %s\n' "$*"; }

if [ "${PDSHARE_SKIP_DEPS:-0}" != 1 ]; then
    scripts/install-deps.sh
fi

if [ ! -x configure ] || [ configure.ac -nt configure ]; then
    say "autoreconf -fi"
    autoreconf -fi
fi

if [ ! -f Makefile ]; then
    # Word splitting of the extra arguments is intended.
    # shellcheck disable=SC2086
    say "./configure ${PDSHARE_CONFIGURE_ARGS:-}"
    # shellcheck disable=SC2086
    ./configure ${PDSHARE_CONFIGURE_ARGS:-}
fi

say "make -j${PDSHARE_MAKE_JOBS:-2}"
make -j"${PDSHARE_MAKE_JOBS:-2}"
say "done: mod_pdshare/.libs/mod_pdshare.so, mod_pdshare/pdsharectl"
