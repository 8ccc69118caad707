#!/usr/bin/env bash
# Notifications (issue 21) from `rotor apply`, received by a local HTTP
# receiver (tests/e2e/receiver.py):
#  - a generic webhook gets rotated, deactivated, held, stalled, failed,
#    overdue and reminder events with their fields, signed (HMAC-SHA256 of the body,
#    checked here), never a secret;
#  - a Slack sink gets only the events it asks for, for the manifests its
#    label selector picks;
#  - the same event for the same manifest is not sent again within the
#    dedup window, and is once the window is over;
#  - a receiver that fails twice gets the event on the third attempt (the
#    same delivery id); one that is down or too slow never fails or delays
#    the rotation beyond the bounded drain, and the failure is logged.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000 ROTOR_NOTIFY_BACKOFF_MS=200 ROTOR_LOG_LEVEL=info
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"

world_receiver || exit 1
export HOOK_URL="http://127.0.0.1:$RPORT/hook/ok" SLACK_URL="http://127.0.0.1:$RPORT/slack/ok"
export HOOK_SECRET=hooksecret-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat >>"$WORLD/rotor.yaml" <<'YAML'
notifications:
  - name: hook
    webhook: {url: {env: HOOK_URL}, secret: {env: HOOK_SECRET}}
    dedup: 6h
  - name: slack
    slack: {url: {env: SLACK_URL}}
    events: [rotated, held]
    selector: {team: platform}
YAML
# R EXPR: a Python expression over the received requests (r: a list of
# {path, headers, body (parsed), answered}); only those to /hook or /slack
R() {
	"$ROTOR_PYTHON" -c '
import json, sys
r = []
for line in open(sys.argv[1]):
    x = json.loads(line)
    x["json"] = json.loads(x["body"]) if x["body"].startswith("{") else None
    r.append(x)
hook = [x for x in r if x["path"].startswith("/hook")]
slack = [x for x in r if x["path"].startswith("/slack")]
ev = lambda e: [x["json"] for x in hook if x["json"]["event"] == e and x["answered"] == 200]
print(eval(sys.argv[2]))' "$RLOG" "$1"
}
labels() { sed -i "s/^  name: $1$/  name: $1\n  labels: {team: $2}/" "$WORLD/m/$1/$1.yaml"; }

new_case plat raxx-plat '[{"created": "2025-10-01T00:00:00Z"}]'
labels plat platform
new_case other raxx-other '[{"created": "2025-10-01T00:00:00Z"}]'
labels other data
run apply "$WORLD/m/plat" "$WORLD/m/other"
P=$(akid_of plat)
check "apply rotates both (exit 0)" '[ $rc = 0 ] && [ -n "$P" ] && [ -n "$(akid_of other)" ]'
sleep 0.5
check "webhook: a rotated event per manifest, with the new key id, user, connection, time" \
	'[ "$(R "sorted(e[\"manifest\"] for e in ev(\"rotated\"))")" = "['"'"'other'"'"', '"'"'plat'"'"']" ] && [ "$(R "[e for e in ev(\"rotated\") if e[\"manifest\"] == \"plat\"][0][\"keyId\"]")" = "$P" ] && [ "$(R "ev(\"rotated\")[0][\"aws\"]")" = aws-test ] && [ "$(R "ev(\"rotated\")[0][\"time\"]")" = 2026-01-01T00:00:00Z ]'
check "webhook: signed, X-Rotor-Signature-256 = HMAC-SHA256 of the body with the sink's secret" \
	'R "all(x[\"headers\"][\"X-Rotor-Signature-256\"] == \"sha256=\" + __import__(\"hmac\").new(\"$HOOK_SECRET\".encode(), x[\"body\"].encode(), \"sha256\").hexdigest() for x in hook) and len(hook) > 0" | grep -qx True'
check "slack: only rotated, only for the team=platform manifest" \
	'[ "$(R "len(slack)")" = 1 ] && R "slack[0][\"json\"][\"text\"]" | grep -q "\*rotated\* .plat." '

clock_advance 7200
run apply "$WORLD/m/plat" "$WORLD/m/other"
sleep 0.3
check "deactivated events; slack (rotated, held only) gets none" \
	'[ "$(R "len(ev(\"deactivated\"))")" = 2 ] && [ "$(R "len(slack)")" = 1 ]'

# ---- stalled, deduplicated within 6h, again after --------------------------------------
new_case stall raxx-stall
run apply "$WORLD/m/stall" # adopted: one key, the store's
clock_advance 60
STRAY=$(new_key raxx-stall) # a key rotor did not make, then used by someone
aws_ctl POST use "{\"access_key_id\": \"$STRAY\", \"service\": \"s3\", \"region\": \"eu-west-1\"}" >/dev/null
run apply "$WORLD/m/stall"
run apply "$WORLD/m/stall"
sleep 0.3
check "stalled (a used stray): sent once though two passes saw it (dedup 6h)" \
	'[ "$(R "len(ev(\"stalled\"))")" = 1 ] && R "ev(\"stalled\")[0][\"message\"]" | grep -q "unknown party"'
clock_advance $((7 * 3600))
run apply "$WORLD/m/stall"
sleep 0.3
check "after the dedup window, stalled is sent again" '[ "$(R "len(ev(\"stalled\"))")" = 2 ]'

# ---- failed, overdue, reminder --------------------------------------------------------
new_case ghost raxx-ghost
sed -i 's/^  user: raxx-ghost$/  user: raxx-no-such-user/' "$WORLD/m/ghost/ghost.yaml"
run apply "$WORLD/m/ghost"
new_case obs raxx-obs
run apply "$WORLD/m/obs" # adopted in enforce mode ...
sed -i 's/^  cadence: 30d$/  cadence: 30d\n  mode: observe/' "$WORLD/m/obs/obs.yaml"
clock_advance $((32 * 86400)) # ... then observed only, and past its cadence + 1d
run apply "$WORLD/m/obs"
sleep 0.3
check "failed: with the error (NoSuchEntity)" \
	'[ "$(R "len(ev(\"failed\"))")" = 1 ] && R "ev(\"failed\")[0][\"message\"]" | grep -q NoSuchEntity'
check "overdue: a key older than its cadence plus a day" \
	'[ "$(R "len(ev(\"overdue\"))")" -ge 1 ] && R "ev(\"overdue\")[0][\"message\"]" | grep -q "old (cadence 30d)"'
check "reminder: a rotation due that rotor will not make (observe mode)" \
	'[ "$(R "len(ev(\"reminder\"))")" = 1 ] && R "ev(\"reminder\")[0][\"message\"]" | grep -q "observe mode"'

# ---- held: the old key used after every consumer switched --------------------------------
new_case hold raxx-hold '[{"created": "2025-10-01T00:00:00Z"}]'
labels hold platform
OLDH=$(q keys raxx-hold | awk '{print $1}')
run apply "$WORLD/m/hold"
clock_advance 600
aws_ctl POST use "{\"access_key_id\": \"$OLDH\", \"service\": \"s3\", \"region\": \"eu-west-1\"}" >/dev/null
clock_advance 7200
run apply "$WORLD/m/hold"
sleep 0.3
check "held: the old key used after the switch, who used it (service, region), to the webhook and to Slack" \
	'[ "$(R "len(ev(\"held\"))")" = 1 ] && R "ev(\"held\")[0][\"message\"]" | grep -q "$OLDH (the predecessor) was last used .* by s3 in eu-west-1" && R "[x[\"json\"][\"text\"] for x in slack]" | grep -q "held.*hold"'

# ---- retries, a receiver down, a slow one ------------------------------------------------
export HOOK_URL="http://127.0.0.1:$RPORT/hook/fail/2"
clock_advance $((31 * 86400))
run apply "$WORLD/m/other"
sleep 0.3
check "a receiver failing twice: the third attempt delivers (one delivery id, 3 requests)" \
	'[ "$(R "len([x for x in hook if x[\"path\"] == \"/hook/fail/2\"])")" -ge 3 ] && [ "$(R "len(set(x[\"headers\"][\"X-Rotor-Delivery\"] for x in hook if x[\"path\"] == \"/hook/fail/2\" and x[\"json\"][\"event\"] == \"rotated\"))")" = 1 ] && [ "$(R "len([x for x in hook if x[\"path\"] == \"/hook/fail/2\" and x[\"answered\"] == 200 and x[\"json\"][\"event\"] == \"rotated\"])")" = 1 ]'
export HOOK_URL="http://127.0.0.1:1/hook/down" # nothing listens on port 1
clock_advance $((31 * 86400))
K0=$(akid_of plat)
T0=$SECONDS
run apply "$WORLD/m/plat"
check "a receiver down: apply still rotates and exits 0" '[ $rc = 0 ] && [ "$(akid_of plat)" != "$K0" ]'
check "... the failure is logged, and the pass waited at most the bounded drain" \
	'grep -q "not delivered after 4 attempts" <<<"$out" && [ $((SECONDS - T0)) -le 15 ]'
export HOOK_URL="http://127.0.0.1:$RPORT/hook/slow/8000" ROTOR_NOTIFY_DRAIN_MS=2000
clock_advance $((31 * 86400))
K0=$(akid_of plat)
T0=$SECONDS
run apply "$WORLD/m/plat"
check "a receiver slower than the drain: the pass's step done, exit 0 within the drain, said so" \
	'[ $rc = 0 ] && grep -q "done   deactivate" <<<"$out" && [ $((SECONDS - T0)) -le 6 ] && grep -q "not delivered before exit" <<<"$out"'
unset ROTOR_NOTIFY_DRAIN_MS

q secrets >>"$WORLD/secrets.seen"
leak=0
while read -r sec; do
	[ -n "$sec" ] && grep -qF -- "$sec" "$RLOG" && leak=1
done <"$WORLD/secrets.seen"
grep -qF -- "$HOOK_SECRET" "$RLOG" && leak=1
check "no secret (IAM's or the sink's) in any notification" '[ $leak = 0 ] && [ -s "$RLOG" ]'
no_secret_leaked
finish
