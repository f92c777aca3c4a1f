package io.stellane.scheduler;

import io.stellane.Registry;
import io.stellane.StellaneException;
import io.stellane.scheduler.spi.TaskSchedulerProvider;
import io.stellane.task.Task;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The scheduling strategies by name: the built-in ones under their {@link TaskSchedulingStrategy}
 * names in lower case ({@code fifo}, {@code priority}, {@code affinity}, {@code work_stealing}), then
 * {@link TaskSchedulerProvider}s on the class path, then {@code Runtime.registerScheduler}. Thread-safe.
 */
public final class Schedulers {
    private static final Registry<TaskSchedulerFactory> STRATEGIES = Registry.<TaskSchedulerFactory, TaskSchedulerProvider>of("scheduler", TaskSchedulerProvider.class,
                    TaskSchedulerProvider::name, (name, message) -> new StellaneException("scheduler '" + name + "': " + message))
            .builtIn("fifo", id -> new FifoScheduler())
            .builtIn("priority", id -> new PriorityScheduler())
            .builtIn("affinity", new Affinity())
            .builtIn("work_stealing", new WorkStealing());

    private Schedulers() {
    }

    /** Registers (or replaces) the strategy {@code name}. */
    public static void register(String name, TaskSchedulerFactory factory) {
        STRATEGIES.register(name, factory);
    }

    /** Removes a registered strategy; the built-in ones cannot be removed. */
    public static boolean unregister(String name) {
        return STRATEGIES.unregister(name);
    }

    /** Every registered strategy name, built-in ones included, sorted. */
    public static List<String> registered() {
        return new ArrayList<>(STRATEGIES.names());
    }

    /** The strategy a runtime uses: the built-in one, or for CUSTOM the one registered as {@code customName}. */
    public static TaskSchedulerFactory factoryFor(TaskSchedulingStrategy strategy, String customName) {
        if (strategy != TaskSchedulingStrategy.CUSTOM) {
            return STRATEGIES.get(strategy.name().toLowerCase(Locale.ROOT));
        }
        return STRATEGIES.find(customName).orElseThrow(() -> new StellaneException("strategy CUSTOM needs a scheduler"
                + " registered as '" + customName + "' (Runtime.registerScheduler); registered: " + STRATEGIES.names()));
    }

    /** Equal affinity keys to one worker; keyless tasks spawned on a worker stay there, others round-robin. */
    private record Affinity() implements TaskSchedulerFactory {
        @Override
        public TaskScheduler create(int workerId) {
            return new FifoScheduler();
        }

        @Override
        public int place(Task<?> task, Placement placement) {
            Object key = task.affinityKey();
            if (key != null) {
                return Math.floorMod(key.hashCode(), placement.workers());
            }
            int local = placement.local();
            return local >= 0 ? local : placement.next();
        }
    }

    /** A task spawned on a worker stays there (cache-warm, no hop); idle workers steal. */
    private record WorkStealing() implements TaskSchedulerFactory {
        @Override
        public TaskScheduler create(int workerId) {
            return new WorkStealingScheduler();
        }

        @Override
        public int place(Task<?> task, Placement placement) {
            int local = placement.local();
            return local >= 0 ? local : placement.next();
        }

        @Override
        public boolean steals() {
            return true;
        }
    }
}
