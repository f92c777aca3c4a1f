package io.stellane.dashboard;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.config.RuntimeConfig;
import io.stellane.metrics.StellaneMetrics;
import io.stellane.runtime.Runtime;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.task.Task;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * End to end: the dashboard in headless Chromium while the test keeps the runtime busy, laid out as a
 * service runs it: the page on an internal server, showing the traffic of the application's server.
 * Fails when the page shows no workers, no requests, task numbers that read zero, or charts that do not
 * move; leaves a screenshot in target/dashboard.png. Also checks the page's unit formatting, in the page.
 * Needs Debian's chromium: {@code ./stellane test} installs it (scripts/chromium.sh) and sets
 * {@code STELLANE_CHROMIUM}.
 */
class DashboardBrowserTest {
    private static final int WORKERS = 2;
    private static final Duration DEADLINE = Duration.ofSeconds(30);
    /** Page state after its next update (or after 3 s without one): resolves in the browser, so Java never sleeps. */
    private static final String NEXT_STATE = """
            new Promise(resolve => {
              const $ = id => document.getElementById(id);
              const chart = name => (window.stellane && window.stellane.charts[name]) || {points: 0, nonZero: 0};
              const read = () => ({
                workers: document.querySelectorAll('#workers .worker').length,
                updates: Number($('updates').textContent),
                executed: $('executed').textContent,
                taskRate: $('taskRate').textContent,
                avgTask: $('avgTask').textContent,
                rps: $('rps').textContent,
                status: $('status').textContent,
                http: $('http').innerText,
                routes: $('routes').innerText,
                requestsChart: chart('requests'),
                tasksChart: chart('tasks'),
                durableShown: !$('durable').hidden,
                durableRate: $('durableRate').textContent,
                durableRunning: $('durableRunning').textContent,
                durableChart: chart('durable')
              });
              if (!$('updates')) { setTimeout(() => resolve({workers: 0, updates: 0, status: 'loading'}), 200); return; }
              const obs = new MutationObserver(() => { obs.disconnect(); clearTimeout(timer); resolve(read()); });
              obs.observe($('updates'), {childList: true, characterData: true, subtree: true});
              const timer = setTimeout(() => { obs.disconnect(); resolve(read()); }, 3000);
            })""";
    /** A number as the page prints it, with its unit: "1.2K/s", "850 µs", "6.3K". */
    private static final Pattern NON_ZERO = Pattern.compile("^(0*[1-9][0-9.]*|0\\.[0-9]*[1-9][0-9]*)(K|M|G)?( ?(/s|ns|µs|ms|s))?$");

    @TempDir
    Path tmp;

    /** {@link #NEXT_STATE}, again if the page navigated under it (the target is still loading the dashboard). */
    private static JsonNode nextState(HeadlessChromium chromium, long deadline) throws Exception {
        while (true) {
            try {
                return chromium.evaluate(NEXT_STATE);
            } catch (java.io.IOException e) {
                if (!String.valueOf(e.getMessage()).contains("Execution context was destroyed") || System.nanoTime() > deadline) {
                    throw e;
                }
            }
        }
    }

    private static void awaitWorkerCards(HeadlessChromium chromium, int count) throws Exception {
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        List<JsonNode> seen = new ArrayList<>();
        while (true) {
            JsonNode state = nextState(chromium, deadline);
            seen.add(state);
            if (state.get("workers").asInt() == count) {
                return;
            }
            assertThat(System.nanoTime() < deadline).as("%d worker cards; states seen: %s", count, seen).isTrue();
        }
    }

    private static String chromium() {
        String binary = System.getenv("STELLANE_CHROMIUM");
        if (binary == null || binary.isBlank() || !Files.isExecutable(Path.of(binary))) {
            fail("STELLANE_CHROMIUM is " + (binary == null ? "not set" : "'" + binary + "', not an executable")
                    + ": this end-to-end test needs Debian's chromium. Run the tests through `./stellane test`, which"
                    + " installs it (scripts/chromium.sh, as root) and sets STELLANE_CHROMIUM=/usr/bin/chromium.");
        }
        return binary;
    }

    private static boolean nonZero(JsonNode state, String field) {
        return NON_ZERO.matcher(state.path(field).asText()).matches();
    }

    @Test
    void underLoadTheRequestChartMovesAndTheTaskNumbersAreNotZero() throws Exception {
        String binary = chromium();
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(WORKERS)
                .shutdownTimeout(Duration.ofSeconds(5)).build());
        ScheduledExecutorService load = Executors.newSingleThreadScheduledExecutor();
        HttpClient client = HttpClient.newHttpClient();
        try (StellaneMetrics metrics = StellaneMetrics.prometheus()) {
            Server server = new Server();
            server.get("/work/{n}", ctx -> Task.completed(Response.ok("done " + ctx.param("n"))));
            Server internal = new Server();
            Dashboard dashboard = Dashboard.observe(server, metrics).serveOn(internal)
                    .durableTasks(DurableTaskSource.of(metrics));
            metrics.durableTasks().running(() -> 3);
            int port = server.listen("127.0.0.1", 0);
            int internalPort = internal.listen("127.0.0.1", 0);
            try {
                AtomicLong sink = new AtomicLong();
                AtomicInteger inFlight = new AtomicInteger();
                AtomicInteger round = new AtomicInteger();
                // every 20 ms: 10 small tasks (one in 50 fails) and, with at most 4 outstanding, one request
                // (one in 10 to a path no route matches): a few hundred tasks and some 50 requests a second
                load.scheduleAtFixedRate(() -> {
                    int r = round.incrementAndGet();
                    metrics.durableTasks().completed(); // as a node's durable tasks report: 50 a second, a few failures
                    if (r % 10 == 0) {
                        metrics.durableTasks().failedAttempt();
                    }
                    for (int i = 0; i < 10; i++) {
                        boolean failing = i == 0 && r % 5 == 0;
                        Runtime.schedule(Task.of(() -> {
                            long x = 0;
                            for (int k = 0; k < 20_000; k++) {
                                x += k ^ (x >>> 3);
                            }
                            sink.addAndGet(x);
                            if (failing) {
                                throw new IllegalStateException("dashboard load: failing on purpose");
                            }
                        }));
                    }
                    if (inFlight.get() < 4) {
                        inFlight.incrementAndGet();
                        String path = r % 10 == 0 ? "/missing" : "/work/" + r;
                        client.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
                                HttpResponse.BodyHandlers.discarding()).whenComplete((res, err) -> inFlight.decrementAndGet());
                    }
                }, 0, 20, TimeUnit.MILLISECONDS);

                try (HeadlessChromium chromium = HeadlessChromium.start(Path.of(binary), tmp)) {
                    chromium.open("http://127.0.0.1:" + internalPort + Dashboard.PATH);
                    List<JsonNode> seen = new ArrayList<>();
                    long deadline = System.nanoTime() + DEADLINE.toNanos();
                    JsonNode first = nextState(chromium, deadline);
                    JsonNode state = first;
                    seen.add(state);
                    while (System.nanoTime() < deadline) {
                        state = nextState(chromium, deadline);
                        seen.add(state);
                        // the chart moved: it drew more points since the first state, and some are not zero
                        boolean moved = state.at("/requestsChart/points").asInt() > first.at("/requestsChart/points").asInt() + 2
                                && state.at("/requestsChart/nonZero").asInt() >= 3;
                        if (moved && nonZero(state, "taskRate") && nonZero(state, "avgTask") && nonZero(state, "executed")
                                && nonZero(state, "rps") && state.get("workers").asInt() == WORKERS
                                && nonZero(state, "durableRate") && state.at("/durableChart/nonZero").asInt() >= 3) {
                            break;
                        }
                    }
                    Path png = Path.of(System.getProperty("basedir", "."), "target", "dashboard.png");
                    Files.createDirectories(png.getParent());
                    Files.write(png, chromium.screenshot());

                    assertThat(state.get("workers").asInt()).as("worker cards on the page; states seen: %s", seen)
                            .isEqualTo(WORKERS);
                    assertThat(state.get("status").asText()).isEqualTo("live");
                    assertThat(state.at("/requestsChart/points").asInt()).as("points the request chart drew; states seen: %s", seen)
                            .isGreaterThan(first.at("/requestsChart/points").asInt() + 2);
                    assertThat(state.at("/requestsChart/nonZero").asInt()).as("non-zero points; states seen: %s", seen)
                            .isGreaterThanOrEqualTo(3);
                    assertThat(state.at("/tasksChart/nonZero").asInt()).as("non-zero task points; states seen: %s", seen)
                            .isPositive();
                    for (String figure : List.of("taskRate", "avgTask", "executed", "rps")) {
                        assertThat(nonZero(state, figure)).as("%s reads '%s'; states seen: %s", figure,
                                state.path(figure).asText(), seen).isTrue();
                    }
                    assertThat(state.get("durableShown").asBoolean()).as("the durable-task section").isTrue();
                    assertThat(nonZero(state, "durableRate")).as("durable completions/s read '%s'; states seen: %s",
                            state.path("durableRate").asText(), seen).isTrue();
                    assertThat(state.get("durableRunning").asText()).isEqualTo("3");
                    assertThat(state.at("/durableChart/nonZero").asInt()).as("non-zero durable points; states seen: %s", seen)
                            .isGreaterThanOrEqualTo(3);
                    assertThat(state.get("http").asText()).as("the HTTP card").containsPattern("requests\\s+[1-9]");
                    assertThat(state.get("routes").asText()).as("the route table")
                            .contains("/work/{n}", "unmatched").doesNotContain("/work/1");

                    // a worker added live (scaling, a reload) gets its card; one retired loses it
                    Runtime.updateConfig(Runtime.getConfig().toBuilder().workerThreads(WORKERS + 1).build());
                    awaitWorkerCards(chromium, WORKERS + 1);
                    Runtime.updateConfig(Runtime.getConfig().toBuilder().workerThreads(WORKERS).build());
                    awaitWorkerCards(chromium, WORKERS);
                }
            } finally {
                load.shutdownNow();
                load.awaitTermination(5, TimeUnit.SECONDS);
                server.stop(Duration.ofSeconds(2));
                internal.stop(Duration.ofSeconds(2));
                dashboard.close();
            }
        } finally {
            client.close();
            Runtime.stop();
        }
    }

    @Test
    void thePageWritesBytesCountsRatesAndDurationsInReadableUnits() throws Exception {
        String binary = chromium();
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).shutdownTimeout(Duration.ofSeconds(5)).build());
        try (StellaneMetrics metrics = StellaneMetrics.prometheus()) {
            Server server = new Server();
            Dashboard dashboard = Dashboard.install(server, metrics);
            int port = server.listen("127.0.0.1", 0);
            try (HeadlessChromium chromium = HeadlessChromium.start(Path.of(binary), tmp)) {
                chromium.open("http://127.0.0.1:" + port + Dashboard.PATH);
                Map<String, String> cases = new LinkedHashMap<>();
                cases.put("bytes(0)", "0 B");
                cases.put("bytes(512)", "512 B");
                cases.put("bytes(1536)", "1.5 KiB");
                cases.put("bytes(134217728)", "128 MiB");
                cases.put("bytes(1048575)", "1 MiB");
                cases.put("bytes(1.25 * 2 ** 30)", "1.25 GiB");
                cases.put("bytes(-1)", "–");
                cases.put("count(0)", "0");
                cases.put("count(999)", "999");
                cases.put("count(1234)", "1.2K");
                cases.put("count(12345)", "12.3K");
                cases.put("count(123456)", "123K");
                cases.put("count(999999)", "1M");
                cases.put("count(134217728)", "134M");
                cases.put("rate(0)", "0/s");
                cases.put("rate(0.4)", "0.4/s");
                cases.put("rate(12.34)", "12.3/s");
                cases.put("rate(1234)", "1.2K/s");
                cases.put("rate(NaN)", "–");
                cases.put("duration(0.0004)", "400 ns");
                cases.put("duration(0.0125)", "12.5 µs");
                cases.put("duration(0.9996)", "1 ms");
                cases.put("duration(250)", "250 ms");
                cases.put("duration(1500)", "1.5 s");
                cases.put("duration(0)", "0 ms");
                cases.put("duration(null)", "–");
                cases.put("percent(0.31)", "0.3 %");
                cases.put("percent(42.4)", "42 %");
                cases.put("uptime(45000)", "45s");
                cases.put("uptime(725000)", "12m 05s");
                cases.put("uptime((3 * 60 + 4) * 60000)", "3h 04m");
                cases.put("uptime((2 * 24 + 3) * 3600000)", "2d 03h");
                cases.put("clock(new Date(2026, 0, 2, 3, 4, 5).getTime())", "03:04:05");
                StringBuilder js = new StringBuilder("""
                        new Promise(resolve => { const go = () => { if (!window.stellane) return setTimeout(go, 50);
                          const f = window.stellane.fmt; resolve([""");
                cases.keySet().forEach(expr -> js.append("f.").append(expr).append(","));
                js.append("]); }; go(); })");
                JsonNode got = null;
                long deadline = System.nanoTime() + DEADLINE.toNanos();
                while (got == null) {
                    try {
                        got = chromium.evaluate(js.toString());
                    } catch (java.io.IOException e) { // the page was still loading under the evaluation
                        if (!String.valueOf(e.getMessage()).contains("Execution context was destroyed") || System.nanoTime() > deadline) {
                            throw e;
                        }
                    }
                }
                int i = 0;
                for (Map.Entry<String, String> c : cases.entrySet()) {
                    assertThat(got.get(i++).asText()).as(c.getKey()).isEqualTo(c.getValue());
                }
            } finally {
                server.stop(Duration.ofSeconds(2));
                dashboard.close();
            }
        } finally {
            Runtime.stop();
        }
    }
}
