package io.stellane.testing;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.server.ServerConfig;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@link StellaneTest#test}: the server is up for the block, and everything it started is down after it. */
class StellaneTestTest {
    private final StellaneRuntime runtime = StellaneRuntime.create("helper-test");

    @AfterEach
    void stopWhatATestLeft() {
        runtime.stop();
    }

    private Server server() {
        return new Server(runtime, ServerConfig.defaults()).get("/hello", ctx -> Task.completed(Response.text("hello")));
    }

    private static boolean portIsFree(int port) {
        try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort() == port;
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void theBlockTalksToTheServerThenTheServerItsRuntimeAndTheClientStop() throws Exception {
        Server server = server();
        AtomicReference<TestClient> seen = new AtomicReference<>();
        StellaneTest.test(server, client -> {
            seen.set(client);
            assertThat(runtime.isRunning()).as("initialized for the block").isTrue();
            assertThat(client.port()).isEqualTo(server.port());
            assertThat(client.get("/hello").body()).isEqualTo("hello");
        });
        assertThat(server.isListening()).isFalse();
        assertThat(runtime.isRunning()).isFalse();
        assertThat(runtime.liveWorkers()).isZero();
        assertThat(seen.get().isClosed()).isTrue();
        assertThat(portIsFree(seen.get().port())).isTrue();
    }

    @Test
    void whenTheBlockThrowsEverythingStopsAndTheSameExceptionComesOut() {
        Server server = server();
        AtomicReference<TestClient> seen = new AtomicReference<>();
        AssertionError failure = new AssertionError("the test's own failure");
        assertThatThrownBy(() -> StellaneTest.test(server, client -> {
            seen.set(client);
            assertThat(client.get("/hello").status()).isEqualTo(200);
            throw failure;
        })).isSameAs(failure).satisfies(e -> assertThat(e.getSuppressed()).isEmpty());
        assertThat(server.isListening()).isFalse();
        assertThat(runtime.isRunning()).isFalse();
        assertThat(seen.get().isClosed()).isTrue();
        assertThat(portIsFree(seen.get().port())).isTrue();
    }

    @Test
    void aCheckedExceptionOfTheBlockComesOutUnwrapped() {
        IOException io = new IOException("disk");
        assertThatThrownBy(() -> StellaneTest.test(server(), client -> {
            throw io;
        })).isSameAs(io);
        assertThat(runtime.isRunning()).isFalse();
    }

    @Test
    void aRuntimeThatWasRunningIsLeftRunning() throws Exception {
        runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).shutdownTimeout(Duration.ofSeconds(5)).build());
        Server server = server();
        StellaneTest.test(server, client -> assertThat(client.get("/hello").body()).isEqualTo("hello"));
        assertThat(server.isListening()).isFalse();
        assertThat(runtime.isRunning()).isTrue();
    }

    @Test
    void aServerOnTheStaticRuntimeLeavesItStopped() throws Exception {
        assertThat(Runtime.isRunning()).isFalse();
        StellaneTest.test(new Server().get("/who", ctx -> Task.completed(Response.text(Thread.currentThread().getName()))),
                client -> {
                    assertThat(Runtime.isRunning()).isTrue();
                    assertThat(client.get("/who").body()).startsWith("stellane-worker-");
                });
        assertThat(Runtime.isRunning()).isFalse();
        assertThat(Runtime.liveWorkers()).isZero();
    }

    @Test
    void aServerThatListensAlreadyIsRefusedAndLeftAsItWas() throws Exception {
        runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).shutdownTimeout(Duration.ofSeconds(5)).build());
        Server server = server();
        server.listen("127.0.0.1", 0);
        try {
            assertThatThrownBy(() -> StellaneTest.test(server, client -> {
                throw new AssertionError("never runs");
            })).isInstanceOf(IllegalStateException.class).hasMessageContaining("listens already");
            assertThat(server.isListening()).isTrue();
        } finally {
            server.stop(Duration.ofSeconds(2));
        }
    }
}
