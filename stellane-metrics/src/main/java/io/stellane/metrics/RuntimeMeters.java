package io.stellane.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.TimeGauge;
import io.stellane.StellaneException;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.stats.RuntimeStats;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runtime-wide meters, read live from {@link Runtime#getStats()} whenever the registry asks (no
 * cached snapshot: {@code getStats()} has no side effects). While the runtime is not initialized
 * the gauges read 0 and the counters keep their last total.
 */
final class RuntimeMeters {
    private final StellaneRuntime runtime;

    RuntimeMeters(StellaneRuntime runtime) {
        this.runtime = runtime;
    }

    private final RestartSafeCount executed = new RestartSafeCount();
    private final RestartSafeCount failed = new RestartSafeCount();

    List<Meter> register(MeterRegistry registry) {
        return List.of(
                FunctionCounter.builder("stellane.tasks.executed", this, RuntimeMeters::executed)
                        .description("Tasks that ran (scheduled tasks, request handlers, blocking calls), over all workers and runtime restarts")
                        .register(registry),
                FunctionCounter.builder("stellane.tasks.failed", this, RuntimeMeters::failed)
                        .description("Tasks that failed (cancellations excluded)")
                        .register(registry),
                Gauge.builder("stellane.tasks.active", this, m -> m.read(RuntimeStats::currentActiveTasks))
                        .description("Tasks queued or running now").strongReference(true).register(registry),
                Gauge.builder("stellane.tasks.active.peak", this, m -> m.read(RuntimeStats::peakActiveTasks))
                        .description("Most tasks queued or running at once since the runtime started")
                        .strongReference(true).register(registry),
                TimeGauge.builder("stellane.runtime.uptime", this, TimeUnit.MILLISECONDS,
                                m -> m.read(s -> s.uptime().toMillis()))
                        .description("Time since runtime.init").strongReference(true).register(registry),
                Gauge.builder("stellane.runtime.workers", this, m -> m.read(RuntimeStats::workerCount))
                        .description("Active workers").strongReference(true).register(registry),
                Gauge.builder("stellane.runtime.running", this, m -> m.runtime.isRunning() ? 1 : 0)
                        .description("1 while the runtime runs, 0 otherwise").strongReference(true).register(registry));
    }

    /** Reads the runtime once, banking the counters; called by the sampler so a restart loses little. */
    void refresh() {
        RuntimeStats s = stats();
        if (s != null) {
            executed.update(s.startTime(), s.totalTasksExecuted());
            failed.update(s.startTime(), s.totalTasksFailed());
        }
    }

    private double executed() {
        RuntimeStats s = stats();
        return s == null ? executed.total() : executed.update(s.startTime(), s.totalTasksExecuted());
    }

    private double failed() {
        RuntimeStats s = stats();
        return s == null ? failed.total() : failed.update(s.startTime(), s.totalTasksFailed());
    }

    private double read(java.util.function.ToDoubleFunction<RuntimeStats> field) {
        RuntimeStats s = stats();
        return s == null ? 0 : field.applyAsDouble(s);
    }

    /** The live stats, or {@code null} when the runtime is not initialized (or stops while we ask). */
    RuntimeStats stats() {
        if (!runtime.isRunning()) {
            return null;
        }
        try {
            return runtime.getStats();
        } catch (StellaneException notRunning) {
            return null;
        }
    }
}
