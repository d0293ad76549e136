#!/usr/bin/env python3
"""Static file server for the demo and the browser tests, on loopback only.

    python3 tests/serve.py --dir www --port 8080 [--cors] [--isolated]

--cors adds Access-Control-Allow-Origin: * (the wasm-bindgen-test page runs on another port
and fetches the model files from here). --isolated sends the two headers that make a page
cross-origin isolated (Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy:
require-corp), so that it may share memory among threads. Serves .wasm as application/wasm.
"""
import argparse
import functools
import http.server
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    cors = False
    isolated = False
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
        ".safetensors": "application/octet-stream",
        ".gguf": "application/octet-stream",
    }

    def end_headers(self):
        if self.cors:
            self.send_header("Access-Control-Allow-Origin", "*")
        if self.isolated:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, fmt, *args):
        if "-v" in sys.argv:
            super().log_message(fmt, *args)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", default="www")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--cors", action="store_true")
    p.add_argument("--isolated", action="store_true")
    p.add_argument("-v", action="store_true")
    a = p.parse_args()
    Handler.cors = a.cors
    Handler.isolated = a.isolated
    handler = functools.partial(Handler, directory=a.dir)
    server = http.server.ThreadingHTTPServer((a.host, a.port), handler)
    print(f"serving {a.dir} on http://{a.host}:{a.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
