#!/usr/bin/env bash
# Builds rotor and runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROTOR_TESTS=OFF >/dev/null
cmake --build build/release -j2
build/release/rotor version
