package io.stellane.server.spec;

import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The spec's Complete Example ({@link CompleteExampleApp}) run as a program, the way a user who
 * follows the spec would: recovery switched on in the runtime config only, a crash mid-request, a
 * restart asked for from a handler.
 */
class CompleteExampleTest {
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;
    private final List<Process> children = new ArrayList<>();

    @AfterEach
    void kill() throws InterruptedException {
        for (Process p : children) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private record Child(Process process, LinkedBlockingQueue<String> lines, List<String> seen) {
        /** Waits for a line containing {@code fragment}. */
        void expectLineWith(String fragment) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (true) {
                long left = deadline - System.nanoTime();
                String l = left <= 0 ? null : lines.poll(left, TimeUnit.NANOSECONDS);
                if (l == null) {
                    throw new AssertionError("no line with " + fragment + "; output:\n" + String.join("\n", seen));
                }
                seen.add(l);
                if (l.contains(fragment)) {
                    return;
                }
            }
        }

        String expect(String prefix) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (true) {
                long left = deadline - System.nanoTime();
                String l = left <= 0 ? null : lines.poll(left, TimeUnit.NANOSECONDS);
                if (l == null) {
                    throw new AssertionError("no line starting with " + prefix + "; output:\n" + String.join("\n", seen));
                }
                seen.add(l);
                if (l.startsWith(prefix)) {
                    return l.substring(prefix.length());
                }
            }
        }
    }

    private Child start() throws IOException {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
                "-cp", System.getProperty("java.class.path"), CompleteExampleApp.class.getName(),
                dir.resolve("journal").toString(), dir.resolve("users.txt").toString(), "nio")
                .redirectErrorStream(true).start();
        children.add(p);
        LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) {
                    lines.add(l);
                }
            } catch (IOException ignored) {
                // the child was killed
            }
        });
        reader.setDaemon(true);
        reader.start();
        return new Child(p, lines, new ArrayList<>());
    }

    private static HttpResponse<String> call(int port, String method, String path, String body) throws Exception {
        return CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void recoverySwitchedOnInTheConfigJournalsAndAfterAKillReplaysThroughOnRecover() throws Exception {
        Child first = start();
        int port = Integer.parseInt(first.expect("PORT "));
        assertThat(call(port, "POST", "/users", "alice").statusCode()).isEqualTo(201);
        try (Socket s = new Socket("127.0.0.1", port)) { // a create the process dies in: done, not answered
            OutputStream out = s.getOutputStream();
            out.write("POST /users HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nbob-slow".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String slowId = first.expect("SLOW ");
            first.process().destroyForcibly(); // kill -9
            first.process().waitFor(10, TimeUnit.SECONDS);

            Child second = start();
            assertThat(second.expect("RECOVERING ")).as("the onRecover hook replays the unanswered create")
                    .isEqualTo(slowId);
            int port2 = Integer.parseInt(second.expect("PORT "));
            HttpResponse<String> bob = call(port2, "GET", "/users/" + slowId, null);
            assertThat(bob.statusCode()).isEqualTo(200);
            assertThat(bob.body()).isEqualTo("bob-slow");
        }
        List<String> users = Files.readAllLines(dir.resolve("users.txt"));
        assertThat(users).hasSize(2).anyMatch(l -> l.endsWith(" alice")).anyMatch(l -> l.endsWith(" bob-slow"));
        for (Process p : children) {
            p.destroy(); // SIGTERM; the journal copes with either
            p.waitFor(10, TimeUnit.SECONDS);
        }
        try (RecoveryStore store = RecoveryStores.create("mmap", RecoveryStoreConfig.defaults(dir.resolve("journal")))) {
            assertThat(store.pending()).as("nothing left pending after the replay").isEmpty();
        }
    }

    @Test
    void aRestartAskedForFromAHandlerKeepsMainBlockedAndTheServerServesAgainOnItsPort() throws Exception {
        Child app = start();
        int port = Integer.parseInt(app.expect("PORT "));
        assertThat(call(port, "POST", "/admin/restart", "").body()).isEqualTo("restarting");
        app.expectLineWith("runtime started"); // the restarted runtime's log line (the first came before PORT)
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        int status = 0;
        while (status != 404 && System.nanoTime() < deadline) {
            try {
                status = call(port, "GET", "/users/nobody", null).statusCode();
            } catch (IOException notListeningYet) {
                TimeUnit.MILLISECONDS.sleep(50); // the server binds again once the new workers run
            }
        }
        assertThat(status).as("served again on the same port after the restart").isEqualTo(404);
        assertThat(app.process().isAlive()).isTrue();
        assertThat(app.lines()).noneMatch(l -> l.startsWith("MAIN RETURNED"));
        assertThat(app.seen()).noneMatch(l -> l.startsWith("MAIN RETURNED"));
        assertThat(call(port, "POST", "/users", "carol").statusCode()).isEqualTo(201);
    }
}
