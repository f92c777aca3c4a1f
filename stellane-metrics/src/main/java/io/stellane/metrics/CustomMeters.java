package io.stellane.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.stellane.runtime.Metrics;
import io.stellane.runtime.Runtime;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The runtime's custom metrics ({@code Runtime.addMetric/incrementMetric/setGauge}) as Micrometer
 * meters named {@code stellane.custom.<name>}.
 *
 * <p>The meters read the values from {@link Runtime#metrics()} (which outlives restarts), so
 * nothing is double counted or lost whatever the order of binding and updating; the listener is
 * used only to discover names, at the cost of one map lookup per update.
 *
 * <p>{@link Metrics} has one listener slot, so all bindings share one {@link Bridge} installed in
 * it: two registries (say Prometheus and a push registry) both see the custom metrics.
 */
final class CustomMeters {
    private static final Logger log = LoggerFactory.getLogger(CustomMeters.class);
    static final String PREFIX = "stellane.custom.";

    private final MeterRegistry registry;
    private final Map<String, Boolean> counters = new ConcurrentHashMap<>();
    private final Map<String, Boolean> gauges = new ConcurrentHashMap<>();
    private final List<Meter> registered = new CopyOnWriteArrayList<>();

    CustomMeters(MeterRegistry registry) {
        this.registry = registry;
    }

    void counterSeen(String name) {
        if (!counters.containsKey(name)) {
            counters.computeIfAbsent(name, n -> {
                Metrics m = Runtime.metrics();
                add(n, () -> FunctionCounter.builder(PREFIX + n, m, x -> x.counter(n))
                        .description("Runtime.addMetric/incrementMetric counter '" + n + "'").register(registry));
                return Boolean.TRUE;
            });
        }
    }

    void gaugeSeen(String name) {
        if (!gauges.containsKey(name)) {
            gauges.computeIfAbsent(name, n -> {
                Metrics m = Runtime.metrics();
                add(n, () -> Gauge.builder(PREFIX + n, m, x -> x.gauge(n)).strongReference(true)
                        .description("Runtime.setGauge gauge '" + n + "'").register(registry));
                return Boolean.TRUE;
            });
        }
    }

    private void add(String name, java.util.function.Supplier<Meter> registration) {
        try {
            registered.add(registration.get());
        } catch (RuntimeException e) {
            // e.g. one name used both as a counter and as a gauge: the registry refuses the second
            log.warn("custom metric '{}' cannot be exported: {}", name, e.toString());
        }
    }

    List<Meter> meters() {
        return registered;
    }

    // ---------------------------------------------------------------- the one listener in Runtime.metrics()

    /** Fans the runtime's single metrics listener out to every bound registry. */
    static final class Bridge implements Metrics.MetricsListener {
        private static final Bridge INSTANCE = new Bridge();
        private final List<CustomMeters> sinks = new CopyOnWriteArrayList<>();

        static synchronized void attach(CustomMeters sink) {
            INSTANCE.sinks.add(sink);
            if (INSTANCE.sinks.size() == 1) {
                Runtime.metrics().addListener(INSTANCE); // replays what exists into every sink
            } else {
                Metrics m = Runtime.metrics();
                m.counters().keySet().forEach(sink::counterSeen);
                m.gauges().keySet().forEach(sink::gaugeSeen);
            }
        }

        static synchronized void detach(CustomMeters sink) {
            INSTANCE.sinks.remove(sink);
            if (INSTANCE.sinks.isEmpty()) {
                Runtime.metrics().removeListener(INSTANCE);
            }
        }

        @Override
        public void counterAdded(String name, double delta) {
            for (CustomMeters s : sinks) {
                s.counterSeen(name);
            }
        }

        @Override
        public void gaugeSet(String name, double value) {
            for (CustomMeters s : sinks) {
                s.gaugeSeen(name);
            }
        }
    }
}
