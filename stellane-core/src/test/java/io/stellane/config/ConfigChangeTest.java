package io.stellane.config;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Base64;

import static org.assertj.core.api.Assertions.assertThat;

/** What a reload compares and takes: the changed keys, the live ones applied, the rest kept. */
class ConfigChangeTest {

    @Test
    void changesAreListedByTomlKeyAsAUserWritesThem() {
        RuntimeConfig a = RuntimeConfig.builder().workerThreads(2).build();
        RuntimeConfig b = a.toBuilder().workerThreads(4).backendType("nio").idleTimeout(Duration.ofMillis(1500)).build();
        assertThat(a.changesTo(b)).extracting(ConfigChange::toString).containsExactlyInAnyOrder(
                "runtime.worker_threads 2 -> 4", "runtime.backend \"auto\" -> \"nio\"",
                "runtime.performance.idle_timeout \"" + RuntimeConfig.defaults().idleTimeout().toMillis() + "ms\" -> \"1500ms\"");
        assertThat(a.changesTo(a.toBuilder().build())).isEmpty();
    }

    @Test
    void aSecretsValueIsNeverShown() {
        String key = Base64.getEncoder().encodeToString(new byte[32]);
        RuntimeConfig a = RuntimeConfig.defaults();
        RuntimeConfig b = a.toBuilder().recoveryEncryptionKey(Secret.of(key)).build();
        assertThat(a.changesTo(b)).singleElement().satisfies(c -> {
            assertThat(c.key()).isEqualTo("runtime.recovery.encryption_key");
            assertThat(c.toString()).doesNotContain(key);
        });
    }

    @Test
    void liveValuesAreTakenAndTheRestIsKept() {
        RuntimeConfig running = RuntimeConfig.builder().backendType("epoll").workerThreads(2).maxTasksPerLoop(100).build();
        RuntimeConfig file = running.toBuilder().backendType("nio").workerThreads(3).maxTasksPerLoop(500)
                .enableRequestRecovery(true).build();
        RuntimeConfig applied = running.withLiveValuesOf(file);
        assertThat(applied.workerThreads()).isEqualTo(3);
        assertThat(applied.maxTasksPerLoop()).isEqualTo(500);
        assertThat(applied.backendType()).as("needs a restart").isEqualTo("epoll");
        assertThat(applied.enableRequestRecovery()).as("needs a restart").isFalse();

        assertThat(RuntimeConfig.appliesLive("runtime.worker_threads")).isTrue();
        assertThat(RuntimeConfig.appliesLive("runtime.scaling.max_workers")).isTrue();
        assertThat(RuntimeConfig.appliesLive("runtime.backend")).isFalse();
        assertThat(RuntimeConfig.appliesLive("runtime.recovery.path")).isFalse();
        assertThat(RuntimeConfig.appliesLive("runtime.no_such_key")).isFalse();
    }
}
