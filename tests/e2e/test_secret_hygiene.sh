#!/usr/bin/env bash
# Secret hygiene (contract §6, invariant 5): a whole lifecycle at
# ROTOR_LOG_LEVEL=debug — adoption, deactivation, deletion, a second
# rotation, a rollback, resume, an explicit rotate, with `plan` (text, JSON,
# markdown) and `status` in between and a few injected faults so that error
# paths log too — keeping every byte rotor writes: stdout and stderr of every
# command, the plan JSON, the audit log, and every file it creates under the
# world dir and under $TMPDIR (a fresh dir). Every secret access key the AWS
# double issues is collected after every step (deleted keys vanish from its
# state), together with the manager's secret and the Infisical client
# secret; none may appear anywhere but in the Infisical double's own state
# and the env-file consumer (which may hold the user's pair, never a
# controller credential). The consumer's reload command records the
# environment it was started with: no controller credential may be in it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
source "$(dirname "$0")/crashlib.sh"
# the consumers' credentials are secrets too (the scanner's extra list)
export CRASH_KNOWN_SECRETS="$HEROKU_TOKEN $GITHUB_TOKEN"
crash_world_start 2026-01-01T00:00:00Z || exit 1
# every consumer kind: Heroku, GitHub (by token and by App) where PyNaCl is
# there, an env file over SSH where sshd is
world_heroku || exit 1
GH=1 SSH=1
world_github || GH=0
world_sshd || SSH=0
heroku_ctl POST apps '{"name": "raxx-hyg"}' >/dev/null
[ $GH = 0 ] || github_ctl POST repos '{"full_name": "raxx/hyg"}' >/dev/null
REMOTE=$WORLD/remote/hyg.env
export ROTOR_VALIDATE_TIMEOUT_MS=20000 ROTOR_LOG_LEVEL=debug ROTOR_LOG_FORMAT=text
RUNTMP=$(mktemp -d /tmp/rotor-hygiene-tmp.XXXXXX)
ENVDUMP=$(mktemp -d /tmp/rotor-hygiene-env.XXXXXX) # outside the world: checked on its own
trap 'crash_world_cleanup; rm -rf "$RUNTMP" "$ENVDUMP"' EXIT
M=$WORLD/manifests
N=hyg
U=raxx-hygiene
ENVF=$WORLD/etc/$N.env
OUT=$WORLD/out
mkdir -p "$OUT"

# A reload command that keeps the environment rotor gave it.
"$ROTOR_PYTHON" - "$WORLD/rotor.yaml" "$ENVDUMP" <<'PY'
import sys
path, dump = sys.argv[1], sys.argv[2]
lines = open(path).read().splitlines(True)
out = []
for line in lines:
    out.append(line)
    if line.startswith("  reload:"):
        out.append('    envdump: {argv: [sh, -c, "env > %s/env.$$"], timeout: 30s}\n' % dump)
open(path, "w").write("".join(out))
PY
crash_manifest $N $U 30d 1h 1d
sed -i 's/reload: crashgate/reload: envdump/' "$M/$N.yaml"
printf '    - name: api\n      heroku: {connection: heroku-test, app: raxx-hyg}\n' >>"$M/$N.yaml"
[ $GH = 0 ] || printf '    - name: ci\n      githubActions: {connection: github-test, repository: raxx/hyg}\n    - name: ci-app\n      githubActions: {connection: github-app, repository: raxx/hyg, accessKeyIdName: APP_AKID, secretAccessKeyName: APP_SECRET}\n' >>"$M/$N.yaml"
[ $SSH = 0 ] || printf '    - name: host\n      envFile: {ssh: host-test, path: %s, reload: restart-app}\n' "$REMOTE" >>"$M/$N.yaml"
echo "# consumers: env file, Heroku$([ $GH = 1 ] && echo ", GitHub (token, App)")$([ $SSH = 1 ] && echo ", env file over SSH")"

step=0
# Runs one rotor command with TMPDIR fresh; collects secrets before and after.
run() { # LABEL ARGS...
	local label=$1
	shift
	step=$((step + 1))
	crash_collect
	TMPDIR=$RUNTMP "$ROTOR_BIN" "$@" >"$OUT/$(printf %02d $step)-$label.out" \
		2>"$OUT/$(printf %02d $step)-$label.err"
	local rc=$?
	crash_collect
	return $rc
}
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; return 1; fi; }

aws_ctl POST users "{\"name\": \"$U\", \"keys\": [{\"created\": \"2025-10-01T00:00:00Z\", \"last_used\": {\"date\": \"2025-12-31T12:00:00Z\", \"service\": \"s3\", \"region\": \"eu-west-1\"}}]}" >/dev/null
aws_ctl POST settings '{"propagation_delay": 1.0}' >/dev/null # validation retries, logged
crash_collect

run validate validate --config "$WORLD/rotor.yaml" "$M"
run plan-adopt plan "$M"
run plan-adopt-json plan --format json "$M"
run plan-adopt-md plan --format markdown "$M"
run status-adopt status "$M"
# adoption, with one throttled TagUser and a dropped Infisical list on the way
aws_ctl POST faults '{"rules": [{"match": "TagUser", "kind": "throttle", "after": 1, "count": 1}]}' >/dev/null
inf_ctl POST faults '{"rules": [{"match": "list", "kind": "error500", "after": 1, "count": 1}]}' >/dev/null
# real sleeps: validation must wait out the real 1 s propagation delay
ROTOR_TEST_SLEEP_SCALE=1 run apply-adopt apply "$M"
rc=$?
check "adoption applied" '[ $rc = 0 ] && [ -n "$(store_akid)" ]'
aws_ctl DELETE faults >/dev/null
inf_ctl DELETE faults >/dev/null
aws_ctl POST settings '{"propagation_delay": 0}' >/dev/null
run status-adopted status "$M"
run plan-adopted-json plan --format json "$M"

clock_advance 7200
run plan-deactivate plan "$M"
run apply-deactivate apply "$M"
clock_advance 90000
run plan-delete-json plan --format json "$M"
run apply-delete apply "$M"
check "deactivate and delete: one key left" '[ "$(iam_keys $U | wc -l)" = 1 ]'

clock_advance $((30 * 86400))
run plan-rotate2 plan "$M"
run plan-rotate2-json plan --format json "$M"
run apply-rotate2 apply "$M"
K2=$(store_akid)
run status-rotated2 status "$M"

# an Infisical error on the read-back path and an STS drop, at debug level
inf_ctl POST faults '{"rules": [{"match": "get", "kind": "error", "status": 400, "code": "BadRequest", "message": "injected", "count": 1}]}' >/dev/null
aws_ctl POST faults '{"rules": [{"match": "GetCallerIdentity", "kind": "drop", "count": 1}]}' >/dev/null
run status-faults status "$M"
aws_ctl DELETE faults >/dev/null
inf_ctl DELETE faults >/dev/null

run rollback rollback $N "$M"
check "rollback restores the previous key" '[ -n "$K2" ] && [ "$(store_akid)" != "$K2" ]'
run status-rolledback status "$M"
run plan-rolledback-json plan --format json "$M"
run resume resume $N "$M"
run rotate rotate $N "$M"
run status-final status "$M"
run plan-final-json plan --format json "$M"
crash_collect

# Non-vacuity: enough secrets were collected, and the scanner finds one in
# the consumer when the consumer is not allowed to hold it.
read -r nkeys nctl < <("$ROTOR_PYTHON" -c '
import json, sys
s = json.load(open(sys.argv[1])).values()
print(sum(1 for l in s if l.startswith("the secret of") and sys.argv[2] in l),
      sum(1 for l in s if not l.startswith("the secret of")))' "$CRASH_PRIV/secrets.json" "$U")
check "collected the secrets of the user's 4 keys and 4 controller credentials: AWS, Infisical, Heroku, GitHub ($nkeys, $nctl)" \
	'[ "$nkeys" -ge 4 ] && [ "$nctl" -ge 4 ]'
check "the scanner finds the pair in the consumer (positive control)" '! crash_scan "$ENVF" >/dev/null'
check "debug logging was on (stderr has debug lines)" 'cat "$OUT"/*.err | grep -qi debug'
json_ok=1
for f in "$OUT"/*-json.out; do "$ROTOR_PYTHON" -m json.tool "$f" >/dev/null 2>&1 || json_ok=0; done
check "every plan --format json output is JSON" '[ $json_ok = 1 ]'
check "the reload command ran" '[ -n "$(ls "$ENVDUMP")" ]'

check "every consumer holds the final pair (the hygiene covers them all)" \
	'curl -sS "$HEROKU_URL/_control/state" | grep -q "\"AWS_ACCESS_KEY_ID\": \"$(store_akid)\"" && { [ $SSH = 0 ] || grep -q "^AWS_ACCESS_KEY_ID=$(store_akid)$" "$REMOTE"; }'

# The checks proper.
leaks=$(crash_scan --allow "$ENVF" "$OUT")
check "no secret in rotor's stdout or stderr (any command), plan JSON included" '[ -z "$leaks" ]' || echo "$leaks"
leaks=$(crash_scan "$WORLD/audit.jsonl")
check "no secret in the audit log" '[ -z "$leaks" ]' || echo "$leaks"
leaks=$(crash_scan --allow "$ENVF" --allow "$REMOTE" "$WORLD")
check "no secret in any file under the world dir (the SSH host's included) but the two env files" '[ -z "$leaks" ]' || echo "$leaks"
leaks=$(crash_scan "$RUNTMP")
check "no secret under \$TMPDIR ($(find "$RUNTMP" -type f | wc -l) files)" '[ -z "$leaks" ]' || echo "$leaks"
leaks=$(crash_scan --allow "$ENVF" "$ENVF")
check "the consumer holds no controller credential" '[ -z "$leaks" ]' || echo "$leaks"
# credentials that only exist at run time: GitHub installation tokens, and
# rotor's SSH key (one of its lines)
KEYLINE=$(sed -n 3p "$WORLD/sshd/rotor_key" 2>/dev/null)
leaks=$(grep -rlE "ghs_[0-9a-f]{32}" "$OUT" "$WORLD/audit.jsonl" "$RUNTMP" 2>/dev/null; [ -z "$KEYLINE" ] || grep -rlF -- "$KEYLINE" "$OUT" "$WORLD/audit.jsonl" "$RUNTMP" "$WORLD/remote" 2>/dev/null)
check "no GitHub installation token or SSH key line in any output, the audit log, \$TMPDIR or the host's files" '[ -z "$leaks" ]' || echo "$leaks"
leaks=$(crash_scan "$ENVDUMP" | sed "s#appears in $ENVDUMP/#appears in the environment of reload #")
check "the reload command's environment holds no secret (rotor must not pass its own credentials on)" \
	'[ -z "$leaks" ]' || echo "$leaks"
finish
