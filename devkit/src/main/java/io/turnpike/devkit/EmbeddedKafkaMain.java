package io.turnpike.devkit;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * {@link EmbeddedKafka} as a process of its own, so that a broker can be killed ({@code kill -9}) and
 * started again like a real one:
 *
 * <pre>
 * java -cp ... io.turnpike.devkit.EmbeddedKafkaMain --port 9092 --controller-port 9093 --data-dir /var/tmp/kafka \
 *      [--broker-property key=value]...
 * </pre>
 *
 * <p>The data directory is kept: started again with the same arguments, the node finds its formatted
 * storage and comes back as the same cluster, with its topics, records, committed offsets and
 * transactions (after the log recovery an unclean stop needs). The controller port is fixed too, so
 * that the quorum's only voter has the same address on every start. Prints
 * {@value #READY} followed by the bootstrap address and the start time once the broker answers.
 */
public final class EmbeddedKafkaMain {

    /** The line printed (on stdout) when the broker is ready. */
    public static final String READY = "embedded kafka ready at ";

    private EmbeddedKafkaMain() {
    }

    /** What the command line asks for. */
    record Options(int port, int controllerPort, Path dataDir, Map<String, String> brokerProperties) {

        static Options parse(List<String> args) {
            int port = 9092;
            int controllerPort = 0;
            Path dataDir = null;
            Map<String, String> props = new LinkedHashMap<>();
            for (int i = 0; i < args.size(); i++) {
                String arg = args.get(i);
                String value = i + 1 < args.size() ? args.get(i + 1) : null;
                switch (arg) {
                    case "--port" -> port = Integer.parseInt(require(arg, value));
                    case "--controller-port" -> controllerPort = Integer.parseInt(require(arg, value));
                    case "--data-dir" -> dataDir = Path.of(require(arg, value));
                    case "--broker-property" -> {
                        String kv = require(arg, value);
                        int eq = kv.indexOf('=');
                        if (eq <= 0) {
                            throw new IllegalArgumentException("--broker-property expects key=value, got " + kv);
                        }
                        props.put(kv.substring(0, eq), kv.substring(eq + 1));
                    }
                    default -> throw new IllegalArgumentException("unknown argument " + arg
                            + " (expected --port, --controller-port, --data-dir, --broker-property)");
                }
                i++;
            }
            if (dataDir == null) {
                throw new IllegalArgumentException("--data-dir is required: a restart must find the same storage");
            }
            if (port <= 0 || controllerPort <= 0 || port == controllerPort) {
                throw new IllegalArgumentException("--port and --controller-port must be two fixed ports, got "
                        + port + " and " + controllerPort);
            }
            return new Options(port, controllerPort, dataDir, props);
        }

        private static String require(String arg, String value) {
            if (value == null) {
                throw new IllegalArgumentException(arg + " needs a value");
            }
            return value;
        }
    }

    public static void main(String[] args) throws InterruptedException {
        Options options = Options.parse(List.of(args));
        EmbeddedKafka.Builder builder = EmbeddedKafka.builder()
                .dataDir(options.dataDir())
                .port(options.port())
                // The builder picks a new free controller port on every start; a fixed one keeps the
                // voter's address stable across restarts of the same node.
                .brokerProperty("listeners", "PLAINTEXT://127.0.0.1:" + options.port()
                        + ",CONTROLLER://127.0.0.1:" + options.controllerPort())
                .brokerProperty("controller.quorum.voters", "1@127.0.0.1:" + options.controllerPort());
        options.brokerProperties().forEach(builder::brokerProperty);
        EmbeddedKafka kafka = builder.build().start();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                kafka.close();
            } finally {
                stopped.countDown();
            }
        }, "embedded-kafka-shutdown"));
        System.out.println(READY + kafka.bootstrapServers() + " in " + kafka.startupTime().toMillis()
                + " ms (cluster " + kafka.clusterId() + ", data in " + kafka.dataDir() + ")");
        System.out.flush();
        stopped.await();
    }
}
