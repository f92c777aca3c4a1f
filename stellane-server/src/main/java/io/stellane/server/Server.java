package io.stellane.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.util.concurrent.EventExecutor;
import io.stellane.StellaneException;
import io.stellane.backend.EventLoopBackend;
import io.stellane.backend.IoBackend;
import io.stellane.config.ConfigChange;
import io.stellane.recovery.RecoveryManager;
import io.stellane.runtime.Runtime;
import io.stellane.runtime.RuntimeLifecycleListener;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.task.TaskErrorHandler;
import io.stellane.task.Worker;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Predicate;

/**
 * An HTTP/1.1 server on the runtime's workers: routes, filters, error mapping, and the listening
 * sockets, in cleartext or over TLS ({@link ServerConfig#tls()}).
 *
 * <pre>{@code
 * Runtime.init(RuntimeConfig.defaults());
 * Server server = new Server();
 * server.get("/users/{id}", ctx -> users.fetch(ctx.paramInt("id")).map(Response::json));
 * server.postBlocking("/users", ctx -> Response.created(dao.insert(ctx.request().json(User.class))));
 * int port = server.listen(8080);
 * Runtime.start();
 * }</pre>
 *
 * <h2>Where code runs</h2>
 * Each connection lives on one worker: its reads, its filters and async handlers, and its writes
 * run on that worker's thread. Blocking handlers run on virtual threads and their responses hop
 * back. With a backend that supports {@code SO_REUSEPORT} (epoll, io_uring) each worker accepts its
 * own connections on the shared port; otherwise one acceptor spreads them round-robin.
 *
 * <h2>Request recovery</h2>
 * With {@link #enableRequestRecovery} the server journals requests before their handler runs and
 * marks them complete once their response is ready; after a crash, {@link #recover()} replays what
 * was left pending through the {@link #onRecover} hooks or the original handlers. The journal never
 * holds the sensitive headers ({@code Authorization}, {@code Proxy-Authorization}, {@code Cookie} and
 * those the store's config adds) unless a route opts in with {@link #journalSensitiveHeaders}. See
 * {@code docs/RECOVERY.md}.
 *
 * <h2>JSON</h2>
 * {@link Response#json} bodies and {@link Request#json} are written and read by the server's
 * {@link #jsonMapper()}: by default one that ignores unknown properties and writes {@code java.time}
 * values as ISO-8601 strings; {@link #jsonMapper(ObjectMapper)} replaces it. A JSON body is
 * serialized as soon as its handler answers, so a value that cannot be serialized is that handler's
 * failure: error mappers see it, and unmapped it is a logged 500.
 *
 * <h2>Errors</h2>
 * A handler failure no error mapper answers is a 500 whose body carries only the request id; the
 * failure is logged at ERROR (through SLF4J, the server's logger) with that id, the method and the
 * path, at most once per 10 s per route and exception class with the count of the others. When
 * SLF4J has no provider, the first {@code listen} in the process says so once on stderr.
 *
 * <h2>Threading</h2>
 * Routes, filters, error mappers, the JSON mapper, recovery, recover hooks and sensitive-header
 * opt-ins are registered before the first {@link #listen}; registering afterwards throws. {@link #listen}, {@link #stop} and the accessors are thread-safe; {@code listen}
 * and {@code stop} block briefly and must not be called on a worker.
 */
public final class Server {
    private static final AtomicInteger SERVER_IDS = new AtomicInteger();

    final Logger log;
    /** Replaced by {@link #updateConfig}: a connection takes the one current when it opens. */
    volatile ServerConfig config;
    private final List<Route> routeList = new ArrayList<>();
    private final RouteTree<Handler> declared = new RouteTree<>();
    private final List<Filter> filters = new ArrayList<>();
    private final Map<Class<? extends Throwable>, ErrorMapper<? extends Throwable>> errorMappers = new LinkedHashMap<>();
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    /** Opened by the first listen with {@link ServerConfig#tls()} set, closed by {@link #stop}; guarded by {@code this}. */
    private TlsContext tlsContext;
    private final List<TaskErrorHandler> taskErrorHandlers = new CopyOnWriteArrayList<>();

    /** The frozen route tree with filters applied, built by the first listen() or recover(). */
    private volatile RouteTree<Handler> routes;
    /** Built from the frozen routes once recovery is settled: what every request goes through. */
    private volatile Dispatcher dispatcher;
    final Connections connections = new Connections(this);
    volatile ServerObserver[] observers = new ServerObserver[0];
    volatile boolean timeEveryRequest;
    final LongAdder requests = new LongAdder();
    final LongAdder handlerErrors = new LongAdder();
    final LongAdder rejected = new LongAdder();
    /** Moved by each connection on its own loop: +1 at dispatch, -1 when answered or closed. */
    volatile boolean draining;
    /** Null unless request recovery is enabled. */
    private volatile RecoveryInterceptor recovery;
    private final List<RecoverHook> recoverHooks = new CopyOnWriteArrayList<>();
    /** The journal this server opened itself (recovery on in the runtime's config): closed by {@link #stop}. */
    private volatile RecoveryManager ownedRecovery;
    private boolean recoveryConfigChecked;
    /** Where this server listens (host and bound port), to listen there again after a runtime restart. */
    private final List<InetSocketAddress> addresses = new CopyOnWriteArrayList<>();
    private final Lifecycle lifecycle = new Lifecycle();
    private final StellaneRuntime runtime;
    /** Sensitive headers a route journals anyway, by "METHOD pattern" as registered. */
    private final Map<String, String[]> journaledSensitive = new LinkedHashMap<>();
    /** The same by the route's handler in the frozen tree, which is what a request brings along. */
    private volatile Map<Handler, String[]> journaledSensitiveByHandler = Map.of();
    private static final String[] NONE = {};
    /** Null until asked for or set: a server given a mapper never builds the default one. */
    private ObjectMapper jsonMapper;

    private record Route(String method, String pattern, Handler handler) {
    }

    /** A server on the default runtime ({@link Runtime}), with the default limits. */
    public Server() {
        this(Runtime.instance(), ServerConfig.defaults());
    }

    /** A server on the default runtime ({@link Runtime}). */
    public Server(ServerConfig config) {
        this(Runtime.instance(), config);
    }

    /** A server on {@code runtime}: its connections and handlers run on that runtime's workers. */
    public Server(StellaneRuntime runtime, ServerConfig config) {
        this.runtime = Objects.requireNonNull(runtime, "runtime");
        this.config = Objects.requireNonNull(config, "config");
        this.log = LoggerFactory.getLogger(Server.class.getName() + (SERVER_IDS.getAndIncrement() == 0 ? "" : "." + SERVER_IDS.get()));
    }

    public ServerConfig config() {
        return config;
    }

    /** The runtime whose workers this server runs on. */
    public StellaneRuntime runtime() {
        return runtime;
    }

    /**
     * Applies new limits and timeouts while the server runs: connections opened from now on get all of
     * them; the server-wide ones (connection caps, the body budget, the drain timeout) apply at once;
     * connections already open keep their timeouts and sizes. {@code backlog} and {@code reusePort}
     * apply to the next {@link #listen}, and so does turning TLS on or off; changed TLS settings (files,
     * client certificates, versions, ciphers, timeouts) apply to new handshakes at once, once their files
     * have loaded. Returns what changed. Thread-safe.
     *
     * @throws io.stellane.config.ConfigException when the new TLS files or settings cannot be used; then
     *                                            nothing changes
     */
    public synchronized List<ConfigChange> updateConfig(ServerConfig next) {
        Objects.requireNonNull(next, "next");
        ServerConfig before = config;
        TlsContext t = tlsContext;
        if (t != null && next.tls() != null && !next.tls().equals(before.tls())) {
            t.update(next.tls()); // first: a file that fails to load leaves everything as it was
        }
        config = next;
        List<ConfigChange> changes = before.changesTo(next);
        if (!changes.isEmpty()) {
            log.info("server limits changed: {}", changes);
        }
        if ((before.tls() == null) != (next.tls() == null) && isListening()) {
            log.info("TLS turned {} in the config: the listeners open now keep {}; the next listen uses the new setting",
                    next.tls() == null ? "off" : "on", before.tls() == null ? "cleartext" : "TLS");
        }
        return changes;
    }

    /** The server's TLS, opened (files loaded and checked) on first use; null when the config has none. */
    private synchronized TlsContext tls() {
        TlsConfig c = config.tls();
        if (c == null) {
            return null;
        }
        if (tlsContext == null) {
            tlsContext = TlsContext.open(c, log);
        }
        return tlsContext;
    }

    /** The TLS in use, for tests; null when no listener speaks TLS. */
    synchronized TlsContext tlsContext() {
        return tlsContext;
    }

    // ---------------------------------------------------------------- routes

    public Server get(String path, Handler handler) { return route("GET", path, handler); }
    public Server post(String path, Handler handler) { return route("POST", path, handler); }
    public Server put(String path, Handler handler) { return route("PUT", path, handler); }
    public Server delete(String path, Handler handler) { return route("DELETE", path, handler); }
    public Server patch(String path, Handler handler) { return route("PATCH", path, handler); }
    /** An explicit HEAD route; without one, HEAD is answered by the GET route with the body left out. */
    public Server head(String path, Handler handler) { return route("HEAD", path, handler); }
    /** An explicit OPTIONS route; without one, OPTIONS answers 204 with {@code Allow}. */
    public Server options(String path, Handler handler) { return route("OPTIONS", path, handler); }

    public Server getBlocking(String path, BlockingHandler handler) { return route("GET", path, Handler.blocking(handler)); }
    public Server postBlocking(String path, BlockingHandler handler) { return route("POST", path, Handler.blocking(handler)); }
    public Server putBlocking(String path, BlockingHandler handler) { return route("PUT", path, Handler.blocking(handler)); }
    public Server deleteBlocking(String path, BlockingHandler handler) { return route("DELETE", path, Handler.blocking(handler)); }
    public Server patchBlocking(String path, BlockingHandler handler) { return route("PATCH", path, Handler.blocking(handler)); }

    /** Registers {@code handler} for {@code method} (GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS) and a path pattern. */
    public synchronized Server route(String method, String path, Handler handler) {
        checkNotListening("route");
        Objects.requireNonNull(handler, "handler");
        declared.add(method, path, handler); // validates and detects duplicates now
        routeList.add(new Route(method, path, handler));
        return this;
    }

    // ---------------------------------------------------------------- JSON

    /**
     * A new mapper configured as a server's default: unknown properties are ignored, and
     * {@code java.time} values ({@code Instant}, {@code LocalDate}, {@code Duration}, ...) are written
     * and read as ISO-8601 strings ({@code "2026-12-01T10:15:30Z"}), not numbers. Start from it to
     * change one thing and keep the rest:
     * {@code server.jsonMapper(Server.defaultJsonMapper().enable(SerializationFeature.INDENT_OUTPUT))}.
     */
    public static ObjectMapper defaultJsonMapper() {
        return Json.defaultMapper();
    }

    /**
     * Reads {@link Request#json} bodies and writes {@link Response#json} bodies with {@code mapper}
     * instead of the {@linkplain #defaultJsonMapper() default}. The server uses it from several threads
     * at once, as Jackson allows once a mapper is configured: do not reconfigure it afterwards. Call
     * before {@link #listen}.
     */
    public synchronized Server jsonMapper(ObjectMapper mapper) {
        checkNotListening("jsonMapper");
        jsonMapper = Objects.requireNonNull(mapper, "mapper");
        return this;
    }

    /** The mapper of this server's JSON bodies: the one given to {@link #jsonMapper(ObjectMapper)}, else the default. */
    public synchronized ObjectMapper jsonMapper() {
        if (jsonMapper == null) {
            jsonMapper = Json.defaultMapper();
        }
        return jsonMapper;
    }

    // ---------------------------------------------------------------- filters and errors

    /** Adds a filter around every route's handler; the first added runs outermost. */
    public synchronized Server filter(Filter filter) {
        checkNotListening("filter");
        filters.add(Objects.requireNonNull(filter, "filter"));
        return this;
    }

    /** Maps handler failures of {@code type} (and subtypes, unless a more specific mapper exists) to a response. */
    public synchronized <E extends Throwable> Server onError(Class<E> type, ErrorMapper<? super E> mapper) {
        checkNotListening("onError");
        errorMappers.put(Objects.requireNonNull(type, "type"), Objects.requireNonNull(mapper, "mapper"));
        return this;
    }

    /**
     * Called for failures outside a request: tasks scheduled on the runtime that fail (delegates to
     * {@link Runtime#onTaskError}) and errors of this server's connections that are not a request's.
     */
    /** Adds an observer of connections and requests (e.g. the Micrometer binding). */
    public synchronized Server observe(ServerObserver observer) {
        Objects.requireNonNull(observer, "observer");
        ServerObserver[] next = Arrays.copyOf(observers, observers.length + 1);
        next[observers.length] = observer;
        observers = next;
        timeEveryRequest |= observer.timesEveryRequest();
        return this;
    }

    /** The observers added so far, in order (a snapshot). */
    public List<ServerObserver> observers() {
        return List.of(observers);
    }

    /** One request in this many (per connection) is timed for {@link ServerObserver#requestCompleted}. */
    public static final int TIMING_SAMPLE = 16;

    void requestCompleted(Context cx, int status, long startNanos) {
        ServerObserver[] os = observers;
        if (os.length == 0) {
            return;
        }
        long took = startNanos > 0 ? System.nanoTime() - startNanos : -1;
        String route = cx.route() == null ? "unmatched" : cx.route();
        String method = cx.request().method();
        for (ServerObserver o : os) {
            try {
                o.requestCompleted(route, method, status, took);
            } catch (RuntimeException e) {
                log.warn("server observer {} threw", o, e);
            }
        }
    }

    public Server onTaskError(TaskErrorHandler handler) {
        Objects.requireNonNull(handler, "handler");
        taskErrorHandlers.add(handler);
        runtime.onTaskError(handler);
        return this;
    }

    // ---------------------------------------------------------------- request recovery

    /** Safe methods are not journaled by default: see {@link #enableRequestRecovery(RecoveryManager, Predicate)}. */
    private static final Predicate<Request> UNSAFE_METHODS = r -> switch (r.method()) {
        case "POST", "PUT", "PATCH", "DELETE" -> true;
        default -> false;
    };

    /**
     * Journals every {@code POST}, {@code PUT}, {@code PATCH} and {@code DELETE} request; see
     * {@link #enableRequestRecovery(RecoveryManager, Predicate)}. Safe methods ({@code GET},
     * {@code HEAD}, {@code OPTIONS}) are not journaled: replaying one after a crash changes nothing
     * (there is no one to send the answer to), and the client simply retries it.
     */
    public Server enableRequestRecovery(RecoveryManager manager) {
        return enableRequestRecovery(manager, UNSAFE_METHODS);
    }

    /**
     * Journals the requests {@code journalIf} selects (among those that match a route) before their
     * handler runs, and completes them once the response is ready, just before it is written: a
     * response a client received is never replayed. Requests carrying an {@code Idempotency-Key}
     * whose first request completed get the stored answer (plus {@code Idempotent-Replay: true})
     * without the handler running; one whose first request is still running gets 409. A request the
     * journal cannot take (full, or an I/O error) gets 503 with {@code Retry-After} and its handler
     * does not run: never an unjournaled run.
     *
     * <p>Where journal calls run: under {@code SyncPolicy.NONE} and {@code INTERVAL} they only touch
     * memory and run on the connection's worker; under {@code ALWAYS} they wait for the disk, so they
     * run on a virtual thread ({@code Task.blocking}) and the request continues on its worker.
     *
     * <p>The server does not own {@code manager}: close it after {@link #stop()}. Call before
     * {@link #listen}; {@code journalIf} runs on workers and must be cheap and thread-safe.
     */
    public synchronized Server enableRequestRecovery(RecoveryManager manager, Predicate<Request> journalIf) {
        checkNotListening("enableRequestRecovery");
        recovery = new RecoveryInterceptor(this, Objects.requireNonNull(manager, "manager"),
                Objects.requireNonNull(journalIf, "journalIf"));
        return this;
    }

    /**
     * Lets the journal keep these sensitive headers of one route's requests, for a handler that needs
     * them when it is replayed (say, a webhook that checks its {@code Authorization} again). By
     * default the sensitive headers ({@code Authorization}, {@code Proxy-Authorization}, {@code Cookie}
     * and those of {@code RecoveryStoreConfig.sensitiveHeaders}) are left out of the journal, and a
     * replay sees the request without them. What is kept is stored as it came: configure an
     * encryption key ({@code RecoveryStoreConfig.encryptionKey}) when you do this; the first
     * {@link #recover} or {@link #listen} logs a warning if there is none.
     *
     * @param method      the route's method, as registered
     * @param path        the route's pattern, as registered
     * @param headerNames the headers to keep, compared ignoring case
     * @throws IllegalArgumentException if no such route is registered yet, or a name is blank
     */
    public synchronized Server journalSensitiveHeaders(String method, String path, String... headerNames) {
        checkNotListening("journalSensitiveHeaders");
        if (routeList.stream().noneMatch(r -> r.method.equals(method) && r.pattern.equals(path))) {
            throw new IllegalArgumentException("journalSensitiveHeaders: no route " + method + " " + path
                    + " is registered; register the route first");
        }
        for (String name : headerNames) {
            if (Objects.requireNonNull(name, "header name").isBlank()) {
                throw new IllegalArgumentException("journalSensitiveHeaders: a header name is blank");
            }
        }
        journaledSensitive.merge(method + " " + path, headerNames.clone(), (a, b) -> {
            String[] both = Arrays.copyOf(a, a.length + b.length);
            System.arraycopy(b, 0, both, a.length, b.length);
            return both;
        });
        return this;
    }

    /** The sensitive headers the route of {@code handler} (a handler of the frozen route tree) journals anyway. */
    String[] journaledSensitiveHeaders(Handler handler) {
        Map<Handler, String[]> byHandler = journaledSensitiveByHandler;
        return byHandler.isEmpty() ? NONE : byHandler.getOrDefault(handler, NONE);
    }

    /** Adds a recover hook; hooks run in registration order for each replayed request. See {@link RecoverHook}. */
    public synchronized Server onRecover(RecoverHook.Basic hook) {
        Objects.requireNonNull(hook, "hook");
        return onRecover((RecoverHook) (ctx, req, meta) -> hook.recover(ctx, req));
    }

    /** Adds a recover hook that sees the replay's metadata; hooks run in registration order. */
    public synchronized Server onRecover(RecoverHook hook) {
        checkNotListening("onRecover");
        recoverHooks.add(Objects.requireNonNull(hook, "hook"));
        return this;
    }

    /**
     * Replays every request the journal holds as pending (journaled before a crash, never completed),
     * one at a time in arrival order, on a worker: through the {@link #onRecover} hooks in
     * registration order or, with no hook, through the original route's handler (with filters).
     * Before each replay an attempt is durably recorded; a replay that throws or fails is retried at
     * once until {@code maxAttempts}, then the request is quarantined (kept, never replayed again).
     * A replay's response is stored for its idempotency key like a live one.
     *
     * <p>Call after the routes are registered, best before {@link #listen} so replays never race new
     * traffic (a client's retry of the same idempotency key). Blocks until done; must not be called
     * on a worker. Freezes the routes like {@code listen}. With a journal shared by several nodes
     * ({@code RecoveryStore.shared()}), the server goes on adopting and replaying the requests of
     * nodes that die, until the journal closes ({@link RecoveryManager#startAdopting}).
     *
     * @throws IllegalStateException when recovery is not enabled
     */
    public RecoveryManager.RecoveryReport recover() {
        if (Worker.current() != null) {
            throw new StellaneException("Server.recover() called on a worker thread; call it from main");
        }
        RecoveryInterceptor rec = recovery;
        if (rec == null) {
            throw new IllegalStateException("recover(): call enableRequestRecovery(manager) first");
        }
        Replays replays = new Replays(dispatcher(), recoverHooks, runtime);
        RecoveryManager.RecoveryReport report = rec.manager.recoverAll(replays);
        rec.manager.startAdopting(replays); // a shared journal: the requests of nodes that die from now on
        return report;
    }

    /** Recovery counters; all zero when recovery is not enabled. */
    public RecoveryStats recoveryStats() {
        RecoveryInterceptor rec = recovery;
        return rec == null ? RecoveryStats.NONE : rec.stats();
    }

    // ---------------------------------------------------------------- listening

    /** Listens on all interfaces; returns the bound port (useful with port 0). */
    public int listen(int port) {
        return listen("0.0.0.0", port);
    }

    /**
     * Binds {@code host:port} on the runtime's workers and starts accepting; returns the bound port.
     * May be called several times (several addresses); several servers may share a runtime. With
     * {@link ServerConfig#tls()} set the listener speaks TLS, its files loaded and checked by the first
     * such listen.
     *
     * @throws StellaneException when the runtime is not initialized, its backend has no network I/O,
     *                           this is called on a worker, or the bind fails; a
     *                           {@link io.stellane.config.ConfigException} naming the file when a TLS
     *                           file cannot be read, is not PEM, holds a certificate that is expired or
     *                           not yet valid, or a key that is not the certificate's
     */
    public int listen(String host, int port) {
        if (Worker.current() != null) {
            throw new StellaneException("Server.listen() called on a worker thread; call it from main or a virtual thread");
        }
        List<EventLoopBackend> backends;
        try {
            backends = runtime.backends();
        } catch (StellaneException e) {
            throw new StellaneException("Server.listen(): " + e.getMessage(), e);
        }
        List<IoBackend> io = new ArrayList<>(backends.size());
        for (EventLoopBackend b : backends) {
            if (!(b instanceof IoBackend iob) || iob.ioEventLoop() == null) {
                throw new StellaneException("Server.listen(): backend " + b + " does no network I/O; "
                        + "use nio, epoll or io_uring (RuntimeConfig.backendType)");
            }
            io.add(iob);
        }
        NoLoggingWarning.sayOnce();
        tls(); // bad TLS files stop the start before the journal opens
        freeze();
        openConfiguredRecovery();
        dispatcher();
        int bound = bind(io, host, port);
        addresses.add(new InetSocketAddress(host, bound));
        runtime.addLifecycleListener(lifecycle); // once: adding it again does nothing
        return bound;
    }

    private int bind(List<IoBackend> io, String host, int port) {
        TlsContext tls = tls(); // before anything binds: bad TLS files stop the start
        draining = false;
        Listener l = new Listener(this, io, runtime.getConfig(), tls);
        int bound = l.bind(new InetSocketAddress(host, port));
        listeners.add(l);
        log.info("listening on {}:{}{} ({} acceptor(s), {} worker(s))", host, bound,
                tls == null ? "" : " with TLS (" + tls.engine() + ")", l.acceptors(), io.size());
        return bound;
    }

    /**
     * Request recovery the spec's way: with {@code enable_request_recovery} on in the runtime's config
     * and no manager given ({@link #enableRequestRecovery}), the first {@code listen} of a server that
     * has something to journal (a POST, PUT, PATCH or DELETE route, or an {@link #onRecover} hook) opens
     * the configured store, replays what the last run left pending, and only then binds; {@link #stop}
     * closes it. A server with only safe routes (a management port, say) opens nothing.
     */
    private synchronized void openConfiguredRecovery() {
        if (recovery != null || recoveryConfigChecked) {
            return;
        }
        recoveryConfigChecked = true;
        io.stellane.config.RuntimeConfig rc = runtime.getConfig();
        boolean journals = !recoverHooks.isEmpty() || routeList.stream().anyMatch(r -> switch (r.method) {
            case "POST", "PUT", "PATCH", "DELETE" -> true;
            default -> false;
        });
        if (!rc.enableRequestRecovery() || !journals) {
            return;
        }
        RecoveryManager manager;
        try {
            manager = RecoveryManager.open(rc);
        } catch (RuntimeException e) {
            throw new StellaneException("Server.listen(): request recovery is on in the runtime config, but its "
                    + rc.recoveryBackend() + " journal at " + rc.recoveryPath() + " cannot be opened: " + e.getMessage()
                    + " (another server of this runtime may have opened it: give each its own"
                    + " RecoveryManager with enableRequestRecovery)", e);
        }
        ownedRecovery = manager;
        recovery = new RecoveryInterceptor(this, manager, UNSAFE_METHODS);
        RecoveryManager.RecoveryReport report = recover();
        log.info("request recovery: {} journal at {}; {} pending request(s) found, {} recovered, {} quarantined",
                rc.recoveryBackend(), rc.recoveryPath(), report.found(), report.recovered(), report.quarantined());
    }

    /** How a server follows the runtime: drains before its workers end, listens again on a restart's new ones. */
    private final class Lifecycle implements RuntimeLifecycleListener {
        @Override
        public void stopping(boolean restarting) {
            if (restarting) {
                drainAndClose(config.drainTimeout()); // keeps the addresses and the journal for restarted()
            } else {
                stop();
            }
        }

        @Override
        public void workerAdded(int workerId, EventLoopBackend backend) {
            if (backend instanceof IoBackend io) {
                for (Listener l : listeners) {
                    l.workerAdded(io);
                }
            }
        }

        /**
         * New connections stop landing on the retiring worker; each of its connections ends after its
         * next response, or when its idle timeout passes, as it would have anyway: a retirement closes no
         * connection a client may be sending on. Done when none is left there (or, at the latest, after
         * the idle timeout and the drain timeout, when the rest are closed).
         */
        @Override
        public CompletionStage<?> workerRetiring(int workerId, EventLoopBackend backend) {
            if (!(backend instanceof IoBackend io)) {
                return CompletableFuture.completedFuture(null);
            }
            IoBackend heir = (IoBackend) runtime.backends().getFirst();
            for (Listener l : listeners) {
                l.workerRetiring(io, heir);
            }
            EventExecutor loop = io.ioEventLoop();
            for (Http1Connection c : connections.open()) {
                if (c.executor() == loop) {
                    c.retire();
                }
            }
            CompletableFuture<Void> done = new CompletableFuture<>();
            long deadline = System.nanoTime() + config.idleTimeout().toNanos() + config.drainTimeout().toNanos();
            Thread.ofVirtual().name("stellane-server-retire-" + workerId).start(() -> {
                try {
                    while (connections.open().stream().anyMatch(c -> c.executor() == loop)) {
                        if (System.nanoTime() - deadline > 0) {
                            connections.open().stream().filter(c -> c.executor() == loop).forEach(Http1Connection::forceClose);
                            break;
                        }
                        Thread.sleep(50); // polling a retirement that takes seconds; nothing waits on each step
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } finally {
                    done.complete(null);
                }
            });
            return done;
        }

        @Override
        public void restarted() {
            List<IoBackend> io = new ArrayList<>();
            for (EventLoopBackend b : runtime.backends()) {
                io.add((IoBackend) b);
            }
            for (InetSocketAddress a : addresses) {
                try {
                    bind(io, a.getHostString(), a.getPort());
                } catch (RuntimeException e) {
                    log.error("after the runtime restarted, cannot listen on {} again: {}", a, e.getMessage());
                }
            }
        }
    }

    /** The port of the first listen() still open; throws when not listening. */
    public int port() {
        for (Listener l : listeners) {
            return l.port();
        }
        throw new IllegalStateException("the server is not listening");
    }

    public boolean isListening() {
        return !listeners.isEmpty();
    }

    /** Graceful stop bounded by {@link ServerConfig#drainTimeout()}; see {@link #stop(Duration)}. */
    public void stop() {
        stop(config.drainTimeout());
    }

    /**
     * Stops accepting, lets in-flight requests finish (their responses carry {@code Connection: close};
     * idle connections are closed at once), waits up to {@code timeout} for them, then closes what
     * is left. Idempotent. On a worker thread it does not wait.
     */
    public void stop(Duration timeout) {
        drainAndClose(timeout);
        addresses.clear();
        runtime.removeLifecycleListener(lifecycle);
        for (TaskErrorHandler h : taskErrorHandlers) {
            runtime.removeTaskErrorHandler(h);
        }
        closeTls();
        RecoveryManager owned = ownedRecovery;
        if (owned != null) {
            ownedRecovery = null;
            try {
                owned.close(); // a clean-shutdown mark, then the store closes
            } catch (RuntimeException e) {
                log.warn("closing the request journal failed", e);
            }
        }
    }

    private synchronized void closeTls() {
        if (tlsContext != null) {
            tlsContext.close();
            tlsContext = null;
        }
    }

    /** Stops listening and drains the connections, bounded by {@code timeout}; what stop and a restart share. */
    private void drainAndClose(Duration timeout) {
        draining = true; // from here every response closes its connection
        CompletableFuture<Void> done = connections.drained();
        List<Listener> ls = new ArrayList<>(listeners);
        listeners.clear();
        for (Listener l : ls) {
            l.close();
        }
        for (Http1Connection c : connections.open()) {
            c.drain();
        }
        if (Worker.current() == null) {
            try {
                done.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                log.warn("stop: {} connection(s) still busy after {}; closing them", connections.open().size(), timeout);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Exception e) {
                log.warn("stop: {}", e.toString());
            }
        }
        for (Http1Connection c : connections.open()) {
            c.forceClose();
        }
    }

    // ---------------------------------------------------------------- stats

    /** Requests dispatched to routing so far. */
    public long requestCount() {
        return requests.sum();
    }

    /** Handler failures answered with the default 500 (not mapped by an error mapper). */
    public long errorCount() {
        return handlerErrors.sum();
    }

    /** Requests refused for protocol errors or limits (4xx and close). */
    public long rejectedCount() {
        return rejected.sum();
    }

    public int openConnections() {
        return connections.count();
    }

    /**
     * Requests being handled now: read whole and dispatched, their response not yet all handed to the
     * connection (a streamed one until its end), over every open connection. A request whose client
     * closed the connection stops counting then, whether or not its handler has finished.
     */
    public long requestsInFlight() {
        return connections.requestsInFlight();
    }

    /** How many times clients ran into {@code limit} since this server was made. */
    public long limitCount(ServerLimit limit) {
        return connections.limitCount(limit);
    }

    /** Request-body bytes buffered by all connections now (bounded by {@link ServerConfig#maxBufferedBodyBytes()}). */
    public long bufferedBodyBytes() {
        return connections.bufferedBodyBytes();
    }

    // ---------------------------------------------------------------- internals

    void reportConnectionError(Throwable error) {
        log.debug("connection error: {}", error.toString());
    }

    /** The error mapper for failures of {@code type}: its own, else its closest superclass's; null when none. */
    @SuppressWarnings("unchecked")
    ErrorMapper<Throwable> errorMapper(Class<?> type) {
        for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
            ErrorMapper<? extends Throwable> m = errorMappers.get(c);
            if (m != null) {
                return (ErrorMapper<Throwable>) m;
            }
        }
        return null;
    }

    /**
     * What requests go through: built from the frozen routes once recovery is settled (the first
     * {@link #recover} or {@link #listen}, whichever comes first), then fixed.
     */
    synchronized Dispatcher dispatcher() {
        Dispatcher d = dispatcher;
        if (d == null) {
            freeze();
            d = dispatcher = new Dispatcher(this, routes, recovery, jsonMapper());
        }
        return d;
    }

    private synchronized void freeze() {
        if (routes != null) {
            return;
        }
        RouteTree<Handler> tree = new RouteTree<>();
        Map<Handler, String[]> kept = new IdentityHashMap<>();
        for (Route r : routeList) {
            Handler h = wrap(r.handler);
            tree.add(r.method, r.pattern, h);
            String[] names = journaledSensitive.get(r.method + " " + r.pattern);
            if (names != null) {
                kept.put(h, names);
            }
        }
        RecoveryInterceptor rec = recovery;
        if (!kept.isEmpty() && rec != null && rec.manager.store().config().encryptionKey() == null) {
            log.warn("routes {} journal sensitive headers, and the journal has no encryption key: those headers"
                    + " are stored in clear text", journaledSensitive.keySet());
        }
        journaledSensitiveByHandler = kept;
        routes = tree;
    }

    private Handler wrap(Handler handler) {
        Handler h = handler;
        for (int i = filters.size() - 1; i >= 0; i--) {
            Filter f = filters.get(i);
            Handler next = h;
            h = ctx -> f.filter(ctx, next);
        }
        return h;
    }

    private void checkNotListening(String what) {
        if (routes != null) {
            throw new IllegalStateException(what + "() after listen(): register routes, filters and error mappers first");
        }
    }
}
