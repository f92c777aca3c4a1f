#!/usr/bin/env bash
# Checks that Stellane works as a library in a user's own Maven project, as a newcomer would use it:
#   1. a fresh clone of this repository (what is committed at REF, default HEAD; not the working tree)
#   2. ./stellane install into a Maven repository of its own (empty unless STELLANE_CHECK_REPO is set)
#   3. the consumer project: a copy of examples/quickstart/, which imports the BOM, with its
#      stellane.version property set to the clone's version
#   4. the consumer's own plugins and libraries fetched (online), then `mvn -o verify` in it: offline,
#      so every Stellane artifact must come from what step 2 installed
#
#   scripts/consumer-check.sh [REF]
#
# STELLANE_CHECK_REPO=DIR  use and keep this Maven repository (a second run then downloads nothing)
# KEEP=1                   keep the temporary directory (clone, consumer project) for a look afterwards
# Takes 5-7 minutes with an empty repository on a busy 2-core machine (mostly downloads), 2-3 with a
# reused one. Exit status 0 when the consumer project's build and tests pass.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ref=${1:-HEAD}
work=$(mktemp -d "${TMPDIR:-/tmp}/stellane-consumer-XXXXXX")
cleanup() {
    if [[ ${KEEP:-} == 1 ]]; then
        echo "consumer-check: kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
log() { echo "consumer-check: $*" >&2; }
start=$SECONDS

repo=${STELLANE_CHECK_REPO:-$work/m2}
mkdir -p "$repo"
repo=$(cd "$repo" && pwd)

log "cloning $root at $ref"
git clone -q --no-hardlinks "$root" "$work/stellane"
git -C "$work/stellane" checkout -q --detach "$(git -C "$root" rev-parse "$ref")"

log "installing into $repo"
"$work/stellane/stellane" install -Dmaven.repo.local="$repo" >"$work/install.txt"
JAVA_HOME=$("$work/stellane/stellane" java)
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" # Maven's Guava, on JDK 25
version=$(sed -n '/<artifactId>stellane-parent<\/artifactId>/,/<\/version>/s/.*<version>\(.*\)<\/version>.*/\1/p' \
    "$work/stellane/pom.xml")

consumer=$work/consumer
cp -r "$work/stellane/examples/quickstart" "$consumer"
rm -rf "$consumer/target"
grep -q '<stellane.version>' "$consumer/pom.xml" \
    || { log "examples/quickstart/pom.xml has no <stellane.version> property"; exit 1; }
sed -i "s|<stellane.version>[^<]*</stellane.version>|<stellane.version>$version</stellane.version>|" "$consumer/pom.xml"
log "consumer project (examples/quickstart/, Stellane $version) in $consumer"

mvn_c() { mvn -B -ntp -f "$consumer/pom.xml" -Dmaven.repo.local="$repo" "$@"; }
# Surefire picks its JUnit Platform provider only when tests run, which go-offline cannot see.
surefire=$(sed -n '/<artifactId>maven-surefire-plugin<\/artifactId>/,/<\/version>/s/.*<version>\(.*\)<\/version>.*/\1/p' \
    "$consumer/pom.xml" | head -n 1)
[[ -n $surefire ]] || { log "examples/quickstart/pom.xml must pin maven-surefire-plugin's version"; exit 1; }
log "fetching the consumer's plugins and third-party libraries (Surefire $surefire)"
mvn_c -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:go-offline
mvn_c -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get \
    -Dartifact="org.apache.maven.surefire:surefire-junit-platform:$surefire"

log "mvn -o verify in the consumer project"
if ! mvn_c -o verify >"$work/verify.txt" 2>&1; then
    cat "$work/verify.txt" >&2
    log "FAILED after $((SECONDS - start))s"
    exit 1
fi
grep -E 'Tests run:' "$work/verify.txt" | tail -n 1 >&2
log "OK in $((SECONDS - start))s: a project importing io.stellane:stellane-bom:$version builds and passes its tests offline"
