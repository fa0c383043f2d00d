#!/usr/bin/env bash
# Every figure of the before/after table in benchmarks/README.md, in one command:
#
#   benchmarks/run_all.sh LABEL [TIER]        e.g. benchmarks/run_all.sh after
#
# TIER: "staso" (default: baseline, its A/A control, staso, staso+sqlite), "peers" (baseline
# and the peers) or "all". Instruction counts run under nice -n 19; set-up is wall time, so it
# runs unniced. Environments (made as benchmarks/README.md says, from the repository root):
#   PEERS_VENV (default .venv-peers): ".[test]" + the peers; every scenario but LlamaIndex's,
#     per-chunk counts and the RSS check.
#   LLAMA_VENV (default .venv-peers-llama): ".[llama-index-test]" + the peers' LlamaIndex and
#     OpenAI instrumentations; the LlamaIndex scenarios and set-up (all four SDKs installed).
# STEPS (default "instructions llama chunks startup rss") picks parts. Each part is written to
# benchmarks/results/parts/LABEL/, then all are merged into benchmarks/results/LABEL-DATE.json;
# print its tables with: python benchmarks/compare.py benchmarks/results/LABEL-DATE.json
set -euo pipefail
cd "$(dirname "$0")/.."
# The package measured is this checkout's (or PACKAGE_SRC's: another checkout, e.g. the "before"
# commit), whatever the venvs' editable install points at.
export PYTHONPATH="${PACKAGE_SRC:-$PWD}${PYTHONPATH:+:$PYTHONPATH}"
label=${1:?usage: benchmarks/run_all.sh LABEL [staso|peers|all]}
tier=${2:-staso}
peers=${PEERS_VENV:-.venv-peers}/bin/python
llama=${LLAMA_VENV:-.venv-peers-llama}/bin/python
steps=${STEPS:-instructions llama chunks startup rss}
parts=benchmarks/results/parts/$label
mkdir -p "$parts"

case $tier in
  staso) contenders=(--contender baseline-aa --contender staso --contender staso+sqlite) ;;
  peers) contenders=(--contender openinference --contender openllmetry --contender otel-openai-v2
                     --contender logfire --contender langfuse) ;;
  all) contenders=() ;;
  *) echo "TIER is staso, peers or all, not $tier" >&2; exit 2 ;;
esac
scenarios=()
for s in "openai create (sync)" "openai create (async)" "openai stream + usage" "anthropic create" \
         "anthropic stream" "langchain tool invoke" "langchain chat invoke"; do
  scenarios+=(--scenario "$s")
done

for step in $steps; do
  echo "$(date -u +%H:%M:%S) $step" >&2
  case $step in
    instructions) nice -n 19 "$peers" benchmarks/instructions.py "${scenarios[@]}" "${contenders[@]}" \
                    --json "$parts/instructions-$tier.json" ;;
    llama) nice -n 19 "$llama" benchmarks/instructions.py --scenario "llama_index complete" \
             --scenario "llama_index retrieve" "${contenders[@]}" --json "$parts/instructions-llama-$tier.json" ;;
    chunks) nice -n 19 "$peers" benchmarks/chunks.py --callgrind --json "$parts/chunks.json" ;;
    startup) "$llama" benchmarks/startup.py --json "$parts/startup.json" ;;
    rss) nice -n 19 "$peers" benchmarks/overhead.py --rss-only --json "$parts/rss.json" ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
"$peers" benchmarks/compare.py --merge "$parts" "benchmarks/results/$label-$(date -u +%F).json"
