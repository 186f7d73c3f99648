#!/usr/bin/env bash
# A team setup on one machine, in one command: a throw-away PostgreSQL journal, the sandbox as the provider (unless
# MJMCP_API_KEY is set: then the real provider), and two mjmcp replicas serving MCP over Streamable HTTP on
# 127.0.0.1:8081 and 127.0.0.1:8082 that share the journal, the webhook receiver and MJMCP_MAX_CONCURRENT_JOBS.
# Put any HTTP load balancer in front of the two ports, or give clients one each. Ctrl+C stops everything and removes
# the temporary PostgreSQL and data.
#   bash deploy/replicas.sh            # env: MJMCP_MAX_CONCURRENT_JOBS (default 4), MJMCP_API_KEY, MJMCP_BIN (an installed mjmcp)
set -euo pipefail
cd "$(dirname "$0")/.."

pgbin=""
for dir in $(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)") /usr/lib/postgresql/*/bin /usr/local/bin; do
  if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then pgbin=$dir; break; fi
done
if [ -z "$pgbin" ]; then
  echo "replicas.sh: PostgreSQL is not installed: apt-get install postgresql (or your system's package), then run this again." >&2
  exit 2
fi

if [ -n "${MJMCP_BIN:-}" ]; then
  mjmcp=("$MJMCP_BIN")
else
  dotnet build src/MjMcp.Cli -c Release -v quiet -nologo >&2
  mjmcp=(dotnet src/MjMcp.Cli/bin/Release/net10.0/mjmcp.dll)
fi

work=$(mktemp -d /tmp/mjmcp-replicas-XXXXXX)
chmod 755 "$work"
pids=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  as_pg "$pgbin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# PostgreSQL on a free port, 127.0.0.1 only, trust auth for the local user (a throw-away database).
pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/pg"; [ "$(id -u)" = 0 ] && chown postgres "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg" -U postgres -A trust >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w -o "-p $pgport -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null
psql=$([ -x "$pgbin/psql" ] && echo "$pgbin/psql" || command -v psql)
"$psql" -h 127.0.0.1 -p "$pgport" -U postgres -q -c "CREATE DATABASE mjmcp"
export MJMCP_JOURNAL="Host=127.0.0.1;Port=$pgport;Username=postgres;Database=mjmcp"
export MJMCP_MAX_CONCURRENT_JOBS=${MJMCP_MAX_CONCURRENT_JOBS:-4}

# The provider: the real one with a key, else one standalone sandbox that both replicas share.
if [ -z "${MJMCP_API_KEY:-}" ]; then
  export MJMCP_API_KEY=local-sandbox-key MJMCP_BASE_URL=http://127.0.0.1:5077/
  "${mjmcp[@]}" sandbox --port 5077 --api-key "$MJMCP_API_KEY" --data-dir "$work/sandbox" 2>"$work/sandbox.log" &
  pids+=($!)
fi

# One client token (shown once here; only its hash reaches the servers).
token_out=$("${mjmcp[@]}" token new team)
token=$(sed -n 's/^token: //p' <<<"$token_out")
export MJMCP_HTTP_TOKENS="team=$(sed -n 's/^hash: //p' <<<"$token_out")"

# Replica A runs the webhook receiver; B tells the provider A's URL (behind a load balancer: the balancer's URL).
"${mjmcp[@]}" serve --http 127.0.0.1:8081 --data-dir "$work/a" --webhook-port 8787 2>"$work/a.log" &
pids+=($!)
"${mjmcp[@]}" serve --http 127.0.0.1:8082 --data-dir "$work/b" --webhook-url http://127.0.0.1:8787/mjmcp/webhook 2>"$work/b.log" &
pids+=($!)

for port in 8081 8082; do
  for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { echo "replica on $port did not get ready; its log:" >&2; cat "$work"/*.log >&2; exit 1; }
done

cat <<INFO
Two mjmcp replicas on one PostgreSQL journal (max_concurrent_jobs=$MJMCP_MAX_CONCURRENT_JOBS):
  http://127.0.0.1:8081/mcp   http://127.0.0.1:8082/mcp   (logs in $work)
Client config (either URL, or a load balancer in front of both):
  { "mcpServers": { "midjourney": { "type": "http", "url": "http://127.0.0.1:8081/mcp",
      "headers": { "Authorization": "Bearer $token" } } } }
Ctrl+C stops the replicas, the provider and PostgreSQL, and removes $work.
INFO
wait
