package io.stellane.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.stellane.runtime.Metrics;
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
 * <p>The meters read the values from the runtime's {@link Metrics} (which outlives restarts), so
 * nothing is double counted or lost whatever the order of binding and updating; the listener is
 * used only to discover names, at the cost of one map lookup per update.
 *
 * <p>All bindings of one runtime share one {@link Bridge} listening to its {@link Metrics}: two
 * registries (say Prometheus and a push registry) both see the custom metrics, with one listener.
 */
final class CustomMeters {
    private static final Logger log = LoggerFactory.getLogger(CustomMeters.class);
    static final String PREFIX = "stellane.custom.";

    private final MeterRegistry registry;
    private final Map<String, Boolean> counters = new ConcurrentHashMap<>();
    private final Map<String, Boolean> gauges = new ConcurrentHashMap<>();
    private final List<Meter> registered = new CopyOnWriteArrayList<>();

    private final Metrics source;

    CustomMeters(MeterRegistry registry, Metrics source) {
        this.registry = registry;
        this.source = source;
    }

    void counterSeen(String name) {
        if (!counters.containsKey(name)) {
            counters.computeIfAbsent(name, n -> {
                Metrics m = source;
                add(n, () -> FunctionCounter.builder(PREFIX + n, m, x -> x.counter(n))
                        .description("Runtime.addMetric/incrementMetric counter '" + n + "'").register(registry));
                return Boolean.TRUE;
            });
        }
    }

    void gaugeSeen(String name) {
        if (!gauges.containsKey(name)) {
            gauges.computeIfAbsent(name, n -> {
                Metrics m = source;
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

    // ---------------------------------------------------------------- the one listener in a runtime's Metrics

    /** Fans a runtime's single metrics listener out to every registry bound to that runtime. */
    static final class Bridge implements Metrics.MetricsListener {
        private static final Map<Metrics, Bridge> BRIDGES = new java.util.IdentityHashMap<>(); // guarded by Bridge.class
        private final List<CustomMeters> sinks = new CopyOnWriteArrayList<>();

        static synchronized void attach(CustomMeters sink) {
            Bridge bridge = BRIDGES.computeIfAbsent(sink.source, m -> new Bridge());
            bridge.sinks.add(sink);
            if (bridge.sinks.size() == 1) {
                sink.source.addListener(bridge); // replays what exists into every sink
            } else {
                sink.source.counters().keySet().forEach(sink::counterSeen);
                sink.source.gauges().keySet().forEach(sink::gaugeSeen);
            }
        }

        static synchronized void detach(CustomMeters sink) {
            Bridge bridge = BRIDGES.get(sink.source);
            if (bridge != null && bridge.sinks.remove(sink) && bridge.sinks.isEmpty()) {
                sink.source.removeListener(bridge);
                BRIDGES.remove(sink.source);
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
