package io.turnpike.devkit;

import java.lang.reflect.Method;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.slf4j.LoggerFactory;

/**
 * Lowers Kafka's own loggers to WARN in whichever slf4j backend is bound, without a compile-time
 * dependency on any backend. A logger that the application's configuration already gives an
 * explicit level keeps it.
 */
final class QuietLogging {

    static final List<String> KAFKA_LOGGERS = List.of("kafka", "org.apache.kafka", "state.change.logger");

    /** Loggers that warn on every normal start; lowered to ERROR. */
    static final List<String> NOISY_AT_WARN = List.of("org.apache.kafka.controller.QuorumController");

    /** java.util.logging keeps loggers weakly; hold the ones we configured. */
    private static final List<Object> KEEP = new CopyOnWriteArrayList<>();

    private QuietLogging() {
    }

    static void apply() {
        for (String name : KAFKA_LOGGERS) {
            quietly(name, "WARN");
        }
        for (String name : NOISY_AT_WARN) {
            quietly(name, "ERROR");
        }
    }

    private static void quietly(String name, String level) {
        try {
            quiet(name, level);
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            // Logging configuration is best effort; never fail a broker start over it.
        }
    }

    private static void quiet(String name, String levelName) throws ReflectiveOperationException {
        Object logger = LoggerFactory.getLogger(name);
        String impl = logger.getClass().getName();
        if (impl.equals("ch.qos.logback.classic.Logger")) {
            Method getLevel = logger.getClass().getMethod("getLevel");
            if (getLevel.invoke(logger) == null) {
                Class<?> level = Class.forName("ch.qos.logback.classic.Level", true, logger.getClass().getClassLoader());
                Object warn = level.getField(levelName).get(null);
                logger.getClass().getMethod("setLevel", level).invoke(logger, warn);
            }
        } else if (impl.startsWith("org.apache.logging.slf4j")) {
            ClassLoader cl = logger.getClass().getClassLoader();
            Class<?> logManager = Class.forName("org.apache.logging.log4j.LogManager", true, cl);
            Object ctx = logManager.getMethod("getContext", boolean.class).invoke(null, false);
            Object config = ctx.getClass().getMethod("getConfiguration").invoke(ctx);
            Object loggerConfigs = config.getClass().getMethod("getLoggers").invoke(config);
            if (!((java.util.Map<?, ?>) loggerConfigs).containsKey(name)) {
                Class<?> level = Class.forName("org.apache.logging.log4j.Level", true, cl);
                Class<?> configurator = Class.forName("org.apache.logging.log4j.core.config.Configurator", true, cl);
                configurator.getMethod("setLevel", String.class, level)
                        .invoke(null, name, level.getField(levelName).get(null));
            }
        } else if (impl.equals("org.slf4j.jul.JDK14LoggerAdapter")) {
            java.util.logging.Logger jul = java.util.logging.Logger.getLogger(name);
            if (jul.getLevel() == null) {
                jul.setLevel(levelName.equals("ERROR") ? java.util.logging.Level.SEVERE : java.util.logging.Level.WARNING);
                KEEP.add(jul);
            }
        }
    }
}
