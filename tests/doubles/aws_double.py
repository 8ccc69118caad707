#!/usr/bin/env python3
"""aws_double.py: a faithful IAM + STS test double for rotor.

Usage: aws_double.py --port 0 --lifetime SECONDS [--clock-file PATH]
                     [--manager-key AKID:SECRET] [--propagation-delay S]
                     [--page-size N] [--verbose]

One server plays both IAM and STS for one account, 123456789012. It speaks
the Query protocol as /work/shared/api/aws.md describes it: `POST /` with a
form body `Action=...&Version=...`, XML replies in the IAM
(https://iam.amazonaws.com/doc/2010-05-08/) or STS
(https://sts.amazonaws.com/doc/2011-06-15/) namespace, errors as
<ErrorResponse> with AWS's codes, messages and HTTP statuses. A request is
IAM or STS according to its SigV4 credential scope (`.../iam/aws4_request`)
and must carry the matching Version; unsigned requests are told apart by
Version alone (only AssumeRoleWithWebIdentity may be unsigned).

What it mirrors:
- SigV4 verification of every request, rebuilt from what was received
  (canonical URI, query, the signed headers, the body's hash); host and
  x-amz-date must be signed; a session token must be signed and belong to
  the temporary credentials; x-amz-date more than 5 minutes from the
  double's clock fails with SignatureDoesNotMatch "Signature expired" (or
  "Signature not yet current" when it lies in the future), as AWS does.
  IAM must be signed for us-east-1 (settable: `iam_region`); STS for any
  region. A failed check logs the expected canonical request on stderr
  (with --verbose), never a secret.
- Access keys: at most 2 per user, Active or Inactive; a secret only in
  CreateAccessKey's reply; Inactive keys fail with InvalidClientTokenId;
  eventual consistency (`propagation_delay`: a key created by
  CreateAccessKey fails authentication for that many real seconds); last
  use (date, service, region) recorded by every authenticated request,
  even one that is then denied; GetAccessKeyLastUsed's "N/A" when unused.
- User tags: at most 50, keys compared case-insensitively (as IAM does),
  values of at most 256 characters of [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@].
- Pagination (Marker/MaxItems/IsTruncated) for ListAccessKeys and
  ListUserTags; the default page size is `page_size`. Markers are opaque
  base64 that always contain '+', '/' and '=', so a client that does not
  percent-encode them breaks here as it would against AWS.
- STS GetCallerIdentity, AssumeRole (ExternalId, DurationSeconds within
  900..MaxSessionDuration) and AssumeRoleWithWebIdentity; temporary
  credentials (ASIA...) expire by the double's clock (ExpiredToken).

Where it simplifies, deliberately:
- No IAM policies: a user or role flagged `manager` may call every IAM
  action on every user; anyone else gets AccessDenied. Any authenticated
  caller may assume any role (its ExternalId, when set, must match);
  AssumeRoleWithWebIdentity accepts exactly the tokens registered through
  the control API.
- One account, one partition (ARNs are arn:aws:...). No presigned URLs,
  no chunked bodies, no SigV2. ListAccessKeys shows a new key at once
  (only authentication lags). Markers are offsets into the current list.
- Empty results (UpdateAccessKey, DeleteAccessKey, TagUser, UntagUser)
  reply with ResponseMetadata only, as AWS does.

Control API (unsigned JSON under /_control/, never subject to faults):
  POST   /_control/reset                    back to the start state
  POST   /_control/snapshot|restore         {"name"}: keep / put back the whole state (doublelib)
  POST   /_control/users                    {"name", "path"?, "manager"?, "tags"?,
                                             "keys"?: [{"status"?, "created"?,
                                             "last_used"?, "access_key_id"?,
                                             "secret_access_key"?}], "force"?}
  POST   /_control/keys                     {"user", "status"?, "created"?,
                                             "last_used"?, "force"?}
  POST   /_control/tags                     {"user", "tags": {key: value}} set behind rotor's back
  POST   /_control/roles                    {"name", "manager"?, "external_id"?,
                                             "max_session_duration"?}
  POST   /_control/web-identity-tokens      {"token"}
  GET    /_control/state                    users (keys with secrets), roles, settings
  POST   /_control/settings                 {"propagation_delay"?, "page_size"?, "iam_region"?}
  GET|POST|DELETE /_control/faults          {"rules": [...]} (see doublelib)
  GET|DELETE /_control/calls                [?since=SEQ] the request log
  GET|POST /_control/clock                  {"now": iso} | {"advance": seconds}
  POST   /_control/use                      {"access_key_id", "service"?, "region"?, "date"?}
"""

import base64
import collections
import datetime
import hashlib
import hmac
import itertools
import os
import re
import secrets
import string
import sys
import threading
import time
import traceback
import unicodedata
import urllib.parse
import uuid
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import doublelib  # noqa: E402
from doublelib import BadRequest, iso, parse_iso  # noqa: E402

ACCOUNT = "123456789012"
IAM_VERSION = "2010-05-08"
STS_VERSION = "2011-06-15"
NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}
VERSIONS = {"iam": IAM_VERSION, "sts": STS_VERSION}
SERVICE_OF_VERSION = {IAM_VERSION: "iam", STS_VERSION: "sts"}
MAX_KEYS_PER_USER = 2
MAX_TAGS_PER_USER = 50
SKEW = datetime.timedelta(minutes=5)
MANAGER_USER = "rotor-manager"
B32 = string.ascii_uppercase + "234567"
B64 = string.ascii_letters + string.digits + "+/"
USER_NAME_RE = re.compile(r"^[\w+=,.@-]+$")
ACCESS_KEY_ID_RE = re.compile(r"^\w+$")
SESSION_NAME_RE = re.compile(r"^[\w+=,.@-]*$")
PATH_RE = re.compile(r"^(/|/[\x21-\x7e]+/)$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
TAG_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]"
NOT_AUTHORIZED = ("User: %s is not authorized to perform: %s on resource: %s "
                  "because no identity-based policy allows the %s action")


class AwsError(Exception):
    """An error reply: HTTP status, AWS error code, message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def validation(value, field, constraint):
    shown = "null" if value is None else "'%s'" % value
    return AwsError(400, "ValidationError",
                    "1 validation error detected: Value %s at '%s' failed to satisfy "
                    "constraint: %s" % (shown, field, constraint))


def invalid_token():
    return AwsError(403, "InvalidClientTokenId",
                    "The security token included in the request is invalid.")


def signature_mismatch(detail=None):
    return AwsError(403, "SignatureDoesNotMatch", detail or (
        "The request signature we calculated does not match the signature you "
        "provided. Check your AWS Secret Access Key and signing method. Consult "
        "the service documentation for details."))


def amz(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def whole(dt):
    return dt.replace(microsecond=0)


# ---------------------------------------------------------------- SigV4


def parse_authorization(value):
    """Splits `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`
    into a dict with akid, date, region, service, terminator, signed
    (the list as sent), signature. Raises AwsError."""
    algo, _, rest = value.strip().partition(" ")
    if algo != "AWS4-HMAC-SHA256":
        raise AwsError(400, "IncompleteSignature", "Unsupported AWS 'algorithm': '%s'" % algo)
    fields = {}
    for part in rest.split(","):
        k, eq, v = part.strip().partition("=")
        if eq:
            fields[k.strip()] = v.strip()
    missing = [n for n in ("Credential", "Signature", "SignedHeaders") if n not in fields]
    if missing:
        raise AwsError(400, "IncompleteSignature", " ".join(
            "Authorization header requires '%s' parameter." % n for n in missing))
    cred = fields["Credential"].split("/")
    if len(cred) != 5:
        raise AwsError(400, "IncompleteSignature",
                       "Credential must have exactly 5 slash-delimited elements, e.g. "
                       "keyid/date/region/service/term, got '%s'" % fields["Credential"])
    return {"akid": cred[0], "date": cred[1], "region": cred[2], "service": cred[3],
            "terminator": cred[4], "signed": fields["SignedHeaders"],
            "signature": fields["Signature"]}


def canonical_uri(path):
    """Non-S3 rules: remove dot segments and empty segments, keep a trailing
    slash, then URI-encode the (already encoded) path once more."""
    segs = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segs:
                segs.pop()
            continue
        segs.append(seg)
    out = "/" + "/".join(segs)
    if segs and path.endswith("/"):
        out += "/"
    return urllib.parse.quote(out, safe="/~")


def canonical_query(query):
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        pairs.append((urllib.parse.quote(urllib.parse.unquote(k), safe="~"),
                      urllib.parse.quote(urllib.parse.unquote(v), safe="~")))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def canonical_request(method, target, header_pairs, body, signed_names):
    """The SigV4 canonical request for what was received. target is the raw
    request-target ("/?a=b"), header_pairs the headers in arrival order,
    signed_names the lower-case names, sorted."""
    url = urllib.parse.urlsplit(target)
    values = {}
    for name, value in header_pairs:
        values.setdefault(name.lower(), []).append(" ".join(str(value).split()))
    lines = [method, canonical_uri(url.path or "/"), canonical_query(url.query)]
    lines += ["%s:%s" % (n, ",".join(values.get(n, []))) for n in signed_names]
    lines += ["", ";".join(signed_names), hashlib.sha256(body).hexdigest()]
    return "\n".join(lines)


def signing_key(secret, date, region, service):
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def expected_signature(secret, auth, amz_date, method, target, header_pairs, body):
    """Returns (signature hex, canonical request, string to sign)."""
    names = sorted({n.strip().lower() for n in auth["signed"].split(";") if n.strip()})
    creq = canonical_request(method, target, header_pairs, body, names)
    scope = "/".join((auth["date"], auth["region"], auth["service"], auth["terminator"]))
    sts = "\n".join(("AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(creq.encode()).hexdigest()))
    key = signing_key(secret, auth["date"], auth["region"], auth["service"])
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest(), creq, sts


# ---------------------------------------------------------------- XML


def xml_node(name, content, depth):
    """content: None (omitted), a str/int/bool (text), or a list of
    (name, content) pairs (children; an empty list gives <name/>)."""
    pad = "  " * depth
    if content is None:
        return ""
    if isinstance(content, list):
        if not content:
            return "%s<%s/>\n" % (pad, name)
        inner = "".join(xml_node(n, c, depth + 1) for n, c in content)
        return "%s<%s>\n%s%s</%s>\n" % (pad, name, inner, pad, name)
    if isinstance(content, bool):
        content = "true" if content else "false"
    return "%s<%s>%s</%s>\n" % (pad, name, escape(str(content)), name)


def success_xml(service, action, result, request_id):
    body = '<%sResponse xmlns="%s">\n' % (action, NAMESPACES[service])
    if result is not None:
        body += xml_node(action + "Result", result, 1)
    body += xml_node("ResponseMetadata", [("RequestId", request_id)], 1)
    return body + "</%sResponse>\n" % action


# Error document shapes that AWS-compatible servers send (issue 15): AWS's
# own, moto's `<ErrorResponse><Errors><Error>` (no namespace), EC2-style
# `<Response><Errors><Error>..<RequestID>`, and a bare `<Error>` holding its
# request id (S3-style). A fault rule's "shape" picks one.
ERROR_SHAPES = {
    "moto": ('<?xml version="1.0" encoding="UTF-8"?>\n  <ErrorResponse>\n    <Errors>\n'
             '      <Error>\n        <Code>%(code)s</Code>\n'
             '        <Message><![CDATA[%(message)s]]></Message>\n      </Error>\n'
             '    </Errors>\n  <RequestId>%(rid)s</RequestId>\n</ErrorResponse>\n'),
    "response": ('<Response><Errors><Error><Code>%(code)s</Code><Message>%(message)s'
                 '</Message></Error></Errors><RequestID>\n  %(rid)s\n</RequestID></Response>'),
    "bare": ('<?xml version="1.0"?><Error><Code>%(code)s</Code><Message>%(message)s</Message>'
             '<RequestId>%(rid)s</RequestId></Error>'),
}


def error_xml(service, err, request_id, shape=None):
    kind = "Receiver" if err.status >= 500 else "Sender"
    if shape:
        return ERROR_SHAPES[shape] % {"code": escape(err.code), "message": escape(err.message),
                                      "rid": request_id}
    return ('<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>%s</Type>\n'
            '    <Code>%s</Code>\n    <Message>%s</Message>\n  </Error>\n'
            '  <RequestId>%s</RequestId>\n</ErrorResponse>\n'
            % (NAMESPACES[service], kind, escape(err.code), escape(err.message), request_id))


# ---------------------------------------------------------------- state


class Key:
    def __init__(self, key_id, secret, user, status, created, seq, ready_mono):
        self.id = key_id
        self.secret = secret
        self.user = user            # the owning User
        self.status = status        # "Active" | "Inactive"
        self.created = created      # aware datetime, whole seconds
        self.seq = seq              # creation order, breaks CreateDate ties
        self.ready_mono = ready_mono  # monotonic creation time (None: always ready)
        self.last_used = None       # {"date": datetime, "service", "region"} or None

    def to_json(self):
        lu = self.last_used
        return {"access_key_id": self.id, "secret_access_key": self.secret,
                "status": self.status, "created": iso(self.created),
                "last_used": None if lu is None else {
                    "date": iso(lu["date"]), "service": lu["service"], "region": lu["region"]}}


class User:
    def __init__(self, name, path, user_id, created, manager):
        self.name = name
        self.path = path
        self.user_id = user_id
        self.created = created
        self.manager = manager
        self.tags = {}   # insertion-ordered key -> value
        self.keys = []   # Key, in creation order

    @property
    def arn(self):
        return "arn:aws:iam::%s:user%s%s" % (ACCOUNT, self.path, self.name)

    def sorted_keys(self):
        return sorted(self.keys, key=lambda k: (k.created, k.seq))

    def to_json(self):
        return {"name": self.name, "path": self.path, "user_id": self.user_id,
                "arn": self.arn, "created": iso(self.created), "manager": self.manager,
                "tags": dict(self.tags), "keys": [k.to_json() for k in self.sorted_keys()]}


class Role:
    def __init__(self, name, role_id, manager, external_id, max_session):
        self.name = name
        self.role_id = role_id
        self.manager = manager
        self.external_id = external_id
        self.max_session = max_session

    @property
    def arn(self):
        return "arn:aws:iam::%s:role/%s" % (ACCOUNT, self.name)

    def to_json(self):
        return {"name": self.name, "arn": self.arn, "role_id": self.role_id,
                "manager": self.manager, "external_id": self.external_id,
                "max_session_duration": self.max_session}


class Session:
    """Temporary credentials from AssumeRole*: they act as the role."""

    def __init__(self, akid, secret, token, role, session_name, expiration):
        self.akid = akid
        self.secret = secret
        self.token = token
        self.role = role
        self.session_name = session_name
        self.expiration = expiration


class Principal:
    """Who signed a request: a user (with the key used) or a role session."""

    def __init__(self, user=None, key=None, session=None):
        self.user, self.key, self.session = user, key, session

    @property
    def arn(self):
        if self.user:
            return self.user.arn
        s = self.session
        return "arn:aws:sts::%s:assumed-role/%s/%s" % (ACCOUNT, s.role.name, s.session_name)

    @property
    def user_id(self):
        if self.user:
            return self.user.user_id
        return "%s:%s" % (self.session.role.role_id, self.session.session_name)

    @property
    def manager(self):
        return self.user.manager if self.user else self.session.role.manager


def tag_chars_ok(text):
    return all(unicodedata.category(c)[0] in "LZN" or c in "_.:/=+-@" for c in text)


class State:
    """Everything the double knows, behind one lock. Methods named act_*
    are the Query actions; the lock is held by the caller (process)."""

    def __init__(self, opts, clock):
        self.opts = opts
        self.clock = clock
        self.lock = threading.RLock()
        self.calls = collections.deque(maxlen=100000)
        self.call_seq = itertools.count(1)
        self.reset()

    # -- setup

    def reset(self):
        with self.lock:
            self.users = {}      # lower-cased name -> User (IAM names ignore case)
            self.user_ids = set()
            self.role_ids = set()
            self.keys = {}       # access key id -> Key
            self.roles = {}      # name -> Role
            self.sessions = {}   # ASIA... -> Session
            self.tokens = set()  # web identity tokens
            self.key_seq = itertools.count(1)
            self.settings = {"propagation_delay": float(self.opts.propagation_delay),
                             "page_size": int(self.opts.page_size),
                             "iam_region": "us-east-1"}
            self.calls.clear()
            if self.opts.manager_key:
                akid, _, secret = self.opts.manager_key.partition(":")
                user = self.add_user(MANAGER_USER, "/", True, self.clock.now())
                self.add_key(user, status="Active", created=self.clock.now(),
                             key_id=akid, secret=secret, force=True)

    def unique(self, prefix, n, taken):
        while True:
            value = prefix + "".join(secrets.choice(B32) for _ in range(n))
            if value not in taken:
                return value

    def add_user(self, name, path, manager, created):
        if not isinstance(name, str) or not USER_NAME_RE.match(name) or len(name) > 64:
            raise BadRequest("bad user name %r" % (name,))
        if not isinstance(path, str) or not PATH_RE.match(path):
            raise BadRequest("bad path %r" % (path,))
        if name.lower() in self.users:
            raise BadRequest("user %s exists" % name, 409)
        user = User(name, path, self.unique("AIDA", 17, self.user_ids), whole(created),
                    bool(manager))
        self.user_ids.add(user.user_id)
        self.users[name.lower()] = user
        return user

    def add_key(self, user, status="Active", created=None, key_id=None, secret=None,
                force=False, ready_mono=None):
        if status not in ("Active", "Inactive"):
            raise BadRequest("status must be Active or Inactive")
        if len(user.keys) >= MAX_KEYS_PER_USER and not force:
            raise BadRequest("user %s already has %d keys (force to exceed)"
                             % (user.name, len(user.keys)), 409)
        if key_id is None:
            key_id = self.unique("AKIA", 16, self.keys)
        elif not ACCESS_KEY_ID_RE.match(key_id) or not 16 <= len(key_id) <= 128:
            raise BadRequest("bad access key id %r" % key_id)
        elif key_id in self.keys:
            raise BadRequest("access key %s exists" % key_id, 409)
        if secret is None:
            secret = "".join(secrets.choice(B64) for _ in range(40))
        elif not secret:
            raise BadRequest("empty secret")
        key = Key(key_id, secret, user, status, whole(created or self.clock.now()),
                  next(self.key_seq), ready_mono)
        user.keys.append(key)
        self.keys[key_id] = key
        return key

    # -- the request log

    def log(self, entry):
        with self.lock:
            entry["seq"] = next(self.call_seq)
            self.calls.append(entry)

    # -- authentication

    def authenticate(self, auth, method, target, header_pairs, headers, body, now):
        """Verifies SigV4 and returns the Principal, recording the key's
        last use. headers: the handler's message object (case-insensitive)."""
        if auth["terminator"] != "aws4_request":
            raise signature_mismatch("Credential should be scoped with a valid terminator: "
                                     "'aws4_request', not '%s'." % auth["terminator"])
        service, region = auth["service"], auth["region"]
        if service not in NAMESPACES:
            raise signature_mismatch("Credential should be scoped to correct service: "
                                     "'iam' or 'sts', not '%s'." % service)
        if service == "iam" and region != self.settings["iam_region"]:
            raise signature_mismatch("Credential should be scoped to a valid region, not '%s'. "
                                     % region)
        if not REGION_RE.match(region):
            raise signature_mismatch("Credential should be scoped to a valid region, not '%s'. "
                                     % region)
        signed = [n.strip().lower() for n in auth["signed"].split(";")]
        amz_date = headers.get("x-amz-date")
        if amz_date is None:
            raise AwsError(400, "IncompleteSignature",
                           "Authorization header requires existence of either a 'X-Amz-Date' "
                           "or a 'Date' header.")
        try:
            when = datetime.datetime.strptime(amz_date.strip(), "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc)
        except ValueError:
            raise AwsError(400, "IncompleteSignature",
                           "Date must be in ISO-8601 'basic format'. Got '%s'. See "
                           "http://en.wikipedia.org/wiki/ISO_8601" % amz_date)
        if "host" not in signed:
            raise signature_mismatch("'Host' or ':authority' must be a 'SignedHeader' in the "
                                     "AWS Authorization.")
        if "x-amz-date" not in signed:
            raise signature_mismatch("'X-Amz-Date' must be a 'SignedHeader' in the AWS "
                                     "Authorization.")
        if auth["date"] != amz_date.strip()[:8]:
            raise signature_mismatch(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                "date from HTTP: '%s' != '%s', from '%s'."
                % (auth["date"], amz_date.strip()[:8], amz_date.strip()))

        token = headers.get("x-amz-security-token")
        akid = auth["akid"]
        key = self.keys.get(akid)
        session = self.sessions.get(akid)
        if key is not None:
            if key.status != "Active" or token is not None:
                raise invalid_token()
            delay = self.settings["propagation_delay"]
            if key.ready_mono is not None and time.monotonic() - key.ready_mono < delay:
                raise invalid_token()
            secret = key.secret
        elif session is not None:
            if token is None or not hmac.compare_digest(token.strip().encode("utf-8", "replace"),
                                                        session.token.encode()):
                raise invalid_token()
            if "x-amz-security-token" not in signed:
                raise signature_mismatch("'X-Amz-Security-Token' must be a 'SignedHeader' in "
                                         "the AWS Authorization.")
            if now >= session.expiration:
                raise AwsError(403, "ExpiredToken",
                               "The security token included in the request is expired")
            secret = session.secret
        else:
            raise invalid_token()

        want, creq, sts = expected_signature(secret, auth, amz_date.strip(), method, target,
                                             header_pairs, body)
        if not hmac.compare_digest(want.encode(),
                                   auth["signature"].lower().encode("utf-8", "replace")):
            if self.opts.verbose:
                shown = re.sub(r"(?m)^(x-amz-security-token:).*$", r"\1<redacted>", creq)
                sys.stderr.write("aws_double: signature mismatch for %s; expected canonical "
                                 "request:\n%s\nstring to sign:\n%s\n" % (akid, shown, sts))
            raise signature_mismatch()
        if when < now - SKEW:
            raise signature_mismatch("Signature expired: %s is now earlier than %s (%s - 5 min.)"
                                     % (amz(when), amz(now - SKEW), amz(now)))
        if when > now + SKEW:
            raise signature_mismatch("Signature not yet current: %s is still later than %s "
                                     "(%s + 5 min.)" % (amz(when), amz(now + SKEW), amz(now)))
        if key is not None:
            key.last_used = {"date": whole(now), "service": service, "region": region}
            return Principal(user=key.user, key=key)
        return Principal(session=session)

    # -- parameter helpers

    def require_manager(self, principal, action, resource):
        if not principal.manager:
            raise AwsError(403, "AccessDenied", NOT_AUTHORIZED % (
                principal.arn, action, resource, action))

    def user_param(self, principal, params, action):
        """The target of an IAM action: UserName, or the calling user."""
        name = params.get("UserName")
        if name is None:
            if principal.user is None:
                raise AwsError(400, "ValidationError",
                               "Must specify userName when calling with non-User credentials")
            name = principal.user.name
        if not 1 <= len(name) <= 128:
            raise validation(name, "userName", "Member must have length greater than or "
                             "equal to 1" if not name else "Member must have length less "
                             "than or equal to 128")
        if not USER_NAME_RE.match(name):
            raise validation(name, "userName",
                             "Member must satisfy regular expression pattern: [\\w+=,.@-]+")
        user = self.users.get(name.lower())
        resource = user.arn if user else "arn:aws:iam::%s:user/%s" % (ACCOUNT, name)
        self.require_manager(principal, "iam:" + action, resource)
        if user is None:
            raise AwsError(404, "NoSuchEntity", "The user with name %s cannot be found." % name)
        return user

    def key_param(self, user, params):
        key_id = params.get("AccessKeyId")
        if key_id is None:
            raise validation(None, "accessKeyId", "Member must not be null")
        if not 16 <= len(key_id) <= 128:
            raise validation(key_id, "accessKeyId", "Member must have length greater than or "
                             "equal to 16" if len(key_id) < 16 else "Member must have length "
                             "less than or equal to 128")
        if not ACCESS_KEY_ID_RE.match(key_id):
            raise validation(key_id, "accessKeyId",
                             "Member must satisfy regular expression pattern: [\\w]+")
        key = self.keys.get(key_id)
        if key is None or key.user is not user:
            raise AwsError(404, "NoSuchEntity", "The Access Key with id %s cannot be found."
                           % key_id)
        return key

    def page(self, items, params, kind):
        """Returns (page, marker or None) for Marker/MaxItems."""
        raw = params.get("MaxItems")
        if raw is None:
            size = self.settings["page_size"]
        else:
            try:
                size = int(raw)
            except ValueError:
                raise AwsError(400, "ValidationError", "Invalid value for MaxItems: %s" % raw)
            if size < 1:
                raise validation(raw, "maxItems",
                                 "Member must have value greater than or equal to 1")
            if size > 1000:
                raise validation(raw, "maxItems",
                                 "Member must have value less than or equal to 1000")
        start = 0
        marker = params.get("Marker")
        if marker is not None:
            start = decode_marker(marker, kind)
        chunk = items[start:start + size]
        nxt = start + size
        return chunk, (encode_marker(kind, nxt) if nxt < len(items) else None)

    def tags_param(self, params):
        """Tags.member.N.Key/Value in N order, validated."""
        found = {}
        for name, value in params.items():
            m = re.match(r"^Tags\.member\.(\d+)\.(Key|Value)$", name)
            if m:
                found.setdefault(int(m.group(1)), {})[m.group(2)] = value
        if not found:
            raise validation(None, "tags", "Member must not be null")
        tags = []
        for i in sorted(found):
            k, v = found[i].get("Key"), found[i].get("Value")
            if k is None:
                raise validation(None, "tags.%d.member.key" % i, "Member must not be null")
            if v is None:
                raise validation(None, "tags.%d.member.value" % i, "Member must not be null")
            check_tag_key(k, "tags.%d.member.key" % i)
            if len(v) > 256:
                raise validation(v, "tags.%d.member.value" % i,
                                 "Member must have length less than or equal to 256")
            if not tag_chars_ok(v):
                raise validation(v, "tags.%d.member.value" % i,
                                 "Member must satisfy regular expression pattern: %s*"
                                 % TAG_PATTERN)
            tags.append((k, v))
        if len(tags) > MAX_TAGS_PER_USER:
            raise validation("[...]", "tags", "Member must have length less than or equal to 50")
        lowered = [k.lower() for k, _ in tags]
        if len(set(lowered)) != len(lowered):
            raise AwsError(400, "InvalidInput", "Duplicate tag keys found. Please note that "
                           "Tag keys are case insensitive.")
        for k, _ in tags:
            if k.lower().startswith("aws:"):
                raise AwsError(400, "InvalidInput", "User tag keys cannot start with 'aws:'.")
        return tags

    # -- IAM actions

    def act_ListAccessKeys(self, p, params, now):
        user = self.user_param(p, params, "ListAccessKeys")
        keys, marker = self.page(user.sorted_keys(), params, "keys")
        return [("AccessKeyMetadata", [("member", [
            ("UserName", user.name), ("AccessKeyId", k.id), ("Status", k.status),
            ("CreateDate", iso(k.created))]) for k in keys]),
            ("IsTruncated", marker is not None), ("Marker", marker)]

    def act_CreateAccessKey(self, p, params, now):
        user = self.user_param(p, params, "CreateAccessKey")
        if len(user.keys) >= MAX_KEYS_PER_USER:
            raise AwsError(409, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
        key = self.add_key(user, created=now, ready_mono=time.monotonic())
        return [("AccessKey", [("UserName", user.name), ("AccessKeyId", key.id),
                               ("Status", key.status), ("SecretAccessKey", key.secret),
                               ("CreateDate", iso(key.created))])]

    def act_UpdateAccessKey(self, p, params, now):
        user = self.user_param(p, params, "UpdateAccessKey")
        status = params.get("Status")
        if status not in ("Active", "Inactive"):
            raise validation(status, "status",
                             "Member must satisfy enum value set: [Active, Inactive]")
        self.key_param(user, params).status = status
        return None

    def act_DeleteAccessKey(self, p, params, now):
        user = self.user_param(p, params, "DeleteAccessKey")
        key = self.key_param(user, params)
        user.keys.remove(key)
        del self.keys[key.id]
        return None

    def act_GetAccessKeyLastUsed(self, p, params, now):
        key_id = params.get("AccessKeyId")
        if key_id is None:
            raise validation(None, "accessKeyId", "Member must not be null")
        key = self.keys.get(key_id)
        resource = key.user.arn if key else "access key %s" % key_id
        self.require_manager(p, "iam:GetAccessKeyLastUsed", resource)
        if key is None:
            # AWS answers AccessDenied, not NoSuchEntity, for an unknown id.
            raise AwsError(403, "AccessDenied", NOT_AUTHORIZED % (
                p.arn, "iam:GetAccessKeyLastUsed", resource, "iam:GetAccessKeyLastUsed"))
        lu = key.last_used
        used = [("ServiceName", "N/A"), ("Region", "N/A")] if lu is None else [
            ("LastUsedDate", iso(lu["date"])), ("ServiceName", lu["service"]),
            ("Region", lu["region"])]
        return [("UserName", key.user.name), ("AccessKeyLastUsed", used)]

    def act_GetUser(self, p, params, now):
        user = self.user_param(p, params, "GetUser")
        fields = [("Path", user.path), ("UserName", user.name), ("UserId", user.user_id),
                  ("Arn", user.arn), ("CreateDate", iso(user.created))]
        if user.tags:
            fields.append(("Tags", [("member", [("Key", k), ("Value", v)])
                                    for k, v in user.tags.items()]))
        return [("User", fields)]

    def act_ListUsers(self, p, params, now):
        """Every user (the manager too), by name, PathPrefix filtered; paged
        with Marker/MaxItems; no tags (GetUser has them)."""
        prefix = params.get("PathPrefix", "/")
        if not prefix.startswith("/") or len(prefix) > 512:
            raise validation(prefix, "pathPrefix",
                             "Member must satisfy regular expression pattern: \\u002F[\\u0021-\\u007F]*")
        self.require_manager(p, "iam:ListUsers", "arn:aws:iam::%s:user%s" % (ACCOUNT, prefix))
        users = sorted((u for u in self.users.values() if u.path.startswith(prefix)),
                       key=lambda u: u.name.lower())
        page, marker = self.page(users, params, "users")
        return [("Users", [("member", [("Path", u.path), ("UserName", u.name),
                                       ("UserId", u.user_id), ("Arn", u.arn),
                                       ("CreateDate", iso(u.created))]) for u in page]),
                ("IsTruncated", marker is not None), ("Marker", marker)]

    def act_ListUserTags(self, p, params, now):
        user = self.user_param(p, params, "ListUserTags")
        tags, marker = self.page(list(user.tags.items()), params, "tags")
        return [("Tags", [("member", [("Key", k), ("Value", v)]) for k, v in tags]),
                ("IsTruncated", marker is not None), ("Marker", marker)]

    def act_TagUser(self, p, params, now):
        tags = self.tags_param(params)
        user = self.user_param(p, params, "TagUser")
        merged = dict(user.tags)
        lower = {k.lower(): k for k in merged}
        for k, v in tags:
            merged[lower.get(k.lower(), k)] = v  # IAM tag keys are case-insensitive
        if len(merged) > MAX_TAGS_PER_USER:
            raise AwsError(409, "LimitExceeded", "Cannot exceed quota for TagsPerUser: 50")
        user.tags = merged
        return None

    def act_UntagUser(self, p, params, now):
        names = []
        for name, value in params.items():
            m = re.match(r"^TagKeys\.member\.(\d+)$", name)
            if m:
                names.append((int(m.group(1)), value))
        if not names:
            raise validation(None, "tagKeys", "Member must not be null")
        if len(names) > MAX_TAGS_PER_USER:
            raise validation("[...]", "tagKeys",
                             "Member must have length less than or equal to 50")
        for i, k in sorted(names):
            check_tag_key(k, "tagKeys.%d.member" % i)
        user = self.user_param(p, params, "UntagUser")
        drop = {k.lower() for _, k in names}
        user.tags = {k: v for k, v in user.tags.items() if k.lower() not in drop}
        return None

    # -- STS actions

    def act_GetCallerIdentity(self, p, params, now):
        return [("Arn", p.arn), ("UserId", p.user_id), ("Account", ACCOUNT)]

    def assume(self, role_arn, session_name, duration, now):
        if role_arn is None:
            raise validation(None, "roleArn", "Member must not be null")
        if session_name is None:
            raise validation(None, "roleSessionName", "Member must not be null")
        if not 2 <= len(session_name) <= 64 or not SESSION_NAME_RE.match(session_name):
            raise validation(session_name, "roleSessionName", "Member must satisfy regular "
                             "expression pattern: [\\w+=,.@-]* and have length 2..64")
        if duration is None:
            seconds = 3600
        else:
            try:
                seconds = int(duration)
            except ValueError:
                raise validation(duration, "durationSeconds", "Member must be an integer")
            if seconds < 900:
                raise validation(duration, "durationSeconds",
                                 "Member must have value greater than or equal to 900")
            if seconds > 43200:
                raise validation(duration, "durationSeconds",
                                 "Member must have value less than or equal to 43200")
        prefix = "arn:aws:iam::%s:role/" % ACCOUNT
        role = self.roles.get(role_arn[len(prefix):]) if role_arn.startswith(prefix) else None
        return role, seconds

    def issue(self, role, session_name, seconds, now):
        if seconds > role.max_session:
            raise AwsError(400, "ValidationError", "The requested DurationSeconds exceeds the "
                           "MaxSessionDuration set for this role.")
        akid = self.unique("ASIA", 16, self.sessions)
        token = "FwoGZXIvYXdzE" + base64.b64encode(secrets.token_bytes(240)).decode()
        session = Session(akid, "".join(secrets.choice(B64) for _ in range(40)), token, role,
                          session_name, whole(now) + datetime.timedelta(seconds=seconds))
        self.sessions[akid] = session
        p = Principal(session=session)
        return [("Credentials", [("AccessKeyId", akid), ("SecretAccessKey", session.secret),
                                 ("SessionToken", token),
                                 ("Expiration", iso(session.expiration))]),
                ("AssumedRoleUser", [("AssumedRoleId", p.user_id), ("Arn", p.arn)])]

    def act_AssumeRole(self, p, params, now):
        role_arn = params.get("RoleArn")
        role, seconds = self.assume(role_arn, params.get("RoleSessionName"),
                                    params.get("DurationSeconds"), now)
        external = params.get("ExternalId")
        if role is None or (role.external_id is not None and external != role.external_id):
            raise AwsError(403, "AccessDenied", "User: %s is not authorized to perform: "
                           "sts:AssumeRole on resource: %s" % (p.arn, role_arn))
        return self.issue(role, params["RoleSessionName"], seconds, now)

    def act_AssumeRoleWithWebIdentity(self, p, params, now):
        role_arn = params.get("RoleArn")
        token = params.get("WebIdentityToken")
        if token is None:
            raise validation(None, "webIdentityToken", "Member must not be null")
        role, seconds = self.assume(role_arn, params.get("RoleSessionName"),
                                    params.get("DurationSeconds"), now)
        if not token or token not in self.tokens:
            raise AwsError(400, "InvalidIdentityToken",
                           "The web identity token that was passed could not be validated by "
                           "AWS. Get a new identity token from the identity provider and then "
                           "retry the request.")
        if role is None:
            raise AwsError(403, "AccessDenied", "Not authorized to perform "
                           "sts:AssumeRoleWithWebIdentity")
        result = self.issue(role, params["RoleSessionName"], seconds, now)
        return result + [("SubjectFromWebIdentityToken", "system:serviceaccount:rotor:rotor"),
                         ("Audience", "sts.amazonaws.com"), ("Provider", "rotor-double")]


IAM_ACTIONS = ("ListAccessKeys", "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey",
               "GetAccessKeyLastUsed", "GetUser", "ListUsers", "ListUserTags", "TagUser",
               "UntagUser")
STS_ACTIONS = ("GetCallerIdentity", "AssumeRole", "AssumeRoleWithWebIdentity")
ACTIONS = {"iam": IAM_ACTIONS, "sts": STS_ACTIONS}


def check_tag_key(k, field):
    if not 1 <= len(k) <= 128:
        raise validation(k, field, "Member must have length less than or equal to 128"
                         if k else "Member must have length greater than or equal to 1")
    if not tag_chars_ok(k):
        raise validation(k, field, "Member must satisfy regular expression pattern: %s+"
                         % TAG_PATTERN)


# Opaque markers: base64 that always holds '+', '/' and '=' (see the docstring).
MARKER_MAGIC = b"\xfb\xff\xbf"


def encode_marker(kind, index):
    raw = MARKER_MAGIC + ("%s:%d" % (kind, index)).encode()
    if len(raw) % 3 == 0:
        raw += b"."  # keep '=' padding in every marker
    return base64.b64encode(raw).decode()


def decode_marker(marker, kind):
    try:
        raw = base64.b64decode(marker.encode(), validate=True).rstrip(b".")
        if not raw.startswith(MARKER_MAGIC):
            raise ValueError
        k, _, n = raw[len(MARKER_MAGIC):].decode().partition(":")
        if k != kind or int(n) < 0:
            raise ValueError
        return int(n)
    except (ValueError, UnicodeDecodeError):
        raise AwsError(400, "ValidationError", "Invalid Marker: %s" % marker)


# ---------------------------------------------------------------- HTTP


class Handler(doublelib.ControlRoutes, doublelib.QuietHandler):
    server_version = "aws-double/1"

    def do_any(self):
        if urllib.parse.urlsplit(self.path).path.startswith("/_control/"):
            self.control()
        else:
            self.api()

    do_GET = do_POST = do_PUT = do_DELETE = do_any

    # -- the Query API

    def api(self):
        state = self.server.state
        request_id = str(uuid.uuid4())
        url = urllib.parse.urlsplit(self.path)
        try:
            body = doublelib.read_body(self)
        except BadRequest as e:
            self.close_connection = True  # the unread body would poison keep-alive
            return self.reply_error("iam", AwsError(e.status, "MalformedInput", str(e)),
                                    request_id, None)
        params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        ctype = self.headers.get("Content-Type", "")
        if self.command == "POST" and ctype.lower().startswith("application/x-www-form-urlencoded"):
            try:
                params.update(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                return self.reply_error("iam", AwsError(400, "MalformedInput",
                                                        "body is not UTF-8"), request_id, None)
        action, version = params.get("Action", ""), params.get("Version", "")

        # Which service: the signed scope, else the Version.
        auth, auth_error = None, None
        header = self.headers.get("Authorization")
        if header:
            try:
                auth = parse_authorization(header)
            except AwsError as e:
                auth_error = e
        service = auth["service"] if auth and auth["service"] in NAMESPACES else \
            SERVICE_OF_VERSION.get(version, "iam")
        entry = {"time": iso(self.server.clock.now()), "action": action, "version": version,
                 "service": service, "region": auth["region"] if auth else None,
                 "akid": auth["akid"] if auth else None, "caller": None,
                 "status": None, "error": None, "fault": None}

        fault = self.server.faults.check(action, service)
        if fault:
            entry["fault"] = fault.kind
            doublelib.fault_pause(fault)
            if fault.kind in ("drop", "hang"):
                entry["status"] = 0
                state.log(entry)
                return doublelib.drop_connection(self)
            if fault.kind in ("throttle", "error500", "error"):
                err = {"throttle": AwsError(400, "Throttling", "Rate exceeded"),
                       "error500": AwsError(500, "ServiceFailure",
                                            "The request processing has failed because of an "
                                            "unknown error, exception or failure.")}.get(
                    fault.kind) or AwsError(fault.status, fault.code,
                                            fault.message or "Injected fault")
                return self.reply_error(service, err, request_id, entry, fault.shape)

        now = self.server.clock.now()
        with state.lock:
            try:
                if auth_error:
                    raise auth_error
                unsigned = (action == "AssumeRoleWithWebIdentity" and service == "sts")
                if auth is None and not unsigned:
                    raise AwsError(403, "MissingAuthenticationToken",
                                   "Request is missing Authentication Token")
                principal = None
                if not unsigned:
                    principal = state.authenticate(auth, self.command, self.path,
                                                   self.headers.items(), self.headers, body, now)
                    entry["caller"] = principal.arn
                if not action:
                    raise AwsError(400, "MissingAction", "Missing Action")
                if version != VERSIONS[service] or action not in ACTIONS[service]:
                    raise AwsError(400, "InvalidAction", "Could not find operation %s for "
                                   "version %s" % (action, version or "NO_VERSION_SPECIFIED"))
                result = getattr(state, "act_" + action)(principal, params, now)
                text, status = success_xml(service, action, result, request_id), 200
                entry["status"] = 200
            except AwsError as e:
                text, status = error_xml(service, e, request_id), e.status
                entry["status"], entry["error"] = e.status, e.code
            except Exception:  # a bug in the double: say so, and keep serving
                sys.stderr.write("aws_double: internal error\n%s" % traceback.format_exc())
                e = AwsError(500, "InternalFailure", "The double failed; see its stderr.")
                text, status = error_xml(service, e, request_id), e.status
                entry["status"], entry["error"] = e.status, e.code
        state.log(entry)
        if fault and fault.kind == "drop_after":
            return doublelib.drop_connection(self)
        doublelib.send_body(self, status, text, "text/xml",
                            {"x-amzn-RequestId": request_id})

    def reply_error(self, service, err, request_id, entry, shape=None):
        if entry is not None:
            entry["status"], entry["error"] = err.status, err.code
            self.server.state.log(entry)
        # Another shape comes without the header: the id must come from the body.
        doublelib.send_body(self, err.status, error_xml(service, err, request_id, shape),
                            "text/xml", {} if shape else {"x-amzn-RequestId": request_id})

    # -- the control API

    def make_key(self, user, spec, force):
        st = self.server.state
        if not isinstance(spec, dict):
            raise BadRequest("a key is a JSON object")
        created = parse_iso(spec["created"]) if spec.get("created") else None
        key = st.add_key(user, status=spec.get("status", "Active"), created=created,
                         key_id=spec.get("access_key_id"), secret=spec.get("secret_access_key"),
                         force=force)
        lu = spec.get("last_used")
        if lu:
            key.last_used = {"date": whole(parse_iso(lu["date"])),
                             "service": lu.get("service", "iam"),
                             "region": lu.get("region", "us-east-1")}
        return key

    def c_post_users(self, body, query):
        st = self.server.state
        keys, tags, force = body.get("keys") or [], body.get("tags") or {}, bool(body.get("force"))
        if not isinstance(keys, list) or not isinstance(tags, dict):
            raise BadRequest("keys is a list, tags an object")
        if len(keys) > MAX_KEYS_PER_USER and not force:
            raise BadRequest("at most 2 keys (force to exceed)")
        if len(tags) > MAX_TAGS_PER_USER and not force:
            raise BadRequest("at most 50 tags (force to exceed)")
        created = parse_iso(body["created"]) if body.get("created") else st.clock.now()
        user = st.add_user(body.get("name"), body.get("path", "/"), body.get("manager", False),
                           created)
        try:
            for spec in keys:
                self.make_key(user, spec, force)
        except Exception:
            for k in user.keys:
                del st.keys[k.id]
            del st.users[user.name.lower()]
            st.user_ids.discard(user.user_id)
            raise
        user.tags = {str(k): str(v) for k, v in tags.items()}
        return 200, user.to_json()

    def c_post_keys(self, body, query):
        user = self.server.state.users.get(str(body.get("user")).lower())
        if user is None:
            raise BadRequest("no user %r" % body.get("user"), 404)
        key = self.make_key(user, body, bool(body.get("force")))
        return 200, dict(key.to_json(), user=user.name)

    def c_post_tags(self, body, query):
        user = self.server.state.users.get(str(body.get("user")).lower())
        if user is None:
            raise BadRequest("no user %r" % body.get("user"), 404)
        tags = body.get("tags")
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise BadRequest("tags is an object of strings")
        with self.server.state.lock:
            user.tags.update(tags)
        return 200, {"user": user.name, "tags": dict(user.tags)}

    def c_post_roles(self, body, query):
        st = self.server.state
        name = body.get("name")
        if not isinstance(name, str) or not USER_NAME_RE.match(name):
            raise BadRequest("bad role name %r" % (name,))
        if name in st.roles:
            raise BadRequest("role %s exists" % name, 409)
        role = Role(name, st.unique("AROA", 17, st.role_ids), bool(body.get("manager")),
                    body.get("external_id"), int(body.get("max_session_duration", 3600)))
        st.role_ids.add(role.role_id)
        st.roles[name] = role
        return 200, role.to_json()

    def c_post_web_identity_tokens(self, body, query):
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise BadRequest("token must be a non-empty string")
        self.server.state.tokens.add(token)
        return 200, {"ok": True}

    def c_get_state(self, body, query):
        st = self.server.state
        return 200, {"account": ACCOUNT, "now": iso(st.clock.now()),
                     "users": [u.to_json() for u in st.users.values()],
                     "roles": [r.to_json() for r in st.roles.values()],
                     "settings": dict(st.settings)}

    def c_post_settings(self, body, query):
        st = self.server.state
        new = dict(st.settings)
        if "propagation_delay" in body:
            new["propagation_delay"] = float(body["propagation_delay"])
            if new["propagation_delay"] < 0:
                raise BadRequest("propagation_delay must not be negative")
        if "page_size" in body:
            new["page_size"] = int(body["page_size"])
            if not 1 <= new["page_size"] <= 1000:
                raise BadRequest("page_size must be 1..1000")
        if "iam_region" in body:
            new["iam_region"] = str(body["iam_region"])
        unknown = set(body) - set(new)
        if unknown:
            raise BadRequest("unknown settings: %s" % ", ".join(sorted(unknown)))
        st.settings = new
        return 200, new

    def c_post_use(self, body, query):
        st = self.server.state
        key = st.keys.get(body.get("access_key_id"))
        if key is None:
            raise BadRequest("no access key %r" % body.get("access_key_id"), 404)
        date = parse_iso(body["date"]) if body.get("date") else st.clock.now()
        key.last_used = {"date": whole(date), "service": body.get("service", "iam"),
                         "region": body.get("region", "us-east-1")}
        return 200, dict(key.to_json(), user=key.user.name)


def add_arguments(parser):
    parser.add_argument("--manager-key", metavar="AKID:SECRET",
                        help="create user %s (manager) with exactly this key" % MANAGER_USER)
    parser.add_argument("--propagation-delay", type=float, default=0.0,
                        help="seconds before a key from CreateAccessKey authenticates")
    parser.add_argument("--page-size", type=int, default=100,
                        help="page size when a List call sends no MaxItems")


def setup(server, opts):
    if opts.manager_key:
        akid, sep, secret = opts.manager_key.partition(":")
        if not sep or not secret or not ACCESS_KEY_ID_RE.match(akid) or len(akid) < 16:
            raise SystemExit("aws_double: --manager-key wants AKID:SECRET (AKID 16+ word chars)")
    if not 1 <= opts.page_size <= 1000 or opts.propagation_delay < 0:
        raise SystemExit("aws_double: --page-size is 1..1000, --propagation-delay >= 0")
    server.state = State(opts, server.clock)


def main(argv=None):
    return doublelib.serve(Handler, argv, description=__doc__.splitlines()[0],
                           add_arguments=add_arguments, setup=setup)


if __name__ == "__main__":
    sys.exit(main())
