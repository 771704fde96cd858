"""A Docker registry token server for the pull-through scenario.

It implements the token side of the registry's bearer authentication, as the
CNCF distribution documentation describes it: a client that got
`401 WWW-Authenticate: Bearer realm=…,service=…,scope=…` from the registry asks
GET <realm>?service=…&scope=repository:NAME:pull,push with HTTP Basic
credentials and receives a short-lived JWT naming the access granted.

Startup: --dir DIR gets a fresh self-signed P-256 certificate (root.crt),
which the registry's `auth.token.rootcertbundle` names; each JWT is signed
with its key (ES256) and carries the certificate in `x5c`. The first stdout
line is "token server listening on http://127.0.0.1:PORT". Every request is
appended to DIR/token-requests.jsonl (user, scope, granted) so a test can see
who asked for what; secrets are never recorded.

Only --user with --password gets access; anyone else gets a token granting
nothing (what public registries give anonymous callers), and wrong
credentials get 401.
"""

import argparse
import base64
import datetime
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

LIFETIME = 300


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_root(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge test token issuer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    with open(os.path.join(directory, "root.crt"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


class Handler(BaseHTTPRequestHandler):
    key = None
    cert = None
    user = None
    password = None
    service = None
    issuer = None
    record = None
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def answer(self, status, body, extra=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def caller(self):
        """The user name when the Basic credentials are right; "" when none
        were sent; None when they are wrong."""
        header = self.headers.get("Authorization", "")
        if not header:
            return ""
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:
            return None
        if user == Handler.user and password == Handler.password:
            return user
        return None

    def do_GET(self):
        url = urlparse(self.path)
        if url.path != "/token":
            self.answer(404, {"error": "not found"})
            return
        query = parse_qs(url.query)
        user = self.caller()
        if user is None:
            self.log({"user": "?", "refused": True})
            self.answer(401, {"error": "wrong credentials"},
                        [("WWW-Authenticate", 'Basic realm="token"')])
            return
        if query.get("service", [""])[0] != Handler.service:
            self.answer(400, {"error": "unknown service"})
            return
        access = []
        for scope in query.get("scope", []):
            for one in scope.split(" "):
                parts = one.split(":")
                if len(parts) < 3 or parts[0] != "repository":
                    continue
                name = ":".join(parts[1:-1])
                actions = [a for a in parts[-1].split(",") if a in ("pull", "push")]
                access.append({"type": "repository", "name": name,
                               "actions": actions if user else []})
        now = int(time.time())
        claims = {
            "iss": Handler.issuer, "sub": user, "aud": Handler.service,
            "exp": now + LIFETIME, "nbf": now - 30, "iat": now,
            "jti": b64url(os.urandom(12)), "access": access,
        }
        der = Handler.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode())).encode()
        r, s = decode_dss_signature(Handler.key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        token = signing_input.decode() + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        self.log({"user": user, "access": access})
        self.answer(200, {"token": token, "access_token": token, "expires_in": LIFETIME})

    def log(self, entry):
        with Handler.lock:
            Handler.record.write(json.dumps(entry) + "\n")
            Handler.record.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--issuer", required=True)
    args = parser.parse_args()
    Handler.key, Handler.cert = make_root(args.dir)
    Handler.user, Handler.password = args.user, args.password
    Handler.service, Handler.issuer = args.service, args.issuer
    Handler.record = open(os.path.join(args.dir, "token-requests.jsonl"), "a", encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"token server listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
