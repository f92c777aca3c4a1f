package io.stellane.examples;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * What {@code ./stellane serve} does, in a child JVM (the same java binary, the test classpath, the
 * launcher's JVM flags): it starts, prints the banner with the URL, answers, and stops gracefully on SIGTERM.
 */
class ServeProcessTest {
    private static final Pattern URL = Pattern.compile("serving http://127\\.0\\.0\\.1:(\\d+)/");
    private static final String EOF = "\u0000eof";

    @TempDir
    Path tmp;
    private Process child;
    private final List<String> output = new ArrayList<>();
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

    @AfterEach
    void killChild() throws Exception {
        if (child != null && child.isAlive()) {
            child.destroyForcibly();
            child.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private void startChild(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
                "-cp", System.getProperty("java.class.path"), UsersService.class.getName()));
        cmd.addAll(List.of(args));
        child = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    lines.add(line);
                }
            } catch (Exception e) {
                lines.add("reader failed: " + e);
            } finally {
                lines.add(EOF);
            }
        }, "serve-test-output");
        reader.setDaemon(true);
        reader.start();
    }

    /** Output lines until one matches {@code pattern}; fails at the end of the output or after {@code seconds}. */
    private Matcher awaitLine(Pattern pattern, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (true) {
            String line = lines.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (line == null || line.equals(EOF)) {
                fail("no line matching " + pattern + (line == null ? " within " + seconds + " s" : " before the child ended")
                        + "; output so far:\n" + String.join("\n", output));
            }
            output.add(line);
            Matcher m = pattern.matcher(line);
            if (m.find()) {
                return m;
            }
        }
    }

    @Test
    void serveStartsAnswersAndStopsGracefullyOnSigterm() throws Exception {
        Path config = tmp.resolve("stellane.toml");
        Files.writeString(config, """
                [runtime]
                worker_threads = 2
                [runtime.recovery]
                enabled = true
                backend = "mmap"
                [server]
                host = "127.0.0.1"
                port = 8080
                """);
        Path dataDir = tmp.resolve("data");
        startChild("--config", config.toString(), "--port", "0", "--backend", "nio", "--data-dir", dataDir.toString());

        int port = Integer.parseInt(awaitLine(URL, 60).group(1));
        awaitLine(Pattern.compile("recovery mmap at " + Pattern.quote(dataDir.resolve("journal").toString())), 5);
        assertThat(output).anyMatch(l -> l.contains("recovery is not merged"));

        HttpResponse<String> missing = UsersServiceTest.call(port, "GET", "/users/1", null);
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(UsersServiceTest.json(missing).path("error").asText()).isNotBlank();

        HttpResponse<String> created = UsersServiceTest.call(port, "POST", "/users",
                "{\"name\":\"Child\",\"email\":\"child@example.com\"}");
        assertThat(created.statusCode()).isEqualTo(201);
        JsonNode user = UsersServiceTest.json(created);
        assertThat(UsersServiceTest.call(port, "GET", "/users/" + user.path("id").asLong(), null).statusCode()).isEqualTo(200);
        assertThat(dataDir.resolve("users.mv.db")).isRegularFile();

        child.toHandle().destroy(); // SIGTERM (Process.destroy() would also close our end of its output): the shutdown hook drains, stops the runtime and closes the database
        awaitLine(Pattern.compile("\\bstopped$"), 30);
        assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(child.exitValue()).isEqualTo(143); // 128 + SIGTERM, after the hooks ran
    }
}
