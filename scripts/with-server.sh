#!/usr/bin/env bash
# with-server.sh DIR PORT -- COMMAND...: serve DIR on 127.0.0.1:PORT (CORS on) while COMMAND runs.
set -euo pipefail
dir=$1 port=$2
shift 3
python3 "$(dirname "$0")/../tests/serve.py" --dir "$dir" --port "$port" --cors &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null && break
  sleep 0.2
done
"$@"
