#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# run-fuzzer.sh FUZZER SEEDS SCRATCH SECONDS: runs a libFuzzer target for SECONDS over a
# scratch copy of its seed corpus (new inputs land there, never in the source tree); crash
# reproducers are written to SCRATCH/artifacts/.  Prints the executions and exits non-zero on
# any crash, leak, timeout or sanitizer report.
set -eu
fuzzer=$1 seeds=$2 scratch=$3 seconds=$4
rm -rf "$scratch"
mkdir -p "$scratch/corpus" "$scratch/artifacts"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$scratch/artifacts/" "$scratch/corpus" "$seeds"
