#!/bin/sh
# make check: scripts/check-includes.py must pass a clean tree and fail a tree
# with an httpd header in the library or an include cycle (fixtures it makes).
exec /usr/bin/python3 "$(dirname "$0")/check-includes.py" --self-test
