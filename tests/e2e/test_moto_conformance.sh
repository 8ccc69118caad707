#!/usr/bin/env bash
# The moto conformance tier (issue 12): the real rotor binary against moto,
# an AWS emulator nobody here wrote, as a second and independent judge of
# rotor's IAM/STS behaviour; our Infisical double is the store.
#
# moto runs on a free loopback port with policy enforcement on after the
# first 3 calls (INITIAL_NO_AUTH_ACTION_COUNT=3: moto serves that many
# requests unchecked, then verifies every SigV4 signature and evaluates IAM
# policies). Those 3 calls create an administrator; everything after is
# signed. rotor runs as a manager user whose only permissions are
# docs/aws-policy.json, loaded verbatim, and managed users live under
# /rotor-managed/. Every check reads IAM through boto3 as the
# administrator, never through `rotor status`. Real time, second-sized
# durations: no clock file, no ROTOR_TEST_TIME.
#
# One adjustment to moto, made in the launcher below and nowhere else,
# because one check truly needs it (docs/aws.md, "moto and our double:
# differences"): moto authorizes IAM user actions against the resource "*",
# so a statement whose Resource names users, like docs/aws-policy.json's,
# never matches and the documented least-privilege policy could not be
# checked at all; the launcher passes the target user's ARN (with its path),
# the ARN AWS evaluates, and moto's own policy evaluation does the rest.
# Everything else is moto as it ships: rotor encodes a space in form bodies
# as '+' (moto re-encodes the parsed form so before checking SigV4) and reads
# moto's own error documents (<ErrorResponse><Errors><Error>, no namespace).
# The last section runs `python3 -m moto.server` itself, unmodified, with an
# administrator's credentials (a Resource "*" policy, which stock moto does
# evaluate): adoption, whose record tags carry spaces, and a wrong secret
# read back as SignatureDoesNotMatch with its request id.
# It also logs every AccessDenied moto returns, so a denial rotor swallowed
# still fails the test.
#
# moto's known gaps, and the cases that therefore stay on our own double
# (tests/e2e/test_lifecycle.sh, tests/doubles/test_aws_double.py and the
# unit tests), not here:
#   - a new key authenticates at once in moto: validation through IAM's
#     propagation delay (InvalidClientTokenId retries) stays on the double;
#   - moto accepts an Inactive key's signature: "the stored pair does not
#     authenticate" heals and InvalidClientTokenId for Inactive keys stay
#     on the double;
#   - moto records "last used" at once and even for failed or unsigned
#     calls with a key id: last-use gating is checked here only with uses
#     that succeed (as on AWS), everything finer stays on the double;
#   - moto never rejects a stale x-amz-date: clock skew stays on the double;
#   - moto does not page ListAccessKeys/ListUserTags (and its ListUserTags
#     always says IsTruncated false): Marker/MaxItems paging stays on the
#     double;
#   - faults (throttling, 5xx, dropped connections) and crash recovery need
#     injection and a settable clock: they stay on the double;
#   - moto emits microsecond dates: rotor must (and here does) read them.
source "$(dirname "$0")/lib.sh"

# --- an interpreter that has moto, or a one-line skip -------------------
MOTO_PY=
for cand in python3 "$ROTOR_PYTHON"; do
	if command -v "$cand" >/dev/null 2>&1 &&
		"$cand" -c 'import moto.server, boto3' >/dev/null 2>&1; then
		# the interpreter itself, not a launcher (a pyenv shim costs 0.15 s a start)
		MOTO_PY=$("$cand" -c 'import sys; print(sys.executable)')
		break
	fi
done
if [ -z "$MOTO_PY" ]; then
	echo "skipped: moto conformance tier: no interpreter among python3 on PATH and ROTOR_PYTHON ($ROTOR_PYTHON) can import moto.server and boto3; enable it with: pip install 'moto[server]'"
	exit 77
fi

WORLD=$(mktemp -d /tmp/rotor-moto.XXXXXX)
source "$(dirname "$0")/world.sh" # _start_double, inf_ctl, world_stop, constants
trap world_exit EXIT
unset ROTOR_TEST_TIME ROTOR_TEST_SLEEP_SCALE # rotor's clock and sleeps are real: moto's are
mkdir -p "$WORLD/etc" "$WORLD/manifests"
M=$WORLD/manifests

# --- moto, with one adjustment and a denial log ----------------------------
cat >"$WORLD/moto_launch.py" <<'PY'
"""moto's server, with the one adjustment the policy checks need (moto
5.2.1 authorizes IAM user actions against "*"; see docs/aws.md), and a log
of every AccessDenied it returns."""
import signal, sys

try:  # written against moto 5.2.1: say so if its internals moved
    import moto
    from werkzeug.exceptions import HTTPException
    from werkzeug.serving import make_server
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.iam import access_control
    from moto.iam.models import iam_backends
    from moto.iam.responses import IamResponse
    for obj, attr in ((IamResponse, "_determine_resource"),
                      (access_control.IAMRequestBase, "check_action_permitted")):
        getattr(obj, attr)
except (ImportError, AttributeError) as e:
    sys.exit("moto_launch.py: this moto (%s) differs from 5.2.1, which the launcher "
             "adjusts: %s" % (getattr(sys.modules.get("moto"), "__version__", "?"), e))

DENIALS = sys.argv[1]
USER_ACTIONS = {"ListAccessKeys", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey",
                "GetAccessKeyLastUsed", "GetUser", "ListUserTags", "TagUser", "UntagUser"}


# 1. The resource. moto authorizes IAM user actions against "*", so a
# statement whose Resource names users never matches. AWS evaluates the
# target user's ARN, path included (the caller's when UserName is absent,
# the key owner's for GetAccessKeyLastUsed); a user that does not exist has
# no path.
def param(self, name):
    v = self.data.get(name)
    return (v[0] if v else None) if isinstance(v, list) else v


moto_resource = IamResponse._determine_resource


def user_resource(self):
    res = moto_resource(self)
    action = self._get_action()
    if res != "*" or action not in USER_ACTIONS:
        return res
    backend = iam_backends[self.current_account][self.partition]
    name = param(self, "UserName")
    if action == "GetAccessKeyLastUsed" or not name:
        akid = param(self, "AccessKeyId") if action == "GetAccessKeyLastUsed" \
            else self.get_access_key()
        try:
            name = backend.get_access_key_last_used(akid)["user_name"]
        except Exception:
            return res
    try:
        return backend.get_user(name).arn
    except Exception:
        return "arn:%s:iam::%s:user/%s" % (self.partition, self.current_account, name)


IamResponse._determine_resource = user_resource


# The denial log: every AccessDenied, whoever asked.
moto_check = access_control.IAMRequestBase.check_action_permitted


def logged_check(self, resource):
    try:
        return moto_check(self, resource)
    except HTTPException as e:
        if getattr(e, "error_type", None) == "AccessDenied":
            with open(DENIALS, "a") as f:
                f.write("%s %s %s\n" % (self._access_key.arn, self._action, resource))
        raise


access_control.IAMRequestBase.check_action_permitted = logged_check
srv = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app),
                  threaded=True)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print("PORT %d" % srv.server_port, flush=True)
srv.serve_forever()
PY
touch "$WORLD/denials"
INITIAL_NO_AUTH_ACTION_COUNT=3 "$MOTO_PY" "$WORLD/moto_launch.py" "$WORLD/denials" \
	>"$WORLD/moto.out" 2>"$WORLD/moto.err" &
echo $! >>"$WORLD/pids"
MOTO_URL=
for _ in $(seq 1 150); do
	port=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$WORLD/moto.out")
	[ -n "$port" ] && { MOTO_URL=http://127.0.0.1:$port; break; }
	sleep 0.1
done
[ -n "$MOTO_URL" ] || { echo "moto did not start: $(tail -5 "$WORLD/moto.err")"; exit 1; }
_start_double INF infisical_double.py || exit 1 # no clock file: real time

# --- the administrator's view of IAM (boto3) ------------------------------
cat >"$WORLD/admin.py" <<'PY'
"""admin.py COMMAND ARGS...: boto3 as moto's administrator (MOTO_URL and
WORLD from the environment). Runs under world_py: boto3 takes 0.5 s to
import, 45 times over otherwise."""
import datetime, json, os, sys, time, urllib.request
import boto3, botocore.config, botocore.exceptions

url = os.environ["MOTO_URL"]
world = os.environ.get("ADMIN_WORLD") or os.environ["WORLD"]  # where admin.json lives
CFG = botocore.config.Config(retries={"max_attempts": 1})
ACCOUNT = "123456789012"


def client(svc, akid="AKIAUNSIGNEDSETUP000", secret="x"):
    return boto3.client(svc, endpoint_url=url, region_name="us-east-1", config=CFG,
                        aws_access_key_id=akid, aws_secret_access_key=secret)


def creds():
    with open(os.path.join(world, "admin.json")) as f:
        return json.load(f)


def iam():
    c = creds()
    return client("iam", c["AccessKeyId"], c["SecretAccessKey"])


def code(fn):
    try:
        fn()
        return "ok"
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]


def policy_without(doc, action):
    doc = json.loads(doc)
    for st in doc["Statement"]:
        st["Action"] = [a for a in st["Action"] if a != action]
    return json.dumps(doc)


def policy_resource(doc, resource):
    doc = json.loads(doc)
    for st in doc["Statement"]:
        st["Resource"] = resource
    return json.dumps(doc)


def make_manager(a, name, doc):
    a.create_user(UserName=name)
    a.put_user_policy(UserName=name, PolicyName="rotor", PolicyDocument=doc)
    k = a.create_access_key(UserName=name)["AccessKey"]
    return {"AccessKeyId": k["AccessKeyId"], "SecretAccessKey": k["SecretAccessKey"]}


def main(cmd, args):
    if cmd == "setup":  # POLICY_FILE -> managers as shell assignments
        boot = client("iam")
        # The only unchecked calls (INITIAL_NO_AUTH_ACTION_COUNT=3).
        boot.create_user(UserName="rotor-admin")
        boot.put_user_policy(UserName="rotor-admin", PolicyName="admin", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        k = boot.create_access_key(UserName="rotor-admin")["AccessKey"]
        with open(os.path.join(world, "admin.json"), "w") as f:
            json.dump({"AccessKeyId": k["AccessKeyId"], "SecretAccessKey": k["SecretAccessKey"]}, f)
        # From here on moto checks: an unknown key and a wrong secret fail.
        unknown = code(lambda: client("iam").list_users())
        wrong = code(lambda: client("iam", k["AccessKeyId"], "wrong-secret").list_users())
        print("ENFORCED=%s" % ("yes" if (unknown, wrong) == ("InvalidClientTokenId",
                                                              "SignatureDoesNotMatch")
                               else "no:%s,%s" % (unknown, wrong)))
        doc = open(args[0]).read()
        if ACCOUNT not in doc:
            sys.exit("admin.py: %s does not name account %s" % (args[0], ACCOUNT))
        a = iam()
        for var, name, d in (
                ("MANAGER", "rotor-manager", doc),
                ("NODELETE", "rotor-manager-nodelete", policy_without(doc, "iam:DeleteAccessKey")),
                ("WIDE", "rotor-manager-wide",
                 policy_resource(doc, "arn:aws:iam::%s:user/*" % ACCOUNT)),
                ("DISCOVER", "rotor-discover",
                 open(os.path.join(os.path.dirname(args[0]), "aws-policy-discover.json")).read())):
            m = make_manager(a, name, d)
            print("%s_AKID=%s %s_SECRET=%s" % (var, m["AccessKeyId"], var, m["SecretAccessKey"]))
    elif cmd == "user":  # NAME PATH NKEYS [use] -> the key ids
        a = iam()
        a.create_user(UserName=args[0], Path=args[1])
        for _ in range(int(args[2])):
            k = a.create_access_key(UserName=args[0])["AccessKey"]
            if len(args) > 3 and args[3] == "use":
                client("sts", k["AccessKeyId"], k["SecretAccessKey"]).get_caller_identity()
            print(k["AccessKeyId"])
    elif cmd == "newkey":  # USER [use] -> the key id
        k = iam().create_access_key(UserName=args[0])["AccessKey"]
        if len(args) > 1 and args[1] == "use":
            client("sts", k["AccessKeyId"], k["SecretAccessKey"]).get_caller_identity()
        print(k["AccessKeyId"])
    elif cmd == "keys":  # USER -> "AKID Status" lines, oldest first
        ks = iam().list_access_keys(UserName=args[0])["AccessKeyMetadata"]
        for k in sorted(ks, key=lambda k: k["CreateDate"]):
            print(k["AccessKeyId"], k["Status"])
    elif cmd == "tags":  # USER -> "Key=Value" lines
        for t in iam().list_user_tags(UserName=args[0])["Tags"]:
            print("%s=%s" % (t["Key"], t["Value"]))
    elif cmd == "snapshot":  # USER -> IAM's view of the user, exactly as returned
        a = iam()
        out = {}
        for name, fn in (("ListAccessKeys", a.list_access_keys), ("ListUserTags", a.list_user_tags)):
            r = fn(UserName=args[0])
            r.pop("ResponseMetadata")
            out[name] = r
        print(json.dumps(out, sort_keys=True, default=str))
    elif cmd == "lastused":  # AKID -> date (or None)
        r = iam().get_access_key_last_used(AccessKeyId=args[0])["AccessKeyLastUsed"]
        print(r.get("LastUsedDate"))
    elif cmd == "whoami":  # AKID SECRET -> the ARN the pair authenticates as
        print(client("sts", args[0], args[1]).get_caller_identity()["Arn"])
    elif cmd == "store":  # INF_URL FOLDER -> "AKID SECRET" held by the store
        with urllib.request.urlopen(args[0] + "/_control/state") as r:
            state = json.load(r)
        vals = {}
        for p in state["projects"]:
            for env in p["environments"].values():
                for s in env["folders"].get(args[1], {}).get("secrets", []):
                    vals[s["secretKey"]] = s["versions"][-1]["secretValue"] if s["versions"] else ""
        print(vals.get("AWS_ACCESS_KEY_ID", ""), vals.get("AWS_SECRET_ACCESS_KEY", ""))
    elif cmd == "key_age_at_least":  # AKID SECONDS: waits until its CreateDate is that old
        a, secs = iam(), float(args[1])
        for u in a.list_users()["Users"]:
            for k in a.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]:
                if k["AccessKeyId"] == args[0]:
                    left = secs - (datetime.datetime.now(datetime.timezone.utc)
                                   - k["CreateDate"]).total_seconds()
                    time.sleep(max(0.0, left) + 1.2)  # + rotor's whole-second clock
                    return 0
        sys.exit("no key " + args[0])
    else:
        sys.exit("admin.py: unknown command " + cmd)


if __name__ == "__main__":  # else tests/e2e/pyserve.py runs main() per command
    sys.exit(main(sys.argv[1], sys.argv[2:]))
PY
MOTO_URL=$MOTO_URL WORLD=$WORLD world_py_start ADMIN "$WORLD/admin.py" "$MOTO_PY" || exit 1
admin() { world_py ADMIN "$@"; }
keys() { admin keys "$1"; }
store_pair() { admin store "$INF_URL" "/aws/$1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; return 1; fi; }

setup=$(admin setup "$ROTOR_SOURCE_DIR/docs/aws-policy.json") || { echo "$setup"; exit 1; }
check "moto enforces signatures after the 3 setup calls" 'grep -q "^ENFORCED=yes$" <<<"$setup"' ||
	echo "$setup" | head -1
eval "$(grep '_AKID=' <<<"$setup")"

# --- the store and rotor's config ------------------------------------------
inf_ctl POST projects "{\"id\": \"$PROJECT\", \"environments\": [\"prod\"], \"folders\": {\"prod\": [\"/aws/adopt\", \"/aws/wait\", \"/aws/stray\", \"/aws/ghost\", \"/aws/outside\"]}}" >/dev/null
inf_ctl POST identities "{\"clientId\": \"$INF_CLIENT_ID\", \"clientSecret\": \"$INF_CLIENT_SECRET\", \"projects\": [{\"projectId\": \"$PROJECT\"}]}" >/dev/null
cat >"$WORLD/rotor.yaml" <<YAML
apiVersion: rotor/v1
kind: Config
connections:
  aws:
    moto:
      region: us-east-1
      endpoints: {iam: "$MOTO_URL", sts: "$MOTO_URL"}
  infisical:
    infisical-test:
      siteUrl: "$INF_URL"
      clientId: {env: INFISICAL_CLIENT_ID}
      clientSecret: {env: INFISICAL_CLIENT_SECRET}
      requestsPerMinute: 6000
envFiles:
  allowedDirs: [$WORLD/etc]
audit:
  path: $WORLD/audit.jsonl
YAML
export ROTOR_CONFIG=$WORLD/rotor.yaml HOME=$WORLD ROTOR_STATE_DIR=$WORLD/state AWS_EC2_METADATA_DISABLED=true
export INFISICAL_CLIENT_ID=$INF_CLIENT_ID INFISICAL_CLIENT_SECRET=$INF_CLIENT_SECRET
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_IAM AWS_ENDPOINT_URL_STS
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

manifest() { # NAME USER CADENCE DEACTIVATE DELETE [envfile]
	cat >"$M/$1.yaml" <<YAML
apiVersion: rotor/v1
kind: AccessKeyRotation
metadata:
  name: $1
spec:
  user: $2
  aws: moto
  cadence: $3
  deactivateAfter: $4
  deleteAfter: $5
  store:
    infisical:
      connection: infisical-test
      projectId: $PROJECT
      environment: prod
      secretPath: /aws/$1
YAML
	if [ "${6:-}" = envfile ]; then
		printf '  consumers:\n    - name: app\n      envFile: {path: %s}\n' "$WORLD/etc/$1.env" \
			>>"$M/$1.yaml"
	fi
}

# rotor AS COMMAND ARGS...: runs rotor as a manager (manager, nodelete,
# wide); sets $out and $rc. Under the documented policy an AccessDenied in
# rotor's output fails the test unless the caller expects one (DENY_OK=1).
rotor() {
	local as=$1 akid secret
	shift
	case $as in
	manager) akid=$MANAGER_AKID secret=$MANAGER_SECRET ;;
	nodelete) akid=$NODELETE_AKID secret=$NODELETE_SECRET ;;
	wide) akid=$WIDE_AKID secret=$WIDE_SECRET ;;
	discover) akid=$DISCOVER_AKID secret=$DISCOVER_SECRET ;;
	esac
	out=$(AWS_ACCESS_KEY_ID=$akid AWS_SECRET_ACCESS_KEY=$secret ROTOR_LOG_LEVEL=info \
		NO_COLOR=1 "$ROTOR_BIN" "$@" 2>&1)
	rc=$?
	echo "--- rotor $* (as $as, exit $rc)" >>"$WORLD/rotor.log"
	echo "$out" >>"$WORLD/rotor.log"
	if [ "$as" = manager ] && [ "${DENY_OK:-0}" != 1 ] && grep -q AccessDenied <<<"$out"; then
		not_ok "AccessDenied under the documented policy (rotor $*): $(grep -m1 AccessDenied <<<"$out")"
	fi
}
# A plan must leave IAM exactly as it was (keys and tags as IAM returns them).
plan_unchanged() { # NAME USER -> sets $out, $rc; checks the snapshot
	local before after
	before=$(admin snapshot "$2")
	rotor manager plan --detailed-exitcode "$M/$1.yaml"
	after=$(admin snapshot "$2")
	check "$1: plan leaves IAM byte-for-byte unchanged" '[ "$before" = "$after" ]' ||
		diff <(echo "$before") <(echo "$after")
}
key_age_at_least() { admin key_age_at_least "$@" >/dev/null; } # AKID SECONDS

# Sleeps until SECONDS after the moment EPOCH (date +%s), plus a second for
# rotor's whole-second clock.
sleep_until() { # EPOCH SECONDS
	local left=$(($1 + $2 + 1 - $(date +%s)))
	[ "$left" -gt 0 ] && sleep "$left"
	return 0
}

# ==== users ==================================================================
# adopt: one old key in use by an application, an empty store.
OLD=$(admin user raxx-backup /rotor-managed/ 1 use)
# wait: adopted, then its old key deactivated; at cadence the rotation then
# waits for the Inactive key's deleteAfter window (1h).
WOLD=$(admin user raxx-wait /rotor-managed/ 1 use)
# stray: no key at all; strays are added later.
admin user raxx-stray /rotor-managed/ 0 >/dev/null
# outside: a user outside /rotor-managed/, out of the manager's reach.
admin user raxx-outside / 1 >/dev/null
# rotor discover under docs/aws-policy-discover.json, one user per page:
# every user, the used key's last use, the one outside the managed path too.
rotor discover discover --aws moto --page-size 1 --format json
check "discover (moto, read-only policy): every user, paged one at a time, exit 0" \
	'[ $rc = 0 ] && "$ROTOR_PYTHON" -c "import json,sys; d=json.load(sys.stdin); u={x[\"user\"]: x for x in d[\"users\"]}; assert {\"raxx-backup\", \"raxx-wait\", \"raxx-stray\", \"raxx-outside\", \"rotor-manager\"} <= set(u), u.keys(); assert u[\"raxx-backup\"][\"keys\"][0][\"lastUsed\"], u[\"raxx-backup\"]; assert u[\"raxx-stray\"][\"keys\"] == []" <<<"$out"' ||
	echo "$out" | head -20
manifest adopt raxx-backup 25s 5s 5s envfile
manifest wait raxx-wait 15s 1s 1h
manifest stray raxx-stray 1h 1h 1h
manifest ghost rotor-no-such-user 1h 1h 1h
manifest outside raxx-outside 1h 1h 1h
sleep 1 # the old keys' last use lies before anything rotor records

# ==== adoption ================================================================
plan_unchanged adopt raxx-backup
check "adopt: plan exits 2 while the adoption is due" '[ $rc = 2 ]' || echo "$out"
check "adopt: plan says it adopts raxx-backup" 'grep -q "adopting raxx-backup" <<<"$out"'

rotor manager apply "$M/adopt.yaml" "$M/wait.yaml" "$M/stray.yaml"
synced=$(date +%s)
check "adopt: apply succeeds (adopt, wait, stray)" '[ $rc = 0 ]' || echo "$out"
plan_unchanged adopt raxx-backup
check "adopt: inside deactivateAfter, nothing to do (exit 0)" '[ $rc = 0 ]' || echo "$out"
read -r NEW NEW_SECRET <<<"$(store_pair adopt)"
check "adopt: the store holds a new key" '[ -n "$NEW" ] && [ "$NEW" != "$OLD" ]'
check "adopt: IAM has the old and the new key, both Active" \
	'[ "$(keys raxx-backup)" = "$(printf "%s Active\n%s Active" "$OLD" "$NEW")" ]' || keys raxx-backup
check "adopt: the stored pair authenticates as the user (STS, boto3)" \
	'[ "$(admin whoami "$NEW" "$NEW_SECRET")" = "arn:aws:iam::123456789012:user/rotor-managed/raxx-backup" ]'
check "adopt: the env file holds the new key" 'grep -q "^AWS_ACCESS_KEY_ID=$NEW$" "$WORLD/etc/adopt.env"'
check "adopt: rotor's record is a tag named after the new key" \
	'admin tags raxx-backup | grep -q "^$NEW=rotor v1 m=adopt"' || admin tags raxx-backup
read -r W1 _ <<<"$(store_pair wait)"
read -r S1 _ <<<"$(store_pair stray)"
check "wait, stray: adopted too" '[ -n "$W1" ] && [ -n "$S1" ] && [ "$(keys raxx-stray)" = "$S1 Active" ]'

sleep_until "$synced" 5
rotor manager apply "$M/adopt.yaml" "$M/wait.yaml"
inactive=$(date +%s)
check "adopt: after deactivateAfter, apply succeeds" '[ $rc = 0 ]' || echo "$out"
plan_unchanged adopt raxx-backup
check "adopt: inside deleteAfter, nothing to do (exit 0)" '[ $rc = 0 ]' || echo "$out"
check "adopt: the old key is Inactive, the new one Active" \
	'[ "$(keys raxx-backup)" = "$(printf "%s Inactive\n%s Active" "$OLD" "$NEW")" ]' || keys raxx-backup
check "wait: the old key is Inactive" \
	'[ "$(keys raxx-wait)" = "$(printf "%s Inactive\n%s Active" "$WOLD" "$W1")" ]' || keys raxx-wait

sleep_until "$inactive" 5
plan_unchanged adopt raxx-backup
check "adopt: after deleteAfter, plan exits 2 (the deletion is due)" '[ $rc = 2 ]' || echo "$out"
rotor manager apply "$M/adopt.yaml"
check "adopt: apply deletes the old key" '[ $rc = 0 ] && [ "$(keys raxx-backup)" = "$NEW Active" ]' ||
	{ echo "$out"; keys raxx-backup; }
check "adopt: the old key's tag is gone" '! admin tags raxx-backup | grep -q "^$OLD="'
plan_unchanged adopt raxx-backup
check "adopt: converged: plan exits 0 and reports Ready" '[ $rc = 0 ] && grep -q "Ready" <<<"$out"' ||
	echo "$out"

# ==== a rotation waiting for an Inactive key's window ==========================
key_age_at_least "$W1" 15
before=$(admin snapshot raxx-wait)
rotor manager plan --detailed-exitcode "$M/wait.yaml"
check "wait: at cadence with 2 keys, plan reports Waiting on the Inactive key" \
	'[ $rc = 0 ] && grep -q "Waiting" <<<"$out" && grep -q "$WOLD is inside its deleteAfter window" <<<"$out"' ||
	echo "$out"
rotor manager apply "$M/wait.yaml"
check "wait: apply succeeds and mutates nothing" \
	'[ $rc = 0 ] && [ "$before" = "$(admin snapshot raxx-wait)" ]' || echo "$out"

# ==== strays; a manager lacking one permission ==================================
S2=$(admin newkey raxx-stray)
rotor nodelete apply "$M/stray.yaml"
check "stray: without iam:DeleteAccessKey, apply fails naming the action" \
	'[ $rc = 1 ] && grep -q "DeleteAccessKey(raxx-stray, $S2): AccessDenied (request [^)]*)" <<<"$out" && grep -q "iam:DeleteAccessKey" <<<"$out"' ||
	echo "$out"
check "stray: ... and the stray is still there" \
	'[ "$(keys raxx-stray)" = "$(printf "%s Active\n%s Active" "$S1" "$S2")" ]'
plan_unchanged stray raxx-stray
check "stray: plan exits 2 and names the never-used stray" '[ $rc = 2 ] && grep -q "stray key $S2" <<<"$out"' ||
	echo "$out"
rotor manager apply "$M/stray.yaml"
check "stray: apply deletes the never-used stray" '[ $rc = 0 ] && [ "$(keys raxx-stray)" = "$S1 Active" ]' ||
	{ echo "$out"; keys raxx-stray; }
S3=$(admin newkey raxx-stray use)
before=$(admin snapshot raxx-stray)
rotor manager apply "$M/stray.yaml"
check "stray: a used stray stalls the manifest and nothing is mutated" \
	'grep -q "Stalled" <<<"$out" && grep -q "stray key $S3" <<<"$out" && [ "$before" = "$(admin snapshot raxx-stray)" ]' ||
	echo "$out"

# ==== errors ====================================================================
# An unknown user has no /rotor-managed/ path, so under the documented policy
# the launcher's resource (user/NAME) is denied (what AWS answers there is
# not documented; see "outside" for a user outside the path). NoSuchEntity
# is what a manager allowed on every user sees: "wide" has the documented
# actions on user/*.
# docs/cli.md: exit 1 on an error; under --detailed-exitcode 0 means
# "nothing to do", which an unreadable user is not. (rotor as of this
# writing exits 0 here: cmd/session.c does not count an observation that
# could not read IAM or the store as an error, and cmd/cmd_apply.c reads
# s.observe_errors after session_close() has zeroed s.)
rotor wide plan --detailed-exitcode "$M/ghost.yaml"
check "ghost: an unknown user is an error naming it, NoSuchEntity and the request id" \
	'grep -Eq "\(rotor-no-such-user\): NoSuchEntity \(request [A-Za-z0-9-]{16,}\)" <<<"$out"' || echo "$out"
check "ghost: plan --detailed-exitcode exits 1 (error), not 0 (nothing to do)" '[ $rc = 1 ]' ||
	echo "exit $rc"
rotor wide apply "$M/ghost.yaml"
check "ghost: apply exits 1 (error)" '[ $rc = 1 ]' || echo "exit $rc"
DENY_OK=1 rotor manager plan --detailed-exitcode "$M/outside.yaml"
check "outside: a user outside /rotor-managed/ is AccessDenied naming the action" \
	'grep -Eq "\(raxx-outside\): AccessDenied \(request [A-Za-z0-9-]{16,}\).*grant the manager identity iam:[A-Za-z]+" <<<"$out"' ||
	echo "$out"
check "outside: plan --detailed-exitcode exits 1 (error)" '[ $rc = 1 ]' || echo "exit $rc"

# ==== a second full rotation at cadence =========================================
key_age_at_least "$NEW" 25
plan_unchanged adopt raxx-backup
check "adopt: at cadence, plan exits 2 and says why" '[ $rc = 2 ] && grep -q "cadence 25s" <<<"$out"' ||
	echo "$out"
rotor manager apply "$M/adopt.yaml"
synced=$(date +%s)
read -r NEW2 NEW2_SECRET <<<"$(store_pair adopt)"
check "second rotation: a third key is in the store, both keys Active" \
	'[ $rc = 0 ] && [ -n "$NEW2" ] && [ "$NEW2" != "$NEW" ] && [ "$(keys raxx-backup)" = "$(printf "%s Active\n%s Active" "$NEW" "$NEW2")" ]' ||
	{ echo "$out"; keys raxx-backup; }
check "second rotation: the new pair authenticates as the user" \
	'[ "$(admin whoami "$NEW2" "$NEW2_SECRET")" = "arn:aws:iam::123456789012:user/rotor-managed/raxx-backup" ]'
check "second rotation: the env file follows" 'grep -q "^AWS_ACCESS_KEY_ID=$NEW2$" "$WORLD/etc/adopt.env"'
sleep_until "$synced" 5
rotor manager apply "$M/adopt.yaml"
inactive=$(date +%s)
check "second rotation: the predecessor is deactivated" \
	'[ "$(keys raxx-backup)" = "$(printf "%s Inactive\n%s Active" "$NEW" "$NEW2")" ]' || { echo "$out"; keys raxx-backup; }
sleep_until "$inactive" 5
rotor manager apply "$M/adopt.yaml"
check "second rotation: ... and deleted" '[ "$(keys raxx-backup)" = "$NEW2 Active" ]' || { echo "$out"; keys raxx-backup; }
plan_unchanged adopt raxx-backup
check "second rotation: converged (plan exits 0)" '[ $rc = 0 ]' || echo "$out"

# ==== stock moto, unmodified ======================================================
# `python3 -m moto.server` as it ships. rotor signs as the administrator:
# stock moto evaluates IAM user actions against "*", which only a Resource
# "*" policy matches (the documented policy is checked above).
STOCK_PORT=$("$MOTO_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORLD/stock"
INITIAL_NO_AUTH_ACTION_COUNT=3 "$MOTO_PY" -m moto.server -H 127.0.0.1 -p "$STOCK_PORT" \
	>"$WORLD/stock/moto.out" 2>&1 &
echo $! >>"$WORLD/pids"
STOCK_URL=http://127.0.0.1:$STOCK_PORT
for _ in $(seq 1 150); do
	curl -s -o /dev/null "$STOCK_URL/moto-api/" && break
	sleep 0.1
done
MOTO_URL=$STOCK_URL ADMIN_WORLD=$WORLD/stock world_py_start STOCK "$WORLD/admin.py" "$MOTO_PY" || exit 1
stock_setup=$(world_py STOCK setup "$ROTOR_SOURCE_DIR/docs/aws-policy.json")
check "stock moto: enforces signatures after the 3 setup calls" 'grep -q "^ENFORCED=yes$" <<<"$stock_setup"' ||
	echo "$stock_setup" | head -3
STOCK_AKID=$("$MOTO_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["AccessKeyId"])' "$WORLD/stock/admin.json")
STOCK_SECRET=$("$MOTO_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["SecretAccessKey"])' "$WORLD/stock/admin.json")
world_py STOCK user raxx-stock /rotor-managed/ 1 use >/dev/null
inf_ctl POST folders "{\"projectId\": \"$PROJECT\", \"environment\": \"prod\", \"path\": \"/aws/stock\"}" >/dev/null
sed "s#endpoints: {iam: \"$MOTO_URL\", sts: \"$MOTO_URL\"}#endpoints: {iam: \"$STOCK_URL\", sts: \"$STOCK_URL\"}#" \
	"$WORLD/rotor.yaml" >"$WORLD/stock.yaml"
manifest stock raxx-stock 30d 1h 1d
stock_rotor() { # SECRET ARGS...
	local secret=$1
	shift
	out=$(AWS_ACCESS_KEY_ID=$STOCK_AKID AWS_SECRET_ACCESS_KEY=$secret NO_COLOR=1 \
		"$ROTOR_BIN" "$@" --config "$WORLD/stock.yaml" "$M/stock.yaml" 2>&1)
	rc=$?
	printf -- '--- stock rotor %s (exit %s)\n%s\n' "$*" "$rc" "$out" >>"$WORLD/rotor.log"
}
stock_rotor "$STOCK_SECRET" apply
read -r SAKID SSECRET <<<"$(store_pair stock)"
check "stock moto: apply adopts the user (exit 0)" '[ $rc = 0 ] && [ -n "$SAKID" ]' || echo "$out"
check "stock moto: the stored pair authenticates as the user" \
	'[ "$(world_py STOCK whoami "$SAKID" "$SSECRET")" = "arn:aws:iam::123456789012:user/rotor-managed/raxx-stock" ]'
check "stock moto: rotor's record tag, whose value has spaces, was accepted (TagUser signed with '+')" \
	'world_py STOCK tags raxx-stock | grep -q "^$SAKID=rotor v1 m=stock "' || world_py STOCK tags raxx-stock
stock_rotor "$STOCK_SECRET" plan --detailed-exitcode
check "stock moto: converged (plan exits 0)" '[ $rc = 0 ]' || echo "$out"
stock_rotor "wrong-secret-wrong-secret-wrong-secret00" plan
check "stock moto: a wrong secret reads as SignatureDoesNotMatch with moto's request id" \
	'[ $rc = 1 ] && grep -Eq "SignatureDoesNotMatch \(request [A-Za-z0-9-]{16,}\)" <<<"$out" && ! grep -q "not an AWS error document" <<<"$out"' ||
	echo "$out"

# ==== every AccessDenied moto returned ===========================================
unexpected=$(grep -v ' arn:aws:iam::123456789012:user/raxx-outside$' "$WORLD/denials" |
	grep '^arn:aws:iam::123456789012:user/rotor-manager ' || true)
check "no AccessDenied for the documented policy (except the user outside the path)" \
	'[ -z "$unexpected" ]' || echo "$unexpected"
check "the missing permission was denied by moto itself" \
	'grep -q "^arn:aws:iam::123456789012:user/rotor-manager-nodelete iam:DeleteAccessKey " "$WORLD/denials"'

if [ "$failed" -eq 0 ]; then
	world_stop
	rm -rf "$WORLD"
else
	echo "kept $WORLD (rotor.log, moto.err, denials)"
fi
finish
