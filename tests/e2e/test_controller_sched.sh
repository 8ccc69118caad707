#!/usr/bin/env bash
# `rotor controller` scheduling over simulated days, with three manifests on
# one local git source (issue 19, item 8):
#  - heal: adopted at once; a consumer edited by hand is healed within
#    `controller.resync` (no rotation for it); a commit changing its cadence
#    is followed (the next rotation moves, and happens on the new date);
#  - win: a rotation window (Mondays 09:00-10:00 Europe/Berlin): due on a
#    Saturday, it waits, /status shows the opening, and it rotates when the
#    window opens;
#  - gone: names an IAM user that does not exist yet: it fails and backs off
#    exponentially (30 s, 60 s, 120 s ... +-20%) while the others proceed,
#    and converges once the user exists;
#  - the CLI alongside, many times: `rotor rotate` racing the controller's
#    own deactivation and deletion, then `rotor rollback` and `rotor resume`:
#    exactly one rotation per rotate, never LimitExceeded, never a stray;
#  - a user locked by another rotor shows as locked in /status and /metrics;
#  - SIGHUP: an invalid config refused, a new one applied with its manifests.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-03T00:00:00Z || exit 1 # a Saturday
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
command -v git >/dev/null || { echo "skip: git is not installed"; exit 77; }

git_identity
REPO=$WORLD/gitroot/repo
mkdir -p "$REPO/aws"
git -C "$REPO" init -q -b main
LEGACY='[{"created": "2025-10-01T00:00:00Z"}]'
new_case heal raxx-heal "$LEGACY"
new_case win raxx-win "$LEGACY" '  windows:
    - days: [mon]
      start: "09:00"
      end: "10:00"
      timeZone: Europe/Berlin'
new_case gone raxx-gone
sed -i 's/^  user: raxx-gone$/  user: raxx-missing/' "$WORLD/m/gone/gone.yaml"
for n in heal win gone; do cp "$WORLD/m/$n/$n.yaml" "$REPO/aws/"; done
git -C "$REPO" add -A && git -C "$REPO" commit -qm "three manifests"
PORT=$(free_port)
{
	cat "$WORLD/rotor.yaml"
	printf 'source:\n  url: "file://%s"\n  path: aws\n  cacheDir: %s\n  interval: 10s\n' "$REPO" "$WORLD/gitcache"
	printf 'controller:\n  workers: 2\n  resync: 10m\n  listen: "127.0.0.1:%s"\n' "$PORT"
} >"$WORLD/ctl.yaml"

"$ROTOR_BIN" controller --config "$WORLD/ctl.yaml" >"$WORLD/controller.out" 2>&1 &
CTL=$!
echo "$CTL" >>"$WORLD/pids"
get() { curl -sS --max-time 5 "http://127.0.0.1:$PORT$1"; }
# mf NAME EXPR: a Python expression over manifest m (NAME's entry in /status)
mf() {
	get /status | "$ROTOR_PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
m = [x for x in d["manifests"] if x["name"] == sys.argv[1]][0]
cond = {c["type"]: c for c in m["conditions"]}
print(eval(sys.argv[2]))' "$1" "$2"
}
# gap NAME: seconds from NAME's last pass to its next reconcile
gap() { mf "$1" 'int(__import__("calendar").timegm(__import__("time").strptime(m["nextReconcile"], "%Y-%m-%dT%H:%M:%SZ")) - __import__("calendar").timegm(__import__("time").strptime(m["lastPass"], "%Y-%m-%dT%H:%M:%SZ")))'; }
converged_case() { [ -n "$(akid_of "$1")" ] && [ "$(env_akid "$1")" = "$(akid_of "$1")" ]; }
wait_for 20 '[ "$(get /readyz 2>/dev/null)" = ready ]'

# ---- gone fails and backs off, heal proceeds ---------------------------------
wait_for 30 'converged_case heal && grep -q "reconcile failed (1 in a row)" "$WORLD/controller.out"'
check "heal is adopted while gone fails" 'converged_case heal && [ -z "$(q inv raxx-heal /heal)" ]'
out=$(mf gone 'm["failures"], m["error"], cond["Ready"]["status"], cond["Ready"]["reason"]')
check "gone: /status shows the failure, its error and Ready=False (ReconcileFailed)" \
	'grep -q "^(1, .*NoSuchEntity.*False.*ReconcileFailed" <<<"$out"'
G1=$(gap gone)
clock_advance 40
wait_for 20 'grep -q "reconcile failed (2 in a row)" "$WORLD/controller.out"'
G2=$(gap gone)
clock_advance 80
wait_for 20 'grep -q "reconcile failed (3 in a row)" "$WORLD/controller.out"'
G3=$(gap gone)
out="gaps: $G1 $G2 $G3"
check "gone backs off exponentially with jitter (30, 60, 120 s +-20%)" \
	'[ "$G1" -ge 24 ] && [ "$G1" -le 36 ] && [ "$G2" -ge 48 ] && [ "$G2" -le 72 ] && [ "$G3" -ge 96 ] && [ "$G3" -le 144 ]'

# ---- win waits for its window ---------------------------------------------------
out=$(mf win '" ".join([m["status"], cond["Reconciling"]["status"]] + [s["at"] for s in m["nextSteps"] if s["step"] == "rotate"])')
check "win (due on a Saturday, window Mondays 09:00 Berlin) waits; /status shows the opening" \
	'[ "$out" = "Waiting True 2026-01-05T08:00:00Z 2026-02-04T08:00:00Z" ] && [ -z "$(akid_of win)" ] && [ "$(nkeys raxx-win)" = 1 ]'

# ---- a consumer edited by hand is healed within resync ------------------------------
V0=$(q versions /heal AWS_ACCESS_KEY_ID)
sed -i 's/^AWS_ACCESS_KEY_ID=.*/AWS_ACCESS_KEY_ID=AKIAEDITEDBYHAND0000/' "$WORLD/etc/heal.env"
clock_advance 60
sleep 2
check "the hand edit is not healed before resync is due" '[ "$(env_akid heal)" = AKIAEDITEDBYHAND0000 ]'
clock_advance $((12 * 60)) # resync 10m, +-20%
wait_for 20 'converged_case heal'
check "heal's env file is rewritten within resync, without a rotation" \
	'converged_case heal && [ "$(q versions /heal AWS_ACCESS_KEY_ID)" = "$V0" ]'

# ---- gone converges once its user exists --------------------------------------------
aws_ctl POST users '{"name": "raxx-missing", "keys": []}' >/dev/null
clock_advance 900 # the longest back-off
wait_for 30 'converged_case gone'
check "gone converges once its IAM user exists" 'converged_case gone && [ -z "$(q inv raxx-missing /gone)" ]'
check "gone's failures reset" '[ "$(mf gone "m[\"failures\"]")" = 0 ]'

# ---- the window opens -----------------------------------------------------------------
clock_set 2026-01-05T07:59:00Z
sleep 3
check "win: still nothing a minute before the window" '[ -z "$(akid_of win)" ] && [ "$(nkeys raxx-win)" = 1 ]'
clock_set 2026-01-05T08:00:10Z
wait_for 30 'converged_case win'
out=$(grep '"user":"raxx-win","action":"create"' "$WORLD/audit.jsonl")
check "win rotates once the window opens (audit time inside the window)" \
	'converged_case win && grep -q "\"time\":\"2026-01-05T08:0" <<<"$out"'

# ---- a commit changes heal's cadence --------------------------------------------------
# heal's key was created on 2026-01-03 with cadence 30d; at 7d the rotation
# moves to 2026-01-10.
sed -i 's/^  cadence: 30d$/  cadence: 7d/' "$REPO/aws/heal.yaml"
git -C "$REPO" commit -qam "heal: cadence 7d"
C2=$(git -C "$REPO" rev-parse HEAD)
clock_advance 20 # past source.interval
wait_for 20 '[ "$(mf heal "m[\"revision\"]")" = "$C2" ]'
out=$(mf heal '[s["at"] for s in m["nextSteps"] if s["step"] == "rotate"]')
check "after the commit heal's next rotation is at 7d (2026-01-10)" 'grep -q "2026-01-10T" <<<"$out"'
K0=$(akid_of heal)
V0=$(q versions /heal AWS_ACCESS_KEY_ID)
clock_set 2026-01-09T23:00:00Z
sleep 3
check "heal: not rotated before the new date" '[ "$(akid_of heal)" = "$K0" ]'
clock_set 2026-01-10T01:00:00Z
wait_for 30 '[ "$(akid_of heal)" != "$K0" ] && converged_case heal'
check "heal rotates on the new cadence's date, by the controller alone" \
	'[ "$(q versions /heal AWS_ACCESS_KEY_ID)" = $((V0 + 1)) ] && [ -z "$(q inv raxx-heal /heal)" ]'

# ---- the CLI racing the controller, many times ----------------------------------------
# Each round: deactivation due (the controller does it), then deletion due and
# `rotor rotate` at once: the controller's delete and the CLI's rotation meet
# on one user.
for round in 1 2 3; do
	clock_advance 7200
	wait_for 20 '[ "$(nkeys raxx-heal)" = 2 ] && [ -n "$(q keys raxx-heal | grep Inactive)" ]'
	V0=$(q versions /heal AWS_ACCESS_KEY_ID)
	clock_advance $((2 * 86400))
	run rotate --config "$WORLD/ctl.yaml" heal
	wait_for 30 'converged_case heal && [ "$(nkeys raxx-heal)" = 2 ]'
	sleep 1
	check "round $round: rotor rotate beside the controller: exit 0, exactly one rotation" \
		'[ $rc = 0 ] && [ "$(q versions /heal AWS_ACCESS_KEY_ID)" = $((V0 + 1)) ]'
	check "round $round: invariants hold, no stray, never LimitExceeded" \
		'[ -z "$(q inv raxx-heal /heal)" ] && [ -z "$(q stale raxx-heal)" ] && [ "$(q limit_exceeded)" = 0 ]'
done

# rollback while the controller runs: it must not undo it while suspended.
NEWK=$(akid_of heal)
PREVK=$(q keys raxx-heal | awk '{print $1}' | grep -vxF "$NEWK")
run rollback --config "$WORLD/ctl.yaml" heal
check "rotor rollback beside the controller exits 0 and restores the predecessor" \
	'[ $rc = 0 ] && [ "$(akid_of heal)" = "$PREVK" ] && [ "$(env_akid heal)" = "$PREVK" ]'
clock_advance $((3 * 86400))
wait_for 20 '[ "$(mf heal "m[\"status\"]")" = Suspended ]'
check "the controller leaves the rolled-back user alone (Suspended)" \
	'[ "$(akid_of heal)" = "$PREVK" ] && [ "$(key_status raxx-heal "$NEWK")" = Inactive ] && [ "$(key_status raxx-heal "$PREVK")" = Active ]'
run resume --config "$WORLD/ctl.yaml" heal
clock_advance 60
wait_for 30 '[ "$(mf heal "m[\"status\"]")" = Ready ] && [ "$(nkeys raxx-heal)" = 1 ]'
out="$(mf heal 'm["status"], m["reason"], m["nextSteps"]'); keys: $(q keys raxx-heal | tr '\n' ' ')"
check "after rotor resume the controller converges again: the rolled-back key stays, the other is deleted" \
	'[ $rc = 0 ] && converged_case heal && [ "$(akid_of heal)" = "$PREVK" ] && [ "$(nkeys raxx-heal)" = 1 ] && [ -z "$(q inv raxx-heal /heal)" ] && [ -z "$(q stale raxx-heal)" ] && [ "$(q limit_exceeded)" = 0 ]'

# ---- a user locked by someone else: retried, and shown as such ------------------
LOCKF=$(ls "$WORLD"/state/locks/*raxx-win*.lock 2>/dev/null | head -n 1)
if [ -n "$LOCKF" ] && command -v flock >/dev/null; then
	echo "a human's rotor rotate on another shell" >"$LOCKF"
	flock -x "$LOCKF" -c 'sleep 6' &
	FL=$!
	echo "$FL" >>"$WORLD/pids"
	sleep 0.5
	clock_advance $((13 * 60)) # win's resync falls due while its lock is held
	wait_for 20 '[ "$(mf win "m[\"lastResult\"]")" = locked ]'
	out=$(mf win 'm["lastResult"], m["heldBy"], cond["Reconciling"]["reason"]')
	check "a user locked by another rotor: /status says locked, by whom (LockedByAnother)" \
		'grep -q "^(.locked., .*a human.s rotor rotate on another shell.*LockedByAnother" <<<"$out"'
	check "/metrics counts the locked reconcile" \
		'grep -q "^rotor_reconciles_total{result=\"locked\"} [1-9]" <<<"$(get /metrics)"'
	wait "$FL"
	clock_advance 60 # past the 30 s retry
	wait_for 20 '[ "$(mf win "m[\"lastResult\"]")" = success ]'
	check "once the lock is free the controller reconciles it" '[ "$(mf win "m[\"lastResult\"]")" = success ]'
else
	echo "# skip: no lock file or no flock(1): the locked case is not tested here"
fi

# ---- SIGHUP: a bad config is refused and the old one kept; a good one is applied,
# manifests re-read against it at once (even at the same revision) -------------
cp "$WORLD/ctl.yaml" "$WORLD/ctl.good"
printf 'bogus: 1\n' >>"$WORLD/ctl.yaml"
kill -HUP "$CTL"
wait_for 20 'grep -q "config reload refused" "$WORLD/controller.out"'
out=$(grep "config reload refused" "$WORLD/controller.out")
check "SIGHUP with an invalid config: refused, saying why; the controller keeps working" \
	'grep -q "bogus" <<<"$out" && [ "$(get /readyz)" = ready ]'
mkdir -p "$REPO/only-heal" && cp "$REPO/aws/heal.yaml" "$REPO/only-heal/"
git -C "$REPO" add -A && git -C "$REPO" commit -qm "a directory with heal alone"
sed 's#^  path: aws$#  path: only-heal#' "$WORLD/ctl.good" >"$WORLD/ctl.yaml"
kill -HUP "$CTL"
wait_for 20 '[ "$(get /status | "$ROTOR_PYTHON" -c "import json,sys; print(len(json.load(sys.stdin)[\"manifests\"]))")" = 1 ]'
out=$(get /status)
check "SIGHUP with a new source.path: reloaded, the manifests re-read from it at once" \
	'grep -q "config reloaded" "$WORLD/controller.out" && [ "$("$ROTOR_PYTHON" -c "import json,sys; d=json.load(sys.stdin); print([m[\"name\"] for m in d[\"manifests\"]])" <<<"$out")" = "['"'"'heal'"'"']" ]'

kill -TERM "$CTL"
wait_for 30 '! kill -0 "$CTL" 2>/dev/null'
wait "$CTL"
rc=$?
check "SIGTERM stops it with exit 0" '[ $rc = 0 ]'
for n in heal:raxx-heal win:raxx-win gone:raxx-missing; do
	check "invariants hold at the end: ${n%%:*}" '[ -z "$(q inv "${n#*:}" "/${n%%:*}")" ]'
done
q secrets >>"$WORLD/secrets.seen"
cat "$WORLD/controller.out" >>"$LOG"
no_secret_leaked
finish
