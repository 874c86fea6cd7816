# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TEST DOUBLE of HashiCorp Vault: only the KV version 2 and AppRole endpoints keelson calls. It is NOT Vault.

No Vault server can be installed on the machines keelson is tested on. This double answers, with Vault's
status codes and JSON shapes, exactly these requests (through hvac, as keelson makes them):

  POST /v1/auth/approle/login                      {role_id, secret_id} -> auth.client_token
  GET  /v1/<mount>/data/<path>                      read the current version (404 when missing)
  POST /v1/<mount>/data/<path>                      write a version; options.cas is honoured (0 = create only)
  LIST /v1/<mount>/metadata/<path>                  (or GET ...?list=true) the names below path
  GET  /v1/<mount>/metadata/<path>                 its versions (404 when missing)
  DELETE /v1/<mount>/metadata/<path>               the key with every version (204, also when missing)

Every request needs X-Vault-Token (a configured token, or one AppRole issued); X-Vault-Namespace, when the
double is given one, must match. It keeps everything in memory and records each request, so tests can read
what keelson wrote out of band. See docs/testing.md for what it does not prove.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit


class VaultDouble:
    def __init__(self, token: str = "root-token", role_id: str = "", secret_id: str = "", namespace: str = "") -> None:
        self.tokens = {token}
        self.role_id, self.secret_id, self.namespace = role_id, secret_id, namespace
        self.store: dict[str, list[dict[str, Any]]] = {}  # "<mount>/<path>" -> versions
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server: Optional[ThreadingHTTPServer] = None

    def start(self, certfile: Optional[str] = None, keyfile: Optional[str] = None) -> str:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"{}")

            def _handle(self, method: str) -> None:
                url = urlsplit(self.path)
                with double.lock:
                    double.requests.append((method, url.path))
                if url.path == "/v1/auth/approle/login" and method == "POST":
                    body = self._body()
                    if double.role_id and body.get("role_id") == double.role_id and body.get("secret_id") == double.secret_id:
                        token = secrets.token_hex(16)
                        double.tokens.add(token)
                        return self._reply(200, {"auth": {"client_token": token, "lease_duration": 3600, "renewable": True}})
                    return self._reply(400, {"errors": ["invalid role or secret ID"]})
                if self.headers.get("X-Vault-Token") not in double.tokens:
                    return self._reply(403, {"errors": ["permission denied"]})
                if double.namespace and self.headers.get("X-Vault-Namespace", "").strip("/") != double.namespace:
                    return self._reply(403, {"errors": ["permission denied (namespace)"]})
                parts = url.path.split("/", 4)  # "", "v1", mount, "data"|"metadata", path
                if len(parts) < 5 or parts[3] not in ("data", "metadata"):
                    return self._reply(404, {"errors": []})
                mount, kind, path = parts[2], parts[3], parts[4]
                listing = method == "LIST" or parse_qs(url.query).get("list") == ["true"]
                if kind == "metadata" and listing:
                    prefix = f"{mount}/{path.rstrip('/')}/"
                    keys = sorted({key[len(prefix) :].split("/")[0] for key in double.store if key.startswith(prefix)})
                    return self._reply(200, {"data": {"keys": keys}}) if keys else self._reply(404, {"errors": []})
                if kind == "metadata" and method == "GET":
                    versions = double.store.get(f"{mount}/{path}")
                    if not versions:
                        return self._reply(404, {"errors": []})
                    listed = {str(number): {"deletion_time": "", "destroyed": False} for number in range(1, len(versions) + 1)}
                    return self._reply(200, {"data": {"current_version": len(versions), "versions": listed}})
                if kind == "metadata" and method == "DELETE":
                    # Vault answers 204 whether or not the key was there.
                    with double.lock:
                        double.store.pop(f"{mount}/{path}", None)
                    self.send_response(204)
                    self.end_headers()
                    return None
                if kind != "data":
                    return self._reply(405, {"errors": ["unsupported by the keelson Vault double"]})
                key = f"{mount}/{path}"
                if method == "GET":
                    versions = double.store.get(key)
                    if not versions:
                        return self._reply(404, {"errors": []})
                    latest = versions[-1]
                    metadata = {"version": len(versions), "deletion_time": "", "destroyed": False, "created_time": "2026-01-01T00:00:00Z"}
                    return self._reply(200, {"data": {"data": latest, "metadata": metadata}})
                if method in ("POST", "PUT"):
                    body = self._body()
                    with double.lock:
                        versions = double.store.setdefault(key, [])
                        cas = (body.get("options") or {}).get("cas")
                        if cas is not None and int(cas) != len(versions):
                            return self._reply(400, {"errors": ["check-and-set parameter did not match the current version"]})
                        versions.append(dict(body.get("data") or {}))
                        return self._reply(200, {"data": {"version": len(versions)}})
                return self._reply(405, {"errors": []})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_LIST(self) -> None:
                self._handle("LIST")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if certfile and keyfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile, keyfile)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def value(self, mount: str, path: str) -> Optional[str]:
        """Out-of-band read of what keelson stored."""
        versions = self.store.get(f"{mount}/{path}")
        return versions[-1].get("value") if versions else None


def main() -> None:
    """Run the double on its own: python kv2_double.py PORT_FILE (prints the URL to PORT_FILE)."""
    import sys  # noqa: PLC0415
    import time  # noqa: PLC0415

    double = VaultDouble(token=sys.argv[2] if len(sys.argv) > 2 else "root-token")
    url = double.start()
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        handle.write(url)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
