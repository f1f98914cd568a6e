#!/usr/bin/env bash
# protocol_selftest: the Python worker's codec (tests/protocol/pyworker.py, written
# from common/PROTOCOL.md alone) decodes and re-encodes every worked example of §9
# byte for byte and applies the decoding rules of §2. The C codec checks the same
# examples in tests/unit/test_proto.c (test_worked_example).
# Needs python3-zmq and python3-msgpack (exit 77 without them).
# timeout: 60
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
/usr/bin/python3 "$ROOT/tests/protocol/pyworker.py" --self-test "$ROOT/common/PROTOCOL.md"
