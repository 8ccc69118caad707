#!/usr/bin/env bash
# Builds an optimised rotor and runs every benchmark under bench/, printing
# their figures (never part of the test suite: timings are not assertions).
# Usage: scripts/bench.sh [USERS...]   (default 1000 10000 for the doubles)
#   bench_*          C programs (bench/CMakeLists.txt)
#   plan_scale.py    `rotor plan` against the doubles with 20 ms latency a
#                    request: wall time beside its latency and rate-limit
#                    floors, peak RSS, requests per user (docs/scale.md)
#   controller_idle.py  `rotor controller` with 1,000 manifests: the pass when
#                    all fall due together, then CPU and RSS idle for a minute
#   moto_sop.py      `rotor plan` against moto beside the seed SOP's aws CLI
#                    loop, and beside moto's own CPU floor (100 users)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DROTOR_TESTS=OFF >/dev/null
cmake --build build/release -j2
for b in build/release/bench/bench_*; do
	echo "== $(basename "$b")"
	"$b"
done
# The doubles are stdlib Python; moto's server is the python3 first on PATH.
echo "== plan_scale.py"
if [ $# -gt 0 ]; then python3 bench/plan_scale.py build/release/rotor "$@"; else python3 bench/plan_scale.py build/release/rotor 1000 10000; fi
echo "== controller_idle.py"
python3 bench/controller_idle.py build/release/rotor 1000 --seconds 60
echo "== moto_sop.py"
if python3 -c 'import moto.server, boto3' 2>/dev/null && command -v aws >/dev/null; then
	python3 bench/moto_sop.py build/release/rotor 100
else
	echo "skipped: needs moto (python3 -m moto.server) and the aws CLI on PATH"
fi
