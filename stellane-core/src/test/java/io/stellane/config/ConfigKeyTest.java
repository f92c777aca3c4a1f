package io.stellane.config;

import org.junit.jupiter.api.Test;

import java.lang.reflect.RecordComponent;
import java.util.Arrays;
import java.util.Objects;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** The key table is the single source for TOML, environment and validation; it must cover the record. */
class ConfigKeyTest {

    @Test
    void everyRecordComponentHasExactlyOneKey() {
        // Each key's setter must change exactly the component its getter reads, and all components are covered.
        RuntimeConfig base = RuntimeConfig.defaults();
        // the default worker count is the CPU count, so pick a number that cannot be it
        int workers = Runtime.getRuntime().availableProcessors() % 1024 + 1;
        RuntimeConfig changed = ConfigLoader.fromTomlString("""
                [runtime]
                backend = "x"
                worker_threads = %d
                max_tasks_per_loop = 2
                enable_cpu_affinity = true
                enable_numa_awareness = true
                strategy = "custom"
                custom_scheduler = "y"
                shutdown_timeout = "2s"
                [runtime.recovery]
                enabled = true
                backend = "z"
                path = "/p"
                max_attempts = 2
                completed_retention = "2s"
                sensitive_headers = ["X-Api-Key"]
                encryption_key_file = "/k"
                url = "jdbc:postgresql://db/x"
                user = "u"
                password_file = "/pw"
                node_id = "n-1"
                lease = "3s"
                [runtime.performance]
                zero_copy_io = false
                io_batch_size = 2
                idle_timeout = "2ms"
                [runtime.scaling]
                enabled = true
                min_workers = 2
                max_workers = 1000
                scale_up_after = "7s"
                scale_down_after = "7m"
                """.formatted(workers));
        // a secret is never read from a file: the environment sets it (and not alongside the key file)
        RuntimeConfig secret = ConfigLoader.applyEnvironment(base,
                java.util.Map.of("STELLANE_RUNTIME_RECOVERY_ENCRYPTION_KEY", "A".repeat(43) + "=",
                        "STELLANE_RUNTIME_RECOVERY_PASSWORD", "pw"));
        RecordComponent[] components = RuntimeConfig.class.getRecordComponents();
        long differing = Arrays.stream(components)
                .filter(rc -> !Objects.equals(value(rc, base), value(rc, changed))
                        || !Objects.equals(value(rc, base), value(rc, secret)))
                .count();

        assertThat(ConfigKey.ALL).hasSameSizeAs(components);
        assertThat(differing).isEqualTo(components.length);
    }

    @Test
    void pathsAndVariablesAreUnique() {
        assertThat(ConfigKey.ALL.stream().map(ConfigKey::path)).doesNotHaveDuplicates();
        assertThat(ConfigKey.ALL.stream().flatMap(k -> Stream.concat(
                Stream.of(k.envName()), k.aliases().stream()))).doesNotHaveDuplicates();
    }

    @Test
    void variableNameIsThePathUpperCased() {
        assertThat(ConfigKey.byPath("runtime.performance.idle_timeout").orElseThrow().envName())
                .isEqualTo("STELLANE_RUNTIME_PERFORMANCE_IDLE_TIMEOUT");
    }

    private static Object value(RecordComponent rc, RuntimeConfig c) {
        try {
            return rc.getAccessor().invoke(c);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }
}
