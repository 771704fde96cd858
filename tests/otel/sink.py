"""An OTLP/HTTP receiving end for the observability scenarios.

It listens on 127.0.0.1 (port 0), prints "otlp sink listening on
http://127.0.0.1:PORT" as its first line, and takes POST /v1/traces,
/v1/metrics and /v1/logs in binary protobuf (gzip or not), as the OTLP
specification has exporters send them. Each request is decoded with the
opentelemetry-proto definitions and appended to --out as one JSON line:
{"signal", "path", "headers", "body"}, the body as protobuf's JSON mapping.
A body that does not decode is recorded with "error" and answered 400, so a
test sees bad bytes instead of losing them. Bodies over 16 MiB are refused.
"""

import argparse
import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

LIMIT = 16 << 20

SIGNALS = {
    "/v1/traces": (
        "traces",
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
    ),
    "/v1/metrics": (
        "metrics",
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
    ),
    "/v1/logs": (
        "logs",
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
    ),
}


class Handler(BaseHTTPRequestHandler):
    lock = threading.Lock()
    out = None

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", kind="application/x-protobuf"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def record(self, entry):
        with Handler.lock:
            Handler.out.write(json.dumps(entry) + "\n")
            Handler.out.flush()

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        signal = SIGNALS.get(path)
        if signal is None:
            self.answer(404, b"no such signal", "text/plain")
            return
        name, request, response = signal
        length = int(self.headers.get("Content-Length") or 0)
        if length > LIMIT:
            self.answer(413, b"too large", "text/plain")
            return
        raw = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry = {"signal": name, "path": path, "headers": headers}
        try:
            if headers.get("content-encoding") == "gzip":
                raw = gzip.decompress(raw)
            if "json" in headers.get("content-type", ""):
                raise ValueError("this sink takes binary protobuf only")
            message = request()
            message.ParseFromString(raw)
        except Exception as e:  # anything undecodable is the test's finding
            entry["error"] = str(e)
            self.record(entry)
            self.answer(400, str(e).encode(), "text/plain")
            return
        entry["body"] = MessageToDict(message)
        self.record(entry)
        self.answer(200, response().SerializeToString())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="the JSON lines file")
    args = parser.parse_args()
    Handler.out = open(args.out, "a", encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"otlp sink listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
