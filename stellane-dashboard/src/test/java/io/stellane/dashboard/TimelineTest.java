package io.stellane.dashboard;

import io.stellane.dashboard.DashboardData.Point;
import io.stellane.dashboard.DashboardData.RouteRow;
import io.stellane.dashboard.RequestRecorder.RouteTotals;
import io.stellane.stats.RuntimeStats;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Percentage.withPercentage;

/** The timeline fed with readings the test makes up: exact counts per interval and per route window. */
class TimelineTest {
    private static final long WALL0 = 1_800_000_000_000L;
    private static final long MS = 1_000_000;

    private final Timeline timeline = new Timeline();
    /** Cumulative counts per "METHOD route", as a recorder would hold them. */
    private final Map<String, long[]> counts = new LinkedHashMap<>();
    private JvmReading jvm = new JvmReading(10 << 20, 64 << 20, 1 << 30, 0, 0);

    private void request(String method, String route, int status, long nanos, int times) {
        long[] c = counts.computeIfAbsent(method + " " + route, k -> new long[RequestRecorder.LENGTH]);
        c[RequestRecorder.statusSlot(status)] += times;
        if (nanos >= 0) {
            c[RequestRecorder.TIMED] += times;
            c[RequestRecorder.TIMED_NANOS] += nanos * times;
            c[RequestRecorder.BUCKETS + LatencyBuckets.index(nanos)] += times;
        }
    }

    /** A reading {@code ms} after the start, with copies of the counts (a recorder returns fresh arrays). */
    private void read(long ms, RuntimeStats runtime, long inFlight) {
        List<RouteTotals> routes = new ArrayList<>();
        counts.forEach((key, c) -> {
            String[] mr = key.split(" ", 2);
            routes.add(new RouteTotals(mr[1], mr[0], c.clone()));
        });
        timeline.add(new Timeline.Reading(WALL0 + ms, 7 * MS + ms * MS, routes, inFlight, runtime, jvm));
    }

    private void read(long ms) {
        read(ms, null, 0);
    }

    private static RuntimeStats runtime(long executed, long failed, long timed, long timedNanos) {
        return new RuntimeStats(Instant.EPOCH, Duration.ofSeconds(1), executed, failed, 0, 0, 0, "nio", 2, "FIFO",
                timed, timedNanos);
    }

    @Test
    void oneReadingAloneHasNoPointsAndNoRoutesYet() {
        request("GET", "/a", 200, -1, 5);
        read(0);
        Timeline.View v = timeline.view();
        assertThat(v.points()).isEmpty();
        assertThat(v.routes().rows()).isEmpty();
        assertThat(v.routes().total()).isNull();
        assertThat(v.jvm().heapUsed()).isEqualTo(10 << 20);
        assertThat(v.jvm().gcPerSec()).isNull();
    }

    @Test
    void eachPointHoldsWhatHappenedBetweenTwoReadings() {
        read(0, runtime(100, 1, 2, 4 * MS), 0);
        request("GET", "/users/{id}", 200, 1 * MS, 97);
        request("GET", "/users/{id}", 404, 2 * MS, 3);
        request("POST", "/users", 503, -1, 2);
        request("GET", "/r", 302, -1, 1);
        read(1000, runtime(160, 3, 5, 34 * MS), 4);
        request("GET", "/users/{id}", 200, 100 * MS, 50);
        read(2000, runtime(160, 3, 5, 34 * MS), 0);

        List<Point> points = timeline.view().points();
        assertThat(points).hasSize(2);
        Point p = points.getFirst();
        assertThat(p.t()).isEqualTo(WALL0 + 1000);
        assertThat(p.ms()).isEqualTo(1000);
        assertThat(p.requests()).isEqualTo(103);
        assertThat(new long[]{p.status2xx(), p.status3xx(), p.status4xx(), p.status5xx()}).containsExactly(97, 1, 3, 2);
        assertThat(p.timed()).isEqualTo(100);
        assertThat(p.p50Ms()).isCloseTo(1.0, withPercentage(6.25));
        assertThat(p.p99Ms()).isCloseTo(2.0, withPercentage(6.25));
        assertThat(p.inFlight()).isEqualTo(4);
        assertThat(p.tasks()).isEqualTo(60);
        assertThat(p.taskFailures()).isEqualTo(2);
        assertThat(p.taskTimed()).isEqualTo(3);
        assertThat(p.taskNanos()).isEqualTo(30 * MS);

        // the second point's percentiles are its own second's, not the totals so far
        Point q = points.get(1);
        assertThat(q.requests()).isEqualTo(50);
        assertThat(q.p50Ms()).isCloseTo(100.0, withPercentage(6.25));
        assertThat(q.p99Ms()).isCloseTo(100.0, withPercentage(6.25));
        assertThat(q.tasks()).isZero();
        assertThat(q.taskTimed()).isZero();
    }

    @Test
    void aSecondWithoutTimedRequestsHasNoPercentilesAndOneWithTheRuntimeDownNoTaskFigures() {
        read(0, runtime(10, 0, 1, MS), 0);
        request("GET", "/a", 200, -1, 8);
        read(1000, null, 0);
        Point p = timeline.view().points().getFirst();
        assertThat(p.requests()).isEqualTo(8);
        assertThat(p.timed()).isZero();
        assertThat(p.p50Ms()).isNull();
        assertThat(p.p99Ms()).isNull();
        assertThat(p.tasks()).isNull();
        assertThat(p.taskNanos()).isNull();
    }

    @Test
    void durableTaskCompletionsAndFailuresPerIntervalOnlyBetweenReadingsThatHaveThem() {
        List<RouteTotals> none = List.of();
        timeline.add(new Timeline.Reading(WALL0, 7 * MS, none, 0, null, jvm));
        timeline.add(new Timeline.Reading(WALL0 + 1000, 1007 * MS, none, 0, null, jvm, durable(100, 7)));
        timeline.add(new Timeline.Reading(WALL0 + 2000, 2007 * MS, none, 0, null, jvm, durable(160, 9)));
        timeline.add(new Timeline.Reading(WALL0 + 3000, 3007 * MS, none, 0, null, jvm, durable(12, 0))); // opened again
        List<Point> points = timeline.view().points();
        assertThat(points).extracting(Point::durableCompleted).containsExactly(null, 60L, 12L);
        assertThat(points).extracting(Point::durableFailed).containsExactly(null, 2L, 0L);
    }

    private static DurableTaskSource.Totals durable(long completed, long failed) {
        return new DurableTaskSource.Totals(completed + 5, completed + failed, completed, failed, 0, 3, 4);
    }

    @Test
    void aRuntimeStartedAgainCountsItsTasksFromZero() {
        read(0, runtime(5_000, 10, 80, 80 * MS), 0);
        read(1000, runtime(30, 1, 1, 2 * MS), 0); // stopped and initialized again in between
        Point p = timeline.view().points().getFirst();
        assertThat(p.tasks()).isEqualTo(30);
        assertThat(p.taskFailures()).isEqualTo(1);
        assertThat(p.taskNanos()).isEqualTo(2 * MS);
    }

    @Test
    void theLastFiveMinutesAreKeptAndAPollGetsOnlyThePointsItHasNotSeen() {
        for (int s = 0; s <= Timeline.POINTS + 20; s++) {
            request("GET", "/a", 200, -1, s);
            read(s * 1000L);
        }
        List<Point> points = timeline.view().points();
        assertThat(points).hasSize(Timeline.POINTS);
        assertThat(points.getLast().t()).isEqualTo(WALL0 + (Timeline.POINTS + 20) * 1000L);
        assertThat(points.getLast().requests()).isEqualTo(Timeline.POINTS + 20);
        assertThat(points.getFirst().t()).isEqualTo(WALL0 + 21 * 1000L);

        long seen = points.get(points.size() - 3).t();
        assertThat(timeline.view().pointsAfter(seen)).extracting(Point::t)
                .containsExactly(points.get(points.size() - 2).t(), points.getLast().t());
        assertThat(timeline.view().pointsAfter(points.getLast().t())).isEmpty();
        assertThat(timeline.view().pointsAfter(Long.MIN_VALUE)).hasSize(Timeline.POINTS);
    }

    @Test
    void theRouteTableCoversTheLastMinuteBusiestFirst() {
        for (int s = 0; s <= 70; s++) {
            request("GET", "/steady", 200, 5 * MS, 1);
            if (s == 2) {
                request("GET", "/once", 200, -1, 500); // long ago by the end
            }
            if (s >= 40) {
                request("POST", "/items", s % 2 == 0 ? 201 : 400, 20 * MS, 3);
                request("POST", "/items", 500, -1, 1);
            }
            read(s * 1000L);
            if (s == 64) {
                // the oldest snapshot at least 60 s old is the first one, at 0 s
                assertThat(timeline.view().routes().windowMs()).isEqualTo(64_000);
                assertThat(rows()).containsKey("GET /once");
            }
        }
        var routes = timeline.view().routes();
        assertThat(routes.windowMs()).isEqualTo(60_000); // from the snapshot at 10 s to the reading at 70 s
        Map<String, RouteRow> rows = rows();
        assertThat(rows).containsOnlyKeys("GET /steady", "POST /items");
        RouteRow items = rows.get("POST /items");
        assertThat(items.requests()).isEqualTo(31 * 4);
        assertThat(items.perSec()).isCloseTo(31 * 4 / 60.0, withPercentage(0.001));
        assertThat(items.status4xx()).isEqualTo(15 * 3);
        assertThat(items.status5xx()).isEqualTo(31);
        assertThat(items.timed()).isEqualTo(31 * 3);
        assertThat(items.p50Ms()).isCloseTo(20.0, withPercentage(6.25));
        RouteRow steady = rows.get("GET /steady");
        assertThat(steady.requests()).isEqualTo(60);
        assertThat(steady.perSec()).isCloseTo(1.0, withPercentage(0.001));
        assertThat(steady.p99Ms()).isCloseTo(5.0, withPercentage(6.25));
        assertThat(routes.rows()).extracting(RouteRow::route).containsExactly("/items", "/steady");

        RouteRow total = routes.total();
        assertThat(total.route()).isNull();
        assertThat(total.requests()).isEqualTo(60 + 31 * 4);
        assertThat(total.status5xx()).isEqualTo(31);
        assertThat(total.timed()).isEqualTo(60 + 31 * 3);
        // 60 at 5 ms, 93 at 20 ms: the median is a 20 ms one, the 40th percentile a 5 ms one
        assertThat(total.p50Ms()).isCloseTo(20.0, withPercentage(6.25));
    }

    private Map<String, RouteRow> rows() {
        Map<String, RouteRow> m = new LinkedHashMap<>();
        timeline.view().routes().rows().forEach(r -> m.put(r.method() + " " + r.route(), r));
        return m;
    }

    @Test
    void heapIsTheLatestAndCollectionsAreRatesOverTheLastMinute() {
        read(0);
        jvm = new JvmReading(20 << 20, 64 << 20, -1, 1, 10);
        read(1000);
        jvm = new JvmReading(30 << 20, 96 << 20, -1, 3, 30);
        read(2000);
        var j = timeline.view().jvm();
        assertThat(j.heapUsed()).isEqualTo(30 << 20);
        assertThat(j.heapCommitted()).isEqualTo(96 << 20);
        assertThat(j.heapMax()).isEqualTo(-1);
        assertThat(j.gcCount()).isEqualTo(3);
        assertThat(j.gcMs()).isEqualTo(30);
        assertThat(j.gcPerSec()).isCloseTo(1.5, withPercentage(0.001));
        assertThat(j.gcMsPerSec()).isCloseTo(15.0, withPercentage(0.001));
        assertThat(timeline.view().points()).extracting(Point::gcCount).containsExactly(1L, 2L);
        assertThat(timeline.view().points()).extracting(Point::heapUsed).containsExactly(20L << 20, 30L << 20);

        // a minute later with no collections, the rate has come down to zero
        for (int s = 3; s <= 70; s++) {
            read(s * 1000L);
        }
        assertThat(timeline.view().jvm().gcPerSec()).isZero();
    }
}
