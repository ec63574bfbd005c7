#!/usr/bin/env bash
# npm run bench -- <name> [...]: runs bench/<name>.ts (default: every benchmark)
# inside a loopback-only network namespace, like the e2e tests. Benchmarks
# print a table and, as their last line, one JSON object; they also write it
# to bench/results/<name>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
names=("$@")
if [ ${#names[@]} -eq 0 ]; then names=(series); fi
if [ ! -f dist/index.html ]; then npm run build; fi
run() {
  for n in "${names[@]}"; do
    if [ ! -f "bench/$n.ts" ]; then echo "no benchmark named '$n' (have: $(ls bench/*.ts | xargs -n1 basename | sed 's/\.ts$//' | tr '\n' ' '))" >&2; exit 2; fi
    node --import tsx "bench/$n.ts"
  done
}
if [ "${IR3_NETNS:-}" = "1" ]; then run
elif [ "$(id -u)" = "0" ] && command -v unshare >/dev/null; then
  export -f run; export IR3_NETNS=1
  exec unshare -n bash -c "ip link set lo up; $(declare -p names); $(declare -f run); run"
elif unshare -rn true 2>/dev/null; then
  export IR3_NETNS=1
  exec unshare -rn bash -c "ip link set lo up; $(declare -p names); $(declare -f run); run"
else
  echo "warning: cannot enter a loopback-only network namespace; running on the host network" >&2
  run
fi
