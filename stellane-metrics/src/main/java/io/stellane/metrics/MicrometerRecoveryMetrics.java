package io.stellane.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;

/** {@link RecoveryMetrics} on Micrometer: one counter per event, registered up front. */
final class MicrometerRecoveryMetrics implements RecoveryMetrics {
    private final Counter journaled, completed, recovered, failed, quarantined;
    private final AtomicReference<LongSupplier> journalBytes = new AtomicReference<>(() -> 0);
    private final List<Meter> registered;

    MicrometerRecoveryMetrics(MeterRegistry registry) {
        journaled = counter(registry, "journaled", "Requests written to the recovery journal");
        completed = counter(registry, "completed", "Journaled requests that finished normally");
        recovered = counter(registry, "recovered", "Requests replayed successfully after a restart");
        failed = counter(registry, "failed", "Recovery attempts that failed");
        quarantined = counter(registry, "quarantined", "Requests that used up their recovery attempts");
        Gauge bytes = Gauge.builder("stellane.recovery.journal.size", journalBytes, r -> r.get().getAsLong())
                .baseUnit("bytes").description("Size of the recovery journal").strongReference(true).register(registry);
        registered = List.of(journaled, completed, recovered, failed, quarantined, bytes);
    }

    private static Counter counter(MeterRegistry registry, String event, String description) {
        return Counter.builder("stellane.recovery." + event).description(description).register(registry);
    }

    @Override
    public void journaled() {
        journaled.increment();
    }

    @Override
    public void completed() {
        completed.increment();
    }

    @Override
    public void recovered() {
        recovered.increment();
    }

    @Override
    public void failed() {
        failed.increment();
    }

    @Override
    public void quarantined() {
        quarantined.increment();
    }

    @Override
    public void journalBytes(LongSupplier bytes) {
        journalBytes.set(Objects.requireNonNull(bytes, "bytes"));
    }

    List<Meter> meters() {
        return registered;
    }
}
