#!/usr/bin/env bash
# The benchmark runner: builds mjmcp three ways (Release JIT, JIT + ReadyToRun, NativeAOT), then measures in one run
# on this machine and writes docs/benchmarks.md (generated; never edit it by hand):
#   a. tool-call overhead: one mjmcp process vs the SDK alone, identical polling, both warm, interleaved rounds
#   b. polling: /fetch calls per task and lateness for 3–60 s jobs, without and with webhooks (fake clock)
#   c. full-size load: 100 concurrent workflows through the default server (failures, wait_task calls, peak RSS, wall)
#   d. a 2048² grid: render and PNG encode, the sandbox's way at 67689cf (issue 11 filed; its imaging code is built
#      from that commit into $BENCH_OUT/baseline-imaging) against now
#   e. cold start: spawn → initialize → tools/list vs the Node reference server (needs Node.js and npm)
#   f. 1 vs 3 replicas over Streamable HTTP on one PostgreSQL journal: throughput, p50/p95 (the HttpReplicaTests test)
#   g. preview cost: the with-key light preview of a 2048² grid and a 1024² upscale, stage by stage, vs inflating alone
# Usage: bash bench/run.sh [--quick] [--sections abcdefg] [--out FILE] [--body-from FILE]
#   --body-from: keep the sections of an earlier report (e.g. docs/benchmarks.md) and add the ones measured now.
#   --quick: one round, 20 workflows (a few minutes); the full run takes about 40 minutes on 2 cores.
# BENCH_OUT (default /tmp/mjmcp-bench) holds the builds. Builds use -m:1 (shared machines).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
quick=""
sections="abcdefg"
out="docs/benchmarks.md"
body_from=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick="--quick" ;;
    --sections) sections="$2"; shift ;;
    --out) out="$2"; shift ;;
    --body-from) body_from="$2"; shift ;;
    *) echo "usage: bash bench/run.sh [--quick] [--sections abcdefg] [--out FILE] [--body-from FILE]" >&2; exit 2 ;;
  esac
  shift
done
commit="$(git -C "$repo" describe --always --dirty --abbrev=12)"
build="${BENCH_OUT:-/tmp/mjmcp-bench}"
mkdir -p "$build" "$(dirname "$out")"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

log "building the bench runner"
dotnet build bench/MjMcp.Bench -c Release -m:1 -v:q -nologo >&2
if [[ "$sections" == *[ace]* ]]; then
log "publishing mjmcp (JIT, JIT+R2R, NativeAOT) into $build (sections a, c and e run it)"
dotnet publish src/MjMcp.Cli -c Release -r linux-x64 --self-contained false -p:PublishAot=false -p:ErrorOnDuplicatePublishOutputFiles=false -m:1 -v:q -nologo -o "$build/jit" >&2
dotnet publish src/MjMcp.Cli -c Release -r linux-x64 --self-contained false -p:PublishAot=false -p:PublishReadyToRun=true -p:ErrorOnDuplicatePublishOutputFiles=false -m:1 -v:q -nologo -o "$build/r2r" >&2
rm -f "$build/aot/mjmcp"
if ! dotnet publish src/MjMcp.Cli -c Release -r linux-x64 -m:1 -v:q -nologo -o "$build/aot" >&2; then
  log "NativeAOT publish failed: the NativeAOT rows are left out"
fi
fi

baseline=""
if [[ "$sections" == *d* ]]; then
  # The imaging code as it was when issue 11 was filed, built from git (not the work tree) under its own assembly name,
  # so section d renders and encodes both ways in one process.
  log "(d) building the imaging code of 67689cf into $build/baseline-imaging"
  rm -rf "$build/baseline-src" "$build/baseline-imaging"
  mkdir -p "$build/baseline-src"
  git -C "$repo" archive 67689cf .editorconfig Directory.Build.props Directory.Packages.props global.json src/MjMcp.Imaging | tar -x -C "$build/baseline-src"
  dotnet build "$build/baseline-src/src/MjMcp.Imaging" -c Release -m:1 -v:q -nologo -p:AssemblyName=MjMcp.Imaging.Baseline -o "$build/baseline-imaging" >&2
  baseline="$build/baseline-imaging/MjMcp.Imaging.Baseline.dll"
fi

startup=""
if [[ "$sections" == *e* ]]; then
  if command -v node >/dev/null && command -v npm >/dev/null; then
    (
      cd tests/MjMcp.Server.Tests/external
      [ -d node_modules/@modelcontextprotocol/server-everything ] || npm ci --no-audit --no-fund >&2
      variants=()
      [ -x "$build/aot/mjmcp" ] && variants+=(--as NativeAOT "$build/aot/mjmcp")
      variants+=(--as "JIT+R2R" dotnet "$build/r2r/mjmcp.dll" --as JIT dotnet "$build/jit/mjmcp.dll")
      log "(e) cold start"
      RUNS="$([ -n "$quick" ] && echo 5 || echo 15)" node bench-startup.mjs --json "$build/startup.json" "${variants[@]}" >&2
    )
    startup="$build/startup.json"
  else
    log "(e) skipped: Node.js/npm not found"
  fi
fi

replicas=""
if [[ "$sections" == *f* ]]; then
  log "(f) 1 vs 3 replicas over HTTP (HttpReplicaTests)"
  dotnet test tests/MjMcp.Server.Tests -m:1 --filter "FullyQualifiedName~AHundredWorkflowsOverStreamableHttp" --logger "console;verbosity=normal" > "$build/replicas.txt" 2>&1 \
    || log "(f) the replica test failed: see $build/replicas.txt"
  replicas="$build/replicas.txt"
fi

dotnet bench/MjMcp.Bench/bin/Release/net10.0/MjMcp.Bench.dll --out "$out" --commit "$commit" --sections "$sections" \
  --jit "$build/jit/mjmcp.dll" --aot "$build/aot/mjmcp" ${startup:+--startup "$startup"} ${replicas:+--replicas "$replicas"} ${baseline:+--baseline-imaging "$baseline"} ${body_from:+--body-from "$body_from"} $quick
log "wrote $out"
