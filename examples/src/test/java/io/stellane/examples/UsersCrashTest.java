package io.stellane.examples;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The example service killed with {@code kill -9} in the middle of a stream of {@code POST /users}, over
 * HTTP/1.1 and over HTTP/2 (several streams of one connection in flight), then started again on the same
 * data directory: every acknowledged user is stored exactly once,
 * and every unacknowledged one at most once (its journaled request is replayed with its original id,
 * which the create uses as its idempotency key).
 */
class UsersCrashTest {
    @TempDir
    Path tmp;
    private final List<ChildApp> children = new ArrayList<>();

    @AfterEach
    void killChildren() throws Exception {
        for (ChildApp c : children) {
            c.kill();
        }
    }

    private ChildApp start(Path config, Path dataDir) throws Exception {
        ChildApp c = new ChildApp(tmp.resolve("child-tmp"), "--config", config.toString(), "--port", "0", "--management-port", "0", "--backend", "nio", "--data-dir", dataDir.toString());
        children.add(c);
        return c;
    }

    /** How the load reaches the service. */
    enum Protocol {
        /** The JDK's client: each thread's requests on a connection of its own. */
        HTTP_1_1,
        /** HTTP/2 with prior knowledge: every thread's requests are streams on one connection. */
        H2C
    }

    /** Creates users for the load's threads; thread-safe. */
    private interface Creates extends AutoCloseable {
        /** The status of {@code POST /users} with {@code json}; throws if the connection is lost first. */
        int create(String json) throws Exception;

        @Override
        default void close() {
        }
    }

    private static Creates connect(Protocol protocol, int port) throws Exception {
        if (protocol == Protocol.HTTP_1_1) {
            return json -> UsersServiceTest.call(port, "POST", "/users", json).statusCode();
        }
        H2cClient h2 = new H2cClient(port);
        return new Creates() {
            @Override
            public int create(String json) throws Exception {
                return h2.post("/users", json).get(30, TimeUnit.SECONDS).status();
            }

            @Override
            public void close() {
                h2.close();
            }
        };
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Protocol.class)
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void killMinusNineDuringCreatesStoresEveryAcknowledgedUserOnceAndNoUserTwice(Protocol protocol) throws Exception {
        Path config = tmp.resolve("stellane.toml");
        Files.writeString(config, """
                [runtime]
                worker_threads = 2
                [runtime.recovery]
                enabled = true
                backend = "mmap"
                [server]
                host = "127.0.0.1"
                """);
        Path dataDir = tmp.resolve("data");
        ChildApp first = start(config, dataDir);
        int port = first.port();

        // Four clients stream creates with unique names; the process is killed while several of their requests
        // are in flight (over h2c: several streams of one connection).
        Set<String> acknowledged = ConcurrentHashMap.newKeySet();
        Set<String> sent = ConcurrentHashMap.newKeySet();
        AtomicBoolean go = new AtomicBoolean(true);
        AtomicInteger seq = new AtomicInteger();
        AtomicInteger inFlight = new AtomicInteger();
        CountDownLatch enough = new CountDownLatch(60);
        List<Thread> clients = new ArrayList<>();
        try (Creates creates = connect(protocol, port)) {
            for (int c = 0; c < 4; c++) {
                clients.add(Thread.ofPlatform().start(() -> {
                    while (go.get() && seq.get() < 2_000) {
                        String name = "crash-" + seq.incrementAndGet();
                        sent.add(name);
                        inFlight.incrementAndGet();
                        try {
                            if (creates.create("{\"name\":\"" + name + "\",\"email\":\"" + name + "@example.com\"}") == 201) {
                                acknowledged.add(name);
                                enough.countDown();
                            }
                        } catch (Exception connectionLost) {
                            return; // the server died under us: this one is unacknowledged
                        } finally {
                            inFlight.decrementAndGet();
                        }
                    }
                }));
            }
            assertThat(enough.await(60, TimeUnit.SECONDS)).as("60 creates acknowledged before the kill").isTrue();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            int inFlightAtKill;
            while ((inFlightAtKill = inFlight.get()) < 3 && System.nanoTime() < deadline) {
                LockSupport.parkNanos(50_000);
            }
            assertThat(inFlightAtKill).as("requests in flight as the kill lands").isGreaterThanOrEqualTo(3);
            first.kill(); // SIGKILL mid-stream
            go.set(false);
            for (Thread t : clients) {
                t.join(30_000);
            }
        }

        ChildApp second = start(config, dataDir);
        int port2 = second.port();
        Map<String, Integer> stored = new HashMap<>();
        int offset = 0;
        while (true) {
            JsonNode page = UsersServiceTest.json(UsersServiceTest.call(port2, "GET", "/users?limit=1000&offset=" + offset, null));
            JsonNode users = page.path("users");
            for (JsonNode u : users) {
                stored.merge(u.path("name").asText(), 1, Integer::sum);
            }
            if (users.size() < 1000) {
                break;
            }
            offset += 1000;
        }
        assertThat(acknowledged).isNotEmpty();
        for (String name : acknowledged) {
            assertThat(stored.get(name)).as("acknowledged user %s stored exactly once", name).isEqualTo(1);
        }
        assertThat(stored.entrySet()).as("no user stored twice").allSatisfy(e -> assertThat(e.getValue()).isEqualTo(1));
        assertThat(sent).containsAll(stored.keySet());
        // what recovery did is in the banner; a third start finds nothing left to replay
        second.awaitLine(Pattern.compile("request\\(s\\) recovered"), 10);
        second.kill();
        ChildApp third = start(config, dataDir);
        third.port();
        third.awaitLine(Pattern.compile(", 0 request\\(s\\) recovered"), 10);
    }
}
