package io.stellane.metrics;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.stellane.runtime.Runtime;
import io.stellane.runtime.StellaneRuntime;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Binds the Stellane runtime to a Micrometer {@link MeterRegistry}: runtime and per-worker stats,
 * custom metrics, task profiles, and the HTTP, recovery and durable-task meters those layers report
 * through {@link #http()}, {@link #recovery()} and {@link #durableTasks()}. docs/OPERATIONS.md lists
 * every meter.
 *
 * <pre>{@code
 * StellaneMetrics metrics = StellaneMetrics.prometheus();
 * // GET /metrics  ->  metrics.scrape()
 * }</pre>
 *
 * <p>The binding follows its runtime (the default one, or the one given to {@code bind}), not one life
 * of it: it may be created before {@code init}, and survives {@code stop()}/{@code init()}/{@code restart()}. While the
 * runtime is down, gauges read 0 and counters keep their totals (they never go down across restarts).
 *
 * <h2>How it works</h2>
 * Runtime-wide values are read live from {@code Runtime.getStats()} when the registry asks.
 * Per-worker values and task profiles come from one daemon sampler thread
 * ({@code stellane-metrics-sampler}) that calls {@code Runtime.getWorkerStats()} once per sample
 * period: that call also restarts the window of {@code WorkerStats.cpuUsagePercent}, so exactly one
 * caller must own it. New workers and task names get their meters at the next sample.
 *
 * <h2>Threading</h2>
 * All methods are thread-safe. Keep a reference to this object until {@link #close()}: Micrometer
 * holds function-based meters' state weakly.
 */
public final class StellaneMetrics implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StellaneMetrics.class);
    /** How often per-worker stats and task profiles are sampled by default. */
    public static final Duration DEFAULT_SAMPLE_PERIOD = Duration.ofSeconds(1);

    private final MeterRegistry registry;
    private final boolean ownsRegistry;
    private final RuntimeMeters runtime;
    private final WorkerMeters workers;
    private final TaskMeters tasks;
    private final CustomMeters custom;
    private final List<Meter> runtimeMeters;
    private final ScheduledExecutorService sampler;
    private volatile MicrometerHttpMetrics http;
    private volatile MicrometerRecoveryMetrics recovery;
    private volatile MicrometerDurableTaskMetrics durableTasks;
    private volatile boolean closed;

    private StellaneMetrics(MeterRegistry registry, boolean ownsRegistry, Duration samplePeriod, StellaneRuntime rt) {
        this.registry = registry;
        this.ownsRegistry = ownsRegistry;
        this.runtime = new RuntimeMeters(rt);
        this.workers = new WorkerMeters(registry, rt);
        this.tasks = new TaskMeters(registry, runtime, rt);
        this.custom = new CustomMeters(registry, rt.metrics());
        this.runtimeMeters = runtime.register(registry);
        sample();
        CustomMeters.Bridge.attach(custom);
        this.sampler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "stellane-metrics-sampler");
            t.setDaemon(true);
            return t;
        });
        long period = samplePeriod.toNanos();
        sampler.scheduleAtFixedRate(this::sample, period, period, TimeUnit.NANOSECONDS);
    }

    /** Binds the default runtime to {@code registry}, sampling workers every {@link #DEFAULT_SAMPLE_PERIOD}. */
    public static StellaneMetrics bind(MeterRegistry registry) {
        return bind(registry, DEFAULT_SAMPLE_PERIOD);
    }

    /**
     * Binds the runtime to {@code registry}, sampling workers and task profiles every
     * {@code samplePeriod} (also the window of {@code stellane_worker_cpu_usage_percent}).
     */
    public static StellaneMetrics bind(MeterRegistry registry, Duration samplePeriod) {
        return bind(registry, samplePeriod, Runtime.instance());
    }

    /** Binds {@code runtime} to {@code registry}, sampling every {@code samplePeriod}. */
    public static StellaneMetrics bind(MeterRegistry registry, Duration samplePeriod, StellaneRuntime runtime) {
        Objects.requireNonNull(registry, "registry");
        Objects.requireNonNull(runtime, "runtime");
        if (samplePeriod.toMillis() < 10) {
            throw new IllegalArgumentException("samplePeriod must be at least 10 ms, got " + samplePeriod);
        }
        return new StellaneMetrics(registry, false, samplePeriod, runtime);
    }

    /** A binding to a new {@link PrometheusMeterRegistry}, closed with this object; read it with {@link #scrape()}. */
    public static StellaneMetrics prometheus() {
        return prometheus(Runtime.instance());
    }

    /** A binding of {@code runtime} to a new {@link PrometheusMeterRegistry}, closed with this object. */
    public static StellaneMetrics prometheus(StellaneRuntime runtime) {
        return new StellaneMetrics(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), true, DEFAULT_SAMPLE_PERIOD,
                Objects.requireNonNull(runtime, "runtime"));
    }

    /** The registry the meters live in. */
    public MeterRegistry registry() {
        return registry;
    }

    /**
     * The Prometheus text exposition of the registry, for a {@code /metrics} endpoint (content type
     * {@code text/plain; version=0.0.4; charset=utf-8}). Task names profiled since the last sample
     * are picked up first.
     *
     * @throws IllegalStateException when the registry is not a {@link PrometheusMeterRegistry}
     */
    public String scrape() {
        if (!(registry instanceof PrometheusMeterRegistry prometheus)) {
            throw new IllegalStateException("scrape() needs a PrometheusMeterRegistry; this binding uses "
                    + registry.getClass().getName());
        }
        if (!closed) {
            runtime.refresh();
            tasks.refresh();
        }
        return prometheus.scrape();
    }

    /** The meters the HTTP server reports to (created on first use). */
    public HttpMetrics http() {
        MicrometerHttpMetrics h = http;
        if (h == null) {
            synchronized (this) {
                h = http;
                if (h == null) {
                    http = h = new MicrometerHttpMetrics(registry);
                }
            }
        }
        return h;
    }

    /** The meters request recovery reports to (created on first use). */
    public RecoveryMetrics recovery() {
        MicrometerRecoveryMetrics r = recovery;
        if (r == null) {
            synchronized (this) {
                r = recovery;
                if (r == null) {
                    recovery = r = new MicrometerRecoveryMetrics(registry);
                }
            }
        }
        return r;
    }

    /** The meters a node's durable tasks report to (created on first use). */
    public DurableTaskMetrics durableTasks() {
        MicrometerDurableTaskMetrics d = durableTasks;
        if (d == null) {
            synchronized (this) {
                d = durableTasks;
                if (d == null) {
                    durableTasks = d = new MicrometerDurableTaskMetrics(registry);
                }
            }
        }
        return d;
    }

    /** One sample: bank the runtime counters, snapshot the workers, read the task profiles. */
    private void sample() {
        try {
            runtime.refresh();
            workers.refresh();
            tasks.refresh();
        } catch (RuntimeException e) {
            // keep sampling: a failed sample must not cancel the periodic task
            log.warn("stellane metrics sample failed", e);
        }
    }

    /**
     * Stops sampling, removes this binding's meters from the registry and stops exporting custom
     * metrics to it; closes the registry when {@link #prometheus()} created it. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        sampler.shutdownNow();
        try {
            sampler.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        CustomMeters.Bridge.detach(custom);
        List<Meter> all = new ArrayList<>(runtimeMeters);
        all.addAll(workers.meters());
        all.addAll(tasks.meters());
        all.addAll(custom.meters());
        if (http != null) {
            all.addAll(http.meters());
        }
        if (recovery != null) {
            all.addAll(recovery.meters());
        }
        if (durableTasks != null) {
            all.addAll(durableTasks.meters());
        }
        all.forEach(registry::remove);
        if (ownsRegistry) {
            registry.close();
        }
    }
}
