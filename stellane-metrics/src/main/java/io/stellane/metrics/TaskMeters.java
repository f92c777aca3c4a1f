package io.stellane.metrics;

import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.TimeGauge;
import io.stellane.StellaneException;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.runtime.TaskProfile;
import io.stellane.stats.RuntimeStats;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * Task run and queue-wait time per task name (tag {@code task}), from {@link Runtime#getProfile()}
 * while profiling is on ({@code Runtime.enableProfiling(true)}).
 *
 * <p>The profile holds, per name, a count, a sum and an all-time max, so these are
 * {@link FunctionTimer}s: count and sum are exact, but there is no distribution (no percentiles,
 * no histogram buckets): the binding reads the profile, not each task ({@code TaskObserver} would
 * give single durations, at a cost per task).
 */
final class TaskMeters {
    private static final Logger log = LoggerFactory.getLogger(TaskMeters.class);
    /** Task names are chosen by code, but a name built from request data must not explode the registry. */
    static final int MAX_TASK_NAMES = 500;

    private final MeterRegistry registry;
    private final Map<String, Cell> cells = new ConcurrentHashMap<>();
    private final List<Meter> registered = new CopyOnWriteArrayList<>();
    private boolean warnedOverflow;

    private final RuntimeMeters source;
    private final StellaneRuntime runtime;

    TaskMeters(MeterRegistry registry, RuntimeMeters source, StellaneRuntime runtime) {
        this.registry = registry;
        this.source = source;
        this.runtime = runtime;
    }

    private static final class Cell {
        final RestartSafeCount count = new RestartSafeCount();
        final RestartSafeCount runNanos = new RestartSafeCount();
        final RestartSafeCount waitNanos = new RestartSafeCount();
        volatile long maxRunNanos;
    }

    /** Reads the profile; registers meters for names seen for the first time. */
    synchronized void refresh() {
        RuntimeStats stats = source.stats();
        if (stats == null) {
            return;
        }
        List<TaskProfile> profiles;
        try {
            profiles = runtime.getProfile();
        } catch (StellaneException stopped) {
            return;
        }
        Object epoch = stats.startTime();
        for (TaskProfile p : profiles) {
            Cell c = cells.get(p.name());
            if (c == null) {
                if (cells.size() >= MAX_TASK_NAMES) {
                    if (!warnedOverflow) {
                        warnedOverflow = true;
                        log.warn("more than {} task names are profiled; the rest are not exported (is a name built from request data?)",
                                MAX_TASK_NAMES);
                    }
                    continue;
                }
                c = register(p.name());
                cells.put(p.name(), c);
            }
            c.count.update(epoch, p.count());
            c.runNanos.update(epoch, p.totalRunNanos());
            c.waitNanos.update(epoch, p.totalWaitNanos());
            c.maxRunNanos = p.maxRunNanos();
        }
    }

    private Cell register(String task) {
        Cell c = new Cell();
        registered.add(FunctionTimer.builder("stellane.task.duration", c, x -> x.count.total(),
                        x -> x.runNanos.total(), TimeUnit.NANOSECONDS)
                .tag("task", task).description("Time task bodies held a worker (profiling on)").register(registry));
        registered.add(FunctionTimer.builder("stellane.task.wait", c, x -> x.count.total(),
                        x -> x.waitNanos.total(), TimeUnit.NANOSECONDS)
                .tag("task", task).description("Time tasks waited in a queue before running (profiling on)").register(registry));
        registered.add(TimeGauge.builder("stellane.task.duration.max", c, TimeUnit.NANOSECONDS, x -> x.maxRunNanos)
                .tag("task", task).strongReference(true)
                .description("Longest single run of a task of this name since the runtime started").register(registry));
        return c;
    }

    List<Meter> meters() {
        return registered;
    }
}
