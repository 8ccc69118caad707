#!/usr/bin/env bash
# Builds rotor with -Werror and ASan+UBSan, then runs every test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# Every C file follows the checked-in .clang-format (issue 15).
scripts/format.sh --check
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DROTOR_WERROR=ON -DROTOR_SANITIZE=ON -DROTOR_TEST_HOOKS=ON >/dev/null
cmake --build build/test -j2
# The shipped manifests must always validate (issue 3).
if [ -x build/test/rotor ] && build/test/rotor help 2>/dev/null | grep -q validate; then
	build/test/rotor validate --config manifests/rotor.yaml manifests/
fi
cd build/test
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
LSAN_OPTIONS=suppressions=$PWD/../../tests/lsan.supp \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --output-on-failure -j2 --timeout 300
