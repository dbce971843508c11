#!/usr/bin/env bash
# One command on a fresh machine: installs what is missing (scripts/setup.sh), then runs the
# HTTP demo (`just demo-http`: builds the guests and the compositions first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
scripts/setup.sh
just demo-http
