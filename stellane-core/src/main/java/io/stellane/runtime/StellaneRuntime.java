package io.stellane.runtime;

import io.stellane.StellaneException;
import io.stellane.config.ConfigException;
import io.stellane.config.ConfigLoader;
import io.stellane.config.RuntimeConfig;
import io.stellane.stats.RuntimeStats;
import io.stellane.stats.WorkerStats;
import io.stellane.task.Task;
import io.stellane.task.TaskErrorHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A runtime: worker event loops that run {@link Task}s and network I/O. The spec's static
 * {@link Runtime} acts on one of these, {@link #defaultRuntime()}; {@link #create} makes more, each
 * with its own workers, servers, error handlers and numbers, which can run side by side in one JVM.
 *
 * <pre>{@code
 * StellaneRuntime runtime = StellaneRuntime.create("billing");
 * runtime.init(RuntimeConfig.builder().workerThreads(2).build());
 * runtime.schedule(Task.of(() -> log.info("hello from a billing worker")));
 * runtime.stop();
 * }</pre>
 *
 * <h2>Lifecycle</h2>
 * {@link #init} creates the workers and starts their loops, so servers can bind and tasks run right
 * away; {@link #start()} then parks the calling thread (usually {@code main}) until {@link #stop()}.
 * {@code stop()} is graceful: {@link RuntimeLifecycleListener}s (servers) drain first, then each
 * worker runs what is queued, bounded by {@code shutdown_timeout}. After {@code stop()}, {@code init}
 * may be called again. {@link #restart()} does both with the same config, and servers come back on
 * the new workers; a thread parked in {@code start()} stays parked across it.
 *
 * <h2>Threading</h2>
 * Every method is thread-safe. Config changes through {@link #updateConfig} apply to tasks
 * scheduled afterwards; changing {@code worker_threads} adds or retires workers live.
 */
public final class StellaneRuntime {
    private static final Logger log = LoggerFactory.getLogger(StellaneRuntime.class);
    private final String name;
    private final Object lock = new Object();
    private final List<TaskErrorHandler> errorHandlers = new CopyOnWriteArrayList<>();
    private final Metrics metrics = new Metrics();
    private final List<TaskObserver> observers = new CopyOnWriteArrayList<>();
    private final CopyOnWriteArrayList<RuntimeLifecycleListener> lifecycle = new CopyOnWriteArrayList<>();
    private volatile RuntimeEngine engine;
    private volatile boolean profiling;

    private StellaneRuntime(String name) {
        this.name = name;
    }

    /**
     * A runtime of its own, not initialized: its worker threads are named {@code name-worker-N}. Any
     * number may run side by side in one JVM, each with its own workers, servers and numbers.
     */
    public static StellaneRuntime create(String name) {
        if (Objects.requireNonNull(name, "name").isBlank()) {
            throw new IllegalArgumentException("a runtime needs a non-blank name");
        }
        return new StellaneRuntime(name);
    }

    /** The runtime the static {@link Runtime} methods act on. */
    public static StellaneRuntime defaultRuntime() {
        return Runtime.DEFAULT;
    }

    /** The name its worker threads carry. */
    public String name() {
        return name;
    }

    // ---------------------------------------------------------------- initialization

    /**
     * Validates {@code config}, creates the workers on the configured backend and starts their loops.
     *
     * @throws StellaneException when already initialized (call {@link #stop()} first)
     * @throws ConfigException   when a field is invalid
     * @throws io.stellane.backend.BackendException when the backend is unknown or cannot run here
     */
    public void init(RuntimeConfig config) {
        Objects.requireNonNull(config, "config");
        synchronized (lock) {
            RuntimeEngine e = engine;
            if (e != null && e.state() != RuntimeEngine.State.STOPPED) {
                throw new StellaneException(call("init()") + " called twice: " + this + " is already "
                        + e.state().name().toLowerCase() + "; call " + call("stop()") + " first (or " + call("restart()") + ")");
            }
            RuntimeEngine created = new RuntimeEngine(name, config, errorHandlers, metrics, lifecycle);
            created.enableProfiling(profiling);
            observers.forEach(created::addObserver);
            engine = created;
        }
    }

    /**
     * Loads a TOML file (the spec's {@code [runtime]} layout), applies {@code STELLANE_RUNTIME_*}
     * environment overrides (file &lt; environment) and initializes with the result.
     *
     * @throws ConfigException naming the bad key, its value and what is allowed
     */
    public void initFromConfigFile(Path path) {
        init(ConfigLoader.load(Objects.requireNonNull(path, "path")));
    }

    /** {@link #initFromConfigFile(Path)} with a path string. */
    public void initFromConfigFile(String path) {
        initFromConfigFile(Path.of(path));
    }

    // ---------------------------------------------------------------- lifecycle

    /**
     * Parks the calling thread until {@link #stop()}; the loops already run since {@link #init}. A
     * {@link #restart()} does not end it: it goes on waiting for the restarted runtime.
     */
    public void start() {
        RuntimeEngine e;
        synchronized (lock) { // not between the two lives of a restart
            e = current();
        }
        while (true) {
            try {
                e.awaitStop();
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new StellaneException("interrupted while the runtime was running", ie);
            }
            synchronized (lock) { // a restart holds the lock from before its stop until its new engine runs
                RuntimeEngine now = engine;
                if (now == null || now == e || now.state() == RuntimeEngine.State.STOPPED) {
                    return;
                }
                e = now;
            }
        }
    }

    /**
     * Graceful stop: the {@linkplain #addLifecycleListener lifecycle listeners} (servers) drain, then
     * queued tasks run, bounded by {@code shutdown_timeout}; then the workers end. Idempotent. From a
     * task (a worker thread) it starts the stop on a thread of its own and returns without waiting.
     */
    public void stop() {
        RuntimeEngine e = engine;
        if (e == null || e.state() != RuntimeEngine.State.RUNNING) {
            return;
        }
        if (onWorkerOf(e)) {
            Thread.ofPlatform().name("stellane-stop").start(this::stop); // a worker cannot wait for itself
            return;
        }
        notifyStopping(false);
        e.stop();
    }

    /**
     * Stops gracefully and initializes again with the current config: servers drain, the workers end,
     * new ones start, and servers listen again on the same addresses. A thread parked in {@link #start()}
     * stays parked. From a task (a worker thread) the restart runs on a thread of its own and this call
     * returns at once; elsewhere it returns once the new workers run.
     *
     * @throws StellaneException when the runtime is not initialized
     */
    public void restart() {
        RuntimeEngine e = current();
        if (onWorkerOf(e)) {
            Thread.ofPlatform().name("stellane-restart").start(() -> {
                try {
                    restart();
                } catch (RuntimeException ex) {
                    log.error("runtime restart failed", ex);
                }
            });
            return;
        }
        synchronized (lock) {
            e = current();
            RuntimeConfig config = e.config();
            notifyStopping(true);
            e.stop();
            init(config);
            for (RuntimeLifecycleListener l : lifecycle) {
                try {
                    l.restarted();
                } catch (RuntimeException ex) {
                    log.error("lifecycle listener {} failed after the restart", l, ex);
                }
            }
        }
    }

    private boolean onWorkerOf(RuntimeEngine e) {
        return io.stellane.task.Worker.current() instanceof RuntimeWorker rw && rw.engine() == e;
    }

    private void notifyStopping(boolean restarting) {
        for (RuntimeLifecycleListener l : lifecycle) {
            try {
                l.stopping(restarting);
            } catch (RuntimeException ex) {
                log.error("lifecycle listener {} failed while the runtime stopped", l, ex);
            }
        }
    }

    /** Adds a listener of stops and restarts (applies to this and later inits); adding it again does nothing. */
    public void addLifecycleListener(RuntimeLifecycleListener listener) {
        lifecycle.addIfAbsent(Objects.requireNonNull(listener, "listener"));
    }

    public void removeLifecycleListener(RuntimeLifecycleListener listener) {
        lifecycle.remove(listener);
    }

    public boolean isRunning() {
        RuntimeEngine e = engine;
        return e != null && e.state() == RuntimeEngine.State.RUNNING;
    }

    // ---------------------------------------------------------------- scheduling

    /** Queues a task on a worker chosen by the strategy. A task runs once: scheduling it twice fails. */
    public void schedule(Task<?> task) {
        current().schedule(Objects.requireNonNull(task, "task"), -1);
    }

    /** Sets the task's priority (used by the PRIORITY strategy) and schedules it. */
    public void scheduleWithPriority(Task<?> task, int priority) {
        Objects.requireNonNull(task, "task").withPriority(priority);
        current().schedule(task, -1);
    }

    /** Queues a task on one worker; it runs there whatever the strategy (never stolen). */
    public void scheduleOnWorker(Task<?> task, int workerId) {
        current().schedule(Objects.requireNonNull(task, "task"), workerId);
    }


    /** Called for every scheduled task that fails; applies to this and later inits. */
    public void onTaskError(TaskErrorHandler handler) {
        Objects.requireNonNull(handler, "handler");
        errorHandlers.add(handler);
        RuntimeEngine e = engine;
        if (e != null) {
            e.addErrorHandler(handler);
        }
    }

    /** Removes a handler added with {@link #onTaskError}. */
    public void removeTaskErrorHandler(TaskErrorHandler handler) {
        errorHandlers.remove(handler);
    }

    // ---------------------------------------------------------------- monitoring

    public RuntimeStats getStats() {
        return current().stats();
    }

    public List<WorkerStats> getWorkerStats() {
        return current().workerStats();
    }

    /** Turns per-task-name profiling on or off; off costs one volatile read per task. */
    public void enableProfiling(boolean on) {
        profiling = on;
        RuntimeEngine e = engine;
        if (e != null) {
            e.enableProfiling(on);
        }
    }

    /** Adds an observer of every scheduled task (applies to this and later inits). */
    public void addTaskObserver(TaskObserver observer) {
        Objects.requireNonNull(observer, "observer");
        observers.add(observer);
        RuntimeEngine e = engine;
        if (e != null) {
            e.addObserver(observer);
        }
    }

    public void removeTaskObserver(TaskObserver observer) {
        observers.remove(observer);
        RuntimeEngine e = engine;
        if (e != null) {
            e.removeObserver(observer);
        }
    }

    /** The name of the task worker {@code workerId} runs now, if any (a moment stale at worst). */
    public Optional<String> runningTaskName(int workerId) {
        Task<?> t = current().worker(workerId).currentTask();
        return t == null ? Optional.empty() : Optional.of(t.name());
    }

    /** The thread of worker {@code workerId}. */
    public Thread workerThread(int workerId) {
        return current().worker(workerId).workerThread();
    }

    /** What profiling measured, the names that held workers longest first. */
    public List<TaskProfile> getProfile() {
        return current().profiles();
    }

    /** Adds {@code value} to the counter {@code name}. */
    public void addMetric(String name, double value) {
        metrics.add(name, value);
    }

    /** Adds one to the counter {@code name}. */
    public void incrementMetric(String name) {
        metrics.add(name, 1);
    }

    /** Sets the gauge {@code name}. */
    public void setGauge(String name, double value) {
        metrics.gauge(name, value);
    }

    /** The custom metrics (they outlive a restart). */
    public Metrics metrics() {
        return metrics;
    }

    // ---------------------------------------------------------------- configuration

    public RuntimeConfig getConfig() {
        return current().config();
    }

    /**
     * Applies a new config to tasks scheduled from now on; a new {@code worker_threads} adds or retires
     * workers live. Backend, strategy and affinity settings need a restart.
     */
    public void updateConfig(RuntimeConfig config) {
        current().updateConfig(Objects.requireNonNull(config, "config"));
    }


    // ---------------------------------------------------------------- for transports and tests

    RuntimeEngine current() {
        RuntimeEngine e = engine;
        if (e == null || e.state() == RuntimeEngine.State.STOPPED) {
            throw new StellaneException(this + " is not initialized: call " + call("init(config)") + " first");
        }
        return e;
    }

    /** The workers' backends, in worker order: how a server registers its channels. */
    public List<io.stellane.backend.EventLoopBackend> backends() {
        return Arrays.stream(current().workerArray()).map(RuntimeWorker::backend).toList();
    }

    /** Workers whose threads are alive, retiring ones included (0 after stop). */
    public int liveWorkers() {
        RuntimeEngine e = engine;
        return e == null ? 0 : e.liveWorkers();
    }

    /** The order in which {@code workerId} tries other workers when it steals. */
    public List<Integer> stealOrder(int workerId) {
        return current().victimsOf(workerId);
    }

    /** How an error message names one of its methods: the static facade's for the default runtime. */
    private String call(String method) {
        return this == Runtime.DEFAULT ? "Runtime." + method : method;
    }

    /** {@code the runtime} for the default runtime, {@code runtime 'name'} for others. */
    @Override
    public String toString() {
        return this == Runtime.DEFAULT ? "the runtime" : "runtime '" + name + "'";
    }
}
