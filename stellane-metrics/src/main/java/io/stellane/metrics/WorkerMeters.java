package io.stellane.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.stellane.StellaneException;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.stats.WorkerStats;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.ToDoubleFunction;

/**
 * Per-worker meters (tag {@code worker}), backed by one cached snapshot of the runtime's
 * {@code getWorkerStats()}.
 *
 * <p>Why a snapshot: one read of every worker per sample period, whatever the number of gauges, and
 * figures that belong together (a worker's counts and its CPU share) come from the same moment.
 * Only {@link #refresh()} reads, from the sampler thread; meters read the snapshot. Meters of a worker that went away (restart with fewer workers, live shrink) stay
 * registered: gauges read 0, counters keep their total.
 */
final class WorkerMeters {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private final MeterRegistry registry;
    private final Map<Integer, Cell> cells = new ConcurrentHashMap<>();
    private final List<Meter> registered = new CopyOnWriteArrayList<>();

    private final StellaneRuntime runtime;

    WorkerMeters(MeterRegistry registry, StellaneRuntime runtime) {
        this.registry = registry;
        this.runtime = runtime;
    }

    /** One worker id's state; {@code stats} is {@code null} while that worker does not exist. */
    private static final class Cell {
        volatile WorkerStats stats;
        final RestartSafeCount executed = new RestartSafeCount();
        final RestartSafeCount failed = new RestartSafeCount();
        final RestartSafeCount stolen = new RestartSafeCount();
        final RestartSafeCount cpuNanos = new RestartSafeCount();
    }

    /** Takes a new snapshot; registers meters for workers seen for the first time. Sampler thread only. */
    synchronized void refresh() {
        List<WorkerStats> now;
        try {
            now = runtime.isRunning() ? runtime.getWorkerStats() : List.of();
        } catch (StellaneException stopped) {
            now = List.of();
        }
        Set<Integer> present = new HashSet<>();
        for (WorkerStats w : now) {
            Cell c = cells.computeIfAbsent(w.workerId(), this::register);
            Long epoch = w.threadId(); // a new thread per worker per runtime life
            c.executed.update(epoch, w.tasksExecuted());
            c.failed.update(epoch, w.tasksFailed());
            c.stolen.update(epoch, w.tasksStolen());
            long cpu = THREADS.isThreadCpuTimeSupported() ? THREADS.getThreadCpuTime(w.threadId()) : -1;
            if (cpu >= 0) {
                c.cpuNanos.update(epoch, cpu);
            }
            c.stats = w;
            present.add(w.workerId());
        }
        cells.forEach((id, c) -> {
            if (!present.contains(id)) {
                c.stats = null;
            }
        });
    }

    private Cell register(int id) {
        Cell c = new Cell();
        String worker = Integer.toString(id);
        registered.add(FunctionCounter.builder("stellane.worker.tasks.executed", c, x -> x.executed.total())
                .tag("worker", worker).description("Tasks that ran on this worker (scheduled tasks, request handlers, blocking calls)").register(registry));
        registered.add(FunctionCounter.builder("stellane.worker.tasks.failed", c, x -> x.failed.total())
                .tag("worker", worker).description("Tasks started on this worker that failed").register(registry));
        registered.add(FunctionCounter.builder("stellane.worker.tasks.stolen", c, x -> x.stolen.total())
                .tag("worker", worker).description("Tasks this worker took from others (WORK_STEALING)").register(registry));
        registered.add(FunctionCounter.builder("stellane.worker.cpu.time", c, x -> x.cpuNanos.total() / 1e9)
                .tag("worker", worker).baseUnit("seconds").description("CPU time used by the worker thread").register(registry));
        registered.add(gauge("stellane.worker.queue.depth", worker, c, WorkerStats::currentQueueSize, "Tasks queued on this worker"));
        registered.add(gauge("stellane.worker.queue.peak", worker, c, WorkerStats::peakQueueSize, "Longest queue seen on this worker"));
        registered.add(Gauge.builder("stellane.worker.cpu.usage", c, x -> value(x, WorkerStats::cpuUsagePercent))
                .tag("worker", worker).baseUnit("percent").strongReference(true)
                .description("CPU use of the worker thread over the last sample period, 0..100").register(registry));
        return c;
    }

    private Meter gauge(String name, String worker, Cell c, ToDoubleFunction<WorkerStats> field, String description) {
        return Gauge.builder(name, c, x -> value(x, field)).tag("worker", worker).strongReference(true)
                .description(description).register(registry);
    }

    private static double value(Cell c, ToDoubleFunction<WorkerStats> field) {
        WorkerStats s = c.stats;
        return s == null ? 0 : field.applyAsDouble(s);
    }

    List<Meter> meters() {
        return registered;
    }
}
