package io.stellane.server;

import io.netty.channel.IoEventLoop;
import io.netty.channel.ServerChannel;
import io.netty.channel.local.LocalServerChannel;
import io.netty.channel.socket.SocketChannel;
import io.stellane.StellaneException;
import io.stellane.backend.IoBackend;
import io.stellane.backend.RuntimeFactory;
import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.task.Task;
import io.stellane.task.Worker;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@code reuse_port}: two servers on two runtimes stand for two processes on one port. With the option
 * both serve and the kernel spreads new connections between them; without it the second bind is
 * refused with a message that names the option, on every backend and with one socket or one per worker.
 */
class ReusePortTest {
    private final List<Server> servers = new CopyOnWriteArrayList<>();
    private final List<StellaneRuntime> runtimes = new CopyOnWriteArrayList<>();

    @AfterEach
    void stopAll() {
        servers.forEach(s -> s.stop(Duration.ofSeconds(2)));
        runtimes.forEach(StellaneRuntime::stop);
    }

    private Server server(String name, String backend, int workers, boolean reusePort) {
        StellaneRuntime rt = StellaneRuntime.create(name);
        rt.init(RuntimeConfig.builder().backendType(backend).workerThreads(workers)
                .shutdownTimeout(Duration.ofSeconds(5)).build());
        runtimes.add(rt);
        Server server = new Server(rt, ServerConfig.defaults().toBuilder().reusePort(reusePort).build())
                .get("/who", ctx -> Task.completed(Response.ok(name)));
        servers.add(server);
        return server;
    }

    /** Who answers {@code GET /who} on a new connection. */
    private static String who(int port) throws IOException {
        try (RawClient c = new RawClient(port)) {
            RawClient.Resp r = c.send("GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").read();
            assertThat(r.status()).isEqualTo(200);
            return r.body();
        }
    }

    @ParameterizedTest(name = "{0}, {1} worker(s)")
    @CsvSource({"nio, 1", "nio, 2", "epoll, 1", "epoll, 2", "io_uring, 1", "io_uring, 2"})
    void withReusePortTwoServersShareThePortAndOnceOneIsGoneTheOtherTakesEveryConnection(String backend, int workers)
            throws Exception {
        Server alpha = server("alpha", backend, workers, true);
        Server beta = server("beta", backend, workers, true);
        int port = alpha.listen("127.0.0.1", 0);
        assertThat(beta.listen("127.0.0.1", port)).isEqualTo(port);

        Set<String> answered = new HashSet<>();
        // the kernel picks a socket per connection by a hash of its addresses: both show up within a few
        for (int i = 0; i < 400 && answered.size() < 2; i++) {
            answered.add(who(port));
        }
        assertThat(answered).containsExactlyInAnyOrder("alpha", "beta");

        // as a process that exits: with nio the JDK closes a listening socket's descriptor only at its
        // selector's next turn, and a connection the kernel queues there meanwhile is reset
        alpha.stop(Duration.ofSeconds(2));
        alpha.runtime().stop();
        for (int i = 0; i < 20; i++) {
            assertThat(who(port)).isEqualTo("beta");
        }
    }

    @ParameterizedTest(name = "{0}, {1} worker(s)")
    @CsvSource({"nio, 1", "nio, 2", "epoll, 1", "epoll, 2", "io_uring, 1", "io_uring, 2"})
    void withoutReusePortASecondServerOnThePortIsRefusedNamingTheOption(String backend, int workers) {
        Server alpha = server("alpha", backend, workers, false);
        Server beta = server("beta", backend, workers, false);
        int port = alpha.listen("127.0.0.1", 0);

        assertThatThrownBy(() -> beta.listen("127.0.0.1", port))
                .isInstanceOf(StellaneException.class)
                .hasMessageContaining("cannot listen on /127.0.0.1:" + port + ": address already in use; to share"
                        + " the port with another process, set reuse_port = true ([server] table,"
                        + " ServerConfig.reusePort) in every process that listens on it");
        assertThat(beta.isListening()).isFalse();
        assertThat(alpha.isListening()).as("the first one is untouched").isTrue();
    }

    @Test
    void reusePortNextToAListenerWithoutItIsRefusedSayingEveryProcessNeedsIt() throws Exception {
        try (ServerSocket plain = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Server server = server("alpha", "epoll", 1, true);
            assertThatThrownBy(() -> server.listen("127.0.0.1", plain.getLocalPort()))
                    .isInstanceOf(StellaneException.class)
                    .hasMessageContaining("address already in use by a socket without SO_REUSEPORT; reuse_port is on"
                            + " here, and every process sharing the port needs it on too");
        }
    }

    @Test
    void withReusePortATransportThatCannotSetItIsRefusedNamingTheBackendsThatCan() {
        RuntimeFactory.registerBackend("local-only", () -> new LocalServerOnNio((IoBackend) RuntimeFactory.createBackend("nio")));
        try {
            Server server = server("alpha", "local-only", 1, true);
            assertThatThrownBy(() -> server.listen("127.0.0.1", 0))
                    .isInstanceOf(StellaneException.class)
                    .hasMessageContaining("reuse_port is on, but a LocalServerChannel cannot set SO_REUSEPORT here;"
                            + " use the epoll, io_uring or nio backend");
        } finally {
            RuntimeFactory.unregisterBackend("local-only");
        }
    }

    /** The nio backend with a server channel type that has no SO_REUSEPORT (Netty's in-JVM transport). */
    private record LocalServerOnNio(IoBackend nio) implements IoBackend {
        @Override public Class<? extends ServerChannel> serverChannelType() { return LocalServerChannel.class; }
        @Override public IoEventLoop ioEventLoop() { return nio.ioEventLoop(); }
        @Override public Class<? extends SocketChannel> socketChannelType() { return nio.socketChannelType(); }
        @Override public boolean supportsReusePort() { return false; }
        @Override public void run() { nio.run(); }
        @Override public void stop() { nio.stop(); }
        @Override public void schedule(Task<?> task) { nio.schedule(task); }
        @Override public boolean isRunning() { return nio.isRunning(); }
        @Override public int pendingTasks() { return nio.pendingTasks(); }
        @Override public boolean wakeIfSleeping() { return nio.wakeIfSleeping(); }
        @Override public long loopNanos() { return nio.loopNanos(); }
        @Override public void bind(Worker worker) { nio.bind(worker); }
    }
}
