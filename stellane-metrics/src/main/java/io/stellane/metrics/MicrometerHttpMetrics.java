package io.stellane.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * {@link HttpMetrics} on Micrometer. Timers are cached in a two-level map, route then method, down
 * to an array indexed by status: after a (route, method, status)'s first request, recording is two
 * map reads, an array read and {@code Timer.record}, with no allocation and no registry lookup.
 * The timers count, sum and keep the maximum of every request; the latency histogram
 * ({@code stellane.http.server.latency}, fixed buckets from 1 ms to 10 s) gets one request in
 * {@value #LATENCY_SAMPLE}, because bucketing every request cost a tenth of a worker under load.
 */
final class MicrometerHttpMetrics implements HttpMetrics {
    /** More distinct routes than this means raw paths are being passed; they are folded into one series. */
    static final int MAX_ROUTES = 1000;
    static final String OVERFLOW_ROUTE = "OTHER";
    static final String NO_ROUTE = "NOT_FOUND";

    private final MeterRegistry registry;
    private final ConcurrentHashMap<String, ConcurrentHashMap<String, AtomicReferenceArray<Timer>>> timers =
            new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, ConcurrentHashMap<String, AtomicReferenceArray<Timer>>> latencies =
            new ConcurrentHashMap<>();
    /** One request in this many is bucketed into the latency histogram. */
    static final int LATENCY_SAMPLE = 16;
    private int sampled;
    private final AtomicLong open = new AtomicLong();
    private final Counter opened;
    private final List<Meter> registered = new CopyOnWriteArrayList<>();

    MicrometerHttpMetrics(MeterRegistry registry) {
        this.registry = registry;
        this.opened = Counter.builder("stellane.http.server.connections.opened")
                .description("Client connections accepted").register(registry);
        registered.add(opened);
        registered.add(Gauge.builder("stellane.http.server.connections.active", open, AtomicLong::get)
                .description("Client connections open now").strongReference(true).register(registry));
    }

    @Override
    public void requestCompleted(String routeTemplate, String method, int status, long nanos) {
        String route = routeTemplate == null || routeTemplate.isBlank() ? NO_ROUTE : routeTemplate;
        var byMethod = timers.get(route);
        if (byMethod == null) {
            if (timers.size() >= MAX_ROUTES) {
                route = OVERFLOW_ROUTE;
            }
            byMethod = timers.computeIfAbsent(route, r -> new ConcurrentHashMap<>());
        }
        String m = method == null ? "UNKNOWN" : method;
        var byStatus = byMethod.get(m);
        if (byStatus == null) {
            byStatus = byMethod.computeIfAbsent(m, x -> new AtomicReferenceArray<>(600));
        }
        int s = status >= 100 && status <= 599 ? status : 0;
        Timer t = byStatus.get(s);
        if (t == null) {
            t = timer(route, m, s);
            if (!byStatus.compareAndSet(s, null, t)) {
                t = byStatus.get(s); // the registry returned the same timer to both racers anyway
            } else {
                registered.add(t);
            }
        }
        t.record(nanos, TimeUnit.NANOSECONDS);
        // Bucketing a latency costs far more than counting it: one request in LATENCY_SAMPLE feeds the
        // histogram (a racy counter only picks which), the timer above counts every one exactly.
        if ((++sampled & (LATENCY_SAMPLE - 1)) == 0) {
            latency(route, m, s).record(nanos, TimeUnit.NANOSECONDS);
        }
    }

    private Timer latency(String route, String method, int status) {
        var byMethod = latencies.computeIfAbsent(route, r -> new ConcurrentHashMap<>());
        var byStatus = byMethod.computeIfAbsent(method, x -> new AtomicReferenceArray<>(600));
        Timer t = byStatus.get(status);
        if (t == null) {
            t = Timer.builder("stellane.http.server.latency")
                    .description("Sampled HTTP request latency (one request in " + LATENCY_SAMPLE + ") by route, method, status")
                    .tag("route", route).tag("method", method).tag("status", Integer.toString(status))
                    .serviceLevelObjectives(LATENCY_BUCKETS)
                    .distributionStatisticBufferLength(1)
                    .register(registry);
            if (byStatus.compareAndSet(status, null, t)) {
                registered.add(t);
            } else {
                t = byStatus.get(status);
            }
        }
        return t;
    }

    private static final java.time.Duration[] LATENCY_BUCKETS = java.util.stream.LongStream
            .of(1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000)
            .mapToObj(java.time.Duration::ofMillis).toArray(java.time.Duration[]::new);

    private Timer timer(String route, String method, int status) {
        return Timer.builder("stellane.http.server.requests")
                .description("HTTP requests by route template, method and status")
                .tag("route", route).tag("method", method).tag("status", Integer.toString(status))
                .tag("outcome", outcome(status))
                .register(registry);
    }

    static String outcome(int status) {
        return switch (status / 100) {
            case 1 -> "INFORMATIONAL";
            case 2 -> "SUCCESS";
            case 3 -> "REDIRECTION";
            case 4 -> "CLIENT_ERROR";
            case 5 -> "SERVER_ERROR";
            default -> "UNKNOWN";
        };
    }

    @Override
    public void connectionOpened() {
        opened.increment();
        open.incrementAndGet();
    }

    @Override
    public void connectionClosed() {
        open.decrementAndGet();
    }

    List<Meter> meters() {
        return registered;
    }
}
