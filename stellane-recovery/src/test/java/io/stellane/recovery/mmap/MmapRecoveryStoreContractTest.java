package io.stellane.recovery.mmap;

import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStoreContractTest;
import java.nio.file.Path;

class MmapRecoveryStoreContractTest extends RecoveryStoreContractTest {
    @Override
    protected RecoveryStore open(Path dir, RecoveryStoreConfig config) {
        return new MmapRecoveryStore(config);
    }
}
