#!/usr/bin/env bash
# Every malformed manifest and config under testdata/invalid/ must fail
# `rotor validate` with exactly the messages in its expected.txt (golden
# file) and exit status 3 (or the one in its `exit` file).
# UPDATE=1 rewrites the golden files from the current output: review the diff.
source "$(dirname "$0")/lib.sh"
cd "$ROTOR_SOURCE_DIR/testdata/invalid" || exit 1
export INFISICAL_CLIENT_ID=test-client-id INFISICAL_CLIENT_SECRET=test-client-secret \
	HEROKU_API_KEY=test-heroku-token
unset ROTOR_CONFIG
for dir in */; do
	name=${dir%/}
	args=()
	[ -f "$name/rotor.yaml" ] && args=(--config rotor.yaml)
	target=manifest.yaml
	[ -d "$name/manifests" ] && target=manifests
	out=$(cd "$name" && "$ROTOR_BIN" validate "${args[@]}" "$target" 2>&1)
	rc=$?
	want_rc=3
	[ -f "$name/exit" ] && want_rc=$(cat "$name/exit")
	if [ "${UPDATE:-0}" = 1 ]; then
		printf '%s\n' "$out" >"$name/expected.txt"
	fi
	if [ "$rc" != "$want_rc" ]; then
		not_ok "$name: exit $rc, want $want_rc"
		printf '%s\n' "$out" | sed 's/^/    /'
	elif ! diff -u "$name/expected.txt" <(printf '%s\n' "$out") >/tmp/rotor-diff.$$; then
		not_ok "$name: output differs from expected.txt"
		sed 's/^/    /' /tmp/rotor-diff.$$
	elif [ -f "$name/forbidden" ] && grep -qF -f "$name/forbidden" <<<"$out"; then
		not_ok "$name: output contains a value that must never be printed"
	else
		ok "$name"
	fi
done
rm -f /tmp/rotor-diff.$$
[ "$passed" -ge 30 ] || not_ok "only $passed cases passed; at least 30 are expected"
finish
