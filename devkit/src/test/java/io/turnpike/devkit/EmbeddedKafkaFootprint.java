package io.turnpike.devkit;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Measures start time and memory of {@link EmbeddedKafka} in a fresh JVM (not a test; run by hand):
 * {@code java -cp <test classpath> io.turnpike.devkit.EmbeddedKafkaFootprint}.
 */
public final class EmbeddedKafkaFootprint {
    public static void main(String[] args) throws Exception {
        long jvmStart = ManagementFactory.getRuntimeMXBean().getStartTime();
        long t0 = System.nanoTime();
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            long startMs = (System.nanoTime() - t0) / 1_000_000;
            kafka.createTopic("footprint", 1);
            long withTopicMs = (System.nanoTime() - t0) / 1_000_000;
            for (int i = 0; i < 3; i++) {
                System.gc();
            }
            Runtime rt = Runtime.getRuntime();
            long heapUsed = (rt.totalMemory() - rt.freeMemory()) >> 20;
            long heapCommitted = rt.totalMemory() >> 20;
            String rss = Files.readAllLines(Path.of("/proc/self/status")).stream()
                    .filter(l -> l.startsWith("VmRSS")).findFirst().orElse("VmRSS: ?");
            System.out.printf("start=%d ms (incl. class loading), +createTopic=%d ms, since JVM start=%d ms%n",
                    startMs, withTopicMs, System.currentTimeMillis() - jvmStart);
            System.out.printf("heap used after GC=%d MiB, heap committed=%d MiB, max=%d MiB, %s, threads=%d%n",
                    heapUsed, heapCommitted, rt.maxMemory() >> 20, rss.replaceAll("\\s+", " "),
                    Thread.activeCount());
            long t1 = System.nanoTime();
            kafka.close();
            System.out.printf("close=%d ms%n", (System.nanoTime() - t1) / 1_000_000);
        }
        long t2 = System.nanoTime();
        try (EmbeddedKafka second = EmbeddedKafka.start()) {
            System.out.printf("second start in same JVM=%d ms%n", (System.nanoTime() - t2) / 1_000_000);
        }
    }
}
