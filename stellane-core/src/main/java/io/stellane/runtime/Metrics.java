package io.stellane.runtime;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.function.BiConsumer;

/**
 * The runtime's custom metrics: counters ({@code addMetric}, {@code incrementMetric}) and gauges
 * ({@code setGauge}). Lock-free per update; a {@link MetricsListener} (the Micrometer binding)
 * sees every change. Thread-safe.
 */
public final class Metrics {

    /** Sees every change; implemented by exporters. Called on the updating thread: must not block. */
    public interface MetricsListener {
        void counterAdded(String name, double delta);

        void gaugeSet(String name, double value);
    }

    private final Map<String, DoubleAdder> counters = new ConcurrentHashMap<>();
    private final Map<String, Double> gauges = new ConcurrentHashMap<>();
    private final List<MetricsListener> listeners = new CopyOnWriteArrayList<>();

    void add(String name, double delta) {
        checkName(name);
        counters.computeIfAbsent(name, n -> new DoubleAdder()).add(delta);
        for (MetricsListener l : listeners) {
            l.counterAdded(name, delta);
        }
    }

    void gauge(String name, double value) {
        checkName(name);
        gauges.put(name, value);
        for (MetricsListener l : listeners) {
            l.gaugeSet(name, value);
        }
    }

    /** The counter's total, or 0 when it never moved. */
    public double counter(String name) {
        DoubleAdder a = counters.get(name);
        return a == null ? 0 : a.sum();
    }

    /** The gauge's last value, or {@code NaN} when never set. */
    public double gauge(String name) {
        return gauges.getOrDefault(name, Double.NaN);
    }

    public Map<String, Double> counters() {
        Map<String, Double> out = new TreeMap<>();
        counters.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }

    public Map<String, Double> gauges() {
        return new TreeMap<>(gauges);
    }

    /** Adds an exporter, replaying what is there so far into it. */
    public void addListener(MetricsListener l) {
        listeners.add(Objects.requireNonNull(l, "listener"));
        counters().forEach(l::counterAdded);
        gauges().forEach((BiConsumer<String, Double>) l::gaugeSet);
    }

    public void removeListener(MetricsListener l) {
        listeners.remove(l);
    }

    private static void checkName(String name) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a metric needs a non-blank name");
        }
    }
}
