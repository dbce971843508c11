#!/usr/bin/env bash
# One command on a fresh machine: installs what is missing (scripts/setup.sh), then builds the
# guests and the compositions and runs every test (`just test`). `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
scripts/setup.sh
just test
