package io.stellane.config;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.scheduler.TaskSchedulingStrategy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;

import static io.stellane.config.ConfigAssertions.assertConfigError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConfigLoaderTomlTest {

    @TempDir
    Path dir;

    @Test
    void defaultsAreTheSpecs() {
        RuntimeConfig c = RuntimeConfig.defaults();

        assertThat(c.backendType()).isEqualTo("auto");
        assertThat(c.workerThreads()).isEqualTo(Runtime.getRuntime().availableProcessors());
        assertThat(c.maxTasksPerLoop()).isEqualTo(1000);
        assertThat(c.enableCpuAffinity()).isFalse();
        assertThat(c.enableNumaAwareness()).isFalse();
        assertThat(c.strategy()).isEqualTo(TaskSchedulingStrategy.FIFO);
        assertThat(c.customScheduler()).isEqualTo("custom");
        assertThat(c.shutdownTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(c.enableRequestRecovery()).isFalse();
        assertThat(c.recoveryBackend()).isEqualTo("mmap");
        assertThat(c.recoveryPath()).isEqualTo(Path.of("/tmp/stellane_recovery"));
        assertThat(c.maxRecoveryAttempts()).isEqualTo(3);
        assertThat(c.zeroCopyIo()).isTrue();
        assertThat(c.ioBatchSize()).isEqualTo(32);
        assertThat(c.idleTimeout()).isEqualTo(Duration.ofMillis(100));
        assertThat(c.validate()).isSameAs(c);
    }

    @Test
    void readsTheSpecExampleExactly() throws Exception {
        RuntimeConfig c = ConfigLoader.fromToml(resource("spec-example.toml"));

        assertThat(c.backendType()).isEqualTo("io_uring");
        assertThat(c.workerThreads()).isEqualTo(8);
        assertThat(c.maxTasksPerLoop()).isEqualTo(500);
        assertThat(c.enableCpuAffinity()).isTrue();
        assertThat(c.enableNumaAwareness()).isTrue();
        assertThat(c.strategy()).isEqualTo(TaskSchedulingStrategy.WORK_STEALING);
        assertThat(c.customScheduler()).isEqualTo("custom");
        assertThat(c.shutdownTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(c.enableRequestRecovery()).isTrue();
        assertThat(c.recoveryBackend()).isEqualTo("rocksdb");
        assertThat(c.recoveryPath()).isEqualTo(Path.of("/var/log/stellane/recovery"));
        assertThat(c.maxRecoveryAttempts()).isEqualTo(5);
        assertThat(c.zeroCopyIo()).isTrue();
        assertThat(c.ioBatchSize()).isEqualTo(64);
        assertThat(c.idleTimeout()).isEqualTo(Duration.ofMillis(50));
    }

    @Test
    void fileAndStringGiveTheSameConfig() throws Exception {
        Path file = resource("spec-example.toml");
        assertThat(ConfigLoader.fromTomlString(Files.readString(file))).isEqualTo(ConfigLoader.fromToml(file));
    }

    @Test
    void partialFileKeepsTheOtherDefaults() throws IOException {
        Path file = write("""
                [runtime]
                worker_threads = 2
                [runtime.performance]
                idle_timeout = 5
                """);

        RuntimeConfig expected = RuntimeConfig.defaults().toBuilder()
                .workerThreads(2)
                .idleTimeout(Duration.ofMillis(5)) // a bare integer is milliseconds
                .build();
        assertThat(ConfigLoader.fromToml(file)).isEqualTo(expected);
    }

    @Test
    void emptyDocumentAndEmptyTablesAreTheDefaults() {
        assertThat(ConfigLoader.fromTomlString("")).isEqualTo(RuntimeConfig.defaults());
        assertThat(ConfigLoader.fromTomlString("[runtime]\n[runtime.recovery]\n[runtime.performance]\n"))
                .isEqualTo(RuntimeConfig.defaults());
    }

    @Test
    void dottedKeysAndInlineTablesAreTheSameAsSubTables() {
        RuntimeConfig c = ConfigLoader.fromTomlString("""
                [runtime]
                recovery.max_attempts = 7
                performance = { io_batch_size = 16 }
                """);
        assertThat(c.maxRecoveryAttempts()).isEqualTo(7);
        assertThat(c.ioBatchSize()).isEqualTo(16);
    }

    @Test
    void otherTablesAreIgnoredButReadableAsATree() throws Exception {
        Path file = resource("with-other-tables.toml");

        assertThat(ConfigLoader.fromToml(file))
                .isEqualTo(RuntimeConfig.defaults().toBuilder().workerThreads(3).build());

        JsonNode tree = ConfigLoader.readTomlTree(file);
        assertThat(tree.path("server").path("port").intValue()).isEqualTo(8080);
        assertThat(tree.path("database").path("pool").path("max").intValue()).isEqualTo(10);
        assertThat(ConfigLoader.readTomlTreeString("[server]\nport = 9090").path("server").path("port").intValue())
                .isEqualTo(9090);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            WORK_STEALING | WORK_STEALING
            Priority      | PRIORITY
            fifo          | FIFO
            affinity      | AFFINITY
            custom        | CUSTOM
            """)
    void strategyIsCaseInsensitive(String text, TaskSchedulingStrategy expected) {
        assertThat(ConfigLoader.fromTomlString("[runtime]\nstrategy = \"" + text + "\"").strategy()).isEqualTo(expected);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '\'', textBlock = """
            [runtime]\\nworkers = 4                    | runtime.workers                  | 4     | worker_threads, max_tasks_per_loop, enable_cpu_affinity, enable_numa_awareness, strategy, custom_scheduler, shutdown_timeout, recovery, performance
            [runtime.recovery]\\nattempts = 4          | runtime.recovery.attempts        | 4     | enabled, backend, path, max_attempts
            [runtime.performance]\\nzero_copy = false  | runtime.performance.zero_copy    | false | zero_copy_io, io_batch_size, idle_timeout
            [runtime.performance.extra]\\na = 1        | runtime.performance.extra        | {     | zero_copy_io, io_batch_size, idle_timeout
            """)
    void unknownKeyInEachTableListsTheAllowedKeys(String toml, String key, String value, String allowed) {
        assertConfigError(() -> ConfigLoader.fromTomlString(toml.replace("\\n", "\n")), key, value,
                "unknown key", allowed);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '\'', textBlock = """
            [runtime]\\nworker_threads = "8"                  | runtime.worker_threads             | "8"           | expected an integer or "auto", got a string
            [runtime]\\nmax_tasks_per_loop = 1.5              | runtime.max_tasks_per_loop         | 1.5           | expected an integer, got a float
            [runtime]\\nenable_cpu_affinity = "true"          | runtime.enable_cpu_affinity        | "true"        | expected a boolean
            [runtime]\\nenable_numa_awareness = 1             | runtime.enable_numa_awareness      | 1             | expected a boolean
            [runtime]\\nbackend = 5                           | runtime.backend                    | 5             | expected a string
            [runtime]\\nstrategy = 3                          | runtime.strategy                   | 3             | fifo, priority, affinity, work_stealing, custom
            [runtime]\\ncustom_scheduler = true               | runtime.custom_scheduler           | true          | expected a string
            [runtime]\\nshutdown_timeout = 1.5                | runtime.shutdown_timeout           | 1.5           | expected a duration
            [runtime]\\nshutdown_timeout = [1]                | runtime.shutdown_timeout           | [1]           | got an array
            [runtime.recovery]\\nenabled = "yes"              | runtime.recovery.enabled           | "yes"         | expected a boolean (true or false)
            [runtime.recovery]\\npath = 5                     | runtime.recovery.path              | 5             | expected a path string
            [runtime.recovery]\\nmax_attempts = 99999999999   | runtime.recovery.max_attempts      | 99999999999   | fits in 32 bits
            [runtime.performance]\\nio_batch_size = {a = 1}   | runtime.performance.io_batch_size  | {"a":1}       | got a table
            [runtime.performance]\\nidle_timeout = true       | runtime.performance.idle_timeout   | true          | expected a duration
            runtime = 5                                       | runtime                            | 5             | expected a table
            [runtime]\\nrecovery = "on"                       | runtime.recovery                   | "on"          | expected a table with keys enabled, backend, path, max_attempts
            [[runtime.performance]]\\nio_batch_size = 1       | runtime.performance                | [             | expected a table
            """)
    void wrongTypeNamesKeyValueAndExpectedType(String toml, String key, String value, String expected) {
        assertConfigError(() -> ConfigLoader.fromTomlString(toml.replace("\\n", "\n")), key, value, expected);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '\'', textBlock = """
            [runtime]\\nworker_threads = 0                     | runtime.worker_threads            | 0          | from 1 to 1024
            [runtime]\\nworker_threads = 1025                  | runtime.worker_threads            | 1025       | from 1 to 1024
            [runtime]\\nmax_tasks_per_loop = 0                 | runtime.max_tasks_per_loop        | 0          | from 1 to 1000000
            [runtime]\\nmax_tasks_per_loop = 1000001           | runtime.max_tasks_per_loop        | 1000001    | from 1 to 1000000
            [runtime.recovery]\\nmax_attempts = 0              | runtime.recovery.max_attempts     | 0          | from 1 to 100
            [runtime.recovery]\\nmax_attempts = 101            | runtime.recovery.max_attempts     | 101        | from 1 to 100
            [runtime.performance]\\nio_batch_size = 0          | runtime.performance.io_batch_size | 0          | from 1 to 4096
            [runtime.performance]\\nio_batch_size = 4097       | runtime.performance.io_batch_size | 4097       | from 1 to 4096
            [runtime.performance]\\nidle_timeout = "999us"     | runtime.performance.idle_timeout  | "999us"    | from 1ms to 60s
            [runtime.performance]\\nidle_timeout = "61s"       | runtime.performance.idle_timeout  | "61s"      | from 1ms to 60s
            [runtime]\\nshutdown_timeout = -1                  | runtime.shutdown_timeout          | "-1ms"     | from 0s to 1h
            [runtime]\\nshutdown_timeout = "3601s"             | runtime.shutdown_timeout          | "3601s"    | from 0s to 1h
            [runtime]\\nbackend = ""                           | runtime.backend                   | ""         | non-blank name of lowercase letters, digits
            [runtime]\\nbackend = "IO_URING"                   | runtime.backend                   | "IO_URING" | non-blank name of lowercase letters, digits
            [runtime]\\nbackend = "io uring"                   | runtime.backend                   | "io uring" | non-blank name of lowercase letters, digits
            [runtime.recovery]\\nbackend = "rocks.db"          | runtime.recovery.backend          | "rocks.db" | non-blank name of lowercase letters, digits
            [runtime.recovery]\\nbackend = " "                 | runtime.recovery.backend          | " "        | non-blank name of lowercase letters, digits
            [runtime]\\ncustom_scheduler = "  "                | runtime.custom_scheduler          | "  "       | non-blank scheduler name
            [runtime.recovery]\\npath = ""                     | runtime.recovery.path             | ""         | non-empty path
            [runtime.recovery]\\ncompleted_retention = "999ms" | runtime.recovery.completed_retention | "999ms" | from 1s to 24h
            [runtime.recovery]\\ncompleted_retention = "25h" | runtime.recovery.completed_retention | "25h"   | from 1s to 24h
            [runtime.recovery]\\nsensitive_headers = ["a b"] | runtime.recovery.sensitive_headers | ["a b"] | HTTP header names
            """)
    void outOfRangeNamesKeyValueAndRange(String toml, String key, String value, String allowed) {
        assertConfigError(() -> ConfigLoader.fromTomlString(toml.replace("\\n", "\n")), key, value, allowed);
    }

    @Test
    void boundsAreInclusive() {
        RuntimeConfig low = ConfigLoader.fromTomlString("""
                [runtime]
                worker_threads = 1
                max_tasks_per_loop = 1
                shutdown_timeout = "0s"
                [runtime.recovery]
                max_attempts = 1
                [runtime.performance]
                io_batch_size = 1
                idle_timeout = "1ms"
                """);
        RuntimeConfig high = ConfigLoader.fromTomlString("""
                [runtime]
                worker_threads = 1024
                max_tasks_per_loop = 1000000
                shutdown_timeout = "1h"
                [runtime.recovery]
                max_attempts = 100
                [runtime.performance]
                io_batch_size = 4096
                idle_timeout = "60s"
                """);
        assertThat(low.workerThreads() + low.maxTasksPerLoop() + low.maxRecoveryAttempts() + low.ioBatchSize()).isEqualTo(4);
        assertThat(low.shutdownTimeout()).isZero();
        assertThat(high.workerThreads()).isEqualTo(1024);
        assertThat(high.idleTimeout()).isEqualTo(Duration.ofSeconds(60));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            runtime.shutdown_timeout         | shutdown_timeout = "30 seconds" | "30 seconds"
            runtime.shutdown_timeout         | shutdown_timeout = "30"         | "30"
            runtime.performance.idle_timeout | performance.idle_timeout = "1.5ns" | "1.5ns"
            """)
    void badDurationNamesKeyValueAndAcceptedForms(String key, String line, String value) {
        assertConfigError(() -> ConfigLoader.fromTomlString("[runtime]\n" + line), key, value,
                "ns, us, ms, s, m or h", "50ms", "1.5s");
    }

    @Test
    void badStrategyListsTheStrategies() {
        assertConfigError(() -> ConfigLoader.fromTomlString("[runtime]\nstrategy = \"round_robin\""),
                "runtime.strategy", "\"round_robin\"", "fifo, priority, affinity, work_stealing, custom");
    }

    @Test
    void syntaxErrorInAFileNamesTheFileAndLine() throws IOException {
        Path file = write("[runtime]\nworker_threads = 4\nmax_tasks_per_loop = \n");

        assertThatThrownBy(() -> ConfigLoader.fromToml(file))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("TOML syntax error at line 3")
                .hasMessageContaining("Newline not permitted");
        assertThatThrownBy(() -> ConfigLoader.readTomlTree(file))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("line 3");
    }

    @Test
    void syntaxErrorInAStringNamesTheLine() {
        assertThatThrownBy(() -> ConfigLoader.readTomlTreeString("[server]\nport = 1\nport = 2"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("<toml string>")
                .hasMessageContaining("line 3")
                .hasMessageContaining("Duplicate key");
    }

    @Test
    void syntaxErrorsInOtherTablesAreStillErrors() {
        // a broken [server] table breaks the whole document, so the runtime loader cannot skip it
        assertThatThrownBy(() -> ConfigLoader.fromTomlString("[server\n[runtime]\nworker_threads = 2"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("line 1");
    }

    @Test
    void missingFileNamesTheFile() {
        Path missing = dir.resolve("nope.toml");

        assertThatThrownBy(() -> ConfigLoader.fromToml(missing))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(missing.toString())
                .hasCauseInstanceOf(NoSuchFileException.class)
                .extracting(e -> ((ConfigException) e).key()).isEqualTo(missing.toString());
    }

    private Path write(String toml) throws IOException {
        return Files.writeString(dir.resolve("stellane.toml"), toml);
    }

    private static Path resource(String name) throws URISyntaxException {
        return Path.of(ConfigLoaderTomlTest.class.getResource("/config/" + name).toURI());
    }

    @Test
    void theSharedStoresKeysAreCheckedAndItsPasswordNeverComesFromTheFile() {
        RuntimeConfig c = ConfigLoader.fromTomlString("""
                [runtime.recovery]
                backend = "postgres"
                url = "jdbc:postgresql://127.0.0.1:5432/app"
                user = "app"
                node_id = "web-1"
                lease = "5s"
                """);
        assertThat(c.recoveryUrl()).isEqualTo("jdbc:postgresql://127.0.0.1:5432/app");
        assertThat(c.recoveryNodeId()).isEqualTo("web-1");
        assertThat(c.recoveryLease()).hasSeconds(5);
        assertThatThrownBy(() -> ConfigLoader.fromTomlString("[runtime.recovery]\nurl = \"mysql://db/x\"").validate())
                .isInstanceOf(ConfigException.class).hasMessageContaining("runtime.recovery.url")
                .hasMessageContaining("mysql://db/x").hasMessageContaining("jdbc:postgresql://");
        assertThatThrownBy(() -> ConfigLoader.fromTomlString("[runtime.recovery]\npassword = \"hunter2\""))
                .isInstanceOf(ConfigException.class).hasMessageContaining("runtime.recovery.password")
                .hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> ConfigLoader.fromTomlString("[runtime.recovery]\nnode_id = \"Web 1\"").validate())
                .isInstanceOf(ConfigException.class).hasMessageContaining("runtime.recovery.node_id");
        assertThatThrownBy(() -> ConfigLoader.fromTomlString("[runtime.recovery]\nlease = \"100ms\"").validate())
                .isInstanceOf(ConfigException.class).hasMessageContaining("runtime.recovery.lease").hasMessageContaining("1s to 10m");
    }
}
