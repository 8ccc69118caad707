#!/usr/bin/env python3
"""github_double.py: a GitHub REST API test double (Actions secrets) for rotor.

Usage: github_double.py --port 0 --lifetime SECONDS [--clock-file PATH] [--verbose]

Needs PyNaCl (Debian: python3-nacl, seen by /usr/bin/python3): every sealed
box rotor sends is decrypted, so a test reads the value GitHub would hold.

Plays the part of the API that rotor uses, as /work/shared/api/consumers.md
and GitHub's REST reference describe it:

- Secrets of a repository (`/repos/{owner}/{repo}/actions/secrets`), of one
  of its environments (`/repos/{owner}/{repo}/environments/{env}/secrets`)
  and of an organisation (`/orgs/{org}/actions/secrets`): `GET
  .../public-key` -> {key_id, key} (a base64 X25519 public key; each target
  has its own pair); `PUT .../{name}` {encrypted_value, key_id} (organisation:
  + visibility all|private|selected, selected_repository_ids) -> 201 created
  or 204 updated, the sealed box decrypted with the target's private key (a
  key_id that is not the current one: 422; a box that does not open: 422);
  `GET .../{name}` -> {name, created_at, updated_at} (never the value), 404
  when absent. Names: [A-Za-z0-9_], not starting with a digit or GITHUB_,
  case-insensitive (stored upper case); values up to 48 KB; 100 secrets per
  repository or environment, 1,000 per organisation.
- `GET /repos/{owner}/{repo}` -> {id, full_name} (organisation secrets take
  numeric repository ids).
- `POST /app/installations/{id}/access_tokens` with `Authorization: Bearer
  <JWT>`: an RS256 JWT signed with the App's private key (checked with the
  App's public key by `openssl dgst -verify`), iss = the App id, exp at most
  10 minutes after iat, not expired -> 201 {token, expires_at (1 hour)}.
- Headers: a `User-Agent` is required (else 403 "Request forbidden by
  administrative rules..."); `X-GitHub-Api-Version`, when sent, must be
  2022-11-28 (else 400); `Authorization: Bearer TOKEN`: unknown or expired
  -> 401 "Bad credentials"; a token sees the repositories, environments and
  organisations it is given (else 404 "Not Found", as GitHub hides what a
  token may not see); a read-only token gets 403 "Resource not accessible
  by personal access token" on PUT.
- Errors are {"message", "documentation_url"}; every reply carries
  `X-GitHub-Request-Id` and x-ratelimit-limit/-remaining/-used/-reset/
  -resource (5,000 an hour per token on the shared clock; used up: 403
  "API rate limit exceeded ..." with remaining 0).
- Faults (doublelib): match names `public-key`, `secret:GET`, `secret:PUT`,
  `repo`, `access_tokens` (or `*`), or one target's: `raxx/api:secret:PUT`,
  `raxx/api@production:public-key`, `org:raxx:secret:PUT`; kind throttle
  answers a secondary rate limit: 403 with `retry-after: 1`.

Control routes (JSON): POST /_control/repos {"full_name", "environments": []};
POST /_control/orgs {"name"}; POST /_control/tokens {"token", "scopes": [targets]
| "*", "read_only"?}; POST /_control/apps {"id", "installation_id",
"public_key_pem", "scopes"}; POST /_control/secret {"target", "name", "value"}
(a change by someone else); GET /_control/state (targets, secrets with their
decrypted values, updated_at, write counts); plus doublelib's faults, calls,
clock, snapshot. A target is "owner/repo", "owner/repo@env" or "org:NAME".
"""

import base64
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import uuid

try:
    from nacl.public import PrivateKey, SealedBox
except ImportError:  # say what to install, not a traceback
    sys.stderr.write("github_double: needs PyNaCl: apt-get install python3-nacl and run it "
                     "with /usr/bin/python3\n")
    sys.exit(3)

import doublelib
from doublelib import BadRequest, iso

DOCS = "https://docs.github.com/rest/actions/secrets"
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RATE_LIMIT = 5000


class ApiError(Exception):
    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Target:
    def __init__(self, name, limit):
        self.name, self.limit = name, limit
        self.key = PrivateKey.generate()
        self.key_id = str(3380204578043523366 + abs(hash(name)) % 10 ** 6)
        self.secrets = {}  # NAME -> {"value", "created_at", "updated_at", "writes"}


class State(doublelib.State):
    def reset(self):
        with self.lock:
            self.targets = {}   # "owner/repo" | "owner/repo@env" | "org:NAME" -> Target
            self.repo_ids = {}  # "owner/repo" -> id
            self.tokens = {}    # token -> {"scopes", "read_only", "expires", "used", "window"}
            self.apps = {}      # app id -> {"installation_id", "pem", "scopes"}
            self.calls = []
            self.seq = 0


def verify_jwt(jwt, pem, now):
    """The App id (iss) of a valid RS256 JWT signed by pem's key; raises ApiError."""
    def bad(why):
        return ApiError(401, "A JSON web token could not be decoded" if why == "decode"
                        else "'Expiration time' claim ('exp') must be a numeric value "
                        "representing the future time at which the assertion expires"
                        if why == "exp" else "Integration not found" if why == "iss"
                        else "A JSON web token could not be decoded")
    parts = jwt.split(".")
    if len(parts) != 3:
        raise bad("decode")
    def unb64(s):
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    try:
        header, claims, sig = json.loads(unb64(parts[0])), json.loads(unb64(parts[1])), unb64(parts[2])
    except ValueError:
        raise bad("decode")
    if header.get("alg") != "RS256":
        raise bad("decode")
    with tempfile.TemporaryDirectory() as d:
        for name, data in (("pub.pem", pem.encode()), ("sig", sig),
                           ("data", ("%s.%s" % (parts[0], parts[1])).encode())):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        ok = subprocess.run(["openssl", "dgst", "-sha256", "-verify", os.path.join(d, "pub.pem"),
                             "-signature", os.path.join(d, "sig"), os.path.join(d, "data")],
                            capture_output=True).returncode == 0
    if not ok:
        raise bad("decode")
    t = now.timestamp()
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= t or \
            claims["exp"] - claims.get("iat", 0) > 600:
        raise bad("exp")
    return str(claims.get("iss"))


class Handler(doublelib.ControlRoutes, doublelib.QuietHandler):
    server_version = "github-double/1"

    def reply(self, status, obj, headers):
        if status == 204:
            self.send_response(204)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        doublelib.send_body(self, status, json.dumps(obj) + "\n", "application/json; charset=utf-8",
                            headers)

    def route(self, path):
        """(route name, target, secret name) or None."""
        p = [urllib.parse.unquote(x) for x in path.strip("/").split("/")]
        if len(p) == 4 and p[0] == "app" and p[1] == "installations" and p[3] == "access_tokens" \
                and self.command == "POST":
            return "access_tokens", p[2], None
        if len(p) == 3 and p[0] == "repos" and self.command == "GET":
            return "repo", "%s/%s" % (p[1], p[2]), None
        tail = None
        if len(p) >= 5 and p[0] == "repos" and p[3] == "actions" and p[4] == "secrets":
            target, tail = "%s/%s" % (p[1], p[2]), p[5:]
        elif len(p) >= 6 and p[0] == "repos" and p[3] == "environments" and p[5] == "secrets":
            target, tail = "%s/%s@%s" % (p[1], p[2], p[4]), p[6:]
        elif len(p) >= 4 and p[0] == "orgs" and p[2] == "actions" and p[3] == "secrets":
            target, tail = "org:%s" % p[1], p[4:]
        if tail is None or len(tail) != 1:
            return None
        if tail[0] == "public-key" and self.command == "GET":
            return "public-key", target, None
        if self.command in ("GET", "PUT"):
            return "secret:" + self.command, target, tail[0]
        return None

    def api(self):
        st = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        h = uuid.uuid4().hex.upper()
        headers = {"X-GitHub-Request-Id": "%s:%s:%s:%s:%s" % (h[0:4], h[4:10], h[10:17], h[17:24],
                                                              h[24:32])}
        entry = {"time": iso(self.server.clock.now()), "method": self.command, "path": path,
                 "route": None, "status": None, "error": None, "fault": None}
        try:
            raw = doublelib.read_body(self)
        except BadRequest as e:
            self.close_connection = True
            return self.reply(e.status, {"message": str(e)}, headers)
        found = self.route(path)
        entry["route"] = found[0] if found else None
        # a rule may name the route ("secret:PUT") or the route of one target
        # ("raxx/api:secret:PUT", "raxx/api@production:public-key")
        fault = self.server.faults.check(found[0] if found else "unknown",
                                         found[1] if found else None)
        if fault:
            entry["fault"] = fault.kind
            doublelib.fault_pause(fault)
            if fault.kind in ("drop", "hang"):
                entry["status"] = 0
                st.log(entry)
                return doublelib.drop_connection(self)
            if fault.kind in ("throttle", "error500", "error"):
                if fault.kind == "throttle":
                    status, msg = 403, ("You have exceeded a secondary rate limit. Please wait a "
                                        "few minutes before you try again.")
                    headers["retry-after"] = "1"
                elif fault.kind == "error500":
                    status, msg = 500, "Server Error"
                else:
                    status, msg = fault.status, fault.message or "Injected fault"
                entry["status"], entry["error"] = status, msg
                st.log(entry)
                return self.reply(status, {"message": msg, "documentation_url": DOCS}, headers)
        with st.lock:
            try:
                status, obj = self.handle_api(st, found, raw, headers)
            except ApiError as e:
                headers.update(e.headers)
                status, obj = e.status, {"message": e.message, "documentation_url": DOCS}
                entry["error"] = e.message
        entry["status"] = status
        st.log(entry)
        if fault and fault.kind == "drop_after":
            return doublelib.drop_connection(self)
        self.reply(status, obj, headers)

    def rate(self, st, token, headers, now):
        t = st.tokens[token]
        hour = int(now.timestamp()) // 3600
        if t["window"] != hour:
            t["window"], t["used"] = hour, 0
        reset = (hour + 1) * 3600
        left = RATE_LIMIT - t["used"]
        headers.update({"x-ratelimit-limit": str(RATE_LIMIT), "x-ratelimit-reset": str(reset),
                        "x-ratelimit-resource": "core"})
        if left <= 0:
            headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-used": str(RATE_LIMIT)})
            raise ApiError(403, "API rate limit exceeded for user ID 1. If you reach out to GitHub "
                           "Support for help, please include the request ID %s."
                           % headers["X-GitHub-Request-Id"])
        t["used"] += 1
        headers.update({"x-ratelimit-remaining": str(left - 1), "x-ratelimit-used": str(t["used"])})

    def handle_api(self, st, found, raw, headers):
        now = self.server.clock.now()
        if not self.headers.get("User-Agent"):
            raise ApiError(403, "Request forbidden by administrative rules. Please make sure your "
                           "request has a User-Agent header "
                           "(https://docs.github.com/en/rest/overview/resources-in-the-rest-api"
                           "#user-agent-required). Check https://developer.github.com for other "
                           "possible causes.")
        version = self.headers.get("X-GitHub-Api-Version")
        if version is not None and version != "2022-11-28":
            raise ApiError(400, "Unsupported 'X-GitHub-Api-Version' provided. Supported versions "
                           "are: 2022-11-28")
        if found is None:
            raise ApiError(404, "Not Found")
        route, target, name = found
        auth = self.headers.get("Authorization", "")
        bearer = auth[7:] if auth.startswith("Bearer ") else auth[6:] if auth.startswith("token ") else None
        if route == "access_tokens":
            app = next((a for a in st.apps.values() if str(a["installation_id"]) == target), None)
            if bearer is None:
                raise ApiError(401, "A JSON web token could not be decoded")
            if app is None:
                raise ApiError(404, "Not Found")
            iss = verify_jwt(bearer, app["pem"], now)
            if iss != str(app["id"]):
                raise ApiError(401, "Integration not found")
            token = "ghs_" + uuid.uuid4().hex
            expires = now + datetime.timedelta(hours=1)
            st.tokens[token] = {"scopes": app["scopes"], "read_only": False,
                                "expires": expires, "used": 0, "window": -1}
            return 201, {"token": token, "expires_at": iso(expires),
                         "permissions": {"secrets": "write"}}
        t = st.tokens.get(bearer) if bearer else None
        if t is None or (t["expires"] is not None and t["expires"] <= now):
            raise ApiError(401, "Bad credentials")
        self.rate(st, bearer, headers, now)
        scope_name = target.split("@")[0] if not target.startswith("org:") else target
        if t["scopes"] != "*" and scope_name not in t["scopes"] and target not in t["scopes"]:
            raise ApiError(404, "Not Found")
        if route == "repo":
            if target not in st.repo_ids:
                raise ApiError(404, "Not Found")
            return 200, {"id": st.repo_ids[target], "full_name": target}
        tg = st.targets.get(target)
        if tg is None:
            raise ApiError(404, "Not Found")
        if route == "public-key":
            return 200, {"key_id": tg.key_id,
                         "key": base64.b64encode(bytes(tg.key.public_key)).decode()}
        upper = name.upper()
        if route == "secret:GET":
            s = tg.secrets.get(upper)
            if s is None:
                raise ApiError(404, "Not Found")
            out = {"name": upper, "created_at": s["created_at"], "updated_at": s["updated_at"]}
            if target.startswith("org:"):
                out["visibility"] = s.get("visibility")
            return 200, out
        # PUT
        if t["read_only"]:
            raise ApiError(403, "Resource not accessible by personal access token")
        if not NAME_RE.match(name) or upper.startswith("GITHUB_"):
            raise ApiError(422, "Secret names can only contain alphanumeric characters ([a-z], "
                           "[A-Z], [0-9]) or underscores (_), must not start with a number or "
                           "GITHUB_")
        try:
            body = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "Problems parsing JSON")
        if not isinstance(body, dict) or not isinstance(body.get("encrypted_value"), str) \
                or not isinstance(body.get("key_id"), str):
            raise ApiError(422, "Invalid request.\n\n\"encrypted_value\" and \"key_id\" are "
                           "required.")
        if body["key_id"] != tg.key_id:
            raise ApiError(422, "Bad request - key_id does not match the current public key")
        try:
            value = SealedBox(tg.key).decrypt(base64.b64decode(body["encrypted_value"],
                                                               validate=True)).decode("utf-8")
        except Exception:
            raise ApiError(422, "Bad request - the encrypted value could not be decrypted")
        if len(value.encode()) > 48 * 1024:
            raise ApiError(422, "Secret value too large (48 KB maximum)")
        extra = {}
        if target.startswith("org:"):
            vis = body.get("visibility")
            if vis not in ("all", "private", "selected"):
                raise ApiError(422, "Invalid request.\n\n\"visibility\" is required: all, "
                               "private or selected.")
            ids = body.get("selected_repository_ids")
            if vis == "selected" and (not isinstance(ids, list) or
                                      not all(isinstance(i, int) for i in ids)):
                raise ApiError(422, "Invalid request.\n\n\"selected_repository_ids\" must be an "
                               "array of integers.")
            extra = {"visibility": vis, "selected_repository_ids": ids if vis == "selected" else None}
        created = upper not in tg.secrets
        if created and len(tg.secrets) >= tg.limit:
            raise ApiError(422, "Secret limit reached")
        s = tg.secrets.setdefault(upper, {"created_at": iso(now), "writes": 0})
        s.update(value=value, updated_at=iso(now), by="api", **extra)
        s["writes"] += 1
        return (201, {}) if created else (204, None)

    # -- control

    def c_post_repos(self, body, query):
        st = self.server.state
        name = str(body["full_name"])
        st.targets.setdefault(name, Target(name, 100))
        st.repo_ids.setdefault(name, 100000 + len(st.repo_ids))
        for env in body.get("environments") or []:
            st.targets.setdefault("%s@%s" % (name, env), Target("%s@%s" % (name, env), 100))
        return 200, {"id": st.repo_ids[name]}

    def c_post_orgs(self, body, query):
        name = "org:" + str(body["name"])
        self.server.state.targets.setdefault(name, Target(name, 1000))
        return 200, {"org": name}

    def c_post_tokens(self, body, query):
        self.server.state.tokens[str(body["token"])] = {
            "scopes": body.get("scopes", "*"), "read_only": bool(body.get("read_only")),
            "expires": None, "used": 0, "window": -1}
        return 200, {"token": "set"}

    def c_post_apps(self, body, query):
        self.server.state.apps[str(body["id"])] = {
            "id": body["id"], "installation_id": body["installation_id"],
            "pem": body["public_key_pem"], "scopes": body.get("scopes", "*")}
        return 200, {"app": body["id"]}

    def c_post_secret(self, body, query):
        st = self.server.state
        tg = st.targets.get(str(body["target"]))
        if tg is None:
            raise BadRequest("no target %r" % body["target"], 404)
        now = iso(self.server.clock.now())
        s = tg.secrets.setdefault(str(body["name"]).upper(), {"created_at": now, "writes": 0})
        s.update(value=str(body["value"]), updated_at=now, by="human")
        return 200, {"updated_at": now}

    def c_get_state(self, body, query):
        st = self.server.state
        return 200, {"now": iso(self.server.clock.now()),
                     "targets": {n: {"key_id": t.key_id, "secrets": t.secrets}
                                 for n, t in st.targets.items()}}


def setup(server, opts):
    server.state = State(server.clock)


def main(argv=None):
    return doublelib.serve(Handler, argv, description=__doc__.splitlines()[0], setup=setup)


if __name__ == "__main__":
    sys.exit(main())
