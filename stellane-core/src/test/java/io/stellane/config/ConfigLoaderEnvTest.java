package io.stellane.config;

import io.stellane.scheduler.TaskSchedulingStrategy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static io.stellane.config.ConfigAssertions.assertConfigError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConfigLoaderEnvTest {

    private static final RuntimeConfig DEFAULTS = RuntimeConfig.defaults();
    /** 32 bytes in base64, as {@code openssl rand -base64 32} prints them. */
    private static final String KEY = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";

    @TempDir
    Path dir;

    @Test
    void everyKeyHasAVariable() {
        Map<String, String> env = Map.ofEntries(
                Map.entry("STELLANE_RUNTIME_BACKEND", "epoll"),
                Map.entry("STELLANE_RUNTIME_WORKER_THREADS", "6"),
                Map.entry("STELLANE_RUNTIME_MAX_TASKS_PER_LOOP", "250"),
                Map.entry("STELLANE_RUNTIME_ENABLE_CPU_AFFINITY", "TRUE"),
                Map.entry("STELLANE_RUNTIME_ENABLE_NUMA_AWARENESS", "True"),
                Map.entry("STELLANE_RUNTIME_STRATEGY", "priority"),
                Map.entry("STELLANE_RUNTIME_CUSTOM_SCHEDULER", "mine"),
                Map.entry("STELLANE_RUNTIME_SHUTDOWN_TIMEOUT", "1m"),
                Map.entry("STELLANE_RUNTIME_RECOVERY_ENABLED", "true"),
                Map.entry("STELLANE_RUNTIME_RECOVERY_BACKEND", "rocksdb"),
                Map.entry("STELLANE_RUNTIME_RECOVERY_PATH", "/data/recovery"),
                Map.entry("STELLANE_RUNTIME_RECOVERY_MAX_ATTEMPTS", "9"),
                Map.entry("STELLANE_RUNTIME_RECOVERY_COMPLETED_RETENTION", "30s"),
                Map.entry("STELLANE_RUNTIME_RECOVERY_SENSITIVE_HEADERS", " X-Api-Key, X-Session ,"),
                Map.entry("STELLANE_RUNTIME_RECOVERY_ENCRYPTION_KEY", KEY),
                Map.entry("STELLANE_RUNTIME_PERFORMANCE_ZERO_COPY_IO", "false"),
                Map.entry("STELLANE_RUNTIME_PERFORMANCE_IO_BATCH_SIZE", "128"),
                Map.entry("STELLANE_RUNTIME_PERFORMANCE_IDLE_TIMEOUT", "1500us"),
                Map.entry("STELLANE_RUNTIME_SCALING_ENABLED", "true"),
                Map.entry("STELLANE_RUNTIME_SCALING_MIN_WORKERS", "2"),
                Map.entry("STELLANE_RUNTIME_SCALING_MAX_WORKERS", "7"),
                Map.entry("STELLANE_RUNTIME_SCALING_SCALE_UP_AFTER", "2s"),
                Map.entry("STELLANE_RUNTIME_SCALING_SCALE_DOWN_AFTER", "1m"));

        RuntimeConfig c = ConfigLoader.applyEnvironment(DEFAULTS, env);

        assertThat(c).isEqualTo(new RuntimeConfig("epoll", 6, 250, true, true, TaskSchedulingStrategy.PRIORITY,
                "mine", Duration.ofMinutes(1), true, "rocksdb", Path.of("/data/recovery"), 9, Duration.ofSeconds(30),
                List.of("X-Api-Key", "X-Session"), null, Secret.of(KEY), null, null, null, null, null, Duration.ofSeconds(10), false, 128, Duration.ofNanos(1_500_000),
                true, 2, 7, Duration.ofSeconds(2), Duration.ofMinutes(1)));
    }

    @Test
    void emptyEnvironmentChangesNothing() {
        RuntimeConfig base = DEFAULTS.toBuilder().workerThreads(5).build();
        assertThat(ConfigLoader.applyEnvironment(base, Map.of())).isEqualTo(base);
    }

    @Test
    void workersIsAnAliasOfWorkerThreads() {
        assertThat(ConfigLoader.applyEnvironment(DEFAULTS, Map.of("STELLANE_RUNTIME_WORKERS", "12")).workerThreads())
                .isEqualTo(12);
        assertThat(ConfigLoader.applyEnvironment(DEFAULTS,
                Map.of("STELLANE_RUNTIME_WORKERS", "12", "STELLANE_RUNTIME_WORKER_THREADS", "12")).workerThreads())
                .isEqualTo(12);
    }

    @Test
    void aliasAndNameWithDifferentValuesIsAnError() {
        assertConfigError(() -> ConfigLoader.applyEnvironment(DEFAULTS,
                        Map.of("STELLANE_RUNTIME_WORKERS", "12", "STELLANE_RUNTIME_WORKER_THREADS", "4")),
                "STELLANE_RUNTIME_WORKERS", "\"12\"", "conflicts with STELLANE_RUNTIME_WORKER_THREADS=4");
    }

    @Test
    void bareIntegerDurationIsMilliseconds() {
        assertThat(ConfigLoader.applyEnvironment(DEFAULTS, Map.of("STELLANE_RUNTIME_SHUTDOWN_TIMEOUT", "1500"))
                .shutdownTimeout()).isEqualTo(Duration.ofMillis(1500));
    }

    @Test
    void otherVariablesAreIgnored() {
        Map<String, String> env = Map.of(
                "STELLANE_SERVER_PORT", "8080",
                "STELLANE_RUNTIMEX", "1",
                "STELLANE_RUNTIME", "1",
                "stellane_runtime_bogus", "1",
                "PATH", "/usr/bin");
        assertThat(ConfigLoader.applyEnvironment(DEFAULTS, env)).isEqualTo(DEFAULTS);
    }

    @Test
    void unknownRuntimeVariableListsTheKnownOnes() {
        assertConfigError(() -> ConfigLoader.applyEnvironment(DEFAULTS, Map.of("STELLANE_RUNTIME_WORKER_THREAD", "4")),
                "STELLANE_RUNTIME_WORKER_THREAD", "\"4\"", "unknown variable",
                "STELLANE_RUNTIME_WORKER_THREADS", "STELLANE_RUNTIME_WORKERS",
                "STELLANE_RUNTIME_PERFORMANCE_IDLE_TIMEOUT");
    }

    @ParameterizedTest
    @ValueSource(strings = {"yes", "1", "on", "", "tru"})
    void badBooleanNamesVariableValueAndAllowedValues(String value) {
        assertConfigError(() -> ConfigLoader.applyEnvironment(DEFAULTS, Map.of("STELLANE_RUNTIME_RECOVERY_ENABLED", value)),
                "STELLANE_RUNTIME_RECOVERY_ENABLED", '"' + value + '"', "true or false");
    }

    @Test
    void badIntegerNamesTheVariable() {
        assertConfigError(() -> ConfigLoader.applyEnvironment(DEFAULTS, Map.of("STELLANE_RUNTIME_WORKER_THREADS", "eight")),
                "STELLANE_RUNTIME_WORKER_THREADS", "\"eight\"", "expected an integer");
    }

    @Test
    void badDurationAndStrategyNameTheVariable() {
        assertConfigError(() -> ConfigLoader.applyEnvironment(DEFAULTS,
                        Map.of("STELLANE_RUNTIME_PERFORMANCE_IDLE_TIMEOUT", "soon")),
                "STELLANE_RUNTIME_PERFORMANCE_IDLE_TIMEOUT", "\"soon\"", "ns, us, ms, s, m or h");
        assertConfigError(() -> ConfigLoader.applyEnvironment(DEFAULTS, Map.of("STELLANE_RUNTIME_STRATEGY", "lifo")),
                "STELLANE_RUNTIME_STRATEGY", "\"lifo\"", "fifo, priority, affinity, work_stealing, custom");
    }

    @Test
    void outOfRangeValueFromTheEnvironmentNamesTheVariable() {
        assertConfigError(() -> ConfigLoader.applyEnvironment(DEFAULTS, Map.of("STELLANE_RUNTIME_WORKERS", "0")),
                "STELLANE_RUNTIME_WORKERS", "\"0\"", "from 1 to 1024");
        assertConfigError(() -> ConfigLoader.applyEnvironment(DEFAULTS,
                        Map.of("STELLANE_RUNTIME_PERFORMANCE_IDLE_TIMEOUT", "2m")),
                "STELLANE_RUNTIME_PERFORMANCE_IDLE_TIMEOUT", "\"2m\"", "from 1ms to 60s");
        assertConfigError(() -> ConfigLoader.applyEnvironment(DEFAULTS, Map.of("STELLANE_RUNTIME_BACKEND", "")),
                "STELLANE_RUNTIME_BACKEND", "\"\"", "non-blank name");
    }

    @Test
    void invalidBaseIsRejectedEvenWithoutVariables() {
        RuntimeConfig bad = DEFAULTS.toBuilder().ioBatchSize(0).build();
        assertConfigError(() -> ConfigLoader.applyEnvironment(bad, Map.of()),
                "runtime.performance.io_batch_size", "0", "from 1 to 4096");
    }

    @Test
    void environmentOverridesTheFile() throws IOException {
        Path file = Files.writeString(dir.resolve("stellane.toml"), """
                [runtime]
                worker_threads = 8
                backend = "nio"
                [runtime.recovery]
                enabled = true
                """);

        RuntimeConfig c = ConfigLoader.load(file, Map.of(
                "STELLANE_RUNTIME_WORKERS", "2",
                "STELLANE_RUNTIME_RECOVERY_ENABLED", "false"));

        assertThat(c.workerThreads()).isEqualTo(2);
        assertThat(c.enableRequestRecovery()).isFalse();
        assertThat(c.backendType()).isEqualTo("nio"); // from the file, not overridden
        assertThat(c.maxTasksPerLoop()).isEqualTo(1000); // neither: the default
    }

    @Test
    void environmentCanFixAnOutOfRangeFileValue() throws IOException {
        // validation runs once, after both sources, so deployments can patch a shared file
        Path file = Files.writeString(dir.resolve("stellane.toml"), "[runtime]\nworker_threads = 0\n");

        assertThat(ConfigLoader.load(file, Map.of("STELLANE_RUNTIME_WORKER_THREADS", "3")).workerThreads()).isEqualTo(3);
        assertConfigError(() -> ConfigLoader.load(file, Map.of()), "runtime.worker_threads", "0", "from 1 to 1024");
    }

    @Test
    void theEncryptionKeyIsNeverShownNorReadFromAFile() throws IOException {
        RuntimeConfig c = ConfigLoader.applyEnvironment(DEFAULTS, Map.of("STELLANE_RUNTIME_RECOVERY_ENCRYPTION_KEY", KEY));
        assertThat(c.recoveryEncryptionKey().reveal()).isEqualTo(KEY);
        assertThat(c.toString()).doesNotContain(KEY).contains("recoveryEncryptionKey=" + Secret.HIDDEN);

        String shortKey = "c2hvcnQ=";
        assertThatThrownBy(() -> ConfigLoader.applyEnvironment(DEFAULTS,
                Map.of("STELLANE_RUNTIME_RECOVERY_ENCRYPTION_KEY", shortKey)))
                .hasMessageNotContaining(shortKey);
        assertConfigError(() -> ConfigLoader.applyEnvironment(DEFAULTS,
                        Map.of("STELLANE_RUNTIME_RECOVERY_ENCRYPTION_KEY", shortKey)),
                "STELLANE_RUNTIME_RECOVERY_ENCRYPTION_KEY", "\"" + Secret.HIDDEN + "\"", "base64-encoded 32-byte key");

        Path file = Files.writeString(dir.resolve("stellane.toml"),
                "[runtime.recovery]\nencryption_key = \"" + KEY + "\"\n");
        assertThatThrownBy(() -> ConfigLoader.load(file, Map.of())).hasMessageNotContaining(KEY);
        assertConfigError(() -> ConfigLoader.load(file, Map.of()), "runtime.recovery.encryption_key", "\"" + Secret.HIDDEN + "\"",
                "never read from a TOML file", "STELLANE_RUNTIME_RECOVERY_ENCRYPTION_KEY", "encryption_key_file");
    }

    @Test
    void aKeyFileAndAKeyInTheEnvironmentConflict() throws IOException {
        Path file = Files.writeString(dir.resolve("stellane.toml"),
                "[runtime.recovery]\nencryption_key_file = \"/etc/stellane/journal.key\"\n");
        assertThat(ConfigLoader.load(file, Map.of()).recoveryEncryptionKeyFile())
                .isEqualTo(Path.of("/etc/stellane/journal.key"));
        assertConfigError(() -> ConfigLoader.load(file, Map.of("STELLANE_RUNTIME_RECOVERY_ENCRYPTION_KEY", KEY)),
                "runtime.recovery.encryption_key_file", "\"/etc/stellane/journal.key\"",
                "conflicts with STELLANE_RUNTIME_RECOVERY_ENCRYPTION_KEY", "set only one");
    }

    @Test
    void sensitiveHeadersAreHeaderNames() {
        assertConfigError(() -> ConfigLoader.applyEnvironment(DEFAULTS,
                        Map.of("STELLANE_RUNTIME_RECOVERY_SENSITIVE_HEADERS", "X-Api-Key, X Token")),
                "STELLANE_RUNTIME_RECOVERY_SENSITIVE_HEADERS", "\"X-Api-Key, X Token\"", "HTTP header names");
    }

    @Test
    void loadWithoutAFileIsDefaultsPlusEnvironment() {
        assertThat(ConfigLoader.load(null, Map.of("STELLANE_RUNTIME_BACKEND", "epoll")))
                .isEqualTo(DEFAULTS.toBuilder().backendType("epoll").build());
    }
}
