package io.stellane.dashboard;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.stellane.metrics.StellaneMetrics;

import java.util.Objects;

/**
 * Where the dashboard reads a node's durable-task figures from; attach one with
 * {@link Dashboard#durableTasks}, usually {@link #of(StellaneMetrics)}: the meters the node's
 * {@code DurableTasks} report to (the app bootstrap binds them). The page then shows a section of
 * its own: completions and failed attempts per second, with their chart, running and ready tasks,
 * and the totals.
 *
 * <p>Threading: {@link #read()} is called by the dashboard's sampler once a second and on a worker
 * for each {@code /data} request, so it must be quick, thread-safe and must not block.
 */
@FunctionalInterface
public interface DurableTaskSource {

    Totals read();

    /**
     * Since the node opened its durable tasks: tasks it submitted, attempts it took, tasks completed
     * on it, its failed attempts and the tasks it quarantined; attempts running on it now, and tasks
     * ready in the whole cluster (sampled).
     */
    record Totals(long submitted, long claimed, long completed, long failedAttempts, long quarantined, long running,
                  long ready) {
    }

    /**
     * Reads the {@code stellane_durable_tasks_*} meters of {@code metrics}, i.e. what is reported through
     * {@link StellaneMetrics#durableTasks()} (which this creates if needed). The meters are looked up
     * once, here.
     */
    static DurableTaskSource of(StellaneMetrics metrics) {
        Objects.requireNonNull(metrics, "metrics");
        metrics.durableTasks(); // registers the meters
        MeterRegistry r = metrics.registry();
        String p = "stellane.durable.tasks.";
        Counter submitted = r.get(p + "submitted").counter();
        Counter claimed = r.get(p + "claimed").counter();
        Counter completed = r.get(p + "completed").counter();
        Counter failed = r.get(p + "failed").counter();
        Counter quarantined = r.get(p + "quarantined").counter();
        Gauge running = r.get(p + "running").gauge();
        Gauge ready = r.get(p + "ready").gauge();
        return () -> new Totals((long) submitted.count(), (long) claimed.count(), (long) completed.count(),
                (long) failed.count(), (long) quarantined.count(), (long) running.value(), (long) ready.value());
    }
}
