package io.stellane.config;

import io.stellane.scheduler.TaskSchedulingStrategy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Everything that configures a runtime, with the spec's defaults. Immutable: change a copy through
 * {@link #toBuilder()}. Load one from TOML and the environment with {@link ConfigLoader}; check one
 * with {@link #validate()}. Immutable, hence thread-safe; its {@link Builder} is not.
 *
 * <p>TOML layout (keys in snake_case): {@code [runtime]} backend, worker_threads, max_tasks_per_loop,
 * enable_cpu_affinity, enable_numa_awareness, strategy, custom_scheduler, shutdown_timeout;
 * {@code [runtime.recovery]} enabled, backend, path, max_attempts, completed_retention,
 * sensitive_headers, encryption_key_file (the key itself only from the environment:
 * {@code STELLANE_RUNTIME_RECOVERY_ENCRYPTION_KEY}), and for a shared store (backend {@code postgres})
 * url, user, password_file (or {@code STELLANE_RUNTIME_RECOVERY_PASSWORD}), node_id, lease; {@code [runtime.performance]}
 * zero_copy_io, io_batch_size, idle_timeout; {@code [runtime.scaling]} enabled, min_workers, max_workers,
 * scale_up_after, scale_down_after.
 *
 * @param backendType         event-loop backend: {@code auto} (io_uring, else epoll, else nio), {@code nio},
 *                            {@code epoll}, {@code io_uring}, {@code libuv} (alias of nio) or a registered name
 * @param workerThreads       number of workers (event-loop threads), 1..1024; or {@link #AUTO_WORKERS}
 *                            ({@code "auto"} in TOML): scaling on, starting from {@code minWorkers}
 * @param maxTasksPerLoop     tasks a worker runs between two I/O polls, so I/O is never starved, 1..1_000_000
 * @param enableCpuAffinity   pin worker i to the i-th allowed CPU (sched_setaffinity)
 * @param enableNumaAwareness group workers by NUMA node; stealing prefers same-node victims
 * @param strategy            how tasks are queued and shared
 * @param customScheduler     the registered scheduler used when strategy is CUSTOM
 * @param shutdownTimeout     how long {@code Runtime.stop()} waits for queued tasks to finish
 * @param enableRequestRecovery journal requests so they can be replayed after a crash
 * @param recoveryBackend     recovery store: {@code mmap} or {@code rocksdb} or a registered name
 * @param recoveryPath        directory of the recovery store
 * @param maxRecoveryAttempts replays of one request before it is quarantined, 1..100
 * @param recoveryCompletedRetention how long records of completed requests may stay in the journal's
 *                            files, 1s..24h (see {@code docs/RECOVERY.md} for each store's bound)
 * @param recoverySensitiveHeaders request headers the server leaves out of the journal besides
 *                            {@code Authorization}, {@code Proxy-Authorization} and {@code Cookie}
 * @param recoveryEncryptionKeyFile a file (mode 0600 or 0400) holding the base64 key the journal is
 *                            encrypted with, or null
 * @param recoveryUrl         the shared store's JDBC URL ({@code jdbc:postgresql://...}), or null
 * @param recoveryUser        its user, or null
 * @param recoveryPasswordFile a file (mode 0600 or 0400) holding its password, or null
 * @param recoveryPassword    its password itself, from the environment only, or null
 * @param recoveryNodeId      this instance's name among the nodes sharing the store; null: a random one
 * @param recoveryLease       how long a node's requests stay its own without a sign of life; a node
 *                            renews it three times per lease, and another adopts its requests once it expires
 * @param recoveryEncryptionKey the base64 key itself, from the environment only, or null; at most
 *                            one of the two is set
 * @param zeroCopyIo          pooled direct buffers for socket I/O (no copy between heap and kernel)
 * @param ioBatchSize         reads per connection per I/O turn before the loop moves on, 1..4096
 * @param idleTimeout         longest an idle worker sleeps in I/O wait before it looks for work to steal
 * @param scalingEnabled      the runtime adds and retires workers by load, between {@code minWorkers} and
 *                            {@code maxWorkers} ({@code docs/OPERATIONS.md}, "Worker scaling")
 * @param minWorkers          the fewest workers scaling leaves, 1..1024
 * @param maxWorkers          the most workers scaling adds, 1..1024, at least {@code minWorkers}
 * @param scaleUpAfter        how long workers must stay saturated (or queues deep) before one is added
 * @param scaleDownAfter      how long workers must stay mostly idle before one is retired
 */
public record RuntimeConfig(
        String backendType,
        int workerThreads,
        int maxTasksPerLoop,
        boolean enableCpuAffinity,
        boolean enableNumaAwareness,
        TaskSchedulingStrategy strategy,
        String customScheduler,
        Duration shutdownTimeout,
        boolean enableRequestRecovery,
        String recoveryBackend,
        Path recoveryPath,
        int maxRecoveryAttempts,
        Duration recoveryCompletedRetention,
        List<String> recoverySensitiveHeaders,
        Path recoveryEncryptionKeyFile,
        Secret recoveryEncryptionKey,
        String recoveryUrl,
        String recoveryUser,
        Path recoveryPasswordFile,
        Secret recoveryPassword,
        String recoveryNodeId,
        Duration recoveryLease,
        boolean zeroCopyIo,
        int ioBatchSize,
        Duration idleTimeout,
        boolean scalingEnabled,
        int minWorkers,
        int maxWorkers,
        Duration scaleUpAfter,
        Duration scaleDownAfter) {

    /** {@code worker_threads = "auto"}: scaling decides, starting from {@code minWorkers}. */
    public static final int AUTO_WORKERS = -1;

    public RuntimeConfig {
        Objects.requireNonNull(backendType, "backendType");
        Objects.requireNonNull(strategy, "strategy");
        Objects.requireNonNull(customScheduler, "customScheduler");
        Objects.requireNonNull(shutdownTimeout, "shutdownTimeout");
        Objects.requireNonNull(recoveryBackend, "recoveryBackend");
        Objects.requireNonNull(recoveryPath, "recoveryPath");
        Objects.requireNonNull(recoveryCompletedRetention, "recoveryCompletedRetention");
        recoverySensitiveHeaders = List.copyOf(recoverySensitiveHeaders);
        Objects.requireNonNull(recoveryLease, "recoveryLease");
        Objects.requireNonNull(idleTimeout, "idleTimeout");
        Objects.requireNonNull(scaleUpAfter, "scaleUpAfter");
        Objects.requireNonNull(scaleDownAfter, "scaleDownAfter");
    }

    /** Whether the runtime scales its workers: {@code scaling.enabled}, or {@code worker_threads = "auto"}. */
    public boolean scales() {
        return scalingEnabled || workerThreads == AUTO_WORKERS;
    }

    /** The workers the runtime starts with: {@code worker_threads}, within the scaling range when it scales. */
    public int initialWorkers() {
        if (workerThreads == AUTO_WORKERS) {
            return minWorkers;
        }
        return scales() ? Math.clamp(workerThreads, minWorkers, Math.max(minWorkers, maxWorkers)) : workerThreads;
    }

    /** The defaults: the spec's, with {@code auto} for the backend and one worker per available CPU. */
    public static RuntimeConfig defaults() {
        return builder().build();
    }

    /** The defaults with the {@code STELLANE_RUNTIME_*} environment variables applied (spec: {@code from_environment}). */
    public static RuntimeConfig fromEnvironment() {
        return ConfigLoader.fromEnvironment();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    /**
     * Checks every field; throws {@link ConfigException} naming the first bad key, its value and what
     * is allowed. Backend and scheduler names are checked against the registries when the runtime starts.
     */
    public RuntimeConfig validate() {
        ConfigValidator.validate(this);
        return this;
    }

    /** The keys whose values differ in {@code next}, in table order (what a reload logs). */
    public List<ConfigChange> changesTo(RuntimeConfig next) {
        return ConfigKey.ALL.stream().map(k -> k.change(this, next)).filter(Objects::nonNull).toList();
    }

    /**
     * This config with the values of {@code next} that a running runtime takes ({@code Runtime.updateConfig}:
     * worker counts and scaling, loop limits, timeouts), and its own for the rest (backend, strategy,
     * affinity, NUMA, the request journal, zero-copy I/O: those need a restart).
     */
    public RuntimeConfig withLiveValuesOf(RuntimeConfig next) {
        Builder b = toBuilder();
        for (ConfigKey<?> k : ConfigKey.ALL) {
            if (k.live()) {
                k.copy(next, b);
            }
        }
        return b.build();
    }

    /** Whether a running runtime takes a change of {@code key} (a full TOML key): see {@link #withLiveValuesOf}. */
    public static boolean appliesLive(String key) {
        return ConfigKey.byPath(key).map(ConfigKey::live).orElse(false);
    }

    /** A mutable builder; starts from the defaults. Not thread-safe: confine it to one thread. */
    public static final class Builder {
        private String backendType = "auto";
        private int workerThreads = Math.min(Runtime.getRuntime().availableProcessors(), 1024);
        private int maxTasksPerLoop = 1000;
        private boolean enableCpuAffinity;
        private boolean enableNumaAwareness;
        private TaskSchedulingStrategy strategy = TaskSchedulingStrategy.FIFO;
        private String customScheduler = "custom";
        private Duration shutdownTimeout = Duration.ofSeconds(30);
        private boolean enableRequestRecovery;
        private String recoveryBackend = "mmap";
        private Path recoveryPath = Path.of("/tmp/stellane_recovery");
        private int maxRecoveryAttempts = 3;
        private Duration recoveryCompletedRetention = Duration.ofMinutes(1);
        private List<String> recoverySensitiveHeaders = List.of();
        private Path recoveryEncryptionKeyFile;
        private Secret recoveryEncryptionKey;
        private String recoveryUrl;
        private String recoveryUser;
        private Path recoveryPasswordFile;
        private Secret recoveryPassword;
        private String recoveryNodeId;
        private Duration recoveryLease = Duration.ofSeconds(10);
        private boolean zeroCopyIo = true;
        private int ioBatchSize = 32;
        private Duration idleTimeout = Duration.ofMillis(100);
        private boolean scalingEnabled;
        private int minWorkers = 1;
        private int maxWorkers = Math.min(Runtime.getRuntime().availableProcessors(), 1024);
        private Duration scaleUpAfter = Duration.ofSeconds(3);
        private Duration scaleDownAfter = Duration.ofSeconds(30);

        private Builder() {
        }

        private Builder(RuntimeConfig c) {
            backendType = c.backendType;
            workerThreads = c.workerThreads;
            maxTasksPerLoop = c.maxTasksPerLoop;
            enableCpuAffinity = c.enableCpuAffinity;
            enableNumaAwareness = c.enableNumaAwareness;
            strategy = c.strategy;
            customScheduler = c.customScheduler;
            shutdownTimeout = c.shutdownTimeout;
            enableRequestRecovery = c.enableRequestRecovery;
            recoveryBackend = c.recoveryBackend;
            recoveryPath = c.recoveryPath;
            maxRecoveryAttempts = c.maxRecoveryAttempts;
            recoveryCompletedRetention = c.recoveryCompletedRetention;
            recoverySensitiveHeaders = c.recoverySensitiveHeaders;
            recoveryEncryptionKeyFile = c.recoveryEncryptionKeyFile;
            recoveryEncryptionKey = c.recoveryEncryptionKey;
            recoveryUrl = c.recoveryUrl;
            recoveryUser = c.recoveryUser;
            recoveryPasswordFile = c.recoveryPasswordFile;
            recoveryPassword = c.recoveryPassword;
            recoveryNodeId = c.recoveryNodeId;
            recoveryLease = c.recoveryLease;
            zeroCopyIo = c.zeroCopyIo;
            ioBatchSize = c.ioBatchSize;
            idleTimeout = c.idleTimeout;
            scalingEnabled = c.scalingEnabled;
            minWorkers = c.minWorkers;
            maxWorkers = c.maxWorkers;
            scaleUpAfter = c.scaleUpAfter;
            scaleDownAfter = c.scaleDownAfter;
        }

        public Builder backendType(String v) { backendType = v; return this; }
        public Builder workerThreads(int v) { workerThreads = v; return this; }
        public Builder maxTasksPerLoop(int v) { maxTasksPerLoop = v; return this; }
        public Builder enableCpuAffinity(boolean v) { enableCpuAffinity = v; return this; }
        public Builder enableNumaAwareness(boolean v) { enableNumaAwareness = v; return this; }
        public Builder strategy(TaskSchedulingStrategy v) { strategy = v; return this; }
        public Builder customScheduler(String v) { customScheduler = v; return this; }
        public Builder shutdownTimeout(Duration v) { shutdownTimeout = v; return this; }
        public Builder enableRequestRecovery(boolean v) { enableRequestRecovery = v; return this; }
        public Builder recoveryBackend(String v) { recoveryBackend = v; return this; }
        public Builder recoveryPath(Path v) { recoveryPath = v; return this; }
        public Builder maxRecoveryAttempts(int v) { maxRecoveryAttempts = v; return this; }
        public Builder recoveryCompletedRetention(Duration v) { recoveryCompletedRetention = v; return this; }
        public Builder recoverySensitiveHeaders(List<String> v) { recoverySensitiveHeaders = v; return this; }
        public Builder recoveryEncryptionKeyFile(Path v) { recoveryEncryptionKeyFile = v; return this; }
        public Builder recoveryEncryptionKey(Secret v) { recoveryEncryptionKey = v; return this; }
        public Builder recoveryUrl(String v) { recoveryUrl = v; return this; }
        public Builder recoveryUser(String v) { recoveryUser = v; return this; }
        public Builder recoveryPasswordFile(Path v) { recoveryPasswordFile = v; return this; }
        public Builder recoveryPassword(Secret v) { recoveryPassword = v; return this; }
        public Builder recoveryNodeId(String v) { recoveryNodeId = v; return this; }
        public Builder recoveryLease(Duration v) { recoveryLease = v; return this; }
        public Builder zeroCopyIo(boolean v) { zeroCopyIo = v; return this; }
        public Builder ioBatchSize(int v) { ioBatchSize = v; return this; }
        public Builder idleTimeout(Duration v) { idleTimeout = v; return this; }
        public Builder scalingEnabled(boolean v) { scalingEnabled = v; return this; }
        public Builder minWorkers(int v) { minWorkers = v; return this; }
        public Builder maxWorkers(int v) { maxWorkers = v; return this; }
        public Builder scaleUpAfter(Duration v) { scaleUpAfter = v; return this; }
        public Builder scaleDownAfter(Duration v) { scaleDownAfter = v; return this; }

        public RuntimeConfig build() {
            return new RuntimeConfig(backendType, workerThreads, maxTasksPerLoop, enableCpuAffinity,
                    enableNumaAwareness, strategy, customScheduler, shutdownTimeout, enableRequestRecovery,
                    recoveryBackend, recoveryPath, maxRecoveryAttempts, recoveryCompletedRetention,
                    recoverySensitiveHeaders, recoveryEncryptionKeyFile, recoveryEncryptionKey, recoveryUrl, recoveryUser,
                    recoveryPasswordFile, recoveryPassword, recoveryNodeId, recoveryLease, zeroCopyIo, ioBatchSize,
                    idleTimeout, scalingEnabled, minWorkers, maxWorkers, scaleUpAfter, scaleDownAfter);
        }
    }
}
