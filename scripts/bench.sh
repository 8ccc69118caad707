#!/usr/bin/env bash
# Builds an optimised rotor and runs every benchmark under bench/, printing
# their figures. Usage: scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DROTOR_TESTS=OFF >/dev/null
cmake --build build/release -j2
for b in build/release/bench/bench_*; do
	echo "== $(basename "$b")"
	"$b"
done
