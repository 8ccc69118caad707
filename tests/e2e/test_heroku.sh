#!/usr/bin/env bash
# The heroku consumer (issue 20) against the Heroku double, beside an env
# file, through the CLI:
#  - adoption writes both config vars in ONE PATCH (one release), keeps the
#    app's other vars, and verifies by the answer and a read-back;
#  - a pass with nothing to do never writes (the release count stays);
#  - a var edited by hand is healed, the env file in sync is not touched;
#  - status shows "2/2 consumers hold AKIA..." and each consumer's state;
#  - failures, each leaving the others correct and the old key Active:
#    403 forbidden, 404 not_found, 401 (a bad token), a 429 waited out, a
#    write whose reply is lost (applied once, never re-sent);
#  - deactivation is held while Heroku lags, and happens once it caught up.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
world_heroku || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"

heroku_ctl POST apps '{"name": "raxx-api", "vars": {"DATABASE_URL": "postgres://u:p@db/x", "AWS_REGION": "eu-west-1"}}' >/dev/null
new_case hk raxx-hk '[{"created": "2025-10-01T00:00:00Z"}]'
printf '    - name: api\n      heroku: {connection: heroku-test, app: raxx-api}\n' >>"$WORLD/m/hk/hk.yaml"
M=$WORLD/m/hk
# hk EXPR: a Python expression over the Heroku double's state (a = the app)
hk() {
	curl -sS --max-time 10 "$HEROKU_URL/_control/state" |
		"$ROTOR_PYTHON" -c 'import json, sys; d = json.load(sys.stdin); a = d["apps"]["raxx-api"]; print(eval(sys.argv[1]))' "$1"
}
hk_akid() { hk 'a["vars"].get("AWS_ACCESS_KEY_ID", "")'; }
releases() { hk 'a["releases"]'; }
OLD=$(q keys raxx-hk | awk '{print $1}')

# ---- adoption ------------------------------------------------------------------
run apply "$M"
NEW=$(akid_of hk)
check "adoption: apply exits 0, the app holds the new pair, the env file too" \
	'[ $rc = 0 ] && [ "$(hk_akid)" = "$NEW" ] && [ "$(env_akid hk)" = "$NEW" ] && [ "$NEW" != "$OLD" ]'
check "adoption: ONE write (one release, one restart), both vars in it, the app's other vars kept" \
	'[ "$(releases)" = 1 ] && [ "$(hk "len(a[\"history\"][0][\"changed\"])")" = 4 ] && [ "$(hk "a[\"vars\"][\"DATABASE_URL\"]")" = "postgres://u:p@db/x" ]'
check "the secret in Heroku is the new key's" \
	'[ "$(hk "a[\"vars\"][\"AWS_SECRET_ACCESS_KEY\"]")" = "$(q secret /hk AWS_SECRET_ACCESS_KEY)" ]'
calls=$(curl -sS "$HEROKU_URL/_control/calls" | "$ROTOR_PYTHON" -c 'import json, sys; print(" ".join(c["method"] for c in json.load(sys.stdin)["calls"]))')
out="calls: $calls"
check "adoption: one PATCH and its read-back, nothing else (the store was empty: nothing to read first)" '[ "$calls" = "PATCH GET" ]'

run apply "$M"
check "a second pass writes nothing (no release, no restart)" '[ $rc = 0 ] && [ "$(releases)" = 1 ]'
run status "$M"
check "status: 2/2 consumers hold the key; the Heroku consumer in sync" \
	'grep -q "2/2 consumers hold $NEW" <<<"$out" && grep -q "consumer: api (heroku): in sync" <<<"$out"'

# ---- drift by hand -------------------------------------------------------------------
heroku_ctl POST vars '{"app": "raxx-api", "vars": {"AWS_ACCESS_KEY_ID": "AKIAEDITEDBYHAND0000"}}' >/dev/null
ENV_BEFORE=$(stat -c '%Y %i' "$WORLD/etc/hk.env")
plan "drift on heroku" "$M"
check "plan shows the Heroku drift and propagates to it alone" \
	'grep -q "propagate *api" <<<"$out" && ! grep -q "propagate *app" <<<"$out" && grep -q "AWS_ACCESS_KEY_ID holds AKIAEDITEDBYHAND0000" <<<"$out"'
run status "$M"
check "status: 1/2 consumers hold the key" 'grep -q "1/2 consumers hold $NEW" <<<"$out"'
run apply "$M"
check "drift healed by one write; the env file in sync untouched" \
	'[ $rc = 0 ] && [ "$(hk_akid)" = "$NEW" ] && [ "$(releases)" = 3 ] && [ "$(stat -c "%Y %i" "$WORLD/etc/hk.env")" = "$ENV_BEFORE" ]'

# the secret pasted into the key id's variable: drift, and never shown
SEC=$(q secret /hk AWS_SECRET_ACCESS_KEY)
heroku_ctl POST vars "{\"app\": \"raxx-api\", \"vars\": {\"AWS_ACCESS_KEY_ID\": \"$SEC\"}}" >/dev/null
run status "$M"
check "a secret in the key id's variable: drift, shown as 'not an access key id', never its value" \
	'grep -q "AWS_ACCESS_KEY_ID holds a value that is not an access key id" <<<"$out" && ! grep -qF -- "${SEC:0:12}" <<<"$out"'
run apply "$M"
check "and healed" '[ $rc = 0 ] && [ "$(hk_akid)" = "$NEW" ]'

# ---- failures, each leaving the others correct ----------------------------------------
clock_advance 7200 # the predecessor is deactivated (both consumers hold the new key)
run apply "$M"
clock_advance $((2 * 86400))
run apply "$M" # ... and deleted
check "the predecessor is gone once both consumers held the new key" '[ "$(nkeys raxx-hk)" = 1 ]'

fail_case() { # LABEL FAULT_JSON EXPECT_IN_MESSAGE
	local label=$1
	EXPECT=$3
	heroku_ctl POST faults "{\"rules\": [$2]}" >/dev/null
	K0=$(akid_of hk)
	R0=$(releases)
	clock_advance $((31 * 86400))
	run apply "$M"
	check "$label: apply fails (exit 1) naming the call, Heroku's code and the request id" \
		'[ $rc = 1 ] && grep -q "Heroku PATCH /apps/raxx-api/config-vars: HTTP $EXPECT (request [0-9a-f-]\{36\})" <<<"$out"'
	check "$label: the store and the env file hold the new key; Heroku still the old; no release" \
		'[ "$(akid_of hk)" != "$K0" ] && [ "$(env_akid hk)" = "$(akid_of hk)" ] && [ "$(hk_akid)" = "$K0" ] && [ "$(releases)" = "$R0" ]'
	clock_advance 7200
	run apply "$M"
	check "$label: past deactivateAfter the old key stays Active while Heroku lags" \
		'[ "$(key_status raxx-hk "$K0")" = Active ] && grep -q "api" <<<"$out"'
	heroku_ctl DELETE faults >/dev/null
	run apply "$M"
	check "$label: once Heroku answers, one write brings it up to date" \
		'[ $rc = 0 ] && [ "$(hk_akid)" = "$(akid_of hk)" ] && [ "$(releases)" = $((R0 + 1)) ]'
	clock_advance 7200
	run apply "$M"
	clock_advance $((2 * 86400))
	run apply "$M"
	check "$label: then the old key is deactivated and deleted; invariants hold" \
		'[ "$(nkeys raxx-hk)" = 1 ] && [ -z "$(q inv raxx-hk /hk)" ] && [ "$(q limit_exceeded)" = 0 ]'
}
fail_case "403 forbidden" '{"match": "config-vars:PATCH", "kind": "error", "count": -1, "status": 403, "code": "forbidden", "message": "You do not have access to the app raxx-api."}' "403 forbidden"
fail_case "404 not_found" '{"match": "config-vars:PATCH", "kind": "error", "count": -1, "status": 404, "code": "not_found", "message": "Couldn'"'"'t find that app."}' "404 not_found"

# a bad token: every call is 401, observation says so
HEROKU_API_TOKEN=not-the-token run plan "$M"
check "a rejected token: plan names Heroku's 401 unauthorized and the fix" \
	'grep -q "HTTP 401 unauthorized (request [0-9a-f-]*): the connection.s token is invalid" <<<"$out"'

heroku_ctl POST faults '{"rules": [{"match": "config-vars:GET", "kind": "error", "count": 1, "status": 403, "code": "two_factor", "message": "Two-factor code is required."}]}' >/dev/null
run plan "$M"
check "Heroku's id, not only its status, picks the hint (two_factor)" \
	'grep -q "HTTP 403 two_factor (request [0-9a-f-]*): the app requires two-factor authentication" <<<"$out"'
heroku_ctl DELETE faults >/dev/null

# a timeout (the connection's timeout: 3s): the write is not re-sent; the
# next pass writes once
heroku_ctl POST faults '{"rules": [{"match": "config-vars:PATCH", "kind": "hang", "count": 1, "latency_ms": 6000}]}' >/dev/null
heroku_ctl POST vars '{"app": "raxx-api", "vars": {"AWS_ACCESS_KEY_ID": "AKIAEDITEDBYHAND0003"}}' >/dev/null
R0=$(releases)
T0=$SECONDS
run apply "$M"
check "a Heroku write that times out: the pass fails within the timeout, names the call, nothing re-sent" \
	'[ $rc = 1 ] && grep -q "Heroku PATCH /apps/raxx-api/config-vars.*[Tt]ime" <<<"$out" && [ $((SECONDS - T0)) -le 6 ] && [ "$(releases)" = "$R0" ]'
heroku_ctl DELETE faults >/dev/null
sleep 3 # the double lets the held request go
run apply "$M"
check "after the timeout, the next pass writes once" '[ $rc = 0 ] && [ "$(releases)" = $((R0 + 1)) ] && [ "$(hk_akid)" = "$(akid_of hk)" ]'

# a 429 is waited out (one throttling reply, then the write goes through)
heroku_ctl POST faults '{"rules": [{"match": "config-vars:PATCH", "kind": "throttle", "count": 1}]}' >/dev/null
heroku_ctl POST vars '{"app": "raxx-api", "vars": {"AWS_ACCESS_KEY_ID": "AKIAEDITEDBYHAND0001"}}' >/dev/null
R0=$(releases)
run apply "$M"
check "a 429 rate_limit is waited out: one write, in sync" \
	'[ $rc = 0 ] && [ "$(hk_akid)" = "$(akid_of hk)" ] && [ "$(releases)" = $((R0 + 1)) ]'
heroku_ctl DELETE faults >/dev/null

# a write whose reply is lost: applied once, never re-sent; the next pass sees it done
heroku_ctl POST faults '{"rules": [{"match": "config-vars:PATCH", "kind": "drop_after", "count": 1}]}' >/dev/null
heroku_ctl POST vars '{"app": "raxx-api", "vars": {"AWS_ACCESS_KEY_ID": "AKIAEDITEDBYHAND0002"}}' >/dev/null
R0=$(releases)
run apply "$M"
check "a PATCH whose reply is lost fails the pass and is not re-sent (one release)" \
	'[ $rc = 1 ] && [ "$(releases)" = $((R0 + 1)) ]'
heroku_ctl DELETE faults >/dev/null
run apply "$M"
check "the next pass finds Heroku in sync and writes nothing" \
	'[ $rc = 0 ] && [ "$(releases)" = $((R0 + 1)) ] && [ "$(hk_akid)" = "$(akid_of hk)" ]'

check "invariants hold at the end" '[ -z "$(q inv raxx-hk /hk)" ] && [ "$(q limit_exceeded)" = 0 ]'
q secrets >>"$WORLD/secrets.seen"
no_secret_leaked
finish
