package io.stellane.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

class ConfigWatcherTest {
    @TempDir
    Path dir;

    @Test
    void aChangedFileAndAReloadRequestCallBackAndAnUnchangedSaveDoesNot() throws Exception {
        Path file = dir.resolve("stellane.toml");
        Files.writeString(file, "[runtime]\nworker_threads = 2\n");
        Semaphore calls = new Semaphore(0);
        try (ConfigWatcher w = ConfigWatcher.watch(file, calls::release)) {
            Files.writeString(file, "[runtime]\nworker_threads = 3\n");
            assertThat(calls.tryAcquire(10, TimeUnit.SECONDS)).as("an edit").isTrue();

            // an editor's save: a new file renamed over the old one
            Path tmp = dir.resolve(".stellane.toml.swp");
            Files.writeString(tmp, "[runtime]\nworker_threads = 4\n");
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            assertThat(calls.tryAcquire(10, TimeUnit.SECONDS)).as("a save by rename").isTrue();

            Files.setLastModifiedTime(file, FileTime.from(Instant.now().plusSeconds(5))); // touched, not changed
            Files.writeString(dir.resolve("other.txt"), "x"); // another file in the directory
            assertThat(calls.tryAcquire(1, TimeUnit.SECONDS)).as("nothing changed").isFalse();

            w.requestReload(); // what SIGHUP does
            assertThat(calls.tryAcquire(10, TimeUnit.SECONDS)).as("asked for").isTrue();
        }
        Files.writeString(file, "[runtime]\nworker_threads = 5\n");
        assertThat(calls.tryAcquire(1, TimeUnit.SECONDS)).as("closed: no more calls").isFalse();
    }

    @Test
    void changesAreListedAndOnlyTheLiveOnesApply() {
        RuntimeConfig a = RuntimeConfig.builder().workerThreads(2).backendType("nio").build();
        RuntimeConfig b = a.toBuilder().workerThreads(4).maxTasksPerLoop(7).backendType("epoll")
                .recoveryPath(Path.of("/elsewhere")).idleTimeout(Duration.ofMillis(5)).build();
        assertThat(a.changesTo(b)).extracting(ConfigChange::toString).containsExactly(
                "runtime.backend \"nio\" -> \"epoll\"", "runtime.worker_threads 2 -> 4",
                "runtime.max_tasks_per_loop 1000 -> 7", "runtime.recovery.path \"/tmp/stellane_recovery\" -> \"/elsewhere\"",
                "runtime.performance.idle_timeout \"100ms\" -> \"5ms\"");
        RuntimeConfig live = a.withLiveValuesOf(b);
        assertThat(live.workerThreads()).isEqualTo(4);
        assertThat(live.maxTasksPerLoop()).isEqualTo(7);
        assertThat(live.idleTimeout()).isEqualTo(Duration.ofMillis(5));
        assertThat(live.backendType()).as("needs a restart").isEqualTo("nio");
        assertThat(live.recoveryPath()).as("needs a restart").isEqualTo(a.recoveryPath());
        assertThat(RuntimeConfig.appliesLive("runtime.worker_threads")).isTrue();
        assertThat(RuntimeConfig.appliesLive("runtime.recovery.enabled")).isFalse();
    }
}
