#!/usr/bin/python3
"""A minimal Margo Workload Fleet Manager, written from the rc.3 specification
(workload-management-api-1.0.0-rc.3.yaml, problem-types.md, the MIAF identity
pages) and nothing of edgectl's own code, so that edgectl's edge node is
tested against a server it was not built beside (tests/tests/it/foreign.rs).

Standard library and `cryptography` only. It:

- mints its own trust domain: a CA, its server X.509-SVID
  `spiffe://<td>/margo/wfm/<wfm-id>` and one device's client SVID
  `spiffe://<td>/margo/wfm/<wfm-id>/client/<device>`, and writes the device a
  credentials folder (identity.key, identity.crt, ca.crt, edged.toml);
- listens on 127.0.0.1, port 0, TLS 1.3 with client certificates required,
  and accepts only that device's SPIFFE ID;
- serves one desired state: a manifest (ETag, 304, `Cache-Control: private`)
  listing one `process` deployment, its YAML, the bundle, and the program the
  deployment runs (at the blob path edgectl's nodes fetch artifacts from);
- takes capabilities (PUT) and status reports (POST) and checks them against
  the rc.3 schema rules (enums, required members, no unknown top-level members
  in capabilities), answering 422 with the problems when they fail;
- can be told how to answer the next manifest polls, program fetches and
  status reports (for
  example 503 with or without Retry-After, 429 with Retry-After, then as
  usual), and to add members the spec does not name and `x-...-extensions`
  to what it serves, and serve the deployment in rc.3's appDeploymentManifest
  form (no apiVersion or kind);
- records every request, one JSON line each, in DIR/requests.jsonl.

Its first stdout line is `wfm listening on https://127.0.0.1:PORT`.
"""

import argparse
import datetime
import email.utils
import gzip
import hashlib
import io
import json
import math
import os
import ssl
import sys
import tarfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MANIFEST_TYPE = "application/vnd.margo.manifest.v1+json"
BUNDLE_TYPE = "application/vnd.margo.bundle.v1+tar+gzip"
FILE_TYPE = "application/vnd.edgectl.file.v1"
MAX_BODY = 1024 * 1024
STATES = ["pending", "installing", "installed", "failed", "removing", "removed"]
RUNTIMES = ["oci", "custom"]
DEPLOYMENT_TYPES = ["helm", "compose", "custom"]
ARCHITECTURES = ["amd64", "arm64", "arm"]
PROBLEM_BASE = "https://docs.margo.org/specification/problem-types#"


# --- identities -------------------------------------------------------------


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def certificate(subject_cn, key, issuer, issuer_key, uri, ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wfm.py"),
                      x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    b = (x509.CertificateBuilder()
         .subject_name(name)
         .issuer_name(issuer or name)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]),
                        critical=False)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False))
    if ca:
        b = (b.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                          crl_sign=True, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, encipher_only=False,
                                          decipher_only=False), critical=True))
    else:
        b = (b.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False,
                                          crl_sign=False, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, encipher_only=False,
                                          decipher_only=False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                   ExtendedKeyUsageOID.CLIENT_AUTH]),
                            critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 issuer_key.public_key()), critical=False))
    return b.sign(issuer_key, hashes.SHA256())


def pem_cert(c):
    return c.public_bytes(serialization.Encoding.PEM)


def pem_key(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


def write(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def toml_string(s):
    return json.dumps(s)


def mint(folder, td, wfm_id, device):
    """The CA, the server's SVID (returned as files) and the device's
    credentials folder `folder/node`."""
    os.makedirs(folder, exist_ok=True)
    ca_key = new_key()
    ca = certificate("wfm.py CA", ca_key, None, ca_key, f"spiffe://{td}", True)
    server_id = f"spiffe://{td}/margo/wfm/{wfm_id}"
    server_key = new_key()
    server = certificate(wfm_id, server_key, ca.subject, ca_key, server_id, False)
    client_id = f"{server_id}/client/{device}"
    client_key = new_key()
    client = certificate(device, client_key, ca.subject, ca_key, client_id, False)
    write(os.path.join(folder, "ca.crt"), pem_cert(ca))
    write(os.path.join(folder, "server.crt"), pem_cert(server))
    write(os.path.join(folder, "server.key"), pem_key(server_key), 0o600)
    node = os.path.join(folder, "node")
    os.makedirs(node, mode=0o700, exist_ok=True)
    write(os.path.join(node, "identity.key"), pem_key(client_key), 0o600)
    write(os.path.join(node, "identity.crt"), pem_cert(client))
    write(os.path.join(node, "ca.crt"), pem_cert(ca))
    return client_id, client.not_valid_after  # naive UTC (cryptography < 42)


def write_edged_toml(folder, client_id, server_url, not_after):
    text = ("# Credentials minted by tests/wfm/wfm.py.\n"
            f"role = {toml_string('en')}\n"
            f"site = {toml_string('foreign')}\n"
            f"spiffe_id = {toml_string(client_id)}\n"
            f"server = {toml_string(server_url)}\n"
            f"not_after = {toml_string(not_after.strftime('%Y-%m-%dT%H:%M:%SZ'))}\n")
    write(os.path.join(folder, "node", "edged.toml"), text.encode())


# --- the desired state ------------------------------------------------------


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def deployment_yaml(dep_id, device, app, program, extras, revision="1.0.0"):
    top = "generation: 3\nx-wfm-test-extensions:\n  rollout: canary\n" if extras else ""
    meta = "  uid: 5f0c-foreign\n  creationTimestamp: '2026-01-01T00:00:00Z'\n" if extras else ""
    spec = "  x-wfm-test-extensions:\n    owner: plant-ops\n" if extras else ""
    # With extras, rc.3's appDeploymentManifest form: no apiVersion or kind.
    header = "" if extras else (
        "apiVersion: application.margo.org/v1alpha1\nkind: ApplicationDeployment\n")
    return (
        f"{header}"
        f"{top}"
        "metadata:\n"
        f"  name: {app}\n"
        "  namespace: wfm-test\n"
        f"  deviceId: {device}\n"
        f"{meta}"
        "  annotations:\n"
        f"    id: {dep_id}\n"
        f"    applicationId: {app}\n"
        "spec:\n"
        f"  applicationId: {app}\n"
        f"{spec}"
        "  deploymentProfile:\n"
        "    type: process\n"
        "    components:\n"
        "      - name: hello\n"
        "        properties:\n"
        "          repository: ./components/hello.sh\n"
        f"          revision: {revision}\n"
        "          wait: true\n"
        "          timeout: 1m0s\n"
        "        x-edgectl-extensions:\n"
        "          artifact:\n"
        f"            digest: '{sha256(program)}'\n"
        f"            size: {len(program)}\n"
        f"            mediaType: {FILE_TYPE}\n"
    ).encode()


def bundle_of(name, data):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


class Desired:
    """One manifest listing one deployment: version 1, or version 2 where
    the same deployment moved to revision 1.0.1 (a new document, a new
    digest)."""

    def __init__(self, device, program, extras, version=1, dep_id=None):
        self.app = "hello-foreign"
        self.device = device
        self.extras = extras
        self.dep_id = dep_id or str(uuid.uuid4())
        self.program = program
        revision = "1.0.0" if version == 1 else "1.0.1"
        self.yaml = deployment_yaml(self.dep_id, device, self.app, program, extras, revision)
        self.yaml_digest = sha256(self.yaml)
        self.bundle = bundle_of(f"{self.dep_id}.yaml", self.yaml)
        self.bundle_digest = sha256(self.bundle)
        self.version = version
        manifest = {
            "manifestVersion": self.version,
            "bundle": {"mediaType": BUNDLE_TYPE, "digest": self.bundle_digest,
                       "sizeBytes": len(self.bundle),
                       "url": f"/api/v1/bundles/{self.bundle_digest}"},
            "deployments": [{"deploymentId": self.dep_id, "digest": self.yaml_digest,
                             "sizeBytes": len(self.yaml),
                             "url": f"/api/v1/deployments/{self.dep_id}/{self.yaml_digest}"}],
        }
        if extras:
            manifest["generatedBy"] = "wfm.py"
            manifest["x-wfm-test-extensions"] = {"region": "eu-west"}
            manifest["bundle"]["compression"] = "gzip"
            manifest["deployments"][0]["priority"] = 5
            manifest["deployments"][0]["x-wfm-test-extensions"] = {"tier": 1}
        self.manifest = canonical(manifest)
        self.etag = '"' + sha256(self.manifest) + '"'


# --- the rc.3 checks of what a device sends ----------------------------------


def check_capabilities(doc, device):
    """The DeviceCapabilitiesManifest rules of the rc.3 OpenAPI document."""
    bad = []
    if not isinstance(doc, dict):
        return ["the body is not an object"]
    for k in doc:
        if k not in ("properties", "labels") and not (
                k.startswith("x-") and k.endswith("-extensions") and isinstance(doc[k], dict)):
            bad.append(f"unknown top-level member `{k}` (additionalProperties: false)")
    p = doc.get("properties")
    if not isinstance(p, dict):
        return bad + ["`properties` is required"]
    for k in ("id", "vendor", "modelNumber", "serialNumber"):
        if not isinstance(p.get(k), str):
            bad.append(f"`properties.{k}` is required")
    if p.get("id") != device:
        bad.append(f"`properties.id` is `{p.get('id')}`, the path says `{device}`")
    for key, allowed in (("supportedRuntimes", RUNTIMES),
                         ("supportedDeploymentTypes", DEPLOYMENT_TYPES)):
        v = p.get(key)
        if v is None:
            continue
        if not isinstance(v, list) or not v:
            bad.append(f"`properties.{key}` must be a list of at least one item")
            continue
        for t in v:
            if t not in allowed:
                bad.append(f"`properties.{key}` holds `{t}`, not one of {allowed}")
    for cpu in p.get("cpus", []) or []:
        if not isinstance(cpu, dict) or not isinstance(cpu.get("cores"), (int, float)):
            bad.append("a `cpus` entry needs `cores`")
        elif "architecture" in cpu and cpu["architecture"] not in ARCHITECTURES:
            bad.append(f"architecture `{cpu['architecture']}` is not one of {ARCHITECTURES}")
    if "otelCollector" in p and not isinstance(p["otelCollector"], bool):
        bad.append("`otelCollector` must be a boolean")
    labels = doc.get("labels", {})
    if not isinstance(labels, dict):
        bad.append("`labels` must be an object")
    return bad


def check_status(doc, dep_id, desired):
    """The DeploymentStatusManifest rules of the rc.3 OpenAPI document."""
    bad = []
    if not isinstance(doc, dict):
        return ["the body is not an object"]
    for k in ("deploymentId", "adoptedManifestVersion", "status", "components"):
        if k not in doc:
            bad.append(f"`{k}` is required")
    if doc.get("deploymentId") != dep_id:
        bad.append(f"`deploymentId` is `{doc.get('deploymentId')}`, the path says `{dep_id}`")
    v = doc.get("adoptedManifestVersion")
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= desired.version:
        bad.append(f"`adoptedManifestVersion` `{v}` is not a version this WFM served")
    status = doc.get("status")
    if not isinstance(status, dict) or status.get("state") not in STATES:
        bad.append("`status.state` must be one of " + ", ".join(STATES))
    components = doc.get("components")
    if not isinstance(components, list):
        bad.append("`components` must be a list")
    else:
        names = []
        for c in components:
            if not isinstance(c, dict) or not isinstance(c.get("name"), str) \
                    or c.get("state") not in STATES:
                bad.append("a component needs a `name` and a `state` of " + ", ".join(STATES))
            else:
                names.append(c["name"])
        if dep_id == desired.dep_id and names != ["hello"]:
            bad.append(f"`components` names {names}; the deployment has one component, `hello`")
    return bad


# --- the server ---------------------------------------------------------------


class Wfm:
    def __init__(self, args, desired, client_id):
        self.args = args
        self.desired = desired
        self.client_id = client_id
        self.lock = threading.Lock()
        self.log = open(os.path.join(args.dir, "requests.jsonl"), "a", buffering=1)
        self.manifest_plan = parse_plan(args.manifest_answers)
        self.status_plan = parse_plan(args.status_answers)
        self.blob_plan = parse_plan(args.blob_answers)
        self.yaml_plan = [t for t in (args.second_yaml_answers or "").split(",") if t]
        for t in self.yaml_plan:
            if t not in ("ok", "404", "corrupt"):
                raise SystemExit(f"wfm.py: `{t}`: a document answer is ok, 404 or corrupt")
        self.known_devices = set()
        self.statuses = set()

    def next_answer(self, plan):
        """The next planned answer, `(status, retry)`; `None` to answer as usual."""
        with self.lock:
            return plan.pop(0) if plan else None

    def record(self, entry):
        with self.lock:
            self.log.write(json.dumps(entry) + "\n")


def parse_plan(text):
    """`ANSWER,ANSWER,...`: each `ok` (as usual) or `STATUS[:RETRY]`, where
    RETRY is seconds (`5`) or an HTTP-date that many seconds ahead
    (`date5`), sent as Retry-After."""
    plan = []
    for token in filter(None, (text or "").split(",")):
        if token == "ok":
            plan.append(None)
            continue
        status, _, retry = token.partition(":")
        if retry and not (retry.isdigit() or (retry.startswith("date") and retry[4:].isdigit())):
            raise SystemExit(f"wfm.py: `{token}`: RETRY is seconds or dateN")
        plan.append((int(status), retry or None))
    return plan


def retry_after_value(retry):
    if retry.startswith("date"):
        # The whole second after now, plus N: never less than N seconds away.
        at = math.floor(time.time()) + 1 + int(retry[4:])
        return email.utils.formatdate(at, usegmt=True), int(retry[4:]) + 1
    return retry, int(retry)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wfm.py"
    timeout = 30

    def log_message(self, fmt, *args):
        sys.stderr.write("wfm.py: " + (fmt % args) + "\n")

    # -- answers --

    def answer(self, status, body=b"", ctype=None, headers=()):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.entry["status"] = status
        self.entry["answer_headers"] = dict(headers)

    def problem(self, status, title, kind=None, detail=None, retry_after=None, errors=None):
        p = {"type": PROBLEM_BASE + kind if kind else "about:blank", "title": title,
             "status": status}
        if detail:
            p["detail"] = detail
        headers = []
        if status in (429, 500, 503):
            p.update({"retryable": True, "backoffStrategy": "exponential"})
        else:
            p.update({"retryable": False, "backoffStrategy": "none"})
        if retry_after is not None:
            value, seconds = retry_after_value(retry_after)
            p["retryAfterSeconds"] = seconds
            headers.append(("Retry-After", value))
        if errors:
            p["errors"] = errors
        self.answer(status, json.dumps(p).encode(), "application/problem+json", headers)

    # -- dispatch --

    def handle_one(self):
        wfm = self.server.wfm
        self.entry = {"t": time.monotonic(), "method": self.command, "path": self.path,
                      "headers": {k: self.headers.get(k) for k in
                                  ("If-None-Match", "Accept", "Prefer", "Content-Type")
                                  if self.headers.get(k) is not None}}
        try:
            peer = self.connection.getpeercert() or {}
            uris = [v for k, v in peer.get("subjectAltName", ()) if k == "URI"]
            if uris != [wfm.client_id]:
                return self.problem(403, "Forbidden", "not-authorized",
                                    f"{uris} is not a client of this WFM")
            body = b""
            if self.command in ("PUT", "POST"):
                length = self.headers.get("Content-Length")
                if length is None or not length.isdigit():
                    return self.problem(411, "Length Required")
                if int(length) > MAX_BODY:
                    self.close_connection = True
                    return self.problem(413, "Content Too Large")
                body = self.rfile.read(int(length))
            self.route(wfm, body)
        finally:
            wfm.record(self.entry)

    def route(self, wfm, body):
        d = wfm.desired
        parts = self.path.split("?")[0].split("/")
        if self.command == "GET" and self.path.split("?")[0] == "/api/v1/deployments":
            planned = wfm.next_answer(wfm.manifest_plan)
            if planned:
                return self.refuse(*planned)
            accept = self.headers.get("Accept")
            if accept and MANIFEST_TYPE not in accept and "*/*" not in accept:
                return self.problem(406, "Not Acceptable", "server-cannot-generate-response")
            common = [("ETag", d.etag), ("Cache-Control", "private")]
            if self.headers.get("If-None-Match") == d.etag:
                return self.answer(304, headers=common)
            return self.answer(200, d.manifest, MANIFEST_TYPE, common)
        if self.command == "GET" and len(parts) == 6 and parts[1:4] == ["api", "v1", "deployments"]:
            if parts[4] == d.dep_id and parts[5] == d.yaml_digest:
                planned = wfm.next_answer(wfm.yaml_plan) if d.version == 2 else None
                self.entry["planned"] = planned
                if planned == "404":
                    return self.problem(404, "Not Found", "deployment-not-found")
                if planned == "corrupt":
                    # Bytes that do not match the digest the manifest names.
                    return self.answer(200, d.yaml[:-1] + b"#", "application/yaml", [
                        ("ETag", f'"{d.yaml_digest}"')])
                return self.answer(200, d.yaml, "application/yaml", [
                    ("ETag", f'"{d.yaml_digest}"'),
                    ("Cache-Control", "private, max-age=31536000, immutable"),
                    ("Vary", "Accept-Encoding")])
            return self.problem(404, "Not Found", "deployment-not-found")
        if self.command == "GET" and len(parts) == 5 and parts[1:4] == ["api", "v1", "bundles"]:
            if parts[4] == d.bundle_digest:
                return self.answer(200, d.bundle, BUNDLE_TYPE, [
                    ("ETag", f'"{d.bundle_digest}"'),
                    ("Cache-Control", "private, max-age=31536000, immutable")])
            return self.problem(404, "Not Found", "invalid-bundle")
        if self.command == "GET" and len(parts) == 5 and parts[1] == "v2" and parts[3] == "blobs":
            # Where edgectl's nodes fetch a package-local artifact by digest.
            planned = wfm.next_answer(wfm.blob_plan)
            if planned:
                return self.refuse(*planned)
            if parts[2] == d.app and parts[4] == sha256(d.program):
                return self.answer(200, d.program, "application/octet-stream")
            return self.problem(404, "Not Found")
        if self.command == "PUT" and len(parts) >= 5 and parts[1:4] == ["api", "v1", "capabilities"]:
            device = "/".join(parts[4:])
            return self.take(body, lambda doc: check_capabilities(doc, device),
                             device, wfm.known_devices)
        if self.command == "POST" and len(parts) == 6 and parts[1:4] == ["api", "v1", "deployments"] \
                and parts[5] == "status":
            planned = wfm.next_answer(wfm.status_plan)
            if planned:
                self.entry["body"] = parse_json(body)
                return self.refuse(*planned)
            return self.take(body, lambda doc: check_status(doc, parts[4], d),
                             parts[4], wfm.statuses)
        return self.problem(404, "Not Found")

    def refuse(self, status, retry):
        titles = {429: "Too Many Requests", 500: "Internal Server Error",
                  503: "Service Unavailable"}
        return self.problem(status, titles.get(status, "Refused"), retry_after=retry)

    def take(self, body, check, key, seen):
        doc = parse_json(body)
        self.entry["body"] = doc
        problems = check(doc) if doc is not None else ["the body is not JSON"]
        self.entry["violations"] = problems
        if problems:
            return self.problem(422, "Unprocessable Content", "semantic-error",
                                "; ".join(problems),
                                errors=[{"field": "", "message": p} for p in problems])
        wfm = self.server.wfm
        with wfm.lock:
            created = key not in seen
            seen.add(key)
            # --second: once version 1 is reported installed, version 2
            # is what the manifest says (one swap: readers see one or the other).
            d = wfm.desired
            if wfm.args.second and d.version == 1 and isinstance(doc, dict) \
                    and doc.get("adoptedManifestVersion") == 1 \
                    and (doc.get("status") or {}).get("state") == "installed":
                wfm.desired = Desired(d.device, d.program, d.extras, 2, d.dep_id)
        self.entry["accepted"] = True
        return self.answer(201 if created else 200)

    def do_GET(self):
        self.handle_one()

    def do_PUT(self):
        self.handle_one()

    def do_POST(self):
        self.handle_one()


def parse_json(body):
    try:
        return json.loads(body)
    except ValueError:
        return None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 16

    def __init__(self, addr, context, wfm):
        super().__init__(addr, Handler)
        self.context = context
        self.wfm = wfm

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.settimeout(Handler.timeout)
        # The handshake runs in the request's own thread, on first use.
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        sys.stderr.write(f"wfm.py: a connection from {client_address} failed: "
                         f"{sys.exc_info()[1]!r}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", required=True, help="folder for identities and the request log")
    ap.add_argument("--trust-domain", default="wfm.test")
    ap.add_argument("--wfm-id", default="foreign-wfm")
    ap.add_argument("--device", default="edge-1")
    ap.add_argument("--program", required=True, help="the program the deployment runs")
    ap.add_argument("--extras", action="store_true",
                    help="add members the spec does not name, and x-...-extensions, and "
                         "serve the deployment without apiVersion and kind")
    ap.add_argument("--manifest-answers", default="", metavar="ANSWER,...",
                    help="how to answer the first manifest polls, in order: `ok`, or "
                         "STATUS[:RETRY] with Retry-After RETRY (seconds, or dateN: an "
                         "HTTP-date N s ahead); a 503 without RETRY is what a broken proxy "
                         "sends (the spec requires Retry-After)")
    ap.add_argument("--status-answers", default="", metavar="ANSWER,...",
                    help="the same for the first status reports, such as `429:3`")
    ap.add_argument("--blob-answers", default="", metavar="ANSWER,...",
                    help="the same for the first fetches of the program")
    ap.add_argument("--tls12", action="store_true",
                    help="speak TLS 1.2 only (a fleet manager a Margo client must not "
                         "fall back to for its management API in this suite)")
    ap.add_argument("--second", action="store_true",
                    help="once version 1 is reported installed, serve manifest version 2: "
                         "the same deployment at revision 1.0.1")
    ap.add_argument("--second-yaml-answers", default="", metavar="ANSWER,...",
                    help="how to answer the first fetches of version 2's document: `ok`, "
                         "`404`, or `corrupt` (bytes that do not match its digest)")
    args = ap.parse_args()
    with open(args.program, "rb") as f:
        program = f.read()
    client_id, not_after = mint(args.dir, args.trust_domain, args.wfm_id, args.device)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if args.tls12:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    else:
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(os.path.join(args.dir, "ca.crt"))
    context.load_cert_chain(os.path.join(args.dir, "server.crt"),
                            os.path.join(args.dir, "server.key"))
    desired = Desired(args.device, program, args.extras)
    wfm = Wfm(args, desired, client_id)
    server = Server(("127.0.0.1", 0), context, wfm)
    url = f"https://127.0.0.1:{server.server_address[1]}"
    write_edged_toml(args.dir, client_id, url, not_after)
    with open(os.path.join(args.dir, "desired.json"), "w") as f:
        json.dump({"deploymentId": desired.dep_id, "manifestVersion": desired.version,
                   "etag": desired.etag}, f)
    print(f"wfm listening on {url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
