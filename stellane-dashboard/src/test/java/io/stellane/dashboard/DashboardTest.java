package io.stellane.dashboard;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.stellane.config.RuntimeConfig;
import io.stellane.metrics.DurableTaskMetrics;
import io.stellane.metrics.StellaneMetrics;
import io.stellane.runtime.Runtime;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/** The page and its JSON on a real server (nio, two workers), against counts the test keeps itself. */
class DashboardTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static volatile long sink;
    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private StellaneMetrics metrics;
    private Server server;
    /** A second server, when a test has one: it serves the page of {@link #server}. */
    private Server internal;
    private Dashboard dashboard;
    private int port;

    @BeforeEach
    void start() {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(2)
                .shutdownTimeout(Duration.ofSeconds(5)).build());
        metrics = StellaneMetrics.prometheus();
    }

    @AfterEach
    void stop() {
        try {
            if (server != null) {
                server.stop(Duration.ofSeconds(2));
            }
            if (internal != null) {
                internal.stop(Duration.ofSeconds(2));
            }
        } finally {
            if (dashboard != null) {
                dashboard.close();
            }
            Runtime.stop();
            metrics.close();
            client.close();
        }
    }

    private void listen(Server s) {
        s.get("/ok", ctx -> Task.completed(Response.ok("ok")));
        s.get("/boom", ctx -> {
            throw new IllegalStateException("boom (expected by the test)");
        });
        s.get("/unavailable", ctx -> Task.completed(Response.unavailable()));
        server = s;
        if (dashboard == null) {
            dashboard = Dashboard.install(s, metrics);
        }
        port = s.listen("127.0.0.1", 0);
    }

    private HttpResponse<String> get(String path) throws Exception {
        return get(port, path);
    }

    private HttpResponse<String> get(int port, String path) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** Requests for /data so far: each is a request handler, so each counts as an executed task. */
    private int dataRequests;

    private JsonNode data() throws Exception {
        dataRequests++;
        HttpResponse<String> r = get(Dashboard.PATH + "/data");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        return JSON.readTree(r.body());
    }

    /** Reads /data until {@code done} holds (returns that snapshot) or 10 s pass (returns the last one). */
    private JsonNode dataUntil(Predicate<JsonNode> done) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        JsonNode d = data();
        while (!done.test(d) && System.nanoTime() < deadline) {
            d = data();
        }
        return d;
    }

    /** The value of {@code stellane_http_server_requests_total} for a route and status; NaN when absent. */
    private static double requestCount(String scrape, String route, int status) {
        Matcher m = Pattern.compile("^stellane_http_server_requests_total\\{[^}]*route=\"" + Pattern.quote(route)
                + "\",status=\"" + status + "\"} (\\S+)$", Pattern.MULTILINE).matcher(scrape);
        return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
    }

    @Test
    void thePageIsServedAsUtf8HtmlWithTheElementsTheBrowserTestReads() throws Exception {
        listen(new Server());
        HttpResponse<String> r = get(Dashboard.PATH);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue("text/html; charset=utf-8");
        assertThat(r.body()).startsWith("<!doctype html>")
                .contains("id=\"workers\"", "id=\"updates\"", "id=\"executed\"", "id=\"taskRate\"", "id=\"avgTask\"",
                        "id=\"status\"", "id=\"chartRequests\"", "id=\"chartLatency\"", "id=\"routes\"", "id=\"http\"",
                        "class=\"card worker\"", "\"/data\"", "id=\"durable\"", "id=\"chartDurable\"")
                .doesNotContain("http://", "https://"); // no external resources
    }

    @Test
    void requestCountsMoveByExactlyWhatWasSentAndFeedTheHttpMeters() throws Exception {
        listen(new Server());
        JsonNode before = data();
        int ok = 25, boom = 4, unavailable = 3, notFound = 2;
        for (int i = 0; i < ok; i++) {
            assertThat(get("/ok").statusCode()).isEqualTo(200);
        }
        for (int i = 0; i < boom; i++) {
            assertThat(get("/boom").statusCode()).isEqualTo(500);
        }
        for (int i = 0; i < unavailable; i++) {
            assertThat(get("/unavailable").statusCode()).isEqualTo(503);
        }
        for (int i = 0; i < notFound; i++) {
            assertThat(get("/nowhere").statusCode()).isEqualTo(404);
        }
        // the first /data request completes after its snapshot, so it shows in the next one
        JsonNode after = data();
        long sent = ok + boom + unavailable + notFound + 1;
        assertThat(after.at("/http/requests").asLong() - before.at("/http/requests").asLong()).isEqualTo(sent);
        assertThat(after.at("/http/status2xx").asLong() - before.at("/http/status2xx").asLong()).isEqualTo(ok + 1);
        assertThat(after.at("/http/status4xx").asLong() - before.at("/http/status4xx").asLong()).isEqualTo(notFound);
        assertThat(after.at("/http/status5xx").asLong() - before.at("/http/status5xx").asLong())
                .isEqualTo(boom + unavailable);
        assertThat(after.at("/http/status3xx").asLong()).isZero();
        assertThat(dashboard.observer().serverErrors()).isEqualTo(boom + unavailable);
        assertThat(after.at("/http/openConnections").asLong()).isEqualTo(server.openConnections()).isPositive();
        assertThat(after.at("/http/inFlight").asLong()).as("the /data request itself").isEqualTo(1);

        // the same requests reached the Micrometer meters, once each (no second observer)
        String scrape = metrics.scrape();
        assertThat(requestCount(scrape, "/ok", 200)).isEqualTo(ok);
        assertThat(requestCount(scrape, "/boom", 500)).isEqualTo(boom);
        assertThat(requestCount(scrape, "/unavailable", 503)).isEqualTo(unavailable);
        assertThat(requestCount(scrape, "NOT_FOUND", 404)).isEqualTo(notFound);
        assertThat(server.observers()).containsExactly(dashboard.observer());
    }

    @Test
    void aServerAlreadyObservedForTheSameMetricsKeepsItsOneObserver() throws Exception {
        Server s = new Server();
        MetricsObserver mine = new MetricsObserver(metrics);
        s.observe(mine);
        listen(s);
        assertThat(dashboard.observer()).isSameAs(mine);
        assertThat(s.observers()).containsExactly(mine);
        for (int i = 0; i < 7; i++) {
            get("/ok");
        }
        assertThat(requestCount(metrics.scrape(), "/ok", 200)).isEqualTo(7);
        assertThat(mine.requests()).isEqualTo(7);
    }

    @Test
    void servedOnAnotherServerItShowsTheObservedServersTrafficAndNotItsOwn() throws Exception {
        server = new Server();
        server.get("/ok", ctx -> Task.completed(Response.ok("ok")));
        internal = new Server();
        dashboard = Dashboard.observe(server, metrics).serveOn(internal);
        port = server.listen("127.0.0.1", 0);
        int internalPort = internal.listen("127.0.0.1", 0);

        assertThat(get(Dashboard.PATH).statusCode()).as("the observed server does not serve the page").isEqualTo(404);
        assertThat(get(internalPort, Dashboard.PATH).statusCode()).isEqualTo(200);
        int ok = 6;
        for (int i = 0; i < ok; i++) {
            assertThat(get("/ok").statusCode()).isEqualTo(200);
        }
        JsonNode d = null;
        for (int i = 0; i < 5; i++) {
            HttpResponse<String> r = get(internalPort, Dashboard.PATH + "/data");
            assertThat(r.statusCode()).isEqualTo(200);
            d = JSON.readTree(r.body());
        }
        // the 404 above and the /ok requests; the page and its polls are the other server's
        assertThat(d.at("/http/requests").asLong()).isEqualTo(ok + 1);
        assertThat(dashboard.observer().requests()).isEqualTo(ok + 1);
        assertThat(server.observers()).containsExactly(dashboard.observer());
        assertThat(internal.observers()).isEmpty();
        String scrape = metrics.scrape();
        assertThat(requestCount(scrape, "/ok", 200)).isEqualTo(ok);
        assertThat(scrape).doesNotContain("route=\"" + Dashboard.PATH);
    }

    @Test
    void installOnAServerThatListensFailsAndLeavesItUnobserved() {
        Server s = new Server();
        server = s;
        s.listen("127.0.0.1", 0);
        long samplers = samplerThreads();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Dashboard.install(s, metrics))
                .isInstanceOf(IllegalStateException.class);
        assertThat(s.observers()).isEmpty();
        assertThat(samplerThreads()).as("no sampler started for it").isEqualTo(samplers);
    }

    private static long samplerThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals("stellane-dashboard-sampler") && t.isAlive()).count();
    }

    /** The observed {@link #server} with the test routes and the page on {@link #internal}, sampled every 50 ms. */
    private int listenSampledFast() {
        server = new Server();
        server.get("/users/{id}", ctx -> Task.completed(Response.ok("user " + ctx.param("id"))));
        server.post("/users", ctx -> Task.completed(Response.error(400, "bad user")));
        internal = new Server();
        dashboard = Dashboard.observe(server, metrics, Duration.ofMillis(50)).serveOn(internal);
        port = server.listen("127.0.0.1", 0);
        return internal.listen("127.0.0.1", 0);
    }

    private JsonNode internalData(int internalPort, String query) throws Exception {
        HttpResponse<String> r = get(internalPort, Dashboard.PATH + "/data" + query);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    private static long sum(JsonNode points, String field) {
        long n = 0;
        for (JsonNode p : points) {
            n += p.get(field).asLong();
        }
        return n;
    }

    @Test
    void theHistoryCountsEveryRequestOnceAndTheRouteTableShowsPatternsNotPaths() throws Exception {
        int internalPort = listenSampledFast();
        int users = 20, bad = 3, unmatched = 4;
        for (int i = 0; i < users; i++) {
            assertThat(get("/users/" + (1000 + i)).statusCode()).isEqualTo(200);
        }
        for (int i = 0; i < bad; i++) {
            assertThat(client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/users"))
                    .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString())
                    .statusCode()).isEqualTo(400);
        }
        for (int i = 0; i < unmatched; i++) {
            assertThat(get("/no/such/" + i).statusCode()).isEqualTo(404);
        }
        int sent = users + bad + unmatched;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        JsonNode d = internalData(internalPort, "");
        while (sum(d.get("history"), "requests") < sent && System.nanoTime() < deadline) {
            Thread.sleep(20);
            d = internalData(internalPort, "");
        }
        JsonNode history = d.get("history");
        assertThat(sum(history, "requests")).as("%s", history).isEqualTo(sent);
        assertThat(sum(history, "status2xx")).isEqualTo(users);
        assertThat(sum(history, "status4xx")).isEqualTo(bad + unmatched);
        assertThat(sum(history, "status5xx")).isZero();
        // the first request of each connection is timed; the client keeps one connection
        assertThat(sum(history, "timed")).isPositive();
        for (JsonNode p : history) {
            assertThat(p.get("t").asLong()).isCloseTo(System.currentTimeMillis(), org.assertj.core.data.Offset.offset(60_000L));
            assertThat(p.get("ms").asLong()).isPositive();
            assertThat(p.has("tasks") && p.has("heapUsed") && p.has("p99Ms") && p.has("inFlight")).as("%s", p).isTrue();
        }

        JsonNode rows = d.at("/routes/rows");
        assertThat(rows.toString()).doesNotContain("/users/1000", "/no/such");
        assertThat(rows).hasSize(3);
        JsonNode first = rows.get(0);
        assertThat(first.get("route").asText()).isEqualTo("/users/{id}");
        assertThat(first.get("method").asText()).isEqualTo("GET");
        assertThat(first.get("requests").asLong()).isEqualTo(users);
        assertThat(first.get("perSec").asDouble()).isPositive();
        assertThat(first.get("p50Ms").isNumber()).as("timed: %s", first).isTrue();
        assertThat(rows.get(1).get("route").asText()).isEqualTo("unmatched");
        assertThat(rows.get(1).get("status4xx").asLong()).isEqualTo(unmatched);
        assertThat(rows.get(2).get("route").asText()).isEqualTo("/users");
        assertThat(rows.get(2).get("method").asText()).isEqualTo("POST");
        assertThat(rows.get(2).get("status4xx").asLong()).isEqualTo(bad);
        assertThat(d.at("/routes/total/requests").asLong()).isEqualTo(sent);
        assertThat(d.at("/routes/windowMs").asLong()).isPositive();
        assertThat(d.at("/jvm/heapUsed").asLong()).isPositive();
        assertThat(d.at("/jvm/heapCommitted").asLong()).isGreaterThanOrEqualTo(d.at("/jvm/heapUsed").asLong());
        assertThat(d.at("/jvm/gcCount").asLong()).isNotNegative();
    }

    @Test
    void aPollWithSinceGetsOnlyTheNewerPointsAndABadSinceIs400() throws Exception {
        int internalPort = listenSampledFast();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        JsonNode all = internalData(internalPort, "");
        while (all.get("history").size() < 3 && System.nanoTime() < deadline) {
            Thread.sleep(20);
            all = internalData(internalPort, "");
        }
        JsonNode history = all.get("history");
        assertThat(history.size()).isGreaterThanOrEqualTo(3);
        long newest = history.get(history.size() - 1).get("t").asLong();
        long second = history.get(1).get("t").asLong();
        JsonNode after = internalData(internalPort, "?since=" + second).get("history");
        assertThat(after.size()).isGreaterThanOrEqualTo(history.size() - 2);
        for (JsonNode p : after) {
            assertThat(p.get("t").asLong()).isGreaterThan(second);
        }
        assertThat(internalData(internalPort, "?since=" + Long.MAX_VALUE).get("history")).isEmpty();
        assertThat(newest).isGreaterThan(second);
        HttpResponse<String> bad = get(internalPort, Dashboard.PATH + "/data?since=yesterday");
        assertThat(bad.statusCode()).isEqualTo(400);
    }

    @Test
    void requestsInFlightShowLiveAndInThePoints() throws Exception {
        CompletableFuture<Response> release = new CompletableFuture<>();
        CountDownLatch entered = new CountDownLatch(2);
        server = new Server();
        server.get("/wait", ctx -> {
            entered.countDown();
            return Task.from(release);
        });
        internal = new Server();
        dashboard = Dashboard.observe(server, metrics, Duration.ofMillis(50)).serveOn(internal);
        port = server.listen("127.0.0.1", 0);
        int internalPort = internal.listen("127.0.0.1", 0);
        List<CompletableFuture<HttpResponse<String>>> waiting = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            waiting.add(client.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/wait")).build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
        try {
            assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(internalData(internalPort, "").at("/http/inFlight").asLong()).isEqualTo(2);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            JsonNode history = internalData(internalPort, "").get("history");
            while ((history.isEmpty() || history.get(history.size() - 1).get("inFlight").asLong() != 2)
                    && System.nanoTime() < deadline) {
                Thread.sleep(20);
                history = internalData(internalPort, "").get("history");
            }
            assertThat(history.get(history.size() - 1).get("inFlight").asLong()).isEqualTo(2);
        } finally {
            release.complete(Response.ok("done"));
        }
        for (CompletableFuture<HttpResponse<String>> w : waiting) {
            assertThat(w.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
        }
        assertThat(internalData(internalPort, "").at("/http/inFlight").asLong()).isZero();
    }

    @Test
    void closeStopsTheSamplerAndThePointsStopComing() throws Exception {
        long samplers = samplerThreads();
        int internalPort = listenSampledFast();
        assertThat(samplerThreads()).isEqualTo(samplers + 1);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (internalData(internalPort, "").get("history").isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        dashboard.close();
        dashboard.close(); // idempotent
        assertThat(samplerThreads()).isEqualTo(samplers);
        int points = internalData(internalPort, "").get("history").size();
        assertThat(points).isPositive();
        Thread.sleep(300); // six sample periods
        JsonNode d = internalData(internalPort, "");
        assertThat(d.get("history").size()).isEqualTo(points);
        assertThat(d.at("/runtime/workers").asInt()).as("the live figures are still served").isEqualTo(2);
    }

    @Test
    void tasksExecutedAndFailedMoveByWhatTheTestScheduled() throws Exception {
        listen(new Server());
        JsonNode before = data();
        int requestsBefore = dataRequests;
        int tasks = 60, failing = 9;
        AtomicInteger ran = new AtomicInteger();
        CountDownLatch done = new CountDownLatch(tasks);
        for (int i = 0; i < tasks; i++) {
            boolean fail = i % (tasks / failing) == 0 && i / (tasks / failing) < failing;
            Runtime.schedule(Task.of(() -> {
                ran.incrementAndGet();
                done.countDown();
                if (fail) {
                    throw new IllegalStateException("failing on purpose");
                }
            }));
        }
        assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
        long executedBefore = before.at("/runtime/executed").asLong(), failedBefore = before.at("/runtime/failed").asLong();
        // a task's counters move just after its body, so poll for them
        JsonNode after = dataUntil(d -> d.at("/runtime/executed").asLong() - executedBefore >= tasks
                && d.at("/runtime/failed").asLong() - failedBefore >= failing);
        assertThat(ran.get()).isEqualTo(tasks);
        // the /data handlers count too: the one of `before` and each read since, but not the last one's own
        int handlers = dataRequests - requestsBefore;
        assertThat(after.at("/runtime/executed").asLong() - executedBefore).isBetween((long) tasks, (long) tasks + handlers);
        assertThat(after.at("/runtime/failed").asLong() - failedBefore).isEqualTo(failing);
        long workerExecuted = 0, workerFailed = 0;
        for (JsonNode w : after.get("workers")) {
            workerExecuted += w.get("executed").asLong();
            workerFailed += w.get("failed").asLong();
        }
        // read one after the other: a handler that finished in between may be in one sum and not the other
        assertThat(workerExecuted).isCloseTo(after.at("/runtime/executed").asLong(), org.assertj.core.data.Offset.offset(1L));
        assertThat(workerFailed).isEqualTo(after.at("/runtime/failed").asLong());
        assertThat(after.at("/runtime/avgTaskMs").asDouble()).isPositive();
        assertThat(after.at("/runtime/timedTasks").asLong()).isPositive();
        assertThat(after.at("/runtime/timedTaskNanos").asLong()).isPositive();
    }

    @Test
    void describesTheRuntimeAndEachWorker() throws Exception {
        listen(new Server());
        JsonNode d = data();
        assertThat(d.get("time").asLong()).isCloseTo(System.currentTimeMillis(), org.assertj.core.data.Offset.offset(10_000L));
        assertThat(d.at("/runtime/backend").asText()).isEqualTo("nio");
        assertThat(d.at("/runtime/strategy").asText()).isEqualTo(Runtime.getStats().strategy());
        assertThat(d.at("/runtime/workers").asInt()).isEqualTo(2);
        assertThat(d.at("/runtime/uptimeMs").asLong()).isNotNegative();
        assertThat(d.get("workers")).hasSize(2);
        assertThat(d.at("/workers/0/id").asInt()).isZero();
        assertThat(d.at("/workers/1/id").asInt()).isEqualTo(1);
        for (String field : new String[]{"queue", "peakQueue", "executed", "failed", "stolen", "cpuPercent", "avgTaskMs",
                "timedTasks", "timedTaskNanos", "pinnedCpu"}) {
            assertThat(d.at("/workers/0").has(field)).as(field).isTrue();
        }
        assertThat(d.get("recovery").toString()).isEqualTo("{\"enabled\":false}");
    }

    @Test
    void cpuPercentComesFromCpuTimeBetweenReads() throws Exception {
        listen(new Server());
        long windowStart = System.nanoTime();
        data(); // opens the window
        AtomicLong spinCpu = new AtomicLong(-1);
        CountDownLatch spun = new CountDownLatch(1);
        // keep worker 1 busy for 600 ms of wall time, measuring the CPU time it really got (the machine may be shared)
        Runtime.scheduleOnWorker(Task.of(() -> {
            ThreadMXBean threads = ManagementFactory.getThreadMXBean();
            long cpu0 = threads.getCurrentThreadCpuTime();
            long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(600);
            long x = 0;
            while (System.nanoTime() < end) {
                x += System.nanoTime() & 1;
            }
            spinCpu.set(threads.getCurrentThreadCpuTime() - cpu0);
            sink = x; // keeps the loop from being optimized away
            spun.countDown();
        }), 1);
        assertThat(spun.await(10, TimeUnit.SECONDS)).isTrue();
        // more than MIN_WINDOW after the first read: this read closes the window, which holds the whole spin
        JsonNode d = data();
        long windowLongest = System.nanoTime() - windowStart;
        assertThat(spinCpu.get()).as("CPU time the spin got").isGreaterThan(TimeUnit.MILLISECONDS.toNanos(20));
        double atLeast = 100.0 * spinCpu.get() / windowLongest;
        assertThat(d.at("/workers/1/cpuPercent").isNumber()).as(d.toString()).isTrue();
        assertThat(d.at("/workers/1/cpuPercent").asDouble()).as("worker 1: %s", d.get("workers"))
                .isBetween(atLeast * 0.95, 100.0);
        // an immediate second read does not shorten the window: it gets the same figures
        assertThat(data().at("/workers/1/cpuPercent").asDouble()).isEqualTo(d.at("/workers/1/cpuPercent").asDouble());
    }

    @Test
    void recoveryTotalsShowOnceASourceIsAttached() throws Exception {
        listen(new Server());
        assertThat(data().at("/recovery/enabled").asBoolean()).isFalse();
        dashboard.recovery(RecoverySource.of(metrics));
        for (int i = 0; i < 3; i++) {
            metrics.recovery().journaled();
        }
        metrics.recovery().completed();
        metrics.recovery().quarantined();
        metrics.recovery().journalBytes(() -> 4096);
        JsonNode r = data().get("recovery");
        assertThat(r.get("enabled").asBoolean()).isTrue();
        assertThat(r.get("journaled").asLong()).isEqualTo(3);
        assertThat(r.get("completed").asLong()).isEqualTo(1);
        assertThat(r.get("recovered").asLong()).isZero();
        assertThat(r.get("quarantined").asLong()).isEqualTo(1);
        assertThat(r.get("journalBytes").asLong()).isEqualTo(4096);
        dashboard.recovery(null);
        assertThat(data().at("/recovery/enabled").asBoolean()).isFalse();
    }

    @Test
    void durableTaskFiguresAndTheirHistoryShowOnceASourceIsAttached() throws Exception {
        listen(new Server());
        assertThat(data().get("durableTasks").toString()).isEqualTo("{\"enabled\":false}");
        dashboard.durableTasks(DurableTaskSource.of(metrics));
        DurableTaskMetrics m = metrics.durableTasks();
        for (int i = 0; i < 5; i++) {
            m.submitted();
            m.claimed();
        }
        m.completed();
        m.failedAttempt();
        m.quarantined();
        m.running(() -> 2);
        m.ready(() -> 9);
        JsonNode t = data().get("durableTasks");
        assertThat(t.toString()).isEqualTo("{\"enabled\":true,\"submitted\":5,\"claimed\":5,\"completed\":1,\"failed\":1,"
                + "\"quarantined\":1,\"running\":2,\"ready\":9}");

        // once two samples have read the source, its completions show per second in the history
        dataUntil(d -> d.get("history").findValues("durableCompleted").stream().anyMatch(JsonNode::isNumber));
        for (int i = 0; i < 3; i++) {
            m.completed();
        }
        JsonNode d = dataUntil(x -> sum(x.get("history"), "durableCompleted") >= 3);
        assertThat(sum(d.get("history"), "durableCompleted")).as("%s", d.get("history")).isEqualTo(3);
        assertThat(sum(d.get("history"), "durableFailed")).isZero();

        dashboard.durableTasks(null);
        assertThat(data().at("/durableTasks/enabled").asBoolean()).isFalse();
    }
}
