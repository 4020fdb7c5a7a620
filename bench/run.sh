#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# bench/run.sh [--quick] [--vigil PATH] [--conmon PATH] [bench.py options...]
# vigil vs conmon benchmark; see bench/README.md.  Run as root.
exec python3 "$(dirname "$0")/bench.py" "$@"
