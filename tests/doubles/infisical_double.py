#!/usr/bin/env python3
"""infisical_double.py: a faithful Infisical test double for rotor.

Usage: infisical_double.py --port 0 --lifetime SECONDS [--clock-file PATH] [--verbose]

One server plays an Infisical instance (one organisation) as
/work/shared/api/infisical.md describes it: Universal Auth machine-identity
login and token renewal, and the secret routes rotor uses in both the v3
"raw" form (`workspaceId`) and the v4 form (`projectId`). JSON in and out;
every error body is {"reqId": "req-...", "statusCode": N, "message": ...,
"error": ...}, as Infisical's fastify error handler builds it. Time (token
TTLs, lock-outs, rate-limit windows, createdAt/updatedAt) is the shared
doublelib.Clock, so a test moves it through the clock file or
POST /_control/clock.

What it mirrors (and from which server generation):
- Login `POST /api/v1/auth/universal-auth/login` {clientId, clientSecret} ->
  {accessToken, expiresIn, accessTokenMaxTTL, tokenType: "Bearer"}. A wrong
  secret is 401 "Invalid credentials"; an unknown client id 404 NotFound
  "No identity with specified client ID was found" (servers up to 2025;
  the newest source answers 401 "Invalid credentials" instead: setting
  `unknown_client_id_401`). Lock-out (servers from 2025): after
  `lockout_threshold` (3) failed logins within `lockout_counter_reset_seconds`
  (30) of each other, every login of that client id, right or wrong, is 401
  "This identity auth method is temporarily locked, please try again later"
  for `lockout_duration_seconds` (300); the third failure itself still says
  "Invalid credentials"; a successful login clears the count.
- Tokens look like JWTs (header.payload.signature, base64url; the payload
  carries identityAccessTokenId, iat and exp = issue + accessTokenMaxTTL).
  A token belongs to a session (Infisical's identity-access-token row):
  past accessTokenMaxTTL from login the "JWT" has expired and every call,
  renewal included, is 403 TokenError "Your token has expired. Please
  re-authenticate."; past accessTokenTTL since login or last renewal the
  row has lapsed: 401 UnauthorizedError "Failed to renew MI access token
  due to TTL expiration" (on renewal and on ordinary calls; the row is
  then deleted, later calls 401); revoked or unknown tokens 401
  UnauthorizedError. 0 for either TTL means no limit.
- Renewal `POST /api/v1/auth/token/renew` {accessToken}: the session's TTL
  restarts; newer servers sign a NEW token string (default); servers of
  2024 return the SAME string (`renew_same_token`). Chosen semantics: the
  old string stays valid as long as its session is (both name the same
  identityAccessTokenId, as on the real server). A renewal that would
  carry the session past its max TTL is 401 "Failed to renew MI access
  token past its Max TTL expiration" (as the server source does; setting
  `renew_past_max_ttl_401`), so an identity with TTL == max TTL cannot renew.
- Secret routes need `Authorization: Bearer <token>`: the server takes
  everything after the first 7 characters, so "bearer x", two spaces or a
  missing header are 401 UnauthorizedError here.
- Permission order as the server checks it: project exists (else 404
  NotFound "Project with ID '...' not found"), identity is a member (else
  403 whose `error` is the sentence "Identity is not a member of the
  specified project with ID '...'"), identity may read/write that
  environment and path (else 403 PermissionDenied "You are not allowed to
  <action> on secrets"), then the environment/folder exists (else 404 with
  `error` the operation name: GetSecretByName, CreateSecret, UpdateSecret,
  CreateManySecret, UpdateManySecret; message "Folder with path '/aws' in
  environment with slug 'prod' not found"; the list routes answer like the
  current server: `error` "SecretPathNotFound", "Folder with path '/aws' in
  environment 'prod' was not found. Please ensure the environment slug and
  secret path is correct."); with `missing_folder_lists_empty` (2024
  servers) a list of a missing folder or environment is 200 with an empty
  list instead.
- Folders `GET /api/v1/folders?workspaceId=&environment=&path=` (or the
  older `directory`): {"folders": [{id, name, ...}]} directly under path,
  for any project member; a missing environment is 404 NotFound
  "Environment with slug 'X' not found", a missing parent folder 200 with
  an empty list (the server's getFolders).
- Rate limiting as 2024 servers in production mode do it
  (`rate_limit_as_500`): HTTP 500 InternalServerError "Something went
  wrong" with Retry-After and x-ratelimit-remaining: 0, never 429.
- Secrets per (project, environment slug, folder path); read one (with
  `?version=N`), create one, update one, list (`{"secrets": [...],
  "imports": []}`), batch create, batch update (v4 `mode` failOnNotFound |
  upsert | ignore; v3 raw has no mode: failOnNotFound). Batch entries may
  name their own `secretPath` (update). Secret objects carry id, _id,
  workspace, environment, version, type "shared", secretKey, secretValue,
  secretComment, secretPath, secretValueHidden false, skipMultilineEncoding,
  createdAt, updatedAt, isRotatedSecret, rotationId, tags [],
  secretMetadata []; `legacy_fields` drops the fields 2024 servers lack
  (secretPath, secretValueHidden, isRotatedSecret, rotationId,
  secretMetadata) and echoes "secretComment": "" in update replies when no
  comment was sent.
- `recursive=true` on the list route (`recursive_list`, on unless the
  server-2024 preset): every secret of the folder and of all folders under
  it, each with its own `secretPath` ("/" or "/a/b"), ordered by secret id
  (not by path or key), folders deeper than 20 levels below the environment
  root left out silently (the server's generatePaths); a subfolder the
  identity may not read is left out silently, the requested folder itself
  answers 403 as a plain list does. `include_imports` and
  `expandSecretReferences` ("true"/"false") are accepted; imports are never
  listed. The value of `recursive` must be "true" or "false" (400
  otherwise), as convertStringBoolean demands.
- Every update bumps `version`, also when the value is unchanged; every
  version is kept, so `?version=N` returns that version (value, comment,
  version N). Servers before April 2025 ignore the parameter
  (`honour_version_param: false`): they answer with the current version
  (`dishonoured_version: "current"`) or some row of the version table
  (`"oldest"`: version 1).
- Values are trimmed on write as the server's schema does: a value that
  ends in "\\n" becomes strip(value) + "\\n", any other strip(value).
  Secret keys are trimmed; an empty key or one with a space is 422.
- Batches are all-or-nothing: every check runs first (folder, missing or
  existing names, permissions, rotated secrets), then every write is
  applied under the one state lock, so a reader (which takes the same lock)
  sees the old pair or the new pair. v3 PATCH batch with a missing name ->
  404 "Secret does not exist: NAME in path /aws" and nothing written; POST
  batch with an existing name -> 400 "Secret already exists: NAME" (2024
  wording with `legacy_messages`: "Secret not found" / "Secret already
  exist"). A fault at the mid-batch point (`batch_update_mid`,
  `batch_create_mid`, see Faults) fires after the first secret of the batch
  was written and rolls it back, like a failed transaction.
- `isRotatedSecret: true` secrets (Infisical's own rotation): a batch update
  silently drops the new value for them (value and version unchanged, the
  reply shows the secret as it is); a single PATCH with a value is 400
  "Cannot update rotated secret value".
- A missing secret on read-one / update-one is 404 "Secret with name 'X'
  not found"; servers before late September 2024 answered 400 "Secret not
  found" (`legacy_missing_secret_400`). Servers of 2024 had no v4 routes
  (`v4_routes: false` -> 404 "Route ... not found", fastify's reply).
- 422 ValidationFailure with `message` an array of zod issues
  ({code, expected, received, path, message}) for a malformed request, e.g.
  an empty `secrets` list or a missing `environment`; servers of
  October-November 2024 answered those with 401 (`validation_401`).
  Validation runs after authentication, as on the server (fastify
  onRequest hooks before schema validation).
- Rate limits (before authentication, like @fastify/rate-limit): a fixed
  60 s window on the double's clock per class, starting at the window's
  first request: `secret_reads_per_minute` (GET secret routes),
  `secret_writes_per_minute` (POST/PATCH secret routes),
  `logins_per_minute` (login and renew); null = unlimited (default).
  Over the limit: 429 RateLimitExceeded "Rate limit exceeded. Please try
  again in 1 minute" ("in N seconds" with `rate_limit_message_seconds`),
  headers Retry-After (seconds left in the window; omitted with
  `retry_after_header: false`), x-ratelimit-limit, -remaining, -reset.

Where it simplifies, deliberately:
- One organisation, no users, no service tokens, no imports, tags,
  references, approvals, personal secrets (type "personal" is 400) or
  secret deletion over the API. No secretPath globbing beyond fnmatch in
  permissions: a grant's `paths` are fnmatch patterns ("/aws", "/aws/*").
- Permissions are per identity: a list of grants {projectId,
  environments?: [slugs] (default all), paths?: [patterns] (default all),
  read?: true, write?: true}; membership = having a grant for the project.
- Rate-limit windows are per double (every client is 127.0.0.1). The clock
  file holds whole seconds, so a frozen clock freezes every window.
- A mid-batch `latency` fault sleeps holding the state lock (readers wait;
  Postgres would let them read the old snapshot). Either way no reader sees
  a mixed pair.

Faults (doublelib.Faults; match on the route name, or "v3:NAME", "v4:NAME",
"auth:NAME", or "*"): login, renew, list, get, create, update,
batch_create, batch_update; checked once per call before anything else
(throttle -> 429 RateLimitExceeded with Retry-After 60; error500 -> 500
InternalServerError "Something went wrong"; error -> the rule's status, code
as `error`, message; drop; drop_after (the request is processed, then the
connection closes without a reply); latency; hang). Two mid-batch points,
checked only when a rule names them exactly (not by "*"):
batch_update_mid and batch_create_mid (also "v4:batch_update_mid" ...):
error kinds reply with that error and drop/hang close the connection, all
after rolling back the half-written batch; latency pauses mid-batch.

Control API (unsigned JSON under /_control/, never subject to faults or
rate limits):
  POST   /_control/reset                    empty state, default settings, no faults
  POST   /_control/snapshot|restore         {"name"}: keep / put back the whole state (doublelib)
  POST   /_control/identities               {"clientId"?, "clientSecret"?, "name"?,
                                             "accessTokenTTL"?: 2592000,
                                             "accessTokenMaxTTL"?: 2592000,
                                             "projects": [{"projectId", "environments"?,
                                             "paths"?, "read"?: true, "write"?: true}]}
                                             -> the identity (with its clientSecret)
  POST   /_control/projects                 {"id"?, "name"?, "environments": ["prod"],
                                             "folders"?: {"prod": ["/aws"]}}
  POST   /_control/folders                  {"projectId", "environment", "path"}
  POST   /_control/secrets                  {"projectId", "environment", "secretPath"?,
                                             "secretKey", "secretValue"?, "secretComment"?,
                                             "skipMultilineEncoding"?, "isRotatedSecret"?}
                                             creates, or adds a version (another writer)
                                             / sets the flag -> the secret with versions
  DELETE /_control/secrets                  {"projectId", "environment", "secretPath"?,
                                             "secretKey"}
  GET    /_control/state                    projects -> envs -> folders -> secrets with
                                             every version and value; identities;
                                             sessions (ids, times; no token strings);
                                             lock-outs; settings; now
  GET|POST /_control/settings               see SETTINGS below; {"preset": "server-2024"
                                             | "current"} sets a bundle first
  GET|POST|DELETE /_control/faults          {"rules": [...]} (doublelib)
  GET|DELETE /_control/calls                [?since=SEQ] the request log: seq, time,
                                             method, path, route, api, status, error,
                                             identity (client id), tokenId (session id,
                                             never the token), fault; never values
  POST   /_control/revoke                   {"accessToken"} or {"clientId"} (all its
                                             sessions) -> {"revoked": n}
  GET|POST /_control/clock                  {"now": iso} | {"advance": seconds}
"""

import base64
import collections
import datetime
import fnmatch
import hashlib
import itertools
import json
import math
import os
import re
import secrets as rnd
import string
import sys
import threading
import traceback
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import doublelib  # noqa: E402
from doublelib import BadRequest, iso, parse_iso  # noqa: E402

DEFAULT_TTL = 2592000
TOKEN_EXPIRED = "Your token has expired. Please re-authenticate."
NOT_ALLOWED = "You are not allowed to access this resource"
LOCKED = "This identity auth method is temporarily locked, please try again later"
REQ_ID_CHARS = string.ascii_letters + string.digits

SETTINGS = {
    # name: (default, kind)
    "renew_same_token": (False, "bool"),
    "renew_past_max_ttl_401": (True, "bool"),
    "honour_version_param": (True, "bool"),
    "dishonoured_version": ("current", ("current", "oldest")),
    "legacy_missing_secret_400": (False, "bool"),
    "legacy_messages": (False, "bool"),
    "legacy_fields": (False, "bool"),
    "v4_routes": (True, "bool"),
    "validation_401": (False, "bool"),
    "unknown_client_id_401": (False, "bool"),
    "lockout_enabled": (True, "bool"),
    "lockout_threshold": (3, "posint"),
    "lockout_duration_seconds": (300, "posint"),
    "lockout_counter_reset_seconds": (30, "posint"),
    "secret_reads_per_minute": (None, "limit"),
    "secret_writes_per_minute": (None, "limit"),
    "logins_per_minute": (None, "limit"),
    "rate_limit_message_seconds": (False, "bool"),
    "retry_after_header": (True, "bool"),
    # A 2024 server (production mode) rate-limits with HTTP 500
    # InternalServerError "Something went wrong" (Retry-After and
    # x-ratelimit-remaining: 0 set), never 429.
    "rate_limit_as_500": (False, "bool"),
    # A 2024 server lists a missing folder or environment as 200 with an
    # empty list; newer ones answer 404 SecretPathNotFound.
    "missing_folder_lists_empty": (False, "bool"),
    # A 2024 server's error bodies carry no reqId: {statusCode, message, error}.
    "error_req_id": (True, "bool"),
    # The list route's `recursive=true` (PR #1617, 2024-04): servers before
    # it strip the unknown parameter and list the one folder.
    "recursive_list": (True, "bool"),
}

PRESETS = {
    "current": {k: v[0] for k, v in SETTINGS.items()
                if k not in ("secret_reads_per_minute", "secret_writes_per_minute",
                             "logins_per_minute")},
    # A self-hosted server of 2024: same-token renewal, ?version ignored,
    # fewer fields, old wording, no v4 routes, no lock-out.
    "server-2024": {"renew_same_token": True, "honour_version_param": False,
                    "dishonoured_version": "current", "legacy_fields": True,
                    "legacy_messages": True, "v4_routes": False, "lockout_enabled": False,
                    "unknown_client_id_401": False, "rate_limit_as_500": True,
                    "missing_folder_lists_empty": True, "error_req_id": False,
                    "recursive_list": False},
}

RATE_CLASSES = {"reads": "secret_reads_per_minute", "writes": "secret_writes_per_minute",
                "logins": "logins_per_minute"}


class ApiError(Exception):
    """An Infisical error reply."""

    def __init__(self, status, error, message, headers=None, details=None):
        super().__init__(str(message))
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}
        self.details = details


class Validation(Exception):
    """Zod issues: 422 ValidationFailure (401 with validation_401)."""

    def __init__(self, issues):
        super().__init__("validation failure")
        self.issues = issues


class Abort(Exception):
    """A mid-batch fault that must act outside the state lock."""

    def __init__(self, fault):
        super().__init__(fault.kind)
        self.fault = fault


def ms_iso(dt):
    """2026-01-01T00:00:00.000Z, as Infisical's JSON dates."""
    dt = dt.astimezone(datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def trim_value(value):
    """The server's secretValue transform: one trailing newline survives."""
    return value.strip() + "\n" if value.endswith("\n") else value.strip()


def norm_path(path):
    """removeTrailingSlash: "/aws/" -> "/aws"; "" and "/" -> "/"."""
    path = (path or "/").strip()
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path or "/"


def parent_paths(path):
    """"/a/b" -> ["/", "/a", "/a/b"]."""
    out = ["/"]
    acc = ""
    for seg in path.strip("/").split("/"):
        if seg:
            acc += "/" + seg
            out.append(acc)
    return out


# ---------------------------------------------------------------- zod-like validation


def zod_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class Checker:
    """Collects zod-shaped issues; every getter returns the value or None."""

    def __init__(self):
        self.issues = []

    def add(self, path, expected, value):
        got = "undefined" if value is _MISSING else zod_type(value)
        self.issues.append({"code": "invalid_type", "expected": expected, "received": got,
                            "path": path, "message": "Required" if got == "undefined"
                            else "Expected %s, received %s" % (expected, got)})

    def string(self, obj, key, path=(), required=True, default=None, trim=True):
        value = obj.get(key, _MISSING) if isinstance(obj, dict) else _MISSING
        if value is _MISSING or value is None and not required:
            if required:
                self.add(list(path) + [key], "string", value)
            return default
        if not isinstance(value, str):
            self.add(list(path) + [key], "string", value)
            return default
        return value.strip() if trim else value

    def boolean(self, obj, key, path=(), default=None):
        value = obj.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            self.add(list(path) + [key], "boolean", value)
            return default
        return value

    def number(self, obj, key, path=()):
        """z.coerce.number().optional() on a query string."""
        value = obj.get(key, _MISSING)
        if value is _MISSING:
            return None
        try:
            n = float(value)
            if math.isnan(n) or math.isinf(n):
                raise ValueError
        except (TypeError, ValueError):
            self.issues.append({"code": "invalid_type", "expected": "number",
                                "received": "nan", "path": list(path) + [key],
                                "message": "Expected number, received nan"})
            return None
        return int(n) if n == int(n) else n

    def enum(self, obj, key, options, default):
        value = obj.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if value not in options:
            shown = " | ".join("'%s'" % o for o in options)
            self.issues.append({"received": value, "code": "invalid_enum_value",
                                "options": list(options), "path": [key],
                                "message": "Invalid enum value. Expected %s, received '%s'"
                                % (shown, value)})
            return default
        return value

    def secret_key(self, value, path):
        """SecretNameSchema: trimmed, at least one character, no spaces."""
        if value is None:
            return None
        if not value:
            self.issues.append({"code": "too_small", "minimum": 1, "type": "string",
                                "inclusive": True, "exact": False,
                                "message": "String must contain at least 1 character(s)",
                                "path": path})
            return None
        if " " in value:
            self.issues.append({"code": "custom", "message": "Secret name cannot contain spaces.",
                                "path": path})
            return None
        return value

    def array(self, obj, key):
        value = obj.get(key, _MISSING)
        if not isinstance(value, list):
            self.add([key], "array", value)
            return None
        if not value:
            self.issues.append({"code": "too_small", "minimum": 1, "type": "array",
                                "inclusive": True, "exact": False,
                                "message": "Array must contain at least 1 element(s)",
                                "path": [key]})
            return None
        return value

    def done(self):
        if self.issues:
            raise Validation(self.issues)


_MISSING = object()


# ---------------------------------------------------------------- state


class Version:
    def __init__(self, version, value, comment, skip, at):
        self.version = version
        self.value = value
        self.comment = comment
        self.skip = skip
        self.at = at

    def to_json(self):
        return {"version": self.version, "secretValue": self.value,
                "secretComment": self.comment, "skipMultilineEncoding": self.skip,
                "updatedAt": ms_iso(self.at)}


class Secret:
    def __init__(self, key, created, rotated=False):
        self.id = str(uuid.uuid4())
        self.key = key
        self.created = created
        self.rotated = bool(rotated)
        self.rotation_id = str(uuid.uuid4()) if rotated else None
        self.versions = []  # Version, oldest first; versions[-1] is current

    @property
    def current(self):
        return self.versions[-1]

    def add_version(self, value, comment, skip, at):
        v = Version(len(self.versions) + 1, value, comment, skip, at)
        self.versions.append(v)
        return v

    def set_rotated(self, flag):
        self.rotated = bool(flag)
        self.rotation_id = (self.rotation_id or str(uuid.uuid4())) if flag else None

    def to_json(self):
        return {"id": self.id, "secretKey": self.key, "createdAt": ms_iso(self.created),
                "isRotatedSecret": self.rotated, "rotationId": self.rotation_id,
                "version": self.current.version,
                "versions": [v.to_json() for v in self.versions]}


class Project:
    def __init__(self, pid, name):
        self.id = pid
        self.name = name
        self.envs = {}  # slug -> {path -> {key -> Secret}}

    def to_json(self):
        return {"id": self.id, "name": self.name, "environments": {
            env: {"folders": {path: {"secrets": [s.to_json() for s in secrets.values()]}
                              for path, secrets in folders.items()}}
            for env, folders in self.envs.items()}}


class Identity:
    def __init__(self, iid, name, client_id, client_secret, ttl, max_ttl, grants):
        self.id = iid
        self.name = name
        self.client_id = client_id
        self.client_secret = client_secret
        self.ttl = ttl
        self.max_ttl = max_ttl
        self.grants = grants

    def to_json(self):
        return {"id": self.id, "name": self.name, "clientId": self.client_id,
                "clientSecret": self.client_secret, "accessTokenTTL": self.ttl,
                "accessTokenMaxTTL": self.max_ttl, "projects": self.grants}


class Session:
    """An identity access token row; several token strings may name it."""

    def __init__(self, sid, identity, created):
        self.id = sid
        self.identity = identity
        self.created = created
        self.last_renewed = None
        self.ttl = identity.ttl
        self.max_ttl = identity.max_ttl
        self.revoked = False
        self.deleted = False
        self.strings = 0

    def jwt_expired(self, now):
        return self.max_ttl > 0 and now >= self.created + datetime.timedelta(seconds=self.max_ttl)

    def lapsed(self, now):
        start = self.last_renewed or self.created
        return self.ttl > 0 and now > start + datetime.timedelta(seconds=self.ttl)

    def to_json(self):
        return {"tokenId": self.id, "clientId": self.identity.client_id,
                "createdAt": iso(self.created),
                "lastRenewedAt": iso(self.last_renewed) if self.last_renewed else None,
                "accessTokenTTL": self.ttl, "accessTokenMaxTTL": self.max_ttl,
                "revoked": self.revoked, "deleted": self.deleted, "tokens": self.strings}


class State:
    def __init__(self, clock):
        self.clock = clock
        self.lock = threading.RLock()
        self.calls = collections.deque(maxlen=100000)
        self.call_seq = itertools.count(1)
        self.reset()

    def reset(self):
        with self.lock:
            self.projects = {}
            self.identities = {}   # clientId -> Identity
            self.sessions = {}     # session id -> Session
            self.tokens = {}       # token string -> Session
            self.lockouts = {}     # clientId -> {"failed", "locked_until", "reset_at"}
            self.windows = {}      # rate class -> [window start, count]
            self.settings = {k: v[0] for k, v in SETTINGS.items()}
            self.calls.clear()

    def log(self, entry):
        with self.lock:
            entry["seq"] = next(self.call_seq)
            self.calls.append(entry)

    # -- errors worded by generation

    def legacy(self):
        return self.settings["legacy_messages"]

    def not_a_member(self, pid):
        """The 403 whose `error` is a sentence; 2024 wording names no id."""
        if self.legacy():
            sentence = "Identity is not a member of the specified project"
        else:
            sentence = "Identity is not a member of the specified project with ID '%s'" % pid
        return ApiError(403, sentence, NOT_ALLOWED, details=None)

    def missing_secret(self, name):
        if self.settings["legacy_missing_secret_400"]:
            return ApiError(400, "BadRequest", "Secret not found")
        if self.legacy():
            return ApiError(404, "NotFound", "Secret not found")
        return ApiError(404, "NotFound", "Secret with name '%s' not found" % name)

    # -- rate limits

    def rate_limit(self, klass, now):
        limit = self.settings[RATE_CLASSES[klass]]
        if not limit:
            return {}
        window = self.windows.get(klass)
        if window is None or now >= window[0] + datetime.timedelta(seconds=60):
            window = self.windows[klass] = [now, 0]
        window[1] += 1
        left = max(1, math.ceil((window[0] + datetime.timedelta(seconds=60) - now)
                                .total_seconds()))
        headers = {"x-ratelimit-limit": str(limit),
                   "x-ratelimit-remaining": str(max(0, limit - window[1])),
                   "x-ratelimit-reset": str(left)}
        if window[1] > limit:
            if self.settings["retry_after_header"]:
                headers["Retry-After"] = str(left)
            after = ("%d seconds" % left) if self.settings["rate_limit_message_seconds"] \
                else "1 minute"
            if self.settings["rate_limit_as_500"]:
                raise ApiError(500, "InternalServerError", "Something went wrong", headers)
            raise ApiError(429, "RateLimitExceeded",
                           "Rate limit exceeded. Please try again in %s" % after, headers)
        return headers

    # -- tokens

    def new_token(self, session, now):
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":"))
                        .encode())
        payload = {"identityId": session.identity.id, "clientSecretId": session.identity.id,
                   "identityAccessTokenId": session.id, "authTokenType": "identityAccessToken",
                   "iat": int(now.timestamp())}
        if session.max_ttl > 0:
            payload["exp"] = int(now.timestamp()) + session.max_ttl
        body = b64url(json.dumps(payload, separators=(",", ":")).encode())
        token = "%s.%s.%s" % (header, body, b64url(rnd.token_bytes(32)))
        self.tokens[token] = session
        session.strings += 1
        return token

    def session_of(self, token, now):
        """The live session for a token string, or ApiError as the server
        answers (JWT expiry first, then the database row)."""
        session = self.tokens.get(token)
        if session is None:
            raise ApiError(401, "UnauthorizedError", NOT_ALLOWED)
        if session.jwt_expired(now):
            raise ApiError(403, "TokenError", TOKEN_EXPIRED)
        if session.revoked or session.deleted:
            raise ApiError(401, "UnauthorizedError", NOT_ALLOWED)
        if session.lapsed(now):
            session.deleted = True
            raise ApiError(401, "UnauthorizedError",
                           "Failed to renew MI access token due to TTL expiration")
        return session

    def login(self, client_id, client_secret, now):
        ident = self.identities.get(client_id)
        if ident is None:
            if self.settings["unknown_client_id_401"]:
                raise ApiError(401, "UnauthorizedError", "Invalid credentials")
            raise ApiError(404, "NotFound", "No identity with specified client ID was found")
        lock = self.lockouts.get(client_id)
        if lock and lock["locked_until"] and now >= lock["locked_until"]:
            lock = self.lockouts.pop(client_id)  # the lock-out record expired
            lock = None
        if lock and not lock["locked_until"] and lock["reset_at"] and now >= lock["reset_at"]:
            self.lockouts.pop(client_id)
            lock = None
        if lock and lock["locked_until"]:
            raise ApiError(401, "UnauthorizedError", LOCKED)
        if not rnd.compare_digest(client_secret.encode(), ident.client_secret.encode()):
            if self.settings["lockout_enabled"]:
                lock = self.lockouts.setdefault(client_id, {"failed": 0, "locked_until": None,
                                                            "reset_at": None})
                lock["failed"] += 1
                if lock["failed"] >= self.settings["lockout_threshold"]:
                    lock["locked_until"] = now + datetime.timedelta(
                        seconds=self.settings["lockout_duration_seconds"])
                else:
                    lock["reset_at"] = now + datetime.timedelta(
                        seconds=self.settings["lockout_counter_reset_seconds"])
            raise ApiError(401, "UnauthorizedError", "Invalid credentials")
        self.lockouts.pop(client_id, None)
        session = Session(str(uuid.uuid4()), ident, now)
        self.sessions[session.id] = session
        token = self.new_token(session, now)
        return session, {"accessToken": token, "expiresIn": session.ttl,
                         "accessTokenMaxTTL": session.max_ttl, "tokenType": "Bearer"}

    def renew(self, token, now):
        session = self.session_of(token, now)  # 403 past max TTL, 401 lapsed/revoked
        if session.max_ttl > 0 and self.settings["renew_past_max_ttl_401"]:
            end = session.created + datetime.timedelta(seconds=session.max_ttl)
            if now + datetime.timedelta(seconds=session.ttl) > end:
                session.deleted = True
                raise ApiError(401, "UnauthorizedError",
                               "Failed to renew MI access token past its Max TTL expiration")
        session.last_renewed = now
        if not self.settings["renew_same_token"]:
            token = self.new_token(session, now)
        return session, {"accessToken": token, "expiresIn": session.ttl,
                         "accessTokenMaxTTL": session.max_ttl, "tokenType": "Bearer"}

    # -- access

    def project(self, pid):
        project = self.projects.get(pid)
        if project is None:
            raise ApiError(404, "NotFound", "Project with ID '%s' not found" % pid)
        return project

    def authorize(self, ident, pid, env, path, action):
        """action: "readValue" | "create" | "edit" (the CASL action names)."""
        grants = [g for g in ident.grants if g["projectId"] == pid]
        if not grants:
            raise self.not_a_member(pid)
        need = "read" if action == "readValue" else "write"
        for g in grants:
            envs = g.get("environments")
            paths = g.get("paths")
            if envs is not None and env not in envs:
                continue
            if paths is not None and not any(fnmatch.fnmatchcase(path, p) for p in paths):
                continue
            if g.get(need, True):
                return
        raise ApiError(403, "PermissionDenied", "You are not allowed to %s on secrets" % action,
                       details=[])

    def folder(self, project, env, path, op):
        folders = project.envs.get(env)
        folder = folders.get(path) if folders is not None else None
        if folder is None:
            if op == "SecretPathNotFound":
                raise ApiError(404, op, "Folder with path '%s' in environment '%s' was not "
                               "found. Please ensure the environment slug and secret path "
                               "is correct." % (path, env))
            raise ApiError(404, op, "Folder with path '%s' in environment with slug '%s' not "
                           "found" % (path, env))
        return folder

    # -- shapes

    def secret_json(self, project, env, path, secret, version=None, echo_comment=True):
        v = version or secret.current
        d = {"id": secret.id, "_id": secret.id, "workspace": project.id, "environment": env,
             "version": v.version, "type": "shared", "secretKey": secret.key,
             "secretValue": v.value, "secretComment": v.comment if echo_comment else "",
             "secretPath": path, "secretValueHidden": False,
             "skipMultilineEncoding": v.skip, "createdAt": ms_iso(secret.created),
             "updatedAt": ms_iso(v.at), "isRotatedSecret": secret.rotated,
             "rotationId": secret.rotation_id, "tags": [], "secretMetadata": []}
        if self.settings["legacy_fields"]:
            for k in ("secretPath", "secretValueHidden", "isRotatedSecret", "rotationId",
                      "secretMetadata"):
                del d[k]
        return d


# ---------------------------------------------------------------- routes

NAME = r"/(?P<name>[^/]+)"
ROUTES = [
    # method, api, pattern, route name, rate class
    ("POST", "auth", r"/api/v1/auth/universal-auth/login", "login", "logins"),
    ("POST", "auth", r"/api/v1/auth/token/renew", "renew", "logins"),
    ("GET", "v1", r"/api/v1/folders", "folders", "reads"),
    ("GET", "v3", r"/api/v3/secrets/raw", "list", "reads"),
    ("POST", "v3", r"/api/v3/secrets/batch/raw", "batch_create", "writes"),
    ("PATCH", "v3", r"/api/v3/secrets/batch/raw", "batch_update", "writes"),
    ("GET", "v3", r"/api/v3/secrets/raw" + NAME, "get", "reads"),
    ("POST", "v3", r"/api/v3/secrets/raw" + NAME, "create", "writes"),
    ("PATCH", "v3", r"/api/v3/secrets/raw" + NAME, "update", "writes"),
    ("GET", "v4", r"/api/v4/secrets", "list", "reads"),
    ("POST", "v4", r"/api/v4/secrets/batch", "batch_create", "writes"),
    ("PATCH", "v4", r"/api/v4/secrets/batch", "batch_update", "writes"),
    ("GET", "v4", r"/api/v4/secrets" + NAME, "get", "reads"),
    ("POST", "v4", r"/api/v4/secrets" + NAME, "create", "writes"),
    ("PATCH", "v4", r"/api/v4/secrets" + NAME, "update", "writes"),
]
ROUTES = [(m, api, re.compile("^" + p + "/?$"), name, rc) for m, api, p, name, rc in ROUTES]


def match_route(method, path):
    for m, api, rx, name, rc in ROUTES:
        if m == method:
            mo = rx.match(path)
            if mo:
                return api, name, rc, {k: urllib.parse.unquote(v)
                                       for k, v in mo.groupdict().items()}
    return None


class Handler(doublelib.ControlRoutes, doublelib.QuietHandler):
    server_version = "infisical-double/1"

    # -- the API

    def api(self):
        st = self.server.state
        self.mid_drop_after = False
        req_id = "req-" + "".join(rnd.choice(REQ_ID_CHARS) for _ in range(14))
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        try:
            raw = doublelib.read_body(self)
        except BadRequest as e:
            self.close_connection = True
            return self.reply(ApiError(e.status, "BadRequest", str(e)), req_id)
        found = match_route(self.command, path)
        entry = {"time": iso(self.server.clock.now()), "method": self.command, "path": path,
                 "route": None, "api": None, "status": None, "error": None,
                 "identity": None, "tokenId": None, "fault": None}
        if found is None or (found[0] == "v4" and not st.settings["v4_routes"]):
            # fastify's own not-found reply (plus the reqId every reply carries here)
            return self.reply(ApiError(404, "Not Found", "Route %s:%s not found"
                                       % (self.command, path)), req_id, entry)
        api, route, rate_class, params = found
        entry["route"], entry["api"] = route, api

        fault = self.server.faults.check(route, api)
        if fault:
            entry["fault"] = fault.kind
            doublelib.fault_pause(fault)
            if fault.kind in ("drop", "hang"):
                entry["status"] = 0
                st.log(entry)
                return doublelib.drop_connection(self)
            if fault.kind in ("throttle", "error500", "error"):
                return self.reply(fault_error(fault, st), req_id, entry)

        query = {}
        for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
            query.setdefault(k, v)
        extra_headers = {}
        abort = None
        with st.lock:
            now = self.server.clock.now()
            try:
                extra_headers = st.rate_limit(rate_class, now)
                body = self.parse_body(raw)
                result = getattr(self, "op_" + route)(st, api, params, query, body, now, entry)
                status = 200
            except ApiError as e:
                e.headers = dict(extra_headers, **e.headers)
                result, status = e, e.status
            except Validation as e:
                code = 401 if st.settings["validation_401"] else 422
                result = ApiError(code, "ValidationFailure", e.issues, extra_headers)
                status = code
            except Abort as a:
                abort = a.fault
            except Exception:  # a bug in the double: say so, keep serving
                sys.stderr.write("infisical_double: internal error\n%s" % traceback.format_exc())
                result = ApiError(500, "InternalServerError", "Something went wrong")
                status = 500
        if abort is not None:
            entry["fault"] = abort.kind
            if abort.kind in ("drop", "hang"):
                doublelib.fault_pause(abort)
                entry["status"] = 0
                st.log(entry)
                return doublelib.drop_connection(self)
            return self.reply(fault_error(abort, st), req_id, entry)
        if isinstance(result, ApiError):
            return self.reply(result, req_id, entry)
        entry["status"] = status
        if self.mid_drop_after:
            entry["fault"] = "drop_after"
        st.log(entry)
        if (fault and fault.kind == "drop_after") or self.mid_drop_after:
            return doublelib.drop_connection(self)
        self.send(status, result, extra_headers)

    def parse_body(self, raw):
        if self.command in ("GET", "DELETE") or not raw.strip():
            return {}
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "Bad Request", "Body is not valid JSON but content-type is set "
                           "to 'application/json'")
        if not isinstance(obj, dict):
            raise Validation([{"code": "invalid_type", "expected": "object",
                               "received": zod_type(obj), "path": [],
                               "message": "Expected object, received %s" % zod_type(obj)}])
        return obj

    def send(self, status, obj, headers=None):
        doublelib.send_body(self, status, json.dumps(obj, separators=(",", ":")),
                            "application/json; charset=utf-8", headers)

    def reply(self, err, req_id, entry=None):
        if entry is not None:
            entry["status"], entry["error"] = err.status, err.error
            self.server.state.log(entry)
        body = {"statusCode": err.status, "message": err.message, "error": err.error}
        if self.server.state.settings["error_req_id"]:
            body = dict(reqId=req_id, **body)
        if err.details is not None:
            body["details"] = err.details
        self.send(err.status, body, err.headers)

    # -- authentication for the secret routes

    def identity(self, st, now, entry):
        header = self.headers.get("Authorization")
        if not header or not header.startswith("Bearer "):
            raise ApiError(401, "UnauthorizedError", NOT_ALLOWED)
        session = st.session_of(header[7:], now)
        entry["identity"], entry["tokenId"] = session.identity.client_id, session.id
        return session.identity

    def location(self, st, api, src, chk, path_default="/"):
        pid = chk.string(src, "workspaceId" if api == "v3" else "projectId")
        env = chk.string(src, "environment")
        path = norm_path(chk.string(src, "secretPath", required=False, default=path_default))
        t = chk.enum(src, "type", ("shared", "personal"), "shared")
        return pid, env, path, t

    def shared_only(self, t):
        if t == "personal":
            raise ApiError(400, "BadRequest",
                           "Personal secrets are not supported by this double")

    # -- routes

    def op_login(self, st, api, params, query, body, now, entry):
        chk = Checker()
        cid = chk.string(body, "clientId")
        secret = chk.string(body, "clientSecret")
        chk.done()
        entry["identity"] = cid
        session, out = st.login(cid, secret, now)
        entry["tokenId"] = session.id
        return out

    def op_renew(self, st, api, params, query, body, now, entry):
        chk = Checker()
        token = chk.string(body, "accessToken")
        chk.done()
        session = st.tokens.get(token)
        if session is not None:
            entry["identity"], entry["tokenId"] = session.identity.client_id, session.id
        session, out = st.renew(token, now)
        return out

    def op_list(self, st, api, params, query, body, now, entry):
        ident = self.identity(st, now, entry)
        chk = Checker()
        pid, env, path, t = self.location(st, api, query, chk)
        flags = {}
        for flag in ("recursive", "include_imports", "expandSecretReferences"):
            value = query.get(flag, "false")
            if value not in ("true", "false"):
                chk.issues.append({"code": "custom", "message": "Invalid boolean string",
                                   "path": [flag]})
            flags[flag] = value == "true"
        if not st.settings["recursive_list"]:
            flags["recursive"] = False  # an older server strips the parameter
        chk.done()
        self.shared_only(t)
        project = st.project(pid)
        st.authorize(ident, pid, env, path, "readValue")
        if st.settings["missing_folder_lists_empty"] and \
                (project.envs.get(env) is None or path not in project.envs[env]):
            return {"secrets": [], "imports": []}
        folder = st.folder(project, env, path, "SecretPathNotFound")
        if not flags["recursive"]:
            return {"secrets": [st.secret_json(project, env, path, s)
                                for _, s in sorted(folder.items())], "imports": []}
        found = []
        for fpath, f in project.envs[env].items():
            inside = fpath == path or path == "/" or fpath.startswith(path + "/")
            depth = len([seg for seg in fpath.split("/") if seg])
            if not inside or depth > 20:
                continue
            if fpath != path:
                try:
                    st.authorize(ident, pid, env, fpath, "readValue")
                except ApiError:
                    continue  # the server filters what the identity may not read
            found += [(s.id, fpath, s) for s in f.values()]
        found.sort(key=lambda x: x[0])
        return {"secrets": [st.secret_json(project, env, fpath, s) for _, fpath, s in found],
                "imports": []}

    def op_folders(self, st, api, params, query, body, now, entry):
        """GET /api/v1/folders?workspaceId=&environment=&path= (or the older
        `directory`): the folders directly under path. As the server's
        getFolders: any project member may list; a missing environment is
        404, a missing parent folder 200 with an empty list."""
        ident = self.identity(st, now, entry)
        chk = Checker()
        pid = chk.string(query, "workspaceId")
        env = chk.string(query, "environment")
        path = norm_path(chk.string(query, "path", required=False,
                                    default=query.get("directory") or "/"))
        chk.done()
        project = st.project(pid)
        if not any(g["projectId"] == pid for g in ident.grants):
            raise st.not_a_member(pid)
        folders = project.envs.get(env)
        if folders is None:
            raise ApiError(404, "NotFound", "Environment with slug '%s' not found" % env)
        prefix = "" if path == "/" else path
        names = set()
        for p in folders:
            if p != "/" and p.startswith(prefix + "/"):
                names.add(p[len(prefix) + 1:].split("/")[0])
        if path != "/" and path not in folders and not names:
            return {"folders": []}
        return {"folders": [{"id": "fld-" + hashlib.sha256(("%s/%s" % (path, n)).encode())
                             .hexdigest()[:12], "name": n, "version": 1,
                             "parentId": None, "isReserved": False}
                            for n in sorted(names)]}

    def op_get(self, st, api, params, query, body, now, entry):
        ident = self.identity(st, now, entry)
        chk = Checker()
        pid, env, path, t = self.location(st, api, query, chk)
        want = chk.number(query, "version")
        name = chk.secret_key(params["name"].strip(), ["secretName"])
        chk.done()
        self.shared_only(t)
        project = st.project(pid)
        st.authorize(ident, pid, env, path, "readValue")
        folder = st.folder(project, env, path, "GetSecretByName")
        secret = folder.get(name)
        if secret is None:
            raise st.missing_secret(name)
        version = None
        if want is not None:
            if not st.settings["honour_version_param"]:
                version = secret.versions[0] if st.settings["dishonoured_version"] == "oldest" \
                    else secret.current
            else:
                match = [v for v in secret.versions if v.version == want]
                if not match:
                    raise st.missing_secret(name)
                version = match[0]
        return {"secret": st.secret_json(project, env, path, secret, version)}

    def op_create(self, st, api, params, query, body, now, entry):
        ident = self.identity(st, now, entry)
        chk = Checker()
        pid, env, path, t = self.location(st, api, body, chk)
        name = chk.secret_key(params["name"].strip(), ["secretName"])
        value = chk.string(body, "secretValue", trim=False)
        comment = chk.string(body, "secretComment", required=False, default="", trim=False)
        skip = chk.boolean(body, "skipMultilineEncoding", default=False)
        chk.done()
        self.shared_only(t)
        project = st.project(pid)
        st.authorize(ident, pid, env, path, "create")
        folder = st.folder(project, env, path, "CreateSecret")
        if name in folder:
            raise ApiError(400, "BadRequest", "Secret already exist")
        secret = Secret(name, now)
        secret.add_version(trim_value(value), comment, skip, now)
        folder[name] = secret
        return {"secret": st.secret_json(project, env, path, secret)}

    def op_update(self, st, api, params, query, body, now, entry):
        ident = self.identity(st, now, entry)
        chk = Checker()
        pid, env, path, t = self.location(st, api, body, chk)
        name = chk.secret_key(params["name"].strip(), ["secretName"])
        value = chk.string(body, "secretValue", required=False, trim=False)
        comment = chk.string(body, "secretComment", required=False, trim=False)
        skip = chk.boolean(body, "skipMultilineEncoding")
        chk.done()
        self.shared_only(t)
        project = st.project(pid)
        st.authorize(ident, pid, env, path, "edit")
        folder = st.folder(project, env, path, "UpdateSecret")
        secret = folder.get(name)
        if secret is None:
            if st.settings["legacy_missing_secret_400"]:
                raise ApiError(400, "BadRequest", "Secret not found")
            raise ApiError(404, "NotFound", "Secret with name %s not found" % name)
        if secret.rotated and value is not None:
            raise ApiError(400, "BadRequest", "Cannot update rotated secret value")
        cur = secret.current
        secret.add_version(trim_value(value) if value is not None else cur.value,
                           comment if comment is not None else cur.comment,
                           skip if skip is not None else cur.skip, now)
        echo = comment is not None or not st.settings["legacy_fields"]
        return {"secret": st.secret_json(project, env, path, secret, echo_comment=echo)}

    def batch_entries(self, chk, body, need_value, allow_path):
        items = chk.array(body, "secrets")
        out = []
        for i, item in enumerate(items or []):
            p = ["secrets", i]
            if not isinstance(item, dict):
                chk.add(p, "object", item)
                continue
            key = chk.secret_key(chk.string(item, "secretKey", p), p + ["secretKey"])
            value = chk.string(item, "secretValue", p, required=need_value, trim=False)
            e = {"key": key,
                 "value": trim_value(value) if value is not None else None,
                 "comment": chk.string(item, "secretComment", p, required=False, trim=False),
                 "skip": chk.boolean(item, "skipMultilineEncoding", p),
                 "path": None}
            if allow_path:
                sp = chk.string(item, "secretPath", p, required=False)
                e["path"] = norm_path(sp) if sp is not None else None
            out.append(e)
        return out

    def op_batch_create(self, st, api, params, query, body, now, entry):
        ident = self.identity(st, now, entry)
        chk = Checker()
        pid, env, path, t = self.location(st, api, body, chk)
        items = self.batch_entries(chk, body, need_value=True, allow_path=False)
        chk.done()
        self.shared_only(t)
        keys = [e["key"] for e in items]
        project = st.project(pid)
        st.authorize(ident, pid, env, path, "create")
        folder = st.folder(project, env, path, "CreateManySecret")
        if len(set(keys)) != len(keys):
            raise ApiError(400, "BadRequest", "Duplicate secret keys in the batch")
        existing = [k for k in keys if k in folder]
        if existing:
            raise ApiError(400, "BadRequest", "Secret already exist" if st.legacy()
                           else "Secret already exists: %s" % ",".join(existing))
        # Everything is checked: apply, as one transaction.
        done = []
        for i, e in enumerate(items):
            s = Secret(e["key"], now)
            s.add_version(e["value"], e["comment"] or "", bool(e["skip"]), now)
            folder[e["key"]] = s
            done.append(s)
            if i == 0:
                self.mid_fault(st, api, "batch_create_mid",
                               lambda: [folder.pop(x.key) for x in done])
        return {"secrets": [st.secret_json(project, env, path, s) for s in done]}

    def op_batch_update(self, st, api, params, query, body, now, entry):
        ident = self.identity(st, now, entry)
        chk = Checker()
        pid, env, path, t = self.location(st, api, body, chk)
        mode = chk.enum(body, "mode", ("ignore", "failOnNotFound", "upsert"),
                        "failOnNotFound") if api == "v4" else "failOnNotFound"
        items = self.batch_entries(chk, body, need_value=(api == "v3"), allow_path=True)
        chk.done()
        self.shared_only(t)
        project = st.project(pid)
        groups = collections.OrderedDict()
        for e in items:
            groups.setdefault(e["path"] or path, []).append(e)
        for p in groups:
            st.authorize(ident, pid, env, p, "edit")
        folders = {p: st.folder(project, env, p, "UpdateManySecret") for p in groups}
        plan = []  # (folder path, entry, existing Secret or None)
        for p, entries in groups.items():
            keys = [e["key"] for e in entries]
            if len(set(keys)) != len(keys):
                raise ApiError(400, "BadRequest", "Duplicate secret keys in the batch")
            missing = [k for k in keys if k not in folders[p]]
            if missing and mode == "failOnNotFound":
                raise ApiError(404, "NotFound", "Secret not found" if st.legacy()
                               else "Secret does not exist: %s in path %s"
                               % (", ".join(missing), p))
            if missing and mode == "upsert":
                st.authorize(ident, pid, env, p, "create")
            for e in entries:
                secret = folders[p].get(e["key"])
                if secret is None and mode == "ignore":
                    continue
                plan.append((p, e, secret))
        # Everything is checked: apply, as one transaction.
        undo = []
        out = []
        for i, (p, e, secret) in enumerate(plan):
            folder = folders[p]
            if secret is None:  # upsert
                secret = Secret(e["key"], now)
                secret.add_version(e["value"] or "", e["comment"] or "", bool(e["skip"]), now)
                folder[e["key"]] = secret
                undo.append(lambda f=folder, k=e["key"]: f.pop(k))
            elif secret.rotated:
                pass  # the server drops the new value of a rotated secret, silently
            else:
                cur = secret.current
                secret.add_version(e["value"] if e["value"] is not None else cur.value,
                                   e["comment"] if e["comment"] is not None else cur.comment,
                                   e["skip"] if e["skip"] is not None else cur.skip, now)
                undo.append(lambda s=secret: s.versions.pop())
            out.append((p, secret))
            if i == 0:
                self.mid_fault(st, api, "batch_update_mid",
                               lambda: [u() for u in reversed(undo)])
        return {"secrets": [st.secret_json(project, env, p, s) for p, s in out]}

    def mid_fault(self, st, api, point, rollback):
        """Checks the mid-batch fault point (only rules naming it exactly)."""
        names = {point, "%s:%s" % (api, point)}
        if not any(r["match"] in names for r in self.server.faults.to_json()["rules"]):
            return
        fault = self.server.faults.check(point, api)
        if fault is None:
            return
        if fault.kind == "latency":
            doublelib.fault_pause(fault)
            return
        if fault.kind == "drop_after":
            self.mid_drop_after = True  # the batch commits; no reply reaches the client
            return
        rollback()
        raise Abort(fault)

    # -- the control API

    def c_post_identities(self, body, query):
        st = self.server.state
        cid = body.get("clientId") or str(uuid.uuid4())
        secret = body.get("clientSecret") or rnd.token_hex(32)
        if not isinstance(cid, str) or not isinstance(secret, str):
            raise BadRequest("clientId and clientSecret are strings")
        if cid in st.identities:
            raise BadRequest("identity %s exists" % cid, 409)
        ttl = int(body.get("accessTokenTTL", DEFAULT_TTL))
        max_ttl = int(body.get("accessTokenMaxTTL", DEFAULT_TTL))
        if ttl < 0 or max_ttl < 0:
            raise BadRequest("TTLs must not be negative")
        if max_ttl > 0 and ttl > max_ttl:
            raise BadRequest("Access token TTL cannot be greater than max TTL")
        grants = []
        for g in body.get("projects") or []:
            if not isinstance(g, dict) or not isinstance(g.get("projectId"), str):
                raise BadRequest("each project grant is {\"projectId\", ...}")
            grant = {"projectId": g["projectId"], "read": bool(g.get("read", True)),
                     "write": bool(g.get("write", True))}
            for k in ("environments", "paths"):
                if g.get(k) is not None:
                    if not isinstance(g[k], list):
                        raise BadRequest("%s is a list" % k)
                    grant[k] = [str(x) if k == "environments" else norm_path(str(x))
                                for x in g[k]]
            grants.append(grant)
        ident = Identity(str(uuid.uuid4()), str(body.get("name") or cid), cid, secret, ttl,
                         max_ttl, grants)
        st.identities[cid] = ident
        return 200, ident.to_json()

    def c_post_projects(self, body, query):
        st = self.server.state
        pid = body.get("id") or str(uuid.uuid4())
        if not isinstance(pid, str) or pid in st.projects:
            raise BadRequest("project %r exists or is not a string" % (pid,), 409)
        envs = body.get("environments") or []
        folders = body.get("folders") or {}
        if not isinstance(envs, list) or not isinstance(folders, dict):
            raise BadRequest("environments is a list, folders an object")
        project = Project(pid, str(body.get("name") or pid))
        for env in envs:
            project.envs[str(env)] = {"/": {}}
        for env, paths in folders.items():
            if env not in project.envs:
                raise BadRequest("folders names environment %r not in environments" % env)
            for p in paths:
                for q in parent_paths(norm_path(p)):
                    project.envs[env].setdefault(q, {})
        st.projects[pid] = project
        return 200, project.to_json()

    def c_post_folders(self, body, query):
        st = self.server.state
        project = st.projects.get(body["projectId"])
        if project is None:
            raise BadRequest("no project %r" % body["projectId"], 404)
        env = project.envs.setdefault(str(body["environment"]), {"/": {}})
        for q in parent_paths(norm_path(body["path"])):
            env.setdefault(q, {})
        # not the whole project: seeding 10,000 folders must stay linear
        return 200, {"projectId": project.id, "environment": str(body["environment"]),
                     "path": norm_path(body["path"])}

    def seed_target(self, body):
        st = self.server.state
        project = st.projects.get(body.get("projectId"))
        if project is None:
            raise BadRequest("no project %r" % body.get("projectId"), 404)
        env = body.get("environment")
        path = norm_path(body.get("secretPath", "/"))
        folder = project.envs.get(env, {}).get(path)
        if folder is None:
            raise BadRequest("no folder %s in environment %r" % (path, env), 404)
        key = body.get("secretKey")
        if not isinstance(key, str) or not key.strip():
            raise BadRequest("secretKey is a non-empty string")
        return project, env, path, folder, key.strip()

    def c_post_secrets(self, body, query):
        st = self.server.state
        project, env, path, folder, key = self.seed_target(body)
        now = st.clock.now()
        secret = folder.get(key)
        value = body.get("secretValue")
        if value is not None and not isinstance(value, str):
            raise BadRequest("secretValue is a string")
        if secret is None:
            secret = Secret(key, now)
            secret.add_version(trim_value(value or ""), str(body.get("secretComment") or ""),
                               bool(body.get("skipMultilineEncoding", False)), now)
            folder[key] = secret
        elif value is not None or "secretComment" in body:
            cur = secret.current
            secret.add_version(trim_value(value) if value is not None else cur.value,
                               str(body.get("secretComment", cur.comment)),
                               bool(body.get("skipMultilineEncoding", cur.skip)), now)
        if "isRotatedSecret" in body:
            secret.set_rotated(body["isRotatedSecret"])
        return 200, dict(secret.to_json(), projectId=project.id, environment=env,
                         secretPath=path)

    def c_delete_secrets(self, body, query):
        project, env, path, folder, key = self.seed_target(body)
        if folder.pop(key, None) is None:
            raise BadRequest("no secret %s" % key, 404)
        return 200, {"deleted": key}

    def c_get_state(self, body, query):
        st = self.server.state
        return 200, {
            "now": iso(st.clock.now()),
            "settings": dict(st.settings),
            "projects": [p.to_json() for p in st.projects.values()],
            "identities": [i.to_json() for i in st.identities.values()],
            "sessions": [s.to_json() for s in st.sessions.values()],
            "lockouts": {cid: {"failed": lk["failed"],
                               "lockedUntil": iso(lk["locked_until"]) if lk["locked_until"]
                               else None} for cid, lk in st.lockouts.items()},
        }

    def c_get_settings(self, body, query):
        return 200, dict(self.server.state.settings)

    def c_post_settings(self, body, query):
        st = self.server.state
        new = dict(st.settings)
        if "preset" in body:
            preset = PRESETS.get(body["preset"])
            if preset is None:
                raise BadRequest("preset is one of %s" % ", ".join(PRESETS))
            new.update(preset)
        for name, value in body.items():
            if name == "preset":
                continue
            if name not in SETTINGS:
                raise BadRequest("unknown setting %s" % name)
            kind = SETTINGS[name][1]
            if kind == "bool" and not isinstance(value, bool):
                raise BadRequest("%s is true or false" % name)
            if kind == "posint" and (isinstance(value, bool) or not isinstance(value, int)
                                     or value < 1):
                raise BadRequest("%s is a positive integer" % name)
            if kind == "limit" and value is not None and (
                    isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise BadRequest("%s is null (unlimited) or a count" % name)
            if isinstance(kind, tuple) and value not in kind:
                raise BadRequest("%s is one of %s" % (name, ", ".join(kind)))
            new[name] = value
        if any(new[RATE_CLASSES[k]] != st.settings[RATE_CLASSES[k]] for k in RATE_CLASSES):
            st.windows = {}
        st.settings = new
        return 200, new

    def c_post_revoke(self, body, query):
        st = self.server.state
        if "accessToken" in body:
            session = st.tokens.get(body["accessToken"])
            if session is None:
                raise BadRequest("unknown access token", 404)
            sessions = [session]
        elif "clientId" in body:
            sessions = [s for s in st.sessions.values()
                        if s.identity.client_id == body["clientId"]]
        else:
            raise BadRequest('expected {"accessToken"} or {"clientId"}')
        for s in sessions:
            s.revoked = True
        return 200, {"revoked": len(sessions)}

def fault_error(fault, st):
    if fault.kind == "throttle":
        headers = {"Retry-After": "60"} if st.settings["retry_after_header"] else {}
        return ApiError(429, "RateLimitExceeded",
                        "Rate limit exceeded. Please try again in 1 minute", headers)
    if fault.kind == "error500":
        return ApiError(500, "InternalServerError", "Something went wrong")
    return ApiError(fault.status, fault.code, fault.message or "Injected fault")


def setup(server, opts):
    server.state = State(server.clock)


def main(argv=None):
    return doublelib.serve(Handler, argv, description=__doc__.splitlines()[0], setup=setup)


if __name__ == "__main__":
    sys.exit(main())
