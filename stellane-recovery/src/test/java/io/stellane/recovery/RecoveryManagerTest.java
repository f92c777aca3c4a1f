package io.stellane.recovery;

import io.stellane.task.Task;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RecoveryManagerTest {

    private static RecoveryManager open(Path dir) {
        return new RecoveryManager(RecoveryStores.create("mmap", RecoveryStoreConfig.defaults(dir)
                .withSegmentSize(1 << 20).withMaxJournalBytes(8 << 20)));
    }

    private static JournaledRequest request(String id, String key) {
        return new JournaledRequest(id, Instant.parse("2026-11-24T00:00:00Z"), "POST", "/users",
                List.of(new HttpHeader("Content-Type", "application/json")),
                "{\"name\":\"ada\"}".getBytes(StandardCharsets.UTF_8), key);
    }

    /** A crash: the files as they are while the process runs, opened by a new process. */
    private static Path crashCopy(RecoveryManager running, Path dir, Path into) throws IOException {
        Files.createDirectories(into);
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                if (!f.getFileName().toString().equals("journal.lock")) {
                    Files.copy(f, into.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        running.store().close(); // without a clean-shutdown marker
        return into;
    }

    @Test
    void aReplayThatThrowsIsRetriedUntilItSucceedsOnAttemptThree(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("j");
        RecoveryManager first = open(dir);
        first.journal(request("r1", null));
        first.putCustomData("r1", Map.of("step", "charged"));
        Path copy = crashCopy(first, dir, tmp.resolve("after-crash"));

        List<RecoveryMetadata> seen = new ArrayList<>();
        List<String> events = new ArrayList<>();
        try (RecoveryManager second = open(copy)) {
            second.addListener(new RecoveryManager.Listener() {
                @Override public void recovered() { events.add("recovered"); }
                @Override public void failedAttempt() { events.add("failed"); }
            });
            RecoveryManager.RecoveryReport report = second.recoverAll((req, meta) -> {
                seen.add(meta);
                if (meta.attempt() < 3) {
                    return Task.failed(new IllegalStateException("downstream busy " + meta.attempt()));
                }
                return Task.completed(new StoredResponse(201, List.of(), "created".getBytes(StandardCharsets.UTF_8)));
            });
            assertThat(report).isEqualTo(new RecoveryManager.RecoveryReport(1, 1, 2, 0));
            assertThat(second.counters().recovered()).isEqualTo(1);
            assertThat(second.store().pending()).isEmpty();
        }
        assertThat(seen).extracting(RecoveryMetadata::attempt).containsExactly(1, 2, 3);
        assertThat(events).containsExactly("failed", "failed", "recovered");
        assertThat(seen.getFirst().failureReason()).isEqualTo("process crashed");
        assertThat(seen.get(1).failureReason()).contains("downstream busy 1");
        assertThat(seen.get(2).failureReason()).contains("downstream busy 2");
        assertThat(seen).allSatisfy(m -> {
            assertThat(m.requestId()).isEqualTo("r1");
            assertThat(m.maxAttempts()).isEqualTo(3);
            assertThat(m.originalTimestamp()).isEqualTo(Instant.parse("2026-11-24T00:00:00Z"));
            assertThat(m.customData()).containsEntry("step", "charged");
        });
    }

    @Test
    void aReplayThatAlwaysFailsIsQuarantinedAndNeverReplayedAgain(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("j");
        RecoveryManager first = open(dir);
        first.journal(request("poison", null));
        Path copy = crashCopy(first, dir, tmp.resolve("c"));
        AtomicInteger calls = new AtomicInteger();
        try (RecoveryManager second = open(copy)) {
            RecoveryManager.RecoveryReport report = second.recoverAll((req, meta) -> {
                calls.incrementAndGet();
                return Task.failed(new IllegalArgumentException("bad payload"));
            });
            assertThat(report.quarantined()).isEqualTo(1);
            assertThat(second.quarantined()).singleElement().satisfies(p -> {
                assertThat(p.requestId()).isEqualTo("poison");
                assertThat(p.quarantineReason()).contains("bad payload");
            });
        }
        assertThat(calls).hasValue(3);
        try (RecoveryManager third = open(copy)) {
            assertThat(third.recoverAll((req, meta) -> {
                throw new AssertionError("a quarantined request is never replayed");
            }).found()).isZero();
            assertThat(third.quarantined()).hasSize(1);
        }
    }

    @Test
    void aReplayThatKillsTheProcessUsesUpItsAttemptsAcrossRestarts(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("run0");
        RecoveryManager running = open(dir);
        running.journal(request("killer", null));
        running.journal(request("innocent", null));
        Path current = crashCopy(running, dir, tmp.resolve("run1"));
        List<String> replayedInnocent = new ArrayList<>();
        // Each run: the replay of "killer" halts the process (an Error escapes; nothing else runs).
        for (int run = 1; run <= 3; run++) {
            RecoveryManager m = open(current);
            assertThatThrownBy(() -> m.recoverAll((req, meta) -> {
                if (req.requestId().equals("killer")) {
                    throw new Halt();
                }
                replayedInnocent.add(req.requestId());
                return Task.completed(null);
            })).isInstanceOf(Halt.class);
            current = crashCopy(m, current, tmp.resolve("run" + (run + 1)));
        }
        try (RecoveryManager healthy = open(current)) {
            RecoveryManager.RecoveryReport report = healthy.recoverAll((req, meta) -> {
                assertThat(req.requestId()).isEqualTo("innocent");
                replayedInnocent.add(req.requestId());
                return Task.completed(null);
            });
            assertThat(report.quarantined()).isEqualTo(1);
            assertThat(report.recovered()).isEqualTo(1);
            assertThat(healthy.quarantined()).extracting(PendingRequest::requestId).containsExactly("killer");
        }
        assertThat(replayedInnocent).containsExactly("innocent");
    }

    @Test
    void idempotencyKeysReturnTheStoredAnswer(@TempDir Path tmp) {
        try (RecoveryManager m = open(tmp.resolve("j"))) {
            List<String> events = new ArrayList<>();
            m.addListener(new RecoveryManager.Listener() {
                @Override public void journaled() { events.add("journaled"); }
                @Override public void completed() { events.add("completed"); }
            });
            m.journal(request("a", "key-1"));
            assertThat(m.idempotentResponse("key-1")).isEmpty();
            m.complete("a", new StoredResponse(201, List.of(new HttpHeader("Location", "/users/7")), "{}".getBytes(StandardCharsets.UTF_8)));
            assertThat(m.idempotentResponse("key-1")).get().extracting(StoredResponse::status).isEqualTo(201);
            assertThat(m.idempotentResponse("other")).isEmpty();
            assertThat(m.idempotentResponse(null)).isEmpty();
            assertThat(m.counters().journaled()).isEqualTo(1);
            assertThat(m.counters().completed()).isEqualTo(1);
            assertThat(events).containsExactly("journaled", "completed");
        }
    }

    @Test
    void closeClosesTheStoreWhenTheCleanShutdownMarkFailsAndTheNextStartReplays(@TempDir Path tmp) {
        Path dir = tmp.resolve("j");
        RecoveryStoreConfig config = RecoveryStoreConfig.defaults(dir).withSegmentSize(1 << 20).withMaxJournalBytes(8 << 20);
        RecoveryStore real = RecoveryStores.create("mmap", config);
        RecoveryStore refusesTheMark = (RecoveryStore) java.lang.reflect.Proxy.newProxyInstance(
                RecoveryStore.class.getClassLoader(), new Class<?>[] {RecoveryStore.class}, (proxy, method, args) -> {
                    if (method.getName().equals("markCleanShutdown")) {
                        throw new RecoveryException("recovery store " + dir + " refuses writes after a failed sync");
                    }
                    try {
                        return method.invoke(real, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        RecoveryManager manager = new RecoveryManager(refusesTheMark);
        manager.journal(request("r1", null));

        manager.close();

        assertThatThrownBy(real::pending).as("the store is closed").isInstanceOf(RecoveryException.class);
        try (RecoveryManager next = open(dir)) {
            assertThat(next.store().pending()).extracting(p -> p.request().requestId()).containsExactly("r1");
        }
    }

    @Test
    void nothingToRecoverAfterACleanShutdown(@TempDir Path tmp) {
        Path dir = tmp.resolve("j");
        try (RecoveryManager m = open(dir)) {
            m.journal(request("done", null));
            m.complete("done", null);
        }
        try (RecoveryManager m = open(dir)) {
            assertThat(m.recoverAll((r, meta) -> Task.completed(null))).isEqualTo(new RecoveryManager.RecoveryReport(0, 0, 0, 0));
        }
    }

    private static final class Halt extends Error {
        Halt() {
            super("simulated process death", null, false, false);
        }
    }

    @Test
    void theSharedStoresDatabaseComesFromTheRuntimeConfigWithThePasswordFromAnOwnerOnlyFile(@TempDir Path tmp) throws IOException {
        io.stellane.config.RuntimeConfig none = io.stellane.config.RuntimeConfig.defaults();
        assertThat(RecoveryManager.database(none)).as("no url: a local store").isNull();

        Path pw = tmp.resolve("pw");
        Files.writeString(pw, "s3cret\n");
        Files.setPosixFilePermissions(pw, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        io.stellane.config.RuntimeConfig c = none.toBuilder().recoveryUrl("jdbc:postgresql://db/x").recoveryUser("u")
                .recoveryPasswordFile(pw).recoveryNodeId("web-1").recoveryLease(java.time.Duration.ofSeconds(4)).build();
        RecoveryStoreConfig.Database db = RecoveryManager.database(c);
        assertThat(db.url()).isEqualTo("jdbc:postgresql://db/x");
        assertThat(db.password().reveal()).isEqualTo("s3cret");
        assertThat(db.nodeId()).isEqualTo("web-1");
        assertThat(db.lease()).hasSeconds(4);
        assertThat(db.toString()).doesNotContain("s3cret");
        assertThat(RecoveryManager.database(c.toBuilder().recoveryNodeId(null).build()).nodeId())
                .as("a random name by default").matches("node-[0-9a-f]{12}");

        Files.setPosixFilePermissions(pw, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        assertThatThrownBy(() -> RecoveryManager.database(c)).isInstanceOf(io.stellane.config.ConfigException.class)
                .hasMessageContaining("runtime.recovery.password_file").hasMessageContaining("0600");
    }
}
