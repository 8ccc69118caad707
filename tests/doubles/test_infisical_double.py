#!/usr/bin/env python3
"""test_infisical_double.py: self-test of the Infisical double (run by CTest).

Starts infisical_double.py on a free port with a temporary clock file and
talks to it with urllib: Universal Auth login, lock-out, renewal, token
expiry, the v3 raw and v4 secret routes, batch atomicity, versions, rotated
secrets, error shapes, rate limits and faults. Prints "N passed, M failed";
exits 1 on any failure. Standard library only.
"""

import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLE = os.path.join(HERE, "infisical_double.py")
START = "2026-11-22T10:00:00Z"
PID = "proj-1111"
CID, CSECRET = "rotor-client-id", "rotor-client-secret"
AKID, SKEY = "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"

BASE = None


class Dropped(Exception):
    pass


class Reply:
    def __init__(self, status, headers, text):
        self.status = status
        self.headers = headers
        self.text = text
        try:
            self.json = json.loads(text) if text else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.text[:300])


def request(method, path, body=None, headers=None, token=None, query=None):
    url = BASE + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return Reply(resp.status, resp.headers, resp.read().decode())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read().decode())
    except (urllib.error.URLError, ConnectionError, OSError) as e:
        raise Dropped(str(e))


def control(method, route, obj=None, query=None):
    r = request(method, "/_control/" + route, obj, query=query)
    if r.status != 200:
        raise AssertionError("control %s %s: %r" % (method, route, r))
    return r.json


# ---------------------------------------------------------------- helpers

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def check_error(r, status, error=None, message=None, req_id=True):
    """req_id=False: a 2024 server's body, which carries no reqId."""
    eq(r.status, status, "status (%r)" % (r,))
    body = r.json
    assert isinstance(body, dict), r
    eq(sorted(k for k in body if k != "details"),
       ["error", "message"] + (["reqId"] if req_id else []) + ["statusCode"], "error body keys")
    if req_id:
        assert body["reqId"].startswith("req-") and len(body["reqId"]) > 8, body["reqId"]
    eq(body["statusCode"], status, "statusCode")
    if error is not None:
        eq(body["error"], error, "error")
    if message is not None:
        eq(body["message"], message, "message")
    return body


def setup(ttl=2592000, max_ttl=2592000, grants=None):
    """Project PID with prod (/, /aws) and staging (/); identity; the pair."""
    control("POST", "projects", {"id": PID, "environments": ["prod", "staging"],
                                 "folders": {"prod": ["/aws"]}})
    control("POST", "identities", {"clientId": CID, "clientSecret": CSECRET,
                                   "accessTokenTTL": ttl, "accessTokenMaxTTL": max_ttl,
                                   "projects": grants or [{"projectId": PID}]})
    seed(AKID, "AKIAOLD0000000000001")
    seed(SKEY, "old-secret")


def seed(key, value, **kw):
    return control("POST", "secrets", dict({"projectId": PID, "environment": "prod",
                                            "secretPath": "/aws", "secretKey": key,
                                            "secretValue": value}, **kw))


def login(cid=CID, secret=CSECRET):
    return request("POST", "/api/v1/auth/universal-auth/login",
                   {"clientId": cid, "clientSecret": secret})


def token():
    r = login()
    eq(r.status, 200, "login %r" % (r,))
    return r.json["accessToken"]


def where(api="v3", env="prod", path="/aws"):
    return {("workspaceId" if api == "v3" else "projectId"): PID, "environment": env,
            "secretPath": path}


def list_secrets(tok, api="v3", **kw):
    route = "/api/v3/secrets/raw" if api == "v3" else "/api/v4/secrets"
    return request("GET", route, token=tok, query=where(api, **kw))


def get_secret(tok, name, api="v3", version=None, **kw):
    route = ("/api/v3/secrets/raw/" if api == "v3" else "/api/v4/secrets/") + name
    q = where(api, **kw)
    if version is not None:
        q["version"] = version
    return request("GET", route, token=tok, query=q)


def batch(tok, method, secrets, api="v3", mode=None, **kw):
    route = "/api/v3/secrets/batch/raw" if api == "v3" else "/api/v4/secrets/batch"
    body = dict(where(api, **kw), secrets=secrets)
    if mode:
        body["mode"] = mode
    return request(method, route, body, token=tok)


def pair(a, s):
    return [{"secretKey": AKID, "secretValue": a},
            {"secretKey": SKEY, "secretValue": s, "skipMultilineEncoding": True}]


def stored(key, env="prod", path="/aws"):
    """(current value, current version, number of versions) from /_control/state."""
    st = control("GET", "state")
    for p in st["projects"]:
        if p["id"] == PID:
            for s in p["environments"][env]["folders"][path]["secrets"]:
                if s["secretKey"] == key:
                    return s["versions"][-1]["secretValue"], s["version"], len(s["versions"])
    return None


def values(reply):
    return {s["secretKey"]: s["secretValue"] for s in reply.json["secrets"]}


# ---------------------------------------------------------------- auth


@test
def login_succeeds_with_the_documented_shape():
    setup(ttl=300, max_ttl=3600)
    r = login()
    eq(r.status, 200, "status")
    eq(list(r.json), ["accessToken", "expiresIn", "accessTokenMaxTTL", "tokenType"], "keys")
    eq((r.json["expiresIn"], r.json["accessTokenMaxTTL"], r.json["tokenType"]),
       (300, 3600, "Bearer"), "values")
    eq(len(r.json["accessToken"].split(".")), 3, "JWT-looking token")
    eq(list_secrets(r.json["accessToken"]).status, 200, "token works")


@test
def login_wrong_secret_is_401_unknown_id_is_404():
    setup()
    check_error(login(secret="nope"), 401, "UnauthorizedError", "Invalid credentials")
    check_error(login(cid="who"), 404, "NotFound", "No identity with specified client ID was found")
    check_error(request("POST", "/api/v1/auth/universal-auth/login", {"clientId": CID}),
                422, "ValidationFailure")
    control("POST", "settings", {"unknown_client_id_401": True})
    check_error(login(cid="who"), 401, "UnauthorizedError", "Invalid credentials")


@test
def three_failed_logins_lock_the_client_for_300_seconds():
    setup()
    for _ in range(3):
        check_error(login(secret="bad"), 401, message="Invalid credentials")
    body = check_error(login(), 401, "UnauthorizedError")
    assert "temporarily locked" in body["message"], body
    control("POST", "clock", {"advance": 299})
    assert "temporarily locked" in login().json["message"]
    control("POST", "clock", {"advance": 2})
    eq(login().status, 200, "after 300 s")
    # Failures spread wider than the counter-reset window never lock.
    for _ in range(4):
        check_error(login(secret="bad"), 401, message="Invalid credentials")
        control("POST", "clock", {"advance": 31})
    eq(login().status, 200, "spread failures")


@test
def renew_issues_a_new_token_and_the_old_one_keeps_its_session():
    setup(ttl=300, max_ttl=3600)
    old = token()
    control("POST", "clock", {"advance": 200})
    r = request("POST", "/api/v1/auth/token/renew", {"accessToken": old})
    eq(r.status, 200, "renew %r" % (r,))
    new = r.json["accessToken"]
    assert new != old, "newer servers sign a new token"
    eq((r.json["expiresIn"], r.json["accessTokenMaxTTL"], r.json["tokenType"]),
       (300, 3600, "Bearer"), "renew shape")
    control("POST", "clock", {"advance": 250})  # 450 s after login, 250 after renewal
    eq(list_secrets(new).status, 200, "new token")
    eq(list_secrets(old).status, 200, "old token shares the renewed session")
    control("POST", "clock", {"advance": 60})  # 310 s after the renewal: lapsed
    check_error(list_secrets(new), 401, "UnauthorizedError")
    check_error(request("POST", "/api/v1/auth/token/renew", {"accessToken": old}), 401,
                "UnauthorizedError")
    # 2024 servers: the same string back.
    control("POST", "settings", {"renew_same_token": True})
    t = token()
    r = request("POST", "/api/v1/auth/token/renew", {"accessToken": t})
    eq((r.status, r.json["accessToken"]), (200, t), "same token")


@test
def renew_past_max_ttl_is_refused():
    setup(ttl=300, max_ttl=400)
    t = token()
    control("POST", "clock", {"advance": 150})  # 150 + 300 > 400
    check_error(request("POST", "/api/v1/auth/token/renew", {"accessToken": t}), 401,
                "UnauthorizedError", "Failed to renew MI access token past its Max TTL expiration")


@test
def expired_token_is_403_token_error():
    setup(ttl=600, max_ttl=600)
    t = token()
    control("POST", "clock", {"advance": 599})
    eq(list_secrets(t).status, 200, "still valid")
    control("POST", "clock", {"advance": 1})
    check_error(list_secrets(t), 403, "TokenError",
                "Your token has expired. Please re-authenticate.")
    check_error(request("POST", "/api/v1/auth/token/renew", {"accessToken": t}), 403,
                "TokenError")
    check_error(batch(t, "PATCH", pair("a", "b")), 403, "TokenError")
    eq(stored(AKID)[1], 1, "nothing written")


@test
def revoked_unknown_and_misformatted_tokens_are_401():
    setup()
    t = token()
    check_error(list_secrets("not-a-token"), 401, "UnauthorizedError")
    for h in ("Bearer  " + t, "bearer " + t, t):
        check_error(request("GET", "/api/v3/secrets/raw", headers={"Authorization": h},
                            query=where()), 401, "UnauthorizedError")
    check_error(request("GET", "/api/v3/secrets/raw", query=where()), 401, "UnauthorizedError")
    eq(control("POST", "revoke", {"accessToken": t}), {"revoked": 1}, "revoke")
    check_error(list_secrets(t), 401, "UnauthorizedError")


# ---------------------------------------------------------------- secrets


@test
def secret_object_has_the_documented_fields():
    setup()
    r = get_secret(token(), AKID)
    eq(r.status, 200, "status %r" % (r,))
    s = r.json["secret"]
    for k in ("id", "_id", "workspace", "environment", "version", "type", "secretKey",
              "secretValue", "secretComment", "secretPath", "secretValueHidden",
              "skipMultilineEncoding", "createdAt", "updatedAt", "isRotatedSecret",
              "rotationId", "tags", "secretMetadata"):
        assert k in s, k
    eq((s["id"] == s["_id"], s["workspace"], s["environment"], s["version"], s["type"],
        s["secretValue"], s["secretPath"], s["secretValueHidden"], s["isRotatedSecret"],
        s["rotationId"], s["tags"], s["secretMetadata"], s["createdAt"]),
       (True, PID, "prod", 1, "shared", "AKIAOLD0000000000001", "/aws", False, False, None,
        [], [], "2026-11-22T10:00:00.000Z"), "fields")
    control("POST", "settings", {"legacy_fields": True})
    s = get_secret(token(), AKID, api="v4").json["secret"]
    for k in ("secretPath", "secretValueHidden", "isRotatedSecret", "rotationId",
              "secretMetadata"):
        assert k not in s, k


@test
def list_returns_both_secrets_from_one_snapshot():
    setup()
    t = token()
    for api in ("v3", "v4"):
        r = list_secrets(t, api)
        eq(r.status, 200, api)
        eq(values(r), {AKID: "AKIAOLD0000000000001", SKEY: "old-secret"}, api)
        eq(r.json["imports"], [], "imports")
    # A writer swaps the pair with batches while readers list: never a mix.
    stop = threading.Event()
    mixed, errors, reads = [], [], [0]

    def writer():
        n = 0
        while not stop.is_set():
            n += 1
            r = batch(t, "PATCH", pair("A-%d" % n, "S-%d" % n))
            if r.status != 200:
                errors.append(r)

    def reader():
        while not stop.is_set():
            v = values(list_secrets(t))
            reads[0] += 1
            if v[AKID].split("-")[-1] != v[SKEY].split("-")[-1] and \
                    not (v[AKID].startswith("AKIAOLD") and v[SKEY] == "old-secret"):
                mixed.append(v)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader)
                                                   for _ in range(2)]
    for th in threads:
        th.start()
    time.sleep(0.8)
    stop.set()
    for th in threads:
        th.join(5)
    eq(errors, [], "writer errors")
    eq(mixed[:3], [], "mixed pairs seen (first 3)")
    assert reads[0] > 5, reads


@test
def snapshot_restore_returns_to_the_copy():
    setup()
    t = token()
    control("POST", "snapshot", {"name": "s1"})
    before = control("GET", "state")
    calls = control("GET", "calls")
    eq(batch(t, "PATCH", pair("AKIANEW", "new-secret")).status, 200, "write")
    control("POST", "revoke", {"clientId": CID})
    control("POST", "faults", {"rules": [{"match": "list", "kind": "error500"}]})
    for _ in range(2):  # a snapshot can be restored again and again
        eq(control("POST", "restore", {"name": "s1"}), {"restored": "s1"}, "restore")
        eq(control("GET", "state"), before, "state after restore")
        eq(control("GET", "calls"), calls, "call log after restore")
        eq(control("GET", "faults")["rules"], [], "fault rules after restore")
        # the token issued before the snapshot works again, and so do writes
        eq(values(list_secrets(t)), {AKID: "AKIAOLD0000000000001", SKEY: "old-secret"}, "list")
        eq(batch(t, "PATCH", pair("AKIANEW", "new-secret")).status, 200, "write again")
    eq(request("POST", "/_control/restore", {"name": "nope"}).status, 404, "unknown snapshot")


@test
def v3_batch_patch_updates_both_and_bumps_versions():
    setup()
    t = token()
    r = batch(t, "PATCH", pair("AKIANEW", "new-secret"))
    eq(r.status, 200, "status %r" % (r,))
    eq([(s["secretKey"], s["secretValue"], s["version"]) for s in r.json["secrets"]],
       [(AKID, "AKIANEW", 2), (SKEY, "new-secret", 2)], "reply")
    eq(r.json["secrets"][1]["skipMultilineEncoding"], True, "skipMultilineEncoding")
    eq(values(list_secrets(t)), {AKID: "AKIANEW", SKEY: "new-secret"}, "list")
    r = batch(t, "PATCH", pair("AKIANEW", "new-secret"))  # same values: still a new version
    eq([s["version"] for s in r.json["secrets"]], [3, 3], "same value bumps")


@test
def batch_with_a_missing_name_is_404_and_writes_nothing():
    setup()
    t = token()
    before = (stored(AKID), stored(SKEY))
    items = [{"secretKey": AKID, "secretValue": "AKIANEW"},
             {"secretKey": "NOPE", "secretValue": "x"}]
    body = check_error(batch(t, "PATCH", items), 404, "NotFound")
    assert "NOPE" in body["message"], body
    check_error(batch(t, "PATCH", items, api="v4", mode="failOnNotFound"), 404, "NotFound")
    check_error(batch(t, "PATCH", items, api="v4"), 404, "NotFound")  # default mode
    eq((stored(AKID), stored(SKEY)), before, "both unchanged")
    assert stored("NOPE") is None


@test
def v3_batch_post_creates_and_refuses_existing_names():
    setup()
    t = token()
    r = batch(t, "POST", [{"secretKey": "A", "secretValue": "1"},
                          {"secretKey": "B", "secretValue": "2"}], path="/")
    eq(r.status, 200, "create %r" % (r,))
    eq([(s["secretKey"], s["version"], s["secretPath"]) for s in r.json["secrets"]],
       [("A", 1, "/"), ("B", 1, "/")], "created")
    r = batch(t, "POST", [{"secretKey": "C", "secretValue": "3"},
                          {"secretKey": AKID, "secretValue": "x"}])
    check_error(r, 400, "BadRequest")
    assert stored("C") is None, "nothing created"
    eq(stored(AKID)[1], 1, "existing untouched")
    r = batch(t, "POST", [{"secretKey": "D", "secretValue": "4"}], api="v4")
    eq(r.status, 200, "v4 create")


@test
def v4_upsert_creates_missing_names_and_ignore_skips_them():
    setup()
    t = token()
    r = batch(t, "PATCH", [{"secretKey": AKID, "secretValue": "AKIAUP"},
                           {"secretKey": "NEW_ONE", "secretValue": "fresh"}],
              api="v4", mode="upsert")
    eq(r.status, 200, "upsert %r" % (r,))
    eq([(s["secretKey"], s["version"]) for s in r.json["secrets"]],
       [(AKID, 2), ("NEW_ONE", 1)], "upserted")
    eq(stored("NEW_ONE")[0], "fresh", "created")
    r = batch(t, "PATCH", [{"secretKey": SKEY, "secretValue": "s2"},
                           {"secretKey": "GHOST", "secretValue": "g"}], api="v4", mode="ignore")
    eq((r.status, [s["secretKey"] for s in r.json["secrets"]]), (200, [SKEY]), "ignore")
    assert stored("GHOST") is None
    check_error(batch(t, "PATCH", pair("a", "b"), api="v4", mode="sometimes"), 422,
                "ValidationFailure")


@test
def single_create_update_and_read():
    setup()
    t = token()
    r = request("POST", "/api/v4/secrets/ONE", dict(where("v4"), secretValue="  one \n\n"),
                token=t)
    eq((r.status, r.json["secret"]["secretValue"]), (200, "one\n"), "create trims")
    check_error(request("POST", "/api/v3/secrets/raw/ONE", dict(where(), secretValue="x"),
                        token=t), 400, "BadRequest")
    r = request("PATCH", "/api/v3/secrets/raw/ONE", dict(where(), secretValue="  two  "),
                token=t)
    eq((r.status, r.json["secret"]["secretValue"], r.json["secret"]["version"]),
       (200, "two", 2), "update trims, bumps")
    check_error(request("PATCH", "/api/v4/secrets/NONE", dict(where("v4"), secretValue="x"),
                        token=t), 404, "NotFound")
    check_error(get_secret(t, "NONE"), 404, "NotFound", "Secret with name 'NONE' not found")
    control("POST", "settings", {"legacy_missing_secret_400": True})
    check_error(get_secret(t, "NONE", api="v4"), 400, "BadRequest", "Secret not found")


@test
def version_param_returns_that_version():
    setup()
    t = token()
    batch(t, "PATCH", pair("AKIAV2", "s-v2"))
    batch(t, "PATCH", pair("AKIAV3", "s-v3"))
    for api in ("v3", "v4"):
        s = get_secret(t, AKID, api=api, version=1).json["secret"]
        eq((s["version"], s["secretValue"]), (1, "AKIAOLD0000000000001"), api + " v1")
        s = get_secret(t, SKEY, api=api, version=2).json["secret"]
        eq((s["version"], s["secretValue"]), (2, "s-v2"), api + " v2")
        s = get_secret(t, SKEY, api=api).json["secret"]
        eq((s["version"], s["secretValue"]), (3, "s-v3"), api + " current")
    check_error(get_secret(t, AKID, version=9), 404, "NotFound")
    check_error(get_secret(t, AKID, version="abc"), 422, "ValidationFailure")
    # Servers before April 2025 ignore ?version.
    control("POST", "settings", {"honour_version_param": False})
    s = get_secret(t, AKID, version=1).json["secret"]
    eq((s["version"], s["secretValue"]), (3, "AKIAV3"), "current instead")
    control("POST", "settings", {"dishonoured_version": "oldest"})
    s = get_secret(t, AKID, version=2).json["secret"]
    eq(s["version"], 1, "some other row")


@test
def rotated_secrets_keep_their_value():
    setup()
    seed(AKID, None, isRotatedSecret=True)
    t = token()
    r = batch(t, "PATCH", pair("AKIANEW", "new-secret"))
    eq(r.status, 200, "batch %r" % (r,))
    eq(stored(AKID)[:2], ("AKIAOLD0000000000001", 1), "rotated: value and version kept")
    eq(stored(SKEY)[:2], ("new-secret", 2), "the other one is written")
    eq(r.json["secrets"][0]["isRotatedSecret"], True, "flag shown")
    assert r.json["secrets"][0]["rotationId"], "rotationId"
    check_error(request("PATCH", "/api/v3/secrets/raw/" + AKID,
                        dict(where(), secretValue="x"), token=t), 400, "BadRequest")
    eq(stored(AKID)[:2], ("AKIAOLD0000000000001", 1), "single PATCH refused")


@test
def missing_folder_environment_and_project():
    setup()
    t = token()
    msg = "Folder with path '/gcp' in environment with slug 'prod' not found"
    check_error(batch(t, "PATCH", pair("a", "b"), path="/gcp"), 404, "UpdateManySecret", msg)
    check_error(batch(t, "POST", pair("a", "b"), path="/gcp"), 404, "CreateManySecret", msg)
    check_error(get_secret(t, AKID, path="/gcp"), 404, "GetSecretByName", msg)
    check_error(get_secret(t, AKID, env="dev"), 404, "GetSecretByName",
                "Folder with path '/aws' in environment with slug 'dev' not found")
    check_error(request("PATCH", "/api/v4/secrets/X", dict(where("v4", path="/gcp"),
                                                           secretValue="x"), token=t),
                404, "UpdateSecret", msg)
    body = check_error(list_secrets(t, path="/gcp"), 404, "SecretPathNotFound")
    assert "/gcp" in body["message"], body
    r = request("GET", "/api/v3/secrets/raw", token=t,
                query={"workspaceId": "nope", "environment": "prod"})
    check_error(r, 404, "NotFound", "Project with ID 'nope' not found")
    eq(list_secrets(t, path="/aws/").status, 200, "trailing slash")


@test
def membership_and_permissions():
    setup(grants=[{"projectId": PID, "environments": ["prod"], "paths": ["/aws"],
                   "write": False}])
    control("POST", "projects", {"id": "other", "environments": ["prod"]})
    t = token()
    eq(list_secrets(t).status, 200, "read allowed")
    check_error(list_secrets(t, env="staging", path="/"), 403, "PermissionDenied")
    check_error(list_secrets(t, path="/"), 403, "PermissionDenied")
    check_error(batch(t, "PATCH", pair("a", "b")), 403, "PermissionDenied")
    r = request("GET", "/api/v4/secrets", token=t,
                query={"projectId": "other", "environment": "prod"})
    check_error(r, 403, "Identity is not a member of the specified project with ID 'other'")
    eq(stored(AKID)[1], 1, "nothing written")


@test
def recursive_list_names_each_secrets_folder():
    setup(grants=[{"projectId": PID, "paths": ["/aws", "/aws/a", "/aws/a/**", "/"]}])
    for f in ("/aws/a/deep", "/aws/hidden", "/other"):
        control("POST", "folders", {"projectId": PID, "environment": "prod", "path": f})
    seed(AKID, "AKIAA", secretPath="/aws/a")
    seed(AKID, "AKIADEEP", secretPath="/aws/a/deep")
    seed(AKID, "AKIAHIDDEN", secretPath="/aws/hidden")
    seed(AKID, "AKIAOTHER", secretPath="/other")
    t = token()
    q = dict(where(), recursive="true", include_imports="false",
             expandSecretReferences="false")
    r = request("GET", "/api/v3/secrets/raw", token=t, query=q)
    eq(r.status, 200, "recursive list %r" % (r,))
    got = sorted((x["secretPath"], x["secretKey"], x["secretValue"]) for x in r.json["secrets"])
    # /aws/hidden is not readable: left out silently; /other is outside /aws
    eq(got, [("/aws", AKID, "AKIAOLD0000000000001"), ("/aws", SKEY, "old-secret"),
             ("/aws/a", AKID, "AKIAA"), ("/aws/a/deep", AKID, "AKIADEEP")], "secrets")
    eq(r.json["imports"], [], "imports")
    # the order is the secrets' ids, not their paths
    ids = [x["id"] for x in r.json["secrets"]]
    eq(ids, sorted(ids), "ordered by id")
    bad = dict(q, recursive="yes")
    eq(request("GET", "/api/v3/secrets/raw", token=t, query=bad).status, 422, "bad boolean")
    # a 2024 server strips the parameter: the one folder, no secretPath
    control("POST", "settings", {"preset": "server-2024"})
    r = request("GET", "/api/v3/secrets/raw", token=t, query=q)
    eq(r.status, 200, "2024 list")
    eq(sorted(x["secretKey"] for x in r.json["secrets"]), [AKID, SKEY], "one folder")
    assert all("secretPath" not in x for x in r.json["secrets"]), r.json


@test
def recursive_list_stops_twenty_levels_below_the_root():
    setup()
    deep = "/aws" + "".join("/l%d" % i for i in range(2, 22))  # 21 levels
    control("POST", "folders", {"projectId": PID, "environment": "prod", "path": deep})
    seed(AKID, "AKIA20", secretPath=deep.rsplit("/", 1)[0])
    seed(AKID, "AKIA21", secretPath=deep)
    t = token()
    r = request("GET", "/api/v3/secrets/raw", token=t, query=dict(where(), recursive="true"))
    vals = sorted(x["secretValue"] for x in r.json["secrets"] if x["secretKey"] == AKID)
    eq(vals, ["AKIA20", "AKIAOLD0000000000001"], "21st level left out")


@test
def validation_failures_are_422_with_an_array_message():
    setup()
    t = token()
    body = check_error(batch(t, "PATCH", []), 422, "ValidationFailure")
    assert isinstance(body["message"], list), body
    eq((body["message"][0]["code"], body["message"][0]["path"]), ("too_small", ["secrets"]),
       "issue")
    r = request("PATCH", "/api/v3/secrets/batch/raw",
                {"workspaceId": PID, "secretPath": "/aws", "secrets": pair("a", "b")}, token=t)
    body = check_error(r, 422, "ValidationFailure")
    eq(body["message"][0]["path"], ["environment"], "missing environment")
    eq(body["message"][0]["message"], "Required", "zod message")
    r = request("GET", "/api/v4/secrets", token=t, query={"projectId": PID})
    check_error(r, 422, "ValidationFailure")
    check_error(batch(t, "PATCH", [{"secretKey": AKID}]), 422, "ValidationFailure")  # v3 value
    control("POST", "settings", {"validation_401": True})
    check_error(batch(t, "PATCH", []), 401, "ValidationFailure")
    eq(stored(AKID)[1], 1, "nothing written")


@test
def rate_limit_is_429_with_retry_after():
    setup()
    t = token()
    control("POST", "settings", {"secret_reads_per_minute": 2})
    eq(list_secrets(t).status, 200, "1")
    control("POST", "clock", {"advance": 18})
    eq(get_secret(t, AKID).status, 200, "2")
    r = list_secrets(t)
    check_error(r, 429, "RateLimitExceeded", "Rate limit exceeded. Please try again in 1 minute")
    eq(r.headers.get("Retry-After"), "42", "seconds left in the window")
    eq(batch(t, "PATCH", pair("a", "b")).status, 200, "writes are another class")
    control("POST", "settings", {"rate_limit_message_seconds": True, "retry_after_header": False})
    r = list_secrets(t)
    check_error(r, 429, "RateLimitExceeded", "Rate limit exceeded. Please try again in 42 seconds")
    eq(r.headers.get("Retry-After"), None, "no header")
    control("POST", "clock", {"advance": 42})
    eq(list_secrets(t).status, 200, "new window")
    control("POST", "settings", {"logins_per_minute": 1})
    eq(login().status, 200, "login 1")
    check_error(login(), 429, "RateLimitExceeded")


@test
def faults():
    setup()
    t = token()
    control("POST", "faults", {"rules": [{"match": "list", "kind": "throttle"}]})
    r = list_secrets(t)
    check_error(r, 429, "RateLimitExceeded")
    eq(r.headers.get("Retry-After"), "60", "throttle Retry-After")
    eq(list_secrets(t).status, 200, "count 1")
    control("POST", "faults", {"rules": [{"match": "v3:batch_update", "kind": "error500"}]})
    check_error(batch(t, "PATCH", pair("a", "b")), 500, "InternalServerError")
    eq(batch(t, "PATCH", pair("a", "b"), api="v4").status, 200, "v4 not matched")
    control("POST", "faults", {"rules": [{"match": "login", "kind": "drop"}]})
    try:
        login()
        raise AssertionError("login was not dropped")
    except Dropped:
        pass
    control("POST", "faults", {"rules": [{"match": "get", "kind": "error", "status": 503,
                                          "code": "ServiceUnavailable", "message": "busy"}]})
    check_error(get_secret(t, AKID), 503, "ServiceUnavailable", "busy")
    got = control("GET", "faults")
    eq((got["rules"][0]["applied"], got["calls"].get("get")), (1, 1), "fault counts")
    control("DELETE", "faults")
    eq(get_secret(t, AKID).status, 200, "cleared")


@test
def a_mid_batch_fault_leaves_both_secrets_untouched():
    setup()
    t = token()
    before = (stored(AKID), stored(SKEY))
    control("POST", "faults", {"rules": [{"match": "batch_update_mid", "kind": "error500"}]})
    check_error(batch(t, "PATCH", pair("AKIAHALF", "half")), 500, "InternalServerError")
    eq((stored(AKID), stored(SKEY)), before, "error500: both unchanged")
    got = control("GET", "faults")
    eq((got["calls"].get("batch_update"), got["calls"].get("batch_update_mid"),
        got["rules"][0]["applied"]), (1, 1, 1), "the mid point was reached and fired")
    control("POST", "faults", {"rules": [{"match": "batch_update_mid", "kind": "drop"}]})
    try:
        batch(t, "PATCH", pair("AKIAHALF", "half"), api="v4", mode="upsert")
        raise AssertionError("not dropped")
    except Dropped:
        pass
    eq((stored(AKID), stored(SKEY)), before, "drop: both unchanged")
    control("POST", "faults", {"rules": [{"match": "batch_create_mid", "kind": "error500"}]})
    check_error(batch(t, "POST", [{"secretKey": "N1", "secretValue": "1"},
                                  {"secretKey": "N2", "secretValue": "2"}]), 500)
    assert stored("N1") is None and stored("N2") is None, "create rolled back"
    # A "*" rule does not fire at the mid point (its second match would).
    control("POST", "faults", {"rules": [{"match": "*", "kind": "error500", "after": 1}]})
    eq(batch(t, "PATCH", pair("AKIASTAR", "star")).status, 200, "'*' skips the mid point")
    eq(stored(AKID)[0], "AKIASTAR", "written")
    # drop_after commits, then drops.
    control("POST", "faults", {"rules": [{"match": "batch_update", "kind": "drop_after"}]})
    try:
        batch(t, "PATCH", pair("AKIAAFTER", "after"))
        raise AssertionError("not dropped")
    except Dropped:
        pass
    eq((stored(AKID)[0], stored(SKEY)[0]), ("AKIAAFTER", "after"), "drop_after wrote both")


@test
def call_log_names_routes_and_token_ids_never_secrets():
    setup()
    t = token()
    batch(t, "PATCH", pair("AKIASECRETVALUE", "very-secret-value"))
    get_secret(t, AKID, version=1)
    calls = control("GET", "calls")["calls"]
    eq([(c["route"], c["api"], c["method"], c["status"]) for c in calls],
       [("login", "auth", "POST", 200), ("batch_update", "v3", "PATCH", 200),
        ("get", "v3", "GET", 200)], "calls")
    session = control("GET", "state")["sessions"][0]["tokenId"]
    eq({c["tokenId"] for c in calls}, {session}, "token ids")
    text = json.dumps(calls)
    for s in (t, CSECRET, "AKIASECRETVALUE", "very-secret-value", "AKIAOLD"):
        assert s not in text, "call log leaks %s" % s[:10]
    since = calls[-1]["seq"]
    list_secrets(t)
    eq(len(control("GET", "calls", query={"since": since})["calls"]), 1, "since")


@test
def server_2024_preset():
    setup()
    control("POST", "settings", {"preset": "server-2024"})
    t = token()
    check_error(list_secrets(t, "v4"), 404, req_id=False)
    r = request("POST", "/api/v1/auth/token/renew", {"accessToken": t})
    eq(r.json["accessToken"], t, "same token")
    r = request("PATCH", "/api/v3/secrets/raw/" + AKID, dict(where(), secretValue="x"), token=t)
    eq((r.json["secret"]["secretComment"], "secretPath" in r.json["secret"]), ("", False),
       "2024 shape")
    body = check_error(batch(t, "POST", pair("a", "b")), 400, "BadRequest", req_id=False)
    eq(body["message"], "Secret already exist", "2024 wording")
    # error bodies without reqId
    r = request("GET", "/api/v3/secrets/raw/NOPE", token=t, query=where())
    eq((r.status, "reqId" in r.json), (404, False), "2024 error bodies carry no reqId")
    # a missing folder or environment lists as empty (newer servers: 404)
    eq(list_secrets(t, path="/nope").json, {"secrets": [], "imports": []}, "missing folder")
    eq(list_secrets(t, env="nope").json, {"secrets": [], "imports": []}, "missing env")


@test
def folders_route_lists_children_and_404s_a_missing_environment():
    setup()
    control("POST", "folders", {"projectId": PID, "environment": "prod", "path": "/a/b"})
    t = token()
    q = {"workspaceId": PID, "environment": "prod"}
    r = request("GET", "/api/v1/folders", token=t, query=dict(q, path="/"))
    eq(sorted(f["name"] for f in r.json["folders"]), ["a", "aws"], "root's children")
    r = request("GET", "/api/v1/folders", token=t, query=dict(q, directory="/a"))
    eq([f["name"] for f in r.json["folders"]], ["b"], "the older directory= parameter")
    r = request("GET", "/api/v1/folders", token=t, query=dict(q, path="/nope"))
    eq(r.json, {"folders": []}, "a missing parent: empty")
    r = request("GET", "/api/v1/folders", token=t, query=dict(q, environment="nope"))
    body = check_error(r, 404, "NotFound")
    eq(body["message"], "Environment with slug 'nope' not found")
    check_error(request("GET", "/api/v1/folders", query=q), 401)


@test
def rate_limit_as_500_like_the_2024_server():
    setup()
    control("POST", "settings", {"rate_limit_as_500": True, "secret_reads_per_minute": 1})
    t = token()
    r = list_secrets(t)
    eq((r.status, r.headers.get("x-ratelimit-remaining")), (200, "0"), "the last allowed")
    r = list_secrets(t)
    body = check_error(r, 500, "InternalServerError", "Something went wrong")
    eq((r.headers.get("x-ratelimit-remaining"), bool(r.headers.get("Retry-After"))),
       ("0", True), "throttling headers on the 500")


# ---------------------------------------------------------------- main


def start(clock_file):
    global BASE
    proc = subprocess.Popen([sys.executable, DOUBLE, "--port", "0", "--lifetime", "60",
                             "--clock-file", clock_file], stdout=subprocess.PIPE)
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline().decode() if ready else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit("infisical_double did not announce a port (got %r)" % line)
    BASE = "http://127.0.0.1:%d" % int(line.split()[1])
    return proc


def main():
    passed = failed = 0
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        clock_file = os.path.join(tmp, "clock")
        proc = start(clock_file)
        try:
            for fn in TESTS:
                try:
                    control("POST", "reset")
                    control("POST", "clock", {"now": START})
                    fn()
                    passed += 1
                    print("ok   %s" % fn.__name__)
                except Exception:
                    failed += 1
                    print("FAIL %s\n%s" % (fn.__name__, traceback.format_exc()))
            control("POST", "clock", {"now": START})
            with open(clock_file) as f:
                eq(f.read(), START + "\n", "clock file")
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
