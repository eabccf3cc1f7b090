#!/usr/bin/env python3
"""A token service for Docker's token auth, for tests/registry.sh only.

Serves GET /token over HTTPS on 127.0.0.1 as distribution's token spec
describes: Basic credentials (or none, for an anonymous token) and
`service` and `scope` query parameters in; a JSON {"token": JWT} out. The
JWT is RS256, signed with `openssl dgst` (standard library only otherwise),
with the signing certificate in its `x5c` header; the registry trusts it
through its `rootcertbundle`. The user USER with PASSWORD gets every action
asked for; anonymous requests get `pull` only; anything else gets 401.
POST /token takes the OAuth2 refresh-token grant (docker's identity tokens):
REFRESH_TOKEN gets every action asked for, as {"access_token": JWT}.

Usage: token_server.py PORT CERT KEY SIGNING_CERT SIGNING_KEY ISSUER USER PASSWORD REFRESH_TOKEN LOG
"""
import base64
import json
import ssl
import subprocess
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

port, cert, key, sign_cert, sign_key, issuer, user, password, refresh, log = sys.argv[1:11]
pem = open(sign_cert).read()
der = base64.b64decode("".join(l for l in pem.splitlines() if not l.startswith("-----")))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(text):
    out = subprocess.run(["openssl", "dgst", "-sha256", "-sign", sign_key], input=text.encode(),
                         capture_output=True, check=True)
    return b64url(out.stdout)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        good = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        with open(log, "a") as f:
            f.write(f"{url.path} scope={query.get('scope')} service={query.get('service')} "
                    f"auth={'user' if auth == good else 'none' if not auth else 'bad'}\n")
        if url.path != "/token" or (auth and auth != good):
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"details":"incorrect username or password"}')
            return
        self.answer(query, "token", user if auth else "", full=bool(auth))

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        good = form.get("grant_type") == ["refresh_token"] and form.get("refresh_token") == [refresh]
        with open(log, "a") as f:
            f.write(f"POST scope={form.get('scope')} service={form.get('service')} "
                    f"grant={form.get('grant_type')} refresh={'good' if good else 'bad'}\n")
        if not good:
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.answer(form, "access_token", user, full=True)

    def answer(self, query, field, subject, full):
        access = []
        for scope in query.get("scope", []):
            kind, name, actions = scope.split(":")
            granted = actions.split(",") if full else [a for a in actions.split(",") if a == "pull"]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
        claims = {"iss": issuer, "sub": subject, "aud": query.get("service", [""])[0],
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": str(time.time_ns()), "access": access}
        signed = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        body = json.dumps({field: signed + "." + sign(signed), "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", int(port)), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
