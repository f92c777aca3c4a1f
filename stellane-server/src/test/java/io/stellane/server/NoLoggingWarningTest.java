package io.stellane.server;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.task.Task;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import org.slf4j.helpers.NOPLoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/** With no SLF4J provider, handler failures would vanish: the first listen says so once, on stderr. */
class NoLoggingWarningTest {

    @Test
    void saysItOnceWhenEverythingIsDiscardedAndNeverWhenALoggerIsBound() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(err, true, StandardCharsets.UTF_8);
        AtomicBoolean said = new AtomicBoolean();

        assertThat(NoLoggingWarning.sayOnce(LoggerFactory.getILoggerFactory(), out, said)).as("slf4j-simple is bound").isFalse();
        assertThat(err.size()).isZero();
        assertThat(NoLoggingWarning.sayOnce(new NOPLoggerFactory(), out, said)).isTrue();
        assertThat(NoLoggingWarning.sayOnce(new NOPLoggerFactory(), out, said)).as("once").isFalse();
        assertThat(err.toString(StandardCharsets.UTF_8)).isEqualTo(NoLoggingWarning.MESSAGE + System.lineSeparator());
    }

    @Test
    void aProcessWithoutAnSlf4jProviderHearsItOnceAtItsFirstListen() throws Exception {
        String classPath = Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .filter(e -> !Path.of(e).getFileName().toString().startsWith("slf4j-simple"))
                .collect(Collectors.joining(File.pathSeparator));
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
                "-cp", classPath, App.class.getName()).start();
        try {
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the child exits").isTrue();
            String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            List<String> stderr = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
            assertThat(p.exitValue()).as("stderr: %s", stderr).isZero();
            assertThat(stdout).contains("status 500");
            assertThat(stderr).as("SLF4J's own warning").anyMatch(l -> l.contains("No SLF4J providers were found"));
            assertThat(stderr).filteredOn(NoLoggingWarning.MESSAGE::equals).hasSize(1);
        } finally {
            p.destroyForcibly();
        }
    }

    /** Two servers listen, one request fails: run in a JVM without slf4j-simple. */
    public static final class App {
        public static void main(String[] args) throws Exception {
            StellaneRuntime runtime = StellaneRuntime.create("no-logger");
            runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).shutdownTimeout(Duration.ofSeconds(5)).build());
            try (HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
                Server a = new Server(runtime, ServerConfig.defaults()).get("/boom", ctx -> Task.failed(new IllegalStateException("lost")));
                Server b = new Server(runtime, ServerConfig.defaults());
                int port = a.listen("127.0.0.1", 0);
                b.listen("127.0.0.1", 0);
                HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/boom"))
                        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
                System.out.println("status " + r.statusCode());
                a.stop(Duration.ofSeconds(2));
                b.stop(Duration.ofSeconds(2));
            } finally {
                runtime.stop();
            }
        }
    }
}
