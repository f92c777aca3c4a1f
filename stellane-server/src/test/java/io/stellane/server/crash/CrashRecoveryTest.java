package io.stellane.server.crash;

import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * kill -9 under load, then restart: every request that was journaled but not answered is replayed
 * exactly once, no answered request is replayed, and the idempotent effect log has each effect once.
 */
class CrashRecoveryTest {
    private static final int CLIENTS = 4;
    private static final int PER_CLIENT = 75;
    private static final int KILL_AFTER_ACKS = 100;
    private static final long DEADLINE_NANOS = TimeUnit.SECONDS.toNanos(60);

    @TempDir
    Path dir;

    private final List<Process> children = new ArrayList<>();

    @AfterEach
    void killChildren() throws InterruptedException {
        for (Process p : children) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** A started CrashApp: its stdout lines arrive in a queue. */
    private record Child(Process process, LinkedBlockingQueue<String> lines) {
        String expect(String prefix) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (true) {
                long left = deadline - System.nanoTime();
                String l = left <= 0 ? null : lines.poll(left, TimeUnit.NANOSECONDS);
                if (l == null) {
                    throw new AssertionError("child printed no line starting with " + prefix
                            + " (alive " + process.isAlive() + ")");
                }
                if (l.startsWith(prefix)) {
                    return l.substring(prefix.length());
                }
            }
        }
    }

    private Child start(String store, Path journal, Path effects, Path replayed, Path log) throws IOException {
        return start(store, "INTERVAL", journal, effects, replayed, log);
    }

    private Child start(String store, String sync, Path journal, Path effects, Path replayed, Path log) throws IOException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        // RocksDB extracts its native library into java.io.tmpdir and deletes it only on a clean
        // exit; a child killed with -9 would leave 17 MB in /tmp per start
        Path tmp = Files.createDirectories(dir.resolve("child-tmp"));
        ProcessBuilder pb = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-Xmx256m", "-XX:+UseSerialGC",
                "-Djava.io.tmpdir=" + tmp,
                "-cp", System.getProperty("java.class.path"), CrashApp.class.getName(),
                store, journal.toString(), effects.toString(), replayed.toString(), sync);
        pb.redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Process p = pb.start();
        children.add(p);
        LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String l;
                while ((l = r.readLine()) != null) {
                    lines.add(l);
                }
            } catch (IOException ignored) {
                // the child died
            }
        }, "crash-app-stdout");
        reader.setDaemon(true);
        reader.start();
        return new Child(p, lines);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"mmap, INTERVAL", "rocksdb, INTERVAL", "mmap, ALWAYS"})
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void killMinus9MidStreamThenRecoveryReplaysExactlyTheUnansweredRequests(String store, String sync) throws Exception {
        Path journal = dir.resolve("journal");
        Path effects = dir.resolve("effects.log");
        Path replayed = dir.resolve("replayed.log");
        Path log = dir.resolve("child.log");

        Child first = start(store, sync, journal, effects, replayed, log);
        assertThat(first.expect("RECOVERED ")).isEqualTo("0 0 0 0");
        int port = Integer.parseInt(first.expect("PORT "));

        Map<String, String> acked = new ConcurrentHashMap<>(); // body -> request id
        Set<String> sent = ConcurrentHashMap.newKeySet();
        List<Thread> clients = new ArrayList<>();
        for (int c = 0; c < CLIENTS; c++) {
            int client = c;
            Thread t = new Thread(() -> sendStream(port, client, sent, acked), "crash-client-" + c);
            t.start();
            clients.add(t);
        }
        long deadline = System.nanoTime() + DEADLINE_NANOS;
        while (acked.size() < KILL_AFTER_ACKS && clients.stream().anyMatch(Thread::isAlive)) {
            assertThat(System.nanoTime() - deadline).as("acks before the deadline").isNegative();
            Thread.onSpinWait();
        }
        // kill while a request is between its effect and its answer (the app announces it)
        first.lines().clear(); // slow requests announced earlier may be answered already
        String slowId = first.expect("SLOW ");
        first.process().destroyForcibly(); // SIGKILL on the PID we started
        assertThat(first.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
        for (Thread t : clients) {
            t.join(TimeUnit.SECONDS.toMillis(30));
            assertThat(t.isAlive()).isFalse();
        }
        int ackedAtKill = acked.size();
        assertThat(ackedAtKill).isGreaterThanOrEqualTo(KILL_AFTER_ACKS).isLessThan(CLIENTS * PER_CLIENT);
        assertThat(Files.readAllLines(effects)).as("the slow request's effect happened before the kill").contains(slowId);

        // what the journal holds now: journaled, never completed
        Map<String, String> pending = new HashMap<>(); // request id -> body
        try (RecoveryStore s = RecoveryStores.create(store, RecoveryStoreConfig.defaults(journal).withSegmentSize(8L << 20))) {
            for (PendingRequest p : s.pending()) {
                pending.put(p.requestId(), new String(p.request().body(), StandardCharsets.UTF_8));
            }
        }
        assertThat(pending).as("requests in flight at the kill").containsKey(slowId);
        assertThat(sent).containsAll(pending.values());
        assertThat(acked.keySet()).as("no answered request is pending").doesNotContainAnyElementsOf(pending.values());

        Child second = start(store, sync, journal, effects, replayed, log);
        String report = second.expect("RECOVERED ");
        int secondPort = Integer.parseInt(second.expect("PORT "));

        List<String> replays = Files.readAllLines(replayed);
        assertThat(report).isEqualTo(pending.size() + " " + pending.size() + " 0 0");
        assertThat(replays).as("each pending request replayed exactly once").doesNotHaveDuplicates()
                .containsExactlyInAnyOrderElementsOf(pending.keySet());
        assertThat(replays).as("no acknowledged request replayed").doesNotContainAnyElementsOf(acked.values());

        List<String> effectLines = Files.readAllLines(effects);
        assertThat(effectLines).as("each effect once").doesNotHaveDuplicates();
        assertThat(effectLines).as("every acknowledged effect is there").containsAll(acked.values());
        assertThat(effectLines).as("every replayed effect is there").containsAll(pending.keySet());
        // the rest: requests answered by the server whose answer the kill cut off, at most one per client
        Set<String> unexplained = new HashSet<>(effectLines);
        unexplained.removeAll(acked.values());
        unexplained.removeAll(pending.keySet());
        assertThat(unexplained.size()).isLessThanOrEqualTo(CLIENTS);

        // the restarted server serves, and a further restart finds nothing to replay
        Map<String, String> after = new ConcurrentHashMap<>();
        sendStream(secondPort, 99, ConcurrentHashMap.newKeySet(), after);
        assertThat(after).hasSize(PER_CLIENT);
        assertThat(after.values()).doesNotContainAnyElementsOf(effectLines);
        assertThat(Files.readAllLines(effects)).doesNotHaveDuplicates().containsAll(after.values());
        second.process().destroyForcibly();
        assertThat(second.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
        Child third = start(store, sync, journal, effects, replayed, log);
        assertThat(third.expect("RECOVERED ")).isEqualTo("0 0 0 0");
        System.out.printf("crash test [%s %s]: %d sent, %d acknowledged at kill, %d pending replayed once, %d effects, %d effects whose answer was cut off%n",
                store, sync, sent.size(), ackedAtKill, pending.size(), effectLines.size(), unexplained.size());
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"mmap", "rocksdb"})
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void aReplayThatHaltsTheJvmIsQuarantinedAfterMaxAttemptsAndTheServerStaysHealthy(String store) throws Exception {
        Path journal = dir.resolve("journal");
        Path effects = dir.resolve("effects.log");
        Path replayed = dir.resolve("replayed.log");
        Path log = dir.resolve("child.log");
        Child first = start(store, journal, effects, replayed, log);
        int port = Integer.parseInt(first.expect("PORT "));
        String poisonId;
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.getOutputStream().write("POST /poison HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\np"
                    .getBytes(StandardCharsets.ISO_8859_1));
            poisonId = first.expect("POISON "); // journaled, its handler never answers
            first.process().destroyForcibly();
            assertThat(first.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
        }
        int max = RecoveryStoreConfig.DEFAULT_MAX_ATTEMPTS;
        for (int attempt = 1; attempt <= max; attempt++) {
            Child c = start(store, journal, effects, replayed, log);
            assertThat(c.expect("HALTING ")).isEqualTo(poisonId);
            assertThat(c.process().waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(c.process().exitValue()).as("the replay halted the JVM on attempt %d", attempt).isEqualTo(3);
        }
        Child last = start(store, journal, effects, replayed, log);
        assertThat(last.expect("RECOVERED ")).as("found 1, quarantined 1").isEqualTo("1 0 0 1");
        Map<String, String> acked = new ConcurrentHashMap<>();
        sendStream(Integer.parseInt(last.expect("PORT ")), 0, ConcurrentHashMap.newKeySet(), acked);
        assertThat(acked).as("the server is healthy").hasSize(PER_CLIENT);
        last.process().destroyForcibly();
        assertThat(last.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(Files.readAllLines(replayed)).containsExactly(poisonId, poisonId, poisonId);
        try (RecoveryStore s = RecoveryStores.create(store, RecoveryStoreConfig.defaults(journal).withSegmentSize(8L << 20))) {
            assertThat(s.pending()).isEmpty();
            assertThat(s.quarantined()).extracting(PendingRequest::requestId).containsExactly(poisonId);
            assertThat(s.quarantined().getFirst().attempts()).isGreaterThanOrEqualTo(max);
        }
    }

    /** Sends PER_CLIENT POSTs on one keep-alive connection, recording each acknowledged one; stops at the first I/O error. */
    private static void sendStream(int port, int client, Set<String> sent, Map<String, String> acked) {
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            InputStream in = new java.io.BufferedInputStream(socket.getInputStream());
            for (int i = 0; i < PER_CLIENT; i++) {
                String body = "client-" + client + "-request-" + i + (i % 25 == 24 ? "-slow" : "");
                sent.add(body);
                out.write(("POST /effects HTTP/1.1\r\nHost: x\r\nContent-Length: " + body.length() + "\r\n\r\n" + body)
                        .getBytes(StandardCharsets.ISO_8859_1));
                out.flush();
                String id = readOk(in);
                if (id == null) {
                    return;
                }
                acked.put(body, id);
            }
        } catch (IOException e) {
            // the server was killed
        }
    }

    /** Reads one response; its body if it is a 200, null on EOF. */
    private static String readOk(InputStream in) throws IOException {
        String status = line(in);
        if (status == null) {
            return null;
        }
        int length = 0;
        String l;
        while ((l = line(in)) != null && !l.isEmpty()) {
            if (l.regionMatches(true, 0, "content-length:", 0, 15)) {
                length = Integer.parseInt(l.substring(15).trim());
            }
        }
        if (l == null) {
            return null;
        }
        byte[] body = in.readNBytes(length);
        if (body.length < length) {
            return null;
        }
        if (!status.startsWith("HTTP/1.1 200")) {
            throw new AssertionError("unexpected response: " + status + " " + new String(body, StandardCharsets.UTF_8));
        }
        return new String(body, StandardCharsets.UTF_8);
    }

    private static String line(InputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        int c;
        while ((c = in.read()) != -1) {
            if (c == '\n') {
                int n = b.length();
                return n > 0 && b.charAt(n - 1) == '\r' ? b.substring(0, n - 1) : b.toString();
            }
            b.append((char) c);
        }
        return null;
    }
}
