package io.stellane.examples;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.config.RuntimeConfig;
import io.stellane.examples.users.DatabaseConfig;
import io.stellane.recovery.testing.StderrCapture;
import io.stellane.recovery.testing.Tmpfs;
import io.stellane.server.ServerConfig;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;

import static io.stellane.examples.UsersServiceTest.call;
import static io.stellane.examples.UsersServiceTest.json;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The service as {@code ./stellane serve} runs it (H2 and the journal under the data directory), on a
 * data directory whose disk fills up and is freed again: creates answer 503 fast, with a handful of log
 * lines, {@code /health} says which part is down, and without a restart creates succeed again within
 * seconds, every user created before still there. It is the database that fails: both journals write
 * into space they took in advance (the mmap store's 64 MiB segment, RocksDB's preallocated WAL), which
 * lasts far longer than this test; JournalDiskFullTest (stellane-server) fills the journals themselves.
 */
class UsersDiskFullTest {
    private static final int FAILURES = 200;

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"mmap", "rocksdb"})
    void aFullDataDiskIs503AndHealsWithoutARestart(String journal) throws Exception {
        // room for the mmap journal's preallocated 64 MiB segment and its spare, or RocksDB's WAL
        Tmpfs disk = Tmpfs.mount(tmp.resolve("data"), journal.equals("mmap") ? 176 : 112);
        UsersApp app = null;
        try {
            RuntimeConfig runtime = RuntimeConfig.builder().backendType("nio").workerThreads(2)
                    .enableRequestRecovery(true).recoveryBackend(journal).recoveryPath(disk.path().resolve("journal"))
                    .build();
            app = UsersApp.start(new AppConfig(runtime, "127.0.0.1", 0, ServerConfig.defaults(),
                    new AppConfig.Management("127.0.0.1", 0, false), DatabaseConfig.defaults(disk.path()), disk.path(), null));
            int port = app.port();
            int management = app.managementPort();
            assertHealth(port, management, 200, "UP", "UP", "UP");
            Map<String, String> created = new LinkedHashMap<>(); // id -> name, every create answered 201
            for (int i = 0; i < 20; i++) {
                create(port, "before-" + i, created);
            }

            disk.fill();
            long worst;
            int logRecords;
            try (StderrCapture log = StderrCapture.start()) {
                int n = 0;
                while (create(port, "filling-" + n, created) == 201) {
                    assertThat(++n).as("creates before the full disk fails one").isLessThan(5_000);
                }
                worst = 0;
                for (int i = 0; i < FAILURES; i++) {
                    long t0 = System.nanoTime();
                    HttpResponse<String> r = post(port, "down-" + i);
                    worst = Math.max(worst, System.nanoTime() - t0);
                    assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
                    assertThat(r.headers().firstValue("Retry-After")).hasValue("1");
                }
                assertHealth(port, management, 503, "DOWN", "DOWN", "UP");
                List<String> records = log.records();
                assertThat(records).as("log records for %d failures:%n%s", FAILURES + 1, String.join("\n", records))
                        .hasSizeLessThanOrEqualTo(8);
                logRecords = records.size();
                assertThat(log.lines()).as("log lines, stack traces included").hasSizeLessThan(600);
            }
            assertThat(worst / 1_000_000).as("slowest 503, ms").isLessThan(2_000);

            disk.free();
            long freed = System.nanoTime();
            int[] attempt = {0};
            await("a create succeeds again", Duration.ofSeconds(30),
                    () -> post(port, "after-" + attempt[0]++).statusCode() == 201);
            await("health is UP again", Duration.ofSeconds(10),
                    () -> call(port, "GET", "/health", null).statusCode() == 200);
            long healMillis = (System.nanoTime() - freed) / 1_000_000;
            assertHealth(port, management, 200, "UP", "UP", "UP");
            System.out.printf("%s journal: slowest of %d 503s %d ms, %d log records, healthy %d ms after the space"
                    + " came back%n", journal, FAILURES, worst / 1_000_000, logRecords, healMillis);

            for (Map.Entry<String, String> u : created.entrySet()) {
                HttpResponse<String> r = call(port, "GET", "/users/" + u.getKey(), null);
                assertThat(r.statusCode()).as("user %s, created before the disk filled", u.getKey()).isEqualTo(200);
                assertThat(json(r).path("name").asText()).isEqualTo(u.getValue());
            }
        } finally {
            try {
                if (app != null) {
                    app.close();
                }
            } finally {
                disk.close();
            }
        }
    }

    private static HttpResponse<String> post(int port, String name) {
        try {
            return call(port, "POST", "/users", "{\"name\":\"" + name + "\",\"email\":\"" + name + "@example.com\"}");
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** Creates a user; records it if the answer is 201; returns the status. */
    private static int create(int port, String name, Map<String, String> created) throws Exception {
        HttpResponse<String> r = post(port, name);
        if (r.statusCode() == 201) {
            created.put(json(r).path("id").asText(), name);
        }
        return r.statusCode();
    }

    /** The details on the management port; the public port's bare answer agrees. */
    private static void assertHealth(int port, int management, int status, String overall, String database,
                                     String journal) throws Exception {
        assertThat(call(port, "GET", "/health", null).statusCode()).isEqualTo(status);
        HttpResponse<String> r = call(management, "GET", "/health", null);
        JsonNode body = json(r);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        assertThat(body.path("status").asText()).as(r.body()).isEqualTo(overall);
        assertThat(body.path("database").asText()).as(r.body()).isEqualTo(database);
        assertThat(body.path("journal").asText()).as(r.body()).isEqualTo(journal);
    }

    /** Polls {@code condition} every millisecond until it holds, failing after {@code limit}. */
    private static void await(String what, Duration limit, ThrowingCondition condition) throws Exception {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.holds()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("not within " + limit + ": " + what);
            }
            LockSupport.parkNanos(1_000_000);
        }
    }

    @FunctionalInterface
    private interface ThrowingCondition {
        boolean holds() throws Exception;
    }
}
