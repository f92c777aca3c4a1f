package io.stellane.examples;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Three instances of the example service sharing one PostgreSQL journal (recovery backend
 * {@code postgres}) and one users table, each a child JVM. Twenty times, under a stream of
 * {@code POST /users} spread over the nodes, one node is killed with SIGKILL: within its lease plus
 * a scan interval another node has replayed what it left unanswered, and when it starts again under
 * its name it finds its requests adopted and replays none. In the end every acknowledged user is
 * stored exactly once and no user twice.
 */
class ClusterCrashTest {
    private static final int NODES = 3;
    private static final int TRIALS = 20;
    private static final int LEASE_SECONDS = 2;
    /** Lease expiry plus a scan (half a lease), plus room for a loaded machine and the replays themselves. */
    private static final long FAILOVER_BOUND_MS = LEASE_SECONDS * 1500L + 10_000;

    @TempDir
    Path tmp;
    private final ChildApp[] nodes = new ChildApp[NODES];
    private final int[] ports = new int[NODES];
    private String url;
    private String user;
    private String password;
    private String schema;

    @AfterEach
    void stopAll() throws Exception {
        for (ChildApp n : nodes) {
            if (n != null) {
                n.kill();
            }
        }
        if (schema != null) {
            exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
        }
    }

    private void exec(String sql) throws Exception {
        try (Connection c = DriverManager.getConnection(url, user, password); Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    private long count(String sql) throws Exception {
        try (Connection c = DriverManager.getConnection(url, user, password); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private ChildApp start(int i) throws Exception {
        Path config = tmp.resolve("node-" + i + ".toml");
        Files.writeString(config, """
                [runtime]
                worker_threads = 2
                [runtime.recovery]
                enabled = true
                backend = "postgres"
                url = "%1$s"
                user = "%2$s"
                node_id = "node-%3$d"
                lease = "%4$ds"
                [server]
                host = "127.0.0.1"
                [database]
                url = "%1$s"
                user = "%2$s"
                pool_size = 4
                """.formatted(url, user, i, LEASE_SECONDS));
        ChildApp c = new ChildApp(tmp.resolve("child-tmp-" + i), "--config", config.toString(), "--port", "0",
                "--management-port", "0", "--backend", "nio", "--data-dir", tmp.resolve("data-" + i).toString());
        nodes[i] = c;
        ports[i] = c.port();
        return c;
    }

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void aKilledNodesRequestsAreReplayedByAnotherAndNoneIsLostOrAppliedTwiceOverTwentyKills() throws Exception {
        String base = System.getenv("STELLANE_TEST_PG_URL");
        if (base == null || base.isBlank()) {
            fail("STELLANE_TEST_PG_URL is not set: run the tests through ./stellane test, which starts PostgreSQL");
        }
        user = System.getenv().getOrDefault("STELLANE_TEST_PG_USER", "");
        password = System.getenv().getOrDefault("STELLANE_TEST_PG_PASSWORD", "");
        byte[] b = new byte[5];
        new SecureRandom().nextBytes(b);
        schema = "cluster_" + HexFormat.of().formatHex(b);
        url = base + (base.contains("?") ? "&" : "?") + "currentSchema=" + schema;
        exec("CREATE SCHEMA " + schema);
        for (int i = 0; i < NODES; i++) {
            start(i);
        }

        Set<String> sent = ConcurrentHashMap.newKeySet();
        Set<String> acknowledged = ConcurrentHashMap.newKeySet();
        AtomicInteger seq = new AtomicInteger();
        List<Long> failovers = new ArrayList<>();
        List<Long> orphans = new ArrayList<>();
        for (int trial = 0; trial < TRIALS; trial++) {
            int victim = trial % NODES;
            AtomicBoolean go = new AtomicBoolean(true);
            AtomicInteger acksThisTrial = new AtomicInteger();
            List<Thread> clients = new ArrayList<>();
            for (int c = 0; c < 8; c++) {
                int client = c;
                clients.add(Thread.ofPlatform().start(() -> {
                    for (int k = 0; go.get() && k < 400; k++) {
                        int target = (client + k) % NODES;
                        String name = "u-" + seq.incrementAndGet();
                        sent.add(name);
                        try {
                            HttpResponse<String> r = UsersServiceTest.call(ports[target], "POST", "/users",
                                    "{\"name\":\"" + name + "\",\"email\":\"" + name + "@example.com\"}");
                            if (r.statusCode() == 201) {
                                acknowledged.add(name);
                                acksThisTrial.incrementAndGet();
                            }
                        } catch (Exception connectionLost) {
                            // the victim died under this request: unacknowledged
                        }
                    }
                }));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (acksThisTrial.get() < 40 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertThat(acksThisTrial.get()).as("trial %d: creates acknowledged before the kill", trial).isGreaterThanOrEqualTo(40);
            // kill it while it holds journaled requests it has not answered
            String owner = "'node-" + victim + "'";
            deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (count("SELECT count(*) FROM stellane_journal WHERE state = 0 AND owner = " + owner) == 0
                    && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            nodes[victim].kill();
            long killedAt = System.nanoTime();
            long orphaned = count("SELECT count(*) FROM stellane_journal WHERE state = 0 AND owner = " + owner);
            orphans.add(orphaned);
            Thread.sleep(200); // the stream goes on against the live nodes (and fails against the dead one)
            go.set(false);
            for (Thread t : clients) {
                t.join(30_000);
            }

            // another node adopts and replays whatever the victim journaled and never answered
            while (count("SELECT count(*) FROM stellane_journal WHERE state = 0 AND owner = " + owner) > 0
                    && System.nanoTime() - killedAt < TimeUnit.MILLISECONDS.toNanos(FAILOVER_BOUND_MS)) {
                Thread.sleep(20);
            }
            long failoverMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt);
            assertThat(count("SELECT count(*) FROM stellane_journal WHERE state = 0 AND owner = " + owner))
                    .as("trial %d: node-%d's requests taken over within %d ms", trial, victim, FAILOVER_BOUND_MS).isZero();
            failovers.add(failoverMs);
            assertThat(count("SELECT count(*) FROM stellane_journal WHERE state = 2"))
                    .as("trial %d: nothing quarantined", trial).isZero();

            // back under its name: its requests were adopted, it replays none of them again
            ChildApp again = start(victim);
            again.awaitLine(Pattern.compile(", 0 request\\(s\\) recovered"), 30);
        }

        // every node finished what it took; then the table holds each acknowledged user once, nothing twice
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (count("SELECT count(*) FROM stellane_journal WHERE state = 0") > 0 && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        Map<String, Integer> stored = new HashMap<>();
        for (int offset = 0; ; offset += 1000) {
            JsonNode users = UsersServiceTest.json(UsersServiceTest.call(ports[0], "GET", "/users?limit=1000&offset=" + offset, null))
                    .path("users");
            for (JsonNode u : users) {
                stored.merge(u.path("name").asText(), 1, Integer::sum);
            }
            if (users.size() < 1000) {
                break;
            }
        }
        assertThat(acknowledged).hasSizeGreaterThan(TRIALS * 40);
        assertThat(orphans.stream().filter(n -> n > 0).count())
                .as("trials whose victim died holding unanswered requests: %s", orphans).isGreaterThanOrEqualTo(TRIALS / 2);
        for (String name : acknowledged) {
            assertThat(stored.get(name)).as("acknowledged user %s stored exactly once", name).isEqualTo(1);
        }
        assertThat(stored.entrySet()).as("no user stored twice").allSatisfy(e -> assertThat(e.getValue()).isEqualTo(1));
        assertThat(sent).containsAll(stored.keySet());
        System.out.printf("failover after SIGKILL (ms, %d trials): %s; unanswered requests left by each victim: %s;"
                + " %d sent, %d acknowledged, %d stored%n", TRIALS, failovers, orphans, sent.size(), acknowledged.size(),
                stored.size());
    }
}
