#!/usr/bin/env bash
# Check a folder of uploaded pictures against known footage: the commands the CI example runs
# (examples/ci/github-actions.yml); tests/test_examples.py runs this script as it is.
#
#   bash examples/ci/check-uploads.sh MANIFEST INDEX UPLOADS OUT
#
#   MANIFEST  CSV or JSON manifest of the known footage (provcheck index add --manifest)
#   INDEX     the index file, restored from the CI cache; created on the first run
#   UPLOADS   folder of uploaded pictures to check
#   OUT       folder for results.jsonl (one JSON object a claim), evidence/ and report.html
#
# Exit status: 0 no upload matches known footage; 4 one does (the job fails, the evidence says
# which and where from); 1 an upload could not be read; 2 a usage error; 3 the index is damaged.
# PROVCHECK overrides the command (default: provcheck).
set -uo pipefail
read -r -a provcheck <<< "${PROVCHECK:-provcheck}"
manifest=$1 index=$2 uploads=$3 out=$4
mkdir -p "$out"

# Index what the manifest adds since the cached index was made: files already in it are
# recognised by their SHA-256 and skipped, so a warm cache costs seconds.
"${provcheck[@]}" index add --manifest "$manifest" --index "$index" --quiet --json > "$out/indexed.json" || exit $?

# One call for every upload: results stream to results.jsonl as each is known.
"${provcheck[@]}" match "$uploads" --index "$index" --json-lines --fail-on match \
    --evidence "$out/evidence" --report "$out/report.html" > "$out/results.jsonl"
exit $?
