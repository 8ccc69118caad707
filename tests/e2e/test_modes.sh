#!/usr/bin/env bash
# Modes and guards that must never mutate (contract §5a, invariant 7):
#   - `mode: observe`: a due rotation (adoption), then a stray key, a drifted
#     env file and a rotation at cadence are shown in the plan, marked
#     [observe] (JSON: mode observe, willApply false), and `rotor apply` /
#     `rotor rotate` change nothing in either double, the env file or the
#     audit log;
#   - `suspend: true`: the same situations, shown as Suspended, never changed;
#   - `rotor plan` (text, markdown, json) and `rotor status` never change
#     anything: every call in this script is wrapped in a full before/after
#     comparison of both doubles' state, the calls they received (reads
#     only), the env files and the audit log.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"
# ---- mode: observe ----------------------------------------------------------
new_case obs raxx-obs '[{"created": "2025-10-01T00:00:00Z"}]' "  mode: observe"
L=$(q keys raxx-obs | awk '{print $1}')
plan obs "$WORLD/m/obs"
check "obs: the plan marks the manifest [observe]" 'grep -q "^? obs (raxx-obs on aws-test) \[observe\]" <<<"$out"'
check "obs: the plan shows the adoption's actions" 'grep -qE "^  \+ create " <<<"$out" && grep -qE "^  ~ store " <<<"$out"'
check "obs: the summary says observe mode is never applied" 'grep -q "observe mode: reported, never applied" <<<"$out"'
plan "obs (json)" --format json "$WORLD/m/obs"
check "obs: JSON says mode observe and no action will apply" \
	'"$ROTOR_PYTHON" -c "import json,sys; d=json.load(sys.stdin); m=d[\"manifests\"][0]; assert m[\"mode\"]==\"observe\" and m[\"actions\"] and not any(a[\"willApply\"] for a in m[\"actions\"])" <<<"$out"'
plan "obs (markdown)" --format markdown "$WORLD/m/obs"
check "obs: markdown says observe only" 'grep -q "observe only" <<<"$out"'
run_nomut obs apply "$WORLD/m/obs"
check "obs: apply exits 0" '[ $rc = 0 ]'
run_nomut obs rotate obs "$WORLD/m/obs"
run_nomut obs status "$WORLD/m/obs"
check "obs: status shows the empty store folder without a stray slash" 'grep -qx "  store:   /obs: empty" <<<"$out"'
run_nomut obs rollback obs "$WORLD/m/obs"
check "obs: rollback refuses in observe mode and says why" \
	'[ $rc = 1 ] && grep -q "spec.mode is observe" <<<"$out"'
check "obs: nothing was created" '[ "$(q keys raxx-obs)" = "$L Active" ] && [ -z "$(akid_of obs)" ] && [ ! -e "$WORLD/etc/obs.env" ]'

# Enforced once (to have a stored pair), then back to observe with a stray
# key and a drifted env file.
sed -i '/^  mode: observe$/d' "$WORLD/m/obs/obs.yaml"
run apply "$WORLD/m/obs"
K1=$(akid_of obs)
OBS_K1=$K1
check "obs: enforced once, the store holds a key" '[ $rc = 0 ] && [ -n "$K1" ]'
clock_advance 7200
run apply "$WORLD/m/obs"
clock_advance 90000
run apply "$WORLD/m/obs"
check "obs: the legacy key is gone, one key left" '[ "$(q keys raxx-obs)" = "$K1 Active" ]'
sed -i 's/^  deleteAfter: 1d$/  deleteAfter: 1d\n  mode: observe/' "$WORLD/m/obs/obs.yaml"
S=$(new_key raxx-obs)
sed -i 's/^AWS_ACCESS_KEY_ID=.*/AWS_ACCESS_KEY_ID=AKIAEDITEDBYHAND0000/' "$WORLD/etc/obs.env"
plan "obs, stray and drift" "$WORLD/m/obs"
check "obs: the plan reports the stray (delete-stray) under [observe]" \
	'grep -q "\[observe\]" <<<"$out" && grep -qE "^  - delete-stray +$S" <<<"$out"'
check "obs: the plan reports the drifted consumer (propagate)" 'grep -qE "^  ~ propagate +app" <<<"$out"'
run_nomut "obs, stray and drift" apply "$WORLD/m/obs"
check "obs: the stray and the drift are still there" \
	'[ "$(key_status raxx-obs "$S")" = Active ] && [ "$(env_akid obs)" = AKIAEDITEDBYHAND0000 ]'
clock_advance $((31 * 86400))
plan "obs, rotation due" "$WORLD/m/obs"
check "obs: the plan shows the due rotation under [observe]" 'grep -q "\[observe\]" <<<"$out" && grep -qE "^  \+ create " <<<"$out"'
run_nomut "obs, rotation due" apply "$WORLD/m/obs"
run_nomut "obs, rotation due" rotate obs "$WORLD/m/obs"
check "obs: the store still holds the same key" '[ "$(akid_of obs)" = "$K1" ]'

# ---- suspend: true ------------------------------------------------------------
new_case susp raxx-susp '[{"created": "2025-10-01T00:00:00Z"}]' "  suspend: true"
L=$(q keys raxx-susp | awk '{print $1}')
plan susp --detailed-exitcode "$WORLD/m/susp"
check "susp: plan exits 0 and says Suspended, with no action" \
	'[ $rc = 0 ] && grep -q "status: Suspended" <<<"$out" && ! grep -qE "^  [-+~#?] " <<<"$out"'
run_nomut susp apply "$WORLD/m/susp"
check "susp: apply exits 0" '[ $rc = 0 ]'
run_nomut susp rotate susp "$WORLD/m/susp"
run_nomut susp status "$WORLD/m/susp"
# Enforced once, then suspended with a stray, a drift and a due rotation.
sed -i '/^  suspend: true$/d' "$WORLD/m/susp/susp.yaml"
run apply "$WORLD/m/susp"
K1=$(akid_of susp)
check "susp: enforced once, the store holds a key" '[ $rc = 0 ] && [ -n "$K1" ]'
clock_advance 7200
run apply "$WORLD/m/susp"
check "susp: enforced: the legacy key is deactivated" '[ "$(key_status raxx-susp "$L")" = Inactive ]'
sed -i 's/^  deleteAfter: 1d$/  deleteAfter: 1d\n  suspend: true/' "$WORLD/m/susp/susp.yaml"
iam_call DeleteAccessKey UserName=raxx-susp AccessKeyId="$L"   # room for a stray
S=$(new_key raxx-susp)
sed -i 's/^AWS_ACCESS_KEY_ID=.*/AWS_ACCESS_KEY_ID=AKIAEDITEDBYHAND0000/' "$WORLD/etc/susp.env"
clock_advance $((31 * 86400))
plan "susp, stray, drift, rotation due" --detailed-exitcode "$WORLD/m/susp"
check "susp: still Suspended with nothing to do" '[ $rc = 0 ] && grep -q "status: Suspended" <<<"$out"'
run_nomut "susp, stray, drift, rotation due" apply "$WORLD/m/susp"
run_nomut "susp, stray, drift, rotation due" rotate susp "$WORLD/m/susp"
check "susp: the stray and the drift are still there, the store holds the same key" \
	'[ "$(key_status raxx-susp "$S")" = Active ] && [ "$(key_status raxx-susp "$K1")" = Active ] && [ "$(env_akid susp)" = AKIAEDITEDBYHAND0000 ] && [ "$(akid_of susp)" = "$K1" ]'

# ---- both manifests at once, and an enforced one beside them ----------------------
new_case enf raxx-enf
mkdir -p "$WORLD/all"
cp "$WORLD/m/obs/obs.yaml" "$WORLD/m/susp/susp.yaml" "$WORLD/m/enf/enf.yaml" "$WORLD/all/"
plan "all three" --format json "$WORLD/all"
check "all three: JSON hasChanges is true only because of the enforced one" \
	'"$ROTOR_PYTHON" -c "import json,sys; d=json.load(sys.stdin); assert d[\"hasChanges\"] and d[\"summary\"][\"observeOnly\"]==1 and d[\"summary\"][\"suspended\"]==1" <<<"$out"'
before_obs=$(q keys raxx-obs); before_susp=$(q keys raxx-susp)
run apply "$WORLD/all"
check "all three: apply rotates only the enforced manifest" \
	'[ $rc = 0 ] && [ -n "$(akid_of enf)" ] && [ "$(q keys raxx-obs)" = "$before_obs" ] && [ "$(q keys raxx-susp)" = "$before_susp" ] && [ "$(akid_of obs)" = "$OBS_K1" ] && [ "$(env_akid susp)" = AKIAEDITEDBYHAND0000 ]'
run_nomut "all three" status "$WORLD/all"

no_secret_leaked
finish
