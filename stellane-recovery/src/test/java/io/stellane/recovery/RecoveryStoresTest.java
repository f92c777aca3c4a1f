package io.stellane.recovery;

import io.stellane.recovery.testing.TestRequests;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RecoveryStoresTest {
    @TempDir
    Path tmp;

    @Test
    void mmapIsDiscoveredThroughServiceLoader() {
        assertThat(RecoveryStores.has("mmap")).isTrue();
        assertThat(RecoveryStores.list()).contains("mmap");
        try (RecoveryStore store = RecoveryStores.create("mmap", RecoveryStoreConfig.defaults(tmp.resolve("j"))
                .withSegmentSize(64 * 1024))) {
            store.append(TestRequests.request("a"));
            assertThat(store.pending()).hasSize(1);
        }
    }

    @Test
    void unknownNameNamesTheAvailableStores() {
        assertThatThrownBy(() -> RecoveryStores.create("nosuch", RecoveryStoreConfig.defaults(tmp)))
                .isInstanceOf(RecoveryException.class)
                .hasMessageContaining("nosuch")
                .hasMessageContaining("mmap");
    }

    @Test
    void explicitRegistrationIsUsed() {
        RecoveryStoreConfig config = RecoveryStoreConfig.defaults(tmp.resolve("x")).withSegmentSize(64 * 1024);
        RecoveryStores.register("test-explicit", c -> RecoveryStores.create("mmap", c.withMaxAttempts(7)));
        assertThat(RecoveryStores.has("test-explicit")).isTrue();
        try (RecoveryStore store = RecoveryStores.create("test-explicit", config)) {
            assertThat(store.config().maxAttempts()).isEqualTo(7);
        }
    }

    @Test
    void configRejectsNonsense() {
        RecoveryStoreConfig d = RecoveryStoreConfig.defaults(tmp);
        assertThatThrownBy(() -> d.withSegmentSize(100)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> d.withMaxJournalBytes(d.segmentSize())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("two segments");
        assertThatThrownBy(() -> d.withMaxAttempts(0)).isInstanceOf(IllegalArgumentException.class);
        assertThat(d.syncPolicy()).isEqualTo(SyncPolicy.INTERVAL);
        assertThat(d.maxAttempts()).isEqualTo(3);
    }
}
