#!/usr/bin/env bash
# The main job: builds rotor and runs a whole key rotation on the local
# test doubles (IAM/STS and Infisical on loopback, sharing a simulated
# clock with rotor) and of Heroku and GitHub, narrating each step:
# adoption, create, validate,
# store, propagate, deactivate, delete, then a second rotation at cadence,
# then the controller doing the next one on its own from a git repository.
# Stops everything it started. Takes well under two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROTOR_TESTS=OFF -DROTOR_TEST_HOOKS=ON >/dev/null
cmake --build build/release -j2 >/dev/null
ROTOR=$PWD/build/release/rotor
export ROTOR_SOURCE_DIR=$PWD ROTOR_PYTHON=${ROTOR_PYTHON:-python3} NO_COLOR=1
"$ROTOR" version | head -1
source tests/e2e/world.sh

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
show_world() {
	echo "  IAM keys of $U:"
	iam_keys "$U" | sed 's/^/    /'
	echo "  the store (Infisical /aws) holds:      $(store_akid)"
	echo "  the app's env file holds:              $(sed -n 's/^AWS_ACCESS_KEY_ID=//p' "$WORLD/etc/s3-backup-writer.env" 2>/dev/null || true)"
	echo "  Heroku app raxx-backup's config var:   $(curl -sS "$HEROKU_URL/_control/state" | "$ROTOR_PYTHON" -c 'import json,sys; d=json.load(sys.stdin)["apps"]["raxx-backup"]; print(d["vars"].get("AWS_ACCESS_KEY_ID", "-"), "(release %d)" % d["releases"])')"
	[ -z "${GITHUB_URL:-}" ] ||
		echo "  GitHub secret of raxx/backup:          $(curl -sS "$GITHUB_URL/_control/state" | "$ROTOR_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["targets"]["raxx/backup"]["secrets"].get("AWS_ACCESS_KEY_ID", {}).get("value", "-"))') (as the double decrypts it)"
}

say "Starting the IAM/STS and Infisical test doubles on loopback (simulated clock: 2026-01-01T00:00:00Z)"
world_start 2026-01-01T00:00:00Z
U=raxx-s3-backup
aws_ctl POST users "{\"name\": \"$U\", \"keys\": [{\"created\": \"2025-09-15T08:00:00Z\", \"last_used\": {\"date\": \"2025-12-31T23:00:00Z\", \"service\": \"s3\", \"region\": \"eu-west-1\"}}]}" >/dev/null
aws_ctl POST settings '{"propagation_delay": 2}' >/dev/null
echo "IAM user $U exists with one hand-made key, 108 days old, used yesterday by S3."
echo "Its secret is in nobody's store yet: rotor will adopt it."
world_heroku
heroku_ctl POST apps '{"name": "raxx-backup"}' >/dev/null
GITHUB_URL=
if world_github >/dev/null; then
	github_ctl POST repos '{"full_name": "raxx/backup"}' >/dev/null
else
	GITHUB_URL=
	echo "(no Python with PyNaCl here: the GitHub consumer is left out; apt-get install python3-nacl)"
fi
write_manifest s3-backup-writer "$U" 30d 1h 1d
printf '    - name: api\n      heroku: {connection: heroku-test, app: raxx-backup}\n' >>"$WORLD/manifests/s3-backup-writer.yaml"
[ -z "$GITHUB_URL" ] ||
	printf '    - name: ci\n      githubActions: {connection: github-test, repository: raxx/backup}\n' >>"$WORLD/manifests/s3-backup-writer.yaml"
M=$WORLD/manifests
echo; echo "The manifest an operator commits to git:"; sed 's/^/  /' "$M/s3-backup-writer.yaml"
show_world

say "1. rotor plan — what would change, and why (plan never mutates)"
"$ROTOR" plan "$M" || true

say "2. rotor apply — adopt: create a key, validate it with STS (IAM takes ~2s to propagate it), store the pair, propagate it to every consumer (env file, Heroku: one write, one restart; GitHub: sealed with the repository's public key)"
"$ROTOR" apply "$M"
show_world

say "rotor status — every consumer holds the new key; the old key stays Active for the 1h grace (deactivateAfter)"
"$ROTOR" status "$M"

say "3. One hour and a bit later: every consumer (N/N) holds the new key and the old one was not used since — deactivate"
clock_advance 4000
echo "(clock: $(clock_now))"
"$ROTOR" apply "$M"
show_world

say "4. A day later: the Inactive key's observation window (deleteAfter 1d) is over — delete"
clock_advance 86400
echo "(clock: $(clock_now))"
"$ROTOR" apply "$M"
show_world

say "5. Thirty days later: the key reached its cadence (30d) — a second rotation"
clock_advance $((30 * 86400))
echo "(clock: $(clock_now))"
"$ROTOR" apply "$M"
show_world

say "rotor status after the second rotation"
"$ROTOR" status "$M"

say "6. The controller — the same job with no human: rotor controller follows a git repository"
REPO=$WORLD/gitroot/repo
mkdir -p "$REPO/aws"
git -C "$REPO" init -q -b main
cp "$M/s3-backup-writer.yaml" "$REPO/aws/"
git -C "$REPO" add -A
git -C "$REPO" -c user.name=demo -c user.email=demo@example.invalid commit -qm "s3-backup-writer"
PORT=$(free_port)
{
	cat "$WORLD/rotor.yaml"
	printf 'source:\n  url: "file://%s"\n  path: aws\n  cacheDir: %s\n  interval: 1m\n' "$REPO" "$WORLD/gitcache"
	printf 'controller:\n  workers: 2\n  resync: 10m\n  listen: "127.0.0.1:%s"\n' "$PORT"
} >"$WORLD/controller.yaml"
echo "The config gains a source (the git repository) and a controller block:"
sed -n '/^source:/,$p' "$WORLD/controller.yaml" | sed 's/^/  /'
"$ROTOR" controller --config "$WORLD/controller.yaml" >"$WORLD/controller.log" 2>&1 &
CTL=$!
get() { curl -sS --max-time 5 "http://127.0.0.1:$PORT$1" 2>/dev/null || true; }
until_true() { # SECONDS CONDITION
	local end=$((SECONDS + $1))
	until eval "$2"; do
		[ $SECONDS -lt "$end" ] || { echo "(gave up waiting after $1 s: $2)"; return 0; }
		sleep 0.5
	done
}
summary() { # /status in one line per manifest
	get /status | "$ROTOR_PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
print("  revision", (d["revision"] or "none")[:12])
for m in d["manifests"]:
    nxt = ", ".join("%s %s" % (s["step"], s["at"]) for s in m["nextSteps"])
    print("  %s: %s: %s\n    next: %s" % (m["name"], m["status"], m["reason"], nxt or "-"))'
}
until_true 20 '[ "$(get /readyz)" = "ready" ]'
until_true 20 'get /status | grep -q "\"lastPass\": \"2"'
echo "curl http://127.0.0.1:$PORT/status (summarised):"
summary
echo; echo "Time passes (the simulated clock); nobody runs rotor by hand."
echo "An hour later the controller deactivates the replaced key (its deactivateAfter grace is over):"
clock_advance 4000
echo "(clock: $(clock_now))"
until_true 30 'iam_keys "$U" | grep -q Inactive'
show_world
echo "A day later it deletes it (deleteAfter):"
clock_advance 86400
echo "(clock: $(clock_now))"
until_true 30 '[ "$(iam_keys "$U" | wc -l)" = 1 ]'
show_world
BEFORE=$(store_akid)
echo "Thirty days later the key reaches its cadence: the controller rotates it:"
clock_advance $((30 * 86400))
echo "(clock: $(clock_now))"
until_true 30 '[ "$(store_akid)" != "$BEFORE" ] && grep -q "$(store_akid)" "$WORLD/etc/s3-backup-writer.env"'
show_world
echo "curl http://127.0.0.1:$PORT/status (summarised):"
summary
echo "curl http://127.0.0.1:$PORT/metrics (an excerpt: the non-zero counters and the gauges):"
get /metrics | grep -E '^rotor_(reconciles_total|actions_total|key_age_seconds|next_action_seconds|remote_requests_total)' | grep -v ' 0$' | sed 's/^/  /'
echo "The controller's log (JSON lines when not on a terminal; the messages):"
"$ROTOR_PYTHON" -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        j = json.loads(line)
    except ValueError:
        continue
    print("  %s %s: %s" % (j.get("level", ""), j.get("scope", j.get("manifest", "")), j.get("msg", j.get("message", ""))))' "$WORLD/controller.log" | tail -n 12
kill -TERM "$CTL"
wait "$CTL" && echo "SIGTERM: the controller stopped cleanly (exit 0)."

say "The audit log (one JSON line per mutation, never a secret):"
sed 's/^/  /' "$WORLD/audit.jsonl"
say "Done. Stopping the doubles."
world_stop
rm -rf "$WORLD"
