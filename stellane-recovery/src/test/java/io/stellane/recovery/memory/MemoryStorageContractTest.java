package io.stellane.recovery.memory;

import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;
import io.stellane.recovery.testing.RecoveryStoreContractTest;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/** The shared conformance suite against the in-memory storage. */
class MemoryStorageContractTest extends RecoveryStoreContractTest {
    @Override
    protected RecoveryStore open(Path dir, RecoveryStoreConfig config) {
        return RecoveryStores.create("memory", config);
    }

    @Override
    protected Path crashCopy(Path dir, Path target) {
        MemoryStorage.copy(dir, target);
        return target;
    }

    @Override
    protected List<Path> filesHolding(Path dir, String text) {
        return MemoryStorage.holds(dir, text.getBytes(StandardCharsets.UTF_8)) ? List.of(dir) : List.of();
    }
}
