package io.stellane.recovery.rocksdb;

import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.spi.RecoveryStoreProvider;

/** Registers the RocksDB store as recovery store {@code "rocksdb"}. */
public final class RocksDbRecoveryStoreProvider implements RecoveryStoreProvider {
    public static final String NAME = "rocksdb";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public RecoveryStore create(RecoveryStoreConfig config) {
        return new RocksDbRecoveryStore(config);
    }
}
