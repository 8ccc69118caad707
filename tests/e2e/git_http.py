#!/usr/bin/env python3
"""git_http.py: git's smart HTTP (git http-backend, run as CGI) on loopback,
behind HTTP basic auth: the HTTPS-style token auth a hosted git server asks
for (GitHub: user x-access-token, password the token), without TLS.

  git_http.py --root DIR --token TOKEN [--port 0] [--lifetime 300]

Prints "PORT <n>" once it listens; exits after its lifetime. Every request
without the right Authorization gets 401 with WWW-Authenticate, as the
hosted servers answer. Standard library only.
"""

import argparse
import base64
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BACKEND = "/usr/lib/git-core/git-http-backend"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def authorized(self):
        want = "Basic " + base64.b64encode(("x-access-token:%s" % self.server.token)
                                           .encode()).decode()
        return self.headers.get("Authorization") == want

    def handle_any(self):
        if not self.authorized():
            # No body, and the connection closed: libgit2 1.5 sends its
            # retry with credentials without reading a 401's body, then
            # misreads that body as the next response's status line.
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""  # libgit2 streams a fetch's negotiation in chunks
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
        env = {"GIT_PROJECT_ROOT": self.server.root, "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(data)), "REMOTE_USER": "x-access-token",
               "REMOTE_ADDR": "127.0.0.1", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", "")}
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        out = subprocess.run([BACKEND], input=data, env=env, stdout=subprocess.PIPE,
                             timeout=60).stdout
        head, _, body = out.partition(b"\r\n\r\n")
        if not _:
            head, _, body = out.partition(b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = handle_any
    do_POST = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=300)
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.root, srv.token = os.path.abspath(a.root), a.token
    print("PORT %d" % srv.server_address[1], flush=True)
    threading.Timer(a.lifetime, srv.shutdown).start()
    srv.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
