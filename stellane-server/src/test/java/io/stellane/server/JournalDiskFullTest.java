package io.stellane.server;

import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryManager;
import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;
import io.stellane.recovery.testing.StderrCapture;
import io.stellane.recovery.testing.TestRequests;
import io.stellane.recovery.testing.Tmpfs;
import io.stellane.task.Task;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The disk under the journal fills up, then is freed, with the server running, on each store: journaled
 * requests are answered 503 fast, the failures make a handful of log lines rather than one per request,
 * and once the space is back new requests succeed within seconds, without a restart. Nothing acknowledged
 * before or during the fault is lost: a copy of the journal (what a kill -9 would leave) still has the
 * requests in flight and the answer of every request acknowledged with an idempotency key.
 */
class JournalDiskFullTest extends ServerTestBase {
    private static final int FAILURES = 300;
    private static final Duration HEAL_DEADLINE = Duration.ofSeconds(30);

    @TempDir
    Path tmp;

    @Override
    String backend() {
        return "nio";
    }

    @ParameterizedTest
    @ValueSource(strings = {"mmap", "rocksdb"})
    void aFullDiskIs503FastWithFewLogLinesAndHealsOnceSpaceIsBack(String storeName) throws Exception {
        Tmpfs disk = Tmpfs.mount(tmp.resolve("disk"), 32);
        RecoveryManager manager = null;
        Server server = null;
        try {
            RecoveryStoreConfig config = RecoveryStoreConfig.defaults(disk.path().resolve("journal"))
                    .withSegmentSize(256 << 10).withMaxJournalBytes(8 << 20);
            manager = new RecoveryManager(RecoveryStores.create(storeName, config));
            RecoveryManager m = manager;
            RecoveryStore store = m.store();
            CompletableFuture<Response> release = new CompletableFuture<>();
            byte[] answer = new byte[4096]; // kept in the journal for each idempotency key: the journal grows
            Arrays.fill(answer, (byte) 'a');
            int port = start(s -> s.enableRequestRecovery(m)
                    .post("/hold", ctx -> Task.from(release))
                    .post("/work", ctx -> Task.completed(Response.ok(answer, "application/octet-stream"))));
            server = lastServer();

            // in flight when the disk fills: journaled, not answered
            List<CompletableFuture<HttpResponse<String>>> held = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                held.add(CLIENT.sendAsync(post(port, "/hold?n=" + i, null), HttpResponse.BodyHandlers.ofString()));
            }
            await("three held requests journaled", Duration.ofSeconds(10), () -> store.pending().size() == 3);
            List<String> acknowledged = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                assertThat(send(port, "/work", "pre-" + i).statusCode()).isEqualTo(200);
                acknowledged.add("pre-" + i);
            }

            disk.fill();
            List<Long> failureNanos = new ArrayList<>();
            int logRecords;
            try (StderrCapture log = StderrCapture.start()) {
                // until the journal needs room the disk no longer has
                int n = 0;
                HttpResponse<String> r;
                do {
                    assertThat(n).as("requests before the journal fails").isLessThan(5_000);
                    r = send(port, "/work", "fill-" + n);
                    if (r.statusCode() == 200) {
                        acknowledged.add("fill-" + n);
                    }
                    n++;
                } while (r.statusCode() == 200);
                for (int i = 0; i < FAILURES; i++) {
                    long t0 = System.nanoTime();
                    r = send(port, "/work", "down-" + i);
                    failureNanos.add(System.nanoTime() - t0);
                    assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
                    assertThat(r.headers().firstValue("Retry-After")).hasValue("1");
                }
                assertThat(store.fault()).as("the store reports its fault").isPresent();
                assertThat(lastServer().recoveryStats().journalErrors()).isGreaterThanOrEqualTo(FAILURES);
                List<String> records = log.records();
                assertThat(records).as("log records for %d failures:%n%s", FAILURES + 1, String.join("\n", records))
                        .hasSizeLessThanOrEqualTo(6);
                logRecords = records.size();
                assertThat(log.lines()).as("log lines, stack traces included").hasSizeLessThan(400);
            }
            long worstMillis = failureNanos.stream().mapToLong(Long::longValue).max().orElseThrow() / 1_000_000;
            assertThat(worstMillis).as("slowest 503, ms").isLessThan(1_000);

            disk.free();
            long freed = System.nanoTime();
            int[] attempt = {0};
            await("a journaled request succeeds again", HEAL_DEADLINE,
                    () -> send(port, "/work", "heal-" + attempt[0]++).statusCode() == 200);
            long healMillis = (System.nanoTime() - freed) / 1_000_000;
            await("the store reports no fault", Duration.ofSeconds(5), () -> store.fault().isEmpty());
            for (int i = 0; i < 20; i++) {
                assertThat(send(port, "/work", "after-" + i).statusCode()).isEqualTo(200);
                acknowledged.add("after-" + i);
            }
            System.out.printf("%s: slowest of %d 503s %d ms, %d log records, healed %d ms after the space came back%n",
                    storeName, FAILURES, worstMillis, logRecords, healMillis);

            // what a crash now would leave: the journal as it is on disk
            Path copy = TestRequests.crashCopy(config.path(), tmp.resolve("copy"));
            try (RecoveryStore reopened = RecoveryStores.create(storeName, config.withPath(copy))) {
                List<PendingRequest> pending = reopened.pending();
                assertThat(pending.stream().map(p -> p.request().target()))
                        .as("requests in flight through the fault").contains("/hold?n=0", "/hold?n=1", "/hold?n=2");
                Set<String> replayable = pending.stream().map(p -> p.request().idempotencyKey())
                        .filter(Objects::nonNull).collect(Collectors.toSet());
                List<String> lost = acknowledged.stream()
                        .filter(k -> reopened.findByIdempotencyKey(k).isEmpty() && !replayable.contains(k)).toList();
                assertThat(lost).as("acknowledged requests neither answered in the journal nor pending").isEmpty();
            }

            release.complete(Response.ok("done"));
            for (CompletableFuture<HttpResponse<String>> h : held) {
                assertThat(h.get().statusCode()).isEqualTo(200);
            }
        } finally {
            try {
                if (server != null) {
                    server.stop(Duration.ofSeconds(2));
                }
                if (manager != null) {
                    manager.close();
                }
            } finally {
                disk.close();
            }
        }
    }

    private static HttpRequest post(int port, String path, String key) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .POST(HttpRequest.BodyPublishers.ofString("x".repeat(512)));
        if (key != null) {
            b.header("Idempotency-Key", key);
        }
        return b.build();
    }

    private static HttpResponse<String> send(int port, String path, String key) {
        try {
            return CLIENT.send(post(port, path, key), HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Polls {@code condition} every millisecond until it holds, failing after {@code limit}. */
    private static void await(String what, Duration limit, BooleanSupplier condition) {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("not within " + limit + ": " + what);
            }
            LockSupport.parkNanos(1_000_000);
        }
    }
}
