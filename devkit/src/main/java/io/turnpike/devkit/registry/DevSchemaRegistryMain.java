package io.turnpike.devkit.registry;

import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * {@link DevSchemaRegistry} as a process of its own:
 *
 * <pre>
 * java -cp ... io.turnpike.devkit.registry.DevSchemaRegistryMain --port 8081 --bootstrap 127.0.0.1:9092
 * </pre>
 *
 * <p>Its state is the {@code _schemas} topic, so a registry killed and started again on the same
 * cluster serves the same ids. Prints {@value #READY} and its URL once it listens.
 */
public final class DevSchemaRegistryMain {

    /** The line printed (on stdout) when the registry listens. */
    public static final String READY = "dev schema registry ready at ";

    private DevSchemaRegistryMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        int port = 8081;
        String bootstrap = System.getenv().getOrDefault("TURNPIKE_BOOTSTRAP_SERVERS", "localhost:9092");
        List<String> list = List.of(args);
        for (int i = 0; i < list.size(); i += 2) {
            String arg = list.get(i);
            if (i + 1 >= list.size()) {
                throw new IllegalArgumentException(arg + " needs a value");
            }
            String value = list.get(i + 1);
            switch (arg) {
                case "--port" -> port = Integer.parseInt(value);
                case "--bootstrap" -> bootstrap = value;
                default -> throw new IllegalArgumentException("unknown argument " + arg + " (expected --port, --bootstrap)");
            }
        }
        DevSchemaRegistry registry = DevSchemaRegistry.start(bootstrap, port);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                registry.close();
            } finally {
                stopped.countDown();
            }
        }, "dev-schema-registry-shutdown"));
        System.out.println(READY + registry.url());
        System.out.flush();
        stopped.await();
    }
}
