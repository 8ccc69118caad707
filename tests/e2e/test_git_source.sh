#!/usr/bin/env bash
# The git source (issue 18): every command given no PATH reads the config's
# source at its branch head, fetched into a bare cache.
#  - file://: plan names the commit it read; apply adopts from it and the
#    audit record carries the full commit id; a new commit is read after a
#    fetch; a force-push (history rewritten) just reads the new head;
#    --revision reads an older commit; a missing branch, a missing path and
#    an invalid manifest (path@sha:line:col, exit 3) each say what to fix;
#  - git daemon (git://) on loopback;
#  - git http-backend behind basic auth (HTTPS-style token auth): the right
#    token reads, a wrong one fails with "authentication failed", and the
#    token never appears in rotor's output.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
command -v git >/dev/null || { echo "skip: git is not installed (scripts/deps.sh installs it)"; exit 77; }

git_identity
REPO=$WORLD/gitroot/repo
mkdir -p "$REPO/aws"
git -C "$REPO" init -q -b main
new_case src raxx-src '[{"created": "2025-10-01T00:00:00Z"}]'
cp "$WORLD/m/src/src.yaml" "$REPO/aws/src.yaml"
git -C "$REPO" add -A && git -C "$REPO" commit -qm "src: adopt raxx-src"
C1=$(git -C "$REPO" rev-parse HEAD)

BASECFG=$WORLD/rotor.yaml
with_source() { # URL [EXTRA_SOURCE_LINES] -> $WORLD/src.yaml
	{
		cat "$BASECFG"
		printf 'source:\n  url: "%s"\n  branch: %s\n  path: %s\n  cacheDir: %s\n%s' \
			"$1" "${BRANCH:-main}" "${SRCPATH:-aws}" "$WORLD/gitcache" "${2:-}"
	} >"$WORLD/src.yaml"
}
with_source "file://$REPO"
export ROTOR_CONFIG=$WORLD/src.yaml

# ---- file:// ------------------------------------------------------------------
plan "file source" "$@"
check "file: plan reads the source at its head and names the commit" \
	'grep -q "^manifests: file://$REPO, branch main, at commit $C1" <<<"$out" && grep -q "src (raxx-src" <<<"$out"'
run apply
check "file: apply adopts from the source" '[ $rc = 0 ] && [ -n "$(akid_of src)" ]'
check "file: the audit record carries the full commit id" 'grep -q "\"revision\":\"$C1\"" "$WORLD/audit.jsonl"'
sed -i 's/^  cadence: 30d$/  cadence: 20d/' "$REPO/aws/src.yaml"
git -C "$REPO" commit -qam "src: cadence 20d"
C2=$(git -C "$REPO" rev-parse HEAD)
plan "file source, second commit"
check "file: a new commit is read after a fetch" 'grep -q "at commit $C2" <<<"$out"'
git -C "$REPO" commit -q --amend -m "src: cadence 20d (reworded, force-pushed)"
C3=$(git -C "$REPO" rev-parse HEAD)
plan "file source, history rewritten"
check "file: a force-push just reads the new head" '[ $rc = 0 ] && grep -q "at commit $C3" <<<"$out"'
plan "file source, --revision" --revision "$C1"
check "file: --revision reads an older commit" '[ $rc = 0 ] && grep -q "at commit $C1" <<<"$out"'
check "file: the cache is a bare repository, no checkout" \
	'[ "$(git -C "$WORLD/gitcache"/*.git rev-parse --is-bare-repository)" = true ] && [ -z "$(find "$WORLD/gitcache" -name src.yaml)" ]'

BRANCH=nope with_source "file://$REPO"
run plan
check "file: a missing branch fails and says so" '[ $rc = 1 ] && grep -q "the branch nope does not exist there (source.branch)" <<<"$out"'
SRCPATH=nowhere with_source "file://$REPO"
run plan
check "file: a missing path fails and says so" '[ $rc = 1 ] && grep -q "has no directory nowhere (source.path)" <<<"$out"'
with_source "file://$REPO"
chmod 0777 "$WORLD/gitcache"
run plan
check "file: a cache directory others may write is refused, naming it and the fix" \
	'[ $rc = 1 ] && grep -q "cache directory $WORLD/gitcache is not a directory of this user that only it can write (owner [0-9]*, mode 0777): fix it, or set source.cacheDir" <<<"$out"'
chmod 0700 "$WORLD/gitcache"
printf 'apiVersion: rotor/v1\nkind: AccessKeyRotation\nmetadata: {name: Bad_Name}\nspec: {user: x}\n' >"$REPO/aws/bad.yaml"
git -C "$REPO" add -A && git -C "$REPO" commit -qm "bad"
BAD=$(git -C "$REPO" rev-parse --short=7 HEAD)
run plan
check "file: an invalid manifest is reported as path@sha:line:col, exit 3" \
	'[ $rc = 3 ] && grep -q "^aws/bad.yaml@$BAD:3:18: metadata.name" <<<"$out"'
git -C "$REPO" rm -q aws/bad.yaml && git -C "$REPO" commit -qm "unbad"

# ---- rotor diff --observe: the live forecast of the head's manifests ---------
new_case obs raxx-obs '[{"created": "2025-10-01T00:00:00Z"}]'
cp "$WORLD/m/obs/obs.yaml" "$REPO/aws/obs.yaml"
git -C "$REPO" add -A && git -C "$REPO" commit -qm "obs: adopt raxx-obs"
read -r AS IS <<<"$(q seq)"
out=$(cd "$REPO" && "$ROTOR_BIN" diff --observe --config "$WORLD/src.yaml" --base HEAD~1 --head HEAD 2>&1)
rc=$?
check "diff --observe: the added user rotates right after the merge, observed live" \
	'[ $rc = 0 ] && grep -q "observed now: rotates right after the merge" <<<"$out" && grep -q "1 user rotates on merge" <<<"$out"'
check "diff --observe changed nothing (reads only)" '[ -z "$(q writes "$AS" "$IS")" ]'
out=$(cd / && "$ROTOR_BIN" diff --source --config "$WORLD/src.yaml" --base "$C1" --head main 2>&1)
rc=$?
check "diff --source: the config's source compared, from any directory" \
	'[ $rc = 0 ] && grep -q "^+ obs (raxx-obs on aws-test): added" <<<"$out" && grep -q "spec.cadence: 30d -> 20d" <<<"$out"'

# ---- git daemon (git://) --------------------------------------------------------
PORT=$(free_port)
git daemon --reuseaddr --listen=127.0.0.1 --port="$PORT" --base-path="$WORLD/gitroot" \
	--export-all --timeout=30 "$WORLD/gitroot" >"$WORLD/daemon.log" 2>&1 &
DAEMON=$!
echo "$DAEMON" >>"$WORLD/pids"
for _ in $(seq 1 100); do
	git ls-remote "git://127.0.0.1:$PORT/repo" >/dev/null 2>&1 && break
	sleep 0.05
done
rm -rf "$WORLD/gitcache"
with_source "git://127.0.0.1:$PORT/repo"
HEAD_NOW=$(git -C "$REPO" rev-parse HEAD)
plan "git daemon"
check "git://: plan reads the source through git daemon" '[ $rc = 0 ] && grep -q "at commit $HEAD_NOW" <<<"$out"'
kill "$DAEMON" 2>/dev/null

# ---- git http-backend behind basic auth ---------------------------------------------
TOKEN=tok-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$ROTOR_PYTHON" "$ROTOR_SOURCE_DIR/tests/e2e/git_http.py" --root "$WORLD/gitroot" --token "$TOKEN" \
	--lifetime 120 >"$WORLD/http.out" 2>"$WORLD/http.err" &
echo $! >>"$WORLD/pids"
for _ in $(seq 1 200); do
	HPORT=$(sed -n 's/^PORT //p' "$WORLD/http.out")
	[ -n "$HPORT" ] && break
	sleep 0.05
done
rm -rf "$WORLD/gitcache"
with_source "http://127.0.0.1:$HPORT/repo" '  auth: {token: {env: GIT_TOKEN}}
'
GIT_TOKEN=$TOKEN run plan
check "http: with the right token the source is read" '[ $rc = 0 ] && grep -q "at commit $HEAD_NOW" <<<"$out"'
check "http: the token is nowhere in rotor's output" '! grep -qF "$TOKEN" <<<"$out"'
rm -rf "$WORLD/gitcache"
GIT_TOKEN=wrong-$TOKEN run plan
check "http: a wrong token fails with authentication failed, naming source.auth" \
	'[ $rc = 1 ] && grep -q "authentication failed: check source.auth" <<<"$out" && ! grep -qF "$TOKEN" <<<"$out"'

no_secret_leaked
finish
