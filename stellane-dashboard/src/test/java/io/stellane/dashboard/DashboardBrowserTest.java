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
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * End to end: the dashboard in headless Chromium while the test keeps the runtime busy, laid out as a
 * service runs it: the page on an internal server, showing the traffic of the application's server.
 * Fails when the page shows no workers, no requests, or its numbers stop moving; leaves a screenshot in
 * target/dashboard.png. Needs Debian's chromium: {@code ./stellane test} installs it
 * (scripts/chromium.sh) and sets {@code STELLANE_CHROMIUM}.
 */
class DashboardBrowserTest {
    private static final int WORKERS = 2;
    private static final Duration DEADLINE = Duration.ofSeconds(20);
    /** Page state after its next update (or after 3 s without one): resolves in the browser, so Java never sleeps. */
    private static final String NEXT_STATE = """
            new Promise(resolve => {
              const $ = id => document.getElementById(id);
              const read = () => ({
                workers: document.querySelectorAll('#workers .worker').length,
                updates: Number($('updates').textContent),
                executed: $('executed').textContent,
                status: $('status').textContent,
                http: $('http').innerText
              });
              if (!$('updates')) { setTimeout(() => resolve({workers: 0, updates: 0, executed: '', status: 'loading', http: ''}), 200); return; }
              const obs = new MutationObserver(() => { obs.disconnect(); clearTimeout(timer); resolve(read()); });
              obs.observe($('updates'), {childList: true, characterData: true, subtree: true});
              const timer = setTimeout(() => { obs.disconnect(); resolve(read()); }, 3000);
            })""";

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

    @Test
    void theDashboardShowsEveryWorkerAndItsNumbersMoveInABrowser() throws Exception {
        String binary = System.getenv("STELLANE_CHROMIUM");
        if (binary == null || binary.isBlank() || !Files.isExecutable(Path.of(binary))) {
            fail("STELLANE_CHROMIUM is " + (binary == null ? "not set" : "'" + binary + "', not an executable")
                    + ": this end-to-end test needs Debian's chromium. Run the tests through `./stellane test`, which"
                    + " installs it (scripts/chromium.sh, as root) and sets STELLANE_CHROMIUM=/usr/bin/chromium.");
        }
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(WORKERS)
                .shutdownTimeout(Duration.ofSeconds(5)).build());
        ScheduledExecutorService load = Executors.newSingleThreadScheduledExecutor();
        HttpClient client = HttpClient.newHttpClient();
        try (StellaneMetrics metrics = StellaneMetrics.prometheus()) {
            Server server = new Server();
            server.get("/work", ctx -> Task.completed(Response.ok("done")));
            Server internal = new Server();
            Dashboard.observe(server, metrics).serveOn(internal);
            int port = server.listen("127.0.0.1", 0);
            int internalPort = internal.listen("127.0.0.1", 0);
            try {
                AtomicLong sink = new AtomicLong();
                AtomicInteger inFlight = new AtomicInteger();
                AtomicInteger round = new AtomicInteger();
                // every 20 ms: 40 small tasks (one in 40 fails) and, with at most 4 outstanding, one request
                load.scheduleAtFixedRate(() -> {
                    int r = round.incrementAndGet();
                    for (int i = 0; i < 40; i++) {
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
                        client.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/work")).build(),
                                HttpResponse.BodyHandlers.discarding()).whenComplete((res, err) -> inFlight.decrementAndGet());
                    }
                }, 0, 20, TimeUnit.MILLISECONDS);

                try (HeadlessChromium chromium = HeadlessChromium.start(Path.of(binary), tmp)) {
                    chromium.open("http://127.0.0.1:" + internalPort + Dashboard.PATH);
                    List<JsonNode> seen = new ArrayList<>();
                    long deadline = System.nanoTime() + DEADLINE.toNanos();
                    JsonNode state = nextState(chromium, deadline);
                    seen.add(state);
                    int executedChanges = 0, updatesSeen = 0;
                    while (System.nanoTime() < deadline) {
                        JsonNode next = nextState(chromium, deadline);
                        seen.add(next);
                        if (!next.get("executed").asText().equals(state.get("executed").asText())) {
                            executedChanges++;
                        }
                        if (next.get("updates").asInt() > state.get("updates").asInt()) {
                            updatesSeen++;
                        }
                        state = next;
                        // two changes prove it is live; a few more give the chart something to draw
                        if (executedChanges >= 2 && updatesSeen >= 6 && state.get("workers").asInt() == WORKERS) {
                            break;
                        }
                    }
                    Path png = Path.of(System.getProperty("basedir", "."), "target", "dashboard.png");
                    Files.createDirectories(png.getParent());
                    Files.write(png, chromium.screenshot());

                    assertThat(state.get("workers").asInt()).as("worker cards on the page; states seen: %s", seen)
                            .isEqualTo(WORKERS);
                    assertThat(executedChanges).as("times the executed total changed on the page; states seen: %s", seen)
                            .isGreaterThanOrEqualTo(2);
                    assertThat(updatesSeen).as("page updates seen; states seen: %s", seen).isGreaterThanOrEqualTo(2);
                    assertThat(state.get("status").asText()).isEqualTo("live");
                    assertThat(state.get("http").asText()).as("the HTTP card").containsPattern("requests\\s+[1-9]");

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
            }
        } finally {
            client.close();
            Runtime.stop();
        }
    }
}
