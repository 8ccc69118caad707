#!/usr/bin/env python3
"""compare_moto.py: the same boto3 calls against moto and our IAM/STS double.

Usage: python3 tests/doubles/compare_moto.py [--verbose]

Starts moto 5.x (in this process, unmodified, on a free loopback port) and
tests/doubles/aws_double.py (a child process, real time), gives each the
same starting state — a manager allowed every IAM action, users alice (two
keys), bob (none), carol (tagged), dave (one key), all under
/rotor-managed/ — and runs identical calls as the manager (or as the key
a case names). For each call it records what a client can see: the HTTP
status and Content-Type, the error code and message, boto3's parsed result,
and the XML as a set of element paths with their text (element order is
ignored: rotor's reader and the SDKs ignore it). Access key ids, user ids,
secrets, request ids and markers are replaced by placeholders, and every
digit of a date by 9, so only formats and shapes are compared.

Prints each call that differs, then a summary line. Exit 0 when it ran
(differences are findings, see docs/aws.md "moto and our double:
differences"), 2 when moto or boto3 cannot be imported.

moto enforces signatures and policies only after its setup calls (its
/moto-api/reset-auth endpoint, the same switch as
INITIAL_NO_AUTH_ACTION_COUNT). Its manager is allowed iam:* and sts:* on
"*": this script compares the wire, not the policy language (moto ignores a
user Resource; see tests/e2e/test_moto_conformance.sh).
"""

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

try:
    import boto3
    import botocore.auth
    import botocore.config
    import botocore.exceptions
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from moto.server import ThreadedMotoServer
except ImportError as e:  # pragma: no cover
    sys.stderr.write("compare_moto.py needs moto and boto3 (pip install 'moto[server]'): %s\n"
                     % e)
    sys.exit(2)

HERE = os.path.dirname(os.path.abspath(__file__))
ACCOUNT = "123456789012"
PATH = "/rotor-managed/"
MANAGER = ("AKIAROTORMANAGER0001", "rotor-manager-secret-0000000000000000000")
CFG = botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=True)
FORM = "application/x-www-form-urlencoded; charset=utf-8"


# ---------------------------------------------------------------- targets


class Target:
    """One server (moto or the double) and how to set its state up."""

    name = "?"
    url = None
    manager = None  # (akid, secret)

    def client(self, service, creds=None):
        akid, secret = creds or self.manager
        c = boto3.client(service, endpoint_url=self.url, region_name="us-east-1", config=CFG,
                         aws_access_key_id=akid, aws_secret_access_key=secret)
        c.meta.events.register("after-call", self._record)
        return c

    def _record(self, http_response, parsed, model, **_):
        self.last = {"status": http_response.status_code,
                     "content_type": http_response.headers.get("Content-Type", ""),
                     "body": http_response.content.decode("utf-8", "replace")}


class Moto(Target):
    name = "moto"

    def __init__(self):
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = "http://%s:%d" % (host, port)
        self._auth(float("inf"))  # unchecked while we set up
        admin = self.client("iam", ("AKIAUNCHECKEDSETUP00", "x"))
        admin.create_user(UserName="rotor-admin")
        admin.put_user_policy(UserName="rotor-admin", PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        k = admin.create_access_key(UserName="rotor-admin")["AccessKey"]
        self.admin_creds = (k["AccessKeyId"], k["SecretAccessKey"])
        admin.create_user(UserName="rotor-manager")
        admin.put_user_policy(UserName="rotor-manager", PolicyName="rotor",
                              PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                  {"Effect": "Allow", "Action": ["iam:*", "sts:*"],
                                   "Resource": "*"}]}))
        k = admin.create_access_key(UserName="rotor-manager")["AccessKey"]
        self.manager = (k["AccessKeyId"], k["SecretAccessKey"])
        self._auth(0)  # from here on moto checks every signature and policy

    def _auth(self, count):
        req = urllib.request.Request(self.url + "/moto-api/reset-auth",
                                     data=str(count).encode(), method="POST",
                                     headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(req).read()

    def user(self, name, nkeys=0, tags=None):
        a = self.client("iam", self.admin_creds)
        a.create_user(UserName=name, Path=PATH)
        if tags:
            a.tag_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        keys = []
        for _ in range(nkeys):
            k = a.create_access_key(UserName=name)["AccessKey"]
            keys.append((k["AccessKeyId"], k["SecretAccessKey"]))
        return keys

    def stop(self):
        self.server.stop()


class Double(Target):
    name = "double"

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "aws_double.py"), "--port", "0", "--lifetime",
             "600", "--manager-key", "%s:%s" % MANAGER], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"^PORT (\d+)$", line.strip())
        if not m:
            raise SystemExit("aws_double.py did not start: %r" % line)
        self.url = "http://127.0.0.1:%s" % m.group(1)
        self.manager = MANAGER

    def _ctl(self, route, body):
        req = urllib.request.Request(self.url + "/_control/" + route,
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            return json.load(r)

    def user(self, name, nkeys=0, tags=None):
        u = self._ctl("users", {"name": name, "path": PATH, "tags": tags or {},
                                "keys": [{} for _ in range(nkeys)]})
        return [(k["access_key_id"], k["secret_access_key"]) for k in u["keys"]]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


# ---------------------------------------------------------------- calls


def call(t, label, fn):
    """Runs fn() (a boto3 call on one of t's clients); returns what a client
    sees."""
    t.last = None
    out = {"call": label}
    try:
        r = fn()
        r.pop("ResponseMetadata", None)
        out["result"] = r
    except botocore.exceptions.ClientError as e:
        out["error"] = {"Code": e.response["Error"].get("Code"),
                        "Message": e.response["Error"].get("Message")}
    if t.last:
        out.update(status=t.last["status"], content_type=t.last["content_type"],
                   xml=t.last["body"])
    return out


def raw(t, label, service, body, creds=None, when=None):
    """A hand-signed POST (SigV4 by botocore) with exactly this body, signed
    at `when` (default now)."""
    akid, secret = creds or t.manager
    req = AWSRequest(method="POST", url=t.url + "/", data=body.encode(),
                     headers={"Content-Type": FORM})
    auth = botocore.auth.SigV4Auth(Credentials(akid, secret), service, "us-east-1")
    saved = botocore.auth.get_current_datetime
    if when is not None:
        botocore.auth.get_current_datetime = lambda: when
    try:
        auth.add_auth(req)
    finally:
        botocore.auth.get_current_datetime = saved
    p = req.prepare()
    hreq = urllib.request.Request(p.url, data=p.body, method="POST", headers=dict(p.headers))
    try:
        with urllib.request.urlopen(hreq) as r:
            status, ctype, text = r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        status, ctype, text = e.code, e.headers.get("Content-Type", ""), e.read()
    text = text.decode("utf-8", "replace")
    out = {"call": label, "status": status, "content_type": ctype, "xml": text}
    m = re.search(r"<Code>([^<]*)</Code>", text)
    if m:
        out["error"] = {"Code": m.group(1),
                        "Message": (re.search(r"<Message>([^<]*)</Message>", text) or
                                    [None, None])[1]}
    return out


def cases(t):
    """Every case, in order, against target t. Returns a list of records."""
    rec = []
    iam, sts = t.client("iam"), t.client("sts")
    alice = t.user("alice", 2)
    t.user("bob", 0)
    t.user("carol", 0, tags={"team": "platform"})
    dave = t.user("dave", 1)
    (a1, a1s), (a2, a2s) = alice
    missing = "AKIA" + "Z" * 16

    # ListAccessKeys, incl. paging
    rec.append(call(t, "ListAccessKeys(alice) two keys",
                    lambda: iam.list_access_keys(UserName="alice")))
    rec.append(call(t, "ListAccessKeys(bob) no keys", lambda: iam.list_access_keys(UserName="bob")))
    p1 = call(t, "ListAccessKeys(alice, MaxItems=1) page 1",
              lambda: iam.list_access_keys(UserName="alice", MaxItems=1))
    rec.append(p1)
    marker = p1.get("result", {}).get("Marker")
    if marker:
        rec.append(call(t, "ListAccessKeys(alice, MaxItems=1, Marker) page 2",
                        lambda: iam.list_access_keys(UserName="alice", MaxItems=1,
                                                     Marker=marker)))
    else:
        rec.append({"call": "ListAccessKeys(alice, MaxItems=1, Marker) page 2",
                    "skipped": "page 1 gave no Marker"})
    rec.append(call(t, "ListAccessKeys(nobody)", lambda: iam.list_access_keys(UserName="nobody")))

    # CreateAccessKey, incl. at the limit
    rec.append(call(t, "CreateAccessKey(alice) at the limit",
                    lambda: iam.create_access_key(UserName="alice")))
    rec.append(call(t, "CreateAccessKey(bob)", lambda: iam.create_access_key(UserName="bob")))

    # UpdateAccessKey
    rec.append(call(t, "UpdateAccessKey(alice, a1, Inactive)",
                    lambda: iam.update_access_key(UserName="alice", AccessKeyId=a1,
                                                  Status="Inactive")))
    rec.append(call(t, "ListAccessKeys(alice) after Inactive",
                    lambda: iam.list_access_keys(UserName="alice")))
    rec.append(call(t, "UpdateAccessKey(alice, missing key)",
                    lambda: iam.update_access_key(UserName="alice", AccessKeyId=missing,
                                                  Status="Inactive")))
    rec.append(call(t, "UpdateAccessKey(alice, a2, Status=Disabled)",
                    lambda: iam.update_access_key(UserName="alice", AccessKeyId=a2,
                                                  Status="Disabled")))
    rec.append(call(t, "UpdateAccessKey(bob, alice's key)",
                    lambda: iam.update_access_key(UserName="bob", AccessKeyId=a2,
                                                  Status="Active")))

    # DeleteAccessKey of a missing key
    rec.append(call(t, "DeleteAccessKey(alice, missing key)",
                    lambda: iam.delete_access_key(UserName="alice", AccessKeyId=missing)))

    # GetAccessKeyLastUsed: never used, used, unknown
    rec.append(call(t, "GetAccessKeyLastUsed(dave's key) never used",
                    lambda: iam.get_access_key_last_used(AccessKeyId=dave[0][0])))
    rec.append(call(t, "GetCallerIdentity as alice a2",
                    lambda: t.client("sts", (a2, a2s)).get_caller_identity()))
    rec.append(call(t, "GetAccessKeyLastUsed(a2) used by sts",
                    lambda: iam.get_access_key_last_used(AccessKeyId=a2)))
    rec.append(call(t, "GetAccessKeyLastUsed(unknown key)",
                    lambda: iam.get_access_key_last_used(AccessKeyId=missing)))

    # GetUser
    rec.append(call(t, "GetUser(alice)", lambda: iam.get_user(UserName="alice")))
    rec.append(call(t, "GetUser(carol) tagged", lambda: iam.get_user(UserName="carol")))
    rec.append(call(t, "GetUser(nobody)", lambda: iam.get_user(UserName="nobody")))
    rec.append(call(t, "GetUser() the caller", lambda: iam.get_user()))

    # Tags, incl. the 50-tag limit. Each case has its own user so that a
    # call one side accepts and the other refuses changes no later case.
    tags49 = [{"Key": "k%02d" % i, "Value": "v %d" % i} for i in range(49)]
    rec.append(call(t, "TagUser(carol, 49 more: 50 in all)",
                    lambda: iam.tag_user(UserName="carol", Tags=tags49)))
    rec.append(call(t, "ListUserTags(carol) 50 tags",
                    lambda: iam.list_user_tags(UserName="carol")))
    rec.append(call(t, "ListUserTags(carol, MaxItems=10)",
                    lambda: iam.list_user_tags(UserName="carol", MaxItems=10)))
    rec.append(call(t, "TagUser(carol, new value for k00 at 50)",
                    lambda: iam.tag_user(UserName="carol", Tags=[{"Key": "k00", "Value": "w"}])))
    rec.append(call(t, "TagUser(carol, a 51st)",
                    lambda: iam.tag_user(UserName="carol", Tags=[{"Key": "k99", "Value": "x"}])))
    rec.append(call(t, "ListUserTags(carol) after the 51st",
                    lambda: {"count": len(iam.list_user_tags(UserName="carol")["Tags"])}))
    t.user("erin", 0, tags={"team": "a"})
    rec.append(call(t, "TagUser(erin, TEAM=b: key differs in case only)",
                    lambda: iam.tag_user(UserName="erin", Tags=[{"Key": "TEAM", "Value": "b"}])))
    rec.append(call(t, "ListUserTags(erin)", lambda: iam.list_user_tags(UserName="erin")))
    rec.append(call(t, "UntagUser(erin, Team and absent)",
                    lambda: iam.untag_user(UserName="erin", TagKeys=["Team", "absent"])))
    rec.append(call(t, "ListUserTags(erin) after untag",
                    lambda: iam.list_user_tags(UserName="erin")))
    rec.append(call(t, "ListUserTags(bob) none", lambda: iam.list_user_tags(UserName="bob")))
    for n, (label, tags) in enumerate((
            ("51 in one call", [{"Key": "k%02d" % i, "Value": "v"} for i in range(51)]),
            ("a value of 257 characters", [{"Key": "k", "Value": "v" * 257}]),
            ("duplicate keys in one call", [{"Key": "k", "Value": "1"},
                                            {"Key": "K", "Value": "2"}]),
            ("a value with '!'", [{"Key": "k", "Value": "no!"}]),
            ("a key starting with aws:", [{"Key": "aws:k", "Value": "v"}]))):
        name = "tagger%d" % n
        t.user(name, 0)
        rec.append(call(t, "TagUser(%s)" % label,
                        lambda: iam.tag_user(UserName=name, Tags=tags)))
    rec.append(call(t, "TagUser(nobody)",
                    lambda: iam.tag_user(UserName="nobody", Tags=[{"Key": "k", "Value": "v"}])))
    rec.append(call(t, "UntagUser(nobody)",
                    lambda: iam.untag_user(UserName="nobody", TagKeys=["k"])))
    rec.append(call(t, "ListUserTags(nobody)", lambda: iam.list_user_tags(UserName="nobody")))

    # GetCallerIdentity
    rec.append(call(t, "GetCallerIdentity as manager", lambda: sts.get_caller_identity()))

    # Authentication
    rec.append(call(t, "ListAccessKeys with a wrong secret (bad signature)",
                    lambda: t.client("iam", (t.manager[0], "wrong" * 8)).list_access_keys(
                        UserName="alice")))
    rec.append(call(t, "GetCallerIdentity with a wrong secret",
                    lambda: t.client("sts", (t.manager[0], "wrong" * 8)).get_caller_identity()))
    rec.append(call(t, "ListAccessKeys with an unknown key",
                    lambda: t.client("iam", (missing, "x" * 40)).list_access_keys(
                        UserName="alice")))
    rec.append(call(t, "GetCallerIdentity with an unknown key",
                    lambda: t.client("sts", (missing, "x" * 40)).get_caller_identity()))
    rec.append(call(t, "ListAccessKeys as alice (no permission)",
                    lambda: t.client("iam", (a2, a2s)).list_access_keys(UserName="bob")))

    # Known gaps, probed
    rec.append(call(t, "GetCallerIdentity with alice's Inactive key",
                    lambda: t.client("sts", (a1, a1s)).get_caller_identity()))
    rec.append(call(t, "GetCallerIdentity with dave's key, wrong secret",
                    lambda: t.client("sts", (dave[0][0], "wrong" * 8)).get_caller_identity()))
    rec.append(call(t, "GetAccessKeyLastUsed(dave's key) after a failed call",
                    lambda: iam.get_access_key_last_used(AccessKeyId=dave[0][0])))
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    rec.append(raw(t, "ListAccessKeys signed 10 minutes ago", "iam",
                   "Action=ListAccessKeys&Version=2010-05-08&UserName=alice",
                   when=now - datetime.timedelta(minutes=10)))
    rec.append(raw(t, "TagUser with %20 in the body (rotor's encoding)", "iam",
                   "Action=TagUser&Version=2010-05-08&UserName=bob&Tags.member.1.Key=k"
                   "&Tags.member.1.Value=two%20words"))
    req = urllib.request.Request(t.url + "/", method="POST", headers={"Content-Type": FORM},
                                 data=b"Action=GetCallerIdentity&Version=2011-06-15")
    try:
        with urllib.request.urlopen(req) as r:
            unsigned = {"status": r.status, "xml": r.read().decode("utf-8", "replace")}
    except urllib.error.HTTPError as e:
        unsigned = {"status": e.code, "xml": e.read().decode("utf-8", "replace")}
    m = re.search(r"<Code>([^<]*)</Code>", unsigned["xml"])
    unsigned.update(call="GetCallerIdentity unsigned",
                    error={"Code": m.group(1) if m else None})
    rec.append(unsigned)
    return rec


# ---------------------------------------------------------------- normalising

DATE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"
                  r"|\b\d{8}T\d{6}Z\b")
SUBS = [
    (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{12,}\b"), "<AKID>"),
]


def norm_text(s):
    if not isinstance(s, str):
        return s
    s = DATE.sub(lambda m: re.sub(r"\d", "9", m.group(0)), s)
    for rx, rep in SUBS:
        s = rx.sub(rep, s)
    return s


def norm_obj(o, key=None):
    if isinstance(o, dict):
        return {k: norm_obj(v, k) for k, v in o.items()}
    if isinstance(o, list):
        return [norm_obj(v) for v in o]
    if isinstance(o, datetime.datetime):
        return "<datetime %s>" % ("aware" if o.tzinfo else "naive")
    if key in ("SecretAccessKey", "Marker"):
        return "<%s>" % key
    if key == "UserId" and isinstance(o, str):
        return user_id(o)
    return norm_text(o)


def user_id(s):
    """AWS user ids are AIDA + 17 more of [A-Z2-7]; say whether s is one."""
    return "<USERID>" if re.match(r"^AIDA[A-Z2-7]{17}$", s) else "<USERID, not AIDA...>"


def xml_lines(text):
    """The XML as sorted 'path: text' lines (namespace on the root line)."""
    if not text:
        return ["(empty body)"]
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return ["(not XML) " + norm_text(text[:200])]
    lines = []

    def walk(e, path):
        tag = e.tag.split("}", 1)[-1]
        p = path + "/" + tag
        txt = (e.text or "").strip()
        if tag in ("RequestId", "SecretAccessKey", "Marker") and txt:
            txt = "<%s>" % tag
        elif tag == "UserId" and txt:
            txt = user_id(txt)
        lines.append("%s: %s" % (p, norm_text(txt)) if txt or not len(e) else p)
        for c in e:
            walk(c, p)

    walk(root, "")
    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else "(none)"
    return ["xmlns: " + ns] + sorted(lines)


def flat(o, path=""):
    """A JSON-able value as sorted 'path = value' lines."""
    if isinstance(o, dict):
        out = []
        for k, v in o.items():
            out += flat(v, "%s.%s" % (path, k) if path else k)
        return sorted(out) if not path else out
    if isinstance(o, list):
        out = []
        for v in o:
            out += flat(v, path + "[]")
        return out if o else ["%s = []" % path]
    return ["%s = %s" % (path, json.dumps(o, default=str))]


def view(r):
    """What to compare of one record: scalar fields, and line sets."""
    v = {"status": r.get("status")}
    if "error" in r:
        v["error code"] = r["error"].get("Code")
        v["error message"] = norm_text(r["error"].get("Message"))
    if "skipped" in r:
        v["skipped"] = r["skipped"]
    ctype = (r.get("content_type") or "").split(";")[0].strip()
    v["content type"] = ctype or None
    lines = {"xml": xml_lines(r.get("xml"))}
    if "result" in r:
        lines["result"] = sorted(flat(norm_obj(r["result"])))
    return v, lines


def multiset_diff(a, b):
    left, right = list(a), list(b)
    for x in a:
        if x in right:
            right.remove(x)
            left.remove(x)
    return left, right


def show(lines, limit):
    for x in lines[:limit]:
        print(x)
    if len(lines) > limit:
        print("       ... %d more" % (len(lines) - limit))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verbose", action="store_true",
                    help="print every call, and every differing line")
    opts = ap.parse_args(argv)
    import logging
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    moto, double = Moto(), Double()
    try:
        got = {t.name: cases(t) for t in (moto, double)}
    finally:
        moto.stop()
        double.stop()
    ndiff = 0
    limit = 10 ** 6 if opts.verbose else 6
    for m, d in zip(got["moto"], got["double"]):
        assert m["call"] == d["call"]
        (sm, lm), (sd, ld) = view(m), view(d)
        out = []
        for k in dict.fromkeys(list(sm) + list(sd)):
            if sm.get(k) != sd.get(k):
                out.append("   %-13s moto   | %s" % (k, sm.get(k, "(absent)")))
                out.append("   %-13s double | %s" % ("", sd.get(k, "(absent)")))
        for k in ("result", "xml"):
            if k not in lm and k not in ld:
                continue
            only_m, only_d = multiset_diff(lm.get(k, []), ld.get(k, []))
            only_m = ["   %-6s moto   | %s" % (k, x) for x in only_m]
            only_d = ["   %-6s double | %s" % (k, x) for x in only_d]
            out += only_m[:limit] + (["   %-6s moto   | ... %d more" % (k, len(only_m) - limit)]
                                     if len(only_m) > limit else [])
            out += only_d[:limit] + (["   %-6s double | ... %d more" % (k, len(only_d) - limit)]
                                     if len(only_d) > limit else [])
        if out or opts.verbose:
            print("== %s%s" % (m["call"], "" if out else ": same"))
            for line in out:
                print(line)
        ndiff += bool(out)
    print("%d of %d calls differ" % (ndiff, len(got["moto"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
