#!/usr/bin/env python3
"""test_aws_double.py: self-test of the IAM + STS double (run by CTest).

Starts aws_double.py on a free port and talks to it with a small SigV4
signer written here (urllib + hmac), itself checked first against AWS's
`post-x-www-form-urlencoded` test vector when the suite is present
(ROTOR_SIGV4_SUITE or /work/shared/aws-sigv4-test-suite/v4). Prints
"N passed, M failed"; exits 1 on any failure. Standard library only.
"""

import datetime
import hashlib
import hmac
import http.client
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLE = os.path.join(HERE, "aws_double.py")
SUITE = os.environ.get("ROTOR_SIGV4_SUITE", "/work/shared/aws-sigv4-test-suite/v4")
MANAGER = ("AKIAMANAGER000000001", "managersecret0000000000000000000000000000")
NOW = datetime.datetime(2026, 11, 22, 10, 0, 0, tzinfo=datetime.timezone.utc)
IAM_V, STS_V = "2010-05-08", "2011-06-15"

PORT = None
LAST_TAG = None  # the namespaced root tag of the last reply (call() strips them)

# ---------------------------------------------------------------- SigV4 signer


def q(s):
    return urllib.parse.quote(s, safe="-_.~")


def form(params):
    return "&".join("%s=%s" % (q(k), q(v)) for k, v in params.items())


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(method, path, headers, body, akid, secret, region, service, when):
    """Adds x-amz-date and Authorization to headers (which must hold host);
    signs every header given. Returns (headers, canonical request, string
    to sign)."""
    headers = dict(headers)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    headers["X-Amz-Date"] = amz_date
    canon = sorted((k.lower(), " ".join(str(v).split())) for k, v in headers.items())
    signed = ";".join(k for k, _ in canon)
    creq = "%s\n%s\n\n%s\n%s\n%s" % (method, path, "".join("%s:%s\n" % kv for kv in canon),
                                      signed, hashlib.sha256(body).hexdigest())
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz_date, scope,
                                            hashlib.sha256(creq.encode()).hexdigest())
    k = hmac256(("AWS4" + secret).encode(), amz_date[:8])
    for part in (region, service, "aws4_request"):
        k = hmac256(k, part)
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
                                "Signature=%s" % (akid, scope, signed, sig))
    return headers, creq, sts


# ---------------------------------------------------------------- clients


class Dropped(Exception):
    pass


def send(method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
        raise Dropped(str(e))
    finally:
        conn.close()


def control(method, route, obj=None):
    body = json.dumps(obj).encode() if obj is not None else b""
    status, text = send(method, "/_control/" + route, body, {"Content-Type": "application/json"})
    return status, json.loads(text)


def call(action, params=None, creds=MANAGER, service="iam", region="us-east-1", when=None,
         token=None, signed=True):
    """One Query call; returns (status, Element root)."""
    p = {"Action": action, "Version": IAM_V if service == "iam" else STS_V}
    p.update(params or {})
    body = form(p).encode()
    headers = {"Host": "127.0.0.1:%d" % PORT,
               "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if token:
        headers["X-Amz-Security-Token"] = token
    if signed:
        headers, _, _ = sign("POST", "/", headers, body, creds[0], creds[1], region, service,
                             when or NOW)
    global LAST_TAG
    status, text = send("POST", "/", body, headers)
    root = ET.fromstring(text)
    LAST_TAG = root.tag
    return status, strip(root)


def strip(root):
    for el in root.iter():
        el.tag = el.tag.split("}", 1)[-1]
    return root


def text(root, path):
    el = root.find(path)
    return None if el is None else el.text


def err(root):
    return text(root, "./Error/Code")


# ---------------------------------------------------------------- tests

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def user_with_keys(name, keys=1, manager=False, **kw):
    st, u = control("POST", "users", dict({"name": name, "manager": manager,
                                           "keys": [{} for _ in range(keys)]}, **kw))
    eq(st, 200, "create user")
    return u


def creds(user, i=0):
    k = user["keys"][i]
    return k["access_key_id"], k["secret_access_key"]


@test
def signed_list_access_keys_succeeds():
    u = user_with_keys("alice", 2)
    st, root = call("ListAccessKeys", {"UserName": "alice"})
    eq(st, 200, "status")
    eq(LAST_TAG, "{https://iam.amazonaws.com/doc/2010-05-08/}ListAccessKeysResponse", "root")
    ids = [e.text for e in root.findall(".//AccessKeyMetadata/member/AccessKeyId")]
    eq(ids, [k["access_key_id"] for k in u["keys"]], "ids")
    eq(text(root, ".//IsTruncated"), "false", "IsTruncated")
    eq(text(root, ".//member/CreateDate"), "2026-11-22T10:00:00Z", "CreateDate")
    eq(len(text(root, "./ResponseMetadata/RequestId")), 36, "RequestId")
    for k in u["keys"]:
        assert k["access_key_id"].startswith("AKIA") and len(k["access_key_id"]) == 20
        assert len(k["secret_access_key"]) == 40


@test
def wrong_secret_is_signature_mismatch():
    st, root = call("ListAccessKeys", {"UserName": "rotor-manager"},
                    creds=(MANAGER[0], "x" * 40))
    eq((st, err(root)), (403, "SignatureDoesNotMatch"), "reply")
    eq(text(root, "./Error/Type"), "Sender", "type")


@test
def unknown_key_is_invalid_client_token():
    st, root = call("GetCallerIdentity", service="sts", creds=("AKIAUNKNOWN000000000", "s" * 40))
    eq((st, err(root)), (403, "InvalidClientTokenId"), "reply")
    eq(LAST_TAG, "{https://sts.amazonaws.com/doc/2011-06-15/}ErrorResponse", "STS namespace")
    eq(text(root, "./Error/Message"), "The security token included in the request is invalid.",
       "message")


@test
def inactive_key_is_invalid_client_token():
    st, u = control("POST", "users", {"name": "idle", "keys": [{"status": "Inactive"}]})
    st, root = call("GetCallerIdentity", service="sts", creds=creds(u))
    eq((st, err(root)), (403, "InvalidClientTokenId"), "reply")
    st, root = call("GetAccessKeyLastUsed", {"AccessKeyId": u["keys"][0]["access_key_id"]})
    eq(text(root, ".//ServiceName"), "N/A", "inactive key was not recorded as used")


@test
def third_key_is_limit_exceeded():
    user_with_keys("bob", 0)
    for _ in range(2):
        st, root = call("CreateAccessKey", {"UserName": "bob"})
        eq(st, 200, "create")
        eq(text(root, ".//AccessKey/Status"), "Active", "status")
        eq(len(text(root, ".//AccessKey/SecretAccessKey")), 40, "secret")
    st, root = call("CreateAccessKey", {"UserName": "bob"})
    eq((st, err(root)), (409, "LimitExceeded"), "third")
    eq(text(root, "./Error/Message"), "Cannot exceed quota for AccessKeysPerUser: 2", "message")
    st, root = call("CreateAccessKey", {"UserName": "nobody"})
    eq((st, err(root)), (404, "NoSuchEntity"), "unknown user")
    eq(text(root, "./Error/Message"), "The user with name nobody cannot be found.", "message")


@test
def last_use_is_recorded():
    u = user_with_keys("carol", 2)
    st, root = call("GetCallerIdentity", service="sts", region="eu-west-1", creds=creds(u))
    eq(st, 200, "GetCallerIdentity")
    eq(text(root, ".//Arn"), "arn:aws:iam::123456789012:user/carol", "arn")
    eq(text(root, ".//Account"), "123456789012", "account")
    st, root = call("GetAccessKeyLastUsed", {"AccessKeyId": u["keys"][0]["access_key_id"]})
    eq(st, 200, "GetAccessKeyLastUsed")
    eq(text(root, ".//UserName"), "carol", "user")
    eq(text(root, ".//AccessKeyLastUsed/LastUsedDate"), "2026-11-22T10:00:00Z", "date")
    eq(text(root, ".//AccessKeyLastUsed/ServiceName"), "sts", "service")
    eq(text(root, ".//AccessKeyLastUsed/Region"), "eu-west-1", "region")
    st, root = call("GetAccessKeyLastUsed", {"AccessKeyId": u["keys"][1]["access_key_id"]})
    eq((text(root, ".//ServiceName"), text(root, ".//Region"),
        text(root, ".//LastUsedDate")), ("N/A", "N/A", None), "never used")
    st, root = call("GetAccessKeyLastUsed", {"AccessKeyId": "AKIADOESNOTEXIST0000"})
    eq((st, err(root)), (403, "AccessDenied"), "unknown key")
    control("POST", "use", {"access_key_id": u["keys"][1]["access_key_id"],
                            "service": "s3", "region": "us-west-2"})
    st, root = call("GetAccessKeyLastUsed", {"AccessKeyId": u["keys"][1]["access_key_id"]})
    eq((text(root, ".//ServiceName"), text(root, ".//Region")), ("s3", "us-west-2"), "use")


@test
def propagation_delay_blocks_then_allows():
    user_with_keys("dave", 0)
    control("POST", "settings", {"propagation_delay": 1.0})
    st, root = call("CreateAccessKey", {"UserName": "dave"})
    born = time.monotonic()
    new = (text(root, ".//AccessKeyId"), text(root, ".//SecretAccessKey"))
    st, root = call("GetCallerIdentity", service="sts", creds=new)
    eq((st, err(root)), (403, "InvalidClientTokenId"), "too early")
    time.sleep(max(0.0, 1.05 - (time.monotonic() - born)))
    st, root = call("GetCallerIdentity", service="sts", creds=new)
    eq(st, 200, "after the delay")


@test
def pagination_with_page_size_one():
    u = user_with_keys("erin", 2)
    control("POST", "settings", {"page_size": 1})
    st, root = call("ListAccessKeys", {"UserName": "erin"})
    eq(st, 200, "page 1")
    eq(text(root, ".//IsTruncated"), "true", "IsTruncated")
    marker = text(root, ".//Marker")
    assert marker and all(c in marker for c in "+/="), marker
    first = [e.text for e in root.findall(".//AccessKeyId")]
    st, root = call("ListAccessKeys", {"UserName": "erin", "Marker": marker})
    eq(st, 200, "page 2")
    eq(text(root, ".//IsTruncated"), "false", "IsTruncated 2")
    eq(text(root, ".//Marker"), None, "no marker")
    second = [e.text for e in root.findall(".//AccessKeyId")]
    eq(first + second, [k["access_key_id"] for k in u["keys"]], "both pages")
    st, root = call("ListAccessKeys", {"UserName": "erin", "MaxItems": "5"})
    eq(len(root.findall(".//AccessKeyId")), 2, "MaxItems overrides page_size")


@test
def list_users_paged_and_by_path():
    user_with_keys("lu-a", 1, path="/ci/")
    user_with_keys("lu-b", 0)
    user_with_keys("lu-c", 2, path="/ci/deep/")
    names, marker, pages = [], None, 0
    while True:
        params = {"MaxItems": "1"}
        if marker:
            params["Marker"] = marker
        st, root = call("ListUsers", params)
        eq(st, 200, "ListUsers page")
        pages += 1
        names += [e.text for e in root.findall(".//Users/member/UserName")]
        assert root.find(".//Tags") is None, "ListUsers returns no tags"
        if text(root, ".//IsTruncated") != "true":
            break
        marker = text(root, ".//Marker")
    assert {"lu-a", "lu-b", "lu-c"} <= set(names), names
    eq(pages, len(names), "one user per page")
    st, root = call("ListUsers", {"PathPrefix": "/ci/"})
    eq(sorted(e.text for e in root.findall(".//UserName")), ["lu-a", "lu-c"], "PathPrefix")
    eq(text(root, ".//Users/member/Path"), "/ci/", "Path")
    st, _ = call("ListUsers", {"PathPrefix": "ci"})
    eq(st, 400, "a PathPrefix without its leading / is a ValidationError")


@test
def tags_round_trip_and_limit():
    user_with_keys("frank", 0)
    st, _ = call("TagUser", {"UserName": "frank", "Tags.member.1.Key": "AKIAEXAMPLE000000001",
                             "Tags.member.1.Value": "rotor v1 m=x created=2026-11-22T10:00Z",
                             "Tags.member.2.Key": "team", "Tags.member.2.Value": "platform"})
    eq(st, 200, "TagUser")
    st, root = call("ListUserTags", {"UserName": "frank"})
    tags = {m.find("Key").text: m.find("Value").text for m in root.findall(".//member")}
    eq(tags, {"AKIAEXAMPLE000000001": "rotor v1 m=x created=2026-11-22T10:00Z",
              "team": "platform"}, "tags")
    st, root = call("GetUser", {"UserName": "frank"})
    eq(len(root.findall(".//Tags/member")), 2, "GetUser tags")
    assert text(root, ".//UserId").startswith("AIDA")
    st, _ = call("UntagUser", {"UserName": "frank", "TagKeys.member.1": "team"})
    eq(st, 200, "UntagUser")
    many = {}
    for i in range(1, 50):
        many["Tags.member.%d.Key" % i] = "k%d" % i
        many["Tags.member.%d.Value" % i] = "v"
    st, _ = call("TagUser", dict(many, UserName="frank"))
    eq(st, 200, "up to 50")
    st, root = call("TagUser", {"UserName": "frank", "Tags.member.1.Key": "k1",
                                "Tags.member.1.Value": "replaced"})
    eq(st, 200, "replacing at 50")
    st, root = call("TagUser", {"UserName": "frank", "Tags.member.1.Key": "k51",
                                "Tags.member.1.Value": "v"})
    eq((st, err(root)), (409, "LimitExceeded"), "the 51st")
    st, root = call("TagUser", {"UserName": "frank", "Tags.member.1.Key": "k1",
                                "Tags.member.1.Value": "bad!value"})
    eq((st, err(root)), (400, "ValidationError"), "bad value")
    st, state = control("GET", "state")
    frank = [u for u in state["users"] if u["name"] == "frank"][0]
    eq((len(frank["tags"]), frank["tags"]["k1"]), (50, "replaced"), "state")


@test
def expired_date_is_rejected():
    st, root = call("ListAccessKeys", {"UserName": "rotor-manager"},
                    when=NOW - datetime.timedelta(minutes=6))
    eq((st, err(root)), (403, "SignatureDoesNotMatch"), "reply")
    assert "Signature expired" in text(root, "./Error/Message"), text(root, "./Error/Message")
    st, root = call("ListAccessKeys", {"UserName": "rotor-manager"},
                    when=NOW + datetime.timedelta(minutes=4))
    eq(st, 200, "within 5 minutes")
    st, clock = control("POST", "clock", {"advance": 3600})
    eq(clock["now"], "2026-11-22T11:00:00Z", "advanced")
    st, root = call("ListAccessKeys", {"UserName": "rotor-manager"})
    eq(err(root), "SignatureDoesNotMatch", "old time after the clock moved")


@test
def throttle_fault_then_success():
    st, f = control("POST", "faults", {"rules": [{"match": "ListAccessKeys", "kind": "throttle"}]})
    eq(st, 200, "install")
    st, root = call("ListAccessKeys", {"UserName": "rotor-manager"})
    eq((st, err(root), text(root, "./Error/Message")), (400, "Throttling", "Rate exceeded"),
       "throttled")
    st, root = call("ListAccessKeys", {"UserName": "rotor-manager"})
    eq(st, 200, "then success")
    st, f = control("GET", "faults")
    eq((f["rules"][0]["applied"], f["calls"]["ListAccessKeys"]), (1, 2), "counters")


@test
def drop_after_commits_without_reply():
    user_with_keys("gina", 0)
    control("POST", "faults", {"rules": [{"match": "CreateAccessKey", "kind": "drop_after"}]})
    try:
        call("CreateAccessKey", {"UserName": "gina"})
        raise AssertionError("expected no response")
    except Dropped:
        pass
    st, state = control("GET", "state")
    gina = [u for u in state["users"] if u["name"] == "gina"][0]
    eq(len(gina["keys"]), 1, "the key exists")
    st, calls = control("GET", "calls")
    last = calls["calls"][-1]
    eq((last["action"], last["status"], last["fault"], last["akid"]),
       ("CreateAccessKey", 200, "drop_after", MANAGER[0]), "log")
    assert "secret" not in json.dumps(calls).lower()
    control("POST", "faults", {"rules": [{"match": "*", "kind": "drop"}]})
    try:
        call("CreateAccessKey", {"UserName": "gina"})
        raise AssertionError("expected no response")
    except Dropped:
        pass
    st, state = control("GET", "state")
    eq(len([u for u in state["users"] if u["name"] == "gina"][0]["keys"]), 1, "drop: no change")


@test
def non_manager_is_denied():
    u = user_with_keys("henry", 1)
    st, root = call("ListAccessKeys", {"UserName": "henry"}, creds=creds(u))
    eq((st, err(root)), (403, "AccessDenied"), "denied")
    msg = text(root, "./Error/Message")
    assert msg.startswith("User: arn:aws:iam::123456789012:user/henry is not authorized to "
                          "perform: iam:ListAccessKeys on resource: "
                          "arn:aws:iam::123456789012:user/henry"), msg
    st, root = call("GetCallerIdentity", service="sts", creds=creds(u))
    eq(st, 200, "GetCallerIdentity needs no permission")


@test
def unsigned_and_bad_requests():
    st, root = call("ListAccessKeys", signed=False)
    eq((st, err(root)), (403, "MissingAuthenticationToken"), "unsigned")
    st, root = call("Frobnicate")
    eq((st, err(root)), (400, "InvalidAction"), "unknown action")
    st, root = call("GetCallerIdentity", service="iam")  # an STS action signed for IAM
    eq((st, err(root)), (400, "InvalidAction"), "wrong service")
    st, root = call("ListAccessKeys", {"UserName": "rotor-manager"}, region="us-west-2")
    eq((st, err(root)), (403, "SignatureDoesNotMatch"), "IAM signed for another region")
    st, root = call("UpdateAccessKey", {"AccessKeyId": MANAGER[0], "Status": "Paused"})
    eq((st, err(root)), (400, "ValidationError"), "bad status")
    other = user_with_keys("ivy", 1)
    st, root = call("DeleteAccessKey", {"UserName": "rotor-manager",
                                        "AccessKeyId": other["keys"][0]["access_key_id"]})
    eq((st, err(root)), (404, "NoSuchEntity"), "key of another user")
    eq(text(root, "./Error/Message"), "The Access Key with id %s cannot be found."
       % other["keys"][0]["access_key_id"], "message")


@test
def assume_role_and_web_identity():
    control("POST", "roles", {"name": "rotor", "manager": True, "external_id": "ext-1"})
    u = user_with_keys("jack", 1)
    arn = "arn:aws:iam::123456789012:role/rotor"
    st, root = call("AssumeRole", {"RoleArn": arn, "RoleSessionName": "s1"}, service="sts",
                    creds=creds(u))
    eq((st, err(root)), (403, "AccessDenied"), "without ExternalId")
    st, root = call("AssumeRole", {"RoleArn": arn, "RoleSessionName": "s1", "ExternalId": "ext-1",
                                   "DurationSeconds": "900"}, service="sts", creds=creds(u))
    eq(st, 200, "AssumeRole")
    tmp = (text(root, ".//Credentials/AccessKeyId"), text(root, ".//Credentials/SecretAccessKey"))
    token = text(root, ".//Credentials/SessionToken")
    assert tmp[0].startswith("ASIA"), tmp[0]
    eq(text(root, ".//Credentials/Expiration"), "2026-11-22T10:15:00Z", "expiration")
    st, root = call("ListAccessKeys", {"UserName": "jack"}, creds=tmp, token=token)
    eq(st, 200, "the role manages keys")
    st, root = call("ListAccessKeys", {"UserName": "jack"}, creds=tmp)
    eq((st, err(root)), (403, "InvalidClientTokenId"), "no session token")
    st, root = call("GetCallerIdentity", service="sts", creds=tmp, token=token)
    eq(text(root, ".//Arn"), "arn:aws:sts::123456789012:assumed-role/rotor/s1", "role arn")
    control("POST", "web-identity-tokens", {"token": "jwt-1"})
    p = {"RoleArn": arn, "RoleSessionName": "irsa", "WebIdentityToken": "jwt-1"}
    st, root = call("AssumeRoleWithWebIdentity", p, service="sts", signed=False)
    eq(st, 200, "web identity")
    p["WebIdentityToken"] = "jwt-2"
    st, root = call("AssumeRoleWithWebIdentity", p, service="sts", signed=False)
    eq((st, err(root)), (400, "InvalidIdentityToken"), "unknown token")
    control("POST", "clock", {"advance": 900})
    st, root = call("GetCallerIdentity", service="sts", creds=tmp, token=token,
                    when=NOW + datetime.timedelta(seconds=900))
    eq((st, err(root)), (403, "ExpiredToken"), "expired session")


@test
def update_and_delete_keys():
    u = user_with_keys("kate", 2)
    a, b = u["keys"][0]["access_key_id"], u["keys"][1]["access_key_id"]
    st, _ = call("UpdateAccessKey", {"UserName": "kate", "AccessKeyId": a, "Status": "Inactive"})
    eq(st, 200, "deactivate")
    st, _ = call("DeleteAccessKey", {"UserName": "kate", "AccessKeyId": b})
    eq(st, 200, "delete")
    st, root = call("ListAccessKeys", {"UserName": "kate"})
    eq([(m.find("AccessKeyId").text, m.find("Status").text)
        for m in root.findall(".//member")], [(a, "Inactive")], "left")


@test
def snapshot_restore_returns_to_the_copy():
    u = user_with_keys("sam", 1)
    a, secret = creds(u)
    call("TagUser", {"UserName": "sam", "Tags.member.1.Key": "k", "Tags.member.1.Value": "v"})
    eq(control("POST", "snapshot", {"name": "s1"})[0], 200, "snapshot")
    _, before = control("GET", "state")
    _, calls = control("GET", "calls")
    # change everything a case could change: keys, tags, a new user, the
    # call log, the fault rules
    st, _ = call("UpdateAccessKey", {"UserName": "sam", "AccessKeyId": a, "Status": "Inactive"})
    eq(st, 200, "deactivate")
    st, root = call("CreateAccessKey", {"UserName": "sam"})
    eq(st, 200, "create")
    call("UntagUser", {"UserName": "sam", "TagKeys.member.1": "k"})
    user_with_keys("other", 1)
    control("POST", "faults", {"rules": [{"match": "GetUser", "kind": "throttle"}]})
    for _ in range(2):  # a snapshot can be restored again and again
        eq(control("POST", "restore", {"name": "s1"}), (200, {"restored": "s1"}), "restore")
        eq(control("GET", "state")[1]["users"], before["users"], "state after restore")
        eq(control("GET", "calls")[1], calls, "call log after restore")
        eq(control("GET", "faults")[1]["rules"], [], "fault rules after restore")
        # the restored key signs again, and sam has room for one more key
        st, root = call("GetCallerIdentity", creds=(a, secret), service="sts")
        eq(st, 200, "the restored key authenticates")
        st, root = call("CreateAccessKey", {"UserName": "sam"})
        eq(st, 200, "create after restore")
        eq(len(control("GET", "state")[1]["users"][-1]["keys"]), 2, "sam's keys")
    eq(control("POST", "restore", {"name": "nope"})[0], 404, "unknown snapshot")


# ---------------------------------------------------------------- the test vector


def sigv4_vector():
    """Checks this file's signer and the double's verifier against AWS's
    post-x-www-form-urlencoded case; returns False when the suite is absent."""
    d = os.path.join(SUITE, "post-x-www-form-urlencoded")
    if not os.path.isdir(d):
        return False

    def read(name):
        with open(os.path.join(d, name), encoding="utf-8") as f:
            return f.read()

    ctx = json.loads(read("context.json"))
    head, _, body = read("request.txt").partition("\n\n")
    lines = head.split("\n")
    method, path, _ = lines[0].split(" ")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k] = v
    body = body.encode()
    when = datetime.datetime.strptime(ctx["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    if ctx.get("sign_body"):
        headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    cred = ctx["credentials"]
    signed, creq, sts = sign(method, path, headers, body, cred["access_key_id"],
                             cred["secret_access_key"], ctx["region"], ctx["service"], when)
    eq(creq, read("header-canonical-request.txt").strip("\n"), "canonical request")
    eq(sts, read("header-string-to-sign.txt").strip("\n"), "string to sign")
    want = read("header-signature.txt").strip()
    eq(signed["Authorization"].rsplit("Signature=", 1)[1], want, "signature")

    # The double's verifier, fed the published signed request as received.
    sys.path.insert(0, HERE)
    import aws_double
    shead, _, sbody = read("header-signed-request.txt").partition("\n\n")
    slines = shead.split("\n")
    pairs = [tuple(line.split(":", 1)) for line in slines[1:]]
    auth = aws_double.parse_authorization(dict(pairs)["Authorization"])
    amz_date = dict((k.lower(), v) for k, v in pairs)["x-amz-date"]
    got, _, _ = aws_double.expected_signature(cred["secret_access_key"], auth, amz_date, method,
                                              slines[0].split(" ")[1], pairs, sbody.encode())
    eq(got, want, "the double's verifier")
    return True


# ---------------------------------------------------------------- main


def start(clock_file):
    global PORT
    proc = subprocess.Popen(
        [sys.executable, DOUBLE, "--port", "0", "--lifetime", "60", "--clock-file", clock_file,
         "--manager-key", "%s:%s" % MANAGER], stdout=subprocess.PIPE)
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline().decode() if ready else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit("aws_double did not announce a port (got %r)" % line)
    PORT = int(line.split()[1])
    return proc


def main():
    passed = failed = 0
    t0 = time.monotonic()
    try:
        if sigv4_vector():
            passed += 1
            print("ok   sigv4 test vector post-x-www-form-urlencoded")
        else:
            print("skip sigv4 test vector: %s not found" % SUITE)
    except Exception:
        failed += 1
        print("FAIL sigv4 test vector\n" + traceback.format_exc())

    with tempfile.TemporaryDirectory() as tmp:
        clock_file = os.path.join(tmp, "clock")
        proc = start(clock_file)
        try:
            for fn in TESTS:
                try:
                    control("POST", "reset")
                    control("POST", "clock", {"now": "2026-11-22T10:00:00Z"})
                    fn()
                    passed += 1
                    print("ok   %s" % fn.__name__)
                except Exception:
                    failed += 1
                    print("FAIL %s\n%s" % (fn.__name__, traceback.format_exc()))
            with open(clock_file) as f:
                eq(f.read(), "2026-11-22T10:00:00Z\n", "clock file")
            proc.terminate()
            try:
                rc = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                rc = None
            if rc == 0:
                passed += 1
                print("ok   SIGTERM exits 0")
            else:
                failed += 1
                print("FAIL SIGTERM: exit status %r" % rc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
    print("%d passed, %d failed (%.1f s)" % (passed, failed, time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
