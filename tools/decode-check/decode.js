#!/usr/bin/env node
'use strict';

// Decodes every record on the given topics with @kafkajs/confluent-schema-registry, a
// Confluent-compatible client that Turnpike did not write, so a green run means the bytes on the
// topics really are the Confluent wire format against the registry, not just what our own serde
// agrees with itself about.
//
//   node decode.js --bootstrap 127.0.0.1:9092 --registry http://127.0.0.1:8081 --topics a,b [--timeout 60]
//
// stdout carries only JSON lines: one per record, then {"summary":{topic:count},"errors":n}.
// Exit codes: 0 done (decode failures are reported as lines, not as the exit code), 1 bad usage or
// a Kafka/registry failure, 2 the deadline passed before every partition reached its end offset.

const { Kafka, logLevel, CompressionTypes, CompressionCodecs } = require('kafkajs');
const LZ4Codec = require('@2l/kafkajs-lz4');

// Turnpike's workspace snapshots are LZ4-compressed batches; kafkajs only ships gzip itself.
CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec;
const { SchemaRegistry } = require('@kafkajs/confluent-schema-registry');
const avro = require('avsc');

function parseArgs(argv) {
  const args = { timeout: 60 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = argv[i + 1];
    if (!name.startsWith('--') || value === undefined) {
      throw new Error(`unexpected argument ${name}`);
    }
    args[name.slice(2)] = value;
    i++;
  }
  for (const required of ['bootstrap', 'registry', 'topics']) {
    if (!args[required]) {
      throw new Error(`--${required} is required`);
    }
  }
  args.topics = args.topics.split(',').map((t) => t.trim()).filter((t) => t.length > 0);
  args.timeout = Number(args.timeout);
  if (args.topics.length === 0 || !(args.timeout > 0)) {
    throw new Error('--topics needs at least one topic and --timeout a positive number of seconds');
  }
  return args;
}

// avsc's own long type throws on values above 2^53; reading longs as BigInt keeps every record
// decodable, and toJsonSafe turns them back into numbers where that loses nothing.
const bigintLong = avro.types.LongType.__with({
  fromBuffer: (buf) => buf.readBigInt64LE(),
  toBuffer: (n) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: BigInt,
  toJSON: Number,
  isValid: (n) => typeof n === 'bigint',
  compare: (a, b) => (a === b ? 0 : a < b ? -1 : 1),
});

function toJsonSafe(value) {
  if (value === null || value === undefined) {
    return null;
  }
  if (typeof value === 'bigint') {
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  }
  if (typeof value === 'number') {
    return Number.isFinite(value) ? value : String(value);
  }
  if (Buffer.isBuffer(value)) {
    return value.toString('base64');
  }
  if (Array.isArray(value)) {
    return value.map(toJsonSafe);
  }
  if (typeof value === 'object') {
    const out = {};
    for (const key of Object.keys(value)) {
      out[key] = toJsonSafe(value[key]);
    }
    return out;
  }
  return value;
}

function headersToStrings(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers || {})) {
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    out[name] = last === undefined || last === null ? null : last.toString('utf8');
  }
  return out;
}

function emit(line) {
  process.stdout.write(JSON.stringify(line) + '\n');
}

function exitAfterFlush(code) {
  process.stdout.write('', () => process.exit(code));
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`decode.js: ${e.message}\n`);
    exitAfterFlush(1);
    return;
  }

  const kafka = new Kafka({
    clientId: 'turnpike-decode-check',
    brokers: args.bootstrap.split(','),
    // Errors go to stderr (stdout carries only JSON lines), so a stuck consumer says why.
    logLevel: logLevel[(process.env.DECODE_CHECK_LOG || 'ERROR').toUpperCase()] ?? logLevel.ERROR,
    logCreator: () => ({ namespace, level, log }) => {
      process.stderr.write(`kafkajs ${namespace} ${level}: ${log.message} ${log.error || ''}\n`);
    },
  });
  const registry = new SchemaRegistry(
    { host: args.registry },
    // avsc collects named types in `registry`: each schema needs its own, or the second schema
    // naming a shared type (RunStatus, MessageItem, ...) fails as a duplicate. The client spreads
    // these options per schema, so a getter hands every schema a fresh one.
    { forSchemaOptions: { get registry() { return { long: bigintLong }; } } },
  );

  // Per topic-partition: the end offset seen at start, and how far we have got.
  const target = new Map();
  const reached = new Map();
  const counts = {};
  let errors = 0;
  const admin = kafka.admin();
  await admin.connect();
  for (const topic of args.topics) {
    counts[topic] = 0;
    for (const p of await admin.fetchTopicOffsets(topic)) {
      const high = BigInt(p.high);
      const low = BigInt(p.low);
      if (high > low) {
        target.set(`${topic}:${p.partition}`, high);
        reached.set(`${topic}:${p.partition}`, low);
      }
    }
  }

  const pending = () => [...target.entries()].filter(([tp, high]) => reached.get(tp) < high);
  const groupId = `turnpike-decode-check-${process.pid}-${Date.now()}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  let finish;
  const finished = new Promise((resolve) => {
    finish = resolve;
  });
  const advance = (topic, partition, offset) => {
    const tp = `${topic}:${partition}`;
    const next = BigInt(offset) + 1n;
    if (reached.has(tp) && next > reached.get(tp)) {
      reached.set(tp, next);
    }
    if (pending().length === 0) {
      finish();
    }
  };

  const deadline = setTimeout(() => {
    const left = pending().map(([tp, high]) => `${tp} at ${reached.get(tp)} of ${high}`);
    process.stderr.write(`decode.js: deadline of ${args.timeout}s passed; not finished: ${left.join(', ')}\n`);
    emit({ summary: counts, errors, incomplete: left });
    exitAfterFlush(2);
  }, args.timeout * 1000);

  if (pending().length > 0) {
    // Batches holding only transaction markers or aborted records reach no eachMessage call; this
    // event still tells where the partition got to, so a topic ending in a commit marker finishes.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.lastOffset !== null && payload.lastOffset !== undefined) {
        advance(payload.topic, payload.partition, payload.lastOffset);
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...new Set([...target.keys()].map((tp) => tp.slice(0, tp.lastIndexOf(':'))))], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const tp = `${topic}:${partition}`;
        if (!target.has(tp) || BigInt(message.offset) >= target.get(tp)) {
          return;
        }
        const line = {
          topic,
          partition,
          offset: Number(message.offset),
          key: message.key === null ? null : message.key.toString('utf8'),
          headers: headersToStrings(message.headers),
        };
        if (message.value === null) {
          line.value = null;
        } else {
          try {
            line.value = toJsonSafe(await registry.decode(message.value));
          } catch (e) {
            line.error = String(e && e.message ? e.message : e);
            errors++;
          }
        }
        counts[topic]++;
        emit(line);
        advance(topic, partition, message.offset);
      },
    });
    await finished;
    await consumer.disconnect();
  }
  clearTimeout(deadline);
  try {
    await admin.deleteGroups([groupId]);
  } catch (_) {
    // Only housekeeping: the group committed nothing, and an unknown group is not a failure.
  }
  await admin.disconnect();
  emit({ summary: counts, errors });
  exitAfterFlush(0);
}

main().catch((e) => {
  process.stderr.write(`decode.js: ${e && e.stack ? e.stack : e}\n`);
  exitAfterFlush(1);
});
