#!/usr/bin/env bash
# One manifest with one consumer of each kind (issue 20): a Heroku app, a
# GitHub repository secret, a GitHub environment secret, a local env file
# and an env file over SSH (a real sshd):
#  - the whole lifecycle: adoption, deactivation once all five hold the new
#    key, deletion, the next rotation at the cadence;
#  - deactivation held while any one consumer lags (each kind in turn
#    failing: Heroku 401, GitHub 404, a GitHub secondary rate limit that
#    does not clear within the pass, the local file's directory gone, the
#    SSH host key changed), the others correct and the old key Active;
#  - deactivation held, with the user's last use shown, when the old key
#    is used after the switch;
#  - drift on each kind healed without touching the ones in sync (Heroku's
#    release count unchanged, the files' inodes unchanged).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
world_heroku || exit 1
world_github
case $? in 0) ;; 77) exit 77 ;; *) exit 1 ;; esac
world_sshd
case $? in 0) ;; 77) exit 77 ;; *) exit 1 ;; esac
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"

heroku_ctl POST apps '{"name": "raxx-all"}' >/dev/null
github_ctl POST repos '{"full_name": "raxx/all", "environments": ["production"]}' >/dev/null
REMOTE=$WORLD/remote/all.env
new_case all raxx-all '[{"created": "2025-10-01T00:00:00Z"}]'
cat >>"$WORLD/m/all/all.yaml" <<YAML
    - name: api
      heroku: {connection: heroku-test, app: raxx-all}
    - name: ci
      githubActions: {connection: github-test, repository: raxx/all}
    - name: ci-prod
      githubActions: {connection: github-test, repository: raxx/all, environment: production}
    - name: host
      envFile: {ssh: host-test, path: $REMOTE, reload: restart-app}
YAML
M=$WORLD/m/all
st() { # EXPR over the Heroku (h) and GitHub (g) doubles' states
	"$ROTOR_PYTHON" -c 'import json, sys, urllib.request
h = json.load(urllib.request.urlopen(sys.argv[1] + "/_control/state"))["apps"]["raxx-all"]
g = json.load(urllib.request.urlopen(sys.argv[2] + "/_control/state"))["targets"]
print(eval(sys.argv[3]))' "$HEROKU_URL" "$GITHUB_URL" "$1"
}
holders() { # AKID: which of the five hold it, in order
	local a=$1 out=""
	[ "$(st 'h["vars"].get("AWS_ACCESS_KEY_ID")')" = "$a" ] && out+="api "
	[ "$(st 'g["raxx/all"]["secrets"].get("AWS_ACCESS_KEY_ID", {}).get("value")')" = "$a" ] && out+="ci "
	[ "$(st 'g["raxx/all@production"]["secrets"].get("AWS_ACCESS_KEY_ID", {}).get("value")')" = "$a" ] && out+="ci-prod "
	[ "$(env_akid all)" = "$a" ] && out+="app "
	[ "$(sed -n 's/^AWS_ACCESS_KEY_ID=//p' "$REMOTE" 2>/dev/null)" = "$a" ] && out+="host "
	echo "${out% }"
}
ALL="api ci ci-prod app host"

# ---- the lifecycle ---------------------------------------------------------------
OLD=$(q keys raxx-all | awk '{print $1}')
run apply "$M"
K1=$(akid_of all)
check "adoption: all five consumers hold the new key" '[ $rc = 0 ] && [ "$(holders "$K1")" = "$ALL" ]'
run status "$M"
check "status: 5/5 consumers hold it" 'grep -q "5/5 consumers hold $K1" <<<"$out"'
clock_advance 7200
run apply "$M"
check "past deactivateAfter, all five holding: the old key is deactivated" '[ "$(key_status raxx-all "$OLD")" = Inactive ]'
clock_advance $((2 * 86400))
run apply "$M"
check "past deleteAfter: deleted" '[ -z "$(key_status raxx-all "$OLD")" ] && [ "$(nkeys raxx-all)" = 1 ]'

# ---- drift on each kind, healed alone -----------------------------------------------
heal_one() { # LABEL KIND-ACTION
	local r0 i0 i1
	WHO=$1
	r0=$(st 'h["releases"]')
	i0=$(stat -c %i "$WORLD/etc/all.env")
	i1=$(stat -c %i "$REMOTE")
	eval "$2"
	run apply "$M"
	check "drift on $1 healed; Heroku releases, the files untouched unless they drifted" \
		'[ $rc = 0 ] && [ "$(holders "$K1")" = "$ALL" ] && { [ "$WHO" = api ] || [ "$(st "h[\"releases\"]")" = "$r0" ]; } && { [ "$WHO" = app ] || [ "$(stat -c %i "$WORLD/etc/all.env")" = "$i0" ]; } && { [ "$WHO" = host ] || [ "$(stat -c %i "$REMOTE")" = "$i1" ]; }'
}
heal_one api 'heroku_ctl POST vars "{\"app\": \"raxx-all\", \"vars\": {\"AWS_ACCESS_KEY_ID\": \"AKIAHAND\"}}" >/dev/null'
heal_one ci 'clock_advance 5; github_ctl POST secret "{\"target\": \"raxx/all\", \"name\": \"AWS_ACCESS_KEY_ID\", \"value\": \"AKIAHAND\"}" >/dev/null'
heal_one ci-prod 'clock_advance 5; github_ctl POST secret "{\"target\": \"raxx/all@production\", \"name\": \"AWS_SECRET_ACCESS_KEY\", \"value\": \"x\"}" >/dev/null'
heal_one app 'sed -i "s/^AWS_ACCESS_KEY_ID=.*/AWS_ACCESS_KEY_ID=AKIAHAND/" "$WORLD/etc/all.env"'
heal_one host 'sed -i "s/^AWS_ACCESS_KEY_ID=.*/AWS_ACCESS_KEY_ID=AKIAHAND/" "$REMOTE"'

# ---- each consumer lagging in turn holds the deactivation --------------------------------
lag_case() { # CONSUMER SETUP UNDO EXPECT
	local who=$1 prev new rest
	EXPECT=$4
	eval "$2"
	prev=$(akid_of all)
	clock_advance $((31 * 86400))
	run apply "$M"
	new=$(akid_of all)
	rest=$(tr ' ' '\n' <<<"$ALL" | grep -vx "$who" | tr '\n' ' ')
	rest=${rest% }
	check "$who failing: the pass fails naming it ($4); the four others hold the new key" \
		'[ $rc = 1 ] && grep -q "$EXPECT" <<<"$out" && [ "$new" != "$prev" ] && [ "$(holders "$new")" = "$rest" ]'
	clock_advance 7200
	run apply "$M"
	check "$who failing: past deactivateAfter the old key stays Active" '[ "$(key_status raxx-all "$prev")" = Active ]'
	eval "$3"
	run apply "$M"
	check "$who back: all five hold the new key" '[ $rc = 0 ] && [ "$(holders "$new")" = "$ALL" ]'
	clock_advance 7200
	run apply "$M"
	clock_advance $((2 * 86400))
	run apply "$M"
	check "$who back: the old key is deactivated and deleted" '[ -z "$(key_status raxx-all "$prev")" ] && [ "$(nkeys raxx-all)" = 1 ] && [ -z "$(q inv raxx-all /all)" ]'
}
lag_case api 'export HEROKU_API_TOKEN=not-the-token' 'export HEROKU_API_TOKEN=$HEROKU_TOKEN' "Heroku GET /apps/raxx-all/config-vars: HTTP 401 unauthorized"
lag_case ci 'github_ctl POST faults "{\"rules\": [{\"match\": \"raxx/all:public-key\", \"kind\": \"error\", \"count\": -1, \"status\": 404, \"message\": \"Not Found\"}]}" >/dev/null' 'github_ctl DELETE faults >/dev/null' "GitHub GET /repos/raxx/all/actions/secrets/public-key: HTTP 404"
lag_case ci-prod 'github_ctl POST faults "{\"rules\": [{\"match\": \"raxx/all@production:secret:PUT\", \"kind\": \"throttle\", \"count\": -1}]}" >/dev/null' 'github_ctl DELETE faults >/dev/null' "still rate limited after waiting"
lag_case app 'mv "$WORLD/etc" "$WORLD/etc.away"' 'mv "$WORLD/etc.away" "$WORLD/etc"' "directory $WORLD/etc does not exist"
lag_case host 'cp "$WORLD/sshd/known_hosts" "$WORLD/kh.good"; ssh-keygen -q -t ed25519 -N "" -f "$WORLD/sshd/k2"; printf "[127.0.0.1]:%s %s\n" "$SSH_PORT" "$(cut -d" " -f1,2 "$WORLD/sshd/k2.pub")" >"$WORLD/sshd/known_hosts"' 'cp "$WORLD/kh.good" "$WORLD/sshd/known_hosts"' "the host key CHANGED"

# ---- the old key used after the switch ------------------------------------------------------
PREV=$(akid_of all)
clock_advance $((31 * 86400))
run apply "$M"
NEW=$(akid_of all)
clock_advance 600
aws_ctl POST use "{\"access_key_id\": \"$PREV\", \"service\": \"s3\", \"region\": \"eu-west-1\"}" >/dev/null
clock_advance 7200
plan "old key used after the switch" "$M"
check "the old key used after every consumer switched: deactivation held, the last use shown" \
	'[ "$(key_status raxx-all "$PREV")" = Active ] && grep -q "$PREV" <<<"$out" && grep -q "s3" <<<"$out" && grep -q "eu-west-1" <<<"$out" && grep -qi "used" <<<"$out"'
run apply "$M"
check "apply keeps it Active while it is in use" '[ "$(key_status raxx-all "$PREV")" = Active ] && [ "$(holders "$NEW")" = "$ALL" ]'

check "invariants hold at the end" '[ -z "$(q inv raxx-all /all)" ] && [ "$(q limit_exceeded)" = 0 ]'
q secrets >>"$WORLD/secrets.seen"
no_secret_leaked
finish
