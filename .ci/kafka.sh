#!/usr/bin/env bash
# Fetch Apache Kafka (broker + runtime dependencies, from Maven Central through Maven) for the tests
# that run against the real engine. Idempotent: does nothing when the jars are already cached.
#   EMERGENCY_KAFKA_HOME  where the jars go (default ~/.cache/emergency/kafka-4.1.1)
# The test fixtures (tests/kafka.py) read the same variable and start KRaft brokers from these jars.
set -euo pipefail
cd "$(dirname "$0")/.."

home="${EMERGENCY_KAFKA_HOME:-$HOME/.cache/emergency/kafka-4.1.1}"
stamp="$home/.complete"
if [ -f "$stamp" ] && ls "$home"/kafka_2.13-*.jar >/dev/null 2>&1; then
  echo "==> Apache Kafka jars cached in $home ($(ls "$home"/*.jar | wc -l) jars)"
  exit 0
fi
for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "kafka.sh: $tool not found (apt-get install openjdk-17-jre-headless maven)" >&2; exit 1; }
done
echo "==> fetching Apache Kafka 4.1.1 and its runtime dependencies from Maven Central into $home"
tmp="$home.tmp.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
mvn -q -B -f .ci/kafka-pom.xml dependency:copy-dependencies -DoutputDirectory="$tmp" -DincludeScope=runtime
# slf4j-api 1.7 (pulled by some dependency) would shadow slf4j 2 and make the broker's logging a no-op
for old in "$tmp"/slf4j-api-1.*.jar; do [ -e "$old" ] && { echo "    dropping $(basename "$old")"; rm -f "$old"; }; done
rm -rf "$home"; mv "$tmp" "$home"
touch "$stamp"
echo "==> $(ls "$home"/*.jar | wc -l) jars in $home"
