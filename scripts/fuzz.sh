#!/usr/bin/env bash
# Fuzzes rotor's parsers of outside input with libFuzzer (clang), ASan and
# UBSan, one harness at a time: manifests, the controller config, AWS's XML
# replies, Infisical's JSON replies, the shared AWS files, container and
# instance-metadata credentials, and env files (tests/fuzz/harnesses.cmake
# lists them). Usage: scripts/fuzz.sh [SECONDS per harness, default 60]
# [NAME...] (default: every harness).
# New interesting inputs are added to tests/fuzz/corpus/<name>/, which is
# then minimised (libFuzzer -merge=1 into a fresh directory, on edge
# coverage; inputs over 8 KiB are not kept). tests/fuzz/regress/<name>/ holds the inputs of past
# findings: read as seeds, never minimised away. Crashes, leaks, UB and timeouts are written to
# build/fuzz/artifacts/<name>/ with the log in build/fuzz/fuzz_<name>.log,
# and the script exits non-zero. The machine is shared: run it under nice.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
secs=${1:-60}
shift || true
if [ "$#" -gt 0 ]; then
	names=("$@")
else
	read -r -a names <<<"$(sed -n 's/^set(ROTOR_FUZZ_HARNESSES \(.*\))$/\1/p' \
		tests/fuzz/harnesses.cmake)"
fi
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DROTOR_SANITIZE=ON -DROTOR_FUZZ=ON \
	-DROTOR_TESTS=ON >/dev/null
cmake --build build/fuzz -j2 --target "${names[@]/#/fuzz_}"
failed=()
for name in "${names[@]}"; do
	corpus="tests/fuzz/corpus/$name"
	seeds=()
	[ -d "tests/fuzz/regress/$name" ] && seeds=("tests/fuzz/regress/$name")
	artifacts="build/fuzz/artifacts/$name"
	log="build/fuzz/fuzz_$name.log"
	mkdir -p "$corpus" "$artifacts"
	echo "== fuzz_$name for ${secs}s"
	rc=0
	./build/fuzz/tests/fuzz/fuzz_"$name" -max_total_time="$secs" -max_len=8192 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
		"$corpus" "${seeds[@]}" </dev/null >"$log" 2>&1 || rc=$?
	grep -E "^(Done [0-9]+ runs|stat::|==.*ERROR|SUMMARY|fuzz: )" "$log" || true
	if [ "$rc" -ne 0 ]; then
		echo "fuzz_$name: exit $rc; see $log and $artifacts/" >&2
		failed+=("$name")
		continue
	fi
	fresh="build/fuzz/merge-$name"
	rm -rf "$fresh"
	mkdir -p "$fresh"
	# Edges only (-use_counters=0): hit-count variety would keep hundreds
	# more inputs that add nothing to a regression corpus.
	./build/fuzz/tests/fuzz/fuzz_"$name" -merge=1 -use_counters=0 -max_len=8192 -timeout=10 \
		-rss_limit_mb=2048 "$fresh" "$corpus" </dev/null >>"$log" 2>&1
	find "$fresh" -type f -size +8k -delete
	rm -rf "$corpus"
	mv "$fresh" "$corpus"
	echo "fuzz_$name: corpus minimised to $(find "$corpus" -type f | wc -l) inputs"
done
if [ "${#failed[@]}" -gt 0 ]; then
	echo "fuzz: findings in ${failed[*]}" >&2
	exit 1
fi
