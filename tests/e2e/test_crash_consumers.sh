#!/usr/bin/env bash
# The crash matrix around each consumer write (issue 20): a manifest with an
# env file, a Heroku app and a GitHub repository secret; rotor is killed
# (-9) at the Heroku PATCH, at each GitHub PUT and at the TagUser that
# records the GitHub write, in the three variants of test_crash_matrix.sh
# ("in flight": held unprocessed; "answered": committed, reply dropped,
# killed at a retry if rotor made one; "reply dropped": not killed). After
# each: the invariants hold; at most two restarts converge (the store's
# pair in the env file, in Heroku and in GitHub, as the double decrypts
# it); the app was restarted exactly once for the rotation (a Heroku write
# is never repeated); later passes leave one Active key.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
source "$(dirname "$0")/crashlib.sh"
crash_world_start 2026-03-01T00:00:00Z || exit 1
world_heroku || exit 1
world_github
case $? in 0) ;; 77) exit 77 ;; *) exit 1 ;; esac
export ROTOR_VALIDATE_TIMEOUT_MS=20000 ROTOR_LOG_LEVEL=info
M=$WORLD/manifests
N=svc
U=raxx-svc
ENVF=$WORLD/etc/$N.env
DELETE_AFTER=86400
crash_manifest $N $U 30d 1h 1d
cat >>"$M/$N.yaml" <<'YAML'
    - name: api
      heroku: {connection: heroku-test, app: raxx-api}
    - name: ci
      githubActions: {connection: github-test, repository: raxx/api}
YAML
START=$SECONDS

releases() { curl -sS "$HEROKU_URL/_control/state" | "$ROTOR_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["apps"]["raxx-api"]["releases"])'; }
consumers_hold() { # the store's pair in Heroku and GitHub
	local akid secret
	akid=$(crash_store_akid)
	secret=$(inf_ctl GET state | "$ROTOR_PYTHON" -c '
import json, sys
for p in json.load(sys.stdin)["projects"]:
    for s in p["environments"]["prod"]["folders"].get("/aws", {"secrets": []})["secrets"]:
        if s["secretKey"] == "AWS_SECRET_ACCESS_KEY":
            print(s["versions"][-1]["secretValue"])')
	curl -sS "$HEROKU_URL/_control/state" | "$ROTOR_PYTHON" -c 'import json,sys; v=json.load(sys.stdin)["apps"]["raxx-api"]["vars"]; sys.exit(0 if v.get("AWS_ACCESS_KEY_ID")==sys.argv[1] and v.get("AWS_SECRET_ACCESS_KEY")==sys.argv[2] else 1)' "$akid" "$secret" || return 1
	curl -sS "$GITHUB_URL/_control/state" | "$ROTOR_PYTHON" -c 'import json,sys; s=json.load(sys.stdin)["targets"]["raxx/api"]["secrets"]; sys.exit(0 if s.get("AWS_ACCESS_KEY_ID",{}).get("value")==sys.argv[1] and s.get("AWS_SECRET_ACCESS_KEY",{}).get("value")==sys.argv[2] else 1)' "$akid" "$secret"
}

# the world just before the rotation pass: adopted, every consumer synced,
# the key 31 days old
crash_reset || exit 1
heroku_ctl POST apps '{"name": "raxx-api", "vars": {"OTHER": "x"}}' >/dev/null
github_ctl POST repos '{"full_name": "raxx/api"}' >/dev/null
crash_seed_user $U 2026-02-01T00:00:00Z 2026-02-28T12:00:00Z
crash_seed_store "$(iam_keys $U | awk '{print $1}')"
crash_rotor setup-sync apply "$M" || { not_ok "set-up pass failed (see $WORLD/logs)"; finish; exit 1; }
crash_check $U "$ENVF" $DELETE_AFTER >/dev/null || not_ok "set-up: invariants"
check "set-up: every consumer holds the stored pair" 'consumers_hold'
clock_advance $((3 * 86400))
crash_snapshot rotate || exit 1
heroku_ctl POST snapshot '{"name": "rotate"}' >/dev/null
github_ctl POST snapshot '{"name": "rotate"}' >/dev/null

run_case() { # LABEL DOUBLE MATCH AFTER VARIANT
	local label=$1 dbl=$2 match=$3 after=$4 variant=$5 problems="" out rc p converged=0 r0
	crash_restore rotate || { not_ok "$label [$variant]: restore failed"; return; }
	heroku_ctl POST restore '{"name": "rotate"}' >/dev/null
	github_ctl POST restore '{"name": "rotate"}' >/dev/null
	r0=$(releases)
	case $variant in
	inflight | answered) crash_kill_at "$dbl" "$match" "$after" "$variant" "$label-$variant" apply "$M" ;;
	dropped)
		"${dbl}_ctl" POST faults "{\"rules\": [{\"match\": \"$match\", \"kind\": \"drop_after\", \"after\": $after, \"count\": 1}]}" >/dev/null
		crash_rotor "$label-dropped" apply "$M"
		CRASH_RESULT="exited $?"
		[ "$(_crash_applied "$dbl" 0)" -ge 1 ] || CRASH_RESULT="not reached"
		"${dbl}_ctl" DELETE faults >/dev/null ;;
	esac
	case $CRASH_RESULT in killed | exited*) ;; *) problems+="  kill point: $CRASH_RESULT"$'\n' ;; esac
	out=$(crash_check $U "$ENVF" $DELETE_AFTER --at-kill) || problems+="  after the kill:"$'\n'"$out"$'\n'
	for p in 1 2; do
		crash_rotor "$label-$variant-restart$p" apply "$M"
		out=$(crash_check $U "$ENVF" $DELETE_AFTER --converged)
		rc=$?
		[ $((rc & 1)) = 0 ] || problems+="  after restart $p:"$'\n'"$out"$'\n'
		if [ $((rc & 2)) = 0 ] && consumers_hold; then
			converged=1
			break
		fi
	done
	[ $converged = 1 ] || problems+="  not converged within two passes (Heroku and GitHub holding the store's pair)"$'\n'
	[ "$(releases)" = $((r0 + 1)) ] || problems+="  the app was restarted $(($(releases) - r0)) times for one rotation"$'\n'
	clock_advance $((3600 + DELETE_AFTER + 1))
	crash_rotor "$label-$variant-later1" apply "$M"
	crash_rotor "$label-$variant-later2" apply "$M"
	out=$(crash_check $U "$ENVF" $DELETE_AFTER --final) || problems+="  later:"$'\n'"$out"$'\n'
	if [ -z "$problems" ]; then
		ok "$label [$variant]: $CRASH_RESULT; converged after $p pass(es); one restart of the app; invariants held"
	else
		not_ok "$label [$variant]: $CRASH_RESULT"
		printf '%s' "$problems"
	fi
}

#       label                       double  match             after
POINTS=(
	"heroku-write(PATCH)           heroku  config-vars:PATCH 0"
	"github-write-key-id(PUT)      github  secret:PUT        0"
	"github-write-secret(PUT)      github  secret:PUT        1"
	"github-record(TagUser)        aws     TagUser           3"
)
for point in "${POINTS[@]}"; do
	read -r label dbl match after <<<"$point"
	for variant in inflight answered dropped; do
		run_case "$label" "$dbl" "$match" "$after" "$variant"
	done
done
echo "# $((SECONDS - START))s"
finish
