package io.stellane.backend;

import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.stellane.Registry;
import io.stellane.backend.spi.BackendProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * The registry of event-loop backends. Built in: {@code nio} (portable), {@code epoll} and
 * {@code io_uring} (Linux natives), {@code auto} (the best available: io_uring, else epoll, else nio)
 * and {@code libuv} (the spec's default name, an alias of the portable backend). More come from
 * {@link #registerBackend} or from {@link BackendProvider}s on the class path.
 *
 * <p>Thread-safe: registration and lookup may happen from any thread.
 */
public final class RuntimeFactory {
    private static final Logger log = LoggerFactory.getLogger(RuntimeFactory.class);

    /** Builds one backend for one worker. */
    @FunctionalInterface
    public interface BackendBuilder extends Supplier<EventLoopBackend> {
    }

    /** Backends by name: the built-ins, then {@link BackendProvider}s on the class path, then {@link #registerBackend}. */
    private static final Registry<BackendProvider> BACKENDS = Registry.of("backend", BackendProvider.class,
                    BackendProvider::name, BackendException::new)
            .builtIn("nio", new BuiltIn("nio", () -> null, () -> new NettyBackend("nio", NioIoHandler.newFactory(),
                    NioServerSocketChannel.class, NioSocketChannel.class, false)))
            .builtIn("epoll", new BuiltIn("epoll", () -> Epoll.isAvailable() ? null : String.valueOf(Epoll.unavailabilityCause()),
                    () -> new NettyBackend("epoll", EpollIoHandler.newFactory(), EpollServerSocketChannel.class,
                            EpollSocketChannel.class, true)))
            // One listening socket for io_uring: a worker's own SO_REUSEPORT socket must move to another loop
            // when the worker retires, and Netty's io_uring transport never completes the deregistration of a
            // listening channel; closing it instead would reset the connections in its accept queue.
            .builtIn("io_uring", new BuiltIn("io_uring",
                    () -> IoUring.isAvailable() ? null : String.valueOf(IoUring.unavailabilityCause()),
                    () -> new NettyBackend("io_uring", IoUringIoHandler.newFactory(), IoUringServerSocketChannel.class,
                            IoUringSocketChannel.class, false)));

    /** A built-in or a run-time registration: a builder and what, if anything, keeps it from running here. */
    private record BuiltIn(String name, Supplier<String> unavailable, Supplier<EventLoopBackend> builder)
            implements BackendProvider {
        @Override
        public boolean isAvailable() {
            return unavailable.get() == null;
        }

        @Override
        public String unavailabilityCause() {
            return unavailable.get();
        }

        @Override
        public EventLoopBackend create() {
            return builder.get();
        }
    }

    private RuntimeFactory() {
    }

    /** Registers (or replaces) a backend under {@code name}. */
    public static void registerBackend(String name, BackendBuilder builder) {
        Objects.requireNonNull(builder, "builder");
        if ("auto".equals(name) || "libuv".equals(name)) {
            throw new BackendException(name, "cannot register under a reserved name");
        }
        BACKENDS.register(name, new BuiltIn(name, () -> null, builder));
    }

    /** Removes a registered backend; the built-in ones cannot be removed. */
    public static boolean unregisterBackend(String name) {
        return BACKENDS.unregister(name);
    }

    /**
     * A new backend for one worker.
     *
     * @throws BackendException naming the backends that are available, when {@code name} is unknown
     *                          or cannot run on this platform
     */
    public static EventLoopBackend createBackend(String name) {
        String resolved = resolve(name);
        BackendProvider provider = BACKENDS.get(resolved);
        if (!provider.isAvailable()) {
            String cause = Objects.requireNonNullElse(provider.unavailabilityCause(), "its provider says it is unavailable");
            throw new BackendException(resolved, "not available on this platform (" + cause + "); available: " + available());
        }
        EventLoopBackend backend = provider.create();
        if (backend == null) {
            throw new BackendException(resolved, "its builder returned null");
        }
        return backend;
    }

    /**
     * The concrete backend a name stands for: {@code auto} becomes the best available one and
     * {@code libuv} becomes {@code nio} (each logged once per call).
     */
    public static String resolve(String name) {
        Objects.requireNonNull(name, "name");
        if (name.equals("auto")) {
            String chosen = isAvailable("io_uring") ? "io_uring" : isAvailable("epoll") ? "epoll" : "nio";
            log.info("backend 'auto' chose '{}' (available: {})", chosen, available());
            return chosen;
        }
        if (name.equals("libuv")) {
            log.info("backend 'libuv' is the spec's portable loop; Stellane's portable backend is 'nio'");
            return "nio";
        }
        BACKENDS.get(name); // unknown: fails naming every registered backend
        return name;
    }

    /** Every registered name (available here or not), plus {@code auto} and {@code libuv}. */
    public static List<String> listBackends() {
        List<String> names = new ArrayList<>(BACKENDS.names());
        names.add("auto");
        names.add("libuv");
        return names;
    }

    /** Whether {@code name} is registered (or is {@code auto} / {@code libuv}). */
    public static boolean hasBackend(String name) {
        return "auto".equals(name) || "libuv".equals(name) || BACKENDS.has(name);
    }

    /** Whether {@code name} is registered and can run on this platform. */
    public static boolean isAvailable(String name) {
        return BACKENDS.find(name).map(BackendProvider::isAvailable).orElse(false);
    }

    /** The registered backends that can run here. */
    public static List<String> available() {
        List<String> names = new ArrayList<>();
        BACKENDS.entries().forEach((n, p) -> {
            if (p.isAvailable()) {
                names.add(n);
            }
        });
        return names;
    }
}
