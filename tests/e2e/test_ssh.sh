#!/usr/bin/env bash
# Env files on a host over SSH (issue 20), against a real OpenSSH sshd on
# loopback (world_sshd: throwaway host key, rotor's key authorised):
#  - adoption writes the pair into the remote file, keeps its other lines,
#    mode 0600, runs the named reload once, leaves no temp file;
#  - a pass with nothing to do changes nothing (no write, no reload);
#  - a hand edit is healed;
#  - a changed host key and an unknown one are refused with the fingerprint
#    seen, nothing sent; a stopped sshd is a clear connection error;
#  - a reload that fails puts the old file back: the consumer stays on the
#    old key, which stays Active;
#  - rotor killed (-9) while the host runs the reload: invariants hold, no
#    temp file is left, the next passes converge;
#  - the secret is on the host only in the target file.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
world_sshd
case $? in 0) ;; 77) exit 77 ;; *) exit 1 ;; esac
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
source "$(dirname "$0")/scenario.sh"

REMOTE=$WORLD/remote/app.env
printf '# the app'"'"'s environment\nDATABASE_URL=postgres://db/app\nAWS_REGION=eu-west-1\n' >"$REMOTE"
new_case sh raxx-sh '[{"created": "2025-10-01T00:00:00Z"}]'
printf '    - name: host\n      envFile: {ssh: host-test, path: %s, reload: restart-app}\n' "$REMOTE" >>"$WORLD/m/sh/sh.yaml"
M=$WORLD/m/sh
remote_akid() { sed -n 's/^AWS_ACCESS_KEY_ID=//p' "$REMOTE" 2>/dev/null; }
reloads() { wc -l <"$WORLD/remote-reloads" 2>/dev/null || echo 0; }

run validate --config "$WORLD/rotor.yaml" "$M"
check "a manifest with an env file over ssh validates" '[ $rc = 0 ]'
printf 'apiVersion: rotor/v1\nkind: AccessKeyRotation\nmetadata: {name: bad}\nspec:\n  user: x\n  aws: aws-test\n  store:\n    infisical: {connection: infisical-test, projectId: p, environment: prod}\n  consumers:\n    - name: h\n      envFile: {ssh: host-test, path: /etc/passwd-rotor, reload: nope}\n' >"$WORLD/bad-ssh.yaml"
run validate --config "$WORLD/rotor.yaml" "$WORLD/bad-ssh.yaml"
check "a path outside the connection's allowedDirs and an unknown reload are refused at validation" \
	'[ $rc = 3 ] && grep -q "not inside an allowed directory (.*; set by connections.ssh.host-test.allowedDirs" <<<"$out" && grep -q "reload \"nope\" is not defined .*connections.ssh.host-test.reload" <<<"$out"'

# ---- adoption ---------------------------------------------------------------------
run apply "$M"
NEW=$(akid_of sh)
check "adoption: the remote file holds the new pair, the local env file too" \
	'[ $rc = 0 ] && [ "$(remote_akid)" = "$NEW" ] && [ "$(env_akid sh)" = "$NEW" ] && grep -qxF "AWS_SECRET_ACCESS_KEY=$(q secret /sh AWS_SECRET_ACCESS_KEY)" "$REMOTE"'
check "the file's other lines are kept; mode 0600; no temp file left" \
	'grep -qx "DATABASE_URL=postgres://db/app" "$REMOTE" && grep -q "^# the app" "$REMOTE" && [ "$(stat -c %a "$REMOTE")" = 600 ] && [ -z "$(ls -A "$WORLD/remote" | grep -v "^app.env$")" ]'
check "the named reload ran once, after the write" '[ "$(reloads)" = 1 ]'
BEFORE=$(stat -c '%Y %i' "$REMOTE")
run apply "$M"
check "a pass with nothing to do: no write, no reload" \
	'[ $rc = 0 ] && [ "$(stat -c "%Y %i" "$REMOTE")" = "$BEFORE" ] && [ "$(reloads)" = 1 ]'
run status "$M"
check "status: 2/2 consumers hold the key" 'grep -q "2/2 consumers hold $NEW" <<<"$out" && grep -q "consumer: host (envFile): in sync" <<<"$out"'

# ---- a hand edit is healed --------------------------------------------------------
sed -i 's/^AWS_ACCESS_KEY_ID=.*/AWS_ACCESS_KEY_ID=AKIAEDITEDBYHAND0000/' "$REMOTE"
cp "$REMOTE" "$WORLD/remote/.app.env.rotor-0011223344556677" # a killed rotor's temp file
run apply "$M"
check "a hand edit on the host is healed (and reloaded)" \
	'[ $rc = 0 ] && [ "$(remote_akid)" = "$NEW" ] && [ "$(reloads)" = 2 ]'
check "a temp file an interrupted rotor left beside it (with the secret) is removed" \
	'[ ! -e "$WORLD/remote/.app.env.rotor-0011223344556677" ]'

# ---- host keys ---------------------------------------------------------------------
cp "$WORLD/sshd/known_hosts" "$WORLD/sshd/known_hosts.good"
ssh-keygen -q -t ed25519 -N '' -f "$WORLD/sshd/other_key"
printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$WORLD/sshd/other_key.pub")" >"$WORLD/sshd/known_hosts"
SEEN=$(ssh-keygen -lf "$WORLD/sshd/host_ed25519.pub" | awk '{print $2}')
run plan "$M"
check "a changed host key is refused, naming the fingerprint the server offered" \
	'grep -q "the host key CHANGED (the server offered $SEEN" <<<"$out"'
: >"$WORLD/sshd/known_hosts"
run plan "$M"
check "an unknown host key is refused, naming its fingerprint" \
	'grep -q "unknown host key $SEEN" <<<"$out"'
cp "$WORLD/sshd/known_hosts.good" "$WORLD/sshd/known_hosts"

# ---- failures leave the old file and the old key ------------------------------------
clock_advance 7200
run apply "$M"
clock_advance $((2 * 86400))
run apply "$M"
check "the predecessor is gone once both files held the new key" '[ "$(nkeys raxx-sh)" = 1 ]'

sed -i 's/reload: restart-app}/reload: broken}/' "$WORLD/m/sh/sh.yaml"
K0=$(akid_of sh)
clock_advance $((31 * 86400))
run apply "$M"
check "a reload that fails: apply fails naming the command and its status; the old file is put back" \
	'[ $rc = 1 ] && grep -q "the reload command broken exited with status 1 on the host; the old file was put back" <<<"$out" && [ "$(remote_akid)" = "$K0" ] && [ "$(akid_of sh)" != "$K0" ]'
clock_advance 7200
run apply "$M"
check "while the remote file lags, the old key stays Active" '[ "$(key_status raxx-sh "$K0")" = Active ]'
sed -i 's/reload: broken}/reload: restart-app}/' "$WORLD/m/sh/sh.yaml"

# ---- killed (-9) while the host runs the reload (the file replaced) ----------
sed -i 's/reload: restart-app}/reload: gated}/' "$WORLD/m/sh/sh.yaml"
run apply "$M" # the lagging file catches up (the gate is open)
clock_advance 7200
run apply "$M"
clock_advance $((2 * 86400))
run apply "$M"
KK=$(akid_of sh)
touch "$WORLD/remote-gate"
rm -f "$WORLD/remote-gate-reached"
clock_advance $((31 * 86400))
"$ROTOR_BIN" apply "$M" >"$WORLD/killed.out" 2>&1 &
KP=$!
for _ in $(seq 1 200); do [ -e "$WORLD/remote-gate-reached" ] && break; sleep 0.05; done
kill -9 "$KP"
wait "$KP" 2>/dev/null
rm -f "$WORLD/remote-gate"
check "killed in the remote reload: the invariants hold, the old key Active, no temp file on the host" \
	'[ -e "$WORLD/remote-gate-reached" ] && [ -z "$(q inv raxx-sh /sh)" ] && [ "$(key_status raxx-sh "$KK")" = Active ] && [ -z "$(ls -A "$WORLD/remote" | grep -v "^app.env$")" ]'
run apply "$M"
run apply "$M"
check "after the kill, the next passes converge: the remote file holds the stored pair" \
	'[ $rc = 0 ] && [ "$(remote_akid)" = "$(akid_of sh)" ] && [ "$(akid_of sh)" != "$KK" ]'
sed -i 's/reload: gated}/reload: restart-app}/' "$WORLD/m/sh/sh.yaml"

KD=$(remote_akid)
kill "$SSHD_PID" && wait "$SSHD_PID" 2>/dev/null
run plan "$M"
check "sshd down: a clear connection error; the file untouched" \
	'grep -q "ssh .*@127.0.0.1:$SSH_PORT .*cannot connect: Connection refused" <<<"$out" && [ "$(remote_akid)" = "$KD" ]'
/usr/sbin/sshd -D -e -f "$WORLD/sshd/sshd_config" 2>>"$WORLD/sshd/sshd.log" &
SSHD_PID=$!
echo "$SSHD_PID" >>"$WORLD/pids"
sleep 0.5
run apply "$M"
check "sshd back: the file catches up" '[ $rc = 0 ] && [ "$(remote_akid)" = "$(akid_of sh)" ]'
clock_advance 7200
run apply "$M"
clock_advance $((2 * 86400))
run apply "$M"
check "then the old key goes; invariants hold" \
	'[ "$(nkeys raxx-sh)" = 1 ] && [ -z "$(q inv raxx-sh /sh)" ] && [ "$(q limit_exceeded)" = 0 ]'

SECRET=$(q secret /sh AWS_SECRET_ACCESS_KEY)
out=$(grep -rlF "$SECRET" "$WORLD/remote" "$WORLD/sshd" "$WORLD/remote-reloads" 2>/dev/null)
check "on the host the secret is only in the target file" '[ "$out" = "$REMOTE" ]'
q secrets >>"$WORLD/secrets.seen"
no_secret_leaked
finish
