package io.stellane.dashboard;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.stellane.metrics.StellaneMetrics;
import io.stellane.server.RecoveryStats;

import java.util.Objects;

/**
 * Where the dashboard reads recovery totals from; attach one with {@link Dashboard#recovery}: one
 * server's own ({@code server::recoveryStats}), or the meters of every server bound to a registry
 * ({@link #of(StellaneMetrics)}). The page shows journaled, completed, recovered, failed attempts,
 * quarantined and the journal's size.
 *
 * <p>Threading: {@link #read()} is called on a worker for each {@code /data} request, so it must be
 * quick, thread-safe and must not block.
 */
@FunctionalInterface
public interface RecoverySource {

    RecoveryStats read();

    /**
     * Reads the {@code stellane_recovery_*} meters of {@code metrics}, i.e. what recovery reports
     * through {@link StellaneMetrics#recovery()} (which this creates if needed). The meters are looked
     * up once, here; each read sums six adders. The counts the meters do not carry read 0.
     */
    static RecoverySource of(StellaneMetrics metrics) {
        Objects.requireNonNull(metrics, "metrics");
        metrics.recovery(); // registers the meters
        MeterRegistry r = metrics.registry();
        Counter journaled = r.get("stellane.recovery.journaled").counter();
        Counter completed = r.get("stellane.recovery.completed").counter();
        Counter recovered = r.get("stellane.recovery.recovered").counter();
        Counter failed = r.get("stellane.recovery.failed").counter();
        Counter quarantined = r.get("stellane.recovery.quarantined").counter();
        Gauge bytes = r.get("stellane.recovery.journal.size").gauge();
        return () -> new RecoveryStats((long) journaled.count(), (long) completed.count(), (long) recovered.count(),
                (long) failed.count(), (long) quarantined.count(), 0, 0, 0, 0, (long) bytes.value());
    }
}
