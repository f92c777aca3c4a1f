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
import io.stellane.backend.spi.BackendProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.ServiceLoader;
import java.util.TreeMap;
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

    private record Entry(Supplier<EventLoopBackend> builder, Supplier<String> unavailable) {
    }

    private static final Map<String, Entry> BACKENDS = new TreeMap<>();

    static {
        BACKENDS.put("nio", new Entry(
                () -> new NettyBackend("nio", NioIoHandler.newFactory(), NioServerSocketChannel.class,
                        NioSocketChannel.class, false),
                () -> null));
        BACKENDS.put("epoll", new Entry(
                () -> new NettyBackend("epoll", EpollIoHandler.newFactory(), EpollServerSocketChannel.class,
                        EpollSocketChannel.class, true),
                () -> Epoll.isAvailable() ? null : String.valueOf(Epoll.unavailabilityCause())));
        // One listening socket for io_uring: a worker's own SO_REUSEPORT socket must move to another loop
        // when the worker retires, and Netty's io_uring transport never completes the deregistration of a
        // listening channel; closing it instead would reset the connections in its accept queue.
        BACKENDS.put("io_uring", new Entry(
                () -> new NettyBackend("io_uring", IoUringIoHandler.newFactory(), IoUringServerSocketChannel.class,
                        IoUringSocketChannel.class, false),
                () -> IoUring.isAvailable() ? null : String.valueOf(IoUring.unavailabilityCause())));
        for (BackendProvider provider : ServiceLoader.load(BackendProvider.class)) {
            BACKENDS.put(provider.name(), new Entry(provider::create, () -> provider.isAvailable() ? null
                    : Objects.requireNonNullElse(provider.unavailabilityCause(), "its provider says it is unavailable")));
        }
    }

    private RuntimeFactory() {
    }

    /** Registers (or replaces) a backend under {@code name}. */
    public static void registerBackend(String name, BackendBuilder builder) {
        Objects.requireNonNull(builder, "builder");
        if (name == null || name.isBlank() || name.equals("auto") || name.equals("libuv")) {
            throw new BackendException(String.valueOf(name), "cannot register under a reserved or blank name");
        }
        synchronized (BACKENDS) {
            BACKENDS.put(name, new Entry(builder, () -> null));
        }
    }

    /** Removes a registered backend; the built-in ones cannot be removed. */
    public static boolean unregisterBackend(String name) {
        if (name.equals("nio") || name.equals("epoll") || name.equals("io_uring")) {
            throw new BackendException(name, "built-in backends cannot be unregistered");
        }
        synchronized (BACKENDS) {
            return BACKENDS.remove(name) != null;
        }
    }

    /**
     * A new backend for one worker.
     *
     * @throws BackendException naming the backends that are available, when {@code name} is unknown
     *                          or cannot run on this platform
     */
    public static EventLoopBackend createBackend(String name) {
        String resolved = resolve(name);
        Entry entry;
        synchronized (BACKENDS) {
            entry = BACKENDS.get(resolved);
        }
        String cause = entry.unavailable().get();
        if (cause != null) {
            throw new BackendException(resolved, "not available on this platform (" + cause + "); available: " + available());
        }
        EventLoopBackend backend = entry.builder().get();
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
        synchronized (BACKENDS) {
            if (!BACKENDS.containsKey(name)) {
                throw new BackendException(name, "unknown backend; registered: " + listBackends()
                        + ", available here: " + available());
            }
        }
        return name;
    }

    /** Every registered name (available here or not), plus {@code auto} and {@code libuv}. */
    public static List<String> listBackends() {
        List<String> names = new ArrayList<>();
        synchronized (BACKENDS) {
            names.addAll(BACKENDS.keySet());
        }
        names.add("auto");
        names.add("libuv");
        return names;
    }

    /** Whether {@code name} is registered (or is {@code auto} / {@code libuv}). */
    public static boolean hasBackend(String name) {
        if ("auto".equals(name) || "libuv".equals(name)) {
            return true;
        }
        synchronized (BACKENDS) {
            return BACKENDS.containsKey(name);
        }
    }

    /** Whether {@code name} is registered and can run on this platform. */
    public static boolean isAvailable(String name) {
        Entry entry;
        synchronized (BACKENDS) {
            entry = BACKENDS.get(name);
        }
        return entry != null && entry.unavailable().get() == null;
    }

    /** The registered backends that can run here. */
    public static List<String> available() {
        List<String> names = new ArrayList<>();
        synchronized (BACKENDS) {
            BACKENDS.forEach((n, e) -> {
                if (e.unavailable().get() == null) {
                    names.add(n);
                }
            });
        }
        return names;
    }
}
