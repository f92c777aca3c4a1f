package io.stellane.recovery.rocksdb;

import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStoreContractTest;
import java.nio.file.Path;

/** The shared conformance suite, unchanged, against the RocksDB store. */
class RocksDbRecoveryStoreContractTest extends RecoveryStoreContractTest {
    @Override
    protected RecoveryStore open(Path dir, RecoveryStoreConfig config) {
        return new RocksDbRecoveryStore(config);
    }
}
