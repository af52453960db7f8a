#!/usr/bin/env bash
# Install the Debian packages listed in scripts/deps.txt that are not installed yet.
# Runs as root, or through sudo. Does nothing (and needs no privileges) when all are
# present. Never leaves a system apache2 started by the install: our scripts run
# their own httpd on loopback.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deps_file=${PDSHARE_DEPS_FILE:-$here/deps.txt}

say() { printf 'install-deps: %s\n' "$*"; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

[ -r "$deps_file" ] || die "cannot read the package list $deps_file"
command -v dpkg-query >/dev/null 2>&1 ||
    die "dpkg-query not found: this script installs Debian packages (Debian 12 expected)"

# One package per line; '#' starts a comment; blank lines are skipped.
wanted=()
while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    line=$(printf '%s' "$line" | tr -d '[:space:]')
    [ -n "$line" ] && wanted+=("$line")
done <"$deps_file"
[ ${#wanted[@]} -gt 0 ] || die "no packages listed in $deps_file"

is_installed() {
    # npm ships inside some Node.js builds (not Debian's): the command is what counts.
    if [ "$1" = npm ] && command -v npm >/dev/null 2>&1; then
        return 0
    fi
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing=()
for pkg in "${wanted[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
    say "all ${#wanted[@]} packages from $(basename "$deps_file") are installed"
    exit 0
fi
say "missing: ${missing[*]}"

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
    say "not root: using sudo (it may ask for your password)"
else
    die "installing packages needs root, and sudo is not available.
  Run this script as root, or install as root:
    apt-get update && apt-get install -y ${missing[*]}"
fi
run_root() { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive "$@"; }

# invoke-rc.d asks /usr/sbin/policy-rc.d whether a package may start its service;
# 101 means "no". Put one in place only if there is none, and take it away after.
policy=/usr/sbin/policy-rc.d
made_policy=0
remove_policy() {
    if [ "$made_policy" = 1 ]; then
        run_root rm -f "$policy" || say "warning: could not remove $policy; remove it by hand"
        made_policy=0
    fi
}
trap remove_policy EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Temporary, from mod_pdshare scripts/install-deps.sh\nexit 101\n' |
        run_root tee "$policy" >/dev/null
    made_policy=1
    run_root chmod 0755 "$policy"
fi

run_root apt-get update
run_root apt-get install -y -q "${missing[@]}"

still=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still+=("$pkg")
done
[ ${#still[@]} -eq 0 ] || die "still not installed after apt-get: ${still[*]}"
say "installed: ${missing[*]}"
