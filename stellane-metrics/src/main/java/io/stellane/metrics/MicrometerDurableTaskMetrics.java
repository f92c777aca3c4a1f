package io.stellane.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;

/** {@link DurableTaskMetrics} on Micrometer: one counter per event and two gauges, registered up front. */
final class MicrometerDurableTaskMetrics implements DurableTaskMetrics {
    static final String PREFIX = "stellane.durable.tasks.";
    private final Counter submitted, claimed, completed, failed, quarantined;
    private final AtomicReference<LongSupplier> running = new AtomicReference<>(() -> 0);
    private final AtomicReference<LongSupplier> ready = new AtomicReference<>(() -> 0);
    private final List<Meter> registered;

    MicrometerDurableTaskMetrics(MeterRegistry registry) {
        submitted = counter(registry, "submitted", "Durable tasks added by this node");
        claimed = counter(registry, "claimed", "Attempts of durable tasks this node took");
        completed = counter(registry, "completed", "Durable tasks whose handler succeeded on this node");
        failed = counter(registry, "failed", "Attempts of durable tasks that failed on this node");
        quarantined = counter(registry, "quarantined", "Durable tasks set aside after their last attempt");
        Gauge runningNow = Gauge.builder(PREFIX + "running", running, r -> r.get().getAsLong())
                .description("Attempts of durable tasks running on this node").strongReference(true).register(registry);
        Gauge readyNow = Gauge.builder(PREFIX + "ready", ready, r -> r.get().getAsLong())
                .description("Durable tasks ready to run in the whole cluster, sampled").strongReference(true).register(registry);
        registered = List.of(submitted, claimed, completed, failed, quarantined, runningNow, readyNow);
    }

    private static Counter counter(MeterRegistry registry, String event, String description) {
        return Counter.builder(PREFIX + event).description(description).register(registry);
    }

    @Override
    public void submitted() {
        submitted.increment();
    }

    @Override
    public void claimed() {
        claimed.increment();
    }

    @Override
    public void completed() {
        completed.increment();
    }

    @Override
    public void failedAttempt() {
        failed.increment();
    }

    @Override
    public void quarantined() {
        quarantined.increment();
    }

    @Override
    public void running(LongSupplier running) {
        this.running.set(Objects.requireNonNull(running, "running"));
    }

    @Override
    public void ready(LongSupplier ready) {
        this.ready.set(Objects.requireNonNull(ready, "ready"));
    }

    List<Meter> meters() {
        return registered;
    }
}
