#!/usr/bin/env bash
# Formats every tracked C file with the checked-in .clang-format, or with
# --check lists the files that differ and exits 1 (the test command runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find cmd reconciler tests bench -name '*.[ch]')
if [ "${1:-}" = "--check" ]; then
	off=()
	for f in "${files[@]}"; do
		clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || off+=("$f")
	done
	if [ "${#off[@]}" -gt 0 ]; then
		echo "format: these files differ from .clang-format; run scripts/format.sh:" >&2
		printf '  %s\n' "${off[@]}" >&2
		exit 1
	fi
	echo "format: ${#files[@]} C files follow .clang-format"
else
	clang-format -i "${files[@]}"
fi
