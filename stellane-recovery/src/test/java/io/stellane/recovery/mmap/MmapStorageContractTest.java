package io.stellane.recovery.mmap;

import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;
import io.stellane.recovery.testing.RecoveryStoreContractTest;

import java.nio.file.Path;

/** The shared conformance suite against the memory-mapped storage. */
class MmapStorageContractTest extends RecoveryStoreContractTest {
    @Override
    protected RecoveryStore open(Path dir, RecoveryStoreConfig config) {
        return RecoveryStores.create(MmapStorageProvider.NAME, config);
    }
}
