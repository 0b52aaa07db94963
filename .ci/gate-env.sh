#!/usr/bin/env bash
# One framework env of the matrix, for .ci/run: its gate (`tox -e ENV`), then its adapters' own tests in
# the same virtualenv, then the virtualenv is deleted. Results stay in build/results/ENV/; the output goes
# to build/ci-logs/ENV.log and is printed in one piece when done (two of these run at once).
#   .ci/gate-env.sh ENV [ADAPTER...]   ADAPTERs: must load here (CONFORMANCE_REQUIRE_ADAPTERS); none: the
#                                      tests env already covers this env's adapters
set -uo pipefail
cd "$(dirname "$0")/.."
env=$1
shift
adapters="$*"
ADAPTER_TESTS="tests/test_adapters.py tests/test_more_adapters.py tests/test_keras_openvino_adapter.py
               tests/test_mindspore_adapter.py"
log="build/ci-logs/$env.log"
mkdir -p build/ci-logs
started=$SECONDS
python3 -m tox -e "$env" >"$log" 2>&1
gate=$?
gated=$SECONDS
tests=0
if [ -n "$adapters" ]; then
    CONFORMANCE_REQUIRE_ADAPTERS="$adapters" python3 -m tox exec -e "$env" -- \
        python -m pytest $ADAPTER_TESTS -q -p no:cacheprovider >>"$log" 2>&1
    tests=$?
fi
size=$(du -sh ".tox/$env" 2>/dev/null | cut -f1)
rm -rf ".tox/$env"
{
    flock 9
    echo "===== $env ====="
    cat "$log"
    echo "===== $env: gate exit $gate in $((gated - started)) s; adapter tests (${adapters:-none here}) exit" \
         "$tests in $((SECONDS - gated)) s; virtualenv $size, deleted; disk free: $(df -h . | awk 'NR==2 {print $4}')"
} 9>build/ci-logs/.print-lock
[ "$gate" -eq 0 ] && [ "$tests" -eq 0 ]
