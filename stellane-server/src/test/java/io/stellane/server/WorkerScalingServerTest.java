package io.stellane.server;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A load that grows and stops against a server on a scaling runtime: a worker is added while the load
 * lasts and retired after it, and no request fails on the way (a retiring worker's connections end
 * after their next response; with one socket per worker, its socket moves to another worker).
 */
class WorkerScalingServerTest {
    private Server server;

    @AfterEach
    void stop() {
        try {
            if (server != null) {
                server.stop(Duration.ofSeconds(2));
            }
        } finally {
            Runtime.stop();
        }
    }

    private static void await(String what, Duration limit, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime() - deadline < 0).as("timed out waiting until %s", what).isTrue();
            TimeUnit.MILLISECONDS.sleep(20);
        }
    }

    /** Requests one after the other on one client until stopped; records every failure. */
    private static Thread stream(int port, String path, AtomicBoolean running, AtomicInteger ok, List<String> failures,
                                 HttpClient client, long pauseMillis) {
        return Thread.ofPlatform().start(() -> {
            while (running.get()) {
                try {
                    HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                            .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
                    if (r.statusCode() == 200) {
                        ok.incrementAndGet();
                    } else {
                        failures.add("status " + r.statusCode());
                    }
                    if (pauseMillis > 0) {
                        TimeUnit.MILLISECONDS.sleep(pauseMillis);
                    }
                } catch (InterruptedException e) {
                    return;
                } catch (Exception e) {
                    failures.add(e.toString());
                }
            }
        });
    }

    @ParameterizedTest(name = "{0}, starting with {1} workers")
    @CsvSource({"nio, 1", "epoll, 2", "io_uring, 2"})
    void aLoadThatGrowsAndStopsAddsAWorkerAndRetiresItWithoutAFailedRequest(String backend, int initial) throws Exception {
        Runtime.init(RuntimeConfig.builder().backendType(backend).workerThreads(initial)
                .scalingEnabled(true).minWorkers(1).maxWorkers(2)
                .scaleUpAfter(Duration.ofMillis(300)).scaleDownAfter(Duration.ofSeconds(1)).build());
        server = new Server(ServerConfig.builder().idleTimeout(Duration.ofSeconds(2)).build());
        server.get("/light", ctx -> Task.completed(Response.text("light")));
        server.get("/heavy", ctx -> {
            long until = System.nanoTime() + 2_000_000; // 2 ms of CPU on the worker: the load to scale for
            while (System.nanoTime() < until) {
                Thread.onSpinWait();
            }
            return Task.completed(Response.text("heavy"));
        });
        int port = server.listen("127.0.0.1", 0);
        List<String> failures = new CopyOnWriteArrayList<>();
        AtomicInteger ok = new AtomicInteger();
        AtomicBoolean light = new AtomicBoolean(true);
        try (HttpClient lightClient = HttpClient.newHttpClient()) {
            Thread trickle = stream(port, "/light", light, ok, failures, lightClient, 20);
            if (initial == 2) {
                await("idle: down to one worker", Duration.ofSeconds(20), () -> Runtime.getStats().workerCount() == 1);
            }
            AtomicBoolean heavy = new AtomicBoolean(true);
            List<HttpClient> heavyClients = new ArrayList<>();
            List<Thread> load = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                HttpClient c = HttpClient.newHttpClient();
                heavyClients.add(c);
                load.add(stream(port, "/heavy", heavy, ok, failures, c, 0));
            }
            try {
                await("under load: a second worker", Duration.ofSeconds(20), () -> Runtime.getStats().workerCount() == 2);
                int before = ok.get();
                await("both workers serve", Duration.ofSeconds(10), () -> ok.get() > before + 200);
            } finally {
                heavy.set(false);
                for (Thread t : load) {
                    t.join();
                }
                heavyClients.forEach(HttpClient::close);
            }
            await("the load stopped: back to one worker", Duration.ofSeconds(30), () -> Runtime.getStats().workerCount() == 1);
            await("the retired worker ended", Duration.ofSeconds(30), () -> Runtime.liveWorkers() == 1);
            light.set(false);
            trickle.join();
        }
        System.out.printf("scaling [%s]: %d requests served, %d failed%n", backend, ok.get(), failures.size());
        assertThat(failures).as("requests that failed while workers came and went").isEmpty();
        assertThat(ServerTestBase.get(port, "/light").statusCode()).isEqualTo(200);
    }
}
