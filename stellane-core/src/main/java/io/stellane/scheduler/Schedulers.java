package io.stellane.scheduler;

import io.stellane.StellaneException;
import io.stellane.scheduler.spi.TaskSchedulerProvider;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.ServiceLoader;
import java.util.TreeMap;

/**
 * The registry of custom schedulers (strategy CUSTOM), filled by {@code Runtime.registerScheduler}
 * and by {@link TaskSchedulerProvider}s on the class path, and the factories of the built-in strategies.
 * Thread-safe.
 */
public final class Schedulers {
    private static final Map<String, TaskSchedulerFactory> CUSTOM = new TreeMap<>();

    static {
        for (TaskSchedulerProvider p : ServiceLoader.load(TaskSchedulerProvider.class)) {
            CUSTOM.put(p.name(), p::create);
        }
    }

    private Schedulers() {
    }

    public static void register(String name, TaskSchedulerFactory factory) {
        Objects.requireNonNull(factory, "factory");
        if (name == null || name.isBlank()) {
            throw new StellaneException("a scheduler needs a non-blank name");
        }
        synchronized (CUSTOM) {
            CUSTOM.put(name, factory);
        }
    }

    public static boolean unregister(String name) {
        synchronized (CUSTOM) {
            return CUSTOM.remove(name) != null;
        }
    }

    public static List<String> registered() {
        synchronized (CUSTOM) {
            return new ArrayList<>(CUSTOM.keySet());
        }
    }

    /** The queue factory for a strategy; for CUSTOM, the scheduler registered as {@code customName}. */
    public static TaskSchedulerFactory factoryFor(TaskSchedulingStrategy strategy, String customName) {
        return switch (strategy) {
            case FIFO, AFFINITY -> id -> new FifoScheduler();
            case PRIORITY -> id -> new PriorityScheduler();
            case WORK_STEALING -> id -> new WorkStealingScheduler();
            case CUSTOM -> {
                synchronized (CUSTOM) {
                    TaskSchedulerFactory f = CUSTOM.get(customName);
                    if (f == null) {
                        throw new StellaneException("strategy CUSTOM needs a scheduler registered as '" + customName
                                + "' (Runtime.registerScheduler); registered: " + CUSTOM.keySet());
                    }
                    yield f;
                }
            }
        };
    }
}
