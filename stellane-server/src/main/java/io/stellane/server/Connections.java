package io.stellane.server;

import io.stellane.logging.LogThrottle;

import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * What a server's clients hold of it: its open connections, the caps on them (per address and in
 * all, with shedding at the cap), the budget of request bodies buffered in memory, and the count of
 * every limit a client ran into.
 *
 * <h2>How it works</h2>
 * The per-address count is kept only when its cap is below the global one: a map update per accept,
 * nothing per request. At {@code maxConnections}, instead of refusing newcomers (which let stalled
 * connections lock everyone out), {@link #admit} sheds the connections longest in a state that is
 * not handling a request, a sixty-fourth of the cap at a time, so one scan of every connection is
 * paid for by many accepts; a scan that finds nothing is not tried again for 100 ms. States are read
 * racily from other workers: they only choose victims, and each victim's own loop checks again
 * before it closes.
 *
 * <p>Threading: every method is thread-safe; the caps are read from the server's current config.
 */
final class Connections {
    private final Server server;
    private final Set<Http1Connection> open = ConcurrentHashMap.newKeySet();
    private final AtomicInteger count = new AtomicInteger();
    private final LongAdder[] limits = new LongAdder[ServerLimit.values().length];
    private final LogThrottle limitLog = new LogThrottle(Duration.ofSeconds(10));
    /** Request-body bytes held by all connections, against {@link ServerConfig#maxBufferedBodyBytes()}. */
    private final AtomicLong bufferedBodyBytes = new AtomicLong();
    /** Open connections per client address; only kept when that cap can bind before the global one. */
    private final ConcurrentHashMap<InetAddress, Integer> perAddress = new ConcurrentHashMap<>();
    /** Connections chosen to be shed and not closed yet: each lets one new connection in over the cap. */
    private final AtomicInteger shedCredits = new AtomicInteger();
    private volatile long nothingToShedUntil = System.nanoTime();
    /** Completed when the last connection closes, while the server drains. */
    private volatile CompletableFuture<Void> drained;

    Connections(Server server) {
        this.server = server;
        for (int i = 0; i < limits.length; i++) {
            limits[i] = new LongAdder();
        }
    }

    // ---------------------------------------------------------------- admission

    /**
     * Counts a new connection from {@code address} against the caps; null when admitted (it is
     * counted until {@link #release}), else the limit that refused it (counted and logged already).
     */
    ServerLimit admit(InetAddress address) {
        if (!admitAddress(address)) {
            limitReached(ServerLimit.CONNECTIONS_PER_ADDRESS, address);
            return ServerLimit.CONNECTIONS_PER_ADDRESS;
        }
        if (count.incrementAndGet() > server.config.maxConnections() && !shedForNewConnection()) {
            count.decrementAndGet();
            releaseAddress(address);
            limitReached(ServerLimit.CONNECTIONS, address);
            return ServerLimit.CONNECTIONS;
        }
        return null;
    }

    /** An admitted connection is gone, or never got going. */
    void release(InetAddress address) {
        count.decrementAndGet();
        releaseAddress(address);
    }

    private boolean admitAddress(InetAddress address) {
        ServerConfig c = server.config;
        if (c.maxConnectionsPerAddress() >= c.maxConnections() || address == null) {
            return true; // the global cap binds first: nothing to count
        }
        int cap = c.maxConnectionsPerAddress();
        boolean[] admitted = {false};
        perAddress.compute(address, (a, n) -> {
            int held = n == null ? 0 : n;
            if (held >= cap) {
                return n;
            }
            admitted[0] = true;
            return held + 1;
        });
        return admitted[0];
    }

    private void releaseAddress(InetAddress address) {
        if (address != null && !perAddress.isEmpty()) {
            perAddress.computeIfPresent(address, (a, n) -> n <= 1 ? null : n - 1);
        }
    }

    /**
     * At {@code maxConnections}: whether a new connection may come in anyway because an idle or slow
     * one is being shed for it. Connections whose request is being handled are never shed.
     */
    private boolean shedForNewConnection() {
        if (takeShedCredit()) {
            return true;
        }
        long now = System.nanoTime();
        if (now - nothingToShedUntil < 0) {
            return false;
        }
        synchronized (shedCredits) {
            if (takeShedCredit()) {
                return true;
            }
            List<Http1Connection> candidates = new ArrayList<>();
            for (Http1Connection c : open) {
                if (c.sheddable()) {
                    candidates.add(c);
                }
            }
            if (candidates.isEmpty()) {
                nothingToShedUntil = now + TimeUnit.MILLISECONDS.toNanos(100);
                return false;
            }
            int batch = Math.max(1, server.config.maxConnections() / 64);
            candidates.sort(Comparator.comparingLong(Http1Connection::stateSince));
            int chosen = Math.min(batch, candidates.size());
            for (int i = 0; i < chosen; i++) {
                candidates.get(i).shed();
            }
            shedCredits.addAndGet(chosen - 1); // one is this connection's
            return true;
        }
    }

    private boolean takeShedCredit() {
        for (int c; (c = shedCredits.get()) > 0; ) {
            if (shedCredits.compareAndSet(c, c - 1)) {
                return true;
            }
        }
        return false;
    }

    // ---------------------------------------------------------------- open connections

    void opened(Http1Connection c) {
        open.add(c);
        for (ServerObserver o : server.observers) {
            o.connectionOpened();
        }
    }

    void closed(Http1Connection c) {
        for (ServerObserver o : server.observers) {
            o.connectionClosed();
        }
        open.remove(c);
        release(c.address);
        CompletableFuture<Void> d = drained;
        if (d != null && open.isEmpty()) {
            d.complete(null);
        }
    }

    /** The open connections now (a live view: iterate, do not keep). */
    /** Open connections with a request dispatched and not yet answered; counted when asked, not per request. */
    long requestsInFlight() {
        long n = 0;
        for (Http1Connection c : open) {
            n += c.requestsInFlight();
        }
        return n;
    }

    Set<Http1Connection> open() {
        return open;
    }

    int count() {
        return count.get();
    }

    /** Completed once no connection is open; from now on each close checks. */
    CompletableFuture<Void> drained() {
        CompletableFuture<Void> done = new CompletableFuture<>();
        drained = done;
        if (open.isEmpty()) {
            done.complete(null);
        }
        return done;
    }

    // ---------------------------------------------------------------- request bodies

    /** Takes {@code bytes} of the request-body budget; false (nothing taken) when they do not fit. */
    boolean reserveBody(long bytes) {
        long max = server.config.maxBufferedBodyBytes();
        if (bufferedBodyBytes.addAndGet(bytes) <= max) {
            return true;
        }
        bufferedBodyBytes.addAndGet(-bytes);
        return false;
    }

    void releaseBody(long bytes) {
        bufferedBodyBytes.addAndGet(-bytes);
    }

    long bufferedBodyBytes() {
        return bufferedBodyBytes.get();
    }

    // ---------------------------------------------------------------- limits

    /** Counts a tripped limit, tells the observers, and logs it at most once per ten seconds. */
    void limitReached(ServerLimit limit, Object client) {
        limits[limit.ordinal()].increment();
        for (ServerObserver o : server.observers) {
            try {
                o.limitReached(limit);
            } catch (RuntimeException e) {
                server.log.warn("server observer {} threw", o, e);
            }
        }
        if (limit != ServerLimit.WRITE_BACKPRESSURE) { // normal flow control, not worth a line
            limitLog.warn(server.log, limit.label(), "limit " + limit.label() + " reached (" + client
                    + "); see ServerLimit." + limit.name() + " in docs/OPERATIONS.md", null);
        }
    }

    long limitCount(ServerLimit limit) {
        return limits[limit.ordinal()].sum();
    }
}
