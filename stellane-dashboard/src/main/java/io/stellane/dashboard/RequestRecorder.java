package io.stellane.dashboard;

import io.stellane.task.Worker;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Cumulative request counts by status class and latency buckets, per route pattern and method.
 *
 * <h2>How it works</h2>
 * Each (route, method) has up to {@value #STRIPES} stripes, one per worker id (non-worker threads
 * share the last), made on that worker's first request there. A stripe is one {@code long[]} laid out
 * as {@link #CLASSES} status-class counts, the timed count, the timed nanoseconds and
 * {@link LatencyBuckets#COUNT} buckets; a request adds to it with atomic adds, which stay uncontended
 * because each worker has its own stripe (two threads sharing one only costs contention, never a
 * count). After a (route, method, worker)'s first request, recording is two map reads, an array read
 * and one atomic add (four for a timed request): no lock, no allocation. Readers sum the stripes.
 *
 * <p>Cardinality is bounded: the server passes route patterns, never raw paths, and requests no route
 * matched come as one {@code unmatched} route; past {@link #MAX_ROUTES} distinct routes the rest are
 * folded into {@link #OTHER_ROUTE}, and methods outside the standard ones into {@code OTHER}.
 *
 * <p>Threading: {@link #record} from any thread, concurrently; {@link #totals} and {@link #sum} from
 * any thread (they read counters one by one, so a snapshot may hold part of a request in flight).
 */
final class RequestRecorder {
    static final int MAX_ROUTES = 200;
    static final String OTHER_ROUTE = "(other routes)";
    static final int STRIPES = 64;

    /** Slots 0..4: 1xx..5xx; slot 5: a status outside 100..599. */
    static final int CLASSES = 6;
    static final int TIMED = CLASSES;
    static final int TIMED_NANOS = CLASSES + 1;
    static final int BUCKETS = CLASSES + 2;
    static final int LENGTH = BUCKETS + LatencyBuckets.COUNT;

    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);

    private final ConcurrentHashMap<String, ConcurrentHashMap<String, Route>> routes = new ConcurrentHashMap<>();

    /** One request answered with {@code status}; {@code nanos} its latency, or negative when it was not timed. */
    void record(String route, String method, int status, long nanos) {
        long[] s = route(route, method).stripe();
        LONGS.getAndAdd(s, statusSlot(status), 1L);
        if (nanos >= 0) {
            LONGS.getAndAdd(s, TIMED, 1L);
            LONGS.getAndAdd(s, TIMED_NANOS, nanos);
            LONGS.getAndAdd(s, BUCKETS + LatencyBuckets.index(nanos), 1L);
        }
    }

    static int statusSlot(int status) {
        return status >= 100 && status <= 599 ? status / 100 - 1 : CLASSES - 1;
    }

    private Route route(String route, String method) {
        String r = route == null ? "unmatched" : route;
        var byMethod = routes.get(r);
        if (byMethod == null) {
            if (routes.size() >= MAX_ROUTES) {
                r = OTHER_ROUTE;
            }
            byMethod = routes.computeIfAbsent(r, x -> new ConcurrentHashMap<>());
        }
        Route one = method == null ? null : byMethod.get(method);
        if (one == null) {
            String m = standardMethod(method);
            one = byMethod.computeIfAbsent(m, x -> new Route());
        }
        return one;
    }

    /** The method itself when it is a standard one, else {@code OTHER}: clients choose methods, not us. */
    private static String standardMethod(String method) {
        return switch (method == null ? "" : method) {
            case "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE" -> method;
            default -> "OTHER";
        };
    }

    /** Each route's counts so far, summed over stripes: a fresh array per route, laid out like a stripe. */
    List<RouteTotals> totals() {
        List<RouteTotals> out = new ArrayList<>();
        routes.forEach((route, byMethod) -> byMethod.forEach((method, r) -> {
            long[] sum = new long[LENGTH];
            r.addTo(sum, LENGTH);
            out.add(new RouteTotals(route, method, sum));
        }));
        return out;
    }

    /** The status-class counts and timed totals of every route together (no buckets): what a live total needs. */
    long[] sum() {
        long[] sum = new long[BUCKETS];
        routes.forEach((route, byMethod) -> byMethod.forEach((method, r) -> r.addTo(sum, BUCKETS)));
        return sum;
    }

    /** One route's cumulative counts, laid out like a stripe. */
    record RouteTotals(String route, String method, long[] counts) {
        long requests() {
            long n = 0;
            for (int i = 0; i < CLASSES; i++) {
                n += counts[i];
            }
            return n;
        }
    }

    private static final class Route {
        private final AtomicReferenceArray<long[]> stripes = new AtomicReferenceArray<>(STRIPES);

        long[] stripe() {
            Worker w = Worker.current();
            int i = w == null ? STRIPES - 1 : w.id() & (STRIPES - 1);
            long[] s = stripes.get(i);
            if (s == null) {
                s = new long[LENGTH];
                if (!stripes.compareAndSet(i, null, s)) {
                    s = stripes.get(i);
                }
            }
            return s;
        }

        void addTo(long[] sum, int length) {
            for (int i = 0; i < STRIPES; i++) {
                long[] s = stripes.get(i);
                if (s != null) {
                    for (int k = 0; k < length; k++) {
                        sum[k] += (long) LONGS.getOpaque(s, k);
                    }
                }
            }
        }
    }
}
