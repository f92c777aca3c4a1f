package io.stellane.app;

import io.stellane.cluster.DurableTasks;
import io.stellane.dashboard.Dashboard;
import io.stellane.dashboard.DurableTaskSource;
import io.stellane.metrics.DurableTaskMetrics;
import io.stellane.metrics.StellaneMetrics;

/**
 * What the app does with the durable tasks given to {@link App.Builder#durableTasks}. Apart from
 * {@link App}, which loads it only then: stellane-cluster is an optional dependency of the app, and a
 * service without it never needs its classes.
 */
final class DurableTasksBinding {
    private DurableTasksBinding() {
    }

    /** Feeds the meters of {@code metrics} from {@code tasks}, and the dashboard's section from them; either may be null. */
    static void meter(DurableTasks tasks, StellaneMetrics metrics, Dashboard dashboard) {
        if (metrics == null) {
            return;
        }
        DurableTaskMetrics meters = metrics.durableTasks();
        tasks.addListener(new DurableTasks.Listener() {
            @Override public void submitted() { meters.submitted(); }
            @Override public void claimed() { meters.claimed(); }
            @Override public void completed() { meters.completed(); }
            @Override public void failedAttempt() { meters.failedAttempt(); }
            @Override public void quarantined() { meters.quarantined(); }
        });
        meters.running(() -> tasks.stats().running());
        meters.ready(() -> tasks.stats().ready());
        if (dashboard != null) {
            dashboard.durableTasks(DurableTaskSource.of(metrics));
        }
    }

    /** Down while the tasks' node reports a fault: it cannot renew its lease, or its name was taken. */
    static HealthCheck check(DurableTasks tasks) {
        return () -> tasks.node().fault().ifPresent(f -> {
            throw f;
        });
    }
}
