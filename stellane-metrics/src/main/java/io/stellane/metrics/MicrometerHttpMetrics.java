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
 * {@link HttpMetrics} on Micrometer. Meters are cached in a two-level map, route then method, down
 * to an array indexed by status: after a (route, method, status)'s first request, recording is two
 * map reads, an array read and a counter increment, with no allocation and no registry lookup.
 * Every request is counted ({@code stellane.http.server.requests}); the latency histogram
 * ({@code stellane.http.server.latency}, fixed buckets from 1 ms to 10 s) gets the requests the
 * server timed (one in 16: see {@code ServerObserver}), because reading clocks and bucketing every
 * request cost a tenth of a worker under load.
 */
final class MicrometerHttpMetrics implements HttpMetrics {
    /** More distinct routes than this means raw paths are being passed; they are folded into one series. */
    static final int MAX_ROUTES = 1000;
    static final String OVERFLOW_ROUTE = "OTHER";
    static final String NO_ROUTE = "NOT_FOUND";

    private final MeterRegistry registry;
    private final ConcurrentHashMap<String, ConcurrentHashMap<String, AtomicReferenceArray<Series>>> series =
            new ConcurrentHashMap<>();
    private final AtomicLong open = new AtomicLong();
    private final Counter opened;
    private final ConcurrentHashMap<String, Counter> limits = new ConcurrentHashMap<>();
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
        var byMethod = series.get(route);
        if (byMethod == null) {
            if (series.size() >= MAX_ROUTES) {
                route = OVERFLOW_ROUTE;
            }
            byMethod = series.computeIfAbsent(route, r -> new ConcurrentHashMap<>());
        }
        String m = method == null ? "UNKNOWN" : method;
        var byStatus = byMethod.get(m);
        if (byStatus == null) {
            byStatus = byMethod.computeIfAbsent(m, x -> new AtomicReferenceArray<>(600));
        }
        int s = status >= 100 && status <= 599 ? status : 0;
        Series one = byStatus.get(s);
        if (one == null) {
            one = new Series(route, m, s);
            if (!byStatus.compareAndSet(s, null, one)) {
                one = byStatus.get(s);
            }
        }
        one.requests.increment();
        if (nanos >= 0) {
            one.latency().record(nanos, TimeUnit.NANOSECONDS);
        }
    }

    private static final java.time.Duration[] LATENCY_BUCKETS = java.util.stream.LongStream
            .of(1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000)
            .mapToObj(java.time.Duration::ofMillis).toArray(java.time.Duration[]::new);

    /** The meters of one (route, method, status): an exact counter, and a latency timer made on first use. */
    private final class Series {
        final String route, method;
        final int status;
        final Counter requests;
        private volatile Timer latency;

        Series(String route, String method, int status) {
            this.route = route;
            this.method = method;
            this.status = status;
            this.requests = Counter.builder("stellane.http.server.requests")
                    .description("HTTP requests by route template, method and status")
                    .tag("route", route).tag("method", method).tag("status", Integer.toString(status))
                    .tag("outcome", outcome(status))
                    .register(registry);
            registered.add(requests);
        }

        Timer latency() {
            Timer t = latency;
            if (t == null) {
                synchronized (this) {
                    t = latency;
                    if (t == null) {
                        latency = t = Timer.builder("stellane.http.server.latency")
                                .description("HTTP latency, request read to response written, of the requests the server timed")
                                .tag("route", route).tag("method", method).tag("status", Integer.toString(status))
                                .serviceLevelObjectives(LATENCY_BUCKETS)
                                .distributionStatisticBufferLength(1)
                                .register(registry);
                        registered.add(t);
                    }
                }
            }
            return t;
        }
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

    @Override
    public void limitReached(String limit) {
        Counter c = limits.get(limit);
        if (c == null) {
            c = limits.computeIfAbsent(limit, l -> {
                Counter made = Counter.builder("stellane.http.server.limits")
                        .description("Times clients ran into a server limit (timeouts, caps, budgets)")
                        .tag("limit", l).register(registry);
                registered.add(made);
                return made;
            });
        }
        c.increment();
    }

    List<Meter> meters() {
        return registered;
    }
}
