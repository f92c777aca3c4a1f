package io.stellane.server;

import io.stellane.recovery.HttpHeader;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryManager;
import io.stellane.recovery.RecoveryMetadata;
import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStoreStats;
import io.stellane.recovery.RecoveryStores;
import io.stellane.recovery.StoredResponse;
import io.stellane.recovery.SyncPolicy;
import io.stellane.task.Task;
import io.stellane.task.Worker;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/** The server's request recovery over real sockets, on the mmap store. */
class RequestRecoveryTest extends ServerTestBase {
    @TempDir
    Path dir;

    private final List<RecoveryManager> managers = new ArrayList<>();

    @Override
    String backend() {
        return "nio";
    }

    @AfterEach
    void closeManagers() {
        for (RecoveryManager m : managers) {
            try {
                m.close();
            } catch (RuntimeException ignored) {
                // a test closed its store on purpose
            }
        }
    }

    private RecoveryStoreConfig config() {
        return RecoveryStoreConfig.defaults(dir.resolve("journal")).withSegmentSize(1 << 20);
    }

    /** Whether the store asks the server to group its journal writes (the subclass runs every test so). */
    boolean grouped() {
        return false;
    }

    private RecoveryManager manager(RecoveryStoreConfig config) {
        RecoveryStore store = RecoveryStores.create("mmap", config);
        RecoveryManager m = new RecoveryManager(grouped() ? new RecordingStore(store, new CopyOnWriteArrayList<>(), true) : store);
        managers.add(m);
        return m;
    }

    private static HttpResponse<String> post(int port, String path, String body, String idempotencyKey)
            throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (idempotencyKey != null) {
            b.header("Idempotency-Key", idempotencyKey);
        }
        return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            Thread.onSpinWait();
            Thread.yield();
        }
    }

    private static JournaledRequest pendingRequest(String id, String method, String target, String body, String key) {
        return new JournaledRequest(id, Instant.now(), method, target,
                List.of(new HttpHeader("Host", "x"), new HttpHeader("Content-Type", "text/plain")),
                body.getBytes(), key);
    }

    // ---------------------------------------------------------------- live requests

    @Test
    void aJournaledRequestIsPendingWhileItsHandlerRunsAndCompleteOnceAnswered() throws Exception {
        RecoveryManager m = manager(config());
        AtomicReference<PendingRequest> seen = new AtomicReference<>();
        int port = start(s -> s.enableRequestRecovery(m)
                .postBlocking("/orders", ctx -> {
                    ctx.recoveryData("step", "charged");
                    seen.set(m.store().pending().stream()
                            .filter(p -> p.requestId().equals(ctx.requestId())).findFirst().orElse(null));
                    return Response.ok(ctx.requestId());
                })
                .get("/id", ctx -> Task.completed(Response.ok(ctx.requestId()))));

        HttpResponse<String> r = post(port, "/orders?x=1", "order-1", "key-1");
        assertThat(r.statusCode()).isEqualTo(200);
        PendingRequest p = seen.get();
        assertThat(p).as("the handler sees its own request pending in the journal").isNotNull();
        assertThat(p.request().method()).isEqualTo("POST");
        assertThat(p.request().target()).isEqualTo("/orders?x=1");
        assertThat(p.request().body()).isEqualTo("order-1".getBytes());
        assertThat(p.request().idempotencyKey()).isEqualTo("key-1");
        assertThat(p.request().headers()).contains(new HttpHeader("Idempotency-Key", "key-1"));
        assertThat(p.customData()).containsEntry("step", "charged");
        assertThat(r.body()).isEqualTo(p.requestId());
        assertThat(m.store().pending()).as("completed once answered").isEmpty();
        assertThat(m.idempotentResponse("key-1")).isPresent();

        String second = post(port, "/orders", "order-2", null).body();
        assertThat(second).isNotEqualTo(r.body()).matches("[0-9a-f]{16}-[0-9a-f]+");
        assertThat(get(port, "/id").body()).as("GET is not journaled: a cheap per-process id")
                .doesNotMatch("[0-9a-f]{16}-[0-9a-f]+");
        RecoveryStats st = lastServer().recoveryStats();
        assertThat(st.journaled()).isEqualTo(2);
        assertThat(st.completed()).isEqualTo(2);
        assertThat(st.journalBytes()).as("the journal's size").isEqualTo(m.store().stats().bytesOnDisk()).isPositive();
        assertThat(m.store().stats().journaled()).isEqualTo(2);
    }

    @Test
    void aCustomPredicateChoosesWhatIsJournaledAndOneThatThrowsIsA500() throws Exception {
        RecoveryManager m = manager(config());
        int port = start(s -> s.enableRequestRecovery(m, req -> {
                    if (req.path().equals("/bad")) {
                        throw new IllegalStateException("predicate bug");
                    }
                    return req.path().startsWith("/journaled");
                })
                .post("/journaled", ctx -> Task.completed(Response.ok(ctx.requestId())))
                .post("/plain", ctx -> Task.completed(Response.ok(ctx.requestId())))
                .post("/bad", ctx -> Task.completed(Response.ok()))
                .get("/ok", ctx -> Task.completed(Response.ok("ok"))));
        assertThat(post(port, "/journaled", "a", null).body()).matches("[0-9a-f]{16}-[0-9a-f]+");
        assertThat(post(port, "/plain", "b", null).body()).doesNotMatch("[0-9a-f]{16}-[0-9a-f]+");
        assertThat(post(port, "/bad", "c", null).statusCode()).isEqualTo(500);
        assertThat(lastServer().recoveryStats().journaled()).isEqualTo(1);
        assertStillServes(port);
    }

    @Test
    void aHandlerThatThrowsIsAnswered500AndCompleted() throws Exception {
        RecoveryManager m = manager(config());
        int port = start(s -> s.enableRequestRecovery(m)
                .post("/boom", ctx -> {
                    throw new IllegalStateException("boom");
                })
                .post("/later", ctx -> Task.supply(() -> {
                    throw new IllegalStateException("later");
                })));
        assertThat(post(port, "/boom", "a", null).statusCode()).isEqualTo(500);
        assertThat(post(port, "/later", "b", "k-late").statusCode()).isEqualTo(500);
        assertThat(m.store().pending()).isEmpty();
        assertThat(lastServer().recoveryStats().completed()).isEqualTo(2);
        assertThat(m.idempotentResponse("k-late").map(StoredResponse::status)).contains(500);
    }

    @Test
    void aCompletedIdempotencyKeyGetsTheStoredAnswerWithoutRunningTheHandler() throws Exception {
        RecoveryManager m = manager(config());
        AtomicInteger runs = new AtomicInteger();
        int port = start(s -> s.enableRequestRecovery(m)
                .post("/users", ctx -> Task.completed(Response.created(Map.of("n", runs.incrementAndGet()))
                        .header("X-Trace", "t1"))));
        HttpResponse<String> first = post(port, "/users", "{}", "idem-1");
        HttpResponse<String> again = post(port, "/users", "{}", "idem-1");
        assertThat(runs).hasValue(1);
        assertThat(again.statusCode()).isEqualTo(201).isEqualTo(first.statusCode());
        assertThat(again.body()).isEqualTo(first.body()).isEqualTo("{\"n\":1}");
        assertThat(again.headers().firstValue("X-Trace")).contains("t1");
        assertThat(again.headers().firstValue("Content-Type")).isEqualTo(first.headers().firstValue("Content-Type"));
        assertThat(again.headers().firstValue("Idempotent-Replay")).contains("true");
        assertThat(first.headers().firstValue("Idempotent-Replay")).isEmpty();
        assertThat(post(port, "/users", "{}", "idem-2").body()).isEqualTo("{\"n\":2}");
        assertThat(lastServer().recoveryStats().idempotentReplays()).isEqualTo(1);
    }

    @Test
    void aDuplicateKeyWhileTheFirstIsInFlightIs409AndRunsOnce() throws Exception {
        RecoveryManager m = manager(config());
        AtomicInteger runs = new AtomicInteger();
        CompletableFuture<Response> release = new CompletableFuture<>();
        int port = start(s -> s.enableRequestRecovery(m)
                .post("/pay", ctx -> {
                    runs.incrementAndGet();
                    return Task.from(release);
                }));
        try (RawClient first = new RawClient(port)) {
            first.send("POST /pay HTTP/1.1\r\nHost: x\r\nIdempotency-Key: pay-1\r\nContent-Length: 2\r\n\r\nhi");
            await("first request running", () -> runs.get() == 1);
            HttpResponse<String> dup = post(port, "/pay", "hi", "pay-1");
            assertThat(dup.statusCode()).isEqualTo(409);
            assertThat(dup.headers().firstValue("Content-Type")).contains("application/json");
            assertThat(dup.body()).contains("\"error\"");
            release.complete(Response.ok("paid"));
            RawClient.Resp r = first.read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("paid");
        }
        HttpResponse<String> after = post(port, "/pay", "hi", "pay-1");
        assertThat(after.body()).isEqualTo("paid");
        assertThat(after.headers().firstValue("Idempotent-Replay")).contains("true");
        assertThat(runs).hasValue(1);
        assertThat(lastServer().recoveryStats().conflicts()).isEqualTo(1);
    }

    @Test
    void aFullJournalIs503WithRetryAfterAndLosesNothing() throws Exception {
        RecoveryManager m = manager(RecoveryStoreConfig.defaults(dir.resolve("tiny"))
                .withSegmentSize(4096).withMaxJournalBytes(8192));
        List<String> ran = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> release = new CompletableFuture<>();
        int port = start(s -> s.enableRequestRecovery(m)
                .post("/put", ctx -> {
                    ran.add(ctx.request().bodyString());
                    return Task.from(release).map(v -> Response.ok(ctx.request().bodyString()));
                })
                .get("/ok", ctx -> Task.completed(Response.ok("ok"))));
        String pad = "p".repeat(1024);
        List<RawClient> clients = new ArrayList<>();
        List<String> accepted = new ArrayList<>();
        List<String> refused = new ArrayList<>();
        try {
            for (int i = 0; i < 20 && refused.isEmpty(); i++) {
                String body = i + ":" + pad;
                RawClient c = new RawClient(port);
                clients.add(c);
                c.send("POST /put HTTP/1.1\r\nHost: x\r\nContent-Length: " + body.length() + "\r\n\r\n" + body);
                int expected = accepted.size() + 1;
                int refusedBefore = refused.size();
                await("request " + i + " journaled or refused", () -> ran.size() == expected
                        || lastServer().recoveryStats().rejectedFull() > refusedBefore);
                if (ran.size() == expected) {
                    accepted.add(body);
                    continue;
                }
                RawClient.Resp r = c.read();
                assertThat(r.status()).isEqualTo(503);
                assertThat(r.header("Retry-After")).isEqualTo("1");
                assertThat(r.header("Content-Type")).isEqualTo("application/json");
                assertThat(r.body()).contains("journal is full");
                refused.add(body);
                clients.remove(c);
                c.close();
            }
            assertThat(refused).as("the 8 KiB journal fills up").hasSize(1);
            assertThat(accepted).isNotEmpty();
            assertThat(ran).as("a refused request's handler never ran").containsExactlyElementsOf(accepted);
            assertThat(m.store().pending()).hasSize(accepted.size());
            release.complete(null);
            for (int i = 0; i < clients.size(); i++) {
                RawClient.Resp r = clients.get(i).read();
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.body()).isEqualTo(accepted.get(i));
            }
        } finally {
            for (RawClient c : clients) {
                c.close();
            }
        }
        assertThat(m.store().pending()).isEmpty();
        assertThat(lastServer().recoveryStats().rejectedFull()).isEqualTo(1);
        assertStillServes(port);
        HttpResponse<String> afterDrain = post(port, "/put", "after", null);
        assertThat(afterDrain.statusCode()).as("the journal drained as requests completed").isEqualTo(200);
        assertThat(ran).endsWith("after");
    }

    @Test
    void aBrokenJournalIs503NotA500() throws Exception {
        RecoveryManager m = manager(config());
        AtomicInteger runs = new AtomicInteger();
        int port = start(s -> s.enableRequestRecovery(m)
                .post("/x", ctx -> Task.completed(Response.ok("ran " + runs.incrementAndGet()))));
        assertThat(post(port, "/x", "1", null).statusCode()).isEqualTo(200);
        m.store().close(); // every journal call now throws RecoveryException
        HttpResponse<String> r = post(port, "/x", "2", null);
        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(r.headers().firstValue("Retry-After")).contains("1");
        assertThat(r.body()).contains("journal unavailable");
        assertThat(runs).hasValue(1);
        assertThat(lastServer().recoveryStats().journalErrors()).isEqualTo(1);
    }

    @Test
    void journalCallsRunOnTheWorkerUnlessEverySyncWaitsForTheDisk() throws Exception {
        for (SyncPolicy policy : List.of(SyncPolicy.INTERVAL, SyncPolicy.ALWAYS)) {
            List<Boolean> onWorker = new CopyOnWriteArrayList<>();
            RecoveryStore inner = RecoveryStores.create("mmap", config().withPath(dir.resolve(policy.name()))
                    .withSyncPolicy(policy));
            RecoveryManager m = new RecoveryManager(new RecordingStore(inner, onWorker, grouped()));
            managers.add(m);
            AtomicReference<Boolean> handlerOnWorker = new AtomicReference<>();
            int port = start(s -> s.enableRequestRecovery(m)
                    .post("/a", ctx -> {
                        handlerOnWorker.set(Worker.current() != null);
                        return Task.completed(Response.ok(ctx.requestId()));
                    }));
            HttpResponse<String> r = post(port, "/a", "x", null);
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(handlerOnWorker.get()).as("the handler continues on its worker (%s)", policy).isTrue();
            assertThat(onWorker).as("append and complete under %s", policy).hasSize(2)
                    .containsOnly(policy != SyncPolicy.ALWAYS);
            assertThat(inner.pending()).isEmpty();
        }
    }

    @Test
    void aLargeBodyIsJournaledOffTheWorkerWhateverTheSyncPolicy() throws Exception {
        List<Boolean> onWorker = new CopyOnWriteArrayList<>();
        RecoveryStore inner = RecoveryStores.create("mmap", config().withPath(dir.resolve("large"))
                .withSegmentSize(8 << 20).withMaxJournalBytes(64 << 20));
        RecoveryManager m = new RecoveryManager(new RecordingStore(inner, onWorker, grouped()));
        managers.add(m);
        int port = start(s -> s.enableRequestRecovery(m)
                .post("/upload", ctx -> Task.completed(Response.ok(Integer.toString(ctx.request().body().length)))));
        String small = "s".repeat(JournalWriter.OFFLOAD_BYTES);
        String large = "L".repeat(JournalWriter.OFFLOAD_BYTES + 1);
        assertThat(post(port, "/upload", small, null).body()).isEqualTo(Integer.toString(small.length()));
        assertThat(post(port, "/upload", large, null).body()).isEqualTo(Integer.toString(large.length()));
        // append then complete for each: the small one on the worker, the large one's append on a virtual thread
        assertThat(onWorker).containsExactly(true, true, false, true);
        assertThat(inner.pending()).isEmpty();
    }

    // ---------------------------------------------------------------- replays

    @Test
    void aReplayThatFailsTheWayALiveRequestIsAnswered4xxCompletesWithThatAnswer() throws Exception {
        RecoveryManager m = manager(config().withMaxAttempts(2));
        m.journal(pendingRequest("invalid", "POST", "/users", "{\"name\": \"\"}", "k-invalid"));
        m.journal(pendingRequest("teapot", "POST", "/brew", "", null));
        m.journal(pendingRequest("db-down", "POST", "/users", "{\"name\": \"db\"}", null));
        AtomicInteger runs = new AtomicInteger();
        int port = start(s -> s.enableRequestRecovery(m)
                .onError(IllegalArgumentException.class, (e, ctx) -> Response.error(400, e.getMessage()))
                .onError(IllegalStateException.class, (e, ctx) -> Response.error(503, e.getMessage()))
                .post("/users", ctx -> {
                    runs.incrementAndGet();
                    if (ctx.request().bodyString().contains("\"\"")) {
                        throw new IllegalArgumentException("name is required");
                    }
                    throw new IllegalStateException("database unavailable");
                })
                .post("/brew", ctx -> Task.failed(new HttpException(418, "I'm a teapot"))));
        RecoveryManager.RecoveryReport report = lastServer().recover();
        // the validation error and the HttpException 4xx complete on their first attempt; the mapped 503 is
        // a failure of the server's, retried and then quarantined like an unmapped one
        assertThat(report).isEqualTo(new RecoveryManager.RecoveryReport(3, 2, 2, 1));
        assertThat(m.quarantined()).extracting(PendingRequest::requestId).containsExactly("db-down");
        assertThat(runs).hasValue(3);
        HttpResponse<String> retry = post(port, "/users", "{\"name\": \"\"}", "k-invalid");
        assertThat(retry.statusCode()).as("the client's retry gets the replay's 400").isEqualTo(400);
        assertThat(retry.body()).contains("name is required");
        assertThat(retry.headers().firstValue("Idempotent-Replay")).contains("true");
        assertThat(runs).hasValue(3);
    }


    @Test
    void onRecoverReplaysAPendingRequestWithItsJournaledId() throws Exception {
        RecoveryManager m = manager(config());
        m.journal(pendingRequest("left-1", "POST", "/orders?src=a", "body-1", null));
        List<String> seen = new CopyOnWriteArrayList<>();
        start(s -> s.enableRequestRecovery(m)
                .onRecover((ctx, req) -> {
                    seen.add(ctx.requestId() + " " + req.method() + " " + req.path() + " " + req.query() + " "
                            + req.bodyString() + " " + req.header("content-type") + " " + ctx.recovery().isPresent()
                            + " " + (Worker.current() != null));
                    return Task.completed(null);
                })
                .post("/orders", ctx -> Task.completed(Response.ok("live"))));
        RecoveryManager.RecoveryReport report = lastServer().recover();
        assertThat(report).isEqualTo(new RecoveryManager.RecoveryReport(1, 1, 0, 0));
        assertThat(seen).containsExactly("left-1 POST /orders src=a body-1 text/plain true true");
        assertThat(m.store().pending()).isEmpty();
        assertThat(lastServer().recoveryStats().recovered()).isEqualTo(1);
    }

    @Test
    void hooksWithMetadataRunInRegistrationOrderAndSeeCustomData() throws Exception {
        RecoveryManager m = manager(config());
        m.journal(pendingRequest("left-2", "PUT", "/items/9", "b", null));
        m.putCustomData("left-2", Map.of("step", "reserved"));
        List<String> calls = new CopyOnWriteArrayList<>();
        start(s -> s.enableRequestRecovery(m)
                .onRecover((ctx, req, meta) -> {
                    calls.add("first " + meta.requestId() + " " + meta.attempt() + "/" + meta.maxAttempts() + " "
                            + meta.failureReason() + " " + meta.customData());
                    return Task.completed(null);
                })
                .onRecover((ctx, req) -> {
                    calls.add("second " + ctx.recovery().map(RecoveryMetadata::attempt).orElse(-1));
                    return Task.completed(null);
                })
                .put("/items/{id}", ctx -> Task.completed(Response.ok())));
        assertThat(lastServer().recover().recovered()).isEqualTo(1);
        assertThat(calls).containsExactly("first left-2 1/3 " + PendingRequest.PROCESS_CRASHED + " {step=reserved}",
                "second 1");
    }

    @Test
    void retryOriginalHandlerRunsTheRouteAndItsAnswerIsStoredForTheKey() throws Exception {
        RecoveryManager m = manager(config());
        m.journal(pendingRequest("left-3", "POST", "/items/42", "payload", "idem-r"));
        List<String> handled = new CopyOnWriteArrayList<>();
        int port = start(s -> s.enableRequestRecovery(m)
                .onRecover((ctx, req) -> ctx.retryOriginalHandler())
                .post("/items/{id}", ctx -> {
                    handled.add(ctx.requestId() + " " + ctx.param("id") + " " + ctx.request().bodyString()
                            + " " + ctx.recovery().isPresent());
                    return Task.completed(Response.created(Map.of("id", ctx.param("id"))));
                }));
        assertThat(lastServer().recover().recovered()).isEqualTo(1);
        assertThat(handled).containsExactly("left-3 42 payload true");
        HttpResponse<String> retry = post(port, "/items/42", "payload", "idem-r");
        assertThat(retry.statusCode()).isEqualTo(201);
        assertThat(retry.body()).isEqualTo("{\"id\":\"42\"}");
        assertThat(retry.headers().firstValue("Idempotent-Replay")).contains("true");
        assertThat(handled).as("the client's retry got the replay's answer").hasSize(1);
    }

    @Test
    void withoutHooksTheOriginalHandlerReplays() throws Exception {
        RecoveryManager m = manager(config());
        m.journal(pendingRequest("left-4", "DELETE", "/things/7", "", null));
        List<String> handled = new CopyOnWriteArrayList<>();
        start(s -> s.enableRequestRecovery(m)
                .delete("/things/{id}", ctx -> {
                    handled.add(ctx.requestId() + " " + ctx.param("id"));
                    return Task.completed(Response.noContent());
                }));
        assertThat(lastServer().recover()).isEqualTo(new RecoveryManager.RecoveryReport(1, 1, 0, 0));
        assertThat(handled).containsExactly("left-4 7");
    }

    @Test
    void aLiveRequestWithTheKeyOfARunningReplayIs409ThenGetsTheReplaysAnswer() throws Exception {
        RecoveryManager m = manager(config());
        m.journal(pendingRequest("left-6", "POST", "/charge", "c", "charge-1"));
        CompletableFuture<Response> release = new CompletableFuture<>();
        AtomicInteger replays = new AtomicInteger();
        AtomicInteger live = new AtomicInteger();
        int port = start(s -> s.enableRequestRecovery(m)
                .onRecover((ctx, req) -> {
                    replays.incrementAndGet();
                    return Task.from(release);
                })
                .post("/charge", ctx -> Task.completed(Response.ok("live " + live.incrementAndGet()))));
        CompletableFuture<RecoveryManager.RecoveryReport> report = CompletableFuture.supplyAsync(lastServer()::recover);
        await("the replay is running", () -> replays.get() == 1);
        assertThat(post(port, "/charge", "c", "charge-1").statusCode()).isEqualTo(409);
        release.complete(Response.ok("charged by replay"));
        assertThat(report.get(10, java.util.concurrent.TimeUnit.SECONDS).recovered()).isEqualTo(1);
        HttpResponse<String> after = post(port, "/charge", "c", "charge-1");
        assertThat(after.body()).isEqualTo("charged by replay");
        assertThat(after.headers().firstValue("Idempotent-Replay")).contains("true");
        assertThat(live).hasValue(0);
    }

    @Test
    void aHookThatThrowsIsRetriedUntilAttempt3Succeeds() throws Exception {
        RecoveryManager m = manager(config());
        m.journal(pendingRequest("left-5", "POST", "/flaky", "f", null));
        List<Integer> attempts = new CopyOnWriteArrayList<>();
        start(s -> s.enableRequestRecovery(m)
                .onRecover((ctx, req, meta) -> {
                    attempts.add(meta.attempt());
                    if (meta.attempt() < 3) {
                        throw new IOException("downstream unavailable on attempt " + meta.attempt());
                    }
                    assertThat(meta.failureReason()).contains("attempt 2");
                    return Task.completed(Response.ok("done"));
                })
                .post("/flaky", ctx -> Task.completed(Response.ok())));
        assertThat(lastServer().recover()).isEqualTo(new RecoveryManager.RecoveryReport(1, 1, 2, 0));
        assertThat(attempts).containsExactly(1, 2, 3);
        RecoveryStats st = lastServer().recoveryStats();
        assertThat(st.failedAttempts()).isEqualTo(2);
        assertThat(st.recovered()).isEqualTo(1);
        assertThat(m.store().pending()).isEmpty();
        assertThat(m.quarantined()).isEmpty();
    }

    @Test
    void aRequestThatAlwaysFailsIsQuarantinedAfterMaxAttemptsAndTheServerStaysHealthy() throws Exception {
        RecoveryManager m = manager(config().withMaxAttempts(2));
        m.journal(pendingRequest("poison", "POST", "/poison", "p", null));
        m.journal(pendingRequest("fine", "POST", "/fine", "f", null));
        AtomicInteger poisonRuns = new AtomicInteger();
        List<String> fine = new CopyOnWriteArrayList<>();
        int port = start(s -> s.enableRequestRecovery(m)
                .post("/poison", ctx -> Task.supply(() -> {
                    poisonRuns.incrementAndGet();
                    throw new IllegalStateException("poison");
                }))
                .post("/fine", ctx -> {
                    fine.add(ctx.requestId());
                    return Task.completed(Response.ok());
                })
                .get("/ok", ctx -> Task.completed(Response.ok("ok"))));
        assertThat(lastServer().recover()).isEqualTo(new RecoveryManager.RecoveryReport(2, 1, 2, 1));
        assertThat(poisonRuns).hasValue(2);
        assertThat(fine).containsExactly("fine");
        assertThat(m.quarantined()).extracting(PendingRequest::requestId).containsExactly("poison");
        assertThat(m.store().pending()).isEmpty();
        assertThat(lastServer().recoveryStats().quarantined()).isEqualTo(1);
        assertThat(lastServer().recover().found()).as("never replayed again").isZero();
        assertThat(poisonRuns).hasValue(2);
        assertStillServes(port);
    }

    /**
     * Delegates to a store and records, for append and complete, whether the caller was a worker;
     * {@code grouped} says whether it asks the server for grouped writes (appendAll and completeAll
     * are the interface's one-by-one defaults).
     */
    private record RecordingStore(RecoveryStore inner, List<Boolean> onWorker, boolean grouped) implements RecoveryStore {
        @Override
        public boolean groupsWrites() {
            return grouped;
        }

        @Override
        public void append(JournaledRequest request) {
            onWorker.add(Worker.current() != null);
            inner.append(request);
        }

        @Override
        public void complete(String requestId, StoredResponse responseOrNull) {
            onWorker.add(Worker.current() != null);
            inner.complete(requestId, responseOrNull);
        }

        @Override
        public int recordAttempt(String requestId, String failureReason) {
            return inner.recordAttempt(requestId, failureReason);
        }

        @Override
        public void quarantine(String requestId, String reason) {
            inner.quarantine(requestId, reason);
        }

        @Override
        public void putCustomData(String requestId, Map<String, String> data) {
            inner.putCustomData(requestId, data);
        }

        @Override
        public List<PendingRequest> pending() {
            return inner.pending();
        }

        @Override
        public List<PendingRequest> quarantined() {
            return inner.quarantined();
        }

        @Override
        public Optional<StoredResponse> findByIdempotencyKey(String idempotencyKey) {
            return inner.findByIdempotencyKey(idempotencyKey);
        }

        @Override
        public void markCleanShutdown() {
            inner.markCleanShutdown();
        }

        @Override
        public RecoveryStoreStats stats() {
            return inner.stats();
        }

        @Override
        public RecoveryStoreConfig config() {
            return inner.config();
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    static List<String> sorted(List<String> l) {
        List<String> c = new ArrayList<>(l);
        Collections.sort(c);
        return c;
    }
}
