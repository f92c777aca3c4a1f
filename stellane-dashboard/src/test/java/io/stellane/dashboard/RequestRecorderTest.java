package io.stellane.dashboard;

import io.stellane.config.RuntimeConfig;
import io.stellane.dashboard.RequestRecorder.RouteTotals;
import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

class RequestRecorderTest {
    private final RequestRecorder recorder = new RequestRecorder();

    @AfterEach
    void stop() {
        Runtime.stop();
    }

    private Map<String, RouteTotals> byRoute() {
        return recorder.totals().stream().collect(Collectors.toMap(t -> t.method() + " " + t.route(), t -> t));
    }

    @Test
    void countsFromEveryWorkerAndOtherThreadsAddUpPerRouteMethodAndStatusClass() throws Exception {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(2).shutdownTimeout(Duration.ofSeconds(5)).build());
        int perThread = 20_000;
        CountDownLatch done = new CountDownLatch(4);
        Runnable load = () -> {
            for (int i = 0; i < perThread; i++) {
                recorder.record("/users/{id}", "GET", i % 10 == 0 ? 404 : 200, -1);
                recorder.record("/users", "POST", i % 100 == 0 ? 503 : 201, -1);
            }
            done.countDown();
        };
        Runtime.scheduleOnWorker(Task.of(load::run), 0);
        Runtime.scheduleOnWorker(Task.of(load::run), 1);
        List<Thread> others = new ArrayList<>();
        for (int t = 0; t < 2; t++) {
            others.add(Thread.ofPlatform().start(load)); // share one stripe, concurrently
        }
        assertThat(done.await(30, TimeUnit.SECONDS)).isTrue();
        for (Thread t : others) {
            t.join();
        }

        Map<String, RouteTotals> routes = byRoute();
        assertThat(routes).containsOnlyKeys("GET /users/{id}", "POST /users");
        long[] get = routes.get("GET /users/{id}").counts();
        assertThat(get[RequestRecorder.statusSlot(200)]).isEqualTo(4L * perThread * 9 / 10);
        assertThat(get[RequestRecorder.statusSlot(404)]).isEqualTo(4L * perThread / 10);
        long[] post = routes.get("POST /users").counts();
        assertThat(post[RequestRecorder.statusSlot(201)]).isEqualTo(4L * perThread * 99 / 100);
        assertThat(post[RequestRecorder.statusSlot(503)]).isEqualTo(4L * perThread / 100);
        assertThat(routes.get("POST /users").requests()).isEqualTo(4L * perThread);

        long[] sum = recorder.sum();
        assertThat(sum[RequestRecorder.statusSlot(200)]).isEqualTo(4L * perThread * 9 / 10 + 4L * perThread * 99 / 100);
        assertThat(sum[RequestRecorder.statusSlot(500)]).isEqualTo(4L * perThread / 100);
        assertThat(sum[RequestRecorder.TIMED]).isZero();
    }

    @Test
    void timedRequestsCountTheirLatencyInTheirBucketAndTheSum() {
        recorder.record("/a", "GET", 200, 3_000_000);
        recorder.record("/a", "GET", 200, 3_000_000);
        recorder.record("/a", "GET", 500, 40_000_000);
        recorder.record("/a", "GET", 200, -1); // counted, not timed
        long[] a = byRoute().get("GET /a").counts();
        assertThat(a[RequestRecorder.statusSlot(200)]).isEqualTo(3);
        assertThat(a[RequestRecorder.statusSlot(500)]).isEqualTo(1);
        assertThat(a[RequestRecorder.TIMED]).isEqualTo(3);
        assertThat(a[RequestRecorder.TIMED_NANOS]).isEqualTo(46_000_000);
        assertThat(a[RequestRecorder.BUCKETS + LatencyBuckets.index(3_000_000)]).isEqualTo(2);
        assertThat(a[RequestRecorder.BUCKETS + LatencyBuckets.index(40_000_000)]).isEqualTo(1);
    }

    @Test
    void statusClassesAndStatusesOutsideTheRange() {
        for (int status : new int[]{101, 204, 302, 418, 599, 600, 42, -1}) {
            recorder.record("/s", "GET", status, -1);
        }
        long[] s = byRoute().get("GET /s").counts();
        assertThat(new long[]{s[0], s[1], s[2], s[3], s[4], s[5]}).containsExactly(1, 1, 1, 1, 1, 3);
    }

    @Test
    void cardinalityIsBoundedWhateverTheCallerPasses() {
        recorder.record("unmatched", "GET", 404, -1);
        recorder.record("unmatched", "GET", 404, -1);
        for (int i = 0; i < RequestRecorder.MAX_ROUTES + 50; i++) {
            recorder.record("/raw/path/" + i, "GET", 200, -1);
        }
        recorder.record("/raw/path/0", "BREW", 200, -1);
        recorder.record("/raw/path/0", "BREW", 200, -1);
        recorder.record("/raw/path/1", null, 200, -1);

        Map<String, RouteTotals> routes = byRoute();
        assertThat(routes.get("GET unmatched").requests()).isEqualTo(2);
        long distinctRoutes = routes.values().stream().map(RouteTotals::route).distinct().count();
        assertThat(distinctRoutes).isEqualTo(RequestRecorder.MAX_ROUTES + 1);
        // the routes past the cap, in one row
        assertThat(routes.get("GET " + RequestRecorder.OTHER_ROUTE).requests()).isEqualTo(51);
        assertThat(routes.get("OTHER /raw/path/0").requests()).isEqualTo(2);
        assertThat(routes.get("OTHER /raw/path/1").requests()).isEqualTo(1);
        assertThat(routes.values().stream().mapToLong(RouteTotals::requests).sum()).isEqualTo(2 + RequestRecorder.MAX_ROUTES + 50 + 3);
    }
}
