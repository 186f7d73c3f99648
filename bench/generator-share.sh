#!/usr/bin/env bash
# The MjMcp generator's share of a build: rebuilds a project that generates the client and the tools from the
# shipped spec (default src/MjMcp.Cli) with the compiler's analyzer report, and prints the SpecGenerator time
# against the C# compile (Csc) and the whole build, measured in the same run. Target: <= 2% of the build.
# Usage: bench/generator-share.sh [project]
set -euo pipefail
cd "$(dirname "$0")/.."
project="${1:-src/MjMcp.Cli}"
log="$(mktemp)"
dotnet build "$project" --no-incremental -p:ReportAnalyzer=true -v:d -clp:PerformanceSummary > "$log" 2>&1
gen=$(grep -E '^\s+[0-9.<]+\s+[0-9<]+\s+MjMcp\.Generators\.SpecGenerator' "$log" | head -1 | awk '{print $1}' | tr -d '<')
csc=$(grep -E '^\s+[0-9]+ ms\s+Csc\s' "$log" | tail -1 | awk '{print $1/1000}')
total=$(grep -E '^Time Elapsed' "$log" | awk -F'[: ]+' '{print $3*3600+$4*60+$5}')
rm -f "$log"
awk -v g="$gen" -v c="$csc" -v t="$total" 'BEGIN {
  printf "MjMcp generator: %.3f s; all C# compiles of the build of %s: %.2f s; whole build: %.2f s\n", g, "'"$project"'", c, t
  printf "share of the compiles: %.1f%%; share of the build: %.1f%% (target <= 2%%)\n", 100*g/c, 100*g/t }'
