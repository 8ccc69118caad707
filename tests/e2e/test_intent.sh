#!/usr/bin/env bash
# The intent record and crash recovery (contract §5, invariants 1, 4, 6):
#   - CreateAccessKey succeeds but its reply is lost (fault drop_after: the
#     key exists, rotor never sees its secret): the apply fails; the next
#     apply deletes the orphan (newer than the intent, never used, not in the
#     store) and completes the rotation; converged within two passes; IAM's
#     LimitExceeded is never hit on the way;
#   - rotor killed (SIGKILL) while it waits for the new key to validate: the
#     next apply deletes the orphan and rotates;
#   - the pass fails after validation, at the store write (Infisical refuses
#     the batch): the next apply, with the store healthy again, must recognise
#     the validated key as rotor's own attempt, delete it and rotate;
#   - the store write lands but its reply is lost (drop_after on the batch):
#     the next apply converges without another rotation.
# At every step: the stored pair authenticates, the stored key is never
# Inactive or deleted, the user has at most two keys. Every `rotor plan` is
# checked to change nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/world.sh"
world_start 2026-01-01T00:00:00Z || exit 1
export ROTOR_VALIDATE_TIMEOUT_MS=20000
LOG=$WORLD/rotor-output.log
export AWS_URL INF_URL PROJECT WORLD
# Simulated time needs a rotor built with -DROTOR_TEST_HOOKS=ON: without it
# rotor signs with the real clock, which the doubles (on 2026-01-01) refuse.
write_manifest probe rotor-probe 30d 1h 1d
if "$ROTOR_BIN" plan "$WORLD/manifests/probe.yaml" 2>&1 | grep -q "Signature not yet current\|Signature expired"; then
	echo "skip: $ROTOR_BIN ignores ROTOR_TEST_TIME (build with -DROTOR_TEST_HOOKS=ON)"
	exit 77
fi
rm -f "$WORLD/manifests/probe.yaml"

# ---- helpers (each e2e script carries its own copy) -------------------------
# q.py reads the doubles' control APIs: q keys USER | secret FOLDER NAME |
# versions FOLDER NAME | inv USER FOLDER | snap FILE | seq | writes AWS_SEQ INF_SEQ |
# limit_exceeded | stale USER | secrets | tag USER KEY
cat >"$WORLD/q.py" <<'PY'
import json, os, sys, urllib.request
AWS, INF, PROJECT = os.environ["AWS_URL"], os.environ["INF_URL"], os.environ["PROJECT"]
def get(url):
    with urllib.request.urlopen(url, timeout=20) as r:
        return json.load(r)
def aws():
    return get(AWS + "/_control/state")
def inf():
    return get(INF + "/_control/state")
def user(name, st=None):
    for u in (st or aws())["users"]:
        if u["name"] == name:
            return u
    return None
def secrets_in(folder, st=None):
    for p in (st or inf())["projects"]:
        if p["id"] == PROJECT:
            return p["environments"]["prod"]["folders"].get(folder, {"secrets": []})["secrets"]
    return []
def value(folder, name, st=None):
    for s in secrets_in(folder, st):
        if s["secretKey"] == name:
            vs = s.get("versions") or []
            return vs[-1].get("secretValue") if vs else None
    return None
READS_AWS = {"GetUser", "ListAccessKeys", "GetAccessKeyLastUsed", "ListUserTags",
             "GetCallerIdentity"}
READS_INF = {"login", "renew", "list", "get"}
cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "keys":
    u = user(args[0])
    for k in (u["keys"] if u else []):
        print(k["access_key_id"], k["status"])
elif cmd == "secret":
    print(value(args[0], args[1]) or "")
elif cmd == "versions":
    for s in secrets_in(args[0]):
        if s["secretKey"] == args[1]:
            print(len(s.get("versions") or []))
            break
    else:
        print(0)
elif cmd == "inv":
    # Invariants 1, 2, 4: the stored pair is one of the user's keys, Active,
    # with that very secret (so it authenticates); the user has at most 2 keys.
    u, st = user(args[0]), inf()
    akid = value(args[1], "AWS_ACCESS_KEY_ID", st)
    secret = value(args[1], "AWS_SECRET_ACCESS_KEY", st)
    keys = {k["access_key_id"]: k for k in (u["keys"] if u else [])}
    if len(keys) > 2:
        print("the user has %d keys" % len(keys))
    if akid:
        k = keys.get(akid)
        if k is None:
            print("the stored key %s is not in IAM" % akid)
        elif k["status"] != "Active":
            print("the stored key %s is %s" % (akid, k["status"]))
        elif k["secret_access_key"] != secret:
            print("the stored secret is not %s's" % akid)
elif cmd == "snap":
    # Writes to FILE everything rotor could change, minus what reading changes
    # by itself: the clocks, last-use data (every signed call records one) and
    # Infisical sessions; notes every secret IAM holds; prints the calls' seqs.
    a, i = aws(), inf()
    with open(os.environ["WORLD"] + "/secrets.seen", "a") as f:
        for u in a["users"]:
            for k in u["keys"]:
                f.write(k["secret_access_key"] + "\n")
    a.pop("now", None)
    for u in a["users"]:
        for k in u["keys"]:
            k.pop("last_used", None)
    for f in ("now", "sessions", "lockouts"):
        i.pop(f, None)
    with open(args[0], "w") as f:
        f.write(json.dumps([a, i], sort_keys=True, indent=1) + "\n")
    ca, ci = get(AWS + "/_control/calls")["calls"], get(INF + "/_control/calls")["calls"]
    print(ca[-1]["seq"] if ca else 0, ci[-1]["seq"] if ci else 0)
elif cmd == "seq":
    ca, ci = get(AWS + "/_control/calls")["calls"], get(INF + "/_control/calls")["calls"]
    print(ca[-1]["seq"] if ca else 0, ci[-1]["seq"] if ci else 0)
elif cmd == "writes":
    for c in get(AWS + "/_control/calls?since=" + args[0])["calls"]:
        if c["action"] not in READS_AWS:
            print("IAM", c["action"], c["status"])
    for c in get(INF + "/_control/calls?since=" + args[1])["calls"]:
        if c["route"] not in READS_INF:
            print("Infisical", c["method"], c["path"], c["status"])
elif cmd == "limit_exceeded":
    print(sum(1 for c in get(AWS + "/_control/calls")["calls"] if c["error"] == "LimitExceeded"))
elif cmd == "stale":
    u = user(args[0])
    ids = {k["access_key_id"] for k in u["keys"]}
    for t, v in sorted(u["tags"].items()):
        if v.startswith("rotor v1 ") and t not in ids:
            print(t, v)
elif cmd == "secrets":
    for u in aws()["users"]:
        for k in u["keys"]:
            print(k["secret_access_key"])
elif cmd == "tag":
    print((user(args[0]) or {"tags": {}})["tags"].get(args[1], ""))
PY
q() { "$ROTOR_PYTHON" "$WORLD/q.py" "$@"; }

# check NAME EXPR: ok when EXPR (eval'd) holds; else not ok, with rotor's last output.
check() {
	if eval "$2"; then ok "$1"; else
		not_ok "$1"
		printf '%s\n' "${out:-}" | head -n 12 | sed 's/^/#   /'
	fi
}
# run ARGS...: rotor ARGS; output in $out, status in $rc; all output kept in $LOG
# (scanned for secrets at the end), and after a command that may create keys
# every secret IAM holds is noted down.
run() {
	out=$("$ROTOR_BIN" "$@" 2>&1)
	rc=$?
	printf '+ rotor %s\n%s\n[exit %s]\n' "$*" "$out" "$rc" >>"$LOG"
	case $1 in plan | status) ;; *) q secrets >>"$WORLD/secrets.seen" ;; esac
}
# run_nomut LABEL ARGS...: run, and check that nothing changed in either
# double (state, and the calls they received: reads only), in the env files
# or in the audit log.
files_state() {
	for f in "$WORLD"/etc/*; do [ -f "$f" ] && { echo "== $f"; cat "$f"; }; done
	[ -f "$WORLD/audit.jsonl" ] && cat "$WORLD/audit.jsonl"
	return 0
}
run_nomut() {
	local label=$1 before after seq writes
	shift
	seq=$(q snap "$WORLD/before.json")
	before=$(files_state)
	run "$@"
	q snap "$WORLD/after.json" >/dev/null
	after=$(files_state)
	writes=$(q writes $seq)
	if [ "$before" = "$after" ] && cmp -s "$WORLD/before.json" "$WORLD/after.json" && [ -z "$writes" ]; then
		ok "$label: \`rotor $1\` changed nothing"
	else
		not_ok "$label: \`rotor $1\` changed nothing"
		{ printf '%s\n' "$writes"; diff "$WORLD/before.json" "$WORLD/after.json"; diff <(echo "$before") <(echo "$after"); } | head -n 20 | sed 's/^/#   /'
	fi
}
# plan LABEL ARGS...: `rotor plan ARGS`, checked to change nothing (invariant 7).
plan() { local label=$1; shift; run_nomut "$label" plan "$@"; }

# converged LABEL DIR: `rotor plan --detailed-exitcode` finds nothing to do and nothing wrong.
converged() {
	plan "$1" --detailed-exitcode "$2"
	check "$1: converged (plan exits 0, neither Stalled nor Unknown)" \
		'[ $rc = 0 ] && ! grep -qE "status: (Stalled|Unknown)" <<<"$out"'
}
# new_case NAME USER [KEYS_JSON] [EXTRA_SPEC]: an IAM user, a store folder /NAME
# and a manifest in its own directory $WORLD/m/NAME (rotor is pointed at it alone).
new_case() {
	aws_ctl POST users "{\"name\": \"$2\", \"keys\": ${3:-[]}}" >/dev/null
	inf_ctl POST folders "{\"projectId\": \"$PROJECT\", \"environment\": \"prod\", \"path\": \"/$1\"}" >/dev/null
	write_manifest "$1" "$2" 30d 1h 1d "${4:-}"
	mkdir -p "$WORLD/m/$1"
	sed "s#secretPath: /aws#secretPath: /$1#" "$WORLD/manifests/$1.yaml" >"$WORLD/m/$1/$1.yaml"
	rm "$WORLD/manifests/$1.yaml"
}
akid_of() { q secret "/$1" AWS_ACCESS_KEY_ID; }    # NAME: the key id the case's store holds
env_akid() { sed -n 's/^AWS_ACCESS_KEY_ID=//p' "$WORLD/etc/$1.env" 2>/dev/null; }
key_status() { q keys "$1" | awk -v k="$2" '$1 == k {print $2}'; }   # USER KEY: Active|Inactive|""
nkeys() { q keys "$1" | wc -l; }
new_key() { # USER [JSON_FIELDS]: a key added behind rotor's back; prints its id
	aws_ctl POST keys "{\"user\": \"$1\"${2:+, $2}}" | "$ROTOR_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["access_key_id"])'
}
iam_call() { # ACTION [Name=Value...]: an IAM call signed with the manager key (an operator by hand)
	"$ROTOR_PYTHON" - "$AWS_URL" "$WORLD/clock" "$MANAGER_AKID" "$MANAGER_SECRET" "$@" <<'PY' >/dev/null
import datetime, hashlib, hmac, sys, urllib.error, urllib.parse, urllib.request
url, clock, akid, secret, action = sys.argv[1:6]
params = [("Action", action), ("Version", "2010-05-08")] + [tuple(p.split("=", 1)) for p in sys.argv[6:]]
body = urllib.parse.urlencode(params, quote_via=urllib.parse.quote).encode()
t = datetime.datetime.strptime(open(clock).read().strip(), "%Y-%m-%dT%H:%M:%SZ")
amz, day = t.strftime("%Y%m%dT%H%M%SZ"), t.strftime("%Y%m%d")
host = urllib.parse.urlsplit(url).netloc
scope = day + "/us-east-1/iam/aws4_request"
creq = "\n".join(["POST", "/", "", "host:" + host, "x-amz-date:" + amz, "",
                  "host;x-amz-date", hashlib.sha256(body).hexdigest()])
sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
k = ("AWS4" + secret).encode()
for part in (day, "us-east-1", "iam", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(url + "/", data=body, method="POST", headers={
    "X-Amz-Date": amz, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
    "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=host;x-amz-date, "
                     "Signature=%s" % (akid, scope, sig)})
try:
    urllib.request.urlopen(req, timeout=20).read()
except urllib.error.HTTPError as e:
    sys.exit("iam_call %s: HTTP %d %s" % (action, e.code, e.read().decode()))
PY
}
# Invariant 5, at the end: no secret IAM ever held shows in rotor's output or the audit log.
no_secret_leaked() {
	local leaked=0 s
	for s in $(sort -u "$WORLD/secrets.seen"); do
		grep -qF -- "$s" "$LOG" "$WORLD/audit.jsonl" 2>/dev/null && leaked=1
	done
	check "no secret access key in rotor's output or the audit log" '[ $leaked = 0 ]'
}
# ------------------------------------------------------------------------------
invariants() { # LABEL NAME USER
	local bad
	bad=$(q inv "$3" "/$2")
	check "$1: the stored pair authenticates, at most 2 keys" '[ -z "$bad" ]' || echo "#   $bad"
}
rotation_due() { # NAME USER: a case whose store holds K1 and whose rotation is due
	new_case "$1" "$2"
	run apply "$WORLD/m/$1"
	clock_advance 60
	sed -i "s/^  deleteAfter: 1d$/  deleteAfter: 1d\n  rotateRequestedAt: \"$(clock_now)\"/" "$WORLD/m/$1/$1.yaml"
	clock_advance 60
	K1=$(akid_of "$1")
}

# ---- CreateAccessKey's reply lost ---------------------------------------------
rotation_due lost raxx-lost
aws_ctl POST faults '{"rules": [{"match": "CreateAccessKey", "kind": "drop_after", "count": 1}]}' >/dev/null
run apply "$WORLD/m/lost"
check "lost: the apply fails (exit 1) naming CreateAccessKey" '[ $rc = 1 ] && grep -q "CreateAccessKey" <<<"$out"'
aws_ctl DELETE faults >/dev/null
O=$(q keys raxx-lost | awk -v k="$K1" '$1 != k {print $1}')
check "lost: the orphan key exists, the store still holds the old key" '[ -n "$O" ] && [ "$(akid_of lost)" = "$K1" ]'
check "lost: IAM never answered LimitExceeded (invariant 4)" '[ "$(q limit_exceeded)" = 0 ]'
invariants "lost, after pass 1" lost raxx-lost
check "lost: rotor recorded its intent before creating the key" '[ -n "$(q tag raxx-lost rotor-intent)" ]'
plan lost "$WORLD/m/lost"
check "lost: the plan deletes the orphan as left by an interrupted rotation" \
	'grep -q "delete-stray *$O" <<<"$out" && grep -q "interrupted rotation" <<<"$out"'
run apply "$WORLD/m/lost"
K2=$(akid_of lost)
check "lost: pass 2 succeeds: the orphan is gone, a new key is stored" \
	'[ $rc = 0 ] && [ -z "$(key_status raxx-lost "$O")" ] && [ -n "$K2" ] && [ "$K2" != "$K1" ] && [ "$K2" != "$O" ]'
invariants "lost, after pass 2" lost raxx-lost
check "lost: the env file holds the new key" '[ "$(env_akid lost)" = "$K2" ]'
converged lost "$WORLD/m/lost"
check "lost: the intent record is gone" '[ -z "$(q tag raxx-lost rotor-intent)" ]'

# ---- killed while validating ------------------------------------------------
rotation_due killed raxx-killed
# The new key never authenticates (as while IAM propagates it); the first
# GetCallerIdentity, the check of the stored pair, goes through.
aws_ctl POST faults '{"rules": [{"match": "GetCallerIdentity", "kind": "error", "status": 403, "code": "InvalidClientTokenId", "message": "The security token included in the request is invalid.", "after": 1, "count": -1}]}' >/dev/null
seq0=$(q seq | awk '{print $1}')
"$ROTOR_BIN" apply "$WORLD/m/killed" >"$WORLD/killed.out" 2>&1 &
pid=$!
created=0
for _ in $(seq 1 100); do
	aws_ctl GET "calls?since=$seq0" | grep -q '"CreateAccessKey"' && { created=1; break; }
	sleep 0.1
done
sleep 0.5
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
cat "$WORLD/killed.out" >>"$LOG"
aws_ctl DELETE faults >/dev/null
O=$(q keys raxx-killed | awk -v k="$K1" '$1 != k {print $1}')
check "killed: rotor was killed after CreateAccessKey, leaving an orphan" '[ $created = 1 ] && [ -n "$O" ]'
invariants "killed, after the kill" killed raxx-killed
run apply "$WORLD/m/killed"
K2=$(akid_of killed)
check "killed: the next apply deletes the orphan and rotates" \
	'[ $rc = 0 ] && [ -z "$(key_status raxx-killed "$O")" ] && [ -n "$K2" ] && [ "$K2" != "$K1" ]'
invariants "killed, after pass 2" killed raxx-killed
converged killed "$WORLD/m/killed"

# ---- the store write refused after validation ----------------------------------
rotation_due refused raxx-refused
inf_ctl POST faults '{"rules": [{"match": "batch_update", "kind": "error500", "count": -1}]}' >/dev/null
run apply "$WORLD/m/refused"
check "refused: the apply fails (exit 1) at the store write" '[ $rc = 1 ] && grep -q "update the pair" <<<"$out"'
inf_ctl DELETE faults >/dev/null
O=$(q keys raxx-refused | awk -v k="$K1" '$1 != k {print $1}')
check "refused: the store and the env file still hold the old key" '[ "$(akid_of refused)" = "$K1" ] && [ "$(env_akid refused)" = "$K1" ]'
invariants "refused, after pass 1" refused raxx-refused
plan refused "$WORLD/m/refused"
check "refused: the plan does not stall on the key rotor validated but could not store" '! grep -q "status: Stalled" <<<"$out"'
run apply "$WORLD/m/refused"
K2=$(akid_of refused)
check "refused: the next apply completes a rotation" '[ $rc = 0 ] && [ -n "$K2" ] && [ "$K2" != "$K1" ]'
check "refused: the key rotor could not store is gone" '[ -n "$O" ] && [ -z "$(key_status raxx-refused "$O")" ]'
invariants "refused, after pass 2" refused raxx-refused
converged refused "$WORLD/m/refused"

# ---- the store write lands, its reply is lost ---------------------------------------
rotation_due landed raxx-landed
inf_ctl POST faults '{"rules": [{"match": "batch_update", "kind": "drop_after", "count": -1}]}' >/dev/null
run apply "$WORLD/m/landed"
inf_ctl DELETE faults >/dev/null
K2=$(akid_of landed)
check "landed: the store holds the new key (the write landed)" '[ -n "$K2" ] && [ "$K2" != "$K1" ]'
invariants "landed, after pass 1" landed raxx-landed
check "landed: the old key is still Active" '[ "$(key_status raxx-landed "$K1")" = Active ]'
[ $rc = 0 ] || run apply "$WORLD/m/landed"
check "landed: within two passes the apply succeeds, no further key" \
	'[ $rc = 0 ] && [ "$(akid_of landed)" = "$K2" ] && [ "$(nkeys raxx-landed)" = 2 ]'
check "landed: the env file holds the new key" '[ "$(env_akid landed)" = "$K2" ]'
converged landed "$WORLD/m/landed"
check "IAM never answered LimitExceeded in this run" '[ "$(q limit_exceeded)" = 0 ]'

no_secret_leaked
finish
