package io.turnpike.bench;

import io.turnpike.devkit.EmbeddedKafka;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The floor Kafka itself puts under a turn, without Turnpike: one hop pair with the plain clients, on
 * the same embedded broker.
 *
 * <p>An "orchestrator" thread consumes a result, and in one transaction sends the next request and
 * commits the result's offset (what Kafka Streams' exactly_once_v2 does per commit); a "worker" thread
 * reads requests read_committed and answers each at once with an idempotent producer, acks=all. One
 * cycle = request sent → answer received by the orchestrator: the transaction commit, the worker's
 * read_committed fetch, its send, the orchestrator's fetch. A Turnpike turn is two such cycles (model
 * call and tool call). The same ping-pong without transactions (read_uncommitted, offsets committed
 * asynchronously) shows what the exactly-once part costs.
 *
 * <p>Usage: {@code KafkaFloorBench [cycles=2000]}
 */
public final class KafkaFloorBench {
  private KafkaFloorBench() {}

  public static void main(String[] args) throws Exception {
    int cycles = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
    System.out.printf("KafkaFloorBench: %d sequential request/answer cycles per variant; %s; %d cores%n",
        cycles, Runtime.version(), Runtime.getRuntime().availableProcessors());
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      int n = 0;
      for (String variant : new String[] {"txn", "plain", "streams", "txn", "plain", "streams"}) {
        boolean txn = !variant.equals("plain");
        n++;
        String req = "floor.req." + n;
        String res = "floor.res." + n;
        kafka.createTopic(req, 1);
        kafka.createTopic(res, 1);
        double[] ms = variant.equals("streams")
            ? streamsPingPong(kafka.bootstrapServers(), req, res, cycles)
            : pingPong(kafka.bootstrapServers(), req, res, txn, cycles);
        if (n > 3) { // the first three are the warm-up
          System.out.println(line(switch (variant) {
            case "txn" -> "transactional hop + read_committed";
            case "plain" -> "idempotent, no transaction";
            default -> "Kafka Streams EOS v2 (commit 1, poll 5)";
          }, ms));
        }
      }
    }
    System.exit(0);
  }

  static String line(String what, double[] sorted) {
    return String.format("%-38s cycles=%d  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms",
        what, sorted.length, pct(sorted, 0.5), pct(sorted, 0.9), pct(sorted, 0.99), sorted[sorted.length - 1]);
  }

  static double pct(double[] sorted, double p) {
    return sorted[Math.min(sorted.length - 1, (int) Math.floor(p * sorted.length))];
  }

  static double[] pingPong(String bootstrap, String reqTopic, String resTopic, boolean txn, int cycles) throws Exception {
    double[] out = new double[cycles];
    String group = "floor-orch-" + reqTopic;
    try (EchoWorker worker = EchoWorker.start(bootstrap, reqTopic, resTopic, txn);
         KafkaConsumer<String, String> c = consumer(bootstrap, group, txn);
         KafkaProducer<String, String> p = producer(bootstrap, txn ? "floor-" + reqTopic : null)) {
      TopicPartition tp = new TopicPartition(resTopic, 0);
      c.assign(List.of(tp));
      c.seekToEnd(List.of(tp));
      c.position(tp);
      if (txn) {
        p.initTransactions();
      }
      long sentAt = send(p, c, reqTopic, txn, 0, null);
      int done = 0;
      while (done < cycles) {
        for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(5))) {
          out[done++] = (System.nanoTime() - sentAt) / 1e6;
          if (done < cycles) {
            sentAt = send(p, c, reqTopic, txn, done, Map.of(tp, new OffsetAndMetadata(r.offset() + 1)));
          }
        }
      }
    }
    java.util.Arrays.sort(out);
    return out;
  }

  /**
   * The same cycle with a Kafka Streams exactly_once_v2 application as the orchestrator, configured as
   * Turnpike's (commit interval 1 ms, poll 5 ms, linger 0): each answer becomes the next request.
   */
  private static double[] streamsPingPong(String bootstrap, String reqTopic, String resTopic, int cycles) throws Exception {
    double[] out = new double[cycles];
    java.util.concurrent.atomic.AtomicLong sentAt = new java.util.concurrent.atomic.AtomicLong();
    java.util.concurrent.atomic.AtomicInteger done = new java.util.concurrent.atomic.AtomicInteger();
    CountDownLatch finished = new CountDownLatch(1);
    org.apache.kafka.streams.StreamsBuilder b = new org.apache.kafka.streams.StreamsBuilder();
    b.stream(resTopic, org.apache.kafka.streams.kstream.Consumed.with(org.apache.kafka.common.serialization.Serdes.String(),
            org.apache.kafka.common.serialization.Serdes.String()))
        .filter((k, v) -> {
          int i = done.getAndIncrement();
          if (i >= 0 && i < cycles) {
            out[i] = (System.nanoTime() - sentAt.get()) / 1e6;
          }
          if (i + 1 >= cycles) {
            finished.countDown();
            return false;
          }
          sentAt.set(System.nanoTime());
          return true;
        })
        .to(reqTopic, org.apache.kafka.streams.kstream.Produced.with(org.apache.kafka.common.serialization.Serdes.String(),
            org.apache.kafka.common.serialization.Serdes.String()));
    Properties p = new Properties();
    p.put(org.apache.kafka.streams.StreamsConfig.APPLICATION_ID_CONFIG, "floor-streams-" + reqTopic);
    p.put(org.apache.kafka.streams.StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(org.apache.kafka.streams.StreamsConfig.PROCESSING_GUARANTEE_CONFIG, org.apache.kafka.streams.StreamsConfig.EXACTLY_ONCE_V2);
    p.put(org.apache.kafka.streams.StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Integer.getInteger("floor.commit", 1));
    p.put(org.apache.kafka.streams.StreamsConfig.POLL_MS_CONFIG, Long.getLong("floor.poll", 5L));
    p.put(org.apache.kafka.streams.StreamsConfig.STATE_DIR_CONFIG, java.nio.file.Files.createTempDirectory("floor").toString());
    p.put(org.apache.kafka.streams.StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 0);
    p.put(org.apache.kafka.streams.StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), 100);
    p.put(org.apache.kafka.streams.StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "latest");
    try (EchoWorker worker = EchoWorker.start(bootstrap, reqTopic, resTopic, true);
         org.apache.kafka.streams.KafkaStreams streams = new org.apache.kafka.streams.KafkaStreams(b.build(), p);
         KafkaProducer<String, String> kick = producer(bootstrap, null)) {
      CountDownLatch up = new CountDownLatch(1);
      streams.setStateListener((now, before) -> {
        if (now == org.apache.kafka.streams.KafkaStreams.State.RUNNING) {
          up.countDown();
        }
      });
      streams.start();
      up.await(60, TimeUnit.SECONDS);
      // the first answer arrives before the app has its assignment: retry the kick until the chain runs
      done.set(-1);
      while (done.get() < 0) {
        sentAt.set(System.nanoTime());
        kick.send(new ProducerRecord<>(resTopic, "run", "kick")).get();
        long until = System.currentTimeMillis() + 3000;
        while (done.get() < 0 && System.currentTimeMillis() < until) {
          Thread.onSpinWait();
        }
      }
      if (!finished.await(300, TimeUnit.SECONDS)) {
        throw new IllegalStateException("the Streams ping-pong stalled at " + done.get());
      }
    }
    java.util.Arrays.sort(out);
    return out;
  }

  /** The worker of a cycle: answers each request on its topic at once, with an idempotent producer (acks=all). */
  private static final class EchoWorker implements AutoCloseable {
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final Thread thread;

    private EchoWorker(String bootstrap, String reqTopic, String resTopic, boolean readCommitted, CountDownLatch ready) {
      thread = Thread.ofPlatform().name("floor-worker").start(() -> {
        try (KafkaConsumer<String, String> c = consumer(bootstrap, "floor-worker-" + reqTopic, readCommitted);
             KafkaProducer<String, String> p = producer(bootstrap, null)) {
          TopicPartition tp = new TopicPartition(reqTopic, 0);
          c.assign(List.of(tp));
          c.seekToEnd(List.of(tp));
          c.position(tp);
          ready.countDown();
          while (running.get()) {
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(50))) {
              p.send(new ProducerRecord<>(resTopic, r.key(), r.value()));
            }
          }
        }
      });
    }

    /** Starts the worker and returns once it reads from the end of {@code reqTopic}. */
    static EchoWorker start(String bootstrap, String reqTopic, String resTopic, boolean readCommitted) throws InterruptedException {
      CountDownLatch ready = new CountDownLatch(1);
      EchoWorker w = new EchoWorker(bootstrap, reqTopic, resTopic, readCommitted, ready);
      ready.await();
      return w;
    }

    @Override
    public void close() throws InterruptedException {
      running.set(false);
      thread.join(5000);
    }
  }

  /** Sends one request; with transactions, in a transaction that also commits the consumed offset. */
  private static long send(KafkaProducer<String, String> p, KafkaConsumer<String, String> c, String topic, boolean txn,
      int i, Map<TopicPartition, OffsetAndMetadata> offsets) {
    long at = System.nanoTime();
    if (txn) {
      p.beginTransaction();
      p.send(new ProducerRecord<>(topic, "run", "call-" + i));
      if (offsets != null) {
        p.sendOffsetsToTransaction(offsets, c.groupMetadata());
      }
      p.commitTransaction();
    } else {
      p.send(new ProducerRecord<>(topic, "run", "call-" + i));
      if (offsets != null) {
        c.commitAsync(offsets, null);
      }
    }
    return at;
  }

  private static KafkaConsumer<String, String> consumer(String bootstrap, String group, boolean committed) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, committed ? "read_committed" : "read_uncommitted");
    return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
  }

  private static KafkaProducer<String, String> producer(String bootstrap, String transactionalId) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    if (transactionalId != null) {
      p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
      p.put(ProducerConfig.RETRY_BACKOFF_MS_CONFIG, Integer.getInteger("floor.backoff", 100));
    }
    return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
  }
}
