package io.stellane.config;

import com.fasterxml.jackson.databind.JsonNode;

import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * One field of {@link RuntimeConfig}: its TOML key, environment names, type, allowed values and accessors.
 * {@link #ALL} is the single table that the TOML reader, the environment reader and the validator all
 * walk, so a new field is added in one line. Immutable, hence thread-safe.
 *
 * @param path    the full TOML key, e.g. {@code runtime.performance.io_batch_size}
 * @param type    how the value is parsed
 * @param valid   the range check applied by {@link RuntimeConfig#validate()}
 * @param allowed what {@code valid} accepts, in words, for the error message
 * @param aliases extra environment variable names besides {@link #envName()}
 */
record ConfigKey<T>(
        String path,
        ValueType<T> type,
        Predicate<T> valid,
        String allowed,
        Function<RuntimeConfig, T> getter,
        BiConsumer<RuntimeConfig.Builder, T> setter,
        List<String> aliases) {

    private static final Pattern NAME = Pattern.compile("[a-z0-9_\\-]+");
    private static final String NAME_ALLOWED = "a non-blank name of lowercase letters, digits, '_' and '-'";
    /** An HTTP header name (RFC 9110 token); checked here only, never per request. */
    private static final Pattern HEADER_NAME = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]+");
    static final String ENCRYPTION_KEY = "runtime.recovery.encryption_key";
    static final String ENCRYPTION_KEY_FILE = "runtime.recovery.encryption_key_file";
    static final String PASSWORD = "runtime.recovery.password";
    static final String PASSWORD_FILE = "runtime.recovery.password_file";

    static final List<ConfigKey<?>> ALL = List.of(
            key("runtime.backend", ValueType.STRING, ConfigKey::isName, NAME_ALLOWED,
                    RuntimeConfig::backendType, RuntimeConfig.Builder::backendType),
            key("runtime.worker_threads", ValueType.WORKERS,
                    v -> v == RuntimeConfig.AUTO_WORKERS || v >= 1 && v <= 1024, "an integer from 1 to 1024, or \"auto\"",
                    RuntimeConfig::workerThreads, RuntimeConfig.Builder::workerThreads,
                    "STELLANE_RUNTIME_WORKERS"),
            key("runtime.max_tasks_per_loop", ValueType.INTEGER, between(1, 1_000_000), "an integer from 1 to 1000000",
                    RuntimeConfig::maxTasksPerLoop, RuntimeConfig.Builder::maxTasksPerLoop),
            key("runtime.enable_cpu_affinity", ValueType.BOOLEAN, v -> true, "true or false",
                    RuntimeConfig::enableCpuAffinity, RuntimeConfig.Builder::enableCpuAffinity),
            key("runtime.enable_numa_awareness", ValueType.BOOLEAN, v -> true, "true or false",
                    RuntimeConfig::enableNumaAwareness, RuntimeConfig.Builder::enableNumaAwareness),
            key("runtime.strategy", ValueType.STRATEGY, v -> true, ValueType.STRATEGY.expected(),
                    RuntimeConfig::strategy, RuntimeConfig.Builder::strategy),
            key("runtime.custom_scheduler", ValueType.STRING, v -> !v.isBlank(), "a non-blank scheduler name",
                    RuntimeConfig::customScheduler, RuntimeConfig.Builder::customScheduler),
            key("runtime.shutdown_timeout", ValueType.DURATION, within(Duration.ZERO, Duration.ofHours(1)),
                    "a duration from 0s to 1h", RuntimeConfig::shutdownTimeout, RuntimeConfig.Builder::shutdownTimeout),
            key("runtime.recovery.enabled", ValueType.BOOLEAN, v -> true, "true or false",
                    RuntimeConfig::enableRequestRecovery, RuntimeConfig.Builder::enableRequestRecovery),
            key("runtime.recovery.backend", ValueType.STRING, ConfigKey::isName, NAME_ALLOWED,
                    RuntimeConfig::recoveryBackend, RuntimeConfig.Builder::recoveryBackend),
            key("runtime.recovery.path", ValueType.PATH, p -> !p.toString().isEmpty(), "a non-empty path",
                    RuntimeConfig::recoveryPath, RuntimeConfig.Builder::recoveryPath),
            key("runtime.recovery.max_attempts", ValueType.INTEGER, between(1, 100), "an integer from 1 to 100",
                    RuntimeConfig::maxRecoveryAttempts, RuntimeConfig.Builder::maxRecoveryAttempts),
            key("runtime.recovery.completed_retention", ValueType.DURATION,
                    within(Duration.ofSeconds(1), Duration.ofHours(24)), "a duration from 1s to 24h",
                    RuntimeConfig::recoveryCompletedRetention, RuntimeConfig.Builder::recoveryCompletedRetention),
            key("runtime.recovery.sensitive_headers", ValueType.STRING_LIST,
                    l -> l.stream().allMatch(h -> HEADER_NAME.matcher(h).matches()),
                    "a list of HTTP header names (letters, digits and !#$%&'*+-.^_`|~), e.g. [\"X-Api-Key\"]",
                    RuntimeConfig::recoverySensitiveHeaders, RuntimeConfig.Builder::recoverySensitiveHeaders),
            key(ENCRYPTION_KEY_FILE, ValueType.PATH, p -> p == null || !p.toString().isEmpty(),
                    "a non-empty path of a file that only its owner can read (mode 0600 or 0400), holding a"
                            + " base64-encoded 32-byte key",
                    RuntimeConfig::recoveryEncryptionKeyFile, RuntimeConfig.Builder::recoveryEncryptionKeyFile),
            key(ENCRYPTION_KEY, ValueType.SECRET, k -> k == null || isAesKey(k.reveal()),
                    "a base64-encoded 32-byte key (e.g. from openssl rand -base64 32), from the environment"
                            + " only; a TOML file names a key file with encryption_key_file instead",
                    RuntimeConfig::recoveryEncryptionKey, RuntimeConfig.Builder::recoveryEncryptionKey),
            key("runtime.recovery.url", ValueType.STRING, u -> u == null || u.startsWith("jdbc:postgresql://"),
                    "a PostgreSQL JDBC URL, jdbc:postgresql://host:port/database (backend \"postgres\")",
                    RuntimeConfig::recoveryUrl, RuntimeConfig.Builder::recoveryUrl),
            key("runtime.recovery.user", ValueType.STRING, u -> u == null || !u.isBlank(), "a non-blank user name",
                    RuntimeConfig::recoveryUser, RuntimeConfig.Builder::recoveryUser),
            key(PASSWORD_FILE, ValueType.PATH, p -> p == null || !p.toString().isEmpty(),
                    "a non-empty path of a file that only its owner can read (mode 0600 or 0400), holding the"
                            + " database password",
                    RuntimeConfig::recoveryPasswordFile, RuntimeConfig.Builder::recoveryPasswordFile),
            key(PASSWORD, ValueType.SECRET, p -> true,
                    "the database password, from the environment only; a TOML file names a password_file instead",
                    RuntimeConfig::recoveryPassword, RuntimeConfig.Builder::recoveryPassword),
            key("runtime.recovery.node_id", ValueType.STRING, n -> n == null || isName(n) && n.length() <= 64,
                    NAME_ALLOWED + ", at most 64 characters",
                    RuntimeConfig::recoveryNodeId, RuntimeConfig.Builder::recoveryNodeId),
            key("runtime.recovery.lease", ValueType.DURATION, within(Duration.ofSeconds(1), Duration.ofMinutes(10)),
                    "a duration from 1s to 10m", RuntimeConfig::recoveryLease, RuntimeConfig.Builder::recoveryLease),
            key("runtime.performance.zero_copy_io", ValueType.BOOLEAN, v -> true, "true or false",
                    RuntimeConfig::zeroCopyIo, RuntimeConfig.Builder::zeroCopyIo),
            key("runtime.performance.io_batch_size", ValueType.INTEGER, between(1, 4096), "an integer from 1 to 4096",
                    RuntimeConfig::ioBatchSize, RuntimeConfig.Builder::ioBatchSize),
            key("runtime.performance.idle_timeout", ValueType.DURATION,
                    within(Duration.ofMillis(1), Duration.ofSeconds(60)), "a duration from 1ms to 60s",
                    RuntimeConfig::idleTimeout, RuntimeConfig.Builder::idleTimeout),
            key("runtime.scaling.enabled", ValueType.BOOLEAN, v -> true, "true or false",
                    RuntimeConfig::scalingEnabled, RuntimeConfig.Builder::scalingEnabled),
            key("runtime.scaling.min_workers", ValueType.INTEGER, between(1, 1024), "an integer from 1 to 1024",
                    RuntimeConfig::minWorkers, RuntimeConfig.Builder::minWorkers),
            key("runtime.scaling.max_workers", ValueType.INTEGER, between(1, 1024),
                    "an integer from 1 to 1024, at least min_workers",
                    RuntimeConfig::maxWorkers, RuntimeConfig.Builder::maxWorkers),
            key("runtime.scaling.scale_up_after", ValueType.DURATION,
                    within(Duration.ofMillis(100), Duration.ofHours(1)), "a duration from 100ms to 1h",
                    RuntimeConfig::scaleUpAfter, RuntimeConfig.Builder::scaleUpAfter),
            key("runtime.scaling.scale_down_after", ValueType.DURATION,
                    within(Duration.ofMillis(100), Duration.ofHours(1)), "a duration from 100ms to 1h",
                    RuntimeConfig::scaleDownAfter, RuntimeConfig.Builder::scaleDownAfter));

    ConfigKey {
        aliases = List.copyOf(aliases);
    }

    /** {@code STELLANE_} + the TOML key upper-cased, dots and dashes turned into underscores. */
    String envName() {
        return "STELLANE_" + path.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    /** The key's name inside its table, e.g. {@code io_batch_size}. */
    String leaf() {
        return path.substring(path.lastIndexOf('.') + 1);
    }

    /** The TOML table holding the key, e.g. {@code runtime.performance}. */
    String table() {
        return path.substring(0, path.lastIndexOf('.'));
    }

    /**
     * Keys a running runtime cannot take ({@code Runtime.updateConfig} refuses them, or what they
     * configure is opened once: the journal, the listeners' buffer allocator): a reload reports them as
     * needing a restart. Prefixes end with a dot.
     */
    private static final List<String> RESTART_ONLY = List.of("runtime.backend", "runtime.strategy",
            "runtime.custom_scheduler", "runtime.enable_cpu_affinity", "runtime.enable_numa_awareness",
            "runtime.recovery.", "runtime.performance.zero_copy_io");

    boolean live() {
        return RESTART_ONLY.stream().noneMatch(p -> p.endsWith(".") ? path.startsWith(p) : path.equals(p));
    }

    /** This key's change from {@code a} to {@code b}, or null when its value is the same. */
    ConfigChange change(RuntimeConfig a, RuntimeConfig b) {
        T x = getter.apply(a);
        T y = getter.apply(b);
        return java.util.Objects.equals(x, y) ? null : new ConfigChange(path, shown(x), shown(y));
    }

    private String shown(T v) {
        Object d = v == null ? "(none)" : type.display(v);
        return d instanceof String str ? '"' + str + '"' : String.valueOf(d);
    }

    /** Copies this key's value from {@code from} into the builder. */
    void copy(RuntimeConfig from, RuntimeConfig.Builder to) {
        setter.accept(to, getter.apply(from));
    }

    static Optional<ConfigKey<?>> byPath(String path) {
        return ALL.stream().filter(k -> k.path.equals(path)).findFirst();
    }

    /** Parses a TOML value and stores it in the builder. */
    void applyToml(RuntimeConfig.Builder b, JsonNode node) {
        if (type.secret()) {
            throw new ConfigException(path, Secret.HIDDEN, "never read from a TOML file, where it would sit in"
                    + " clear text: set the environment variable " + envName() + " instead; allowed: " + allowed);
        }
        setter.accept(b, type.fromToml(path, node));
    }

    /**
     * Parses an environment value, range-checks it and stores it in the builder. Checked here rather than
     * only by the validator so that the error names the variable the user set, not the TOML key.
     */
    void applyText(RuntimeConfig.Builder b, String variable, String text) {
        T value = type.fromText(variable, text);
        if (!valid.test(value)) {
            throw new ConfigException(variable, type.secret() ? Secret.HIDDEN : text, allowed);
        }
        setter.accept(b, value);
    }

    /** Throws if the config's value for this key is out of range. */
    void check(RuntimeConfig config) {
        T value = getter.apply(config);
        if (!valid.test(value)) {
            throw new ConfigException(path, type.display(value), allowed);
        }
    }

    private static <T> ConfigKey<T> key(String path, ValueType<T> type, Predicate<T> valid, String allowed,
                                        Function<RuntimeConfig, T> getter,
                                        BiConsumer<RuntimeConfig.Builder, T> setter, String... aliases) {
        return new ConfigKey<>(path, type, valid, allowed, getter, setter, List.of(aliases));
    }

    private static boolean isName(String s) {
        return NAME.matcher(s).matches();
    }

    /** Whether {@code text} is base64 for exactly 32 bytes (an AES-256 key); surrounding blanks allowed. */
    static boolean isAesKey(String text) {
        try {
            return Base64.getDecoder().decode(text.strip()).length == 32;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static Predicate<Integer> between(int min, int max) {
        return v -> v >= min && v <= max;
    }

    private static Predicate<Duration> within(Duration min, Duration max) {
        return v -> v.compareTo(min) >= 0 && v.compareTo(max) <= 0;
    }
}
