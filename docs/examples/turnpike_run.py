#!/usr/bin/env python3
"""Start a Turnpike run and wait for its final result, from Python, with no Turnpike code.

Needs only Debian's packages: apt-get install python3-confluent-kafka python3-avro python3-requests
(Confluent's legacy confluent_kafka.avro API: the newer confluent_kafka.schema_registry.avro needs
fastavro, which Debian does not ship).

    python3 docs/examples/turnpike_run.py --bootstrap localhost:9092 --registry http://localhost:8081 \
        travel-assistant "Weather in Oslo?"

Prints each result of the run as it arrives and exits with 0 (COMPLETED), 3 (waiting for an approval:
an interim INTERRUPTED result, see docs/outside-clients.md) or 1 (FAILED, CANCELLED, GUARDRAIL_TRIPPED,
or no result in time).
"""
import argparse
import datetime
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.avro.cached_schema_registry_client import CachedSchemaRegistryClient
from confluent_kafka.avro.serializer.message_serializer import MessageSerializer

# Statuses after which nothing more happens by itself. INTERRUPTED is interim: the run waits for a
# human decision and a later result follows (RUNNING never appears on turnpike.run-results).
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "GUARDRAIL_TRIPPED"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", default="localhost:9092")
    p.add_argument("--registry", default="http://localhost:8081")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the final result")
    p.add_argument("--stop-at-interrupt", action="store_true", help="return at an INTERRUPTED result (exit 3)")
    p.add_argument("agent")
    p.add_argument("input")
    args = p.parse_args()

    registry = CachedSchemaRegistryClient({"url": args.registry})
    serde = MessageSerializer(registry)
    # Turnpike's writer schema for run requests: the latest version of the topic's subject.
    request_schema_id, _, _ = registry.get_latest_schema("turnpike.run-requests-value")

    # Read results from the end offsets of now, so only this run's later results are seen.
    # Keys are plain UTF-8 strings (the runId), values Avro: decode the value only (AvroConsumer
    # would try to decode the key as Avro too, and fail).
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": "unused-assign-only",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    partitions = consumer.list_topics("turnpike.run-results", timeout=10).topics["turnpike.run-results"].partitions
    ends = [TopicPartition("turnpike.run-results", p, consumer.get_watermark_offsets(
        TopicPartition("turnpike.run-results", p), timeout=10)[1]) for p in partitions]
    consumer.assign(ends)

    run_id = str(uuid.uuid4())
    request = {
        "runId": run_id,
        "agent": args.agent,
        "agentVersion": None,
        "input": args.input,
        "user": None,
        "metadata": {"client": "python"},
        "requestedAt": datetime.datetime.now(datetime.timezone.utc),  # timestamp-millis
        "stream": False,
        "parent": None,
    }
    # librdkafka hashes keys with CRC32 by default; Turnpike's topics use Java's murmur2.
    producer = Producer({"bootstrap.servers": args.bootstrap, "partitioner": "murmur2_random",
                         "enable.idempotence": True})
    producer.produce("turnpike.run-requests", key=run_id.encode(),
                     value=serde.encode_record_with_schema_id(request_schema_id, request),
                     headers=[("turnpike.type", b"RunRequest")])
    producer.flush(10)
    print(f"run {run_id} submitted ({args.agent})", flush=True)

    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() or msg.key() is None or msg.key().decode() != run_id:
                continue
            result = serde.decode_message(msg.value())
            status = result["status"]
            kind = "final" if status in FINAL else "interim"
            print(f"{kind} result: {status} after {result['turns']} turn(s)", flush=True)
            if status == "INTERRUPTED":
                for a in result["interruptions"]:
                    print(f"  waits for approval of {a['callId']} ({a['tool']} {a['arguments']})", flush=True)
                if args.stop_at_interrupt:
                    return 3
                continue
            if result.get("finalOutput"):
                print(result["finalOutput"], flush=True)
            if result.get("error"):
                print("error: " + result["error"], flush=True)
            return 0 if status == "COMPLETED" else 1
    finally:
        consumer.close()
    print(f"no final result for run {run_id} within {args.timeout:.0f}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
