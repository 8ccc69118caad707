#!/usr/bin/env bash
# `rotor controller` (issue 19, first part) against the doubles and their
# shared simulated clock, following a local git source:
#  - /healthz answers at once; /readyz once the source was read;
#  - it adopts a user on its own (the store and the env file get a key);
#  - as the clock passes deactivateAfter, it deactivates the old key by
#    itself (scheduled by the plan's forecast, not by a blind scan);
#  - a commit with an invalid manifest is not applied: /status names the
#    error and the last good revision stays;
#  - /status is JSON with each manifest's status; /metrics is Prometheus
#    text (checked by promtool when installed) with the reconciles counted;
#  - `rotor apply` run while the controller runs, with a rotation due:
#    exactly one rotation, invariants intact;
#  - a failing step backs off, logging the remote's error and the retry
#    time, then completes; the old key is deactivated and deleted on time;
#  - SIGTERM in the middle of a rotation (the new pair's store write slow):
#    exit 0 in bounded time, invariants intact, and a restart converges.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
command -v git >/dev/null || { echo "skip: git is not installed"; exit 77; }

git_identity
REPO=$WORLD/gitroot/repo
mkdir -p "$REPO/aws"
git -C "$REPO" init -q -b main
new_case ctl raxx-ctl '[{"created": "2025-10-01T00:00:00Z"}]'
cp "$WORLD/m/ctl/ctl.yaml" "$REPO/aws/ctl.yaml"
git -C "$REPO" add -A && git -C "$REPO" commit -qm "ctl"
C1=$(git -C "$REPO" rev-parse HEAD)
OLD=$(q keys raxx-ctl | awk '{print $1}')
PORT=$(free_port)
# a notification receiver (the controller notifies as it goes)
world_receiver || exit 1
export HOOK_URL="http://127.0.0.1:$RPORT/hook/ok"
{
	cat "$WORLD/rotor.yaml"
	printf 'source:\n  url: "file://%s"\n  path: aws\n  cacheDir: %s\n  interval: 10s\n' "$REPO" "$WORLD/gitcache"
	printf 'controller:\n  workers: 2\n  resync: 10m\n  listen: "127.0.0.1:%s"\n' "$PORT"
	printf '  webhook:\n    github: {secret: {env: ROTOR_WEBHOOK_SECRET}}\n'
	printf 'notifications:\n  - name: hook\n    webhook: {url: {env: HOOK_URL}}\n    dedup: 0s\n'
} >"$WORLD/ctl.yaml"

ROTOR_WEBHOOK_SECRET=x "$ROTOR_BIN" controller --config "$WORLD/ctl.yaml" --listen 127.0.0.1:foo >"$WORLD/bad-listen.out" 2>&1
rc=$?
out=$(cat "$WORLD/bad-listen.out")
check "--listen with a port that is not a number: exit 2, saying so" \
	'[ $rc = 2 ] && grep -q "the port must be a number" <<<"$out"'
export ROTOR_WEBHOOK_SECRET=whsec-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$ROTOR_BIN" controller --config "$WORLD/ctl.yaml" >"$WORLD/controller.out" 2>&1 &
CTL=$!
echo "$CTL" >>"$WORLD/pids"
HOSTP=127.0.0.1
get() { curl -gsS --max-time 5 "http://$HOSTP:$PORT$1"; }
wait_for 20 'get /healthz >/dev/null 2>&1'
out=$(get /healthz)
check "/healthz answers" '[ "$out" = ok ]'
wait_for 20 '[ "$(get /readyz 2>/dev/null)" = ready ]'
out=$(get /readyz)
check "/readyz once the source was read" '[ "$out" = ready ]'

wait_for 30 '[ -n "$(akid_of ctl)" ] && [ "$(env_akid ctl)" = "$(akid_of ctl)" ]'
NEW=$(akid_of ctl)
check "it adopts the user on its own: a new key in the store and the env file" \
	'[ -n "$NEW" ] && [ "$NEW" != "$OLD" ] && [ -z "$(q inv raxx-ctl /ctl)" ]'
out=$(get /status)
check "/status is JSON with the manifest, its status and the revision" \
	'"$ROTOR_PYTHON" -c "import json,sys; d=json.load(sys.stdin); m=d[\"manifests\"][0]; assert d[\"revision\"]==\"$C1\" and m[\"name\"]==\"ctl\" and m[\"status\"] in (\"Waiting\",\"Ready\",\"Reconciling\"), d" <<<"$out"'

clock_advance 3700
wait_for 30 '[ "$(key_status raxx-ctl "$OLD")" = Inactive ]'
check "past deactivateAfter it deactivates the old key by itself" '[ "$(key_status raxx-ctl "$OLD")" = Inactive ]'

printf 'apiVersion: rotor/v1\nkind: AccessKeyRotation\nmetadata: {name: Bad_Name}\nspec: {user: x}\n' >"$REPO/aws/bad.yaml"
git -C "$REPO" add -A && git -C "$REPO" commit -qm "bad"
clock_advance 20
wait_for 30 '"$ROTOR_PYTHON" -c "import json,sys; d=json.load(sys.stdin); assert d[\"sourceError\"]" <<<"$(get /status)" 2>/dev/null'
out=$(get /status)
check "an invalid revision is not applied: /status names the error, the last good revision stays" \
	'grep -q "are invalid" <<<"$out" && grep -q "Bad_Name" <<<"$out" && grep -q "\"revision\": \"$C1\"" <<<"$out"'
out=$("$ROTOR_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); c={x["type"]: x for x in d["source"]["conditions"]}; print(c["Stalled"]["status"], c["Stalled"]["reason"], c["Ready"]["status"])' <<<"$out")
check "/status: the source is Stalled (InvalidRevision), not Ready" '[ "$out" = "True InvalidRevision False" ]'

# ---- POST /hooks/github: a signed push fetches at once; a bad signature does not
git -C "$REPO" rm -q aws/bad.yaml
sed -i 's/^  cadence: 30d$/  cadence: 25d/' "$REPO/aws/ctl.yaml"
git -C "$REPO" commit -qam "fix, cadence 25d"
C3=$(git -C "$REPO" rev-parse HEAD)
BODY=$(printf '{"ref": "refs/heads/main", "repository": {"clone_url": "file://%s.git"}}' "$REPO")
sign() { "$ROTOR_PYTHON" -c 'import hashlib, hmac, os, sys; print("sha256=" + hmac.new(os.environ["ROTOR_WEBHOOK_SECRET"].encode(), sys.argv[1].encode(), hashlib.sha256).hexdigest())' "$1"; }
hook() { # SIGNATURE -> HTTP status
	curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -X POST -H "X-GitHub-Event: push" \
		-H "X-Hub-Signature-256: $1" --data-binary "$BODY" "http://127.0.0.1:$PORT/hooks/github"
}
out=$(head -c 1100000 /dev/zero | curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -X POST -H "X-GitHub-Event: push" \
	-H "X-Hub-Signature-256: sha256=00" --data-binary @- "http://127.0.0.1:$PORT/hooks/github")
check "webhook: a body over 1 MiB is refused (413) before it is read" '[ "$out" = 413 ]'
out=$(hook "sha256=$(printf '%064d' 0)")
sleep 2
check "webhook: a bad signature is refused (401) and nothing is fetched" \
	'[ "$out" = 401 ] && grep -q "\"revision\": \"$C1\"" <<<"$(get /status)"'
OTHER=$(printf '{"ref": "refs/heads/other", "repository": {"clone_url": "file://%s.git"}}' "$REPO")
out=$(curl -sS --max-time 5 -X POST -H "X-GitHub-Event: push" -H "X-Hub-Signature-256: $(sign "$OTHER")" \
	--data-binary "$OTHER" "http://127.0.0.1:$PORT/hooks/github")
sleep 1
check "webhook: a signed push to another branch is ignored (202, nothing fetched)" \
	'grep -q "^ignored" <<<"$out" && grep -q "\"revision\": \"$C1\"" <<<"$(get /status)"'
out=$(hook "$(sign "$BODY")")
wait_for 20 'grep -q "\"revision\": \"$C3\"" <<<"$(get /status)"'
check "webhook: a correctly signed push is accepted (202) and fetched at once" \
	'[ "$out" = 202 ] && grep -q "\"revision\": \"$C3\"" <<<"$(get /status)"'

# ---- the CLI alongside the controller: one mutator per user -------------------
# A rotation falls due while `rotor apply` runs on the same source: whichever
# takes the user's lock first rotates, the other finds nothing to do.
wait_for 20 '[ "$(env_akid ctl)" = "$(akid_of ctl)" ]'
V0=$(q versions /ctl AWS_ACCESS_KEY_ID)
K0=$(akid_of ctl)
clock_advance $((26 * 86400)) # past the 25d cadence
"$ROTOR_BIN" apply --config "$WORLD/ctl.yaml" >"$WORLD/cli-apply.out" 2>&1
rc=$?
cat "$WORLD/cli-apply.out" >>"$LOG"
wait_for 30 '[ "$(akid_of ctl)" != "$K0" ] && [ "$(env_akid ctl)" = "$(akid_of ctl)" ]'
sleep 2 # let a second pass (the controller's or the CLI's) show itself if it happens
q secrets >>"$WORLD/secrets.seen"
check "controller + rotor apply: apply exits 0" '[ $rc = 0 ]'
check "controller + rotor apply: exactly one rotation, the env file follows" \
	'[ "$(q versions /ctl AWS_ACCESS_KEY_ID)" = $((V0 + 1)) ] && [ "$(env_akid ctl)" = "$(akid_of ctl)" ]'
check "controller + rotor apply: invariants hold, LimitExceeded never hit" \
	'[ -z "$(q inv raxx-ctl /ctl)" ] && [ "$(q limit_exceeded)" = 0 ]'

out=$(get /metrics)
check "/metrics counts reconciles and shows the manifest" \
	'grep -q "^rotor_reconciles_total{result=\"success\"} [1-9]" <<<"$out" && grep -q "^rotor_manifest_ready{manifest=\"ctl\"}" <<<"$out" && grep -q "^rotor_source_fetch_errors_total [1-9]" <<<"$out"'
check "/metrics has what the alert rules use (deploy/kubernetes/rotor-prometheusrule.yaml)" \
	'grep -q "^rotor_manifest_cadence_seconds{manifest=\"ctl\"} 2160000$" <<<"$out" && grep -q "^rotor_key_age_seconds{manifest=\"ctl\"} [0-9]" <<<"$out" && grep -q "^rotor_manifest_stalled{manifest=\"ctl\"} 0" <<<"$out"'
check "/metrics counts steps by action and result" \
	'grep -q "^rotor_actions_total{action=\"create\",result=\"success\"} [1-9]" <<<"$out" && grep -q "^rotor_actions_total{action=\"deactivate\",result=\"error\"} 0" <<<"$out"'
check "/metrics counts requests by remote" \
	'grep -q "^rotor_remote_requests_total{remote=\"iam\"} [1-9]" <<<"$out" && grep -q "^rotor_remote_requests_total{remote=\"sts\"} [1-9]" <<<"$out" && grep -q "^rotor_remote_requests_total{remote=\"infisical\"} [1-9]" <<<"$out" && grep -q "^rotor_remote_throttles_total{remote=\"iam\"} 0" <<<"$out"'
if command -v promtool >/dev/null; then
	check "promtool check metrics accepts /metrics" 'promtool check metrics <<<"$out" >/dev/null 2>&1'
fi

# ---- a failing step backs off, saying why and when ------------------------------
# First the CLI's predecessor goes on time: deactivated (1h; the first try
# meets a ConcurrentModification and backs off), then deleted (1d).
CUR=$(akid_of ctl) # (q serves one call at a time: never two in one pipeline)
PREV=$(q keys raxx-ctl | awk '{print $1}' | grep -vxF "$CUR")
aws_ctl POST faults '{"rules": [{"match": "UpdateAccessKey", "kind": "error", "count": 1, "status": 409, "code": "ConcurrentModification", "message": "Rate of concurrent changes exceeded"}]}' >/dev/null
clock_advance 7200
wait_for 30 'grep -q "reconcile failed (1 in a row)" "$WORLD/controller.out"'
out=$(grep "reconcile failed" "$WORLD/controller.out")
check "a failed reconcile is logged with the remote's error and when it retries" \
	'grep -q "reconcile failed (1 in a row): .*UpdateAccessKey.*ConcurrentModification.*; retrying at 2026-" <<<"$out"'
clock_advance 120 # past the back-off (30 s +-20%)
wait_for 30 '[ "$(key_status raxx-ctl "$PREV")" = Inactive ]'
clock_advance $((2 * 86400))
wait_for 30 '[ "$(q keys raxx-ctl | wc -l)" = 1 ]'
received() { "$ROTOR_PYTHON" -c 'import json, sys; print(" ".join(json.loads(l)["body"] and json.loads(json.loads(l)["body"])["event"] for l in open(sys.argv[1])))' "$RLOG"; }
out=$(received)
check "the controller notified: rotated, deactivated, the failed pass (with its error), deleted" \
	'grep -qw rotated <<<"$out" && grep -qw deactivated <<<"$out" && grep -qw failed <<<"$out" && grep -qw deleted <<<"$out" && grep -q ConcurrentModification "$RLOG"'
check "/metrics counts the notifications sent" \
	'grep -q "^rotor_notifications_total{sink=\"hook\",result=\"sent\"} [1-9]" <<<"$(get /metrics)"'
check "after the back-off it deactivates, then deletes the predecessor on time" \
	'[ "$(q keys raxx-ctl | awk "{print \$1}")" = "$(akid_of ctl)" ] && [ -n "$PREV" ]'

out=$(get /metrics)
check "/metrics: the failed deactivation is counted as an error" \
	'grep -q "^rotor_actions_total{action=\"deactivate\",result=\"error\"} 1$" <<<"$out" && grep -q "^rotor_reconciles_total{result=\"error\"} [1-9]" <<<"$out"'

# ---- SIGTERM in the middle of a rotation -----------------------------------
# The store answers the write of the new pair after 3 s, so the controller
# is caught with a new key created and not yet stored: the stop lets the
# step in flight finish, exits 0 in bounded time, and a restarted
# controller converges.
KEYS_BEFORE=$(q keys raxx-ctl | awk '{print $1}')
inf_ctl POST faults '{"rules": [{"match": "batch_update", "kind": "latency", "latency_ms": 3000, "count": 1}, {"match": "batch_create", "kind": "latency", "latency_ms": 3000, "count": 1}]}' >/dev/null
clock_advance $((26 * 86400))
new_key_seen() { q keys raxx-ctl | awk '{print $1}' | grep -qvxF "$KEYS_BEFORE"; }
wait_for 20 new_key_seen
out="keys now: $(q keys raxx-ctl | tr '\n' ' '); stored: $(akid_of ctl); before: $KEYS_BEFORE"
check "SIGTERM test: caught with a new key created, not yet stored" \
	'new_key_seen && [ "$(akid_of ctl)" = "$KEYS_BEFORE" ]'
T0=$SECONDS
kill -TERM "$CTL"
wait_for 30 '! kill -0 "$CTL" 2>/dev/null'
wait "$CTL"
rc=$?
check "SIGTERM mid-rotation stops it with exit 0 within 30 s" '[ $rc = 0 ] && [ $((SECONDS - T0)) -le 30 ]'
out="stored: $(akid_of ctl); env file: $(env_akid ctl); log: $(grep -o 'stopped before [^"]*' "$WORLD/controller.out")"
check "SIGTERM: the step in flight (the store write) finished, the next (the env file) did not start" \
	'[ "$(akid_of ctl)" != "$KEYS_BEFORE" ] && [ "$(env_akid ctl)" = "$KEYS_BEFORE" ] && grep -q "stopped before propagate" <<<"$out"'
check "invariants hold after the stop" '[ -z "$(q inv raxx-ctl /ctl)" ] && [ "$(q limit_exceeded)" = 0 ]'
inf_ctl DELETE faults >/dev/null
cat "$WORLD/controller.out" >>"$LOG"
# the restart listens on IPv6 loopback where the machine has it
LISTEN=()
if "$ROTOR_PYTHON" -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	HOSTP="[::1]"
	LISTEN=(--listen "[::1]:$PORT")
fi
"$ROTOR_BIN" controller --config "$WORLD/ctl.yaml" "${LISTEN[@]}" >"$WORLD/controller.out" 2>&1 &
CTL=$!
echo "$CTL" >>"$WORLD/pids"
wait_for 20 '[ "$(get /readyz 2>/dev/null)" = ready ]'
if [ "$HOSTP" = "[::1]" ]; then
	check "listen on [::1]:PORT (IPv6): /readyz answers there" '[ "$(get /readyz)" = ready ]'
else
	echo "# skip: no IPv6 loopback here; the IPv6 listen is not tested"
fi
wait_for 30 'new_key_seen && [ "$(env_akid ctl)" = "$(akid_of ctl)" ] && [ "$(q keys raxx-ctl | awk "{print \$1}" | grep -vxF "$KEYS_BEFORE")" = "$(akid_of ctl)" ]'
check "restarted, it converges: the new key stored and in the env file" \
	'[ "$(q keys raxx-ctl | awk "{print \$1}" | grep -vxF "$KEYS_BEFORE")" = "$(akid_of ctl)" ] && [ "$(env_akid ctl)" = "$(akid_of ctl)" ]'
kill -TERM "$CTL"
wait_for 30 '! kill -0 "$CTL" 2>/dev/null'
wait "$CTL"
rc=$?
check "SIGTERM stops it with exit 0" '[ $rc = 0 ]'
out=$(grep '"action":"create"' "$WORLD/audit.jsonl")
check "the audit log records each mutation with the revision it followed" \
	'[ -n "$out" ] && ! grep -q "\"revision\":null" "$WORLD/audit.jsonl" && grep -q "\"revision\":\"$C3\"" <<<"$out"'
check "invariants hold at the end" '[ -z "$(q inv raxx-ctl /ctl)" ] && [ "$(q limit_exceeded)" = 0 ]'
q secrets >>"$WORLD/secrets.seen" # every secret IAM holds now
cat "$WORLD/controller.out" >>"$LOG" # the controller's own output is scanned too
no_secret_leaked
finish
