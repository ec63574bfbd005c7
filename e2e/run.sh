#!/usr/bin/env bash
# Runs the Playwright e2e suite (`npx playwright test "$@"`) inside a
# loopback-only network namespace, so no test traffic can leave the machine:
#   - already inside one (IR3_NETNS=1): run as is;
#   - root: `unshare -n`;  otherwise, or if that is refused: `unshare -rn`
#     (needs unprivileged user namespaces);
#   - neither works: warn and run on the host network (the app and tests pass
#     `iceServers: []`, so WebRTC still stays on this machine).
# Arguments go to `playwright test`; its exit code is ours.
set -euo pipefail
cd "$(dirname "$0")/.."
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if [ "${IR3_NETNS:-}" = 1 ]; then
  exec npx playwright test "$@"
fi

if ! command -v ip >/dev/null 2>&1; then
  echo "e2e/run.sh: error: 'ip' not found; install iproute2 (apt-get install -y iproute2)" >&2
  echo "e2e/run.sh: it brings up the loopback interface of the test network namespace." >&2
  exit 1
fi

# The command run inside the namespace; "$@" reaches it as positional parameters.
inner='ip link set lo up && IR3_NETNS=1 exec npx playwright test "$@"'

# Probe first, so a refused unshare is not mistaken for failing tests.
candidates=()
[ "$(id -u)" -eq 0 ] && candidates+=("-n")
candidates+=("-rn")
for flags in "${candidates[@]}"; do
  if unshare "$flags" ip link set lo up >/dev/null 2>&1; then
    exec unshare "$flags" bash -c "$inner" bash "$@"
  fi
done

echo "e2e/run.sh: warning: cannot create a network namespace (need root or unprivileged" >&2
echo "e2e/run.sh: user namespaces); running on the host network." >&2
exec npx playwright test "$@"
