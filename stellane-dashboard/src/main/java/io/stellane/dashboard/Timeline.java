package io.stellane.dashboard;

import io.stellane.dashboard.DashboardData.JvmPart;
import io.stellane.dashboard.DashboardData.Point;
import io.stellane.dashboard.DashboardData.RouteRow;
import io.stellane.dashboard.DashboardData.RoutesPart;
import io.stellane.dashboard.RequestRecorder.RouteTotals;
import io.stellane.stats.RuntimeStats;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The dashboard's recent past, built from {@link Reading}s of cumulative counters taken by its sampler.
 *
 * <h2>How it works</h2>
 * Each reading after the first closes one interval: the difference of the request counts (by status
 * class and latency bucket, over all routes), of the runtime's task counts, of the collectors'
 * totals and of the durable tasks' completions and failures between two readings is one {@link Point}; the last {@link #POINTS} are kept. Percentiles
 * come from the interval's own buckets, never from averaged percentiles. For the route table, the
 * per-route counts are also kept every {@link #ROUTE_SNAPSHOT_MS} ms, and the table is the difference
 * between the latest reading and the newest kept one at least {@link #ROUTE_WINDOW_MS} old (until
 * there is one, the oldest): a window of 60 to 65 s. A counter that went down (the runtime was
 * stopped and initialized again) counts from zero.
 *
 * <p>Threading: {@link #add} is called by one sampler at a time (it is synchronized); {@link #view()}
 * from any thread, lock-free: each {@code add} publishes a new immutable {@link View}.
 */
final class Timeline {
    static final int POINTS = 300;
    static final long ROUTE_WINDOW_MS = 60_000;
    static final long ROUTE_SNAPSHOT_MS = 5_000;
    private static final long GC_WINDOW_MS = 60_000;

    /**
     * Cumulative figures at one moment: {@code wallMs} labels it, {@code nanos} (a monotonic clock)
     * measures intervals; {@code runtime} is null while the runtime is down.
     */
    record Reading(long wallMs, long nanos, List<RouteTotals> routes, long inFlight, RuntimeStats runtime,
                   JvmReading jvm, DurableTaskSource.Totals durable) {
        /** A reading without durable tasks. */
        Reading(long wallMs, long nanos, List<RouteTotals> routes, long inFlight, RuntimeStats runtime, JvmReading jvm) {
            this(wallMs, nanos, routes, inFlight, runtime, jvm, null);
        }
    }

    /** What the page shows of the past: points oldest first, the route table, the JVM. */
    record View(List<Point> points, RoutesPart routes, JvmPart jvm) {
        static final View EMPTY = new View(List.of(), new RoutesPart(0, null, List.of()), null);

        /** The points that end after {@code sinceMs}. */
        List<Point> pointsAfter(long sinceMs) {
            int from = points.size();
            while (from > 0 && points.get(from - 1).t() > sinceMs) {
                from--;
            }
            return points.subList(from, points.size());
        }
    }

    private record RouteKey(String route, String method) {
    }

    private record RouteSnapshot(long nanos, Map<RouteKey, long[]> counts) {
    }

    private final ArrayDeque<Point> points = new ArrayDeque<>();
    private final ArrayDeque<RouteSnapshot> routeSnapshots = new ArrayDeque<>();
    private Reading previous;
    private long[] previousAll;
    private volatile View view = View.EMPTY;

    View view() {
        return view;
    }

    synchronized void add(Reading r) {
        Map<RouteKey, long[]> byRoute = new HashMap<>();
        long[] all = new long[RequestRecorder.LENGTH];
        for (RouteTotals t : r.routes()) {
            byRoute.put(new RouteKey(t.route(), t.method()), t.counts());
            plus(all, t.counts());
        }
        if (previous != null && r.nanos() > previous.nanos()) {
            points.addLast(point(previous, previousAll, r, all));
            while (points.size() > POINTS) {
                points.removeFirst();
            }
        }
        if (routeSnapshots.isEmpty() || r.nanos() - routeSnapshots.getLast().nanos() >= ROUTE_SNAPSHOT_MS * 1_000_000) {
            routeSnapshots.addLast(new RouteSnapshot(r.nanos(), byRoute));
        }
        while (routeSnapshots.size() >= 2
                && r.nanos() - secondOf(routeSnapshots).nanos() >= ROUTE_WINDOW_MS * 1_000_000) {
            routeSnapshots.removeFirst();
        }
        previous = r;
        previousAll = all;
        view = new View(List.copyOf(points), routes(routeSnapshots.getFirst(), r.nanos(), byRoute), jvm(r.jvm()));
    }

    private static RouteSnapshot secondOf(ArrayDeque<RouteSnapshot> q) {
        var it = q.iterator();
        it.next();
        return it.next();
    }

    private static Point point(Reading before, long[] allBefore, Reading now, long[] all) {
        long[] d = new long[RequestRecorder.LENGTH];
        for (int i = 0; i < d.length; i++) {
            d[i] = delta(allBefore[i], all[i]);
        }
        long requests = 0;
        for (int i = 0; i < RequestRecorder.CLASSES; i++) {
            requests += d[i];
        }
        RuntimeStats a = before.runtime(), b = now.runtime();
        boolean tasks = a != null && b != null;
        JvmReading ja = before.jvm(), jb = now.jvm();
        DurableTaskSource.Totals da = before.durable(), db = now.durable();
        boolean durable = da != null && db != null;
        return new Point(now.wallMs(), Math.round((now.nanos() - before.nanos()) / 1e6), requests,
                d[slot(200)], d[slot(300)], d[slot(400)], d[slot(500)], d[RequestRecorder.TIMED],
                percentileMs(d, 0.50), percentileMs(d, 0.99), now.inFlight(),
                tasks ? delta(a.totalTasksExecuted(), b.totalTasksExecuted()) : null,
                tasks ? delta(a.totalTasksFailed(), b.totalTasksFailed()) : null,
                tasks ? delta(a.timedTasks(), b.timedTasks()) : null,
                tasks ? delta(a.timedTaskNanos(), b.timedTaskNanos()) : null,
                jb.heapUsed(), delta(ja.collections(), jb.collections()), delta(ja.collectionMillis(), jb.collectionMillis()),
                durable ? delta(da.completed(), db.completed()) : null,
                durable ? delta(da.failedAttempts(), db.failedAttempts()) : null);
    }

    private RoutesPart routes(RouteSnapshot start, long nowNanos, Map<RouteKey, long[]> now) {
        long windowMs = Math.round((nowNanos - start.nanos()) / 1e6);
        if (windowMs <= 0) {
            return new RoutesPart(0, null, List.of());
        }
        List<RouteRow> rows = new ArrayList<>();
        long[] zero = new long[RequestRecorder.LENGTH];
        long[] all = new long[RequestRecorder.LENGTH];
        now.forEach((key, counts) -> {
            long[] base = start.counts().getOrDefault(key, zero);
            long[] d = new long[RequestRecorder.LENGTH];
            for (int i = 0; i < d.length; i++) {
                d[i] = delta(base[i], counts[i]);
            }
            plus(all, d);
            RouteRow row = row(key.route(), key.method(), d, windowMs);
            if (row != null) {
                rows.add(row);
            }
        });
        rows.sort(Comparator.comparingLong(RouteRow::requests).reversed()
                .thenComparing(RouteRow::route).thenComparing(RouteRow::method));
        return new RoutesPart(windowMs, row(null, null, all, windowMs), List.copyOf(rows));
    }

    /** The row of counts gained over {@code windowMs}; null when there were no requests. */
    private static RouteRow row(String route, String method, long[] d, long windowMs) {
        long requests = 0;
        for (int i = 0; i < RequestRecorder.CLASSES; i++) {
            requests += d[i];
        }
        return requests == 0 ? null : new RouteRow(route, method, requests, requests * 1000.0 / windowMs,
                d[slot(400)], d[slot(500)], d[RequestRecorder.TIMED], percentileMs(d, 0.50), percentileMs(d, 0.99));
    }

    private JvmPart jvm(JvmReading now) {
        long ms = 0, count = 0, gcMs = 0;
        var it = points.descendingIterator();
        while (it.hasNext() && ms < GC_WINDOW_MS) {
            Point p = it.next();
            ms += p.ms();
            count += p.gcCount();
            gcMs += p.gcMs();
        }
        return new JvmPart(now.heapUsed(), now.heapCommitted(), now.heapMax(), now.collections(), now.collectionMillis(),
                ms == 0 ? null : count * 1000.0 / ms, ms == 0 ? null : gcMs * 1000.0 / ms);
    }

    private static int slot(int status) {
        return RequestRecorder.statusSlot(status);
    }

    private static Double percentileMs(long[] counts, double q) {
        long nanos = LatencyBuckets.percentileNanos(counts, RequestRecorder.BUCKETS, q);
        return nanos < 0 ? null : nanos / 1e6;
    }

    /** What a cumulative counter gained; one that went down started again from zero. */
    private static long delta(long before, long now) {
        return now >= before ? now - before : now;
    }

    private static void plus(long[] into, long[] more) {
        for (int i = 0; i < into.length; i++) {
            into[i] += more[i];
        }
    }
}
