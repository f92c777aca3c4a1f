package io.stellane.cluster;

import io.stellane.recovery.IdempotencyKeyInUseException;
import io.stellane.recovery.JournalFullException;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;
import io.stellane.recovery.StoredResponse;
import io.stellane.recovery.testing.MutableClock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;

import static io.stellane.recovery.testing.TestRequests.KEY;
import static io.stellane.recovery.testing.TestRequests.OTHER_KEY;
import static io.stellane.recovery.testing.TestRequests.request;
import static io.stellane.recovery.testing.TestRequests.response;
import static io.stellane.recovery.testing.TestRequests.secretRequest;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The {@code postgres} store on a real PostgreSQL, each test in its own schema, nodes in this JVM. */
class PostgresStoreTest {
    private static final Duration LEASE = Duration.ofSeconds(1);
    private final TestDatabase db = new TestDatabase();
    private final List<PostgresStore> opened = new ArrayList<>();
    private final MutableClock clock = new MutableClock(java.time.Instant.now());

    @AfterEach
    void closeAll() {
        opened.forEach(PostgresStore::close);
        db.close();
    }

    private PostgresStore open(String node) {
        return open(node, c -> c);
    }

    private PostgresStore open(String node, java.util.function.UnaryOperator<RecoveryStoreConfig> tweak) {
        RecoveryStoreConfig config = tweak.apply(RecoveryStoreConfig.defaults(Path.of("unused"))
                .withIdempotencyTtl(Duration.ofMinutes(10)).withClock(clock).withDatabase(db.node(node, LEASE)));
        PostgresStore s = (PostgresStore) RecoveryStores.create("postgres", config);
        opened.add(s);
        return s;
    }

    private static List<String> ids(List<PendingRequest> list) {
        return list.stream().map(PendingRequest::requestId).toList();
    }

    /** Waits until the node's lease has expired in the database's clock. */
    private void awaitLeaseExpired(String node) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (System.nanoTime() < deadline) {
            try (Connection c = db.connect(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT lease_until < now() FROM stellane_node WHERE node_id = '" + node + "'")) {
                if (rs.next() && rs.getBoolean(1)) {
                    return;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("the lease of " + node + " did not expire");
    }

    @Test
    void isFoundByNameAndReportsAnUnreachableDatabaseWithItsUrl() {
        assertThat(RecoveryStores.list()).contains("postgres", "mmap");
        RecoveryStoreConfig config = RecoveryStoreConfig.defaults(Path.of("unused")).withDatabase(
                new RecoveryStoreConfig.Database("jdbc:postgresql://127.0.0.1:1/nothing", "nobody", null, "n1", LEASE));
        assertThatThrownBy(() -> RecoveryStores.create("postgres", config))
                .isInstanceOf(RecoveryException.class)
                .hasMessageContaining("jdbc:postgresql://127.0.0.1:1/nothing").hasMessageContaining("nobody");
        assertThatThrownBy(() -> RecoveryStores.create("postgres", RecoveryStoreConfig.defaults(Path.of("x"))))
                .isInstanceOf(RecoveryException.class).hasMessageContaining("runtime.recovery.url");
    }

    @Test
    void aForeignOrNewerSchemaIsRefusedAndLeftAlone() throws Exception {
        db.exec("CREATE TABLE stellane_journal (id int)");
        assertThatThrownBy(() -> open("n1")).isInstanceOf(RecoveryException.class).hasMessageContaining("not made by Stellane");
        db.exec("DROP TABLE stellane_journal");
        open("n1").close();
        db.exec("UPDATE stellane_meta SET value = '999' WHERE name = 'schema_version'");
        assertThatThrownBy(() -> open("n2")).isInstanceOf(RecoveryException.class).hasMessageContaining("newer");
    }

    @Test
    void pendingUntilCompletedAcrossACrashAndACleanRestart() {
        PostgresStore a = open("a");
        a.append(request("r1"));
        a.append(request("r2"));
        a.append(request("r3"));
        a.complete("r2", null);
        assertThat(ids(a.pending())).containsExactly("r1", "r3");
        a.crash();

        PostgresStore again = open("a");
        List<PendingRequest> pending = again.pending();
        assertThat(ids(pending)).containsExactly("r1", "r3");
        assertThat(pending.getFirst().request()).isEqualTo(request("r1"));
        assertThat(pending.getFirst().previousShutdownClean()).isFalse();
        assertThat(again.stats().pending()).isEqualTo(2);
        again.markCleanShutdown();
        again.close();

        PostgresStore third = open("a");
        assertThat(third.pending()).allSatisfy(p -> assertThat(p.previousShutdownClean()).isTrue());
        assertThatThrownBy(() -> third.complete("r2", null)).isInstanceOf(RecoveryException.class);
    }

    @Test
    void groupsFailByIndexAndAKeyIsHeldByOneRequestInTheCluster() {
        PostgresStore a = open("a");
        PostgresStore b = open("b");
        List<RuntimeException> failures = a.appendAll(List.of(request("r1", "k1", 10), request("r2", "k2", 10),
                request("r3", null, 10)));
        assertThat(failures).containsOnlyNulls();
        List<RuntimeException> second = b.appendAll(List.of(request("r4", "k1", 10), request("r5", null, 10)));
        assertThat(second.get(0)).isInstanceOf(IdempotencyKeyInUseException.class);
        assertThat(second.get(1)).isNull();

        StoredResponse answer = response("created 1");
        assertThat(a.completeAll(List.of("r1", "r3", "nope"), Arrays.asList(answer, null, null)))
                .satisfies(f -> assertThat(f.get(0)).isNull(), f -> assertThat(f.get(1)).isNull(),
                        f -> assertThat(f.get(2)).isInstanceOf(RecoveryException.class));
        assertThat(b.findByIdempotencyKey("k1")).contains(answer);
        assertThat(b.findByIdempotencyKey("k2")).isEmpty(); // still running on a
        assertThatThrownBy(() -> b.append(request("r6", "k1", 10))).isInstanceOf(IdempotencyKeyInUseException.class);

        clock.advance(Duration.ofMinutes(11)); // past the TTL: the key is free again
        assertThat(b.findByIdempotencyKey("k1")).isEmpty();
        b.append(request("r6", "k1", 10));
        assertThat(ids(b.pending())).containsExactly("r5", "r6");
    }

    @Test
    void aDeadNodesRequestsAreAdoptedOnceItsLeaseExpiresInAppendOrderWithAttemptsCarriedOver() throws Exception {
        PostgresStore a = open("a", c -> c.withMaxAttempts(2));
        for (int i = 0; i < 5; i++) {
            a.append(request("r" + i));
        }
        a.putCustomData("r0", Map.of("step", "charged"));
        assertThat(a.recordAttempt("r0", "process crashed")).isEqualTo(1);
        PostgresStore b = open("b", c -> c.withMaxAttempts(2));
        assertThat(b.adoptOrphans(100)).as("a is alive").isEmpty();
        a.crash();
        awaitLeaseExpired("a");

        List<PendingRequest> adopted = b.adoptOrphans(100);
        assertThat(ids(adopted)).containsExactly("r0", "r1", "r2", "r3", "r4");
        assertThat(adopted.getFirst().attempts()).isEqualTo(1);
        assertThat(adopted.getFirst().customData()).containsEntry("step", "charged");
        assertThat(adopted.getFirst().previousShutdownClean()).isFalse();
        assertThat(b.adoptOrphans(100)).as("taken once").isEmpty();
        assertThat(b.recordAttempt("r0", "process crashed")).isEqualTo(2);
        assertThat(b.recordAttempt("r0", "still failing")).as("past max: quarantined").isEqualTo(3);
        assertThat(ids(b.quarantined())).containsExactly("r0");

        PostgresStore aAgain = open("a");
        assertThat(aAgain.pending()).as("a restarted finds its requests adopted").isEmpty();
        assertThat(ids(b.pending())).containsExactly("r1", "r2", "r3", "r4");
    }

    @Test
    void aCleanlyClosedNodesUnfinishedRequestsAreAdoptedAtOnceAsInterrupted() {
        PostgresStore a = open("a");
        a.append(request("r1"));
        a.markCleanShutdown();
        a.close();
        PostgresStore b = open("b");
        List<PendingRequest> adopted = b.adoptOrphans(10);
        assertThat(ids(adopted)).containsExactly("r1");
        assertThat(adopted.getFirst().previousShutdownClean()).isTrue();
    }

    @Test
    void twoNodesAdoptingTheSameOrphansNeverTakeOneTwice() throws Exception {
        PostgresStore dead = open("dead");
        List<JournaledRequest> many = IntStream.range(0, 300).mapToObj(i -> request("r" + i)).toList();
        assertThat(dead.appendAll(many)).containsOnlyNulls();
        dead.crash();
        awaitLeaseExpired("dead");
        PostgresStore b = open("b");
        PostgresStore c = open("c");
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<List<String>>> takers = new ArrayList<>();
            for (PostgresStore s : List.of(b, c, b, c)) {
                Callable<List<String>> taker = () -> {
                    List<String> taken = new ArrayList<>();
                    for (List<PendingRequest> got; !(got = s.adoptOrphans(7)).isEmpty(); ) {
                        taken.addAll(ids(got));
                    }
                    return taken;
                };
                takers.add(pool.submit(taker));
            }
            List<String> all = new ArrayList<>();
            for (Future<List<String>> f : takers) {
                all.addAll(f.get());
            }
            assertThat(all).hasSize(300);
            assertThat(new HashSet<>(all)).hasSize(300);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aRestartAndAnAdoptionRacingForTheSameRequestsSplitThem() throws Exception {
        for (int round = 0; round < 5; round++) {
            String name = "a" + round;
            PostgresStore a = open(name);
            assertThat(a.appendAll(IntStream.range(0, 100).mapToObj(i -> request(name + "-" + i)).toList())).containsOnlyNulls();
            a.crash();
            awaitLeaseExpired(name);
            PostgresStore b = open("b" + round);
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                Future<List<String>> adopted = pool.submit(() -> ids(b.adoptOrphans(1000)));
                Future<List<String>> retaken = pool.submit(() -> ids(open(name).pending()));
                Set<String> both = new HashSet<>(adopted.get());
                both.retainAll(retaken.get());
                assertThat(both).as("taken by both").isEmpty();
                assertThat(adopted.get().size() + retaken.get().size()).isEqualTo(100);
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void withAKeyNothingIsClearInTheDatabaseAndOtherKeysAreRefused() throws Exception {
        String secret = "TOP-SECRET-7f3a";
        PostgresStore a = open("a", c -> c.withEncryptionKey(KEY));
        a.append(secretRequest("r1", "key-" + secret, secret));
        a.append(secretRequest("r2", "key2-" + secret, secret));
        a.putCustomData("r1", Map.of("note", secret));
        a.complete("r2", new StoredResponse(201, List.of(), ("{\"token\":\"" + secret + "\"}").getBytes(StandardCharsets.UTF_8)));
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT row_to_json(j)::text FROM stellane_journal j")) {
            int rows = 0;
            while (rs.next()) {
                rows++;
                assertThat(rs.getString(1)).doesNotContain(secret)
                        .doesNotContain(java.util.HexFormat.of().formatHex(secret.getBytes(StandardCharsets.UTF_8)));
            }
            assertThat(rows).isEqualTo(2);
        }
        assertThat(a.pending().getFirst().request()).isEqualTo(secretRequest("r1", "key-" + secret, secret));
        assertThat(a.findByIdempotencyKey("key2-" + secret).orElseThrow().status()).isEqualTo(201);
        assertThatThrownBy(() -> open("b", c -> c.withEncryptionKey(OTHER_KEY))).isInstanceOf(RecoveryException.class)
                .hasMessageContaining("same key");
        assertThatThrownBy(() -> open("c")).isInstanceOf(RecoveryException.class).hasMessageContaining("same key");
    }

    @Test
    void theCapCountsThisNodesPendingBytes() {
        PostgresStore a = open("a", c -> c.withSegmentSize(1 << 20).withMaxJournalBytes(8L << 20));
        a.append(request("big", null, 7 << 20));
        assertThatThrownBy(() -> a.append(request("more", null, 2 << 20))).isInstanceOf(JournalFullException.class);
        a.complete("big", null);
        a.append(request("more", null, 2 << 20));
    }

    @Test
    void misuseIsRejected() {
        RecoveryStore a = open("a");
        a.append(request("r1"));
        assertThatThrownBy(() -> a.append(request("r1"))).isInstanceOf(RecoveryException.class);
        assertThatThrownBy(() -> a.recordAttempt("nope", "x")).isInstanceOf(RecoveryException.class);
        assertThatThrownBy(() -> a.quarantine("nope", "x")).isInstanceOf(RecoveryException.class);
        assertThatThrownBy(() -> a.putCustomData("nope", Map.of())).isInstanceOf(RecoveryException.class);
        a.close();
        assertThatThrownBy(() -> a.append(request("r2"))).isInstanceOf(RecoveryException.class).hasMessageContaining("closed");
    }
}
