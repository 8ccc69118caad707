#!/usr/bin/env bash
# Fuzzes the manifest and config parsers with libFuzzer (clang), ASan and
# UBSan. Usage: scripts/fuzz.sh [SECONDS per harness, default 60]
# New interesting inputs are added to tests/fuzz/corpus/<name>/; crashes are
# written to build/fuzz/ and the script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
secs=${1:-60}
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DROTOR_SANITIZE=ON -DROTOR_FUZZ=ON \
	-DROTOR_TESTS=ON >/dev/null
cmake --build build/fuzz -j2 --target fuzz_manifest fuzz_config
for name in manifest config; do
	echo "== fuzz_$name for ${secs}s"
	(cd build/fuzz && ./tests/fuzz/fuzz_$name -max_total_time="$secs" -max_len=8192 \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		"../../tests/fuzz/corpus/$name" 2>&1 | grep -E "^(#[0-9]+ *DONE|stat::|==.*ERROR|SUMMARY)" || true)
done
