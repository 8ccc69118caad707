# scenario.sh: what the scenario scripts (test_heal.sh, test_faults_*.sh,
# ...) share, sourced after lib.sh and world.sh and world_start: a skip
# when rotor cannot follow the simulated clock, q.py (reads the doubles'
# control APIs), the run/plan wrappers that prove `rotor plan` changes
# nothing, case set-up, invariant checks and the secret-leak check.
# Simulated time needs a rotor built with -DROTOR_TEST_HOOKS=ON: without it
# rotor signs with the real clock, which the doubles (on 2026-01-01) refuse.
write_manifest probe rotor-probe 30d 1h 1d
if "$ROTOR_BIN" plan "$WORLD/manifests/probe.yaml" 2>&1 | grep -q "Signature not yet current\|Signature expired"; then
	echo "skip: $ROTOR_BIN ignores ROTOR_TEST_TIME (build with -DROTOR_TEST_HOOKS=ON)"
	exit 77
fi
rm -f "$WORLD/manifests/probe.yaml"

# ---- helpers ------------------------------------------------------------------
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
READS_AWS = {"GetUser", "ListAccessKeys", "GetAccessKeyLastUsed", "ListUserTags", "ListUsers",
             "GetCallerIdentity"}
READS_INF = {"login", "renew", "list", "get", "folders"}
def main(cmd, args):
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
    elif cmd == "calls":
        # calls AWS_SEQ INF_SEQ: "IAM ACTION" and "Infisical ROUTE" per call since
        for c in get(AWS + "/_control/calls?since=" + args[0])["calls"]:
            print("IAM", c["action"])
        for c in get(INF + "/_control/calls?since=" + args[1])["calls"]:
            print("Infisical", c["route"])
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


if __name__ == "__main__":  # else tests/e2e/pyserve.py runs main() per command
    sys.exit(main(sys.argv[1], sys.argv[2:]))
PY
world_py_start Q "$WORLD/q.py" || exit 1 # one Python for every q
q() { world_py Q "$@"; }

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
